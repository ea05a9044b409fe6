// The order of a reporter's GitHub writes about each task: one at a time, in the order they were
// asked for, whoever asks (the pool does not wait for "started", so a late "running" must still
// land before "done"). Each task has one handle to write through (a progress comment, a check run),
// made on first use and made again by the next write if making it failed (a token could not be
// minted). Shared by the agent's and CI's reporters.
import type { Task } from "../tasks/task.js";

interface Entry<H> {
  handle: Promise<H> | null;
  chain: Promise<unknown>;
}

export class TaskWrites<H> {
  private readonly entries = new Map<string, Entry<H>>();

  constructor(private readonly makeHandle: (task: Task) => Promise<H>) {}

  /**
   * Registers `write` at once; it runs after every write registered before it for the task. The
   * promise rejects as the write does; a failed write never stops the next one.
   */
  write(task: Task, write: (handle: H) => Promise<void>): Promise<void> {
    const entry = this.entry(task);
    const next = entry.chain.then(async () => write(await this.handle(task, entry)));
    entry.chain = next.catch(() => undefined);
    return next;
  }

  /** Resolves once every write registered so far for the task has settled, then forgets the task. */
  async forget(taskId: string): Promise<void> {
    const entry = this.entries.get(taskId);
    if (!entry) return;
    await entry.chain;
    if (this.entries.get(taskId) === entry) this.entries.delete(taskId);
  }

  /** Tasks held (tests: nothing outlives its task). */
  get size(): number {
    return this.entries.size;
  }

  private entry(task: Task): Entry<H> {
    let entry = this.entries.get(task.id);
    if (!entry) {
      entry = { handle: null, chain: Promise.resolve() };
      this.entries.set(task.id, entry);
    }
    return entry;
  }

  private handle(task: Task, entry: Entry<H>): Promise<H> {
    if (entry.handle) return entry.handle;
    const handle = this.makeHandle(task);
    entry.handle = handle;
    handle.catch(() => {
      if (entry.handle === handle) entry.handle = null;
    });
    return handle;
  }
}
