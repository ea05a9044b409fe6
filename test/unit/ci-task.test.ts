import { describe, expect, it } from "vitest";
import { parseTask, serializeTask } from "../../src/tasks/task.js";
import { makeTask } from "../helpers/tasks.js";

describe("CI tasks in the journal and on SQS", () => {
  it("the ci snapshot survives serialisation", () => {
    const task = makeTask("acme/widgets", "ci", "ci-d1");
    task.target = { type: "commit", number: 0, title: "Fix", body: "Fix", author: "alice", state: "", url: "u", labels: [] };
    task.trigger = { reason: "ci", subject: { type: "issue", id: 0 }, author: "alice", body: "", url: "u" };
    task.ci = {
      headSha: "a".repeat(40),
      ref: "refs/heads/main",
      branch: "main",
      trigger: "push",
      pullRequest: null,
      testCommand: "./runtests.sh",
      checkName: "devs-ci",
      report: "checks",
      checkRunId: 12,
    };
    expect(parseTask(serializeTask(task))).toEqual(task);
  });

  it("a task written before the ci field existed still reads (TASK_VERSION stays 1)", () => {
    const old = makeTask("acme/widgets", "agent", "agent-d1");
    const json = serializeTask(old);
    expect(JSON.parse(json)).not.toHaveProperty("ci");
    expect(parseTask(json)).toEqual(old);
    expect(parseTask(json).version).toBe(1);
  });
});
