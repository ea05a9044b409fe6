// Tasks on SQS (fauxqs on loopback), two figures, each the median of several runs:
//  1. messages per second through the ingress (`serve` with TASK_SINK=sqs, a real process): signed
//     push deliveries in, 8 at a time, until every one is answered and its task is on the queue;
//     and, for comparison, SqsTaskSink.submit alone in this process.
//  2. enqueue → the agent's exec in a warm container: a task sent to the queue, a worker process
//     (`devs-webhook worker`, real dockerd, the real Claude Code CLI against a scripted API) takes
//     it; measured to the worker's log line written just before the exec.
//   node --import tsx bench/sqs.bench.ts [runs]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PurgeQueueCommand } from "@aws-sdk/client-sqs";
import { pino } from "pino";
import { SqsTaskSink } from "../src/tasks/sqs.js";
import type { Task } from "../src/tasks/task.js";
import { ensureClaudeImage } from "../test/helpers/claude-image.js";
import { removePoolContainers, requireDocker } from "../test/helpers/docker.js";
import { startFakeAnthropic } from "../test/helpers/fake-anthropic.js";
import { bareRepo, git } from "../test/helpers/git-repo.js";
import { GitHubSim } from "../test/helpers/github-sim.js";
import { GitHubStandIn } from "../test/helpers/github-standin.js";
import { payload } from "../test/helpers/payloads.js";
import { deliver, spawnCli, startServe } from "../test/helpers/serve-process.js";
import { tempDir } from "../test/helpers/settings.js";
import { awsEnv, createTaskQueues, queueDepth, startFakeSqs } from "../test/helpers/sqs.js";
import { agentTask } from "../test/helpers/tasks.js";

const RUNS = Math.max(3, Number(process.argv[2]) || 5);
const DELIVERIES = 200;
const CONCURRENCY = 8;
const TOKEN = "ghs_benchToken";
const SECRET = "bench-secret";
const POOL = "hsqs4";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const docker = await requireDocker();
if (!docker) {
  console.error("no Docker engine: run .ci/docker.sh first");
  process.exit(1);
}
const sqs = await startFakeSqs();
const queues = await createTaskQueues(sqs, "bench", { visibilityTimeoutSeconds: 30 });
const reposRoot = tempDir("devs-bench-repos-");
const repo = bareRepo(reposRoot, "acme", "widgets");
const headSha = git(repo.path, "rev-parse", "main");
const sim = await new GitHubSim(reposRoot, TOKEN).start();
const envs = tempDir("devs-bench-envs-");
mkdirSync(join(envs, "default"));
writeFileSync(join(envs, "default", "DEVS.yml"), "ci_enabled: true\n");
const common = {
  GITHUB_TOKEN: TOKEN,
  WEBHOOK_SECRET: SECRET,
  GHE_HOST: sim.host,
  GHE_PROTOCOL: "http",
  AUTHORIZED_TRIGGER_USERS: "*",
  AUTHORIZED_CI_TRIGGER_USERS: "*",
  AWS_SQS_QUEUE_URL: queues.queueUrl,
  ...awsEnv(sqs.endpoint),
  DEVS_ENVS_DIR: envs,
  LOG_LEVEL: "warn",
};

// 1. The ingress, against a GitHub stand-in with fixed answers (the simulation's git-backed reads
// would be what is measured): a push makes four reads (the commit and DEVS.yml's layers, for the
// CI keys and again for single_queue), all cheap here.
const staticGitHub = await new GitHubStandIn()
  .on("GET", /^\/user$/, () => ({ status: 200, body: { login: "devs-bot", id: 4242 } }))
  .on("GET", /^\/repos\/[^/]+\/[^/]+\/commits\/HEAD$/, () => ({ status: 200, body: headSha, contentType: "text/plain" }))
  .start();
const ingress = await startServe({ ...common, GHE_HOST: staticGitHub.host, TASK_SINK: "sqs", CONTAINER_POOL: "hsqs5", DATA_DIR: tempDir("devs-bench-ingress-") });
let pushes = 0;
const push = () => {
  const n = ++pushes;
  return payload("push", undefined, {
    ref: "refs/heads/main",
    after: headSha,
    before: "0".repeat(40),
    deleted: false,
    // A different commit each time, so no delivery is taken for a repeat of another.
    head_commit: { id: n.toString(16).padStart(40, "b"), message: `change ${n}`, url: sim.htmlUrl("acme", "widgets") },
    repository: { name: "widgets", full_name: "acme/widgets", owner: { login: "acme", name: "acme" }, default_branch: "main", clone_url: sim.cloneUrl("acme", "widgets"), html_url: sim.htmlUrl("acme", "widgets") },
    sender: { login: "alice" },
  });
};
const ingressRates: number[] = [];
for (let run = 0; run < 3; run++) {
  await sqs.client.send(new PurgeQueueCommand({ QueueUrl: queues.queueUrl }));
  const bodies = Array.from({ length: DELIVERIES }, () => ({ ...push(), after: (pushes + 1_000_000).toString(16).padStart(40, "c") }));
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < bodies.length) {
        const res = await deliver(ingress.base, SECRET, "push", bodies[next++]!);
        if (res.status !== 200) throw new Error(`delivery answered ${res.status}: ${await res.text()}`);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const depth = await queueDepth(sqs, queues.queueUrl);
  if (depth.visible !== DELIVERIES) throw new Error(`expected ${DELIVERIES} tasks on the queue, found ${depth.visible}: ${ingress.stdout().slice(-2000)}`);
  ingressRates.push(DELIVERIES / seconds);
}
ingress.child.kill("SIGTERM");
const readsPerDelivery = staticGitHub.requests.filter((r) => r.path !== "/user").length / (3 * DELIVERIES);
await staticGitHub.stop();

const sink = new SqsTaskSink({ client: sqs.client, queueUrl: queues.queueUrl, secret: SECRET, log: pino({ level: "silent" }) });
const sinkRates: number[] = [];
for (let run = 0; run < 3; run++) {
  await sqs.client.send(new PurgeQueueCommand({ QueueUrl: queues.queueUrl }));
  const tasks = Array.from({ length: DELIVERIES }, () => agentTask({ id: `agent-${crypto.randomUUID()}` }));
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (next < tasks.length) await sink.submit(tasks[next++]!); }));
  sinkRates.push(DELIVERIES / ((performance.now() - t0) / 1000));
}
await sqs.client.send(new PurgeQueueCommand({ QueueUrl: queues.queueUrl }));

// 2. Enqueue → exec on a warm container.
const image = await ensureClaudeImage();
const fake = await startFakeAnthropic({ kind: "script", turns: Array.from({ length: RUNS + 1 }, () => ({ content: [{ type: "text" as const, text: "Nothing to change." }] })) });
writeFileSync(join(envs, "default", "DEVS.yml"), `env_vars:\n  default:\n    HTTP_PROXY: ${fake.url}\n    HTTPS_PROXY: ${fake.url}\n    NO_PROXY: 127.0.0.1,localhost\n`);
const worker = spawnCli(["worker"], {
  ...common,
  LOG_LEVEL: "info",
  CLAUDE_API_KEY: "sk-ant-bench",
  ANTHROPIC_UPSTREAM_URL: fake.url,
  CONTAINER_POOL: POOL,
  CONTAINER_NETWORK: "host",
  STOP_CONTAINER_AFTER_TASK: "false",
  DEFAULT_IMAGE: image.tag,
  DATA_DIR: tempDir("devs-bench-worker-data-"),
  REPO_CACHE_DIR: tempDir("devs-bench-worker-cache-"),
  WORKSPACE_DIR: tempDir("devs-bench-worker-ws-"),
});
const logLine = async (msg: string, task: string) => {
  for (;;) {
    const line = worker.logs.find((l) => l.msg === msg && l.task === task);
    if (line) return line;
    if (worker.child.exitCode !== null) throw new Error(`the worker exited: ${worker.stderr()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};
const exec: number[] = [];
// One warm-up task creates the container; the measured ones find it warm.
for (let i = 0; i <= RUNS; i++) {
  const task: Task = agentTask({ id: `agent-${crypto.randomUUID()}`, createdAt: new Date().toISOString(), installationId: null, target: { number: 1, title: "Bench" } });
  task.repo = { ...task.repo, cloneUrl: sim.cloneUrl("acme", "widgets"), htmlUrl: sim.htmlUrl("acme", "widgets") };
  const sentAt = Date.now();
  await sink.submit(task);
  const started = await logLine("starting the agent", task.id);
  if (i > 0) exec.push(started.time - sentAt);
  await logLine("task finished", task.id);
  // The reporter's last writes (throttled about a second apart for one installation) settle first.
  await new Promise((r) => setTimeout(r, 1_100));
}
worker.child.kill("SIGTERM");
await worker.exited;
await fake.close();
await sim.stop();
await sqs.close();
await removePoolContainers(docker, POOL);

console.log(`\nSQS benchmark (fauxqs on loopback), medians`);
console.log(`ingress: signed push deliveries → tasks on the queue   ${median(ingressRates).toFixed(0)} msg/s   (runs: ${ingressRates.map((r) => r.toFixed(0)).join(", ")}; ${DELIVERIES} each, ${CONCURRENCY} at a time, ${readsPerDelivery.toFixed(1)} GitHub reads each)`);
console.log(`SqsTaskSink.submit alone                              ${median(sinkRates).toFixed(0)} msg/s   (runs: ${sinkRates.map((r) => r.toFixed(0)).join(", ")})`);
console.log(`enqueue → agent exec in a warm container              ${median(exec)} ms   (runs: ${exec.join(", ")}; target under 1 s)`);
