// What the pool tells CI, and what CI asks of the pool. The runner reports what it runs; this
// listener reports what ends without it — cancelled while queued, given up after restarts, or a
// runner that could not report — so no check is left `queued` or `in_progress`. A run a
// restart interrupted is queued again by the journal and its check says so until it starts.
import type { Logger } from "pino";
import type { SupersededRun, SupersedeRequest } from "./checks.js";
import type { ContainerPool, PoolEvent } from "../pool/pool.js";
import type { Redactor } from "../publish/redact.js";
import type { TaskJournal } from "../tasks/journal.js";
import { conclusionForPoolState } from "./checks.js";
import type { CiReporter } from "./reporter.js";
import { endedEarlyOutput, shortSha } from "./report.js";

export interface CiPoolListenerDeps {
  reporter: CiReporter;
  redact: Redactor;
  log: Logger;
  /** Tasks whose checks someone else completes (runs superseded by a newer push: the handler). */
  superseded: Set<string>;
}

/**
 * `PoolOptions.onEvent` for CI tasks. Writes are registered synchronously when the event arrives,
 * so they keep their order with the runner's.
 */
export function ciPoolListener(deps: CiPoolListenerDeps): (event: PoolEvent) => Promise<void> {
  return async (event) => {
    const { task } = event;
    if (task.kind !== "ci" || !task.ci) return;
    const log = deps.log.child({ task: task.id, repo: task.repo.fullName });
    if (event.type === "queued") {
      if (!event.interrupted) return;
      await deps.reporter
        .write(task, (check) =>
          check.queued({
            title: "Queued again",
            summary: `A restart of the server interrupted this run; it runs again from the start when \`${event.slot}\` is free.`,
          }),
        )
        .catch((error: unknown) => log.warn({ err: error }, "could not mark the check run queued again"));
      return;
    }
    if (event.type !== "finished") return;
    try {
      if (deps.superseded.delete(task.id)) return;
      // The runner's own report, if it made one, lands first.
      await deps.reporter.settled(task);
      if (deps.reporter.isCompleted(task.id)) return;
      // A run that ended `done` reported itself; if that report was lost there is nothing true to add.
      if (event.state === "done") return;
      const conclusion = conclusionForPoolState(event.state);
      const reason = event.detail ?? (event.state === "cancelled" ? "it was cancelled" : "the task ended");
      await deps.reporter.complete(task, { conclusion, output: endedEarlyOutput(conclusion, reason, deps.redact) });
      log.info({ conclusion, reason }, "completed the check of a run that ended without its own report");
    } catch (error) {
      log.warn({ err: error }, "could not complete the check run of a task that ended");
    } finally {
      deps.reporter.forget(task.id);
    }
  };
}

/**
 * The CI handler's `supersede`: the pull request's CI tasks that have not started (not
 * `keepTaskId`) are cancelled in the pool; the handler completes their checks naming the newer
 * commit. Running ones are left to finish.
 */
export function supersedeQueued(
  journal: Pick<TaskJournal, "queued">,
  pool: Pick<ContainerPool, "cancel">,
  superseded: Set<string>,
): (request: SupersedeRequest) => Promise<SupersededRun[]> {
  return async (request) => {
    const runs: SupersededRun[] = [];
    for (const task of journal.queued("ci", request.repo.fullName)) {
      const ci = task.ci;
      if (task.id === request.keepTaskId || !ci || ci.pullRequest?.number !== request.prNumber) continue;
      // The handler reports it (unless it has no check it knows of); marked first, because the
      // pool tells its listeners synchronously.
      const handlerReports = ci.report === "statuses" || ci.checkRunId !== null;
      if (handlerReports) superseded.add(task.id);
      if (!pool.cancel(task.id, { by: `a newer push (${shortSha(request.headSha)})`, supersededBy: request.headSha })) {
        superseded.delete(task.id);
        continue;
      }
      runs.push({ taskId: task.id, headSha: ci.headSha, checkName: ci.checkName, report: ci.report, checkRunId: ci.checkRunId });
    }
    return runs;
  };
}
