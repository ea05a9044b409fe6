// Scale-out end to end, with real parts: an ingress (`serve` with TASK_SINK=sqs, no Docker) that
// signs tasks onto a FIFO queue in fauxqs on loopback, and worker processes (`devs-webhook worker`,
// each its own slots, journal and caches, as separate hosts would be) that run them with the real
// Claude Code CLI in a container, against the scripted Messages API through their model proxy, and
// publish to the local GitHub. What a user sees: one pull request and one progress comment per
// task, whatever happened to the workers; what an operator sees: an empty queue at the end.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sign } from "@octokit/webhooks-methods";
import type Docker from "dockerode";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqsTaskSink } from "../../src/tasks/sqs.js";
import { signTaskBody } from "../../src/tasks/task-message.js";
import { serializeTask, type Task } from "../../src/tasks/task.js";
import { dockerEngine, ensureClaudeImage } from "../helpers/claude-image.js";
import { removePoolContainers, requireDocker } from "../helpers/docker.js";
import { startFakeAnthropic, type FakeAnthropic, type ScriptedTurn } from "../helpers/fake-anthropic.js";
import { bareRepo, git, type BareRepo } from "../helpers/git-repo.js";
import { GitHubSim } from "../helpers/github-sim.js";
import { payload } from "../helpers/payloads.js";
import { spawnCli, startServe, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/settings.js";
import { awsEnv, createTaskQueues, queueDepth, sendRaw, startFakeSqs, type FakeSqs, type TaskQueues } from "../helpers/sqs.js";
import { agentTask } from "../helpers/tasks.js";
import { until } from "../helpers/until.js";

const TOKEN = "ghs_sqsE2eInstallationToken00000000000000";
const API_KEY = "sk-ant-api03-sqs-e2e-key-0000000000000";
const SECRET = "sqs-e2e-webhook-secret";
/** Short, so a killed worker's message reappears within the test; workers extend it every 2 s. */
const VISIBILITY_SECONDS = 6;
const POOLS = { a: "hsqs1", b: "hsqs2", ingress: "hsqs3" };

const engine = await dockerEngine();
if (!engine.ok) {
  if (process.env.DEVS_REQUIRE_DOCKER === "1") throw new Error(`DEVS_REQUIRE_DOCKER=1 but no Docker engine answers (${engine.why}); run .ci/docker.sh`);
  console.warn(`skipping the SQS end-to-end tests: no Docker engine answers (${engine.why})`);
}

type Process = Omit<ServeProcess, "base">;
let docker: Docker | null = null;
let sim: GitHubSim;
let fake: FakeAnthropic;
let sqs: FakeSqs;
let queues: TaskQueues;
let repo: BareRepo;
let ingress: ServeProcess;
let workerEnv: (pool: string) => Record<string, string>;
const hostDirs = new Map<string, Record<string, string>>();
const processes: Process[] = [];

beforeAll(async () => {
  if (!engine.ok) return;
  docker = await requireDocker();
  if (!docker) return;
  const image = await ensureClaudeImage();
  const reposRoot = tempDir("devs-sqs-e2e-repos-");
  repo = bareRepo(reposRoot, "acme", "widgets", { "README.md": "# widgets\n" });
  sim = await new GitHubSim(reposRoot, TOKEN).start();
  fake = await startFakeAnthropic({ kind: "hang" });
  sqs = await startFakeSqs();
  queues = await createTaskQueues(sqs, `e2e-${process.pid}`, { visibilityTimeoutSeconds: VISIBILITY_SECONDS, maxReceiveCount: 5 });
  const envs = tempDir("devs-sqs-e2e-envs-");
  mkdirSync(join(envs, "default"));
  writeFileSync(join(envs, "default", "DEVS.yml"), `env_vars:\n  default:\n    HTTP_PROXY: ${fake.url}\n    HTTPS_PROXY: ${fake.url}\n    NO_PROXY: 127.0.0.1,localhost\n`);
  const common = {
    GITHUB_TOKEN: TOKEN,
    WEBHOOK_SECRET: SECRET,
    GHE_HOST: sim.host,
    GHE_PROTOCOL: "http",
    AUTHORIZED_TRIGGER_USERS: "*",
    AWS_SQS_QUEUE_URL: queues.queueUrl,
    AWS_SQS_DLQ_URL: queues.dlqUrl,
    ...awsEnv(sqs.endpoint),
    DEVS_ENVS_DIR: envs,
    LOG_LEVEL: "info",
  };
  // One host's directories, kept for its restart.
  const dirsOf = (pool: string) => {
    if (!hostDirs.has(pool)) {
      hostDirs.set(pool, { DATA_DIR: tempDir(`devs-sqs-e2e-${pool}-data-`), REPO_CACHE_DIR: tempDir(`devs-sqs-e2e-${pool}-cache-`), WORKSPACE_DIR: tempDir(`devs-sqs-e2e-${pool}-ws-`) });
    }
    return hostDirs.get(pool)!;
  };
  workerEnv = (pool) => ({
    ...common,
    ...dirsOf(pool),
    CLAUDE_API_KEY: API_KEY,
    ANTHROPIC_UPSTREAM_URL: fake.url,
    CONTAINER_POOL: pool,
    CONTAINER_NETWORK: "host",
    CONTAINER_TIMEOUT_MINUTES: "3",
    // Warm containers between tasks, as a busy worker has them.
    STOP_CONTAINER_AFTER_TASK: "false",
    DEFAULT_IMAGE: image.tag,
    SQS_VISIBILITY_TIMEOUT_SECONDS: String(VISIBILITY_SECONDS),
    SQS_WAIT_TIME_SECONDS: "2",
  });
  // The ingress has no model key, no image and no Docker work: it only signs tasks onto the queue.
  ingress = await startServe({ ...common, ...dirsOf(POOLS.ingress), TASK_SINK: "sqs", CONTAINER_POOL: POOLS.ingress });
  processes.push(ingress);
}, 15 * 60_000);

afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null) p.child.kill("SIGKILL");
  await fake?.close();
  await sim?.stop();
  await sqs?.close();
  if (docker) for (const pool of Object.values(POOLS)) await removePoolContainers(docker, pool);
});

function startWorker(pool: string): Process {
  const worker = spawnCli(["worker"], workerEnv(pool));
  processes.push(worker);
  return worker;
}

const logsOf = (...ps: Process[]) => ps.map((p) => `${p.stdout()}${p.stderr()}`.slice(-5000)).join("\n--- next process ---\n");

/** `until` with the processes' logs in the error. */
const untilSeen = <T>(probe: () => T | Promise<T>, timeoutMs: number, what: string) =>
  until(probe, { timeoutMs, what, intervalMs: 100, detail: () => logsOf(...processes) });

const finalComment = (issue: number) => sim.comments.find((c) => c.issue === issue && /✅|❌|⏱️|🛑|🚫/.test(c.body));
const empty = async () => {
  const depth = await queueDepth(sqs, queues.queueUrl);
  return depth.visible === 0 && depth.inFlight === 0;
};

/** A signed issue_comment delivery to the ingress, mentioning the bot on issue `number`. */
async function mention(number: number, commentId: number, text: string, title: string): Promise<Response> {
  const body = JSON.stringify(
    payload("issue_comment", "created", {
      repository: { name: "widgets", full_name: "acme/widgets", owner: { login: "acme" }, default_branch: "main", private: false, clone_url: sim.cloneUrl("acme", "widgets"), html_url: sim.htmlUrl("acme", "widgets") },
      issue: { number, title, body: "", user: { login: "alice" }, labels: [], assignees: [] },
      comment: { id: commentId, body: `@devs-bot ${text}`, user: { login: "alice" }, html_url: `${sim.htmlUrl("acme", "widgets")}/issues/${number}#issuecomment-${commentId}` },
      sender: { login: "alice" },
    }),
  );
  return fetch(`${ingress.base}/webhook`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-github-event": "issue_comment", "x-github-delivery": crypto.randomUUID(), "x-hub-signature-256": await sign(SECRET, body) },
  });
}

const writeFile = (file: string, content: string, summary: string): ScriptedTurn[] => [
  { content: [{ type: "tool_use", name: "Write", input: { file_path: `/workspaces/widgets/${file}`, content } }] },
  { content: [{ type: "text", text: summary }] },
];

/** A worker's runs of a task: from taking its message to the pool's final word (or the worker's death). */
function runsIn(p: Process, taskId: string, diedAt?: number): Array<{ from: number; to: number }> {
  const taken = p.logs.filter((l) => l.msg === "task taken from SQS" && l.task === taskId).map((l) => l.time);
  const ended = p.logs.filter((l) => l.msg === "task finished" && l.task === taskId).map((l) => l.time);
  return taken.map((from, i) => ({ from, to: ended[i] ?? diedAt ?? Number.POSITIVE_INFINITY }));
}

let workerA: Process;
let workerB: Process | null = null;
let killedTask = "";
let killedAt = 0;

describe.skipIf(!engine.ok)("tasks on SQS end to end", () => {
  it("the whole path: a delivery to the ingress, the queue, a worker's agent in its container, the pull request, the message deleted", async () => {
    workerA = startWorker(POOLS.a);
    fake.setMode({ kind: "script", turns: writeFile("hello.txt", "Hello, widgets!\n", "Added `hello.txt`.") });
    const res = await mention(1, 9001, "please add hello.txt", "Add a greeting");
    expect(res.status).toBe(200);
    const sent = await untilSeen(() => ingress.logs.find((l) => l.msg === "task sent to SQS"), 10_000, "the ingress to send the task");
    // The thread is the FIFO group: its next task waits until this one's message is deleted.
    expect(sent).toMatchObject({ group: "acme/widgets#1", repo: "acme/widgets" });

    const done = await untilSeen(() => finalComment(1), 180_000, "the final comment");
    expect(done.body).toContain("✅ Done");
    expect(sim.comments.filter((c) => c.issue === 1)).toHaveLength(1);
    const pr = sim.pulls.find((p) => p.head.startsWith("devs/issue-1-"))!;
    expect(sim.pulls).toHaveLength(1);
    expect(pr).toMatchObject({ head: "devs/issue-1-add-a-greeting", base: "main", title: "Add a greeting" });
    expect(pr.body).toContain(`<!-- devs-webhook:task=${sent.task as string} -->`);
    expect(done.body).toContain(`Opened [#${pr.number}](${pr.html_url}).`);
    expect(git(repo.path, "show", "devs/issue-1-add-a-greeting:hello.txt")).toBe("Hello, widgets!");
    await untilSeen(empty, 10_000, "the queue to be empty, nothing in flight");

    // The worker ran it; the ingress only sent it, and has no container.
    expect(workerA.logs.some((l) => l.msg === "starting the agent" && l.task === sent.task)).toBe(true);
    expect(ingress.logs.some((l) => l.msg === "starting the agent")).toBe(false);
    expect(await docker!.listContainers({ all: true, filters: { label: [`devs.pool=${POOLS.ingress}`] } })).toEqual([]);
    const took = workerA.logs.find((l) => l.msg === "starting the agent" && l.task === sent.task)!.time - sent.time;
    console.log(`[sqs e2e] enqueue → agent exec on a cold container: ${took} ms`);
    // Secrets reach neither GitHub nor any log.
    const everything = JSON.stringify([sim.comments, sim.pulls]) + logsOf(ingress, workerA);
    for (const secret of [API_KEY, TOKEN, SECRET]) expect(everything).not.toContain(secret);
  }, 240_000);

  it("a worker killed mid-task leaves the message to reappear; another worker runs it once more: one PR, one progress comment", async () => {
    fake.setMode({ kind: "hang" });
    const before = fake.agentRequests.length;
    expect((await mention(2, 9002, "please add bye.txt", "Add a farewell")).status).toBe(200);
    await untilSeen(() => fake.agentRequests.slice(before).some((r) => JSON.stringify(r.body).includes("Add a farewell")), 120_000, "worker A's agent to call the API");
    killedTask = workerA.logs.find((l) => l.msg === "task taken from SQS" && !workerA.logs.some((f) => f.msg === "task finished" && f.task === l.task))!.task as string;
    workerA.child.kill("SIGKILL");
    await workerA.exited;
    killedAt = Date.now();
    // Still hidden: A took it; it reappears once A's last extension runs out.
    expect(await queueDepth(sqs, queues.queueUrl)).toEqual({ visible: 0, inFlight: 1 });

    fake.setMode({ kind: "script", turns: writeFile("bye.txt", "Goodbye!\n", "Added `bye.txt`.") });
    workerB = startWorker(POOLS.b);
    const done = await untilSeen(() => finalComment(2), 180_000, "the final comment of the retried task");
    expect(done.body).toContain("✅ Done");
    const takenByB = workerB.logs.find((l) => l.msg === "task taken from SQS" && l.task === killedTask)!;
    expect(takenByB.receives).toBe(2);
    // Never two at once: B took it only after A was dead.
    expect(takenByB.time).toBeGreaterThanOrEqual(killedAt);
    expect(sim.comments.filter((c) => c.issue === 2)).toHaveLength(1);
    expect(sim.pulls.filter((p) => p.head.startsWith("devs/issue-2-"))).toHaveLength(1);
    expect(git(repo.path, "show", "devs/issue-2-add-a-farewell:bye.txt")).toBe("Goodbye!");
    await untilSeen(empty, 10_000, "the queue to be empty");
  }, 300_000);

  // What this proves: with both workers polling, the second copy of one task id is dropped by
  // SQS's deduplication, and the third (another deduplication id, as a redelivery after five
  // minutes comes) is held back by its FIFO group until the first run's message is deleted; it is
  // then either deleted unrun by the host that ran the task or run again by the other, after the
  // first run ended (the runs' intervals, from the workers' logs, never overlap). Either way GitHub
  // shows one pull request (updated in place by a second run) and one progress comment.
  it("two workers, three deliveries of one task: never two runs at once, one pull request and one comment in the end", async () => {
    // Worker A restarted on the same host: its journal still has the killed task as running, and
    // it must leave that to the queue (which B has finished by now), not run it again.
    workerA = startWorker(POOLS.a);
    await untilSeen(() => workerA.logs.some((l) => l.msg === "worker taking tasks from SQS"), 60_000, "worker A to start again");
    expect(workerA.logs.find((l) => l.msg === "unfinished tasks left to the queue they came from")).toMatchObject({ tasks: 1 });

    // Enough turns for two runs: the third copy may reach the worker that did not run the first.
    fake.setMode({ kind: "script", turns: [...writeFile("third.txt", "third\n", "Added `third.txt`."), ...writeFile("third.txt", "third\n", "Added `third.txt` again.")] });
    const task: Task = agentTask({
      id: `agent-${crypto.randomUUID()}`,
      createdAt: new Date().toISOString(),
      installationId: null,
      target: { number: 3, title: "Add a third file", url: `${sim.htmlUrl("acme", "widgets")}/issues/3` },
      trigger: { subject: { type: "issue_comment", id: 9003 }, body: "@devs-bot please add third.txt", url: `${sim.htmlUrl("acme", "widgets")}/issues/3#issuecomment-9003` },
    });
    task.repo = { ...task.repo, cloneUrl: sim.cloneUrl("acme", "widgets"), htmlUrl: sim.htmlUrl("acme", "widgets") };
    const ingressSink = new SqsTaskSink({ client: sqs.client, queueUrl: queues.queueUrl, secret: SECRET, log: pino({ level: "silent" }) });
    const sentAt = Date.now();
    await ingressSink.submit(task); // the delivery
    await ingressSink.submit(task); // GitHub's redelivery of it, within SQS's five minutes: dropped by deduplication
    // A late redelivery past the window (another deduplication id), in the task's group: its thread.
    await sendRaw(sqs, queues.queueUrl, JSON.stringify({ devs_task: 1, signature: signTaskBody(serializeTask(task), SECRET), task: serializeTask(task) }), "acme/widgets#3", "late-redelivery");
    const depth = await queueDepth(sqs, queues.queueUrl);
    expect(depth.visible + depth.inFlight).toBe(2); // a worker may have taken the first already

    const done = await untilSeen(() => finalComment(3), 180_000, "the final comment");
    expect(done.body).toContain("✅ Done");
    // Every copy deleted, each only after its run ended; nothing dead-lettered.
    await untilSeen(empty, 120_000, "both copies to be deleted");
    expect(await queueDepth(sqs, queues.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });

    const runs = [...runsIn(workerA, task.id), ...runsIn(workerB!, task.id)].sort((x, y) => x.from - y.from);
    expect(runs.length).toBeGreaterThanOrEqual(1);
    expect(runs.length).toBeLessThanOrEqual(2);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.from).toBeGreaterThanOrEqual(runs[i - 1]!.to);
    const skipped = [...workerA.logs, ...workerB!.logs].filter((l) => l.msg === "task already finished on this host; message deleted" && l.task === task.id);
    expect(runs.length + skipped.length).toBe(2);

    // One result: one pull request (updated in place if the late copy ran again elsewhere), one comment.
    const prs = sim.pulls.filter((p) => p.head.startsWith("devs/issue-3-"));
    expect(prs).toHaveLength(1);
    expect(prs[0]!.updates ?? 0).toBe(runs.length - 1);
    expect(sim.comments.filter((c) => c.issue === 3)).toHaveLength(1);
    expect(done.body).toContain(`[#${prs[0]!.number}]`);
    expect(git(repo.path, "show", `${prs[0]!.head}:third.txt`)).toBe("third");
    const firstExec = [...workerA.logs, ...workerB!.logs].filter((l) => l.msg === "starting the agent" && l.task === task.id).map((l) => l.time).sort()[0]!;
    console.log(
      `[sqs e2e] three deliveries → ${runs.length} run(s) one after the other, ${skipped.length} copy deleted unrun by the host that had finished it; ` +
        `enqueue → agent exec on a warm container: ${firstExec - sentAt} ms`,
    );

    // Restarted, worker A did not run the task it was killed in again (B had).
    expect(runsIn(workerA, killedTask)).toEqual([]);
    workerA.child.kill("SIGTERM");
    workerB!.child.kill("SIGTERM");
    expect(await workerA.exited).toBe(0);
    expect(await workerB!.exited).toBe(0);
  }, 400_000);
});
