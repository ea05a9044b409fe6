// Ingest (issue 16): how fast `devs-webhook serve` answers a busy organisation's deliveries, side
// by side with a bare Probot 14 server (bench/bare-probot.ts: one empty `app.onAny`, the same
// secret, the same payloads), the ceiling of our stack. Both are real processes on loopback.
//
// 1. The mix. autocannon sends signed deliveries (@octokit/webhooks-methods; every request has its
//    own X-GitHub-Delivery): a third each of pushes to a branch that does not run CI, issue
//    comments without a mention and `issues.labeled`, and 1 % mentions of the bot (each with its
//    own comment id and body, so none is taken for a repeat). At concurrency 1, 16 and 64, the two
//    servers take turns (bare, ours, bare, ours…) for at least three rounds. Per server: the
//    median over rounds of deliveries/s, p50 and p99 latency (every answer, whatever its status),
//    and the errors (connection errors, timeouts) and non-2xx answers summed; then ours/bare, the
//    median of the per-round ratios (throughput, p99). Before that, a probe sends each kind of
//    delivery to each server one at a time and counts the GitHub requests our server awaits before
//    it answers.
// 2. The storm. A fresh `serve`: 1,000 distinct mentions to one repository, by 16 concurrent
//    senders. p50/p99 of each delivery's answer time; then how many tasks the journal holds
//    (GET /status, and every storm delivery's task looked up by id in DATA_DIR's database); and
//    when the last 👀 reached the GitHub stand-in, relative to the last answer.
//
// GitHub is the stand-in of test/helpers/github-sim.ts (token mode). Its git-backed answers for the
// repository (the default branch's head, DEVS.yml) are fixed in advance, so no `git` runs in this
// process while it generates load; what the sim answers for the rest is its own. The permission
// lookup (AUTHORIZED_TRIGGER_USERS empty: write access, asked of GitHub and cached by the server)
// is answered "write" by the sim for any login, so every mention's author may trigger.
//
// Tasks without Docker: `serve` keeps its default sink, the pool, so a mention's delivery path is
// exactly an operator's (permission check, journal insert, routing, the 👀), and its task is
// journaled. One slot (CONTAINER_POOL=bench) and MAX_CONCURRENT_TASKS=1; DOCKER_HOST points at a
// Unix socket that accepts connections and never answers. The first task runs until its first
// engine call (it reads its config and clones from the sim first) and hangs there for the whole run
// (CONTAINER_TIMEOUT_MINUTES=600); every later one waits in the slot's queue, journaled, with its
// "Queued" comment written to GitHub as for any queued task. Not TASK_SINK=sqs: that path skips
// the journal and the pool, so it is not what `serve` does.
//
// Targets (issue 16): at least 0.9 of bare Probot's throughput, p99 at most 1.5× bare's, and no
// errors; storm p99 under 100 ms with every task journaled.
//
// Run (each figure is a median of the rounds; take the median of several runs):
//   npm run bench ingest
//   node --import tsx bench/ingest.bench.ts [seconds per round] [rounds]
// Environment (overrides the arguments): INGEST_SECONDS (5), INGEST_ROUNDS (3, at least 3),
// INGEST_CONCURRENCY ("1,16,64"), INGEST_STORM (1000 mentions), INGEST_STORM_DEADLINE_S (300: no
// new storm delivery starts after it), INGEST_EYES_WAIT_S (30: how long to wait for the last 👀).
// Smoke: INGEST_SECONDS=1 INGEST_STORM=48 npm run bench ingest
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer as createNetServer, type Socket } from "node:net";
import { join } from "node:path";
import { sign } from "@octokit/webhooks-methods";
import autocannon from "autocannon";
import Database from "better-sqlite3";
import { bareRepo, git } from "../test/helpers/git-repo.js";
import { GitHubSim } from "../test/helpers/github-sim.js";
import type { RecordedRequest } from "../test/helpers/github-standin.js";
import { payload } from "../test/helpers/payloads.js";
import { deliver, freePort, startServe } from "../test/helpers/serve-process.js";
import { tempDir } from "../test/helpers/settings.js";

const num = (value: string | undefined) => (value !== undefined && value !== "" && Number.isFinite(Number(value)) ? Number(value) : undefined);
const SECONDS = num(process.env.INGEST_SECONDS) ?? num(process.argv[2]) ?? 5;
const ROUNDS = Math.max(3, num(process.env.INGEST_ROUNDS) ?? num(process.argv[3]) ?? 3);
const CONCURRENCY = (process.env.INGEST_CONCURRENCY ?? "1,16,64").split(",").map(Number).filter((n) => n > 0);
const STORM = num(process.env.INGEST_STORM) ?? 1000;
const STORM_SENDERS = 16;
const STORM_DEADLINE_S = num(process.env.INGEST_STORM_DEADLINE_S) ?? 300;
const EYES_WAIT_S = num(process.env.INGEST_EYES_WAIT_S) ?? 30;
const WARMUP_S = Math.min(2, SECONDS);
const MENTION_EVERY = 100;

const TOKEN = "ghs_benchToken";
const SECRET = "bench-secret";
const ADMIN = { user: "admin", password: "bench-admin" };
const OWNER = "acme";
const REPO = "widgets";
const AUTHORS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2) : NaN;
};
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]! : NaN;
};
const round = (x: number, digits = 2) => Number(x.toFixed(digits));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// GitHub: the sim, with the repository's git-backed answers fixed and every reaction timed.
const reposRoot = tempDir("devs-bench-repos-");
const repo = bareRepo(reposRoot, OWNER, REPO);
const headSha = git(repo.path, "rev-parse", "main");
const sim = new GitHubSim(reposRoot, TOKEN);
const eyes: Array<{ path: string; at: number }> = [];
let reactionId = 1;
const authorized = (req: RecordedRequest) => req.headers.authorization === `token ${TOKEN}`;
const denied = { status: 401, body: { message: "Bad credentials" } };
// Routes added before start() come first: these answer instead of the sim's `git` calls.
sim.standIn
  .on("GET", new RegExp(`^/repos/${OWNER}/${REPO}/commits/[^/]+$`), (req) => {
    if (!authorized(req)) return denied;
    return String(req.headers.accept).includes("sha") ? { status: 200, body: headSha, contentType: "text/plain; charset=utf-8" } : { status: 200, body: { sha: headSha } };
  })
  .on("GET", new RegExp(`^/repos/${OWNER}/${REPO}/contents/`), (req) => (authorized(req) ? { status: 404, body: { message: "Not Found" } } : denied))
  .on("POST", /^\/repos\/[^/]+\/[^/]+\/(issues\/comments\/\d+|issues\/\d+|pulls\/comments\/\d+)\/reactions$/, (req) => {
    if (!authorized(req)) return denied;
    const content = (req.body as { content: string }).content;
    sim.reactions.push({ path: req.path, content });
    if (content === "eyes") eyes.push({ path: req.path, at: performance.now() });
    return { status: 201, body: { id: reactionId++, content } };
  });
await sim.start();

// A Docker engine that accepts connections and never answers: the one running task waits on it.
const engineSockets = new Set<Socket>();
let engineConnections = 0;
const engine = createNetServer((socket) => {
  engineConnections++;
  engineSockets.add(socket);
  socket.on("error", () => undefined);
  socket.on("close", () => engineSockets.delete(socket));
  socket.resume();
});
const engineSocket = join(tempDir("devs-bench-engine-"), "docker.sock");
await new Promise<void>((resolve) => engine.listen(engineSocket, resolve));

const envs = tempDir("devs-bench-envs-");
mkdirSync(join(envs, "default"));
// CI on for pushes to main only: the mix's pushes go to feature branches (not a CI branch).
writeFileSync(join(envs, "default", "DEVS.yml"), "ci_enabled: true\nci_branches: [main]\n");

function serveEnv(): Record<string, string> {
  return {
    GITHUB_TOKEN: TOKEN,
    WEBHOOK_SECRET: SECRET,
    GHE_HOST: sim.host,
    GHE_PROTOCOL: "http",
    ADMIN_USERNAME: ADMIN.user,
    ADMIN_PASSWORD: ADMIN.password,
    CLAUDE_API_KEY: "sk-ant-bench",
    CONTAINER_POOL: "bench",
    MAX_CONCURRENT_TASKS: "1",
    CONTAINER_TIMEOUT_MINUTES: "600",
    CONTAINER_NETWORK: "host",
    DOCKER_HOST: `unix://${engineSocket}`,
    DEVS_ENVS_DIR: envs,
    DATA_DIR: tempDir("devs-bench-ingest-data-"),
    REPO_CACHE_DIR: tempDir("devs-bench-ingest-cache-"),
    WORKSPACE_DIR: tempDir("devs-bench-ingest-ws-"),
    LOG_LEVEL: "info",
  };
}

interface Target {
  name: "bare" | "ours";
  base: string;
  child: ChildProcess;
}

async function startBare(): Promise<Target> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", new URL("../node_modules/tsx/dist/loader.mjs", import.meta.url).href, new URL("./bare-probot.ts", import.meta.url).pathname], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", PORT: String(port), WEBHOOK_SECRET: SECRET, LOG_LEVEL: "info", NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stdout!.resume();
  child.stderr!.on("data", (d: Buffer) => (stderr += d));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`bare Probot exited ${child.exitCode}: ${stderr}`);
    if (await fetch(`${base}/health`).then((r) => r.ok, () => false)) break;
    if (i > 600) throw new Error(`bare Probot did not start: ${stderr}`);
    await sleep(50);
  }
  return { name: "bare", base, child };
}

// ---------------------------------------------------------------------------------------------
// Payloads, pointed at the stand-in.
const repository = {
  name: REPO,
  full_name: `${OWNER}/${REPO}`,
  owner: { login: OWNER, name: OWNER },
  default_branch: "main",
  private: false,
  url: `http://${sim.host}/api/v3/repos/${OWNER}/${REPO}`,
  clone_url: sim.cloneUrl(OWNER, REPO),
  html_url: sim.htmlUrl(OWNER, REPO),
};
const issue = (n: number) => ({
  number: n,
  title: `Issue ${n}`,
  body: "Steps to reproduce: run the tests.",
  user: { login: "alice" },
  labels: [],
  assignee: null,
  assignees: [],
  html_url: `${sim.htmlUrl(OWNER, REPO)}/issues/${n}`,
  url: `http://${sim.host}/api/v3/repos/${OWNER}/${REPO}/issues/${n}`,
});
const hex = (n: number, fill: string) => n.toString(16).padStart(40, fill);
let serial = 0;

interface Signed {
  event: string;
  body: Buffer;
  signature: string;
}
async function signed(event: string, body: Record<string, unknown>): Promise<Signed> {
  const text = JSON.stringify(body);
  return { event, body: Buffer.from(text), signature: await sign(SECRET, text) };
}

function pushBody(): Record<string, unknown> {
  const n = ++serial;
  const author = AUTHORS[n % AUTHORS.length]!;
  return payload("push", undefined, {
    ref: `refs/heads/feature/topic-${n % 7}`,
    before: hex(n, "a"),
    after: hex(n, "b"),
    created: false,
    deleted: false,
    base_ref: null,
    compare: `${sim.htmlUrl(OWNER, REPO)}/compare/${hex(n, "a")}...${hex(n, "b")}`,
    head_commit: { id: hex(n, "b"), message: `change ${n}`, url: `${sim.htmlUrl(OWNER, REPO)}/commit/${hex(n, "b")}` },
    repository,
    pusher: { name: author, email: `${author}@example.invalid` },
    sender: { login: author },
  });
}
function commentBody(text: string, commentId: number, issueNumber: number, author: string): Record<string, unknown> {
  return payload("issue_comment", "created", {
    repository,
    issue: issue(issueNumber),
    comment: { id: commentId, body: text, user: { login: author }, html_url: `${sim.htmlUrl(OWNER, REPO)}/issues/${issueNumber}#issuecomment-${commentId}` },
    sender: { login: author },
  });
}
function plainComment(): Record<string, unknown> {
  const n = ++serial;
  return commentBody(`Thanks, this looks right to me. I will try it on the staging box (${n}).`, 1_000_000 + n, 1 + (n % 40), AUTHORS[n % AUTHORS.length]!);
}
function labeled(): Record<string, unknown> {
  const n = ++serial;
  const author = AUTHORS[n % AUTHORS.length]!;
  return payload("issues", "labeled", { repository, issue: issue(1 + (n % 40)), label: { name: ["bug", "triage", "docs"][n % 3] }, sender: { login: author } });
}
/** Each mention its own comment (id and body) on one of 40 issues. */
function mention(commentId: number): Record<string, unknown> {
  const author = AUTHORS[commentId % AUTHORS.length]!;
  return commentBody(`@devs-bot please look at case ${commentId}: the build fails at step ${commentId % 9}.`, commentId, 1 + (commentId % 40), author);
}
let mentionIds = 5_000_000;

type Kind = "push" | "comment" | "labeled" | "mention";
const FIXED: Array<Exclude<Kind, "mention">> = ["push", "comment", "labeled"];
const VARIANTS = 16;
// The non-mention deliveries: a few bodies of each, signed once (only their delivery ids differ).
const fixed: Record<Exclude<Kind, "mention">, Signed[]> = { push: [], comment: [], labeled: [] };
for (let i = 0; i < VARIANTS; i++) {
  fixed.push.push(await signed("push", pushBody()));
  fixed.comment.push(await signed("issue_comment", plainComment()));
  fixed.labeled.push(await signed("issues", labeled()));
}

/** The sequence of one load run: every MENTION_EVERY-th delivery a fresh mention, signed beforehand. */
class Mix {
  private i = 0;
  private used = 0;
  readonly counts: Record<Kind, number> & { short: number } = { push: 0, comment: 0, labeled: 0, mention: 0, short: 0 };

  private constructor(private readonly mentions: Signed[]) {}

  static async prepare(expected: number): Promise<Mix> {
    const count = Math.ceil((expected * 2) / MENTION_EVERY) + 20;
    return new Mix(await Promise.all(Array.from({ length: count }, () => signed("issue_comment", mention(++mentionIds)))));
  }

  next(): Signed {
    const n = this.i++;
    if (n % MENTION_EVERY === MENTION_EVERY / 2) {
      const m = this.mentions[this.used++];
      if (m) {
        this.counts.mention++;
        return m;
      }
      this.counts.short++;
    }
    const kind = FIXED[n % FIXED.length]!;
    this.counts[kind]++;
    const list = fixed[kind];
    return list[Math.floor(n / FIXED.length) % list.length]!;
  }
}

interface RunFigures {
  rate: number;
  p50: number;
  p99: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  answers: number;
  counts: Mix["counts"];
}

const expectedRate: Record<Target["name"], number> = { bare: 3000, ours: 3000 };

async function load(target: Target, connections: number, seconds: number): Promise<RunFigures> {
  const mix = await Mix.prepare(expectedRate[target.name] * seconds);
  const latencies: number[] = [];
  let instance!: autocannon.Instance;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: `${target.base}/webhook`,
        connections,
        duration: seconds,
        timeout: 12,
        requests: [
          {
            method: "POST",
            setupRequest: (request) => {
              const d = mix.next();
              return {
                ...request,
                method: "POST",
                path: "/webhook",
                headers: {
                  "content-type": "application/json",
                  "user-agent": "GitHub-Hookshot/bench",
                  "x-github-event": d.event,
                  "x-github-delivery": randomUUID(),
                  "x-hub-signature-256": d.signature,
                },
                body: d.body,
              };
            },
          },
        ],
      },
      (error: unknown, result: autocannon.Result) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(result)),
    );
  });
  // Every answer's time, whatever its status (autocannon's own histogram keeps 2xx only, in whole ms).
  instance.on("response", (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.push(ms));
  const result = await done;
  const rate = result.requests.total / result.duration;
  expectedRate[target.name] = Math.max(expectedRate[target.name], rate);
  return {
    rate,
    p50: pct(latencies, 50),
    p99: pct(latencies, 99),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    answers: latencies.length,
    counts: mix.counts,
  };
}

// ---------------------------------------------------------------------------------------------
const bare = await startBare();
const oursProcess = await startServe(serveEnv());
const ours: Target = { name: "ours", base: oursProcess.base, child: oursProcess.child };
const targets = [bare, ours];

/** The stand-in's requests as kinds: `GET /repos/:o/:r/commits/:ref`. */
const requestKind = (r: RecordedRequest) =>
  `${r.method} ${r.path.split("?")[0]!.replace(/^\/repos\/[^/]+\/[^/]+/, "/repos/:o/:r").replace(/\/\d+(?=\/|$)/g, "/:n").replace(/\/commits\/[^/]+$/, "/commits/:ref")}`;
/** Requests of the tasks' reporter (progress comments), not of a delivery. */
const reporterRequest = (r: RecordedRequest) => /\/issues\/(comments\/)?\d+\/comments$|\/issues\/comments\/\d+$/.test(r.path.split("?")[0]!) && r.method !== "GET";

// The first mention's task takes the only running place and hangs at the engine for good.
const first = await deliver(ours.base, SECRET, "issue_comment", mention(++mentionIds));
if (first.status >= 300) throw new Error(`the first mention answered ${first.status}: ${await first.text()}`);
for (let i = 0; engineConnections === 0; i++) {
  if (i > 600) {
    console.warn(`warning: the first task never reached the engine; ${oursProcess.stdout().slice(-3000)}`);
    break;
  }
  await sleep(50);
}

// Probe: each kind on its own, one at a time, and the GitHub requests our server made before answering.
const PROBES = 5;
const probe: Record<string, { bare: number; ours: number; githubRequests: number; kinds: string[] }> = {};
for (const kind of ["push", "comment", "labeled", "mention"] as Kind[]) {
  const times: Record<Target["name"], number[]> = { bare: [], ours: [] };
  const requests: number[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < PROBES; i++) {
    const d = kind === "mention" ? await signed("issue_comment", mention(++mentionIds)) : fixed[kind][i % VARIANTS]!;
    for (const target of targets) {
      const before = sim.requests.length;
      const t0 = performance.now();
      const res = await fetch(`${target.base}/webhook`, {
        method: "POST",
        body: d.body,
        headers: { "content-type": "application/json", "x-github-event": d.event, "x-github-delivery": randomUUID(), "x-hub-signature-256": d.signature },
      });
      await res.text();
      times[target.name].push(performance.now() - t0);
      if (res.status >= 300) console.warn(`probe ${kind} → ${target.name}: ${res.status}`);
      if (target === ours) {
        const during = sim.requests.slice(before).filter((r) => !reporterRequest(r));
        requests.push(during.length);
        for (const r of during) seen.add(requestKind(r));
      }
    }
  }
  probe[kind] = { bare: median(times.bare), ours: median(times.ours), githubRequests: median(requests), kinds: [...seen] };
}

console.log(`probe: each kind alone, ${PROBES} deliveries one at a time, median answer time; requests our server sent GitHub while the delivery was open (progress comments' writes left out; for mentions this includes queued tasks' background reads)`);
for (const [kind, p] of Object.entries(probe)) {
  console.log(`  ${kind.padEnd(8)} bare ${p.bare.toFixed(2).padStart(7)} ms   ours ${p.ours.toFixed(2).padStart(8)} ms   GitHub requests: ${p.githubRequests}${p.kinds.length ? ` (${p.kinds.join(", ")})` : ""}`);
}

// Warm-up (not counted), then the rounds.
for (const target of targets) await load(target, 16, WARMUP_S);
interface Row {
  concurrency: number;
  target: Target["name"];
  runs: RunFigures[];
}
const rows: Row[] = [];
const ratios: Record<number, { rate: number[]; p99: number[] }> = {};
for (const concurrency of CONCURRENCY) {
  const byTarget: Record<Target["name"], RunFigures[]> = { bare: [], ours: [] };
  ratios[concurrency] = { rate: [], p99: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const target of targets) byTarget[target.name].push(await load(target, concurrency, SECONDS));
    const [b, o] = [byTarget.bare.at(-1)!, byTarget.ours.at(-1)!];
    ratios[concurrency].rate.push(o.rate / b.rate);
    ratios[concurrency].p99.push(o.p99 / b.p99);
    console.log(
      `c${concurrency} round ${r + 1}: bare ${b.rate.toFixed(0)}/s p99 ${b.p99.toFixed(1)} ms | ours ${o.rate.toFixed(0)}/s p99 ${o.p99.toFixed(1)} ms` +
        ` (${o.counts.mention} mentions${o.counts.short ? `, ${o.counts.short} short of signed mentions` : ""}; errors ${b.errors}/${o.errors}, non-2xx ${b.non2xx}/${o.non2xx})`,
    );
  }
  for (const target of targets) rows.push({ concurrency, target: target.name, runs: byTarget[target.name] });
}
const mixMentions = rows.filter((r) => r.target === "ours").reduce((n, r) => n + r.runs.reduce((m, run) => m + run.counts.mention, 0), 0);
const oursLog = oursProcess;
// SIGKILL for ours: a graceful stop would wait for the task hung at the engine.
bare.child.kill("SIGTERM");
ours.child.kill("SIGKILL");
await Promise.all([new Promise((r) => bare.child.once("exit", r)), oursProcess.exited]);

// ---------------------------------------------------------------------------------------------
// 2. The storm, on a fresh server: STORM distinct mentions to one repository, STORM_SENDERS at a time.
const stormEnv = serveEnv();
const storm = await startServe(stormEnv);
const stormBodies = await Promise.all(Array.from({ length: STORM }, (_, i) => signed("issue_comment", mention(9_000_000 + i))));
const stormIds = stormBodies.map(() => randomUUID());
const stormPaths = new Set(Array.from({ length: STORM }, (_, i) => `/repos/${OWNER}/${REPO}/issues/comments/${9_000_000 + i}/reactions`));
const answers: Array<{ ms: number; status: number; at: number }> = [];
let next = 0;
const stormStart = performance.now();
const deadline = stormStart + STORM_DEADLINE_S * 1000;
await Promise.all(
  Array.from({ length: STORM_SENDERS }, async () => {
    while (next < STORM && performance.now() < deadline) {
      const i = next++;
      const d = stormBodies[i]!;
      const t0 = performance.now();
      let status = 0;
      try {
        const res = await fetch(`${storm.base}/webhook`, {
          method: "POST",
          body: d.body,
          headers: { "content-type": "application/json", "x-github-event": d.event, "x-github-delivery": stormIds[i]!, "x-hub-signature-256": d.signature },
          signal: AbortSignal.timeout(12_000),
        });
        await res.text();
        status = res.status;
      } catch {
        status = 0;
      }
      const at = performance.now();
      answers.push({ ms: at - t0, status, at });
    }
  }),
);
const lastAnswer = Math.max(...answers.map((a) => a.at));
const answered = answers.filter((a) => a.status >= 200 && a.status < 300).length;
const stormSent = answers.length;
// The journal: the admin route's counts, and each storm delivery's task by id.
const status = (await fetch(`${storm.base}/status`, { headers: { authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString("base64")}` } }).then((r) => r.json())) as {
  pool: { tasks: Record<string, number> };
};
const journalTotal = Object.values(status.pool.tasks).reduce((a, b) => a + b, 0);
const db = new Database(join(stormEnv.DATA_DIR!, "devs-webhook.db"), { readonly: true, fileMustExist: true });
const has = db.prepare("SELECT 1 FROM task WHERE id = ?");
const journaledById = stormIds.slice(0, stormSent).filter((id) => has.get(`agent-${id}`) !== undefined).length;
db.close();
// The 👀 of the storm's comments: wait for all of them, at most EYES_WAIT_S after the last answer.
const stormEyes = () => eyes.filter((e) => e.at >= stormStart && stormPaths.has(e.path));
while (stormEyes().length < answered && performance.now() < lastAnswer + EYES_WAIT_S * 1000) await sleep(50);
const eyesSeen = stormEyes();
const lastEyes = eyesSeen.length ? Math.max(...eyesSeen.map((e) => e.at)) : NaN;
storm.child.kill("SIGKILL");
await storm.exited;
for (const socket of engineSockets) socket.destroy();
engine.close();
await sim.stop();

// ---------------------------------------------------------------------------------------------
const summary = (r: Row) => ({
  rate: median(r.runs.map((x) => x.rate)),
  p50: median(r.runs.map((x) => x.p50)),
  p99: median(r.runs.map((x) => x.p99)),
  errors: r.runs.reduce((n, x) => n + x.errors, 0),
  timeouts: r.runs.reduce((n, x) => n + x.timeouts, 0),
  non2xx: r.runs.reduce((n, x) => n + x.non2xx, 0),
});
const ok = (pass: boolean) => (pass ? "ok" : "MISSED");


console.log(`\ningest benchmark: mix of ⅓ pushes to a non-CI branch, ⅓ comments without a mention, ⅓ issues.labeled, 1 % mentions`);
console.log(`${SECONDS} s per round, ${ROUNDS} rounds per concurrency, bare and ours in turn; medians of the rounds, errors summed`);
console.log(`${"conc".padEnd(5)} ${"server".padEnd(7)} ${"deliv/s".padStart(8)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(9)} ${"errors".padStart(7)} ${"non-2xx".padStart(8)}`);
const result: Record<string, unknown> = { seconds: SECONDS, rounds: ROUNDS, mix: {} as Record<string, unknown> };
for (const concurrency of CONCURRENCY) {
  const figures: Record<string, ReturnType<typeof summary>> = {};
  for (const row of rows.filter((r) => r.concurrency === concurrency)) {
    const s = (figures[row.target] = summary(row));
    console.log(
      `${String(concurrency).padEnd(5)} ${row.target.padEnd(7)} ${s.rate.toFixed(0).padStart(8)} ${s.p50.toFixed(2).padStart(8)} ${s.p99.toFixed(2).padStart(9)} ${String(s.errors).padStart(7)} ${String(s.non2xx).padStart(8)}`,
    );
  }
  const rate = median(ratios[concurrency]!.rate);
  const p99 = median(ratios[concurrency]!.p99);
  const o = figures.ours!;
  console.log(
    `${"".padEnd(5)} ours/bare: throughput ${rate.toFixed(2)} (≥ 0.9 ${ok(rate >= 0.9)}), p99 ${p99.toFixed(2)}× (≤ 1.5 ${ok(p99 <= 1.5)}), errors ${o.errors + o.non2xx} (0 ${ok(o.errors + o.non2xx === 0)})`,
  );
  (result.mix as Record<string, unknown>)[`c${concurrency}`] = {
    bare: { rate: round(figures.bare!.rate, 0), p50: round(figures.bare!.p50), p99: round(figures.bare!.p99), errors: figures.bare!.errors, non2xx: figures.bare!.non2xx },
    ours: { rate: round(o.rate, 0), p50: round(o.p50), p99: round(o.p99), errors: o.errors, timeouts: o.timeouts, non2xx: o.non2xx },
    ratio: { throughput: round(rate, 3), p99: round(p99, 3) },
  };
}
console.log(`(mentions sent to ours in the rounds: ${mixMentions}; the first task reached the engine: ${engineConnections > 0 ? "yes" : "no"}; log lines: ${oursLog.logs.length})`);

const stormMs = answers.map((a) => a.ms);
const stormP50 = pct(stormMs, 50);
const stormP99 = pct(stormMs, 99);
const byStatus = new Map<number, number>();
for (const a of answers) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
const statuses = [...byStatus].map(([s, n]) => `${s}×${n}`).join(", ");
console.log(`\nstorm: ${STORM} distinct mentions to ${OWNER}/${REPO}, ${STORM_SENDERS} senders, fresh server`);
if (stormSent < STORM) console.log(`  cut short: ${stormSent} of ${STORM} sent before INGEST_STORM_DEADLINE_S=${STORM_DEADLINE_S}`);
console.log(`  answer time p50 ${stormP50.toFixed(1)} ms, p99 ${stormP99.toFixed(1)} ms (< 100 ms ${ok(stormP99 < 100 && stormSent === STORM)}); ${stormSent} sent in ${((lastAnswer - stormStart) / 1000).toFixed(1)} s; answers ${statuses}`);
console.log(`  journaled: ${journaledById} of ${stormSent} storm deliveries found by id; GET /status counts ${journalTotal} tasks ${JSON.stringify(status.pool.tasks)} (${ok(journaledById === stormSent && journalTotal >= stormSent)})`);
console.log(
  `  👀: ${eyesSeen.length} of ${answered} at the stand-in within ${EYES_WAIT_S} s of the last answer; the last ${Number.isNaN(lastEyes) ? "never came" : `${(lastEyes - lastAnswer).toFixed(0)} ms ${lastEyes >= lastAnswer ? "after" : "before"} the last answer`}`,
);
result.storm = {
  mentions: STORM,
  sent: stormSent,
  p50: round(stormP50, 1),
  p99: round(stormP99, 1),
  seconds: round((lastAnswer - stormStart) / 1000),
  answered2xx: answered,
  journaledById,
  journalTotal,
  eyesSeen: eyesSeen.length,
  lastEyesAfterLastAnswerMs: Number.isNaN(lastEyes) ? null : round(lastEyes - lastAnswer, 0),
};
result.probe = Object.fromEntries(Object.entries(probe).map(([k, p]) => [k, { bare: round(p.bare), ours: round(p.ours), githubRequests: p.githubRequests }]));
console.log(`RESULT ${JSON.stringify(result)}`);
