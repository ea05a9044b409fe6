// Where a handler hands a Task. Submitting must be quick and durable enough to answer GitHub;
// running it is the sink's business and is never awaited by the handler.
import type { Task } from "./task.js";

export interface SubmitResult {
  /** Tasks ahead of this one, when the sink knows. */
  position?: number | undefined;
}

export interface TaskSink {
  submit(task: Task): Promise<SubmitResult>;
}

/** Keeps tasks in memory, in order. For tests, and for `serve` until an executor is wired. */
export class MemoryTaskSink implements TaskSink {
  readonly tasks: Task[] = [];

  async submit(task: Task): Promise<SubmitResult> {
    this.tasks.push(task);
    return { position: this.tasks.length - 1 };
  }
}
