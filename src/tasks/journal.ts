// The task journal: every task is written here (synchronously, fsync'd) before GitHub is answered,
// with its state and timings, so a crash or restart loses nothing. On start, tasks that were
// queued are queued again; a running one was interrupted and is retried once.
import { grouped, statement, type Db, type Statement } from "./database.js";
import { parsePhases, type PhaseTimings } from "./phases.js";
import { parseTask, serializeTask, type Task } from "./task.js";

export type TaskState = "queued" | "running" | "done" | "failed" | "timed_out" | "cancelled";

export interface JournalEntry {
  task: Task;
  state: TaskState;
  /** The slot it was queued for or ran in (the column is `container`, its name in older builds). */
  slot: string | null;
  attempts: number;
  detail: string | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Where a finished task's time went (milliseconds); null when it never ran or finished before phases were kept. */
  phases: PhaseTimings | null;
}

export interface Recovery {
  /** Tasks to queue again, oldest first; `interrupted` when they were running at the crash. */
  requeue: Array<{ task: Task; interrupted: boolean; slot: string | null }>;
  /** Tasks interrupted twice: given up and marked failed. */
  abandoned: Task[];
}

interface Row {
  body: string;
  state: TaskState;
  container: string | null;
  attempts: number;
  detail: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  phases: string | null;
}

/** How long an assigned slot may wait to be written with others. */
const ASSIGN_DELAY_MS = 20;

/** A task interrupted by a restart is retried this many times in all. */
const MAX_ATTEMPTS = 2;

export class TaskJournal {
  /**
   * Slots set by `assign` and not yet written. Each write is its own fsync'd transaction, and a
   * restart with a backlog assigns every task within moments: they are written together a few
   * milliseconds later, or before anything reads the slots back. A slot is only what
   * status shows for a queued task, so a crash that loses one loses nothing a restart needs.
   */
  private readonly assigned = new Map<string, string>();
  private assignFlush: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  private sql(text: string): Statement {
    return statement(this.db, text);
  }

  /** Records a new task as queued, in a commit of its own. False when a task with this id is already known. */
  add(task: Task): boolean {
    const seq = (this.sql("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM task").get() as { n: number }).n;
    const result = this
      .sql(
        `INSERT OR IGNORE INTO task (id, kind, repo, body, state, created_at, seq) VALUES (?, ?, ?, ?, 'queued', ?, ?)`,
      )
      .run(task.id, task.kind, task.repo.fullName.toLowerCase(), serializeTask(task), this.now(), seq);
    return result.changes === 1;
  }

  /** As `add`, in the database's next group commit (a storm of deliveries shares its disk syncs); on disk when it resolves. */
  addGrouped(task: Task): Promise<boolean> {
    return grouped(this.db, () => this.add(task));
  }

  markRunning(id: string, slot: string): void {
    this
      .sql("UPDATE task SET state = 'running', container = ?, started_at = ?, attempts = attempts + 1 WHERE id = ?")
      .run(slot, this.now(), id);
  }

  /** Sets the slot a queued task waits for (routing), so status shows it; written with others. */
  assign(id: string, slot: string): void {
    this.assigned.set(id, slot);
    this.assignFlush ??= setTimeout(() => this.writeAssigned(), ASSIGN_DELAY_MS).unref();
  }

  /** Writes the slots that wait to be written: before they are read, and before the database closes. */
  flush(): void {
    if (this.assigned.size) this.writeAssigned();
  }

  private writeAssigned(): void {
    if (this.assignFlush) clearTimeout(this.assignFlush);
    this.assignFlush = null;
    const slots = [...this.assigned];
    this.assigned.clear();
    // Closed with slots unwritten (a test that closes the database itself): nothing to write to.
    if (!this.db.open) return;
    const update = this.sql("UPDATE task SET container = ? WHERE id = ? AND state = 'queued'");
    this.db.transaction(() => {
      for (const [id, slot] of slots) update.run(slot, id);
    })();
  }

  /** Back to queued without counting the attempt (a graceful shutdown interrupted it). */
  requeue(id: string): void {
    this.sql("UPDATE task SET state = 'queued', attempts = MAX(attempts - 1, 0) WHERE id = ? AND state = 'running'").run(id);
  }

  finish(id: string, state: Exclude<TaskState, "queued" | "running">, detail: string | null = null, phases: PhaseTimings | null = null): void {
    this
      .sql("UPDATE task SET state = ?, detail = ?, finished_at = ?, phases = ? WHERE id = ?")
      .run(state, detail, this.now(), phases ? JSON.stringify(phases) : null, id);
  }

  /** `active`: queued or running here; `final`: it ended here; null: never seen. */
  known(id: string): "final" | "active" | null {
    const row = this.sql("SELECT state FROM task WHERE id = ?").get(id) as { state: TaskState } | undefined;
    if (!row) return null;
    return row.state === "queued" || row.state === "running" ? "active" : "final";
  }

  get(id: string): JournalEntry | null {
    this.flush();
    const row = this.sql("SELECT * FROM task WHERE id = ?").get(id) as Row | undefined;
    return row ? toEntry(row) : null;
  }

  /** Newest first. */
  recent(limit = 50): JournalEntry[] {
    this.flush();
    return (this.sql("SELECT * FROM task ORDER BY seq DESC LIMIT ?").all(limit) as Row[]).map(toEntry);
  }

  counts(): Record<TaskState, number> {
    const counts: Record<TaskState, number> = { queued: 0, running: 0, done: 0, failed: 0, timed_out: 0, cancelled: 0 };
    for (const row of this.sql("SELECT state, COUNT(*) AS n FROM task GROUP BY state").all() as Array<{ state: TaskState; n: number }>) {
      counts[row.state] = row.n;
    }
    return counts;
  }

  /** Tasks of one kind and repository that have not started, oldest first (a newer push supersedes CI runs). */
  queued(kind: Task["kind"], repo: string): Task[] {
    const rows = this
      .sql("SELECT body FROM task WHERE kind = ? AND repo = ? AND state = 'queued' ORDER BY seq")
      .all(kind, repo.toLowerCase()) as Array<{ body: string }>;
    return rows.map((row) => parseTask(row.body));
  }

  /** Forgets finished tasks older than the retention, so the journal stays small. */
  prune(retentionDays = 30): number {
    const cutoff = this.now() - retentionDays * 24 * 60 * 60 * 1000;
    const result = this
      .sql("DELETE FROM task WHERE state IN ('done', 'failed', 'timed_out', 'cancelled') AND COALESCE(finished_at, created_at) < ?")
      .run(cutoff);
    return result.changes;
  }

  /** Called once at start-up, before new deliveries are accepted. */
  recover(): Recovery {
    this.flush();
    const rows = this
      .sql("SELECT * FROM task WHERE state IN ('queued', 'running') ORDER BY seq")
      .all() as Array<Row & { id: string }>;
    const recovery: Recovery = { requeue: [], abandoned: [] };
    this.db.transaction(() => {
      for (const row of rows) {
        const task = parseTask(row.body);
        if (row.state === "running" && row.attempts >= MAX_ATTEMPTS) {
          this.finish(row.id, "failed", "interrupted by a restart twice; not retried again");
          recovery.abandoned.push(task);
          continue;
        }
        if (row.state === "running") {
          this.sql("UPDATE task SET state = 'queued', detail = 'interrupted by a restart; retrying' WHERE id = ?").run(row.id);
        }
        recovery.requeue.push({ task, interrupted: row.state === "running", slot: row.container });
      }
    })();
    return recovery;
  }

  /**
   * For a worker whose tasks come from SQS: the queue hands back whatever did not finish, so the
   * journal forgets its unfinished tasks instead of running them a second time. Finished ones stay
   * (a late copy of a finished task's message is deleted without running it again).
   */
  forgetUnfinished(): number {
    return this.sql("DELETE FROM task WHERE state IN ('queued', 'running')").run().changes;
  }

  // --- single_queue pins: a repository's tasks all go to one slot, across restarts.

  pinOf(repo: string): string | null {
    const row = this.sql("SELECT container FROM queue_pin WHERE repo = ?").get(repo.toLowerCase()) as { container: string } | undefined;
    return row?.container ?? null;
  }

  pin(repo: string, slot: string): void {
    this
      .sql("INSERT INTO queue_pin (repo, container, pinned_at) VALUES (?, ?, ?) ON CONFLICT(repo) DO UPDATE SET container = excluded.container, pinned_at = excluded.pinned_at")
      .run(repo.toLowerCase(), slot, this.now());
  }

  unpin(repo: string): void {
    this.sql("DELETE FROM queue_pin WHERE repo = ?").run(repo.toLowerCase());
  }

  pins(): Record<string, string> {
    const rows = this.sql("SELECT repo, container FROM queue_pin ORDER BY repo").all() as Array<{ repo: string; container: string }>;
    return Object.fromEntries(rows.map((r) => [r.repo, r.container]));
  }
}

function toEntry(row: Row): JournalEntry {
  return {
    task: parseTask(row.body),
    state: row.state,
    slot: row.container,
    attempts: row.attempts,
    detail: row.detail,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    phases: parsePhases(row.phases),
  };
}
