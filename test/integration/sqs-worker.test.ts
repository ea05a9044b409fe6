// Tasks through SQS against fauxqs on loopback, with the real AWS SDK, a real pool and journal on
// disk, and executors the test controls: what the ingress puts on the queue (groups, dedup, large
// tasks by reference in S3), when the worker deletes a message (only after the task's final state),
// what a shutdown leaves, what a restart runs, and what a bad signature never runs.
import { DeleteMessageCommand } from "@aws-sdk/client-sqs";
import { pino } from "pino";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerPool } from "../../src/pool/pool.js";
import { openDatabase } from "../../src/tasks/database.js";
import type { RunContext, TaskExecutor } from "../../src/tasks/execution.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import { S3TaskBodies } from "../../src/tasks/s3-task-bodies.js";
import { SqsTaskSink, SqsWorker } from "../../src/tasks/sqs.js";
import { signTaskBody } from "../../src/tasks/task-message.js";
import { serializeTask, type Task } from "../../src/tasks/task.js";
import { createBucket, createTaskQueues, queueDepth, sendRaw, startFakeSqs, takeMessages, type FakeSqs, type TaskQueues } from "../helpers/sqs.js";
import { tempDir } from "../helpers/settings.js";
import { agentTask, ciTask } from "../helpers/tasks.js";
import { until } from "../helpers/until.js";

const SECRET = "sqs-test-webhook-secret";
const silent = pino({ level: "silent" });
let sqs: FakeSqs;
let queueCount = 0;

beforeAll(async () => {
  sqs = await startFakeSqs();
});
afterAll(async () => {
  await sqs?.close();
});

const newQueues = (options: { visibilityTimeoutSeconds?: number } = {}) => createTaskQueues(sqs, `tasks-${process.pid}-${++queueCount}`, options);

function sink(queues: TaskQueues, options: { singleQueue?: (task: Task) => Promise<boolean>; bodies?: S3TaskBodies } = {}) {
  return new SqsTaskSink({ client: sqs.client, queueUrl: queues.queueUrl, secret: SECRET, log: silent, ...options });
}

/** Log lines as objects, for what a worker warns about. */
function capturedLog() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ write: (chunk: Buffer, _e, done) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) });
  return { log: pino({ level: "info" }, stream), lines, text: () => JSON.stringify(lines) };
}

interface WorkerHost {
  pool: ContainerPool;
  journal: TaskJournal;
  worker: SqsWorker;
  close(): Promise<void>;
}

/** One worker host: its journal on disk (`dataDir` again is the same host restarted), its pool, its worker. */
function workerHost(queues: TaskQueues, execute: TaskExecutor, options: { dataDir?: string; visibilityTimeoutSeconds?: number; dlq?: boolean; log?: ReturnType<typeof capturedLog>["log"]; bodies?: S3TaskBodies } = {}): WorkerHost {
  const journal = new TaskJournal(openDatabase(options.dataDir ?? tempDir("devs-sqs-worker-")));
  const holder: { worker?: SqsWorker } = {};
  const pool = new ContainerPool({
    slots: { main: ["a"], ci: ["a"] },
    kinds: { agent: { execute } },
    journal,
    log: silent,
    maxConcurrent: 1,
    timeoutMs: 60_000,
    abortGraceMs: 2_000,
    recovery: "queue",
    onEvent: (event) => holder.worker?.onPoolEvent(event),
  });
  pool.start();
  const worker = new SqsWorker({
    client: sqs.client,
    queueUrl: queues.queueUrl,
    dlqUrl: options.dlq === false ? null : queues.dlqUrl,
    secret: SECRET,
    bodies: options.bodies ?? null,
    pool: { submit: (task) => pool.submit(task), known: (id) => journal.known(id) },
    capacity: 1,
    visibilityTimeoutSeconds: options.visibilityTimeoutSeconds ?? 30,
    waitTimeSeconds: 1,
    log: options.log ?? silent,
  });
  holder.worker = worker;
  return {
    pool,
    journal,
    worker,
    close: async () => {
      await pool.close();
      await worker.close();
    },
  };
}

/** An executor that records its runs and holds each until released. */
function heldExecutor() {
  const runs: Array<{ task: string; startedAt: number; endedAt?: number; signal: AbortSignal }> = [];
  let release: (() => void) | null = null;
  const execute: TaskExecutor = async (task: Task, ctx: RunContext) => {
    const run: (typeof runs)[number] = { task: task.id, startedAt: Date.now(), signal: ctx.signal };
    runs.push(run);
    await new Promise<void>((resolve, reject) => {
      release = resolve;
      ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error), { once: true });
    }).finally(() => (run.endedAt = Date.now()));
    return { state: "done" };
  };
  return { execute, runs, finish: () => release?.() };
}

describe("the ingress's messages", () => {
  it("one group per thread for agent tasks, per task for CI, per repository with single_queue; the task id deduplicates within SQS's window", async () => {
    const queues = await newQueues();
    const singleQueue = async (task: Task) => task.repo.fullName === "acme/serial";
    const ingress = sink(queues, { singleQueue });
    const a = agentTask({ id: "agent-a", repo: "acme/widgets", target: { number: 7 } });
    await ingress.submit(a);
    await ingress.submit(a); // GitHub redelivered it: same delivery, same task id
    // A second request on the same issue waits behind the first, whichever worker polls.
    await ingress.submit(agentTask({ id: "agent-b", repo: "acme/widgets", target: { number: 7 } }));
    await ingress.submit(agentTask({ id: "agent-c", repo: "acme/widgets", target: { number: 8 } }));
    await ingress.submit(ciTask({ id: "ci-x", repo: "acme/widgets" }));
    await ingress.submit(agentTask({ id: "agent-s", repo: "acme/serial" }));
    const messages = await takeMessages(sqs, queues.queueUrl);
    const seen = messages.map((m) => [m.Attributes?.MessageGroupId, m.Attributes?.MessageDeduplicationId]);
    // agent-b is held back while agent-a is in flight.
    expect(seen.sort()).toEqual([
      ["acme/serial", "agent-s"],
      ["acme/widgets#7", "agent-a"],
      ["acme/widgets#8", "agent-c"],
      ["ci-x", "ci-x"],
    ]);
    const first = messages.find((m) => m.Attributes?.MessageDeduplicationId === "agent-a")!;
    expect(JSON.parse(first.Body!)).toEqual({ devs_task: 1, signature: signTaskBody(serializeTask(a), SECRET), task: serializeTask(a) });
    await sqs.client.send(new DeleteMessageCommand({ QueueUrl: queues.queueUrl, ReceiptHandle: first.ReceiptHandle! }));
    const next = await takeMessages(sqs, queues.queueUrl);
    expect(next.map((m) => m.Attributes?.MessageDeduplicationId)).toEqual(["agent-b"]);
  });

  it("a task too large for a message goes by reference in S3, and a worker runs it from there", async () => {
    const queues = await newQueues();
    await createBucket(sqs, "devs-artifacts-test");
    const bodies = new S3TaskBodies(sqs.s3, "devs-artifacts-test");
    const big = agentTask({ id: "agent-big", target: { body: "\u0001".repeat(65_536) }, trigger: { body: "é".repeat(65_536) } });
    await sink(queues, { bodies }).submit(big);
    const seen: Task[] = [];
    const host = workerHost(queues, async (task) => (seen.push(task), { state: "done" }), { bodies });
    expect(await host.worker.burst()).toEqual({ processed: 1 });
    expect(seen).toEqual([big]);
    expect(await queueDepth(sqs, queues.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    await host.close();
  });
});

describe("a worker", () => {
  it("deletes the message only once the task reached a final state, and keeps it hidden past its visibility timeout while it runs", async () => {
    const queues = await newQueues({ visibilityTimeoutSeconds: 3 });
    const exec = heldExecutor();
    const host = workerHost(queues, exec.execute, { visibilityTimeoutSeconds: 3 });
    const stop = new AbortController();
    const polling = host.worker.run(stop.signal);
    await sink(queues).submit(agentTask({ id: "agent-long" }));
    await until(() => exec.runs.length === 1, { timeoutMs: 10_000, what: "the task to start" });
    // Twice the visibility timeout: the heartbeat keeps it hidden, so no one else can take it.
    await new Promise((r) => setTimeout(r, 6_500));
    expect(await queueDepth(sqs, queues.queueUrl)).toEqual({ visible: 0, inFlight: 1 });
    expect(await takeMessages(sqs, queues.queueUrl)).toEqual([]);
    exec.finish();
    await until(async () => (await queueDepth(sqs, queues.queueUrl)).inFlight === 0, { timeoutMs: 10_000, what: "the message to be deleted" });
    expect(await queueDepth(sqs, queues.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(host.journal.get("agent-long")?.state).toBe("done");
    expect(exec.runs).toHaveLength(1);
    stop.abort();
    await polling;
    await host.close();
  }, 30_000);

  it("a failed task is a final state too: its message is deleted, it is not retried by the queue", async () => {
    const queues = await newQueues();
    const host = workerHost(queues, async () => ({ state: "failed", detail: "the agent gave up" }));
    await sink(queues).submit(agentTask({ id: "agent-fails" }));
    expect(await host.worker.burst()).toEqual({ processed: 1 });
    expect(host.journal.get("agent-fails")).toMatchObject({ state: "failed", detail: "the agent gave up" });
    expect(await queueDepth(sqs, queues.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    await host.close();
  });

  it("a shutdown leaves the message on the queue; the restarted worker runs the task from SQS, not also from its journal", async () => {
    const queues = await newQueues();
    const dataDir = tempDir("devs-sqs-restart-");
    const first = heldExecutor();
    const before = workerHost(queues, first.execute, { dataDir });
    const stop = new AbortController();
    const polling = before.worker.run(stop.signal);
    await sink(queues).submit(agentTask({ id: "agent-restart" }));
    await until(() => first.runs.length === 1, { timeoutMs: 10_000, what: "the task to start" });
    stop.abort();
    await polling;
    await before.close(); // SIGTERM: the pool stops the task, the worker gives the message back
    expect(first.runs[0]!.signal.aborted).toBe(true);
    expect(await queueDepth(sqs, queues.queueUrl)).toEqual({ visible: 1, inFlight: 0 });
    // The old journal still says queued (the pool's shutdown requeues it) — the next start must not run that too.
    expect(before.journal.get("agent-restart")?.state).toBe("queued");

    const runs: string[] = [];
    const after = workerHost(queues, async (task) => (runs.push(task.id), { state: "done" }), { dataDir });
    expect(after.journal.get("agent-restart")).toBeNull();
    expect(await after.worker.burst()).toEqual({ processed: 1 });
    expect(runs).toEqual(["agent-restart"]);
    expect(after.journal.get("agent-restart")?.state).toBe("done");
    expect(await queueDepth(sqs, queues.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    await after.close();
  }, 30_000);

  it("a late copy of a task this host already finished is deleted without running it again", async () => {
    const queues = await newQueues();
    const runs: string[] = [];
    const host = workerHost(queues, async (task) => (runs.push(task.id), { state: "done" }));
    const task = agentTask({ id: "agent-once" });
    await sink(queues).submit(task);
    expect(await host.worker.burst()).toEqual({ processed: 1 });
    // Past SQS's deduplication (another deduplication id), the way a redelivery after five minutes arrives.
    const text = JSON.stringify({ devs_task: 1, signature: signTaskBody(serializeTask(task), SECRET), task: serializeTask(task) });
    await sendRaw(sqs, queues.queueUrl, text, task.id, "late-copy");
    expect(await host.worker.burst()).toEqual({ processed: 1 });
    expect(runs).toEqual(["agent-once"]);
    expect(await queueDepth(sqs, queues.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    await host.close();
  });

  it("never runs a message whose signature is wrong or missing: it goes to the DLQ with why and when, and leaves the queue", async () => {
    const queues = await newQueues();
    const calls: string[] = [];
    const captured = capturedLog();
    const host = workerHost(queues, async (task) => (calls.push(task.id), { state: "done" }), { log: captured.log });
    const task = serializeTask(agentTask({ id: "agent-forged" }));
    await sendRaw(sqs, queues.queueUrl, JSON.stringify({ devs_task: 1, signature: signTaskBody(task, "not-the-secret"), task }), "g1");
    await sendRaw(sqs, queues.queueUrl, JSON.stringify({ devs_task: 1, task }), "g2");
    await sendRaw(sqs, queues.queueUrl, JSON.stringify({ headers: { "x-github-event": "issues" }, payload: "{}" }), "g3");
    const startedAt = Date.now();
    expect(await host.worker.burst()).toEqual({ processed: 3 });
    expect(calls).toEqual([]);
    expect(host.journal.recent()).toEqual([]);
    expect(await queueDepth(sqs, queues.queueUrl)).toEqual({ visible: 0, inFlight: 0 });

    const dead = (await takeMessages(sqs, queues.dlqUrl)).map((m) => JSON.parse(m.Body!) as { original_message: string; error: string; failed_at: string; original_message_id: string });
    expect(dead.map((d) => d.error).sort()).toEqual(["no signature", "not a task message", "the signature does not match"]);
    for (const d of dead) {
      expect(d.failed_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Date.parse(d.failed_at)).toBeGreaterThanOrEqual(startedAt - 1000);
      expect(d.original_message_id).toMatch(/[0-9a-f-]{36}/);
    }
    expect(dead.find((d) => d.error === "no signature")!.original_message).toContain("agent-forged");
    const warnings = captured.lines.filter((l) => l.level === 40);
    expect(warnings).toHaveLength(3);
    expect(captured.text()).not.toContain(SECRET);
    await host.close();
  });

  it("without a DLQ a rejected message is only deleted", async () => {
    const queues = await newQueues();
    const calls: string[] = [];
    const host = workerHost(queues, async (task) => (calls.push(task.id), { state: "done" }), { dlq: false });
    await sendRaw(sqs, queues.queueUrl, JSON.stringify({ devs_task: 1, signature: "00", task: "{}" }));
    expect(await host.worker.burst()).toEqual({ processed: 1 });
    expect(calls).toEqual([]);
    expect(await queueDepth(sqs, queues.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(await queueDepth(sqs, queues.dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
    await host.close();
  });

  it("burst: 0 messages on an empty queue; an SQS error is an error, never 'empty'", async () => {
    const queues = await newQueues();
    const host = workerHost(queues, async () => ({ state: "done" }));
    expect(await host.worker.burst()).toEqual({ processed: 0 });
    await host.close();
    const missing = workerHost({ ...queues, queueUrl: `${queues.queueUrl}-gone.fifo` }, async () => ({ state: "done" }));
    await expect(missing.worker.burst()).rejects.toThrow(/cannot receive from .*-gone\.fifo/);
    await missing.close();
  });
});
