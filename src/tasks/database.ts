// The embedded SQLite database in DATA_DIR that holds what must survive a restart: delivery
// memory, the task journal, the model usage ledger and the CI fix loops. Migrations are numbered and applied in order.
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export type Db = Database.Database;
export type Statement = Database.Statement<unknown[]>;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE seen_delivery (id TEXT PRIMARY KEY, seen_at INTEGER NOT NULL);
   CREATE TABLE seen_content (key TEXT PRIMARY KEY, delivery_id TEXT NOT NULL, seen_at INTEGER NOT NULL);
   CREATE INDEX seen_delivery_at ON seen_delivery (seen_at);
   CREATE INDEX seen_content_at ON seen_content (seen_at);`,
  `CREATE TABLE task (
     id TEXT PRIMARY KEY,
     kind TEXT NOT NULL,
     repo TEXT NOT NULL,
     body TEXT NOT NULL,
     state TEXT NOT NULL,
     container TEXT,
     attempts INTEGER NOT NULL DEFAULT 0,
     detail TEXT,
     created_at INTEGER NOT NULL,
     started_at INTEGER,
     finished_at INTEGER,
     seq INTEGER NOT NULL
   );
   CREATE INDEX task_state ON task (state, seq);
   CREATE TABLE queue_pin (repo TEXT PRIMARY KEY, container TEXT NOT NULL, pinned_at INTEGER NOT NULL);`,
  // What the model proxy counted per task, so monthly budgets and figures survive a restart.
  `CREATE TABLE model_usage (
     task_id TEXT PRIMARY KEY,
     repo TEXT NOT NULL,
     month TEXT NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cache_creation_tokens INTEGER NOT NULL,
     cache_read_tokens INTEGER NOT NULL,
     requests INTEGER NOT NULL,
     cost_usd REAL NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX model_usage_month ON model_usage (repo, month);`,
  // Every delivery the app received, and the redeliveries it asked GitHub for (redelivery.ts);
  // `meta` keeps when this database began, so deliveries from before it are never asked for.
  `CREATE TABLE received_delivery (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL);
   CREATE INDEX received_delivery_at ON received_delivery (received_at);
   CREATE TABLE redelivery_asked (guid TEXT PRIMARY KEY, asked_at INTEGER NOT NULL);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // Where each finished task's time went, as JSON: {"queue": ms, "checkout": ms, ...}.
  `ALTER TABLE task ADD COLUMN phases TEXT;`,
  // The CI fix loop (tasks/fix-loops.ts): each commit the agent pushed to a pull request's branch,
  // and each loop's steps, so a CI run that ends after a restart still finds its loop.
  `CREATE TABLE agent_push (
     repo TEXT NOT NULL,
     sha TEXT NOT NULL,
     branch TEXT NOT NULL,
     pull_number INTEGER NOT NULL,
     root_task TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     slot TEXT NOT NULL,
     pushed_at INTEGER NOT NULL,
     PRIMARY KEY (repo, sha)
   );
   CREATE TABLE fix_loop (
     root_task TEXT PRIMARY KEY,
     repo TEXT NOT NULL,
     branch TEXT NOT NULL,
     thread_number INTEGER NOT NULL,
     pull_number INTEGER NOT NULL,
     steps TEXT NOT NULL,
     closed INTEGER NOT NULL DEFAULT 0,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX fix_loop_branch ON fix_loop (repo, branch);
   CREATE INDEX agent_push_at ON agent_push (pushed_at);`,
  // The journal in the order tasks came: GET /tasks and the dashboard list the newest (ORDER BY seq
  // DESC LIMIT), and every new task takes MAX(seq) + 1; without it both read the whole table, which
  // a backlog of thousands of tasks makes slow (bench/backlog.bench.ts).
  `CREATE INDEX task_seq ON task (seq);`,
  // A repository's queued tasks of one kind (a newer push cancels the older CI runs it finds).
  `CREATE INDEX task_queued_by_repo ON task (repo, kind, state, seq);`,
];

const prepared = new WeakMap<Db, Map<string, Statement>>();

/**
 * The statement for `text`, prepared once per database: nearly every delivery runs a few of
 * these, and preparing cost more than running them.
 */
export function statement(db: Db, text: string): Statement {
  let statements = prepared.get(db);
  if (!statements) prepared.set(db, (statements = new Map()));
  let found = statements.get(text);
  if (!found) statements.set(text, (found = db.prepare(text)));
  return found;
}

interface Grouped {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

const groups = new WeakMap<Db, Grouped[]>();

/**
 * Runs `work` in the database's next group commit: the writes asked for in this turn of the event
 * loop share one transaction, so a storm of deliveries pays one disk sync per turn instead of one
 * each (synchronous = FULL syncs every commit). Each work is its own savepoint: one that throws is
 * undone alone and rejects alone. Resolves once the commit is on disk.
 */
export function grouped<T>(db: Db, work: () => T): Promise<T> {
  let group = groups.get(db);
  if (!group) {
    groups.set(db, (group = []));
    setImmediate(() => commitGroup(db));
  }
  const pending = group;
  return new Promise<T>((resolve, reject) => pending.push({ work, resolve: resolve as (value: unknown) => void, reject }));
}

function commitGroup(db: Db): void {
  const group = groups.get(db) ?? [];
  groups.delete(db);
  const outcomes: Array<{ value: unknown } | { error: unknown }> = [];
  try {
    db.transaction(() => {
      for (const { work } of group) {
        try {
          outcomes.push({ value: db.transaction(work)() });
        } catch (error) {
          outcomes.push({ error });
        }
      }
    })();
  } catch (error) {
    // The commit itself failed (a full or read-only disk, a closed database): nothing was written.
    for (const { reject } of group) reject(error);
    return;
  }
  group.forEach(({ resolve, reject }, i) => {
    const outcome = outcomes[i]!;
    if ("error" in outcome) reject(outcome.error);
    else resolve(outcome.value);
  });
}

export function openDatabase(dataDir: string, fileName = "devs-webhook.db"): Db {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, fileName));
  db.pragma("journal_mode = WAL");
  // FULL: a task acknowledged to GitHub is on disk even if the machine loses power right after.
  db.pragma("synchronous = FULL");
  db.pragma("busy_timeout = 5000");
  migrate(db);
  return db;
}

function migrate(db: Db, migrations: readonly string[] = MIGRATIONS): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  for (let version = current; version < migrations.length; version++) {
    db.transaction(() => {
      db.exec(migrations[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
