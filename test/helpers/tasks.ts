import type { TaskExecutor, TaskKinds } from "../../src/tasks/execution.js";
import { TASK_VERSION, type Task, type TaskKind } from "../../src/tasks/task.js";

let counter = 0;

/** A minimal valid Task for pool and journal tests. */
export function makeTask(repo = "acme/widgets", kind: TaskKind = "agent", id = `t${++counter}`): Task {
  const [owner, name] = repo.split("/") as [string, string];
  return {
    version: TASK_VERSION,
    id,
    kind,
    createdAt: new Date(0).toISOString(),
    deliveryId: `d-${id}`,
    event: "issue_comment",
    action: "created",
    installationId: 1,
    repo: { owner, name, fullName: repo, defaultBranch: "main", private: false, cloneUrl: `https://example.invalid/${repo}.git`, htmlUrl: `https://example.invalid/${repo}` },
    target: { type: "issue", number: 1, title: "t", body: "", author: "alice", state: "open", url: "u", labels: [] },
    trigger: { reason: "mention", subject: { type: "issue_comment", id: 1 }, author: "alice", body: "@bot go", url: "u" },
    sender: "alice",
  };
}

/** The pool's kinds when a test runs every kind through one executor and no reporter. */
export function allKinds(execute: TaskExecutor): TaskKinds {
  return { agent: { execute }, ci: { execute } };
}
