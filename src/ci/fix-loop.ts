// The CI fix loop: when this app's CI fails on a commit the agent pushed to a pull request, the
// agent gets the failure and another go, in the same slot and so the same warm container, until CI
// passes or the attempts allowed are spent. Fed with the pool's ends of tasks; decides with
// policy/ci-fix.ts; keeps its state in tasks/fix-loops.ts; tells the thread through the narrator.
import type { Logger } from "pino";
import { decideCiFix, fixAttemptsAllowed } from "../policy/ci-fix.js";
import type { LoopNarrator } from "../publish/loop-narrator.js";
import type { TaskEnd } from "../tasks/execution.js";
import type { FixLoop, FixLoops, LoopStep } from "../tasks/fix-loops.js";
import type { TaskJournal } from "../tasks/journal.js";
import type { TaskSink } from "../tasks/sink.js";
import type { Task } from "../tasks/task.js";
import { fixTask, fixTaskId } from "./fix-task.js";
import type { CiReport } from "./reporter.js";
import { taskLogger } from "../logging.js";

export interface CiFixLoopDeps {
  loops: FixLoops;
  journal: Pick<TaskJournal, "get" | "known">;
  /** Where fix tasks go: the pool, which journals them first. */
  sink: TaskSink;
  /** Cancels the queued or running fix tasks `match` picks; returns their ids. */
  cancelFixes(match: (task: Task) => boolean, by: string): string[];
  narrator: LoopNarrator;
  /** CI_FIX_ATTEMPTS_MAX. */
  attemptsMax: number;
  now: () => Date;
  log: Logger;
}

/** What a fix task's end says of its work: the agent reporter's report, as far as the loop reads it. */
export type FixReport = { outcome: "done"; pushed?: unknown; branchMoved?: true | undefined } | { outcome: "failed" | "stopped" };

export class CiFixLoop {
  constructor(private readonly deps: CiFixLoopDeps) {}

  /** A CI task ended: a failure on the agent's own commit starts a fix, a pass ends the loop. */
  async ciFinished(task: Task, end: TaskEnd<CiReport>): Promise<void> {
    const ci = task.ci;
    if (!ci) return;
    const { loops, log } = this.deps;
    const push = loops.pushOf(task.repo.fullName, ci.headSha);
    if (!push) return;
    const loop = loops.loop(push.rootTask);
    const report = end.ran?.report;
    const attempts = fixAttemptsAllowed(ci.fixAttempts, this.deps.attemptsMax);
    const decision = decideCiFix({
      conclusion: report?.conclusion ?? (end.state === "done" ? "neutral" : end.state),
      judged: report?.judged !== undefined,
      // The agent only ever pushes to branches of the repository itself.
      pullRequest: ci.pullRequest ?? { fromFork: false },
      push,
      loopClosed: loop?.closed ?? true,
      attempts,
    });
    const llog = taskLogger(log, { task: task.id, loop: push.rootTask, attempt: push.attempt });
    switch (decision.kind) {
      case "none":
        llog.debug({ why: decision.why }, "CI fix loop: nothing to do");
        return;
      case "passed":
        return this.step(push.rootTask, [{ kind: "passed" }], true);
      case "gave_up": {
        const judged = report!.judged!;
        llog.info({ failing: judged.failingNames.length }, "CI fix loop: still failing after the last attempt allowed");
        return this.step(push.rootTask, [{ kind: "gave_up", attempts: decision.attempts, failing: judged.failingNames, exitCode: judged.exitCode }], true);
      }
      case "unjudged":
        return this.step(push.rootTask, [{ kind: "stopped", why: `the check of attempt ${push.attempt} ${end.state === "timed_out" ? "timed out" : "could not run the tests"}` }], true);
      case "fix": {
        const id = fixTaskId(push.rootTask, decision.attempt);
        // The same run's end seen again (a restart ran it twice): its fix is queued already.
        if (this.deps.journal.known(id)) return;
        const root = this.deps.journal.get(push.rootTask)?.task;
        if (!root) {
          llog.warn("CI fix loop: the task that began the loop is no longer in the journal; no fix is made");
          return;
        }
        const judged = report!.judged!;
        const fix = fixTask({ root, ci: task, push, judged, attempt: decision.attempt, of: attempts, now: this.deps.now() });
        const steps: LoopStep[] = [
          { kind: "ci_failed", failed: judged.failed, exitCode: judged.exitCode },
          { kind: "fixing", attempt: decision.attempt, of: attempts },
        ];
        if (!loops.addSteps(push.rootTask, steps, false)) return;
        try {
          await this.deps.sink.submit(fix);
        } catch (error) {
          llog.error({ err: error }, "CI fix loop: could not queue the fix");
          return this.step(push.rootTask, [{ kind: "stopped", why: "the fix could not be queued" }], true);
        }
        llog.info({ fix: fix.id, slot: push.slot }, "CI fix loop: fix queued");
        await this.deps.narrator.tell(root, loops.loop(push.rootTask)!.steps);
        return;
      }
    }
  }

  /** A fix task ended. One that pushed waits for its CI; any other end stops the loop, saying why. */
  async fixEnded(task: Task, end: TaskEnd<FixReport>): Promise<void> {
    const fix = task.fix;
    if (!fix) return;
    const report = end.ran?.report;
    if (report?.outcome === "done" && report.pushed) return;
    const n = fix.attempt;
    const why =
      report?.outcome === "done"
        ? report.branchMoved
          ? `the branch moved on while attempt ${n} was made`
          : `attempt ${n} changed nothing`
        : report?.outcome === "stopped"
          ? "the loop's cost limit was reached"
          : end.state === "timed_out"
            ? `attempt ${n} reached its time limit`
            : end.state === "cancelled"
              ? `attempt ${n} was cancelled${end.cancellation?.by ? ` by ${end.cancellation.by}` : ""}`
              : `attempt ${n} did not finish`;
    await this.step(fix.rootTask, [{ kind: "stopped", why }], true);
  }

  /** A push by someone else to a loop's branch: their commit wins, and the loop stops. */
  humanPushed(repo: string, branch: string, sender: string): Promise<number> {
    return this.stopLoops(this.deps.loops.openOnBranch(repo, branch), `a push by @${sender}`, `@${sender}`);
  }

  /** A new request on the thread, or `@bot stop` there: the loop gives way. `why` completes "stopped: …". */
  stopOnThread(repo: string, number: number, why: string, by: string): Promise<number> {
    return this.stopLoops(this.deps.loops.openOnThread(repo, number), why, by);
  }

  private async stopLoops(open: FixLoop[], why: string, by: string): Promise<number> {
    for (const loop of open) {
      // Ended first, so the cancelled fix's end finds the loop closed and adds nothing.
      if (!this.deps.loops.addSteps(loop.rootTask, [{ kind: "stopped", why }], true)) continue;
      const cancelled = this.deps.cancelFixes((t) => t.fix?.rootTask === loop.rootTask, by);
      this.deps.log.info({ loop: loop.rootTask, cancelled, why }, "CI fix loop stopped");
      await this.narrate(loop.rootTask);
    }
    return open.length;
  }

  private async step(rootTask: string, steps: LoopStep[], close: boolean): Promise<void> {
    if (!this.deps.loops.addSteps(rootTask, steps, close)) return;
    await this.narrate(rootTask);
  }

  private async narrate(rootTask: string): Promise<void> {
    const root = this.deps.journal.get(rootTask)?.task;
    const loop = this.deps.loops.loop(rootTask);
    if (root && loop) await this.deps.narrator.tell(root, loop.steps);
  }
}
