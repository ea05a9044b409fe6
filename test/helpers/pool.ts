// A real ContainerPool with its journal on a temporary disk, for tests that drive a kind's executor
// and reporter the way `serve` does: queued, started (not awaited), executed, finished with the
// pool's own final state.
import { pino, type Logger } from "pino";
import { ContainerPool, type PoolEvent } from "../../src/pool/pool.js";
import { openDatabase } from "../../src/tasks/database.js";
import type { TaskKindRunner } from "../../src/tasks/execution.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import type { Task } from "../../src/tasks/task.js";
import { tempDir } from "./settings.js";

export type FinishedEvent = Extract<PoolEvent, { type: "finished" }>;

export interface TestPoolOptions {
  /** The one slot, for both kinds. */
  slot?: string;
  timeoutMs?: number;
  log?: Logger;
  /** The journal's directory: a second pool on the same one is the next start. */
  dataDir?: string;
  /**
   * The pool's and the journal's clock; by default it stands still, so the queue wait (shown in
   * final comments and check summaries) is always 0.0s.
   */
  now?: () => number;
}

/** A started pool whose one slot runs `runner` for the task's kind. */
export function testPool<R>(kind: Task["kind"], runner: TaskKindRunner<R>, options: TestPoolOptions = {}) {
  const slot = options.slot ?? "eamonn";
  const events: PoolEvent[] = [];
  const now = options.now ?? (() => 0);
  const journal = new TaskJournal(openDatabase(options.dataDir ?? tempDir("devs-test-pool-")), now);
  const pool = new ContainerPool({
    slots: { main: [slot], ci: [slot] },
    kinds: { [kind]: runner },
    journal,
    log: options.log ?? pino({ level: "silent" }),
    maxConcurrent: 1,
    timeoutMs: options.timeoutMs ?? 60_000,
    abortGraceMs: 5_000,
    onEvent: (event) => void events.push(event),
    now,
  });
  pool.start();
  /**
   * The task's end, once its reporter has said it: the event follows the reporter's `finished`.
   * Waited for, not only the queues: a task given up at start never reaches one.
   */
  const finished = async (task: Task, ms = 10_000): Promise<FinishedEvent> => {
    const until = Date.now() + ms;
    for (;;) {
      await pool.idle();
      const end = events.find((e): e is FinishedEvent => e.type === "finished" && e.task.id === task.id);
      if (end) return end;
      if (Date.now() > until) throw new Error(`task ${task.id} did not finish within ${ms} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  return { pool, journal, events, finished };
}

/** Submits one task to a fresh pool and resolves with its end, after the reporter's last write. */
export async function runInPool<R>(task: Task, runner: TaskKindRunner<R>, options: TestPoolOptions = {}): Promise<FinishedEvent> {
  const { pool, finished } = testPool(task.kind, runner, options);
  await pool.submit(task);
  const end = await finished(task);
  await pool.close();
  return end;
}
