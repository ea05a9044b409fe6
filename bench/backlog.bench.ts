// A backlog of tasks (issue 16): N tasks (default 10,000) enqueued into the journal and the pool of
// `serve`'s own composition root, then, with that backlog waiting:
//  - the enqueue rate: tasks/s journaled (TaskSink.submit returned: on disk, GitHub could be
//    answered), and tasks/s in the pool (every task routed to a slot's queue);
//  - RSS before and after the backlog, each after a full GC (and the raw figure after);
//  - GET /status, /tasks, /metrics, the dashboard (GET / as a browser asks for it) and the JSON its
//    page then reads (the first `snapshot` of GET /events): the median of ROUTE_RUNS requests each;
//  - a restart with that journal: the HTTP server and the services closed, `openServices` and
//    `startServer` again, until the pool holds every task again (its `queued` events): the median
//    of RESTARTS, with its parts;
//  - then the gate opens and the backlog drains: tasks/s through the pool, and RSS once it is empty.
// How: what `serve` runs (src/cli.ts serve: openServices + startServer, the real Probot and
// Octokit, SQLite in a temporary DATA_DIR, the admin routes on loopback with Basic auth), except
// the task kinds: one executor for both kinds stands in for the agent and the CI runner (which
// would need Docker) and returns at once, but only once a gate opens, so that the backlog is a
// real one (the default 3 slots and MAX_CONCURRENT_TASKS=3: 3 tasks hang at the gate, the rest wait
// in the slots' queues and in the journal; not fewer running than slots, since ContainerPool.close
// starts a task that waited for MAX_CONCURRENT_TASKS and waits for it to end). No reporter: nothing is written to GitHub (the
// ingest benchmark's subject). GitHub is a stand-in in a child process (so its CPU and memory
// are not this process's): GET /user, GET …/commits/HEAD (which the pool's routing reads for every
// task, DEVS.yml's single_queue) and 404 for the rest (no DEVS.yml). The tasks are spread over
// BACKLOG_REPOS repositories (default 20), a third of them agent tasks (each on its own issue or
// pull request), the rest CI runs of distinct commits, each with an issue-sized body.
// Targets: RSS growth under 50 MB; each route under 50 ms; a restart under 2 s.
// The pool reads GitHub twice per task to route it (DEVS.yml's single_queue: the default branch's
// head, and that of the owner's .github), at enqueue and again at every restart: at 10,000 tasks
// that is 20,000 reads each time, so a full run takes minutes.
// Run (the full size is for a quiet machine; smoke with a small N):
//   npm run bench backlog                          (BACKLOG_TASKS=500 npm run bench backlog)
//   node --import tsx bench/backlog.bench.ts [tasks]
// Env: BACKLOG_TASKS, BACKLOG_REPOS, BACKLOG_ROUTE_RUNS (≥ 5, default 7), BACKLOG_RESTARTS (≥ 3, default 3).
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { PoolEvent } from "../src/pool/pool.js";
import { startServer, type RunningServer } from "../src/server.js";
import { loadSettings } from "../src/settings.js";
import type { RunResult, TaskExecutor } from "../src/tasks/execution.js";
import type { Task } from "../src/tasks/task.js";
import { openServices, type Services } from "../src/wiring/services.js";
import { tempDir } from "../test/helpers/settings.js";
import { agentTask, agentTaskOnPullRequest, ciTask, ciTaskOnPullRequest } from "../test/helpers/tasks.js";

const N = Math.max(10, Number(process.argv[2] ?? process.env.BACKLOG_TASKS ?? 10_000));
const REPOS = Math.max(1, Number(process.env.BACKLOG_REPOS ?? 20));
const ROUTE_RUNS = Math.max(5, Number(process.env.BACKLOG_ROUTE_RUNS ?? 7));
const RESTARTS = Math.max(3, Number(process.env.BACKLOG_RESTARTS ?? 3));
const TARGET = { rssGrowthMb: 50, routeMs: 50, restartMs: 2_000 };
const PASSWORD = "bench-admin";
const AUTH = `Basic ${Buffer.from(`admin:${PASSWORD}`).toString("base64")}`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (bytes: number) => bytes / 1024 / 1024;
// A full GC whether or not node was started with --expose-gc.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const settledRss = async () => {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  return process.memoryUsage();
};

// --- GitHub, in its own process: answers and counts, keeps nothing.
const STAND_IN = `
const http = require("node:http");
const sha = "c".repeat(40);
let heads = 0, others = 0;
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    const path = (req.url || "/").replace(/^\\/api\\/v3/, "").split("?")[0];
    if (req.method === "GET" && path === "/user") return res.writeHead(200, { "content-type": "application/json" }).end('{"login":"devs-bot","id":4242,"type":"Bot"}');
    if (req.method === "GET" && /^\\/repos\\/[^/]+\\/[^/]+\\/commits\\/HEAD$/.test(path)) { heads++; return res.writeHead(200, { "content-type": "text/plain; charset=utf-8" }).end(sha); }
    if (path === "/__counts") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ heads, others }));
    others++;
    res.writeHead(404, { "content-type": "application/json" }).end('{"message":"Not Found"}');
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
`;
const standIn = spawn(process.execPath, ["-e", STAND_IN], { stdio: ["ignore", "pipe", "inherit"] });
const githubPort = await new Promise<number>((resolve, reject) => {
  standIn.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim())));
  standIn.once("exit", (code) => reject(new Error(`the GitHub stand-in exited ${code}`)));
});
const githubCounts = async () => (await (await fetch(`http://127.0.0.1:${githubPort}/__counts`)).json()) as { heads: number; others: number };

// --- The executor: hangs at the gate (or until the pool aborts it), then returns at once.
let gateOpen = false;
const atGate = new Set<() => void>();
const execute: TaskExecutor = (_task, ctx) =>
  new Promise<RunResult>((resolve) => {
    const done = () => resolve({ state: "done" });
    if (gateOpen) return done();
    atGate.add(done);
    ctx.signal.addEventListener("abort", () => {
      atGate.delete(done);
      resolve({ state: "failed", detail: "aborted" });
    }, { once: true });
  });
const openGate = () => {
  gateOpen = true;
  for (const done of atGate) done();
  atGate.clear();
};

const envs = tempDir("devs-bench-backlog-envs-");
mkdirSync(join(envs, "default"));
const dataDir = tempDir("devs-bench-backlog-data-");
const settings = loadSettings({
  GITHUB_TOKEN: "ghs_benchToken",
  WEBHOOK_SECRET: "bench-secret",
  GHE_HOST: `127.0.0.1:${githubPort}`,
  GHE_PROTOCOL: "http",
  AUTHORIZED_TRIGGER_USERS: "*",
  AUTHORIZED_CI_TRIGGER_USERS: "*",
  WEBHOOK_HOST: "127.0.0.1",
  WEBHOOK_PORT: "0",
  ADMIN_PASSWORD: PASSWORD,
  DATA_DIR: dataDir,
  TASK_LOG_DIR: join(dataDir, "task-logs"),
  DEVS_ENVS_DIR: envs,
  LOG_LEVEL: "silent",
});

// Events of the services now open: `queued` counts what the pool holds again after a start.
let events = { queued: 0, finished: 0 };
let server!: RunningServer;
let services!: Services;
const open = async () => {
  events = { queued: 0, finished: 0 };
  const mine = events;
  services = await openServices(settings, {
    kinds: { agent: { execute }, ci: { execute } },
    onPoolEvent: (event: PoolEvent) => {
      if (event.type === "queued") mine.queued++;
      else if (event.type === "finished") mine.finished++;
    },
  });
  server = await startServer(settings, services);
};
const close = async () => {
  await server.close();
  await services.close();
};
const until = async (done: () => boolean, what: string, timeoutMs = 600_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
};
/** Tasks the pool holds: queued in a slot or running. */
const held = () => Object.values(services.pool.slotTasks()).reduce((n, s) => n + s.queued.length + (s.running ? 1 : 0), 0);

const BODY = "Steps to reproduce: open the settings page, change the time zone, save. Expected: the new zone is shown. Actual: the old one, until a reload. ".repeat(6);
function task(i: number): Task {
  const repo = `acme/service-${i % REPOS}`;
  const id = `${i % 3 === 0 ? "agent" : "ci"}-${crypto.randomUUID()}`;
  const title = `Time zone not saved on the settings page (${i})`;
  switch (i % 6) {
    case 0:
      return agentTask({ id, repo, createdAt: new Date().toISOString(), target: { number: 1000 + i, title, body: BODY }, trigger: { body: `@devs-bot please fix this (${i})` } });
    case 3:
      return agentTaskOnPullRequest({ id, repo, createdAt: new Date().toISOString(), target: { number: 1000 + i, title, body: BODY }, trigger: { body: `@devs-bot address the review (${i})` } });
    case 1:
    case 4:
      return ciTask({ id, repo, createdAt: new Date().toISOString(), target: { title, body: BODY }, ci: { headSha: i.toString(16).padStart(40, "a") } });
    default:
      return ciTaskOnPullRequest({ id, repo, createdAt: new Date().toISOString(), target: { number: 1000 + i, title, body: BODY }, ci: { headSha: i.toString(16).padStart(40, "b") } });
  }
}

// --- Routes.
const base = () => server.url;
async function get(path: string, accept = "application/json"): Promise<{ ms: number; bytes: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base()}${path}`, { headers: { authorization: AUTH, accept } });
  const body = await res.arrayBuffer();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}: ${Buffer.from(body).toString().slice(0, 300)}`);
  return { ms, bytes: body.byteLength };
}
/** GET /events until its first snapshot has arrived whole: what the dashboard's page reads. */
async function firstSnapshot(): Promise<{ ms: number; bytes: number }> {
  const controller = new AbortController();
  const t0 = performance.now();
  const res = await fetch(`${base()}/events`, { headers: { authorization: AUTH, accept: "text/event-stream" }, signal: controller.signal });
  if (res.status !== 200) throw new Error(`GET /events answered ${res.status}`);
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of res.body!) {
    text += decoder.decode(chunk as Uint8Array, { stream: true });
    const at = text.indexOf("event: snapshot\n");
    if (at >= 0 && text.indexOf("\n\n", at) >= 0) break;
  }
  const ms = performance.now() - t0;
  controller.abort();
  return { ms, bytes: Buffer.byteLength(text) };
}
const ROUTES: Array<[string, () => Promise<{ ms: number; bytes: number }>]> = [
  ["GET /status", () => get("/status")],
  ["GET /tasks", () => get("/tasks")],
  ["GET /metrics", () => get("/metrics", "text/plain")],
  ["GET / (dashboard)", () => get("/", "text/html")],
  ["GET /events (first snapshot)", firstSnapshot],
];
async function timeRoutes(runs: number): Promise<Record<string, { ms: number; bytes: number }>> {
  const out: Record<string, { ms: number; bytes: number }> = {};
  for (const [name, call] of ROUTES) {
    await call(); // warm: the first request opens the connection
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < runs; i++) {
      const r = await call();
      times.push(r.ms);
      bytes = r.bytes;
    }
    out[name] = { ms: median(times), bytes };
  }
  return out;
}

// --- 0. The empty server: its routes once (their code loaded), then the baseline.
await open();
const emptyRoutes = await timeRoutes(3);
const before = await settledRss();

// --- 1. Enqueue.
const t0 = performance.now();
for (let i = 0; i < N; i++) await services.pool.submit(task(i));
const journaledMs = performance.now() - t0;
await until(() => events.queued === N, "every task in a slot's queue");
const pooledMs = performance.now() - t0;
const ghAfterEnqueue = await githubCounts();
if (held() !== N) throw new Error(`the pool holds ${held()} tasks, not ${N}`);
const afterRaw = process.memoryUsage();
const after = await settledRss();

// --- 2. The routes with the backlog.
const routes = await timeRoutes(ROUTE_RUNS);

// --- 3. Restarts with that journal.
const restarts: Array<{ total: number; close: number; open: number; recovered: number }> = [];
for (let r = 0; r < RESTARTS; r++) {
  const s0 = performance.now();
  await close();
  const s1 = performance.now();
  await open();
  const s2 = performance.now();
  await until(() => events.queued === N, "the pool to hold every task again");
  const s3 = performance.now();
  restarts.push({ total: s3 - s0, close: s1 - s0, open: s2 - s1, recovered: s3 - s2 });
}
const ghAfterRestarts = await githubCounts();
const headsPerRestart = (ghAfterRestarts.heads - ghAfterEnqueue.heads) / RESTARTS;
const restartMs = median(restarts.map((r) => r.total));
const restartParts = restarts.find((r) => r.total === restartMs)!;
const afterRestartRss = await settledRss();

// --- 4. Drain: the gate opens; each task now returns at once.
const d0 = performance.now();
openGate();
await until(() => events.finished === N, "the backlog to drain");
const drainMs = performance.now() - d0;
const drained = await settledRss();
const counts = services.journal.counts();
await close();
standIn.kill();

// --- Report.
const growth = mb(after.rss - before.rss);
const fmt = (x: number, d = 1) => x.toFixed(d);
console.log(`\nBacklog benchmark: ${N} tasks over ${REPOS} repositories, ${settings.containerPool.length} slots, MAX_CONCURRENT_TASKS=${settings.maxConcurrentTasks}`);
console.log(`enqueue: journaled ${fmt(N / (journaledMs / 1000), 0)} tasks/s (${fmt(journaledMs, 0)} ms); in the pool ${fmt(N / (pooledMs / 1000), 0)} tasks/s (${fmt(pooledMs, 0)} ms); GitHub reads ${ghAfterEnqueue.heads} HEAD + ${ghAfterEnqueue.others} other`);
console.log(`RSS after GC: before ${fmt(mb(before.rss))} MB, after ${fmt(mb(after.rss))} MB (raw ${fmt(mb(afterRaw.rss))} MB), growth ${fmt(growth)} MB; heap used ${fmt(mb(before.heapUsed))} → ${fmt(mb(after.heapUsed))} MB`);
console.log(`routes, median of ${ROUTE_RUNS} (empty server → with the backlog):`);
for (const [name] of ROUTES) {
  const r = routes[name]!;
  console.log(`  ${name.padEnd(30)} ${fmt(emptyRoutes[name]!.ms).padStart(7)} ms → ${fmt(r.ms).padStart(7)} ms   ${fmt(r.bytes / 1024).padStart(8)} KiB${r.ms > TARGET.routeMs ? "   MISSES" : ""}`);
}
console.log(`restart, median of ${RESTARTS}: ${fmt(restartMs, 0)} ms (close ${fmt(restartParts.close, 0)}, open ${fmt(restartParts.open, 0)}, every task back in the pool ${fmt(restartParts.recovered, 0)}); runs ${restarts.map((r) => `${fmt(r.total, 0)} (${fmt(r.close, 0)}+${fmt(r.open, 0)}+${fmt(r.recovered, 0)})`).join(", ")}; ${fmt(headsPerRestart, 0)} GitHub reads per restart`);
console.log(`drain with the agent returning at once: ${fmt(N / (drainMs / 1000), 0)} tasks/s (${fmt(drainMs, 0)} ms); journal ${JSON.stringify(counts)}`);
console.log(`RSS after GC after the restarts ${fmt(mb(afterRestartRss.rss))} MB, once drained ${fmt(mb(drained.rss))} MB`);

const rows: Array<[string, string, string, boolean]> = [
  ["RSS growth (after GC)", `${fmt(growth)} MB`, `< ${TARGET.rssGrowthMb} MB`, growth < TARGET.rssGrowthMb],
  ...ROUTES.map(([name]): [string, string, string, boolean] => [name, `${fmt(routes[name]!.ms)} ms`, `< ${TARGET.routeMs} ms`, routes[name]!.ms < TARGET.routeMs]),
  ["restart", `${fmt(restartMs, 0)} ms`, `< ${TARGET.restartMs} ms`, restartMs < TARGET.restartMs],
  ["enqueue (journaled)", `${fmt(N / (journaledMs / 1000), 0)} /s`, "", true],
  ["enqueue (in the pool)", `${fmt(N / (pooledMs / 1000), 0)} /s`, "", true],
  ["drain", `${fmt(N / (drainMs / 1000), 0)} /s`, "", true],
];
console.log(`\n${"figure".padEnd(30)} ${"value".padStart(12)}  ${"target".padEnd(10)} met`);
for (const [name, value, target, met] of rows) console.log(`${name.padEnd(30)} ${value.padStart(12)}  ${target.padEnd(10)} ${target ? (met ? "yes" : "NO") : ""}`);
const key = (name: string) => name.replace(/^GET /, "").replace(/[^a-z]+/gi, "_").replace(/^_|_$/g, "") || "dashboard";
console.log(
  `RESULT ${JSON.stringify({
    tasks: N,
    repos: REPOS,
    enqueue_journaled_per_s: Math.round(N / (journaledMs / 1000)),
    enqueue_pooled_per_s: Math.round(N / (pooledMs / 1000)),
    rss_before_mb: +fmt(mb(before.rss)),
    rss_after_mb: +fmt(mb(afterRaw.rss)),
    rss_after_gc_mb: +fmt(mb(after.rss)),
    rss_growth_mb: +fmt(growth),
    routes_ms: Object.fromEntries(ROUTES.map(([name]) => [key(name), +fmt(routes[name]!.ms, 2)])),
    restart_ms: Math.round(restartMs),
    restart_parts_ms: { close: Math.round(restartParts.close), open: Math.round(restartParts.open), recovered: Math.round(restartParts.recovered) },
    github_reads_per_restart: Math.round(headsPerRestart),
    drain_per_s: Math.round(N / (drainMs / 1000)),
    rss_drained_mb: +fmt(mb(drained.rss)),
  })}`,
);
