// The composition root: every collaborator of a running process, built once from Settings. `serve`
// builds it whole; a worker builds it without the HTTP server and feeds its pool from SQS, and an
// ingress builds it without the task kinds and hands tasks to SQS; tests build what `serve`
// builds, with their own GitHub client and, where they need it, their own executors.
import type { Logger } from "pino";
import type { ApplicationFunction, Probot } from "probot";
import { DevsMetrics } from "../admin/metrics.js";
import { taskLinks, type PoolView, type SlotTask } from "../admin/dashboard.js";
import type { LiveEvent } from "../admin/live.js";
import type { AdminOperations } from "../admin/routes.js";
import { DevsConfigLoader } from "../config/devs-yml.js";
import { ciConfigLoader, routeHints } from "../config/task-config.js";
import { resolveBotIdentity, type BotIdentity } from "../github/identity.js";
import { PermissionCache } from "../github/permissions.js";
import { RedeliverySweeper } from "../github/redelivery.js";
import { createProbot, taskGitHub } from "../github/probot.js";
import { createApp } from "../index.js";
import { createLogger } from "../logging.js";
import { botNames } from "../policy/bot-names.js";
import { createRedactor } from "../publish/redact.js";
import { ContainerPool, type ContainerLifecycle, type PoolEvent } from "../pool/pool.js";
import { sqsTaskSink } from "./sqs.js";
import type { Settings } from "../settings.js";
import { openDatabase, type Db } from "../tasks/database.js";
import { SqliteDeliveryMemory } from "../tasks/delivery-memory.js";
import type { TaskKinds } from "../tasks/execution.js";
import { TaskJournal } from "../tasks/journal.js";
import type { TaskSink } from "../tasks/sink.js";
import type { Task } from "../tasks/task.js";
import { supersedeQueued } from "../ci/supersede.js";
import { buildTaskKinds, type DockerTaskKinds } from "./task-kinds.js";
import { UsageLedger } from "../budget/ledger.js";
import type { AgentReport } from "../agent/report.js";
import { CiFixLoop } from "../ci/fix-loop.js";
import type { CiReport } from "../ci/reporter.js";
import { Acknowledgements } from "../publish/acknowledgements.js";
import { LoopNarrator } from "../publish/loop-narrator.js";
import type { TaskEnd } from "../tasks/execution.js";
import { FixLoops } from "../tasks/fix-loops.js";
import { phasesInSeconds } from "../tasks/phases.js";
import { checkTaskLogToken, publicTaskLogUrl, TaskLogs } from "../tasks/task-logs.js";
import { VERSION } from "../version.js";
import { DeliveryOutcomes } from "../webhooks/outcomes.js";

/** Who the process talks to GitHub as. */
export interface GitHubParts {
  log: Logger;
  probot: Probot;
  identity: BotIdentity;
  /** The task logs `log` writes to (openServices); without them no task's log is kept or served. */
  taskLogs?: TaskLogs | undefined;
}

export interface ServiceOptions {
  /**
   * The kinds of task this process runs. Default: both, on Docker, as `serve` runs them. `{}`:
   * none here; tasks are journaled and wait for a process that runs them.
   */
  kinds?: TaskKinds | undefined;
  /** The pool's hold on containers for `kinds` given here (default: none; Docker's with the default kinds). */
  lifecycle?: ContainerLifecycle | undefined;
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
  /** This process's metrics, on its own registry. */
  metrics: DevsMetrics;
  /** What became of each delivery: the server counts it, the handlers note their decisions. */
  deliveries: DeliveryOutcomes;
  /** The 👀 written after deliveries are answered (a Lambda instance waits for them before it answers). */
  acknowledgements: Acknowledgements;
  close(): Promise<void>;
}

/**
 * `serve`'s services: the logger, the GitHub client and the bot's identity first, then the rest,
 * and in App mode the sweep that asks GitHub again for missed deliveries (github/redelivery.ts).
 */
export async function openServices(settings: Settings, options: ServiceOptions = {}): Promise<Services> {
  const taskLogs = openTaskLogs(settings, (error) => log.warn({ err: error, dir: settings.taskLogDir }, "cannot write task logs; they are not kept"));
  const log = await createLogger(settings, taskLogs?.stream());
  const probot = createProbot(settings, log);
  const identity = await resolveBotIdentity(probot, settings, log);
  const services = buildServices(settings, { log, probot, identity, taskLogs }, options);
  if (settings.auth.kind !== "app" || !settings.redeliverMissed) return services;
  const sweeper = new RedeliverySweeper({ appClient: () => probot.auth(), memory: services.memory, log: log.child({ name: "redelivery" }) });
  sweeper.start(settings.redeliveryIntervalMinutes * 60_000);
  return {
    ...services,
    close: async () => {
      await sweeper.stop();
      await services.close();
    },
  };
}

/** The task logs of TASK_LOG_DIR, redacted with the settings' secrets; null when they are off. */
export function openTaskLogs(settings: Settings, warn: (error: unknown) => void): TaskLogs | undefined {
  if (!settings.taskLogDir) return undefined;
  return new TaskLogs({ dir: settings.taskLogDir, redact: createRedactor(secretValues(settings)), warn });
}

export function buildServices(settings: Settings, github: GitHubParts, options: ServiceOptions = {}): Services {
  const { log, probot, identity } = github;
  const taskLogs = github.taskLogs ?? null;
  const pruneLogs = taskLogs ? pruneEveryDay(taskLogs, settings.taskLogRetentionDays, log) : null;
  const webhookSecret = settings.webhookSecret;
  const logUrl =
    taskLogs && settings.publicUrl && webhookSecret ? (task: Task) => publicTaskLogUrl(settings.publicUrl!, webhookSecret, task.id) : null;
  const now = options.now ?? (() => new Date());
  // One cache of who may write where, for every handler and the agent's conversation.
  const permissions = new PermissionCache();
  const devsConfig = new DevsConfigLoader({ envsDir: settings.devsEnvsDir, webUrl: settings.githubWebUrl, log });
  const taskClient = taskGitHub(probot, settings);
  const secrets = secretValues(settings);
  const redact = createRedactor(secrets);
  const bot = botNames(identity);
  const db = openDatabase(settings.dataDir);
  const ledger = new UsageLedger(db);
  const fixLoops = new FixLoops(db);
  const built: DockerTaskKinds | null = options.kinds
    ? null
    : buildTaskKinds(settings, { log, identity, bot, github: taskClient, devsConfig, permissions, secrets, redact, now, ledger, fixLoops, logUrl });
  const kinds = options.kinds ?? built!.kinds;

  const memory = new SqliteDeliveryMemory(db);
  const journal = new TaskJournal(db);
  // The gauges are read at scrape time, when the pool below exists.
  const metrics = new DevsMetrics(
    { slots: () => pool.status().slots, deliveriesRemembered: () => memory.stats().deliveries, model: () => ledger.totals() },
    { version: VERSION },
  );
  const deliveries = new DeliveryOutcomes((event, outcome) => metrics.delivery(event, outcome));
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
    ...(built ? { lifecycle: built.lifecycle } : options.lifecycle ? { lifecycle: options.lifecycle } : {}),
    ...(options.recovery ? { recovery: options.recovery } : {}),
    onEvent: (event) => {
      if (event.type === "finished") {
        metrics.taskFinished(event.task.kind, event.state, event.ran?.phases);
        // After the task's own reporter has spoken: the loop's line comes after its last word.
        if (event.task.kind === "ci") void ciFixLoop.ciFinished(event.task, event as TaskEnd<CiReport>).catch(loopFailed);
        else if (event.task.fix) void ciFixLoop.fixEnded(event.task, event as TaskEnd<AgentReport>).catch(loopFailed);
      }
      options.onPoolEvent?.(event);
    },
  });
  const loopFailed = (error: unknown) => log.error({ err: error }, "the CI fix loop failed");
  const ciFixLoop = new CiFixLoop({
    loops: fixLoops,
    journal,
    sink: pool,
    cancelFixes: (match, by) => pool.activeWhere((task) => task.fix !== undefined && match(task)).filter((id) => pool.cancel(id, { by })),
    narrator: new LoopNarrator({ github: taskClient, log: log.child({ name: "ci-fix-loop" }) }),
    attemptsMax: settings.ciFixAttemptsMax,
    now,
    log: log.child({ name: "ci-fix-loop" }),
  });
  const recovered = pool.start();
  if (recovered.requeued || recovered.abandoned) log.info(recovered, "recovered tasks from the journal");
  const sink =
    options.sink ??
    (settings.taskSink === "sqs" ? sqsTaskSink(settings, { log, singleQueue: async (task) => (await hints(task)).singleQueue }) : pool);
  // An ingress hands every task on and runs none: that is no reason to warn.
  const missing = (["agent", "ci"] as const).filter((kind) => !kinds[kind]);
  if (missing.length && sink === pool) log.warn({ kinds: missing }, "no runner for these task kinds in this process: their tasks stay queued in the journal");
  const acknowledgements = new Acknowledgements();
  const app = createApp({
    acknowledgements,
    bot,
    allowedOwners: settings.allowedOwners,
    authorizedUsers: settings.authorizedTriggerUsers,
    sink,
    memory,
    outcomes: deliveries,
    permissions,
    now,
    cancelTasks: async (repo, number, by) => {
      const loops = await ciFixLoop.stopOnThread(repo, number, `${by} asked to stop`, by);
      return pool.activeOn(repo, "agent", number).filter((id) => pool.cancel(id, { by })).length + loops;
    },
    requestArrived: (repo, number, by) => ciFixLoop.stopOnThread(repo, number, `a new request by @${by}`, `@${by}`),
    ci: {
      bot,
      allowedOwners: settings.allowedOwners,
      authorizedUsers: settings.authorizedCiTriggerUsers,
      sink,
      memory,
      outcomes: deliveries,
      permissions,
      checkName: settings.ciCheckName,
      // Only an App can write check runs; a token reports commit statuses instead.
      report: settings.auth.kind === "app" ? "checks" : "statuses",
      now,
      loadCiConfig: ciConfigLoader({ loader: devsConfig, log }),
      supersede: supersedeQueued(journal, pool),
      redact,
      branchPushed: (repo, branch, sender) => ciFixLoop.humanPushed(repo, branch, sender),
    },
  });

  const warm = warmPlacesEvery(pool, WARM_PLACES_MAX_AGE_MS, log);
  const operations: AdminOperations = {
    status: () => {
      const status = pool.status();
      return {
        mentioned_user: bot.handle,
        auth_mode: settings.auth.kind,
        container_pool: settings.containerPool,
        ci_container_pool: settings.ciContainerPool,
        // Who may do what, and how containers are cleaned up: what operators of the original saw here.
        authorized_trigger_users: describeAllowList(settings.authorizedTriggerUsers),
        authorized_ci_trigger_users: describeAllowList(settings.authorizedCiTriggerUsers),
        allowed_owners: settings.allowedOwners,
        stop_container_after_task: settings.stopContainerAfterTask,
        container_idle_minutes: settings.containerIdleMinutes,
        container_timeout_minutes: settings.containerTimeoutMinutes,
        max_concurrent_tasks: settings.maxConcurrentTasks,
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
        title: e.task.target.title,
        ...taskLinks(e.task),
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
        // Seconds per phase, the queue wait included; null before the task finished.
        phases: e.phases ? phasesInSeconds(e.phases) : null,
      })),
    metrics: () => metrics.exposition(),
    ...(taskLogs
      ? {
          taskLog: (id: string) => taskLogs.read(id),
          publicTaskLog: async (id: string, token: string) =>
            settings.publicUrl && webhookSecret && checkTaskLogToken(webhookSecret, id, token) ? taskLogs.read(id) : null,
        }
      : {}),
    poolView: async () => poolView(pool, settings, await warm()),
    subscribe: (listener) => pool.observe((event) => listener(liveEvent(event))),
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
    metrics,
    deliveries,
    acknowledgements,
    close: async () => {
      // The 👀 already asked for are written before the process goes, within a few seconds.
      await Promise.race([acknowledgements.idle(), new Promise((resolve) => setTimeout(resolve, ACKNOWLEDGEMENTS_GRACE_MS).unref())]);
      await pool.close();
      await built?.model.close();
      if (pruneLogs) clearInterval(pruneLogs);
      await taskLogs?.flush();
      try {
        memory.flushReceipts();
      } catch (error) {
        // Only the redelivery sweep reads them: it may ask GitHub again for these deliveries.
        log.warn({ err: error }, "could not write the last receipts of deliveries");
      }
      journal.flush();
      db.close();
    },
  };
}

/** How long a shutdown waits for the 👀 reactions still on their way. */
const ACKNOWLEDGEMENTS_GRACE_MS = 5_000;

/** Deletes task logs past their retention now and then once a day. */
function pruneEveryDay(taskLogs: TaskLogs, days: number, log: Logger): NodeJS.Timeout {
  const prune = () =>
    void taskLogs.prune(days).then((removed) => {
      if (removed) log.info({ removed, days }, "deleted task logs past TASK_LOG_RETENTION_DAYS");
    });
  prune();
  return setInterval(prune, 86_400_000).unref();
}

/** An allowlist as /status shows it: `"*"`, `"write access"`, or the logins. */
function describeAllowList(list: Settings["authorizedTriggerUsers"]): string | string[] {
  return list.kind === "everyone" ? "*" : list.kind === "write-access" ? "write access" : list.users;
}

/** How old the dashboard's list of running containers may be: every open stream asks for it. */
const WARM_PLACES_MAX_AGE_MS = 3_000;

/** The pool's running containers, asked of Docker at most once per `maxAgeMs` whoever asks. */
function warmPlacesEvery(pool: ContainerPool, maxAgeMs: number, log: Logger): () => Promise<Record<string, string[]> | null> {
  let last: { at: number; value: Promise<Record<string, string[]> | null> } | null = null;
  return () => {
    if (last && Date.now() - last.at < maxAgeMs) return last.value;
    const value = pool.warmPlaces().then(
      (places) => (places ? Object.fromEntries(Object.entries(places).map(([slot, list]) => [slot, list.map((p) => `${p.repo} (${p.trust})`)])) : null),
      (error: unknown) => {
        log.warn({ err: error }, "could not list the running containers for the dashboard");
        return null;
      },
    );
    last = { at: Date.now(), value };
    return value;
  };
}

function slotTask(task: Task): SlotTask {
  return { id: task.id, kind: task.kind, repo: task.repo.fullName, target: task.target.number, title: task.target.title, url: task.target.url };
}

function poolView(pool: ContainerPool, settings: Settings, warm: Record<string, string[]> | null): PoolView {
  const status = pool.status();
  const slots = Object.entries(pool.slotTasks()).map(([name, { queued, running }]) => ({
    name,
    pools: [
      ...(settings.containerPool.includes(name) ? (["main"] as const) : []),
      ...(settings.ciContainerPool.includes(name) ? (["ci"] as const) : []),
    ],
    queued: queued.map(slotTask),
    running: running ? { ...slotTask(running.task), started_at: running.startedAt } : null,
    warm: warm ? (warm[name] ?? []) : null,
  }));
  return { slots, running: status.running, max_concurrent_tasks: status.max_concurrent_tasks };
}

function liveEvent(event: PoolEvent): LiveEvent {
  const { task } = event;
  const base = { task: task.id, kind: task.kind, repo: task.repo.fullName, target: task.target.number, slot: event.slot };
  if (event.type !== "finished") return { type: event.type, ...base };
  return { type: event.state === "cancelled" ? "cancelled" : "finished", ...base, state: event.state };
}

/** Settings whose values must never appear in anything posted or logged. */
function secretValues(settings: Settings): string[] {
  return [
    settings.webhookSecret,
    settings.auth.kind === "app" ? settings.auth.privateKey : null,
    settings.auth.kind === "token" ? settings.auth.token : null,
    settings.adminPassword,
    settings.metricsToken,
    settings.claudeApiKey,
    settings.claudeOauthToken,
  ].filter((v): v is string => Boolean(v));
}
