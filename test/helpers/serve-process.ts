// `devs-webhook serve` as an operator runs it: its own process, a clean environment, real HTTP.
// For tests and benchmarks that need the whole server (crash and restart, timing a delivery).
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:net";
import { sign } from "@octokit/webhooks-methods";
import { tempDir } from "./settings.js";

const CLI = new URL("../../src/cli.ts", import.meta.url).pathname;
/** tsx by absolute URL: the server runs from another working directory. */
const TSX = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;

export interface ServeProcess {
  child: ChildProcess;
  base: string;
  exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** Parsed pino lines (LOG_LEVEL info or lower), as they arrive. */
  logs: Array<Record<string, unknown> & { msg?: string; time: number }>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A PEM private key for a GitHub App the stand-in accepts (it does not check signatures). */
export function appPrivateKey(): string {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  return privateKey.export({ type: "pkcs1", format: "pem" }).toString();
}

/** Starts the server on a free loopback port and waits for /health. */
export async function startServe(env: Record<string, string>, options: { port?: number; timeoutMs?: number } = {}): Promise<ServeProcess> {
  const port = options.port ?? (await freePort());
  const cli = spawnCli(["serve", "--host", "127.0.0.1", "--port", String(port)], env);
  const { child } = cli;
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}: ${cli.stderr()}`);
    if (await fetch(`${base}/health`).then((r) => r.ok, () => false)) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`serve did not answer /health; stderr: ${cli.stderr()}; stdout: ${cli.stdout().slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { ...cli, base };
}

/** Any command of the CLI as its own process, with a clean environment; its log lines parsed as they come. */
export function spawnCli(args: string[], env: Record<string, string>): Omit<ServeProcess, "base"> {
  const child = spawn(process.execPath, ["--import", TSX, CLI, ...args], {
    cwd: tempDir("devs-serve-cwd-"),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDir("devs-serve-home-"), NO_SMEE_SETUP: "true", ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let pending = "";
  const logs: ServeProcess["logs"] = [];
  child.stdout!.on("data", (d: Buffer) => {
    out += d;
    pending += d;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as ServeProcess["logs"][number]);
      } catch {
        /* not a log line */
      }
    }
  });
  child.stderr!.on("data", (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, stdout: () => out, stderr: () => err, logs };
}

/** A signed delivery to POST /webhook; resolves with the response once the server answered. */
export async function deliver(base: string, secret: string, event: string, body: Record<string, unknown>, id: string = crypto.randomUUID()): Promise<Response> {
  const text = JSON.stringify(body);
  return fetch(`${base}/webhook`, {
    method: "POST",
    body: text,
    headers: { "content-type": "application/json", "x-github-event": event, "x-github-delivery": id, "x-hub-signature-256": await sign(secret, text) },
  });
}

/**
 * The settings of an agent `serve` against the GitHub stand-in and the scripted Messages API, in
 * token mode, one slot, on the host's network (the proxy and the stand-in are on loopback).
 */
export function agentServeEnv(input: { token: string; secret: string; githubHost: string; modelUrl: string; pool: string; image: string }): Record<string, string> {
  return {
    GITHUB_TOKEN: input.token,
    WEBHOOK_SECRET: input.secret,
    GHE_HOST: input.githubHost,
    GHE_PROTOCOL: "http",
    CLAUDE_API_KEY: "sk-ant-api03-e2e-test-key-000000000000",
    ANTHROPIC_UPSTREAM_URL: input.modelUrl,
    AUTHORIZED_TRIGGER_USERS: "*",
    CONTAINER_POOL: input.pool,
    CONTAINER_NETWORK: "host",
    DEFAULT_IMAGE: input.image,
    DATA_DIR: tempDir("devs-e2e-data-"),
    REPO_CACHE_DIR: tempDir("devs-e2e-cache-"),
    WORKSPACE_DIR: tempDir("devs-e2e-ws-"),
    LOG_LEVEL: "info",
  };
}
