// Tasks on SQS. The sink signs a Task onto a FIFO queue (an ingress: `serve` with TASK_SINK=sqs,
// or the Lambda); the worker takes messages, checks their signature, hands the task to its local
// pool and deletes the message only once the task reached a final state there. While it runs, the
// message's visibility is extended; a worker that dies leaves it to reappear for another.
//
// One task never runs twice at the same time: the message group is the task id (or the
// repository, for DEVS.yml `single_queue`), and FIFO hands out no second message of a group while
// one is in flight. The README's "Workers and what is guaranteed" says what holds and what not.
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Logger } from "pino";
import type { SubmitResult, TaskSink } from "./sink.js";
import { threadOf, type Task } from "./task.js";
import { openTaskMessage, sqsId, taskMessageBody, type TaskBodyStore } from "./task-message.js";

export interface SqsTaskSinkOptions {
  client: SQSClient;
  /** A FIFO queue (settings check the `.fifo`). */
  queueUrl: string;
  /** The webhook secret: workers verify with the same one. */
  secret: string;
  /** DEVS.yml `single_queue` of the task's repository: its tasks share one message group. */
  singleQueue?: ((task: Task) => Promise<boolean>) | undefined;
  /** Where a task too large for a message goes (S3); without one such a task is refused. */
  bodies?: TaskBodyStore | null | undefined;
  /** Key prefix for those bodies. */
  bodyPrefix?: string | undefined;
  log: Logger;
}

/** TaskSink for an ingress: the task is on the queue when `submit` resolves. */
export class SqsTaskSink implements TaskSink {
  constructor(private readonly options: SqsTaskSinkOptions) {}

  async submit(task: Task): Promise<SubmitResult> {
    const { client, queueUrl, secret, log } = this.options;
    const key = `${this.options.bodyPrefix ?? "devs-tasks"}/${sqsId(task.id)}.json`;
    const body = await taskMessageBody(task, secret, this.options.bodies ?? null, key);
    const group = sqsId(await this.messageGroup(task));
    const sent = await client.send(
      new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: sqsId(task.id) }),
    );
    log.info({ task: task.id, repo: task.repo.fullName, message: sent.MessageId, group }, "task sent to SQS");
    return {};
  }

  /**
   * FIFO hands out a group's next message only once the one before it is done: a single_queue
   * repository is one group; a thread's agent tasks are one group, so two workers never run them
   * side by side; every other task is a group of its own.
   */
  private async messageGroup(task: Task): Promise<string> {
    if (await this.singleQueue(task)) return task.repo.fullName.toLowerCase();
    return task.kind === "agent" ? threadOf(task) : task.id;
  }

  private async singleQueue(task: Task): Promise<boolean> {
    try {
      return (await this.options.singleQueue?.(task)) ?? false;
    } catch (error) {
      // The worker reads the config again and reports a broken file to the user.
      this.options.log.warn({ err: error, task: task.id }, "no routing hints (DEVS.yml unreadable); the task gets its own message group");
      return false;
    }
  }
}

/** What the worker asks of the local pool. */
export interface WorkerPool {
  /** Journals and queues the task (ContainerPool.submit). */
  submit(task: Task): Promise<unknown>;
  /** What this host's journal knows of the task id. */
  known(id: string): "final" | "active" | null;
}

export interface SqsWorkerOptions {
  client: SQSClient;
  queueUrl: string;
  /** Rejected messages are copied here before they are deleted (null: only deleted). */
  dlqUrl: string | null;
  secret: string;
  bodies?: TaskBodyStore | null | undefined;
  pool: WorkerPool;
  /** Messages held at once: no more than the pool can run, so the rest stay for other hosts. */
  capacity: number;
  visibilityTimeoutSeconds: number;
  waitTimeSeconds: number;
  log: Logger;
}

/** A message whose task runs here, until its task reaches a final state (or a shutdown). */
interface Held {
  message: Message;
  heartbeat: NodeJS.Timeout;
}

class SqsError extends Error {
  override name = "SqsError";
}

/** The delay after a failed receive in long-poll mode, before the next. */
const RETRY_AFTER_ERROR_MS = 5_000;

export class SqsWorker {
  private readonly held = new Map<string, Held>();
  /** Resolved whenever a held message is let go (room for another, or the end of a burst). */
  private settled: { promise: Promise<void>; resolve: () => void } = deferred();

  constructor(private readonly options: SqsWorkerOptions) {}

  /** Messages whose tasks run (or wait) here now. */
  get inFlight(): number {
    return this.held.size;
  }

  /** The pool's events, wired by the caller: a final state deletes the message, a shutdown lets it go. */
  async onPoolEvent(event: { type: string; task: Task }): Promise<void> {
    if (event.type === "finished") await this.release(event.task.id, "delete");
    else if (event.type === "suspended") await this.release(event.task.id, "return");
  }

  /** Long polling until `signal` aborts. Errors are logged and retried; they never stop the loop. */
  async run(signal: AbortSignal): Promise<void> {
    const { log } = this.options;
    log.info({ queue: this.options.queueUrl, capacity: this.options.capacity }, "worker taking tasks from SQS");
    const stopped = aborted(signal);
    while (!signal.aborted) {
      if (this.held.size >= this.options.capacity) {
        await Promise.race([this.settled.promise, stopped]);
        continue;
      }
      let messages: Message[];
      try {
        messages = await this.receive(this.options.waitTimeSeconds, signal);
      } catch (error) {
        if (signal.aborted) break;
        log.error({ err: error }, "could not receive from SQS; trying again shortly");
        await Promise.race([sleep(RETRY_AFTER_ERROR_MS), stopped]);
        continue;
      }
      for (const message of messages) await this.handle(message);
    }
  }

  /**
   * Burst mode: everything available, then wait until its tasks ended. Resolves with the number of
   * messages taken (0: the queue was empty); an SQS error rejects with SqsError, never "empty".
   */
  async burst(): Promise<{ processed: number }> {
    let processed = 0;
    for (;;) {
      if (this.held.size >= this.options.capacity) {
        await this.settled.promise;
        continue;
      }
      let messages: Message[];
      try {
        messages = await this.receive(1);
      } catch (error) {
        throw new SqsError(`cannot receive from ${this.options.queueUrl}: ${(error as Error).message}`);
      }
      processed += messages.length;
      for (const message of messages) await this.handle(message);
      if (messages.length > 0) continue;
      // Nothing visible now; held messages may still unlock their group for another.
      if (this.held.size === 0) return { processed };
      await this.settled.promise;
    }
  }

  /** Stops extending; messages still held become visible again at once, for another worker. */
  async close(): Promise<void> {
    await Promise.all([...this.held.keys()].map((id) => this.release(id, "return")));
  }

  private async receive(waitTimeSeconds: number, signal?: AbortSignal): Promise<Message[]> {
    const { client, queueUrl, visibilityTimeoutSeconds } = this.options;
    const room = Math.min(10, this.options.capacity - this.held.size);
    const answer = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: room,
        WaitTimeSeconds: waitTimeSeconds,
        VisibilityTimeout: visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ["ApproximateReceiveCount", "MessageGroupId"],
      }),
      signal ? { abortSignal: signal } : {},
    );
    return answer.Messages ?? [];
  }

  private async handle(message: Message): Promise<void> {
    const { log, pool } = this.options;
    const receives = Number(message.Attributes?.ApproximateReceiveCount ?? 1);
    const opened = await openTaskMessage(message.Body, this.options.secret, this.options.bodies ?? null);
    if (!opened.ok) return this.reject(message, opened.reason);
    const { task } = opened;
    const known = pool.known(task.id);
    if (known === "final") {
      // Finished here before, and the message outlived it (a worker stopped before deleting it, or a late copy).
      log.info({ task: task.id, message: message.MessageId }, "task already finished on this host; message deleted");
      await this.delete(message);
      return;
    }
    if (known === "active") {
      // It runs here under another message; this copy reappears after the visibility timeout.
      log.warn({ task: task.id, message: message.MessageId }, "task already runs on this host; the copy is left on the queue");
      return;
    }
    const every = Math.max(1, Math.floor(this.options.visibilityTimeoutSeconds / 3)) * 1000;
    const heartbeat = setInterval(() => void this.extend(task.id), every);
    heartbeat.unref();
    this.held.set(task.id, { message, heartbeat });
    log.info({ task: task.id, repo: task.repo.fullName, message: message.MessageId, receives }, "task taken from SQS");
    try {
      await pool.submit(task);
    } catch (error) {
      log.error({ err: error, task: task.id }, "the pool did not take the task; it goes back to the queue");
      await this.release(task.id, "return");
    }
  }

  private async extend(id: string): Promise<void> {
    const held = this.held.get(id);
    if (!held) return;
    try {
      await this.options.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.options.queueUrl,
          ReceiptHandle: held.message.ReceiptHandle,
          VisibilityTimeout: this.options.visibilityTimeoutSeconds,
        }),
      );
    } catch (error) {
      this.options.log.warn({ err: error, task: id }, "could not extend the message's visibility; it may reappear while the task runs");
    }
  }

  /** `delete`: the task reached a final state. `return`: a shutdown; visible again for another worker. */
  private async release(id: string, how: "delete" | "return"): Promise<void> {
    const held = this.held.get(id);
    if (!held) return;
    clearInterval(held.heartbeat);
    try {
      if (how === "delete") await this.delete(held.message);
      else {
        await this.options.client
          .send(new ChangeMessageVisibilityCommand({ QueueUrl: this.options.queueUrl, ReceiptHandle: held.message.ReceiptHandle, VisibilityTimeout: 0 }))
          .catch((error: unknown) => this.options.log.warn({ err: error, task: id }, "could not return the message; it reappears after its visibility timeout"));
      }
    } finally {
      this.held.delete(id);
      const { resolve } = this.settled;
      this.settled = deferred();
      resolve();
    }
  }

  private async delete(message: Message): Promise<void> {
    try {
      await this.options.client.send(new DeleteMessageCommand({ QueueUrl: this.options.queueUrl, ReceiptHandle: message.ReceiptHandle }));
    } catch (error) {
      this.options.log.error({ err: error, message: message.MessageId }, "could not delete the message; its task may run again");
    }
  }

  /** Never run: copied to the DLQ when there is one (with why and when), then deleted. */
  private async reject(message: Message, reason: string): Promise<void> {
    const { client, dlqUrl, log } = this.options;
    if (dlqUrl) {
      const body = JSON.stringify({ original_message: message.Body ?? "", error: reason, failed_at: new Date().toISOString(), original_message_id: message.MessageId });
      try {
        await client.send(
          new SendMessageCommand({
            QueueUrl: dlqUrl,
            MessageBody: body,
            // Its own group again: one rejected message does not hold back the others in the DLQ.
            ...(isFifo(dlqUrl) ? { MessageGroupId: message.Attributes?.MessageGroupId ?? "rejected", MessageDeduplicationId: sqsId(message.MessageId ?? reason) } : {}),
          }),
        );
      } catch (error) {
        // Kept on the queue: its redrive policy moves it to the DLQ after maxReceiveCount tries.
        log.error({ err: error, message: message.MessageId }, "could not move a rejected message to the DLQ; it stays on the queue");
        return;
      }
    }
    log.warn({ message: message.MessageId, reason, dlq: Boolean(dlqUrl) }, `message rejected, not run: ${reason}`);
    await this.delete(message);
  }
}

const isFifo = (queueUrl: string) => new URL(queueUrl).pathname.endsWith(".fifo");

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

function aborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}
