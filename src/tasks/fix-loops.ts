// The CI fix loops' store, in the server's database: the commits the agent pushed to pull
// requests' branches (so a finished CI run knows whether the commit was the agent's), and each
// loop's steps and whether it was stopped. Only the CI fix loop (ci/fix-loop.ts) writes it.
import type { AgentPush } from "../policy/ci-fix.js";
import { statement, type Db } from "./database.js";

/** One step of a loop, as its line on the root task's comment tells it (publish/loop-line.ts). */
export type LoopStep =
  /** `failed`: failed and errored JUnit tests, or null without reports (then the exit code). */
  | { kind: "ci_failed"; failed: number | null; exitCode: number | null }
  | { kind: "fixing"; attempt: number; of: number }
  | { kind: "passed" }
  /** `failing`: names of the tests that still fail (the first few). */
  | { kind: "gave_up"; attempts: number; failing: string[]; exitCode: number | null }
  /** The loop ended early: `why` completes "stopped: …" (a push by @carol, a new request by @dave). */
  | { kind: "stopped"; why: string };

export interface FixLoop {
  rootTask: string;
  repo: string;
  branch: string;
  /** The issue or pull request the root task answered (its progress comment is there). */
  threadNumber: number;
  pullNumber: number;
  steps: LoopStep[];
  closed: boolean;
}

interface PushRow {
  repo: string;
  sha: string;
  branch: string;
  pull_number: number;
  root_task: string;
  attempt: number;
  slot: string;
}

interface LoopRow {
  root_task: string;
  repo: string;
  branch: string;
  thread_number: number;
  pull_number: number;
  steps: string;
  closed: number;
}

const toPush = (row: PushRow): AgentPush => ({
  repo: row.repo,
  sha: row.sha,
  branch: row.branch,
  pullNumber: row.pull_number,
  rootTask: row.root_task,
  attempt: row.attempt,
  slot: row.slot,
});

const toLoop = (row: LoopRow): FixLoop => ({
  rootTask: row.root_task,
  repo: row.repo,
  branch: row.branch,
  threadNumber: row.thread_number,
  pullNumber: row.pull_number,
  steps: JSON.parse(row.steps) as LoopStep[],
  closed: row.closed === 1,
});

export class FixLoops {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /** The agent pushed `push.sha`; a push of the same commit again keeps the first record. */
  recordPush(push: AgentPush & { threadNumber: number }): void {
    const repo = push.repo.toLowerCase();
    this.db.transaction(() => {
      statement(
        this.db,
        `INSERT OR IGNORE INTO agent_push (repo, sha, branch, pull_number, root_task, attempt, slot, pushed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(repo, push.sha, push.branch, push.pullNumber, push.rootTask, push.attempt, push.slot, this.now());
      statement(
        this.db,
        `INSERT OR IGNORE INTO fix_loop (root_task, repo, branch, thread_number, pull_number, steps, updated_at) VALUES (?, ?, ?, ?, ?, '[]', ?)`,
      ).run(push.rootTask, repo, push.branch, push.threadNumber, push.pullNumber, this.now());
    })();
  }

  pushOf(repo: string, sha: string): AgentPush | null {
    const row = statement(this.db, `SELECT * FROM agent_push WHERE repo = ? AND sha = ?`).get(repo.toLowerCase(), sha) as PushRow | undefined;
    return row ? toPush(row) : null;
  }

  loop(rootTask: string): FixLoop | null {
    const row = statement(this.db, `SELECT * FROM fix_loop WHERE root_task = ?`).get(rootTask) as LoopRow | undefined;
    return row ? toLoop(row) : null;
  }

  /** Loops not yet ended on a branch of the repository. */
  openOnBranch(repo: string, branch: string): FixLoop[] {
    const rows = statement(this.db, `SELECT * FROM fix_loop WHERE repo = ? AND branch = ? AND closed = 0`).all(repo.toLowerCase(), branch) as LoopRow[];
    return rows.map(toLoop);
  }

  /** Loops not yet ended whose issue or pull request is `number`. */
  openOnThread(repo: string, number: number): FixLoop[] {
    const rows = statement(this.db, `SELECT * FROM fix_loop WHERE repo = ? AND (thread_number = ? OR pull_number = ?) AND closed = 0`)
      .all(repo.toLowerCase(), number, number) as LoopRow[];
    return rows.map(toLoop);
  }

  /**
   * Adds steps to a loop still open, and ends it with `close`. False when the loop had already
   * ended (a stop and a CI run's end racing): the first to end it is the one that is told.
   */
  addSteps(rootTask: string, steps: readonly LoopStep[], close: boolean): boolean {
    return this.db.transaction(() => {
      const loop = this.loop(rootTask);
      if (!loop || loop.closed) return false;
      statement(this.db, `UPDATE fix_loop SET steps = ?, closed = ?, updated_at = ? WHERE root_task = ?`)
        .run(JSON.stringify([...loop.steps, ...steps]), close ? 1 : 0, this.now(), rootTask);
      return true;
    })();
  }
}
