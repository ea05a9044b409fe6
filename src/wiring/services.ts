// Assembles what `serve` runs besides HTTP: the database, delivery memory, task journal and the
// container pool, and the admin operations over them.
import type { Logger } from "pino";
import type { AdminOperations } from "./admin/routes.js";
import { ContainerPool, type PoolOptions } from "./pool/pool.js";
import type { TaskKinds } from "./tasks/execution.js";
import type { Settings } from "./settings.js";
import { openDatabase, type Db } from "./tasks/database.js";
import { SqliteDeliveryMemory } from "./tasks/delivery-memory.js";
import { TaskJournal } from "./tasks/journal.js";
import { renderMetrics } from "./admin/metrics.js";

export interface Runtime {
  db: Db;
  memory: SqliteDeliveryMemory;
  journal: TaskJournal;
  pool: ContainerPool;
  operations: AdminOperations;
  close(): Promise<void>;
}


export type RuntimeHooks = Partial<Pick<PoolOptions, "lifecycle" | "routeHints" | "onEvent">>;

export function createRuntime(settings: Settings, log: Logger, kinds: TaskKinds, hooks: RuntimeHooks = {}): Runtime {
  const db = openDatabase(settings.dataDir);
  const memory = new SqliteDeliveryMemory(db);
  const journal = new TaskJournal(db);
  const pool = new ContainerPool({
    slots: { main: settings.containerPool, ci: settings.ciContainerPool },
    journal,
    log: log.child({ name: "pool" }),
    maxConcurrent: settings.maxConcurrentTasks,
    timeoutMs: settings.containerTimeoutMinutes * 60_000,
    kinds,
    cleanup: settings.stopContainerAfterTask ? { mode: "after-task" } : { mode: "idle", idleMs: settings.containerIdleMinutes * 60_000 },
    ...hooks,
  });
  const recovered = pool.start();
  if (recovered.requeued || recovered.abandoned) log.info(recovered, "recovered tasks from the journal");
  const missing = (["agent", "ci"] as const).filter((kind) => !kinds[kind]);
  if (missing.length) log.warn({ kinds: missing }, "no runner for these task kinds in this process: their tasks stay queued in the journal");

  const operations: AdminOperations = {
    status: () => {
      const status = pool.status();
      // `containers` is the name older builds gave the slots; operators' scripts may read it.
      return { pool: { ...status, containers: status.slots } };
    },
    containers: () => pool.status().slots,
    stopContainer: (name) => pool.stopSlot(name),
    cancelTask: (id) => pool.cancel(id, { by: "an operator" }),
    recentTasks: (limit) =>
      journal.recent(limit).map((e) => ({
        id: e.task.id,
        kind: e.task.kind,
        repo: e.task.repo.fullName,
        target: e.task.target.number,
        state: e.state,
        container: e.container,
        attempts: e.attempts,
        detail: e.detail,
        created_at: new Date(e.createdAt).toISOString(),
        started_at: e.startedAt ? new Date(e.startedAt).toISOString() : null,
        finished_at: e.finishedAt ? new Date(e.finishedAt).toISOString() : null,
      })),
    metrics: () => renderMetrics({ tasks: journal.counts(), containers: pool.status().slots, deliveries: memory.stats().deliveries }),
  };
  return {
    db,
    memory,
    journal,
    pool,
    operations,
    close: async () => {
      await pool.close();
      db.close();
    },
  };
}
