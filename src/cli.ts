#!/usr/bin/env node
// devs-webhook: the command line. Parses arguments, loads settings once, and turns typed errors
// into one line on stderr and an exit code (2 for settings).
import { existsSync, readFileSync } from "node:fs";
import { parseEnv, parseArgs } from "node:util";
import { createLogger } from "./logging.js";
import { startServer, WEBHOOK_PATHS } from "./server.js";
import { checkServeRequirements, describeSettings, loadSettings, SettingsError, unusedOriginalSettings, type Env, type Settings } from "./settings.js";
import { createProbot } from "./github/probot.js";
import { openServices } from "./wiring/services.js";
import { sqsWorker } from "./wiring/sqs.js";
import { VERSION } from "./version.js";
import type { Logger } from "pino";
import type { SqsWorker } from "./tasks/sqs.js";

const HELP = `devs-webhook ${VERSION} — a GitHub App that runs a coding agent in your devcontainer

Usage: devs-webhook <command> [options]

Commands:
  serve [--host H] [--port P]   Receive webhooks (${WEBHOOK_PATHS.join(" and ")}), GET /health.
                                Without App credentials or a token, starts the App registration.
                                With TASK_SINK=sqs it is an ingress: tasks go to AWS_SQS_QUEUE_URL.
  serve --source sqs [--burst]  A worker (as \`worker\`) that also serves /health and the admin routes;
                                it receives no deliveries. --source webhook|sqs overrides TASK_SOURCE.
  worker [--burst]              Run the tasks of the SQS queue AWS_SQS_QUEUE_URL (long polling).
                                --burst: take what is there, wait for those tasks, then exit.
  config                        Print the effective settings (secrets masked).
  config --repo OWNER/NAME      Print a repository's merged DEVS.yml and the layer of each value.
  status [--url URL]            Ask a running server for its status (Basic auth from ADMIN_*).
  stop-container SLOT [--url]   Stop the containers of a slot (a CONTAINER_POOL name).
  test-setup                    Check that the settings, data directories and tools are usable.

Options:
  --env-file PATH               Read settings from this file (default: ./.env when present).
  -h, --help                    Show this help.
  -v, --version                 Print the version.

Settings come from the environment; see .env.example.
Exit codes: 0 ok (--burst: at least one message processed), 1 failure (--burst: SQS could not be
reached or answered an error), 2 bad settings or usage, 42 --burst found the queue empty.`;

/** `--burst` found nothing on the queue. */
const EXIT_QUEUE_EMPTY = 42;

export class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "v" },
      "env-file": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      url: { type: "string" },
      repo: { type: "string" },
      source: { type: "string" },
      burst: { type: "boolean" },
    },
  });
  const [command, ...rest] = positionals;
  if (values.version) return print(VERSION);
  if (values.help || !command) return print(HELP);
  const argument = command === "stop-container" ? rest.shift() : undefined;
  if (command === "stop-container" && !argument) throw new UsageError("stop-container needs a slot (a name of CONTAINER_POOL)");
  if (rest.length) throw new UsageError(`unexpected argument: ${rest[0]}`);

  if (values.source !== undefined && command !== "serve") throw new UsageError("--source is an option of serve");
  if (values.source !== undefined && values.source !== "webhook" && values.source !== "sqs") {
    throw new UsageError(`--source must be webhook or sqs, got "${values.source}"`);
  }
  if (values.burst && command !== "serve" && command !== "worker") throw new UsageError("--burst is an option of serve --source sqs and worker");
  const env = loadEnv(process.env, values["env-file"]);
  if (values.host !== undefined) env.WEBHOOK_HOST = values.host;
  if (values.port !== undefined) env.WEBHOOK_PORT = values.port;
  if (values.source !== undefined) env.TASK_SOURCE = values.source;
  if (command === "worker") env.TASK_SOURCE = "sqs";
  const settings = loadSettings(env);
  if (values.burst && settings.taskSource !== "sqs") throw new UsageError("--burst needs tasks from SQS: serve --source sqs --burst, or worker --burst");

  switch (command) {
    case "serve":
      if (settings.taskSource === "sqs") return work(settings, { burst: Boolean(values.burst), http: true });
      return serve(settings, env);
    case "worker":
      return work(settings, { burst: Boolean(values.burst), http: false });
    case "config":
      return values.repo ? printRepoDevsConfig(settings, values.repo) : printConfig(env, settings);
    case "status":
      return status(settings, values.url);
    case "stop-container":
      return stopContainer(settings, argument!, values.url);
    case "test-setup":
      return testSetup(settings);
    default:
      throw new UsageError(`unknown command "${command}" (see devs-webhook --help)`);
  }
}

/** The environment plus a .env file; variables already set win, as with Probot and dotenv. */
function loadEnv(processEnv: Env, envFile: string | undefined): Env {
  const env: Env = { ...processEnv };
  const path = envFile ?? ".env";
  if (!existsSync(path)) {
    if (envFile) throw new UsageError(`--env-file ${envFile}: no such file`);
    return env;
  }
  for (const [key, value] of Object.entries(parseEnv(readFileSync(path, "utf8")))) {
    if (env[key] === undefined || env[key] === "") env[key] = value;
  }
  return env;
}

function print(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

async function serve(settings: Settings, env: Env): Promise<number> {
  checkServeRequirements(settings);
  if (settings.auth.kind === "unconfigured") return registerApp(settings);
  // An ingress runs no tasks: no Docker here, the handlers' tasks go to the queue.
  const services = await openServices(settings, settings.taskSink === "sqs" ? { kinds: {} } : {});
  const { log } = services;
  const unused = unusedOriginalSettings(env);
  if (unused.length) {
    log.warn({ settings: unused.map((u) => u.name) }, `settings of the original devs-webhook that have no effect here: ${unused.map((u) => `${u.name} (${u.instead})`).join("; ")}`);
  }
  const server = await startServer(settings, services).catch(async (error: unknown) => {
    await services.close();
    throw error;
  });
  await untilStopped(log, async () => {
    await server.close();
    await services.close();
  });
  return 0;
}

/**
 * A worker: tasks from the SQS queue into the local pool; with `http`, /health and the admin routes
 * too. On SIGTERM the running tasks stop and their messages go back to the queue for another worker.
 */
async function work(settings: Settings, mode: { burst: boolean; http: boolean }): Promise<number> {
  checkServeRequirements(settings);
  if (settings.auth.kind === "unconfigured") throw new SettingsError("APP_ID", "a worker needs App credentials (APP_ID and PRIVATE_KEY) or GITHUB_TOKEN");
  let worker: SqsWorker | null = null;
  const services = await openServices(settings, { recovery: "queue", onPoolEvent: (event) => worker?.onPoolEvent(event) });
  worker = sqsWorker(settings, services);
  const { log } = services;
  if (mode.burst) {
    try {
      const { processed } = await worker.burst();
      log.info({ processed }, processed ? "burst done: every task taken has finished" : "burst: the queue was empty");
      return processed ? 0 : EXIT_QUEUE_EMPTY;
    } finally {
      await worker.close();
      await services.close();
    }
  }
  const server = mode.http
    ? await startServer(settings, { ...services, receivesDeliveries: false }).catch(async (error: unknown) => {
        await services.close();
        throw error;
      })
    : null;
  const polling = new AbortController();
  const loop = worker.run(polling.signal);
  await untilStopped(log, async () => {
    polling.abort();
    await loop;
    await server?.close();
    // The pool stops its running tasks first (their messages go back), then what still waits.
    await services.close();
    await worker.close();
  });
  return 0;
}

/** Resolves once SIGTERM or SIGINT has run `shutdown`; a second signal ends the process at once. */
async function untilStopped(log: Logger, shutdown: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) process.exit(1); // A second signal: stop now.
      stopping = true;
      log.info({ signal }, "shutting down");
      shutdown().then(resolve, (error: unknown) => {
        log.error({ err: error }, "shutdown failed");
        resolve();
      });
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

/**
 * First run: no App and no token. Probot's manifest flow registers a GitHub App from app.yml and
 * writes APP_ID, PRIVATE_KEY and WEBHOOK_SECRET into .env; then `npm start` again.
 */
async function registerApp(settings: Settings): Promise<number> {
  const { run } = await import("probot");
  console.error(
    `devs-webhook: no GitHub App credentials and no GITHUB_TOKEN.\n` +
      `Open http://localhost:${settings.port} to register the App from app.yml, then restart.`,
  );
  await run(() => undefined, {
    env: {
      HOST: settings.host,
      PORT: String(settings.port),
      LOG_LEVEL: settings.logLevel,
      ...(settings.webhookProxyUrl ? { WEBHOOK_PROXY_URL: settings.webhookProxyUrl } : {}),
      ...(settings.githubWebUrl !== "https://github.com" ? { GHE_HOST: new URL(settings.githubWebUrl).host } : {}),
    },
  });
  await new Promise(() => undefined); // Runs until the user stops it.
  return 0;
}

function printConfig(env: Env, settings: Settings): number {
  const rows = describeSettings(env, settings);
  const width = Math.max(...rows.map((r) => r.name.length));
  for (const row of rows) process.stdout.write(`${row.name.padEnd(width)}  ${row.value}  [${row.source}]\n`);
  return 0;
}

/** Calls an admin route of a running server with the configured Basic credentials. */
async function adminRequest(settings: Settings, url: string | undefined, method: string, path: string) {
  const base = url ?? `http://127.0.0.1:${settings.port}`;
  const headers: Record<string, string> = {};
  if (settings.adminPassword) {
    headers.authorization = `Basic ${Buffer.from(`${settings.adminUsername}:${settings.adminPassword}`).toString("base64")}`;
  } else if (settings.devMode) {
    headers.authorization = `Basic ${Buffer.from(`${settings.adminUsername}:`).toString("base64")}`;
  }
  let response: Response;
  try {
    response = await fetch(new URL(path, base), { method, headers });
  } catch (error) {
    throw new Error(`cannot reach ${base} (${(error as Error).message}); is the server running?`);
  }
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: response.status, body, base };
}

async function printRepoDevsConfig(settings: Settings, repo: string): Promise<number> {
  if (settings.auth.kind === "unconfigured") throw new UsageError("config --repo needs App credentials or GITHUB_TOKEN");
  const { appOctokitForRepo, printRepoConfig, tokenOctokitForRepo } = await import("./config/describe.js");
  const log = await createLogger({ ...settings, logLevel: settings.logLevel === "info" ? "warn" : settings.logLevel });
  const probot = createProbot(settings, log);
  const octokitForRepo =
    settings.auth.kind === "app" ? appOctokitForRepo((id) => probot.auth(id), settings.installationId) : tokenOctokitForRepo(await probot.auth());
  try {
    return await printRepoConfig({ octokitForRepo, envsDir: settings.devsEnvsDir, repo, out: process.stdout, webUrl: settings.githubWebUrl });
  } catch (error) {
    const { RepoArgumentError } = await import("./config/describe.js");
    if (error instanceof RepoArgumentError) throw new UsageError(error.message);
    throw error;
  }
}

async function status(settings: Settings, url: string | undefined): Promise<number> {
  const res = await adminRequest(settings, url, "GET", "/status");
  if (res.status !== 200) {
    console.error(`devs-webhook: ${res.base}/status answered ${res.status}: ${JSON.stringify(res.body)}`);
    return 1;
  }
  return print(JSON.stringify(res.body, null, 2));
}

async function stopContainer(settings: Settings, name: string, url: string | undefined): Promise<number> {
  const res = await adminRequest(settings, url, "POST", `/container/${encodeURIComponent(name)}/stop`);
  if (res.status === 200) return print(`stopped ${name}`);
  const error = (res.body as { error?: string })?.error ?? JSON.stringify(res.body);
  console.error(`devs-webhook: ${res.status === 401 ? "not authorised (check ADMIN_USERNAME/ADMIN_PASSWORD)" : error}`);
  return 1;
}

async function testSetup(settings: Settings): Promise<number> {
  const { runSetupChecks } = await import("./setup-checks.js");
  const results = await runSetupChecks(settings, await createLogger({ ...settings, logLevel: "silent" }));
  for (const r of results) process.stdout.write(`${r.ok ? "ok  " : "FAIL"}  ${r.name}: ${r.detail}${!r.ok && r.hint ? ` (${r.hint})` : ""}\n`);
  return results.every((r) => r.ok) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof SettingsError) {
      console.error(`devs-webhook: ${error.message}`);
      process.exitCode = 2;
    } else if (error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`devs-webhook: ${(error as Error).message}`);
      process.exitCode = 2;
    } else {
      console.error(`devs-webhook: ${(error as Error).message ?? String(error)}`);
      process.exitCode = 1;
    }
  },
);
