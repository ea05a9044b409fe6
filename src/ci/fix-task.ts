// The fix task of the CI fix loop: the root task's thread and trigger, the pull request's branch at
// the commit whose tests failed, and the failure. Pure.
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
