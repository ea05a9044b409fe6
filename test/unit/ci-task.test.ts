import { describe, expect, it } from "vitest";
import { parseTask, serializeTask } from "../../src/tasks/task.js";
import { ciTask, ciTaskFromFork, makeTask } from "../helpers/tasks.js";

describe("CI tasks in the journal and on SQS", () => {
  it("the ci snapshot survives serialisation", () => {
    for (const task of [ciTask({ id: "ci-d1" }), ciTaskFromFork({ ci: { checkRunId: null, report: "statuses" } })]) {
      expect(parseTask(serializeTask(task))).toEqual(task);
    }
  });

  it("a task written before the ci field existed still reads (TASK_VERSION stays 1)", () => {
    const old = makeTask("acme/widgets", "agent", "agent-d1");
    const json = serializeTask(old);
    expect(JSON.parse(json)).not.toHaveProperty("ci");
    expect(parseTask(json)).toEqual(old);
    expect(parseTask(json).version).toBe(1);
  });
});
