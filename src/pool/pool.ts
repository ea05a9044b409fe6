// The pool: one p-queue (concurrency 1) per slot (a name of CONTAINER_POOL or CI_CONTAINER_POOL),
// a global cap on running tasks, per-task timeouts that abort the work itself, cancel by id, and
// the journal underneath so that nothing queued is lost to a crash. It runs each kind's executor
// and tells that kind's reporter what became of the task, with the state the journal records.
import PQueue from "p-queue";
import type { Logger } from "pino";
import { trustOf, type Trust } from "../containers/naming.js";
import type { Recovery, TaskJournal } from "../tasks/journal.js";
import type { SubmitResult, TaskSink } from "../tasks/sink.js";
import { TaskAbort, type Cancellation, type FinalState, type RunResult, type TaskEnd, type TaskKinds, type TaskReporter } from "../tasks/execution.js";
import type { PhaseTimings } from "../tasks/phases.js";
import { threadOf, type Task } from "../tasks/task.js";
import { chooseSlot, slotsFor, type SlotNames } from "./routing.js";
import { Semaphore } from "./semaphore.js";

export type PoolEvent =
  /** `interrupted`: queued again after a restart cut its previous attempt short. */
  | { type: "queued"; task: Task; slot: string; position: number; interrupted: boolean; recovered: boolean }
  | { type: "started"; task: Task; slot: string; interrupted: boolean }
  | { type: "suspended"; task: Task; slot: string }
  | ({ type: "finished"; task: Task } & TaskEnd);

/**
 * Within a slot, one long-lived container per repository (owner/repo, lower-case) and trust: a
 * place of the slot (containers/naming.ts names it).
 */
export interface SlotPlace {
  repo: string;
  trust: Trust;
}

export interface ContainerLifecycle {
  /** The places of the slot whose containers run, whichever repository and trust. */
  running(slot: string): Promise<SlotPlace[]>;
  /** Stops one place's container (not removed). */
  stop(slot: string, place: SlotPlace): Promise<void>;
  /** After every task, whatever its end: nothing it started keeps running until the next one. */
  afterTask?(slot: string, task: Task): Promise<void>;
}

export function placeInSlot(task: Task): SlotPlace {
  return { repo: task.repo.fullName.toLowerCase(), trust: trustOf(task) };
}

const placeKey = (slot: string, place: SlotPlace) => `${slot}\u0000${place.repo}\u0000${place.trust}`;

export interface PoolOptions {
  /** The slots: CONTAINER_POOL and CI_CONTAINER_POOL. */
  slots: SlotNames;
  journal: TaskJournal;
  /**
   * The kinds this process runs, each with its reporter. Tasks of other kinds are journaled and
   * stay queued (for a worker or a later build that can run them) instead of failing.
   */
  kinds: TaskKinds;
  log: Logger;
  maxConcurrent: number;
  timeoutMs: number;
  /** Reads DEVS.yml's single_queue for the task's repository. */
  routeHints?: (task: Task) => Promise<RouteHints>;
  /** Observers (logs, metrics, tests). GitHub hears of a task through its kind's reporter only. */
  onEvent?: (event: PoolEvent) => void | Promise<void>;
  lifecycle?: ContainerLifecycle;
  /** Stop the container after each task, or after this many idle ms (measured from the end of its last task). */
  cleanup?: { mode: "after-task" } | { mode: "idle"; idleMs: number; checkEveryMs?: number };
  /**
   * Where unfinished tasks come back from after a restart: the journal (default), or the queue the
   * tasks came from (a worker: SQS hands them out again, so the journal must not run them too).
   */
  recovery?: "journal" | "queue";
  /** How long an aborted executor gets to settle before the pool moves on. */
  abortGraceMs?: number;
  now?: () => number;
}

/** Where a queued task came from: a handler now, or the journal at a start (and whether it had run). */
interface TaskOrigin {
  interrupted: boolean;
  recovered: boolean;
  /** The routing hints already read for its repository (a start reads them once per repository). */
  hints?: Promise<RouteHints | undefined>;
}

type RouteHints = { singleQueue: boolean };

interface Entry {
  task: Task;
  slot: string;
  interrupted: boolean;
  controller: AbortController | null;
  cancellation: Cancellation | null;
  /** When it started running (the pool's clock); null while it waits. */
  startedAt: number | null;
}

/** One slot's work right now, in queue order (the dashboard). */
export interface SlotTasks {
  queued: Task[];
  running: { task: Task; startedAt: number } | null;
}

export class ContainerPool implements TaskSink {
  private readonly queues = new Map<string, PQueue>();
  private readonly entries = new Map<string, Entry>();
  private readonly routing = new Map<string, Promise<void>>();
  /** Tasks journaled and waiting for their routing hints: not in a slot's queue yet, but cancellable. */
  private readonly placing = new Map<string, { task: Task; cancellation: Cancellation | null }>();
  /** placeKey → when its last task ended, or when an idle check first saw it running. */
  private readonly lastUsed = new Map<string, number>();
  private readonly running: Semaphore;
  private readonly now: () => number;
  private idleTimer: NodeJS.Timeout | null = null;
  private closing = false;
  /** Observers that come and go (the dashboard's event streams), besides `onEvent`. */
  private readonly observers = new Set<(event: PoolEvent) => void>();
  /**
   * Kept with `entries` (live: placed and not cancelled), so placing a task never walks the whole
   * backlog: per slot, how many; per thread, the slot of its agent tasks and how many.
   */
  private readonly liveInSlot = new Map<string, number>();
  private readonly liveThreads = new Map<string, { slot: string; count: number }>();

  constructor(private readonly options: PoolOptions) {
    this.running = new Semaphore(options.maxConcurrent);
    this.now = options.now ?? Date.now;
    for (const slot of new Set([...options.slots.main, ...options.slots.ci])) {
      this.queues.set(slot, new PQueue({ concurrency: 1 }));
    }
  }

  /** Queues what the journal holds from before a restart; call once before accepting new work. */
  start(): { requeued: number; abandoned: number } {
    this.options.journal.prune();
    let recovery: Recovery = { requeue: [], abandoned: [] };
    if (this.options.recovery === "queue") {
      const forgotten = this.options.journal.forgetUnfinished();
      if (forgotten) this.options.log.info({ tasks: forgotten }, "unfinished tasks left to the queue they came from");
    } else recovery = this.options.journal.recover();
    for (const task of recovery.abandoned) {
      this.options.log.error({ task: task.id }, "task interrupted by restarts twice; marked failed");
      void this.finished(task, { slot: "", state: "failed", detail: "interrupted by a restart twice", ran: null });
    }
    // With a backlog, reading DEVS.yml for every task was most of a restart; a repository's
    // hints are the same for all its tasks at one moment.
    const hintsByRepo = new Map<string, Promise<RouteHints | undefined>>();
    for (const { task, interrupted } of recovery.requeue) {
      if (!this.canRun(task)) continue;
      const repo = task.repo.fullName.toLowerCase();
      let hints = hintsByRepo.get(repo);
      if (!hints) {
        hints = Promise.resolve().then(() => this.options.routeHints?.(task));
        // Each task's placing reports a failure; this copy only must not be unhandled.
        hints.catch(() => {});
        hintsByRepo.set(repo, hints);
      }
      this.route(task, { interrupted, recovered: true, hints });
    }
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
    if (!(await this.options.journal.addGrouped(task))) return {};
    // A shutdown began while the commit was on its way: the journal holds it for the next start.
    if (this.closing) return {};
    if (this.canRun(task)) this.route(task, { interrupted: false, recovered: false });
    else this.options.log.warn({ task: task.id, kind: task.kind }, "no runner for this kind of task here; it stays queued in the journal");
    return {};
  }

  private canRun(task: Task): boolean {
    return this.options.kinds[task.kind] !== undefined;
  }

  private reporter(task: Task): TaskReporter | undefined {
    return this.options.kinds[task.kind]?.reporter;
  }

  /** Cancels a queued or running task. False when the pool does not hold it. */
  cancel(id: string, cancellation: Cancellation = {}): boolean {
    const routing = this.placing.get(id);
    if (routing) {
      // Still reading its routing hints: it never reaches a queue.
      if (routing.cancellation) return false;
      routing.cancellation = cancellation;
      const detail = `cancelled while queued${cancellation.by ? ` by ${cancellation.by}` : ""}`;
      this.options.journal.finish(id, "cancelled", detail);
      void this.finished(routing.task, { slot: "", state: "cancelled", detail, ran: null, cancellation });
      return true;
    }
    const entry = this.entries.get(id);
    if (!entry || entry.cancellation) return false;
    entry.cancellation = cancellation;
    this.countLive(entry, -1);
    const { by } = cancellation;
    if (entry.controller) entry.controller.abort(new TaskAbort("cancelled", by));
    else {
      // Still waiting: it is skipped when its turn comes; the journal knows now.
      const detail = `cancelled while queued${by ? ` by ${by}` : ""}`;
      this.options.journal.finish(id, "cancelled", detail);
      void this.finished(entry.task, { slot: entry.slot, state: "cancelled", detail, ran: null, cancellation });
    }
    return true;
  }

  /** Queued or running tasks of one kind on one issue or pull request (for `@bot stop`). */
  activeOn(repo: string, kind: Task["kind"], targetNumber: number): string[] {
    return this.activeWhere((t) => t.kind === kind && t.target.number === targetNumber && t.repo.fullName.toLowerCase() === repo.toLowerCase());
  }

  /** Queued or running tasks, not being cancelled, that `match` picks. */
  activeWhere(match: (task: Task) => boolean): string[] {
    const ids: string[] = [];
    for (const [id, p] of this.placing) if (!p.cancellation && match(p.task)) ids.push(id);
    for (const [id, e] of this.entries) if (!e.cancellation && match(e.task)) ids.push(id);
    return ids;
  }

  /** Stops every container of one slot unless a task runs in it; its queue keeps its tasks. */
  async stopSlot(slot: string): Promise<"stopped" | "busy" | "unknown"> {
    if (!this.queues.has(slot)) return "unknown";
    if (this.runningIn(slot)) return "busy";
    await this.stopPlaces(slot, (place) => !this.runningIn(slot, place));
    return "stopped";
  }

  /** Stops the running containers of a slot that `stoppable` allows, checked just before each stop. */
  private async stopPlaces(slot: string, stoppable: (place: SlotPlace) => boolean): Promise<void> {
    const lifecycle = this.options.lifecycle;
    if (!lifecycle) return;
    for (const place of await lifecycle.running(slot)) {
      if (!stoppable(place)) continue;
      await lifecycle.stop(slot, place);
      this.lastUsed.delete(placeKey(slot, place));
    }
  }

  /** Queued and running tasks per slot, in queue order. */
  slotTasks(): Record<string, SlotTasks> {
    const slots: Record<string, SlotTasks> = {};
    for (const slot of this.queues.keys()) slots[slot] = { queued: [], running: null };
    // Entries are kept in the order they were queued, slot by slot.
    for (const e of this.entries.values()) {
      const mine = slots[e.slot]!;
      if (e.controller && e.startedAt !== null) mine.running = { task: e.task, startedAt: e.startedAt };
      else if (!e.controller && !e.cancellation) mine.queued.push(e.task);
    }
    return slots;
  }

  /**
   * The places whose containers run, per slot (warm: the next task there starts without a
   * container start). Null when this process has no hold on containers.
   */
  async warmPlaces(): Promise<Record<string, SlotPlace[]> | null> {
    const lifecycle = this.options.lifecycle;
    if (!lifecycle) return null;
    const slots = [...this.queues.keys()];
    const places = await Promise.all(slots.map((slot) => lifecycle.running(slot)));
    return Object.fromEntries(slots.map((slot, i) => [slot, places[i]!]));
  }

  /**
   * Calls `listener` with every event after the pool's own observer, without waiting for it; the
   * returned function removes it. A listener that throws is logged and kept.
   */
  observe(listener: (event: PoolEvent) => void): () => void {
    // A wrapper per call, so the same function observed twice is removed once per call.
    const entry = (event: PoolEvent) => listener(event);
    this.observers.add(entry);
    return () => void this.observers.delete(entry);
  }

  /** How many `observe` listeners are attached (tests: streams that closed left none behind). */
  get observerCount(): number {
    return this.observers.size;
  }

  status() {
    const slots: Record<string, { queued: number; running: string | null }> = {};
    for (const slot of this.queues.keys()) {
      const mine = [...this.entries.values()].filter((e) => e.slot === slot);
      slots[slot] = {
        queued: mine.filter((e) => !e.controller && !e.cancellation).length,
        running: mine.find((e) => e.controller)?.task.id ?? null,
      };
    }
    return {
      slots,
      running: this.running.inUse,
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

  private load(slot: string): number {
    return this.liveInSlot.get(slot) ?? 0;
  }

  /** A live entry came (1) or left (-1): it was placed, or it was cancelled or ended uncancelled. */
  private countLive(entry: Entry, delta: 1 | -1): void {
    this.liveInSlot.set(entry.slot, (this.liveInSlot.get(entry.slot) ?? 0) + delta);
    if (entry.task.kind !== "agent") return;
    const thread = threadOf(entry.task);
    const known = this.liveThreads.get(thread);
    const count = (known?.count ?? 0) + delta;
    if (count <= 0) this.liveThreads.delete(thread);
    else this.liveThreads.set(thread, { slot: entry.slot, count });
  }

  /** The entry's task ended here (run, or left for the next start). */
  private forget(entry: Entry): void {
    this.entries.delete(entry.task.id);
    if (!entry.cancellation) this.countLive(entry, -1);
  }

  /** A task runs in the slot (in that place's container, when one is given). */
  private runningIn(slot: string, place?: SlotPlace): boolean {
    for (const e of this.entries.values()) if (e.slot === slot && e.controller && (!place || samePlace(placeInSlot(e.task), place))) return true;
    return false;
  }

  /** The slot where an agent task of the same thread is queued or running, if any. */
  private slotOfThread(task: Task): string | null {
    if (task.kind !== "agent") return null;
    return this.liveThreads.get(threadOf(task))?.slot ?? null;
  }

  /** A task runs or waits for the place's container. */
  private wanted(slot: string, place: SlotPlace): boolean {
    for (const e of this.entries.values()) if (e.slot === slot && !e.cancellation && samePlace(placeInSlot(e.task), place)) return true;
    return false;
  }

  /** Routing waits for DEVS.yml hints; chaining per repository keeps its tasks in order. */
  private route(task: Task, origin: TaskOrigin): void {
    const repo = task.repo.fullName.toLowerCase();
    const previous = this.routing.get(repo) ?? Promise.resolve();
    this.placing.set(task.id, { task, cancellation: null });
    const next = previous.then(() => this.place(task, origin)).catch(async (error: unknown) => {
      this.placing.delete(task.id);
      this.options.log.error({ err: error, task: task.id }, "could not queue task");
      const detail = "could not be queued";
      this.options.journal.finish(task.id, "failed", detail);
      await this.finished(task, { slot: "", state: "failed", detail, ran: null });
    });
    this.routing.set(repo, next);
    void next.finally(() => {
      if (this.routing.get(repo) === next) this.routing.delete(repo);
    });
  }

  private async place(task: Task, origin: TaskOrigin): Promise<void> {
    const { interrupted, recovered } = origin;
    const { journal, log } = this.options;
    let singleQueue = false;
    try {
      singleQueue = (await (origin.hints ?? this.options.routeHints?.(task)))?.singleQueue ?? false;
    } catch (error) {
      // The executor reads the config again and reports a broken file to the user.
      log.warn({ err: error, task: task.id }, "no routing hints (DEVS.yml unreadable); routing as usual");
    }
    const routing = this.placing.get(task.id);
    this.placing.delete(task.id);
    // Cancelled while its hints were read: the journal and its reporter already know.
    if (routing?.cancellation) return;
    const candidates = slotsFor(task.kind, this.options.slots, singleQueue);
    const pinned = singleQueue ? journal.pinOf(task.repo.fullName) : null;
    // A thread's agent tasks follow each other in one slot's queue: a new request waits for the
    // one before it, and then reads its answer in the conversation.
    // A CI fix goes where the agent worked on the change: its container is warm.
    const slot = chooseSlot(candidates, (n) => this.load(n), this.slotOfThread(task) ?? task.fix?.slot ?? pinned);
    if (singleQueue && pinned !== slot) journal.pin(task.repo.fullName, slot);
    if (!singleQueue && journal.pinOf(task.repo.fullName)) journal.unpin(task.repo.fullName);

    const entry: Entry = { task, slot, interrupted, controller: null, cancellation: null, startedAt: null };
    this.entries.set(task.id, entry);
    this.countLive(entry, 1);
    journal.assign(task.id, slot);
    const queue = this.queues.get(slot)!;
    const position = queue.size + queue.pending;
    // Both register what they do at once, so "queued" comes before "started" for the reporter and
    // observers alike. Neither the task nor the repository's next task waits for GitHub: in a
    // storm, "Queued" comments are written seconds apart.
    void this.tell(task, "queued", (r) => r.queued(task, { slot, position, interrupted, recovered }));
    const emitted = this.emit({ type: "queued", task, slot, position, interrupted, recovered });
    void queue.add(() => this.run(entry)).catch((error: unknown) => log.error({ err: error, task: task.id }, "task runner failed"));
    await emitted;
  }

  private async run(entry: Entry): Promise<void> {
    if (entry.cancellation) {
      this.entries.delete(entry.task.id);
      return;
    }
    const release = await this.running.acquire();
    if (entry.cancellation) {
      // Cancelled while it waited for MAX_CONCURRENT_TASKS: the journal and its reporter know.
      release();
      this.entries.delete(entry.task.id);
      return;
    }
    if (this.closing) {
      // The cap freed up because a shutdown stopped the task before it: this one stays queued in
      // the journal for the next start instead of beginning work the shutdown would wait for.
      release();
      this.forget(entry);
      return;
    }
    const { task, slot } = entry;
    const { journal, log } = this.options;
    const controller = new AbortController();
    entry.controller = controller;
    // The limit runs from this task's own start, not from when it was queued.
    const timer = setTimeout(() => controller.abort(new TaskAbort("timeout")), this.options.timeoutMs);
    const started = this.now();
    entry.startedAt = started;
    // From its journaling (before GitHub was answered, or before a restart) to this start.
    const queuedMs = Math.max(0, started - (journal.get(task.id)?.createdAt ?? started));
    journal.markRunning(task.id, slot);
    // Not awaited: the work does not wait for GitHub; the reporter keeps its writes in order.
    void this.tell(task, "started", (r) => r.started(task, { slot, interrupted: entry.interrupted }));
    await this.emit({ type: "started", task, slot, interrupted: entry.interrupted });

    let state: FinalState;
    let detail: string | null = null;
    let result: RunResult | null = null;
    try {
      const execute = this.options.kinds[task.kind]!.execute;
      result = await this.settleWithin(execute(task, { slot, signal: controller.signal, interrupted: entry.interrupted, queuedMs }), controller.signal);
      state = result.state;
      detail = result.detail ?? null;
    } catch (error) {
      state = "failed";
      detail = error instanceof Error ? error.message : String(error);
    } finally {
      clearTimeout(timer);
    }
    // A time limit or a cancel decides the state, whatever the executor made of it.
    const reason = controller.signal.aborted ? (controller.signal.reason as TaskAbort).reason : null;
    if (reason === "timeout") {
      state = "timed_out";
      detail = `stopped after ${Math.round(this.options.timeoutMs / 60_000)} minute(s) (CONTAINER_TIMEOUT_MINUTES)`;
    } else if (reason === "cancelled") {
      state = "cancelled";
      // Set while the task ran (TypeScript keeps the narrowing from before the awaits).
      const by = (entry as Entry).cancellation?.by;
      detail = `cancelled while running${by ? ` by ${by}` : ""}`;
    }
    // Still counted as running here, so no stop of this container races the clean-up.
    await this.options.lifecycle
      ?.afterTask?.(slot, task)
      .catch((error: unknown) => log.warn({ err: error, task: task.id, slot }, "could not clear the container after the task"));
    this.forget(entry);
    this.lastUsed.set(placeKey(slot, placeInSlot(task)), this.now());
    release();

    if (reason === "shutdown") {
      // Not a failure of the task: the next start runs it again.
      journal.requeue(task.id);
      log.info({ task: task.id, slot }, "task interrupted by shutdown; it will run again after restart");
      await this.tell(task, "suspended", (r) => r.suspended(task, { slot }));
      await this.emit({ type: "suspended", task, slot });
      return;
    }
    const phases: PhaseTimings = { queue: queuedMs, ...result?.phases };
    journal.finish(task.id, state, detail, phases);
    const durationMs = this.now() - started;
    log.info({ task: task.id, slot, state, ms: durationMs, phases }, "task finished");
    await this.finished(task, { slot, state, detail, ran: { durationMs, report: result?.report, phases }, cancellation: (entry as Entry).cancellation ?? undefined });
    if (this.options.cleanup?.mode === "after-task" && !this.load(slot)) {
      // Every idle container of the slot, not only this task's: other repositories' (and the other
      // trust's) containers of this slot would otherwise run on forever.
      await this.stopPlaces(slot, (place) => !this.wanted(slot, place)).catch((error: unknown) => log.warn({ err: error, slot }, "could not stop containers"));
    }
  }

  private async finished(task: Task, end: TaskEnd): Promise<void> {
    await this.tell(task, "finished", (r) => r.finished(task, end));
    await this.emit({ type: "finished", task, ...end });
  }

  /** A reporter that fails is logged; the pool's own bookkeeping never depends on GitHub. */
  private async tell(task: Task, what: string, call: (reporter: TaskReporter) => Promise<void>): Promise<void> {
    const reporter = this.reporter(task);
    if (!reporter) return;
    try {
      await call(reporter);
    } catch (error) {
      this.options.log.warn({ err: error, task: task.id, report: what }, "could not report the task to GitHub");
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
    for (const slot of this.queues.keys()) {
      // Containers from before a restart have no last task here: their idle time counts from now.
      const idle = (place: SlotPlace) => {
        const key = placeKey(slot, place);
        if (!this.lastUsed.has(key)) this.lastUsed.set(key, this.now());
        return this.lastUsed.get(key)! <= cutoff;
      };
      // A busy or about-to-run container is never stopped.
      await this.stopPlaces(slot, (place) => !this.wanted(slot, place) && idle(place)).catch((error: unknown) =>
        this.options.log.warn({ err: error, slot }, "idle stop failed"),
      );
    }
  }

  private async emit(event: PoolEvent): Promise<void> {
    try {
      await this.options.onEvent?.(event);
    } catch (error) {
      this.options.log.warn({ err: error, event: event.type, task: event.task.id }, "pool event listener failed");
    }
    for (const observer of this.observers) {
      try {
        observer(event);
      } catch (error) {
        this.options.log.warn({ err: error, event: event.type, task: event.task.id }, "pool event observer failed");
      }
    }
  }
}

const samePlace = (a: SlotPlace, b: SlotPlace) => a.repo === b.repo && a.trust === b.trust;
