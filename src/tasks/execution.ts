// The contract between the pool and each kind of task. The pool runs a kind's executor and tells
// the kind's reporter what became of the task: queued, started, suspended by a shutdown, finished
// with its real final state. The reporter is the only writer to GitHub about a task, so nothing
// else needs to know what it has said. Lives apart from pool/, agent/ and ci/ so all three can
// import it without a cycle.
import type { PhaseTimings } from "./phases.js";
import type { Task, TaskKind } from "./task.js";

export type AbortReason = "timeout" | "cancelled" | "shutdown";

/** Who cancelled a task, and the newer work that replaced it when that was the reason. */
export interface Cancellation {
  /** A login, "an operator", or a phrase such as "a newer push (abc1234)". */
  by?: string | undefined;
  /** The commit whose run made this one pointless (a newer push to the same pull request). */
  supersededBy?: string | undefined;
}

export class TaskAbort extends Error {
  constructor(
    readonly reason: AbortReason,
    /** Who cancelled, when someone did. */
    readonly by?: string,
  ) {
    super(`task ${reason === "timeout" ? "timed out" : reason}`);
    this.name = "TaskAbort";
  }
}

export interface RunContext {
  /** The slot (a pool name such as `eamonn`) whose queue runs the task. */
  slot: string;
  /** Aborted on timeout, cancel or shutdown; the executor must stop what it started. */
  signal: AbortSignal;
  /** The previous attempt was cut short by a restart. */
  interrupted: boolean;
  /** How long the task waited from its journaling to this start (the `queue` phase), for what the runner shows. */
  queuedMs?: number | undefined;
}

/**
 * The executor's verdict and what its reporter needs to tell the user (`report`, typed by the
 * kind), with where the run's time went (`phases`, without the queue, which the pool adds). The
 * pool may still end the task otherwise: a time limit or a cancel wins.
 */
export type RunResult<R = unknown> =
  | { state: "done"; detail?: string | undefined; report?: R | undefined; phases?: PhaseTimings | undefined }
  | { state: "failed"; detail: string; report?: R | undefined; phases?: PhaseTimings | undefined };

export type TaskExecutor<R = unknown> = (task: Task, ctx: RunContext) => Promise<RunResult<R>>;

export type FinalState = "done" | "failed" | "timed_out" | "cancelled";

export interface TaskEnd<R = unknown> {
  /** Empty when the task was given up before it reached a slot. */
  slot: string;
  state: FinalState;
  /** For the journal and the log: may hold internals, never shown as it is. */
  detail: string | null;
  /** Null when the task never ran: cancelled while queued, not placeable, given up after restarts. */
  ran: { durationMs: number; report: R | undefined; phases?: PhaseTimings | undefined } | null;
  cancellation?: Cancellation | undefined;
}

/** One per kind; every GitHub write about a task of that kind goes through it. */
export interface TaskReporter<R = unknown> {
  /**
   * `recovered`: it came back from the journal at a start, so an earlier process may have reported
   * it already; `interrupted`: that process had started it, and a restart cut the attempt short.
   */
  queued(task: Task, info: { slot: string; position: number; interrupted: boolean; recovered: boolean }): Promise<void>;
  /** Called without waiting: the work does not wait for GitHub. Later calls keep their order. */
  started(task: Task, info: { slot: string; interrupted: boolean }): Promise<void>;
  /** A shutdown stopped it; the journal runs it again at the next start. */
  suspended(task: Task, info: { slot: string }): Promise<void>;
  finished(task: Task, end: TaskEnd<R>): Promise<void>;
}

/** What a process can do with one kind of task. */
export interface TaskKindRunner<R = unknown> {
  execute: TaskExecutor<R>;
  reporter?: TaskReporter<R> | undefined;
}

export type TaskKinds = { [K in TaskKind]?: TaskKindRunner<any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
