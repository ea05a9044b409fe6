// The fix task of the CI fix loop: the root task's thread and trigger, the pull request's branch at
// the commit whose tests failed, and the failure; and which pushes a loop follows. Pure.
import { trustOf } from "../containers/naming.js";
import type { AgentPush } from "../policy/ci-fix.js";
import type { FixSnapshot, Task } from "../tasks/task.js";
import type { JudgedRun } from "./reporter.js";

/** One id per loop and attempt: a CI run's end seen twice queues its fix once. */
export const fixTaskId = (rootTask: string, attempt: number) => `fix-${rootTask}-${attempt}`;

/** The ids of the tasks of a loop before attempt `attempt`: they share the loop's budget. */
export function earlierLoopTasks(fix: Pick<FixSnapshot, "rootTask" | "attempt">): string[] {
  return [fix.rootTask, ...Array.from({ length: fix.attempt - 1 }, (_, i) => fixTaskId(fix.rootTask, i + 1))];
}

export interface FixTaskInput {
  root: Task;
  /** The CI task whose run failed. */
  ci: Task;
  push: AgentPush;
  judged: JudgedRun;
  attempt: number;
  of: number;
  now: Date;
}

export function fixTask({ root, ci, push, judged, attempt, of, now }: FixTaskInput): Task {
  const fix: FixSnapshot = {
    rootTask: push.rootTask,
    attempt,
    of,
    pullRequest: { number: push.pullNumber, headRef: push.branch, headSha: push.sha },
    slot: push.slot,
    failures: judged.failures,
    logTail: judged.logTail,
    exitCode: judged.exitCode,
    checkName: ci.ci?.checkName ?? "CI",
  };
  return {
    ...root,
    id: fixTaskId(push.rootTask, attempt),
    createdAt: now.toISOString(),
    deliveryId: ci.deliveryId,
    trigger: { ...root.trigger, reason: "ci_failed" },
    fix,
  };
}

/**
 * What the CI fix loop records of an agent task's push to a pull request's branch; null for work
 * on a fork's code, which never loops: its pull request's CI would run the fork's code with the
 * repository's own trust, and each fix would carry it on with nobody approving the round.
 */
export function loopPushOf(
  task: Task,
  landed: { slot: string; sha: string; branch: string; pullNumber: number },
): (AgentPush & { threadNumber: number }) | null {
  if (trustOf(task) === "fork") return null;
  return {
    repo: task.repo.fullName,
    sha: landed.sha,
    branch: landed.branch,
    pullNumber: landed.pullNumber,
    rootTask: task.fix?.rootTask ?? task.id,
    attempt: task.fix?.attempt ?? 0,
    slot: landed.slot,
    threadNumber: task.target.number,
  };
}
