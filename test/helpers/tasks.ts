// Tasks for tests, shaped as the handlers make them: agent tasks on an issue, on a pull request or
// on a fork's pull request; CI tasks for a push, a pull request or a fork's pull request. Each
// builder takes overrides; `target`, `trigger`, `ci` and the pull request snapshot merge field by field.
import type { TaskExecutor, TaskKinds } from "../../src/tasks/execution.js";
import {
  TASK_VERSION,
  type CiSnapshot,
  type PullRequestSnapshot,
  type TargetSnapshot,
  type Task,
  type TaskKind,
  type TaskTrigger,
} from "../../src/tasks/task.js";

export interface TaskOverrides extends Partial<Omit<Task, "repo" | "target" | "trigger" | "ci">> {
  /** owner/name */
  repo?: string;
  target?: Partial<Omit<TargetSnapshot, "pullRequest">> & { pullRequest?: Partial<PullRequestSnapshot> };
  trigger?: Partial<TaskTrigger>;
  ci?: Partial<CiSnapshot>;
}

let counter = 0;
const SHA = "a".repeat(40);

function base(kind: TaskKind, overrides: TaskOverrides): Task {
  const { repo: fullName = "acme/widgets", target, trigger, ci, ...rest } = overrides;
  const [owner, name] = fullName.split("/") as [string, string];
  const id = rest.id ?? `t${++counter}`;
  // The pull request snapshot is merged by the pull request builders.
  const { pullRequest: _pullRequest, ...targetFields } = target ?? {};
  const task: Task = {
    version: TASK_VERSION,
    id,
    kind,
    createdAt: new Date(0).toISOString(),
    deliveryId: `d-${id}`,
    event: "issue_comment",
    action: "created",
    installationId: 1,
    repo: { owner, name, fullName, defaultBranch: "main", private: false, cloneUrl: `https://example.invalid/${fullName}.git`, htmlUrl: `https://example.invalid/${fullName}` },
    target: { type: "issue", number: 1, title: "t", body: "", author: "alice", state: "open", url: "u", labels: [], ...targetFields },
    trigger: { reason: "mention", subject: { type: "issue_comment", id: 1 }, author: "alice", body: "@bot go", url: "u", ...trigger },
    sender: "alice",
    ...rest,
  };
  if (ci) task.ci = ci as CiSnapshot;
  return task;
}

function withPullRequest(task: Task, overrides: TaskOverrides, fromFork: boolean): Task {
  const pullRequest: PullRequestSnapshot = {
    headRef: "feature",
    headSha: SHA,
    headRepoFullName: fromFork ? `mallory/${task.repo.name}` : task.repo.fullName,
    baseRef: "main",
    draft: false,
    fromFork,
    ...overrides.target?.pullRequest,
  };
  return { ...task, target: { ...task.target, type: "pull_request", pullRequest } };
}

/** An agent task from a comment mentioning the bot on issue #1. */
export function agentTask(overrides: TaskOverrides = {}): Task {
  return base("agent", overrides);
}

/** An agent task from a comment on pull request #1, whose head is in the same repository. */
export function agentTaskOnPullRequest(overrides: TaskOverrides = {}): Task {
  return withPullRequest(base("agent", overrides), overrides, false);
}

/** An agent task on pull request #1 from a fork (`mallory/<repo>`). */
export function agentTaskFromFork(overrides: TaskOverrides = {}): Task {
  return withPullRequest(base("agent", overrides), overrides, true);
}

function ciSnapshot(overrides: TaskOverrides, snapshot: Partial<CiSnapshot>): CiSnapshot {
  return {
    headSha: SHA,
    ref: "refs/heads/main",
    branch: "main",
    trigger: "push",
    pullRequest: null,
    testCommand: "./runtests.sh",
    checkName: "devs-ci",
    report: "checks",
    // As the handler makes them: the CI reporter creates the check when the task is queued.
    checkRunId: null,
    ...snapshot,
    ...overrides.ci,
  };
}

/** A CI task for a push of SHA `a…a` to main. */
export function ciTask(overrides: TaskOverrides = {}): Task {
  const task = base("ci", {
    event: "push",
    action: "",
    ...overrides,
    target: { type: "commit", number: 0, title: "Fix", body: "Fix", state: "", url: "u", ...overrides.target },
    trigger: { reason: "ci", subject: { type: "issue", id: 0 }, body: "", ...overrides.trigger },
  });
  return { ...task, ci: ciSnapshot(overrides, {}) };
}

function ciPullRequestTask(overrides: TaskOverrides, fromFork: boolean): Task {
  const number = overrides.target?.number ?? 3;
  const task = base("ci", {
    event: "pull_request",
    action: "synchronize",
    ...overrides,
    target: { number, ...overrides.target },
    trigger: { reason: "ci", subject: { type: "pull_request", id: number }, body: "", ...overrides.trigger },
  });
  const withPr = withPullRequest(task, overrides, fromFork);
  const snapshot = { ref: `refs/pull/${number}/head`, branch: "feature", trigger: "pull_request" as const, pullRequest: { number, baseRef: "main", fromFork } };
  return { ...withPr, ci: ciSnapshot(overrides, snapshot) };
}

/** A CI task for pull request #3, whose head is in the same repository. */
export function ciTaskOnPullRequest(overrides: TaskOverrides = {}): Task {
  return ciPullRequestTask(overrides, false);
}

/** A CI task for pull request #3 from a fork (`mallory/<repo>`). */
export function ciTaskFromFork(overrides: TaskOverrides = {}): Task {
  return ciPullRequestTask(overrides, true);
}

/** A minimal valid Task for pool and journal tests (the builders above take overrides). */
export function makeTask(repo = "acme/widgets", kind: TaskKind = "agent", id = `t${++counter}`): Task {
  return base(kind, { repo, id });
}

/** The pool's kinds when a test runs every kind through one executor and no reporter. */
export function allKinds(execute: TaskExecutor): TaskKinds {
  return { agent: { execute }, ci: { execute } };
}
