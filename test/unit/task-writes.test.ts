// The order of a reporter's writes per task: in the order asked, whatever each takes; a failed
// write or handle never blocks the next; a task is forgotten once its writes have settled.
import { describe, expect, it } from "vitest";
import { TaskWrites } from "../../src/publish/task-writes.js";
import { makeTask } from "../helpers/tasks.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("TaskWrites", () => {
  it("runs one task's writes in the order they were asked for, even when an earlier one is slow", async () => {
    const writes = new TaskWrites(async () => "handle");
    const task = makeTask();
    const done: string[] = [];
    const slow = writes.write(task, async () => (await sleep(50), void done.push("running")));
    const fast = writes.write(task, async () => void done.push("done"));
    await Promise.all([slow, fast]);
    expect(done).toEqual(["running", "done"]);
  });

  it("a failed write rejects its caller and the next write still runs", async () => {
    const writes = new TaskWrites(async () => "handle");
    const task = makeTask();
    const failed = writes.write(task, async () => {
      throw new Error("GitHub said 502");
    });
    const next = writes.write(task, async (h) => void expect(h).toBe("handle"));
    await expect(failed).rejects.toThrow("GitHub said 502");
    await expect(next).resolves.toBeUndefined();
  });

  it("a handle that could not be made is made again by the next write, and kept once made", async () => {
    let asked = 0;
    const writes = new TaskWrites(async (task) => {
      if (++asked === 1) throw new Error("no token");
      return `publisher of ${task.id}`;
    });
    const task = makeTask("acme/widgets", "agent", "t-handle");
    await expect(writes.write(task, async () => undefined)).rejects.toThrow("no token");
    const seen: string[] = [];
    await writes.write(task, async (h) => void seen.push(h));
    await writes.write(task, async (h) => void seen.push(h));
    expect(seen).toEqual(["publisher of t-handle", "publisher of t-handle"]);
    expect(asked).toBe(2);
  });

  it("forgets a task once its writes have settled, not before", async () => {
    const writes = new TaskWrites(async () => "handle");
    const task = makeTask();
    let finished = false;
    void writes.write(task, async () => (await sleep(30), void (finished = true)));
    expect(writes.size).toBe(1);
    await writes.forget(task.id);
    expect(finished).toBe(true);
    expect(writes.size).toBe(0);
  });
});
