// Mention delivery → 👀 request at the GitHub stand-in, → the agent's exec in its warm container
// (the server's log line written just before it), and → the agent's first request to the
// Messages API (after the CLI's own start-up, through the model proxy), over 20 deliveries. Then
// the CLI alone: exec in the same warm container → its first request, with the same argv and
// environment and no server in between, so the first call's time splits into the CLI's share and
// the app's (checkout, container check, prompt, exec).
// The real server process, local GitHub, real dockerd, the server's bundled Claude Code CLI.
//   npm run bench agent     or     node --import tsx bench/agent.bench.ts [runs]
// Targets (issues 5 and 16): 👀 under 50 ms p50; the first model request under 1 s p50.
import { sign } from "@octokit/webhooks-methods";
import { agentEnv } from "../src/agent/claude.js";
import { BUNDLED_CLAUDE_PATH } from "../src/agent/claude-builds.js";
import { ContainerRuntime } from "../src/containers/docker.js";
import { execInContainer } from "../src/containers/exec.js";
import { ensureBaseImage } from "../test/helpers/claude-image.js";
import { removePoolContainers, requireDocker, runId } from "../test/helpers/docker.js";
import { startFakeAnthropic } from "../test/helpers/fake-anthropic.js";
import { bareRepo } from "../test/helpers/git-repo.js";
import { GitHubSim } from "../test/helpers/github-sim.js";
import { payload } from "../test/helpers/payloads.js";
import { agentServeEnv, startServe } from "../test/helpers/serve-process.js";
import { tempDir } from "../test/helpers/settings.js";

const RUNS = Math.max(20, Number(process.argv[2]) || 20);
const TOKEN = "ghs_benchToken";
const SECRET = "bench-secret";
const docker = await requireDocker();
if (!docker) {
  console.error("no Docker engine: run .ci/docker.sh first");
  process.exit(1);
}
// The image has no Claude Code: the server's own is mounted (AGENT_CLI=bundled, the default).
const image = await ensureBaseImage();
const reposRoot = tempDir("devs-bench-repos-");
bareRepo(reposRoot, "acme", "widgets");
const sim = await new GitHubSim(reposRoot, TOKEN).start();
const answer = { content: [{ type: "text" as const, text: "Nothing to change." }] };
const fake = await startFakeAnthropic({ kind: "route", pick: () => answer });
const pool = `bench${runId()}`;
// The model proxy forwards to the scripted API; the container sees only the proxy.
const server = await startServe({
  ...agentServeEnv({ token: TOKEN, secret: SECRET, githubHost: sim.host, modelUrl: fake.url, pool, image: image.tag }),
  // Warm: the container outlives each task.
  STOP_CONTAINER_AFTER_TASK: "false",
});
// The server logs "starting the agent" (pino JSON, epoch ms) just before the agent's exec.
const agentStarts = () => server.logs.filter((l) => l.msg === "starting the agent").map((l) => l.time);
const base = server.base;

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
  const startsBefore = agentStarts().length;
  const wall0 = Date.now();
  const doneBefore = sim.comments.filter((c) => /✅|❌/.test(c.body)).length;
  const t0 = await deliver(10_000 + i);
  const tEyes = await seen(() => sim.reactions.length > reactionsBefore);
  const tAgent = await seen(() => fake.agentRequests.length > agentBefore);
  await seen(() => agentStarts().length > startsBefore);
  if (i > 0) {
    eyes.push(tEyes - t0);
    exec.push(agentStarts()[startsBefore]! - wall0);
    agent.push(tAgent - t0);
  }
  await seen(() => sim.comments.filter((c) => /✅|❌/.test(c.body)).length > doneBefore);
  await seen(() => sim.reactions.length > reactionsBefore + 1);
  // Octokit's throttle spaces an installation's writes about a second apart; mentions are not
  // back to back in practice, so each delivery starts after the last task's writes settled.
  await new Promise((r) => setTimeout(r, 1_100));
}
// The CLI alone, in the same warm container: exec → its first Messages API request, as the
// server starts it (the same argv and environment), with no server in between.
// The server stops the container after each task (nothing of a task may run on into the next), so
// it is started here as a task's start would; the image, the container and its files stay warm.
const [container] = await new ContainerRuntime(docker).list({ slot: pool });
if (!container) throw new Error("the slot has no container");
if (!container.running) await docker.getContainer(container.id).start();
const cliAlone: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const before = fake.agentRequests.length;
  const t0 = performance.now();
  const run = execInContainer(docker.getContainer(container.id), [BUNDLED_CLAUDE_PATH, "-p", "Say hi.", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"], {
    env: agentEnv({ ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_API_KEY: "sk-ant-bench-direct" }),
  });
  const tAgent = await seen(() => fake.agentRequests.length > before);
  cliAlone.push(tAgent - t0);
  await run;
}
server.child.kill("SIGTERM");
await server.exited;
await fake.close();
await sim.stop();
await removePoolContainers(docker, pool);

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const row = (name: string, xs: number[], target: number) =>
  `${name.padEnd(34)} ${pct(xs, 50).toFixed(1).padStart(8)}ms ${pct(xs, 95).toFixed(1).padStart(8)}ms   < ${target} ms  ${pct(xs, 50) < target ? "ok" : "MISSED"}`;
console.log(`\nagent benchmark — ${RUNS} deliveries, warm container, the server's Claude Code`);
console.log(`${"".padEnd(34)} ${"p50".padStart(10)} ${"p95".padStart(10)}`);
console.log(row("delivery → 👀 at GitHub", eyes, 50));
console.log(row("delivery → agent exec in container", exec, 1000));
console.log(row("delivery → agent's first API call", agent, 1000));
const cliP50 = cliAlone.length ? pct(cliAlone, 50) : NaN;
console.log(`${"the CLI alone: exec → first call".padEnd(34)} ${cliP50.toFixed(1).padStart(8)}ms ${(cliAlone.length ? pct(cliAlone, 95) : NaN).toFixed(1).padStart(8)}ms`);
const appShare = pct(agent, 50) - cliP50;
console.log(`\nof the first call's ${pct(agent, 50).toFixed(0)} ms (p50): the CLI's start-up ${cliP50.toFixed(0)} ms, the app ${appShare.toFixed(0)} ms`);
console.log(`RESULT ${JSON.stringify({ eyesP50: pct(eyes, 50), execP50: pct(exec, 50), firstCallP50: pct(agent, 50), cliAloneP50: cliP50, appShareP50: appShare })}`);
