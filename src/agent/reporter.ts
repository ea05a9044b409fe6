// The only writer to GitHub about an agent task once it exists: its one progress comment and the
// closing reaction on what triggered it. (The 👀 at intake comes before there is a task.) One
// publisher per task for its life in this process, written through in order (task-writes.ts), so a
// late "running" can never land after the final comment.
import type { Logger } from "pino";
import type { GitHubClient } from "../github/client.js";
import { TaskPublisher } from "../publish/github.js";
import type { LoopStep } from "../tasks/fix-loops.js";
import type { Progress } from "../publish/progress.js";
import type { Reaction } from "../publish/reactions.js";
import { TaskWrites } from "../publish/task-writes.js";
import type { TaskEnd, TaskReporter } from "../tasks/execution.js";
import type { Task } from "../tasks/task.js";
import type { AgentReport } from "./report.js";
import { notRunFailure, serverFailure } from "./task-failure.js";
import { taskLogger } from "../logging.js";

export interface AgentReporterOptions {
  /** The task's installation client (github/probot.ts `taskGitHub`). */
  github(task: Task): Promise<{ octokit: GitHubClient }>;
  /** CONTAINER_TIMEOUT_MINUTES, for the timed-out comment. */
  timeoutMinutes: number;
  log: Logger;
  now?: (() => number) | undefined;
  /** The public link of a task's log (PUBLIC_URL), put in its final comment. */
  logUrl?: ((task: Task) => string | null) | undefined;
  /** The CI fix loop's steps so far for a task (tasks/fix-loops.ts), kept on its final comment. */
  loopSteps?: ((taskId: string) => readonly LoopStep[]) | undefined;
}

type ClosingReaction = Extract<Reaction, "rocket" | "confused">;
const EMOJI: Record<ClosingReaction, string> = { rocket: "🚀", confused: "😕" };

export class AgentReporter implements TaskReporter<AgentReport> {
  private readonly writes: TaskWrites<TaskPublisher>;
  private readonly now: () => number;

  constructor(private readonly options: AgentReporterOptions) {
    this.now = options.now ?? Date.now;
    this.writes = new TaskWrites(async (task) => new TaskPublisher((await options.github(task)).octokit, task, options.logUrl?.(task) ?? null));
  }

  // A fix task of the CI fix loop says nothing of its own: the loop's line on the root task's
  // comment tells its story (ci/fix-loop.ts), never one comment per attempt.

  async queued(task: Task, info: { slot: string; position: number }): Promise<void> {
    if (task.fix) return;
    return this.writes.write(task, (p) => p.progress({ stage: "queued", slot: info.slot, position: info.position }));
  }

  async started(task: Task, info: { slot: string; interrupted: boolean }): Promise<void> {
    if (task.fix) return;
    const since = new Date(this.now());
    return this.writes.write(task, (p) => p.progress({ stage: "running", slot: info.slot, since, retry: info.interrupted }));
  }

  /** Nothing is said: the next start edits the same comment again (queued, then running). Writes already asked for land first. */
  async suspended(task: Task): Promise<void> {
    await this.writes.forget(task.id);
  }

  async finished(task: Task, end: TaskEnd<AgentReport>): Promise<void> {
    if (task.fix) return;
    const log = taskLogger(this.options.log, { task: task.id, repo: task.repo.fullName, slot: end.slot });
    const { progress, reaction } = finalWords(task, end, this.options.timeoutMinutes);
    // A failed comment edit must not keep the reaction back, nor the other way round.
    const said = this.writes.write(task, (p) => p.progress(progress, this.options.loopSteps?.(task.id))).catch((error: unknown) =>
      log.warn({ err: error, state: end.state }, "could not say on GitHub how the task ended"),
    );
    const reacted = reaction
      ? this.writes.write(task, (p) => p.react(reaction)).catch((error: unknown) => log.warn({ err: error }, `could not react ${EMOJI[reaction]}`))
      : undefined;
    await Promise.all([said, reacted]);
    await this.writes.forget(task.id);
  }

  /** Tasks whose publisher is held (tests: nothing outlives its task). */
  get size(): number {
    return this.writes.size;
  }
}

/** The final comment and reaction, from the pool's final state and the run's report. */
function finalWords(task: Task, end: TaskEnd<AgentReport>, timeoutMinutes: number): { progress: Progress; reaction: ClosingReaction | null } {
  const report = end.ran?.report;
  // Where the time went, the pool's queue wait included.
  const phases = end.ran?.phases;
  // Published work is said even when a time limit or a cancel landed after it was published:
  // "Nothing was published" would be untrue.
  if (report?.outcome === "done") {
    const { durationMs, costUsd, turns, summary, pullRequest, pushed, note } = report;
    return { progress: { stage: "done", slot: end.slot, durationMs, costUsd, turns, summary, pullRequest, pushed, note, phases }, reaction: "rocket" };
  }
  if (report?.outcome === "stopped") {
    const { outcome: _, ...stopped } = report;
    return { progress: { stage: "stopped", ...stopped, phases }, reaction: "confused" };
  }
  switch (end.state) {
    case "done":
      // An executor that reported nothing: the run's length is all there is to say.
      return { progress: { stage: "done", slot: end.slot, durationMs: end.ran?.durationMs ?? 0, costUsd: null, turns: null, summary: "", phases }, reaction: "rocket" };
    case "timed_out":
      return { progress: { stage: "timed_out", minutes: timeoutMinutes }, reaction: null };
    case "cancelled":
      return { progress: { stage: "cancelled", by: end.cancellation?.by }, reaction: null };
    case "failed": {
      if (!end.ran) return { progress: { stage: "failed", reason: notRunFailure(task.id).reason }, reaction: null };
      if (report?.outcome === "failed") {
        return { progress: { stage: "failed", reason: report.reason, durationMs: report.durationMs, costUsd: report.costUsd, phases }, reaction: "confused" };
      }
      // No report: the executor threw. Its error (the journal's detail) may name host paths or
      // tokens, so only the generic line is shown; the pool logged the error under the task's id.
      return { progress: { stage: "failed", reason: serverFailure(task.id).reason, durationMs: end.ran.durationMs, phases }, reaction: "confused" };
    }
  }
}
