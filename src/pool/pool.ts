// The container pool: one p-queue (concurrency 1) per container name, a global cap on running
// tasks, per-task timeouts that abort the work itself, cancel by id, and the journal
// underneath so that nothing queued is lost to a crash.
import PQueue from "p-queue";
import type { Logger } from "pino";
import { trustOf, type Trust } from "../containers/naming.js";
import type { TaskJournal } from "../tasks/journal.js";
import type { SubmitResult, TaskSink } from "../tasks/sink.js";
import type { Task } from "../tasks/task.js";
import { chooseContainer, namesFor, type PoolNames } from "./routing.js";
import { Semaphore } from "./semaphore.js";

export type AbortReason = "timeout" | "cancelled" | "shutdown";

export class TaskAbort extends Error {
  constructor(
    readonly reason: AbortReason,
    /** Who cancelled, when someone did (a login, or "the admin API"). */
    readonly by?: string,
  ) {
    super(`task ${reason === "timeout" ? "timed out" : reason}`);
    this.name = "TaskAbort";
  }
}

export interface RunContext {
  container: string;
  /** Aborted on timeout, cancel or shutdown; the executor must stop what it started. */
  signal: AbortSignal;
  /** The previous attempt was cut short by a restart. */
  interrupted: boolean;
}

export type RunResult = { state: "done"; detail?: string } | { state: "failed"; detail: string };
export type TaskExecutor = (task: Task, ctx: RunContext) => Promise<RunResult>;

export type FinalState = "done" | "failed" | "timed_out" | "cancelled";
export type PoolEvent =
  /** `interrupted`: queued again after a restart cut its previous attempt short. */
  | { type: "queued"; task: Task; container: string; position: number; interrupted: boolean }
  | { type: "started"; task: Task; container: string; interrupted: boolean }
  | { type: "finished"; task: Task; container: string; state: FinalState; detail: string | null; durationMs: number; cancelledBy?: string | undefined };

/** One long-lived container of a pool name: a repository (owner/repo, lower-case) and a trust. */
export interface ContainerSlot {
  repo: string;
  trust: Trust;
}

export interface ContainerLifecycle {
  /** The running containers of this pool name, whichever repository and trust. */
  running(container: string): Promise<ContainerSlot[]>;
  /** Stops one of them (not removed). */
  stop(container: string, slot: ContainerSlot): Promise<void>;
  /** After every task, whatever its end: nothing it started keeps running until the next one. */
  afterTask?(container: string, task: Task): Promise<void>;
}

export function slotOf(task: Task): ContainerSlot {
  return { repo: task.repo.fullName.toLowerCase(), trust: trustOf(task) };
}

const slotKey = (container: string, slot: ContainerSlot) => `${container}\u0000${slot.repo}\u0000${slot.trust}`;

export interface PoolOptions {
  names: PoolNames;
  journal: TaskJournal;
  executor: TaskExecutor;
  log: Logger;
  maxConcurrent: number;
  timeoutMs: number;
  /** Reads DEVS.yml's single_queue for the task's repository. */
  routeHints?: (task: Task) => Promise<{ singleQueue: boolean }>;
  onEvent?: (event: PoolEvent) => void | Promise<void>;
  lifecycle?: ContainerLifecycle;
  /** Stop the container after each task, or after this many idle ms (measured from the end of its last task). */
  cleanup?: { mode: "after-task" } | { mode: "idle"; idleMs: number; checkEveryMs?: number };
  /**
   * Tasks this process can run. Others are journaled and stay queued (for a worker or a later
   * build that can run them) instead of failing.
   */
  runnable?: (task: Task) => boolean;
  /** How long an aborted executor gets to settle before the pool moves on. */
  abortGraceMs?: number;
  now?: () => number;
}

interface Entry {
  task: Task;
  container: string;
  interrupted: boolean;
  controller: AbortController | null;
  cancelled: boolean;
  cancelledBy?: string | undefined;
}

export class ContainerPool implements TaskSink {
  private readonly queues = new Map<string, PQueue>();
  private readonly entries = new Map<string, Entry>();
  private readonly routing = new Map<string, Promise<void>>();
  /** slotKey → when its last task ended, or when an idle check first saw it running. */
  private readonly lastUsed = new Map<string, number>();
  private readonly slots: Semaphore;
  private readonly now: () => number;
  private idleTimer: NodeJS.Timeout | null = null;
  private closing = false;

  constructor(private readonly options: PoolOptions) {
    this.slots = new Semaphore(options.maxConcurrent);
    this.now = options.now ?? Date.now;
    for (const name of new Set([...options.names.main, ...options.names.ci])) {
      this.queues.set(name, new PQueue({ concurrency: 1 }));
    }
  }

  /** Queues what the journal holds from before a restart; call once before accepting new work. */
  start(): { requeued: number; abandoned: number } {
    this.options.journal.prune();
    const recovery = this.options.journal.recover();
    for (const task of recovery.abandoned) {
      this.options.log.error({ task: task.id }, "task interrupted by restarts twice; marked failed");
      void this.emit({ type: "finished", task, container: "", state: "failed", detail: "interrupted by a restart twice", durationMs: 0 });
    }
    for (const { task, interrupted } of recovery.requeue) if (this.canRun(task)) this.route(task, interrupted);
    if (this.options.cleanup?.mode === "idle") {
      const every = this.options.cleanup.checkEveryMs ?? 60_000;
      this.idleTimer = setInterval(() => void this.stopIdle(), every);
      this.idleTimer.unref();
    }
    return { requeued: recovery.requeue.length, abandoned: recovery.abandoned.length };
  }

  /** TaskSink: durable before it returns; the work runs later. */
  async submit(task: Task): Promise<SubmitResult> {
    if (this.closing) throw new Error("the pool is shutting down");
    if (!this.options.journal.add(task)) return {};
    if (this.canRun(task)) this.route(task, false);
    else this.options.log.warn({ task: task.id, kind: task.kind }, "no runner for this kind of task here; it stays queued in the journal");
    return {};
  }

  private canRun(task: Task): boolean {
    return this.options.runnable?.(task) ?? true;
  }

  /** Cancels a queued or running task. False when the pool does not hold it. */
  cancel(id: string, by?: string): boolean {
    const entry = this.entries.get(id);
    if (!entry || entry.cancelled) return false;
    entry.cancelled = true;
    entry.cancelledBy = by;
    if (entry.controller) entry.controller.abort(new TaskAbort("cancelled", by));
    else {
      // Still waiting: it is skipped when its turn comes; the journal knows now.
      const detail = `cancelled while queued${by ? ` by ${by}` : ""}`;
      this.options.journal.finish(id, "cancelled", detail);
      void this.emit({ type: "finished", task: entry.task, container: entry.container, state: "cancelled", detail, durationMs: 0, cancelledBy: by });
    }
    return true;
  }

  /** Queued or running tasks of one kind on one issue or pull request (for `@bot stop`). */
  activeOn(repo: string, kind: Task["kind"], targetNumber: number): string[] {
    const ids: string[] = [];
    for (const [id, e] of this.entries) {
      if (!e.cancelled && e.task.kind === kind && e.task.target.number === targetNumber && e.task.repo.fullName.toLowerCase() === repo.toLowerCase()) ids.push(id);
    }
    return ids;
  }

  /** Stops every container of one pool name unless a task runs in it; its queue keeps its tasks. */
  async stopContainer(name: string): Promise<"stopped" | "busy" | "unknown"> {
    if (!this.queues.has(name)) return "unknown";
    if (this.runningIn(name)) return "busy";
    await this.stopSlots(name, (slot) => !this.runningIn(name, slot));
    return "stopped";
  }

  /** Stops the running containers of a pool name that `stoppable` allows, checked just before each stop. */
  private async stopSlots(name: string, stoppable: (slot: ContainerSlot) => boolean): Promise<void> {
    const lifecycle = this.options.lifecycle;
    if (!lifecycle) return;
    for (const slot of await lifecycle.running(name)) {
      if (!stoppable(slot)) continue;
      await lifecycle.stop(name, slot);
      this.lastUsed.delete(slotKey(name, slot));
    }
  }

  status() {
    const containers: Record<string, { queued: number; running: string | null }> = {};
    for (const name of this.queues.keys()) {
      const mine = [...this.entries.values()].filter((e) => e.container === name);
      containers[name] = {
        queued: mine.filter((e) => !e.controller && !e.cancelled).length,
        running: mine.find((e) => e.controller)?.task.id ?? null,
      };
    }
    return {
      containers,
      running: this.slots.inUse,
      max_concurrent_tasks: this.options.maxConcurrent,
      single_queue_pins: this.options.journal.pins(),
      tasks: this.options.journal.counts(),
    };
  }

  /** Stops accepting work; running tasks are aborted and left queued in the journal for the next start. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const queue of this.queues.values()) queue.pause();
    for (const entry of this.entries.values()) entry.controller?.abort(new TaskAbort("shutdown"));
    await Promise.all([...this.queues.values()].map((q) => (q.pending > 0 ? q.onPendingZero() : undefined)));
  }

  /** Resolves when every queue is empty and nothing runs (tests, burst mode). */
  async idle(): Promise<void> {
    await Promise.all([...this.routing.values()]);
    await Promise.all([...this.queues.values()].map((q) => q.onIdle()));
  }

  private load(name: string): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.container === name && !e.cancelled) n++;
    return n;
  }

  /** A task runs in the pool name (in that slot's container, when one is given). */
  private runningIn(name: string, slot?: ContainerSlot): boolean {
    for (const e of this.entries.values()) if (e.container === name && e.controller && (!slot || sameSlot(slotOf(e.task), slot))) return true;
    return false;
  }

  /** A task runs or waits for the slot's container. */
  private wanted(name: string, slot: ContainerSlot): boolean {
    for (const e of this.entries.values()) if (e.container === name && !e.cancelled && sameSlot(slotOf(e.task), slot)) return true;
    return false;
  }

  /** Routing waits for DEVS.yml hints; chaining per repository keeps its tasks in order. */
  private route(task: Task, interrupted: boolean): void {
    const repo = task.repo.fullName.toLowerCase();
    const previous = this.routing.get(repo) ?? Promise.resolve();
    const next = previous.then(() => this.place(task, interrupted)).catch((error: unknown) => {
      this.options.log.error({ err: error, task: task.id }, "could not queue task");
      this.options.journal.finish(task.id, "failed", "could not be queued");
    });
    this.routing.set(repo, next);
    void next.finally(() => {
      if (this.routing.get(repo) === next) this.routing.delete(repo);
    });
  }

  private async place(task: Task, interrupted: boolean): Promise<void> {
    const { journal, log } = this.options;
    let singleQueue = false;
    try {
      singleQueue = (await this.options.routeHints?.(task))?.singleQueue ?? false;
    } catch (error) {
      // The executor reads the config again and reports a broken file to the user.
      log.warn({ err: error, task: task.id }, "no routing hints (DEVS.yml unreadable); routing as usual");
    }
    const candidates = namesFor(task.kind, this.options.names, singleQueue);
    const pinned = singleQueue ? journal.pinOf(task.repo.fullName) : null;
    const container = chooseContainer(candidates, (n) => this.load(n), pinned);
    if (singleQueue && pinned !== container) journal.pin(task.repo.fullName, container);
    if (!singleQueue && journal.pinOf(task.repo.fullName)) journal.unpin(task.repo.fullName);

    const entry: Entry = { task, container, interrupted, controller: null, cancelled: false };
    this.entries.set(task.id, entry);
    journal.assign(task.id, container);
    const queue = this.queues.get(container)!;
    const position = queue.size + queue.pending;
    void queue.add(() => this.run(entry)).catch((error: unknown) => log.error({ err: error, task: task.id }, "task runner failed"));
    await this.emit({ type: "queued", task, container, position, interrupted });
  }

  private async run(entry: Entry): Promise<void> {
    if (entry.cancelled) {
      this.entries.delete(entry.task.id);
      return;
    }
    const release = await this.slots.acquire();
    if (entry.cancelled) {
      // Cancelled while it waited for a slot (MAX_CONCURRENT_TASKS): the journal already knows.
      release();
      this.entries.delete(entry.task.id);
      return;
    }
    const { task, container } = entry;
    const { journal, log } = this.options;
    const controller = new AbortController();
    entry.controller = controller;
    // The limit runs from this task's own start, not from when it was queued.
    const timer = setTimeout(() => controller.abort(new TaskAbort("timeout")), this.options.timeoutMs);
    const started = this.now();
    journal.markRunning(task.id, container);
    await this.emit({ type: "started", task, container, interrupted: entry.interrupted });

    let state: FinalState;
    let detail: string | null = null;
    try {
      const result = await this.settleWithin(this.options.executor(task, { container, signal: controller.signal, interrupted: entry.interrupted }), controller.signal);
      state = result.state;
      detail = result.detail ?? null;
    } catch (error) {
      state = "failed";
      detail = error instanceof Error ? error.message : String(error);
    } finally {
      clearTimeout(timer);
    }
    const reason = controller.signal.aborted ? (controller.signal.reason as TaskAbort).reason : null;
    if (reason === "timeout") {
      state = "timed_out";
      detail = `stopped after ${Math.round(this.options.timeoutMs / 60_000)} minute(s) (CONTAINER_TIMEOUT_MINUTES)`;
    } else if (reason === "cancelled") {
      state = "cancelled";
      detail = `cancelled while running${entry.cancelledBy ? ` by ${entry.cancelledBy}` : ""}`;
    }
    // Still counted as running here, so no stop of this container races the clean-up.
    await this.options.lifecycle
      ?.afterTask?.(container, task)
      .catch((error: unknown) => log.warn({ err: error, task: task.id, container }, "could not clear the container after the task"));
    this.entries.delete(task.id);
    this.lastUsed.set(slotKey(container, slotOf(task)), this.now());
    release();

    if (reason === "shutdown") {
      // Not a failure of the task: the next start runs it again.
      journal.requeue(task.id);
      log.info({ task: task.id, container }, "task interrupted by shutdown; it will run again after restart");
      return;
    }
    journal.finish(task.id, state, detail);
    log.info({ task: task.id, container, state, ms: this.now() - started }, "task finished");
    await this.emit({ type: "finished", task, container, state, detail, durationMs: this.now() - started, cancelledBy: entry.cancelledBy });
    if (this.options.cleanup?.mode === "after-task" && !this.load(container)) {
      // Every idle container of the name, not only this task's: other repositories' (and the other
      // trust's) containers of this name would otherwise run on forever.
      await this.stopSlots(container, (slot) => !this.wanted(container, slot)).catch((error: unknown) => log.warn({ err: error, container }, "could not stop containers"));
    }
  }

  /** Once aborted, the executor gets a grace period; a hung one must not block its queue forever. */
  private settleWithin<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
    const grace = this.options.abortGraceMs ?? 30_000;
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        timer = setTimeout(() => reject(new Error("the task did not stop after it was aborted")), grace);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
      work.then(resolve, reject).finally(() => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      });
    });
  }

  private async stopIdle(): Promise<void> {
    if (this.options.cleanup?.mode !== "idle") return;
    const cutoff = this.now() - this.options.cleanup.idleMs;
    for (const name of this.queues.keys()) {
      // Containers from before a restart have no last task here: their idle time counts from now.
      const idle = (slot: ContainerSlot) => {
        const key = slotKey(name, slot);
        if (!this.lastUsed.has(key)) this.lastUsed.set(key, this.now());
        return this.lastUsed.get(key)! <= cutoff;
      };
      // A busy or about-to-run container is never stopped.
      await this.stopSlots(name, (slot) => !this.wanted(name, slot) && idle(slot)).catch((error: unknown) =>
        this.options.log.warn({ err: error, container: name }, "idle stop failed"),
      );
    }
  }

  private async emit(event: PoolEvent): Promise<void> {
    try {
      await this.options.onEvent?.(event);
    } catch (error) {
      this.options.log.warn({ err: error, event: event.type, task: event.task.id }, "pool event listener failed");
    }
  }
}

const sameSlot = (a: ContainerSlot, b: ContainerSlot) => a.repo === b.repo && a.trust === b.trust;
