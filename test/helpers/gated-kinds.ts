// Task kinds whose executor runs until the test lets a task go (or the pool aborts it), for tests
// that watch tasks queue, run and end from the outside: the dashboard, the event stream.
import type { RunResult, TaskKinds } from "../../src/tasks/execution.js";
import { allKinds } from "./tasks.js";

export interface Gates {
  kinds: TaskKinds;
  /** Ends the task's run as done (also before it started: it then ends as soon as it starts). */
  release(id: string): void;
  /** Ids of tasks whose executor has started, in order. */
  started: string[];
}

export function gatedKinds(): Gates {
  const waiting = new Map<string, () => void>();
  const released = new Set<string>();
  const started: string[] = [];
  const kinds = allKinds(
    (task, ctx) =>
      new Promise<RunResult>((resolve) => {
        started.push(task.id);
        const done = () => resolve({ state: "done" });
        if (released.has(task.id)) return done();
        waiting.set(task.id, done);
        // A cancel or a time limit: the pool decides the final state.
        ctx.signal.addEventListener("abort", () => resolve({ state: "failed", detail: "aborted" }), { once: true });
      }),
  );
  return {
    kinds,
    started,
    release: (id) => {
      released.add(id);
      waiting.get(id)?.();
    },
  };
}
