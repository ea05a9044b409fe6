// The composition root: every collaborator of a running process, built once from Settings. `serve`
// builds it whole; a worker builds it without the HTTP server and feeds its pool from SQS, and an
// ingress builds it without the task kinds and hands tasks to SQS; tests build what `serve`
// builds, with their own GitHub client and, where they need it, their own executors.
import type { Logger } from "pino";
import type { ApplicationFunction, Probot } from "probot";
import { renderMetrics } from "../admin/metrics.js";
import type { AdminOperations } from "../admin/routes.js";
import { DevsConfigLoader } from "../config/devs-yml.js";
import { ciConfigLoader, routeHints } from "../config/task-config.js";
import { resolveBotIdentity, type BotIdentity } from "../github/identity.js";
import { PermissionCache } from "../github/permissions.js";
import { createProbot, taskGitHub } from "../github/probot.js";
import { createApp } from "../index.js";
import { createLogger } from "../logging.js";
import { botNames } from "../policy/bot-names.js";
import { createRedactor } from "../publish/redact.js";
import { ContainerPool, type PoolEvent } from "../pool/pool.js";
import { sqsTaskSink } from "./sqs.js";
import type { Settings } from "../settings.js";
import { openDatabase, type Db } from "../tasks/database.js";
import { SqliteDeliveryMemory } from "../tasks/delivery-memory.js";
import type { TaskKinds } from "../tasks/execution.js";
import { TaskJournal } from "../tasks/journal.js";
import type { TaskSink } from "../tasks/sink.js";
import { supersedeQueued } from "../ci/supersede.js";
import { buildTaskKinds, type DockerTaskKinds } from "./task-kinds.js";
import { UsageLedger } from "../budget/ledger.js";

/** Who the process talks to GitHub as. */
export interface GitHubParts {
  log: Logger;
  probot: Probot;
  identity: BotIdentity;
}

export interface ServiceOptions {
  /**
   * The kinds of task this process runs. Default: both, on Docker, as `serve` runs them. `{}`:
   * none here; tasks are journaled and wait for a process that runs them.
   */
  kinds?: TaskKinds | undefined;
  /**
   * Where handlers hand tasks. Default: with TASK_SINK=sqs the task queue (an ingress; pair it
   * with `kinds: {}`), else the pool, which journals them first.
   */
  sink?: TaskSink | undefined;
  /** `queue` for a worker: SQS hands unfinished tasks out again, so the journal does not recover them. */
  recovery?: "journal" | "queue" | undefined;
  /** The pool's events (a worker deletes a task's message once it finished). */
  onPoolEvent?: ((event: PoolEvent) => void | Promise<void>) | undefined;
  /** The clock for every time written to GitHub (default: the system's). */
  now?: (() => Date) | undefined;
  /**
   * The pool's time limit per task in milliseconds (default: CONTAINER_TIMEOUT_MINUTES), for tests
   * that cannot wait a minute; what the runners tell users still names the setting's minutes.
   */
  taskTimeoutMs?: number | undefined;
}

export interface Services extends GitHubParts {
  db: Db;
  memory: SqliteDeliveryMemory;
  journal: TaskJournal;
  pool: ContainerPool;
  /** DEVS.yml with the operator's layers, for handlers, routing and runners alike. */
  devsConfig: DevsConfigLoader;
  /** The Probot app function: events to handlers, with their collaborators. */
  app: ApplicationFunction;
  /** What the admin routes report and control. */
  operations: AdminOperations;
  close(): Promise<void>;
}

/** `serve`'s services: the logger, the GitHub client and the bot's identity first, then the rest. */
export async function openServices(settings: Settings, options: ServiceOptions = {}): Promise<Services> {
  const log = await createLogger(settings);
  const probot = createProbot(settings, log);
  const identity = await resolveBotIdentity(probot, settings, log);
  return buildServices(settings, { log, probot, identity }, options);
}

export function buildServices(settings: Settings, github: GitHubParts, options: ServiceOptions = {}): Services {
  const { log, probot, identity } = github;
  const now = options.now ?? (() => new Date());
  // One cache of who may write where, for every handler and the agent's conversation.
  const permissions = new PermissionCache();
  const devsConfig = new DevsConfigLoader({ envsDir: settings.devsEnvsDir, webUrl: settings.githubWebUrl, log });
  const taskClient = taskGitHub(probot, settings);
  const secrets = secretValues(settings);
  const redact = createRedactor(secrets);
  const db = openDatabase(settings.dataDir);
  const ledger = new UsageLedger(db);
  const built: DockerTaskKinds | null = options.kinds
    ? null
    : buildTaskKinds(settings, { log, identity, github: taskClient, devsConfig, permissions, secrets, redact, now, ledger });
  const kinds = options.kinds ?? built!.kinds;

  const memory = new SqliteDeliveryMemory(db);
  const journal = new TaskJournal(db);
  const hints = routeHints(devsConfig, async (task) => (await taskClient(task)).octokit);
  const pool = new ContainerPool({
    slots: { main: settings.containerPool, ci: settings.ciContainerPool },
    journal,
    log: log.child({ name: "pool" }),
    maxConcurrent: settings.maxConcurrentTasks,
    timeoutMs: options.taskTimeoutMs ?? settings.containerTimeoutMinutes * 60_000,
    kinds,
    cleanup: settings.stopContainerAfterTask ? { mode: "after-task" } : { mode: "idle", idleMs: settings.containerIdleMinutes * 60_000 },
    routeHints: hints,
    ...(built ? { lifecycle: built.lifecycle } : {}),
    ...(options.recovery ? { recovery: options.recovery } : {}),
    ...(options.onPoolEvent ? { onEvent: options.onPoolEvent } : {}),
  });
  const recovered = pool.start();
  if (recovered.requeued || recovered.abandoned) log.info(recovered, "recovered tasks from the journal");
  const missing = (["agent", "ci"] as const).filter((kind) => !kinds[kind]);
  if (missing.length) log.warn({ kinds: missing }, "no runner for these task kinds in this process: their tasks stay queued in the journal");

  const sink =
    options.sink ??
    (settings.taskSink === "sqs" ? sqsTaskSink(settings, { log, singleQueue: async (task) => (await hints(task)).singleQueue }) : pool);
  const bot = botNames(identity);
  const app = createApp({
    bot,
    allowedOwners: settings.allowedOwners,
    authorizedUsers: settings.authorizedTriggerUsers,
    sink,
    memory,
    permissions,
    now,
    cancelTasks: (repo, number, by) => pool.activeOn(repo, "agent", number).filter((id) => pool.cancel(id, { by })).length,
    ci: {
      bot,
      allowedOwners: settings.allowedOwners,
      authorizedUsers: settings.authorizedCiTriggerUsers,
      sink,
      memory,
      permissions,
      checkName: settings.ciCheckName,
      // Only an App can write check runs; a token reports commit statuses instead.
      report: settings.auth.kind === "app" ? "checks" : "statuses",
      now,
      loadCiConfig: ciConfigLoader({ loader: devsConfig, log }),
      supersede: supersedeQueued(journal, pool),
      redact,
    },
  });

  const operations: AdminOperations = {
    status: () => {
      const status = pool.status();
      return {
        mentioned_user: bot.handle,
        auth_mode: settings.auth.kind,
        container_pool: settings.containerPool,
        ci_container_pool: settings.ciContainerPool,
        delivery_memory: memory.stats(),
        // `containers` is the name older builds gave the slots; operators' scripts may read it.
        pool: { ...status, containers: status.slots },
      };
    },
    slots: () => pool.status().slots,
    stopSlot: (slot) => pool.stopSlot(slot),
    cancelTask: (id) => pool.cancel(id, { by: "an operator" }),
    recentTasks: (limit) =>
      journal.recent(limit).map((e) => ({
        id: e.task.id,
        kind: e.task.kind,
        repo: e.task.repo.fullName,
        target: e.task.target.number,
        state: e.state,
        slot: e.slot,
        // The older name of `slot`, kept for operators' scripts.
        container: e.slot,
        attempts: e.attempts,
        detail: e.detail,
        // The model proxy's count for the task (agent tasks; 0 for CI).
        cost_usd: ledger.usageOf(e.task.id).costUsd,
        created_at: new Date(e.createdAt).toISOString(),
        started_at: e.startedAt ? new Date(e.startedAt).toISOString() : null,
        finished_at: e.finishedAt ? new Date(e.finishedAt).toISOString() : null,
      })),
    metrics: () =>
      renderMetrics({ tasks: journal.counts(), containers: pool.status().slots, deliveries: memory.stats().deliveries, model: ledger.totals() }),
  };

  return {
    ...github,
    db,
    memory,
    journal,
    pool,
    devsConfig,
    app,
    operations,
    close: async () => {
      await pool.close();
      await built?.model.close();
      db.close();
    },
  };
}

/** Settings whose values must never appear in anything posted or logged. */
function secretValues(settings: Settings): string[] {
  return [
    settings.webhookSecret,
    settings.auth.kind === "app" ? settings.auth.privateKey : null,
    settings.auth.kind === "token" ? settings.auth.token : null,
    settings.adminPassword,
    settings.claudeApiKey,
    settings.claudeOauthToken,
  ].filter((v): v is string => Boolean(v));
}
