// End to end, with real parts: `devs-webhook serve` as a process, a local GitHub (REST backed by
// real bare repositories, git over HTTP with a token), a real dockerd, the real Claude Code CLI in
// a container (the server's own build, mounted into an image that has no Claude Code and no Node),
// and a scripted Anthropic Messages API on loopback. A signed mention must end with
// the agent's edit on a branch, a pull request, one progress comment edited to its final state,
// and 👀 then 🚀; an API error and a time-out each end with one clear comment and no PR. The agent
// reaches the scripted API only through the server's model proxy: the container never holds the
// key, and a task's cost limit stops it, keeping its work as a draft pull request.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { sign } from "@octokit/webhooks-methods";
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerEngine, ensureBaseImage, installedClaudeBinary } from "../helpers/claude-image.js";
import { psLines, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { startFakeAnthropic, toolResults, type FakeAnthropic } from "../helpers/fake-anthropic.js";
import { bareRepo, git, type BareRepo } from "../helpers/git-repo.js";
import { GitHubSim } from "../helpers/github-sim.js";
import { payload } from "../helpers/payloads.js";
import { tempDir } from "../helpers/settings.js";
import { until } from "../helpers/until.js";
import { parseExposition, valueOf } from "../helpers/metrics.js";

const TSX = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
const CLI = new URL("../../src/cli.ts", import.meta.url).pathname;
const TOKEN = "ghs_e2eInstallationToken0000000000000000";
const API_KEY = "sk-ant-api03-e2e-test-key-000000000000";
const SECRET = "e2e-webhook-secret";
const METRICS_TOKEN = "e2e-metrics-token-0000";
const pool = `e2e${runId()}`;

const engine = await dockerEngine();
if (!engine.ok) {
  if (process.env.DEVS_REQUIRE_DOCKER === "1") throw new Error(`DEVS_REQUIRE_DOCKER=1 but no Docker engine answers (${engine.why}); run .ci/docker.sh`);
  console.warn(`skipping the end-to-end tests: no Docker engine answers (${engine.why})`);
}

let docker: Docker | null = null;
let sim: GitHubSim;
let fake: FakeAnthropic;
let repo: BareRepo;
let gadgets: BareRepo;
let server: ChildProcess | null = null;
let serverLog = "";
let base = "";
let dataDir = "";

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `until` with the server's log in the error, and a slower look (the server is a child process). */
const untilSeen = <T>(probe: () => T, timeoutMs: number, what: string) =>
  until(probe, { timeoutMs, what, intervalMs: 100, detail: () => `--- server log ---\n${serverLog.slice(-6000)}` });

beforeAll(async () => {
  if (!engine.ok) return;
  docker = await requireDocker();
  if (!docker) return;
  // bash, git and glibc, no Node and no Claude Code: the agent is the server's (AGENT_CLI=bundled).
  const image = await ensureBaseImage();
  const reposRoot = tempDir("devs-e2e-repos-");
  repo = bareRepo(reposRoot, "acme", "widgets", { "README.md": "# widgets\n" });
  gadgets = bareRepo(reposRoot, "acme", "gadgets", { "README.md": "# gadgets\n" });
  sim = await new GitHubSim(reposRoot, TOKEN).start();
  fake = await startFakeAnthropic({ kind: "hang" });
  // The scripted API is the model proxy's upstream (ANTHROPIC_UPSTREAM_URL below); the operator's
  // DEVS.yml layer sends any other traffic of the agent's to it too, where it is refused and seen.
  const envs = tempDir("devs-e2e-envs-");
  mkdirSync(join(envs, "default"));
  writeFileSync(
    join(envs, "default", "DEVS.yml"),
    `env_vars:\n  default:\n    HTTP_PROXY: ${fake.url}\n    HTTPS_PROXY: ${fake.url}\n    NO_PROXY: 127.0.0.1,localhost\n`,
  );
  // acme/gadgets may spend 50 cents a task.
  mkdirSync(join(envs, "acme", "gadgets"), { recursive: true });
  writeFileSync(join(envs, "acme", "gadgets", "DEVS.yml"), "max_cost_usd: 0.5\n");
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(process.execPath, ["--import", TSX, CLI, "serve", "--host", "127.0.0.1", "--port", String(port)], {
    cwd: tempDir("devs-e2e-cwd-"),
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: tempDir("devs-e2e-home-"),
      GITHUB_TOKEN: TOKEN,
      WEBHOOK_SECRET: SECRET,
      METRICS_TOKEN,
      GHE_HOST: sim.host,
      GHE_PROTOCOL: "http",
      CLAUDE_API_KEY: API_KEY,
      ANTHROPIC_UPSTREAM_URL: fake.url,
      AUTHORIZED_TRIGGER_USERS: "*",
      CONTAINER_POOL: pool,
      CONTAINER_NETWORK: "host",
      CONTAINER_TIMEOUT_MINUTES: "1",
      DEFAULT_IMAGE: image.tag,
      DATA_DIR: (dataDir = tempDir("devs-e2e-data-")),
      REPO_CACHE_DIR: tempDir("devs-e2e-cache-"),
      WORKSPACE_DIR: tempDir("devs-e2e-ws-"),
      DEVS_ENVS_DIR: envs,
      LOG_LEVEL: "info",
      // The final comment links the task's log there, by an unguessable link.
      PUBLIC_URL: base,
      ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout!.on("data", (d: Buffer) => (serverLog += d));
  server.stderr!.on("data", (d: Buffer) => (serverLog += d));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`server did not start:\n${serverLog}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 15 * 60_000);

afterAll(async () => {
  server?.kill("SIGTERM");
  await fake?.close();
  await sim?.stop();
  if (docker) await removePoolContainers(docker, pool);
});

/** A signed issue_comment delivery mentioning the bot on issue `number` of acme/widgets (or another of acme's). */
async function mention(number: number, commentId: number, text: string, name = "widgets"): Promise<Response> {
  const body = JSON.stringify(
    payload("issue_comment", "created", {
      repository: {
        name,
        full_name: `acme/${name}`,
        owner: { login: "acme" },
        default_branch: "main",
        private: false,
        clone_url: sim.cloneUrl("acme", name),
        html_url: sim.htmlUrl("acme", name),
      },
      issue: { number, title: "Add a greeting", body: "The project needs a hello.txt.", user: { login: "alice" }, labels: [], assignees: [] },
      comment: { id: commentId, body: `@devs-bot ${text}`, user: { login: "alice" }, html_url: `${sim.htmlUrl("acme", name)}/issues/${number}#issuecomment-${commentId}` },
      sender: { login: "alice" },
    }),
  );
  return fetch(`${base}/webhook`, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "x-github-event": "issue_comment",
      "x-github-delivery": crypto.randomUUID(),
      "x-hub-signature-256": await sign(SECRET, body),
    },
  });
}

describe.skipIf(!engine.ok)("an @mention end to end", () => {
  it("ends with the agent's edit on a branch, a pull request, the progress comment edited to done, 👀 then 🚀", async () => {
    fake.setMode({
      kind: "script",
      turns: [
        {
          content: [
            { type: "text", text: "I'll add the greeting." },
            { type: "tool_use", name: "Write", input: { file_path: "/workspaces/widgets/hello.txt", content: "Hello, widgets!\n" } },
          ],
        },
        { content: [{ type: "text", text: "Added `hello.txt` with a greeting." }] },
      ],
    });
    const res = await mention(1, 9001, "please add hello.txt with a greeting");
    expect(res.status).toBe(200);

    const done = await untilSeen(() => sim.comments.find((c) => c.issue === 1 && /✅|❌|⏱️/.test(c.body)), 180_000, "the final comment");
    expect(done.body).toContain("✅ Done");
    expect(sim.comments.filter((c) => c.issue === 1)).toHaveLength(1);
    expect(done.body.split("\n")[0]).toMatch(/^<!-- devs-webhook:task=agent-[0-9a-f-]{36} -->$/);
    const stages = done.edits.map((e) => e.split("\n")[1]!);
    expect(stages.map((line) => [...line][0])).toEqual(["⏳", "⚙", "✅"]);
    // Where the time went, every phase of a task that published.
    expect(done.body).toMatch(/\n\nTime: queue \d+\.\ds · container [\dhms. ]+ · checkout [\dhms. ]+ · agent [\dhms. ]+ · publish [\dhms. ]+\n/);

    const pr = sim.pulls[0]!;
    expect(sim.pulls).toHaveLength(1);
    expect(pr).toMatchObject({ head: "devs/issue-1-add-a-greeting", base: "main", title: "Add a greeting", draft: false });
    expect(pr.body).toMatch(/^Refs #1\n/);
    expect(pr.body).toContain("Added `hello.txt` with a greeting.");
    expect(done.body).toContain(`Opened [#${pr.number}](${pr.html_url}).`);
    expect(done.body).toContain("Added `hello.txt` with a greeting.");

    // The commit landed in the bare repository, by the bot, on top of main.
    expect(git(repo.path, "show", "devs/issue-1-add-a-greeting:hello.txt")).toBe("Hello, widgets!");
    expect(git(repo.path, "log", "-1", "--format=%an <%ae>|%s", "devs/issue-1-add-a-greeting")).toBe("devs-bot <4242+devs-bot@users.noreply.github.com>|Add a greeting");
    expect(git(repo.path, "rev-parse", "devs/issue-1-add-a-greeting^")).toBe(git(repo.path, "rev-parse", "main"));

    await untilSeen(() => sim.reactions.length >= 2, 10_000, "the closing reaction");
    expect(sim.reactions.map((r) => `${r.content} ${r.path}`)).toEqual([
      "eyes /repos/acme/widgets/issues/comments/9001/reactions",
      "rocket /repos/acme/widgets/issues/comments/9001/reactions",
    ]);
    // The agent got the request and the issue in its prompt; the proxy added the key as a header;
    // nothing tried to leave the machine.
    const prompt = JSON.stringify(fake.agentRequests[0]!.body?.messages);
    expect(prompt).toContain("please add hello.txt with a greeting");
    expect(prompt).toContain("Issue #1: Add a greeting");
    expect(fake.agentRequests[0]!.headers["x-api-key"]).toBe(API_KEY);
    expect(fake.requests.filter((r) => r.role === "proxy")).toEqual([]);
    if (process.env.DEVS_E2E_TRANSCRIPT) {
      // For the README: what GitHub saw, in order.
      const lines = sim.requests.map((r) => `${r.method} ${r.path}`);
      writeFileSync(process.env.DEVS_E2E_TRANSCRIPT, [`# requests\n${lines.join("\n")}`, `# comment edits\n${done.edits.join("\n---\n")}`, `# pull request\n${JSON.stringify(pr, null, 2)}`].join("\n\n"));
    }
    // A scraper with the bearer token sees the task, its phases, the delivery and the proxy's count.
    const scrape = async () =>
      parseExposition(await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text());
    await untilSeen(async () => valueOf(await scrape(), "devs_tasks_total", { kind: "agent", outcome: "done" }) === 1, 10_000, "the task in the metrics");
    const metrics = await scrape();
    for (const phase of ["queue", "container", "checkout", "agent", "publish"]) {
      expect(valueOf(metrics, "devs_task_duration_seconds_count", { kind: "agent", phase }), phase).toBe(1);
    }
    expect(valueOf(metrics, "devs_deliveries_total", { event: "issue_comment", outcome: "queued" })).toBe(1);
    expect(valueOf(metrics, "devs_agent_model_requests_total")).toBeGreaterThanOrEqual(2);
    // The final comment links the task's own log: the server's lines about it, redacted; a guessed link is 404.
    const logUrl = /\[Log\]\((http:\/\/127\.0\.0\.1:\d+\/logs\/[^)]+)\)/.exec(done.body)?.[1];
    expect(logUrl, "a [Log](…) link in the final comment").toBeDefined();
    const taskLog = await (await fetch(logUrl!)).text();
    expect(taskLog).toContain("starting the agent");
    expect((await fetch(`${logUrl!.slice(0, -8)}00000000`)).status).toBe(404);
    // Secrets reach neither GitHub nor the logs.
    const everything = JSON.stringify([sim.comments, sim.pulls]) + serverLog + taskLog;
    for (const secret of [API_KEY, TOKEN, SECRET, METRICS_TOKEN]) expect(everything).not.toContain(secret);
  }, 240_000);

  it("an API error ends with one clear comment, 😕 and no pull request", async () => {
    fake.setMode({ kind: "error", status: 500, errorType: "api_error", message: "overloaded", shouldRetry: false });
    const pulls = sim.pulls.length;
    expect((await mention(2, 9002, "please add hello.txt")).status).toBe(200);
    const failed = await untilSeen(() => sim.comments.find((c) => c.issue === 2 && /✅|❌|⏱️/.test(c.body)), 180_000, "the failure comment");
    expect(failed.body).toMatch(/❌ Failed after \d+s: the agent did not finish: The Claude API returned an error \(HTTP 500\)/);
    expect(sim.comments.filter((c) => c.issue === 2)).toHaveLength(1);
    expect(sim.pulls).toHaveLength(pulls);
    await untilSeen(() => sim.reactions.filter((r) => r.path.includes("/9002/")).length >= 2, 10_000, "the closing reaction");
    expect(sim.reactions.filter((r) => r.path.includes("/9002/")).map((r) => r.content)).toEqual(["eyes", "confused"]);
  }, 240_000);

  it("a run past CONTAINER_TIMEOUT_MINUTES ends with one time-out comment, no PR, and no agent left running", async () => {
    fake.setMode({ kind: "hang" });
    const pulls = sim.pulls.length;
    expect((await mention(3, 9003, "please add hello.txt")).status).toBe(200);
    const stopped = await untilSeen(() => sim.comments.find((c) => c.issue === 3 && /✅|❌|⏱️/.test(c.body)), 180_000, "the time-out comment");
    expect(stopped.body).toContain("⏱️ Stopped after 1 minute (the time limit). Nothing was published.");
    expect(sim.comments.filter((c) => c.issue === 3)).toHaveLength(1);
    expect(sim.pulls).toHaveLength(pulls);
    const containers = await docker!.listContainers({ filters: { label: [`devs.pool=${pool}`] } });
    // One stopped meanwhile (the pool kills it through the engine after each task) runs nothing.
    const processes = (id: string) => psLines(docker!, id).catch((error: unknown) => (/is not running/.test(String(error)) ? [] : Promise.reject(error)));
    for (const c of containers) expect((await processes(c.Id)).filter((l) => /claude/.test(l))).toEqual([]);
  }, 240_000);
});

const sha256 = (path: string) =>
  new Promise<string>((resolve, reject) => {
    const hash = createHash("sha256");
    createReadStream(path).on("data", (chunk) => hash.update(chunk)).on("error", reject).on("end", () => resolve(hash.digest("hex")));
  });

describe.skipIf(!engine.ok)("the server's Claude Code in the container", () => {
  it("is read-only: a task cannot replace it, and the next task still runs the real CLI", async () => {
    const agentDir = "/opt/devs-webhook/agent";
    const attack = [
      "command -v claude node; echo \"on-path=$?\"",
      `echo '#!/bin/sh' > ${agentDir}/claude; echo "launcher-write=$?"`,
      `cp /bin/bash ${agentDir}/glibc/claude; echo "build-write=$?"`,
      `rm -f ${agentDir}/glibc/claude; echo "build-rm=$?"`,
      `mv ${agentDir}/glibc ${agentDir}/gone; echo "build-mv=$?"`,
      `chmod 000 ${agentDir}/glibc/claude; echo "chmod=$?"`,
      `mount -o remount,rw ${agentDir}; echo "remount=$?"`,
    ].join("; ");
    fake.setMode({
      kind: "script",
      turns: [
        { content: [{ type: "tool_use", name: "Bash", input: { command: attack, description: "Replace the agent" } }] },
        { content: [{ type: "text", text: "Tried." }] },
      ],
    });
    const before = fake.agentRequests.length;
    expect((await mention(6, 9007, "replace your own binary")).status).toBe(200);
    const first = await untilSeen(() => sim.comments.find((c) => c.issue === 6 && /✅|❌|⏱️|🛑/.test(c.body)), 180_000, "the first task's comment");
    expect(first.body).toContain("✅ Done");
    const printed = toolResults(fake.agentRequests[before + 1]!).map((r) => r.text).join("\n");
    // The image has no claude and no node of its own; every write to the mount fails.
    expect(printed).toContain("on-path=1");
    for (const attempt of ["launcher-write", "build-write", "build-rm", "build-mv", "chmod", "remount"]) {
      expect(printed, attempt).toMatch(new RegExp(`${attempt}=[1-9]`));
    }
    expect(printed).toMatch(/Read-only file system/);

    // The next task in the same container: the real CLI answers the scripted API again.
    fake.setMode({ kind: "script", turns: [{ content: [{ type: "text", text: "Still me." }] }] });
    const next = fake.agentRequests.length;
    expect((await mention(7, 9008, "are you still there?")).status).toBe(200);
    const second = await untilSeen(() => sim.comments.find((c) => c.issue === 7 && /✅|❌|⏱️|🛑/.test(c.body)), 180_000, "the second task's comment");
    expect(second.body).toContain("✅ Done");
    expect(second.body).toContain("Still me.");
    expect(fake.agentRequests[next]!.headers["user-agent"]).toMatch(/^claude-cli\/2\.1\.332/);
    // What the host staged is byte for byte the build npm installed.
    const [staged] = readdirSync(join(dataDir, "agent-cli")).filter((name) => !name.startsWith("."));
    expect(await sha256(join(dataDir, "agent-cli", staged!, "glibc", "claude"))).toBe(await sha256(installedClaudeBinary()));
  }, 300_000);
});

describe.skipIf(!engine.ok)("the model key stays on the host", () => {
  it("nothing in the container holds it: not the environment of any process, not a file; the proxy adds it upstream", async () => {
    // Built in the container, so the search's own command line does not carry the key it looks for.
    const [head, tail] = [API_KEY.slice(0, 12), API_KEY.slice(12)];
    const look = [
      "echo '--- env'; env",
      "echo '--- environ'; for f in /proc/[0-9]*/environ; do tr '\\0' '\\n' < \"$f\"; echo; done 2>/dev/null",
      "echo '--- cmdline'; for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < \"$f\"; echo; done 2>/dev/null",
      `k="$(printf '%s%s' '${head}' '${tail}')"; grep -rlsF "$k" / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev; echo "files-with-key-exit=$?"`,
    ].join("; ");
    fake.setMode({
      kind: "script",
      turns: [
        { content: [{ type: "tool_use", name: "Bash", input: { command: look, description: "Print the environment", timeout: 120_000 } }] },
        { content: [{ type: "text", text: "Printed what the container holds." }] },
      ],
    });
    const before = fake.agentRequests.length;
    expect((await mention(5, 9006, "print your environment")).status).toBe(200);
    const done = await untilSeen(() => sim.comments.find((c) => c.issue === 5 && /✅|❌|⏱️|🛑/.test(c.body)), 180_000, "the final comment");
    expect(done.body).toContain("✅ Done");
    const requests = fake.agentRequests.slice(before);
    expect(requests).toHaveLength(2);
    const printed = toolResults(requests[1]!).map((r) => r.text).join("\n");
    // The tool really ran and printed what the agent's process holds: the proxy's address and a task token.
    expect(printed).toMatch(/ANTHROPIC_BASE_URL=http:\/\/127\.0\.0\.1:\d+/);
    expect(printed).toMatch(/ANTHROPIC_API_KEY=devs-task-[\w-]+/);
    expect(printed).toContain("--- environ");
    expect(printed).toContain("files-with-key-exit=1");
    expect(printed).not.toContain(API_KEY);
    // Every request the scripted API saw carried the real key, added by the proxy, and never the task's token.
    for (const r of requests) expect(r.headers["x-api-key"]).toBe(API_KEY);
    const token = /ANTHROPIC_API_KEY=(devs-task-[\w-]+)/.exec(printed)![1]!;
    expect(JSON.stringify(fake.requests.map((r) => r.headers))).not.toContain(token);
    // The token died with the task.
    const proxyUrl = /ANTHROPIC_BASE_URL=(http:\/\/127\.0\.0\.1:\d+)/.exec(printed)![1]!;
    const late = await fetch(`${proxyUrl}/v1/messages`, { method: "POST", headers: { "x-api-key": token, "content-type": "application/json" }, body: "{}" });
    expect(late.status).toBe(401);
  }, 240_000);
});

describe.skipIf(!engine.ok)("a task's cost limit end to end", () => {
  it("stops the agent when the proxy counts past max_cost_usd; the work so far is a draft PR marked unfinished", async () => {
    fake.setMode({
      kind: "script",
      turns: [
        {
          content: [
            { type: "text", text: "First the notes." },
            { type: "tool_use", name: "Write", input: { file_path: "/workspaces/gadgets/notes.txt", content: "step one done\n" } },
          ],
        },
        // A very large request: the proxy's count goes far past 50 cents here, before the tool runs.
        { content: [{ type: "tool_use", name: "Bash", input: { command: "sleep 100; touch /workspaces/gadgets/late.txt", description: "More work" } }], usage: { input_tokens: 2_000_000, output_tokens: 20 } },
        { content: [{ type: "text", text: "never reached" }] },
      ],
    });
    const before = fake.agentRequests.length;
    expect((await mention(21, 9101, "please write notes", "gadgets")).status).toBe(200);
    await untilSeen(() => fake.agentRequests.length - before >= 2, 180_000, "the large request");
    const crossedAt = Date.now();
    const stopped = await untilSeen(() => sim.comments.find((c) => c.issue === 21 && /✅|❌|⏱️|🛑/.test(c.body)), 60_000, "the budget comment");
    console.log(`[e2e] the budget comment came ${Date.now() - crossedAt} ms after the request that spent the budget`);
    expect(stopped.body).toMatch(
      /🛑 Stopped after \d+s · \$\d+\.\d\d: the task's cost limit was reached: \$\d+\.\d\d spent of \$0\.50 \(`max_cost_usd` in DEVS\.yml\)\. The work so far is in the draft pull request \[#\d+\]\([^)]+\), marked unfinished\./,
    );
    // The agent asked twice; the third turn was never requested.
    expect(fake.agentRequests.length - before).toBe(2);
    const pr = sim.pulls.find((p) => p.head.startsWith("devs/issue-21-"))!;
    expect(pr).toMatchObject({ base: "main", draft: true, title: "[unfinished] Add a greeting" });
    expect(pr.body).toContain("Unfinished: the agent was stopped because the task's cost limit was reached");
    expect(stopped.body).toContain(`[#${pr.number}](${pr.html_url})`);
    expect(git(gadgets.path, "show", `${pr.head}:notes.txt`)).toBe("step one done");
    expect(git(gadgets.path, "ls-tree", "--name-only", pr.head)).not.toContain("late.txt");
  }, 240_000);
});

describe.skipIf(!engine.ok)("@bot stop end to end", () => {
  it("stops a running agent: the progress comment says who cancelled it, no PR, 👍 on the stop", async () => {
    fake.setMode({ kind: "hang" });
    const pulls = sim.pulls.length;
    expect((await mention(4, 9004, "please add hello.txt")).status).toBe(200);
    await untilSeen(() => sim.comments.find((c) => c.issue === 4 && c.body.includes("⚙️ Working")), 60_000, "the task to start");
    await untilSeen(() => fake.agentRequests.length > 0 && fake.requests.some((r) => JSON.stringify(r.body).includes("issue #4")), 60_000, "the agent to call the API");
    expect((await mention(4, 9005, "stop")).status).toBe(200);
    const cancelled = await untilSeen(() => sim.comments.find((c) => c.issue === 4 && /🚫|✅|❌|⏱️/.test(c.body)), 60_000, "the cancelled comment");
    expect(cancelled.body).toContain("🚫 Cancelled by @alice. Nothing was published.");
    expect(sim.comments.filter((c) => c.issue === 4)).toHaveLength(1);
    expect(sim.pulls).toHaveLength(pulls);
    await untilSeen(() => sim.reactions.some((r) => r.path.includes("/9005/")), 10_000, "the reaction to the stop");
    expect(sim.reactions.filter((r) => r.path.includes("/9005/")).map((r) => r.content)).toEqual(["+1"]);
  }, 180_000);
});
