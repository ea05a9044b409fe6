// A Task is what a triggering event becomes: everything the worker needs, snapshotted at trigger
// time, as versioned JSON so it can sit in the journal or on SQS and be read back by a newer build.
import type { TriggerReason } from "../policy/trigger.js";

export const TASK_VERSION = 1;

export type TaskKind = "agent" | "ci";

export interface TaskRepo {
  owner: string;
  name: string;
  fullName: string;
  defaultBranch: string;
  private: boolean;
  cloneUrl: string;
  htmlUrl: string;
}

export type TriggerSubject =
  | { type: "issue"; id: number; apiUrl?: string }
  | { type: "pull_request"; id: number }
  | { type: "issue_comment"; id: number }
  | { type: "pull_request_review"; id: number }
  | { type: "pull_request_review_comment"; id: number };

export interface TaskTrigger {
  /**
   * Why an agent task was triggered; `ci` for every CI task (its `ci` snapshot says more);
   * `ci_failed` for a fix task of the CI fix loop (its `fix` snapshot says more).
   */
  reason: TriggerReason | "ci" | "ci_failed";
  subject: TriggerSubject;
  author: string;
  /** The text that addressed the bot (comment or review body, or the issue/PR body). */
  body: string;
  url: string;
  /**
   * The review the trigger belongs to (a review, or one of its inline comments): the task reads
   * all of the review's comments, and the review's other deliveries join this task.
   */
  reviewId?: number | undefined;
  /** For review comments: where in the diff. */
  path?: string | undefined;
  line?: number | null | undefined;
  diffHunk?: string | undefined;
}

export interface PullRequestSnapshot {
  headRef: string;
  headSha: string;
  headRepoFullName: string | null;
  baseRef: string;
  draft: boolean;
  fromFork: boolean;
}

export interface TargetSnapshot {
  /**
   * `commit`: a CI task with no pull request (a push, or a re-run of a commit's checks); its
   * number is 0 and its trigger subject `{ type: "issue", id: 0 }` (CI never reacts or comments).
   */
  type: "issue" | "pull_request" | "commit";
  number: number;
  title: string;
  body: string;
  author: string;
  state: string;
  url: string;
  labels: string[];
  pullRequest?: PullRequestSnapshot | undefined;
}

/** The fields of a pull request (a webhook's or the REST API's) that a task keeps. */
export interface PullRequestFields {
  draft?: boolean | undefined;
  head: { ref: string; sha: string; repo: { full_name: string } | null };
  base: { ref: string };
}

/** A fork's pull request is one whose head lives in another repository (or in a deleted one). */
export function pullRequestSnapshot(pr: PullRequestFields, repoFullName: string): PullRequestSnapshot {
  return {
    headRef: pr.head.ref,
    headSha: pr.head.sha,
    headRepoFullName: pr.head.repo?.full_name ?? null,
    baseRef: pr.base.ref,
    draft: pr.draft ?? false,
    fromFork: (pr.head.repo?.full_name ?? "").toLowerCase() !== repoFullName.toLowerCase(),
  };
}

/** What a CI task tests and where it reports, fixed when the event arrived. */
export interface CiSnapshot {
  /** The commit to test, exactly. */
  headSha: string;
  /**
   * A ref that holds `headSha`, to fetch before checking it out: `refs/heads/<branch>` for a push,
   * `refs/pull/<n>/head` for a pull request (forks too); null when only the SHA is known.
   */
  ref: string | null;
  /** The pushed branch or the pull request's head branch, for display. */
  branch: string | null;
  /** What started it: a push, a pull request event, or a re-run button on GitHub. */
  trigger: "push" | "pull_request" | "rerun";
  pullRequest: { number: number; baseRef: string | null; fromFork: boolean } | null;
  /** DEVS.yml `ci_test_command`, read from the default branch when the event arrived. */
  testCommand: string;
  checkName: string;
  /** `checks` (GitHub App) or `statuses` (token mode: commit statuses with context = checkName). */
  report: "checks" | "statuses";
  /**
   * The check run created when the task was queued, by builds whose handler created it; null now
   * (the CI reporter creates it and finds it again by its external_id) and in status mode.
   */
  checkRunId: number | null;
  /** DEVS.yml ci_fix_attempts when the event arrived (absent in tasks of older builds: the default). */
  fixAttempts?: number | null | undefined;
}

/**
 * What a fix task of the CI fix loop (ci/fix-loop.ts) works from: the root task's thread is its
 * target, the pull request's branch at the failed commit is its checkout, and the failure, already
 * redacted, is its prompt's.
 */
export interface FixSnapshot {
  rootTask: string;
  attempt: number;
  /** The attempts allowed in all (ci_fix_attempts held to CI_FIX_ATTEMPTS_MAX). */
  of: number;
  pullRequest: { number: number; headRef: string; headSha: string };
  /** The slot the root task ran in: the same warm container. */
  slot: string;
  /** The failed tests, one line each (`name (file:line): message`). */
  failures: string[];
  /** The end of the test command's output. */
  logTail: string;
  exitCode: number | null;
  /** The check run's (or commit status's) name, for the prompt. */
  checkName: string;
}

export interface Task {
  version: typeof TASK_VERSION;
  id: string;
  kind: TaskKind;
  createdAt: string;
  deliveryId: string;
  event: string;
  action: string;
  installationId: number | null;
  repo: TaskRepo;
  target: TargetSnapshot;
  trigger: TaskTrigger;
  sender: string;
  /** Present on CI tasks (kind `ci`) made by the CI handler. */
  ci?: CiSnapshot | undefined;
  /** Present on the fix tasks of the CI fix loop (kind `agent`). */
  fix?: FixSnapshot | undefined;
}

/** An issue or pull request of a repository: its agent tasks never run side by side. */
export const threadOf = (task: Pick<Task, "repo" | "target">) => `${task.repo.fullName.toLowerCase()}#${task.target.number}`;

class TaskFormatError extends Error {
  override name = "TaskFormatError";
}

export function serializeTask(task: Task): string {
  return JSON.stringify(task);
}

/** Reads a task written by this or an earlier build; refuses what it cannot understand. */
export function parseTask(json: string): Task {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new TaskFormatError("task is not JSON");
  }
  if (typeof value !== "object" || value === null) throw new TaskFormatError("task is not an object");
  const task = value as Partial<Task>;
  if (task.version !== TASK_VERSION) throw new TaskFormatError(`unsupported task version ${String(task.version)}`);
  for (const field of ["id", "kind", "deliveryId", "repo", "target", "trigger"] as const) {
    if (task[field] === undefined) throw new TaskFormatError(`task has no ${field}`);
  }
  if (task.kind !== "agent" && task.kind !== "ci") throw new TaskFormatError(`unknown task kind ${String(task.kind)}`);
  return task as Task;
}
