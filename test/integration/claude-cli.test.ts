// The real Claude Code CLI, in a container, driven by src/agent/claude.ts against a scripted
// Messages API on loopback: its tools really run (a file written, a commit made in the bind-mounted
// workspace), its stream is parsed into the outcome, an API error ends as a clear failure, and a
// run stuck on a silent API can be stopped. Needs a Docker engine (see .ci/docker.sh).
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runAgent, type AgentExec } from "../../src/agent/claude.js";
import type { AgentEvent } from "../../src/agent/stream-json.js";
import { dockerEngine, ensureClaudeImage, type ClaudeImage } from "../helpers/claude-image.js";
import { startFakeAnthropic, toolResults, type FakeAnthropic } from "../helpers/fake-anthropic.js";
import { until } from "../helpers/until.js";

const run = promisify(execFile);
const API_KEY = "sk-ant-api03-integration-test-key-000000";

const engine = await dockerEngine();
if (!engine.ok) {
  if (process.env.DEVS_REQUIRE_DOCKER === "1") {
    throw new Error(`DEVS_REQUIRE_DOCKER=1 but no Docker engine answers (${engine.why}); run .ci/docker.sh as root`);
  }
  console.warn(`skipping the Claude Code CLI tests: no Docker engine answers (${engine.why})`);
}

/**
 * The agent exec for these tests: one `docker run --rm` per command, with the workspace mounted
 * and host networking (the fake API listens on the host's loopback). Environment values reach the
 * container by name only (`-e NAME`), so no secret appears on a command line. Aborting removes the
 * container, which ends every process in it.
 */
function dockerRunExec(image: string, workspace: string, started: string[]): AgentExec {
  return (argv, { env, cwd, onLine, signal }) =>
    new Promise((resolve, reject) => {
      const name = `devs-claude-test-${randomBytes(4).toString("hex")}`;
      started.push(name);
      const args = ["run", "--rm", "--name", name, "--network", "host", "-v", `${workspace}:/workspace`, "-w", cwd];
      for (const key of Object.keys(env)) args.push("-e", key);
      const child = spawn("docker", [...args, image, ...argv], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
      const closed = [child.stdout, child.stderr].map(
        (stream, i) =>
          new Promise<void>((done) => {
            const lines = createInterface({ input: stream, crlfDelay: Infinity });
            lines.on("line", (line) => onLine(i === 0 ? "stdout" : "stderr", line));
            lines.on("close", done);
          }),
      );
      const onAbort = () => void run("docker", ["rm", "-f", name]).catch(() => undefined);
      signal?.addEventListener("abort", onAbort, { once: true });
      child.on("error", reject);
      child.on("close", (code) => {
        signal?.removeEventListener("abort", onAbort);
        void Promise.all(closed).then(() => {
          if (signal?.aborted) reject(new Error(`container ${name} removed on abort`));
          else resolve({ exitCode: code ?? -1 });
        });
      });
    });
}

describe.skipIf(!engine.ok)("the Claude Code CLI in a container", () => {
  let image: ClaudeImage;
  let fake: FakeAnthropic;
  let workspace: string;
  const containers: string[] = [];

  beforeAll(async () => {
    const began = Date.now();
    image = await ensureClaudeImage();
    console.log(
      `[claude-cli] image ${image.tag} ${image.built ? `built in ${Date.now() - began} ms (fetch ${image.timings.fetchMs}, rootfs ${image.timings.rootfsMs}, import ${image.timings.importMs})` : "reused"}`,
    );
  }, 15 * 60_000);

  afterEach(async () => {
    await fake?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  afterAll(async () => {
    // A failed test may leave a container behind; --rm takes care of the others.
    for (const name of containers) await run("docker", ["rm", "-f", name]).catch(() => undefined);
  });

  async function newWorkspace(): Promise<string> {
    workspace = mkdtempSync(join(tmpdir(), "devs-claude-ws-"));
    const git = (...args: string[]) => run("git", ["-c", "user.name=Seed", "-c", "user.email=seed@devs-test.invalid", ...args], { cwd: workspace });
    await git("init", "-q", "-b", "main");
    await git("commit", "-q", "--allow-empty", "-m", "Initial commit");
    return workspace;
  }

  /** The model session the runner hands over (here straight to the scripted API, without the server's proxy). */
  const modelEnvFor = (api: FakeAnthropic) => ({ ANTHROPIC_BASE_URL: api.url, ANTHROPIC_API_KEY: API_KEY });

  /** Environment as an operator's DEVS.yml env_vars would give it; proxies catch other traffic. */
  const envFor = (api: FakeAnthropic, extra: Record<string, string> = {}) => ({
    HTTP_PROXY: api.url,
    HTTPS_PROXY: api.url,
    NO_PROXY: "127.0.0.1,localhost",
    ...extra,
  });

  it("runs the scripted tools for real and reports the result", async () => {
    fake = await startFakeAnthropic({
      kind: "script",
      turns: [
        {
          content: [
            { type: "text", text: "I'll add the file." },
            { type: "tool_use", name: "Write", input: { file_path: "/workspace/hello.txt", content: "hello from the agent\n" } },
          ],
        },
        {
          content: [
            {
              type: "tool_use",
              name: "Bash",
              input: { command: "git add -A && git commit -q -m 'Add hello.txt' && git log --oneline -1", description: "Commit the new file" },
            },
          ],
        },
        { content: [{ type: "text", text: "Done: added hello.txt and committed it." }] },
      ],
    });
    await newWorkspace();
    const events: AgentEvent[] = [];
    const began = Date.now();
    const outcome = await runAgent(
      {
        prompt: "Please add hello.txt and commit it.",
        cwd: "/workspace",
        modelEnv: modelEnvFor(fake),
        env: envFor(fake),
        onEvent: (e) => events.push(e),
      },
      dockerRunExec(image.tag, workspace, containers),
    );
    console.log(`[claude-cli] one scripted run (3 turns) took ${Date.now() - began} ms; the CLI reported ${outcome.durationMs} ms`);

    expect(outcome).toMatchObject({ ok: true, text: "Done: added hello.txt and committed it.", turns: 3, exitCode: 0 });
    expect(outcome.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(outcome.costUsd).toBeGreaterThan(0);

    // The Write tool wrote into the mounted workspace; the Bash tool committed it with git.
    expect(readFileSync(join(workspace, "hello.txt"), "utf8")).toBe("hello from the agent\n");
    const { stdout: log } = await run("git", ["log", "--format=%s|%an", "-2"], { cwd: workspace });
    expect(log.trim().split("\n")).toEqual(["Add hello.txt|Test Agent", "Initial commit|Seed"]);
    const { stdout: status } = await run("git", ["status", "--porcelain"], { cwd: workspace });
    expect(status).toBe("");

    // What the CLI sent back to the API is what its tools did.
    expect(fake.agentRequests).toHaveLength(3);
    expect(toolResults(fake.agentRequests[1]!)).toEqual([expect.objectContaining({ is_error: false, text: expect.stringContaining("hello.txt") })]);
    expect(toolResults(fake.agentRequests[2]!)).toEqual([expect.objectContaining({ is_error: false, text: expect.stringMatching(/^[0-9a-f]{7,} Add hello\.txt/) })]);
    // The key reached the CLI through the environment, and nothing left for another host.
    expect(fake.agentRequests[0]!.headers["x-api-key"]).toBe(API_KEY);
    expect(fake.requests.filter((r) => r.role === "proxy")).toEqual([]);

    const progress = events.map((e) => (e.type === "tool_use" ? `tool_use:${e.name}` : e.type));
    expect(progress).toEqual(["init", "text", "tool_use:Write", "tool_result", "tool_use:Bash", "tool_result", "text", "result"]);
  });

  it("ends as a clear failure when the API refuses the key", async () => {
    fake = await startFakeAnthropic({ kind: "error", status: 401, errorType: "authentication_error", message: "invalid x-api-key", shouldRetry: false });
    await newWorkspace();
    const outcome = await runAgent(
      { prompt: "Please add hello.txt.", cwd: "/workspace", modelEnv: modelEnvFor(fake), env: envFor(fake) },
      dockerRunExec(image.tag, workspace, containers),
    );
    expect(outcome).toMatchObject({ ok: false, kind: "api_error", exitCode: 1 });
    if (outcome.ok) return;
    expect(outcome.reason).toBe(
      "The Claude API returned an error (HTTP 401): authentication failed. The operator should check the Claude API key or OAuth token.",
    );
    expect(JSON.stringify(outcome)).not.toContain(API_KEY);
    expect(fake.agentRequests).toHaveLength(1);
    expect(existsSync(join(workspace, "hello.txt"))).toBe(false);
  });

  it("can be stopped while the API never answers", async () => {
    fake = await startFakeAnthropic({ kind: "hang" });
    await newWorkspace();
    const controller = new AbortController();
    const started = containers.length;
    const pending = runAgent(
      { prompt: "Please add hello.txt.", cwd: "/workspace", modelEnv: modelEnvFor(fake), env: envFor(fake), signal: controller.signal },
      dockerRunExec(image.tag, workspace, containers),
    );
    // Stop once the CLI is waiting on its first API call.
    await until(() => fake.agentRequests.length > 0, { timeoutMs: 60_000, intervalMs: 100, what: "the CLI's first API call" });
    expect(fake.agentRequests).toHaveLength(1);
    const stopAt = Date.now();
    controller.abort(new DOMException("the task's time limit passed", "TimeoutError"));
    const outcome = await pending;
    const stopMs = Date.now() - stopAt;
    console.log(`[claude-cli] stopping a hung run took ${stopMs} ms`);

    expect(outcome).toMatchObject({ ok: false, kind: "timed_out", reason: "The agent did not finish within the time limit and was stopped." });
    expect(stopMs).toBeLessThan(15_000);
    const name = containers[started]!;
    const { stdout } = await run("docker", ["ps", "-a", "--filter", `name=^${name}$`, "--format", "{{.Names}}"]);
    expect(stdout.trim()).toBe("");
  });
});
