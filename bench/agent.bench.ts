// Mention delivery → 👀 request at the GitHub stand-in, → the agent's exec in its warm container
// (the server's log line written just before it), and → the agent's first request to the
// Messages API (after the CLI's own start-up), over 20 deliveries.
// The real server process, local GitHub, real dockerd, the real Claude Code CLI in its image.
//   node --import tsx bench/agent.bench.ts [runs]
// Targets (issue 5): under 50 ms and under 1 s.
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { sign } from "@octokit/webhooks-methods";
import { ensureClaudeImage } from "../test/helpers/claude-image.js";
import { removePoolContainers, requireDocker, runId } from "../test/helpers/docker.js";
import { startFakeAnthropic } from "../test/helpers/fake-anthropic.js";
import { bareRepo } from "../test/helpers/git-repo.js";
import { GitHubSim } from "../test/helpers/github-sim.js";
import { payload } from "../test/helpers/payloads.js";
import { tempDir } from "../test/helpers/settings.js";

const RUNS = Math.max(20, Number(process.argv[2]) || 20);
const TOKEN = "ghs_benchToken";
const SECRET = "bench-secret";
const docker = await requireDocker();
if (!docker) {
  console.error("no Docker engine: run .ci/docker.sh first");
  process.exit(1);
}
const image = await ensureClaudeImage();
const reposRoot = tempDir("devs-bench-repos-");
bareRepo(reposRoot, "acme", "widgets");
const sim = await new GitHubSim(reposRoot, TOKEN).start();
const fake = await startFakeAnthropic({ kind: "script", turns: Array.from({ length: RUNS + 1 }, () => ({ content: [{ type: "text" as const, text: "Nothing to change." }] })) });
const envs = tempDir("devs-bench-envs-");
mkdirSync(join(envs, "default"));
writeFileSync(join(envs, "default", "DEVS.yml"), `env_vars:\n  default:\n    HTTP_PROXY: ${fake.url}\n    HTTPS_PROXY: ${fake.url}\n    NO_PROXY: 127.0.0.1,localhost\n`);
const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const pool = `bench${runId()}`;
const server = spawn(process.execPath, ["--import", new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href, new URL("../src/cli.ts", import.meta.url).pathname, "serve", "--host", "127.0.0.1", "--port", String(port)], {
  cwd: tempDir("devs-bench-cwd-"),
  env: {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: tempDir("devs-bench-home-"),
    GITHUB_TOKEN: TOKEN,
    WEBHOOK_SECRET: SECRET,
    GHE_HOST: sim.host,
    GHE_PROTOCOL: "http",
    CLAUDE_API_KEY: "sk-ant-bench",
    // The model proxy forwards to the scripted API; the container sees only the proxy.
    ANTHROPIC_UPSTREAM_URL: fake.url,
    AUTHORIZED_TRIGGER_USERS: "*",
    CONTAINER_POOL: pool,
    CONTAINER_NETWORK: "host",
    STOP_CONTAINER_AFTER_TASK: "false",
    DEFAULT_IMAGE: image.tag,
    DATA_DIR: tempDir("devs-bench-data-"),
    REPO_CACHE_DIR: tempDir("devs-bench-cache-"),
    WORKSPACE_DIR: tempDir("devs-bench-ws-"),
    DEVS_ENVS_DIR: envs,
    LOG_LEVEL: "info",
  },
  stdio: ["ignore", "pipe", "inherit"],
});
// The server logs "starting the agent" (pino JSON, epoch ms) just before the agent's exec.
const agentStarts: number[] = [];
let pending = "";
server.stdout!.on("data", (d: Buffer) => {
  pending += d;
  const lines = pending.split("\n");
  pending = lines.pop()!;
  for (const line of lines) {
    if (!line.includes('"starting the agent"')) continue;
    agentStarts.push((JSON.parse(line) as { time: number }).time);
  }
});
const base = `http://127.0.0.1:${port}`;
for (let i = 0; ; i++) {
  if (await fetch(`${base}/health`).then((r) => r.ok, () => false)) break;
  if (i > 300) throw new Error("server did not start");
  await new Promise((r) => setTimeout(r, 100));
}

async function deliver(id: number): Promise<number> {
  const body = JSON.stringify(
    payload("issue_comment", "created", {
      repository: { name: "widgets", full_name: "acme/widgets", owner: { login: "acme" }, default_branch: "main", clone_url: sim.cloneUrl("acme", "widgets"), html_url: sim.htmlUrl("acme", "widgets") },
      issue: { number: 1, title: "Bench", body: "", user: { login: "alice" }, labels: [], assignees: [] },
      comment: { id, body: "@devs-bot look", user: { login: "alice" } },
      sender: { login: "alice" },
    }),
  );
  const headers = { "content-type": "application/json", "x-github-event": "issue_comment", "x-github-delivery": crypto.randomUUID(), "x-hub-signature-256": await sign(SECRET, body) };
  const t0 = performance.now();
  const res = await fetch(`${base}/webhook`, { method: "POST", body, headers });
  if (res.status !== 200) throw new Error(`delivery answered ${res.status}`);
  return t0;
}

const seen = (predicate: () => boolean) =>
  new Promise<number>((resolve) => {
    const tick = () => (predicate() ? resolve(performance.now()) : setImmediate(tick));
    tick();
  });

const eyes: number[] = [];
const exec: number[] = [];
const agent: number[] = [];
// One warm-up delivery creates the container; the measured ones find it warm.
for (let i = 0; i <= RUNS; i++) {
  const reactionsBefore = sim.reactions.length;
  const agentBefore = fake.agentRequests.length;
  const startsBefore = agentStarts.length;
  const wall0 = Date.now();
  const doneBefore = sim.comments.filter((c) => /✅|❌/.test(c.body)).length;
  const t0 = await deliver(10_000 + i);
  const tEyes = await seen(() => sim.reactions.length > reactionsBefore);
  const tAgent = await seen(() => fake.agentRequests.length > agentBefore);
  await seen(() => agentStarts.length > startsBefore);
  if (i > 0) {
    eyes.push(tEyes - t0);
    exec.push(agentStarts[startsBefore]! - wall0);
    agent.push(tAgent - t0);
  }
  await seen(() => sim.comments.filter((c) => /✅|❌/.test(c.body)).length > doneBefore);
  await seen(() => sim.reactions.length > reactionsBefore + 1);
  // Octokit's throttle spaces an installation's writes about a second apart; mentions are not
  // back to back in practice, so each delivery starts after the last task's writes settled.
  await new Promise((r) => setTimeout(r, 1_100));
}
server.kill("SIGTERM");
await fake.close();
await sim.stop();
await removePoolContainers(docker, pool);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const row = (name: string, xs: number[], target: number) =>
  `${name.padEnd(34)} ${pct(xs, 50).toFixed(1).padStart(8)}ms ${pct(xs, 95).toFixed(1).padStart(8)}ms   < ${target} ms  ${pct(xs, 50) < target ? "ok" : "MISSED"}`;
console.log(`\nagent benchmark — ${RUNS} deliveries, warm container, Claude Code ${image.version}`);
console.log(`${"".padEnd(34)} ${"p50".padStart(10)} ${"p95".padStart(10)}`);
console.log(row("delivery → 👀 at GitHub", eyes, 50));
console.log(row("delivery → agent exec in container", exec, 1000));
console.log(`${"delivery → agent's first API call".padEnd(34)} ${pct(agent, 50).toFixed(1).padStart(8)}ms ${pct(agent, 95).toFixed(1).padStart(8)}ms   (includes the CLI's own start-up)`);
