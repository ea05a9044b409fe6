// A newer push to a pull request makes its older runs that have not started pointless: they are
// cancelled in the pool, naming the newer commit, and the CI reporter says so on their checks.
// Running ones are left to finish.
import type { ContainerPool } from "../pool/pool.js";
import type { TaskJournal } from "../tasks/journal.js";
import type { SupersedeRequest } from "./checks.js";
import { shortSha } from "./report.js";

/** The CI handler's `supersede`: the ids of the pull request's queued CI tasks it cancelled (never `keepTaskId`). */
export function supersedeQueued(
  journal: Pick<TaskJournal, "queued">,
  pool: Pick<ContainerPool, "cancel">,
): (request: SupersedeRequest) => Promise<string[]> {
  return async (request) => {
    const cancelled: string[] = [];
    for (const task of journal.queued("ci", request.repo.fullName)) {
      if (task.id === request.keepTaskId || task.ci?.pullRequest?.number !== request.prNumber) continue;
      if (pool.cancel(task.id, { by: `a newer push (${shortSha(request.headSha)})`, supersededBy: request.headSha })) cancelled.push(task.id);
    }
    return cancelled;
  };
}
