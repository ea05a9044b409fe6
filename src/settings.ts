// The one place that reads the environment. Every variable is declared once in SETTINGS (names,
// aliases, default, whether it is a secret, what it means); `loadSettings` parses and validates
// them all and throws a SettingsError that names the variable at fault.
import { existsSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { DEFAULT_AGENT_COMMAND, parseAgentCommand } from "./policy/agent-command.js";
import { parseMonthlyBudgets, parseUsd, type BudgetSettings } from "./policy/budget.js";

export class SettingsError extends Error {
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = "SettingsError";
  }
}

export type Env = Record<string, string | undefined>;

interface SettingSpec {
  /** Canonical name first, then aliases (the seed's and Probot's names). */
  names: readonly string[];
  secret?: boolean;
  default?: string;
  doc: string;
  group: string;
}

export const SETTINGS = {
  appId: { names: ["APP_ID", "GITHUB_APP_ID"], group: "GitHub App", doc: "The App's numeric id." },
  privateKey: {
    names: ["PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY"],
    secret: true,
    group: "GitHub App",
    doc: "The App's private key: PEM text (\\n escapes allowed), base64 of it, or a file path.",
  },
  privateKeyPath: { names: ["PRIVATE_KEY_PATH"], group: "GitHub App", doc: "Path to the App's PEM file." },
  webhookSecret: {
    names: ["WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET"],
    secret: true,
    group: "GitHub App",
    doc: "Secret GitHub signs deliveries with (required to serve).",
  },
  installationId: {
    names: ["GITHUB_APP_INSTALLATION_ID"],
    group: "GitHub App",
    doc: "Optional fixed installation id (otherwise taken from each delivery).",
  },
  githubToken: {
    names: ["GITHUB_TOKEN"],
    secret: true,
    group: "GitHub App",
    doc: "Token mode: a token for a plain repository webhook instead of an App.",
  },
  gheHost: { names: ["GHE_HOST"], group: "GitHub App", doc: "GitHub Enterprise Server host name (host[:port])." },
  gheProtocol: { names: ["GHE_PROTOCOL"], default: "https", group: "GitHub App", doc: "http or https for GHE_HOST." },
  webhookProxyUrl: { names: ["WEBHOOK_PROXY_URL"], group: "GitHub App", doc: "smee.io channel for local development." },

  mentionedUser: {
    names: ["GITHUB_MENTIONED_USER"],
    group: "Triggers",
    doc: "Handle people @mention (default: the App's slug, or the token's user).",
  },
  authorizedTriggerUsers: {
    names: ["AUTHORIZED_TRIGGER_USERS"],
    default: "",
    group: "Triggers",
    doc: "Comma list of users who may trigger the agent; * = everyone; empty = users with write access.",
  },
  authorizedCiTriggerUsers: {
    names: ["AUTHORIZED_CI_TRIGGER_USERS"],
    default: "",
    group: "Triggers",
    doc: "Comma list of users whose pushes and PRs run CI; * = everyone; empty = users with write access.",
  },
  allowedOrgs: { names: ["ALLOWED_ORGS"], default: "", group: "Triggers", doc: "Repository owners (orgs) served; empty with ALLOWED_USERS empty = all." },
  allowedUsers: { names: ["ALLOWED_USERS"], default: "", group: "Triggers", doc: "Repository owners (users) served." },

  claudeApiKey: {
    names: ["CLAUDE_API_KEY", "ANTHROPIC_API_KEY"],
    secret: true,
    group: "Agent",
    doc: "Anthropic API key. It stays on the server: the model proxy adds it to the agent's requests.",
  },
  claudeOauthToken: {
    names: ["CLAUDE_CODE_OAUTH_TOKEN"],
    secret: true,
    group: "Agent",
    doc: "Claude Code OAuth token from `claude setup-token` (a subscription login; alternative to an API key). Stays on the server too.",
  },
  agentCommand: {
    names: ["AGENT_COMMAND"],
    default: DEFAULT_AGENT_COMMAND,
    group: "Agent",
    doc: "The agent's command line in the container; {prompt} (one word) becomes the prompt. Other agents plug in here.",
  },
  agentCli: {
    names: ["AGENT_CLI"],
    default: "bundled",
    group: "Agent",
    doc: "Which Claude Code the command's `claude` runs: bundled (the server's own, mounted read-only into every task container) or image (the image's claude on PATH).",
  },
  anthropicUpstreamUrl: {
    names: ["ANTHROPIC_UPSTREAM_URL"],
    default: "https://api.anthropic.com",
    group: "Agent",
    doc: "Where the model proxy forwards the agent's requests (an Anthropic-compatible Messages API).",
  },
  modelProxyHost: {
    names: ["MODEL_PROXY_HOST"],
    default: "",
    group: "Agent",
    doc: "Address the model proxy listens on and containers reach it at (default: CONTAINER_NETWORK's gateway; 127.0.0.1 with host).",
  },
  modelProxyPort: { names: ["MODEL_PROXY_PORT"], default: "0", group: "Agent", doc: "The model proxy's port (0: any free port)." },
  modelPricesFile: {
    names: ["MODEL_PRICES_FILE"],
    default: "",
    group: "Agent",
    doc: "JSON file of model prices in dollars per million tokens, over the built-in table (see the README).",
  },
  maxTaskCostUsd: {
    names: ["MAX_TASK_COST_USD"],
    default: "10",
    group: "Budgets",
    doc: "A task's model cost limit in dollars when DEVS.yml sets no max_cost_usd.",
  },
  taskCostCeilingUsd: {
    names: ["TASK_COST_CEILING_USD"],
    default: "50",
    group: "Budgets",
    doc: "The highest max_cost_usd a repository may set, in dollars.",
  },
  monthlyBudgetUsd: {
    names: ["MONTHLY_BUDGET_USD"],
    default: "",
    group: "Budgets",
    doc: "Each repository's model budget per calendar month (UTC), in dollars; empty: none.",
  },
  monthlyBudgets: {
    names: ["MONTHLY_BUDGETS"],
    default: "",
    group: "Budgets",
    doc: "Monthly budgets for named repositories over MONTHLY_BUDGET_USD: owner/name=200,owner/*=50.",
  },


  containerPool: { names: ["CONTAINER_POOL"], default: "eamonn,harry,darren", group: "Pool", doc: "Slots: the pool's queues, one task at a time each; every slot has one long-lived container per repository and trust." },
  ciContainerPool: { names: ["CI_CONTAINER_POOL"], default: "", group: "Pool", doc: "Separate slots for CI (empty = CI shares CONTAINER_POOL's)." },
  containerTimeoutMinutes: { names: ["CONTAINER_TIMEOUT_MINUTES"], default: "30", group: "Pool", doc: "Per-task time limit in minutes." },
  maxConcurrentTasks: { names: ["MAX_CONCURRENT_TASKS"], default: "3", group: "Pool", doc: "Running tasks across all slots." },
  stopContainerAfterTask: {
    names: ["STOP_CONTAINER_AFTER_TASK"],
    default: "true",
    group: "Pool",
    doc: "Stop a slot's containers when its queue empties (saves memory); false keeps them warm until idle.",
  },
  containerIdleMinutes: {
    names: ["CONTAINER_IDLE_MINUTES"],
    default: "60",
    group: "Pool",
    doc: "With STOP_CONTAINER_AFTER_TASK=false: stop a container this long after its last task ended.",
  },
  repoCacheDir: { names: ["REPO_CACHE_DIR"], default: "~/.devs-webhook/repos", group: "Pool", doc: "Bare repository caches." },
  workspaceDir: { names: ["WORKSPACE_DIR"], default: "~/.devs-webhook/workspaces", group: "Pool", doc: "Per-task worktrees." },
  dataDir: { names: ["DATA_DIR"], default: "~/.devs-webhook", group: "Pool", doc: "Task journal and delivery memory." },
  taskLogsEnabled: {
    names: ["TASK_LOGS_ENABLED", "CONTAINER_LOGS_ENABLED"],
    default: "true",
    group: "Pool",
    doc: "Keep each task's log (its container output and the server's lines about it, secrets redacted) in a file.",
  },
  taskLogDir: { names: ["TASK_LOG_DIR", "CONTAINER_LOGS_DIR"], default: "", group: "Pool", doc: "Folder of the task logs (default: DATA_DIR/task-logs)." },
  taskLogRetentionDays: { names: ["TASK_LOG_RETENTION_DAYS"], default: "14", group: "Pool", doc: "Task logs older than this many days are deleted (at start and daily)." },
  devsEnvsDir: { names: ["DEVS_ENVS_DIR"], default: "~/.devs/envs", group: "Pool", doc: "Operator DEVS.yml layers." },
  defaultImage: { names: ["DEFAULT_IMAGE"], default: "mcr.microsoft.com/devcontainers/base:bookworm", group: "Pool", doc: "Image for repositories without a devcontainer.json." },
  dockerHost: { names: ["DOCKER_HOST"], default: "", group: "Pool", doc: "Docker engine address (default: the local socket): unix:///path or tcp://host:port." },
  dockerTlsVerify: {
    names: ["DOCKER_TLS_VERIFY"],
    default: "",
    group: "Pool",
    doc: "With a tcp:// DOCKER_HOST: 1 to use TLS with the client certificates in DOCKER_CERT_PATH, as the Docker CLI does.",
  },
  dockerCertPath: { names: ["DOCKER_CERT_PATH"], default: "~/.docker", group: "Pool", doc: "Directory holding ca.pem, cert.pem and key.pem for DOCKER_TLS_VERIFY." },
  dockerAllowPlaintext: {
    names: ["DOCKER_ALLOW_PLAINTEXT"],
    default: "false",
    group: "Pool",
    doc: "true to reach a tcp:// engine without TLS (anyone on that network could then run containers as root).",
  },
  containerNetwork: { names: ["CONTAINER_NETWORK"], default: "bridge", group: "Pool", doc: "Network mode for task containers: bridge, none, host or a network name." },

  host: { names: ["WEBHOOK_HOST", "HOST"], default: "0.0.0.0", group: "Server", doc: "Address to listen on." },
  port: { names: ["WEBHOOK_PORT", "PORT"], default: "8000", group: "Server", doc: "Port to listen on." },
  adminUsername: { names: ["ADMIN_USERNAME"], default: "admin", group: "Server", doc: "Basic-auth user for the admin routes." },
  adminPassword: {
    names: ["ADMIN_PASSWORD"],
    secret: true,
    group: "Server",
    doc: "Basic-auth password; without it the admin routes are closed (open to any password only with DEV_MODE).",
  },
  metricsToken: {
    names: ["METRICS_TOKEN"],
    secret: true,
    group: "Server",
    doc: "Bearer token a Prometheus scraper may use for GET /metrics instead of Basic auth (empty = Basic only).",
  },
  devMode: { names: ["DEV_MODE"], default: "false", group: "Server", doc: "Development conveniences (never in production)." },
  logLevel: { names: ["LOG_LEVEL"], default: "info", group: "Server", doc: "trace, debug, info, warn, error, fatal or silent." },
  publicUrl: {
    names: ["PUBLIC_URL"],
    group: "Server",
    doc: "The server's public base URL (https://devs.example.com): final comments and check runs then link the task's log.",
  },
  logFormat: { names: ["LOG_FORMAT"], default: "json", group: "Server", doc: "json or pretty (the original's console is pretty)." },
  redeliverMissed: {
    names: ["REDELIVER_MISSED"],
    default: "true",
    group: "Server",
    doc: "App mode: on start and every REDELIVERY_INTERVAL_MINUTES, ask GitHub to redeliver deliveries that failed or never arrived.",
  },
  redeliveryIntervalMinutes: { names: ["REDELIVERY_INTERVAL_MINUTES"], default: "5", group: "Server", doc: "Minutes between redelivery sweeps." },
  nodeEnv: { names: ["NODE_ENV"], default: "", group: "Server", doc: "production refuses setup mode." },

  taskSource: {
    names: ["TASK_SOURCE"],
    default: "webhook",
    group: "Scale-out",
    doc: "webhook (this process receives deliveries) or sqs (a worker: runs the tasks it takes from AWS_SQS_QUEUE_URL).",
  },
  taskSink: {
    names: ["TASK_SINK"],
    default: "pool",
    group: "Scale-out",
    doc: "Where serve hands tasks: pool (runs them here) or sqs (an ingress: signs them onto AWS_SQS_QUEUE_URL; no Docker here).",
  },
  sqsQueueUrl: {
    names: ["AWS_SQS_QUEUE_URL"],
    default: "",
    group: "Scale-out",
    doc: "The task queue: an SQS FIFO queue (its URL ends in .fifo), for TASK_SINK=sqs and TASK_SOURCE=sqs.",
  },
  sqsDlqUrl: {
    names: ["AWS_SQS_DLQ_URL"],
    default: "",
    group: "Scale-out",
    doc: "Where workers move messages whose signature is wrong or missing, or that hold no task (empty: they are only deleted).",
  },
  sqsVisibilityTimeoutSeconds: {
    names: ["SQS_VISIBILITY_TIMEOUT_SECONDS"],
    default: "300",
    group: "Scale-out",
    doc: "How long a taken message stays hidden; a worker extends it every third of this while the task runs, so a dead worker's task reappears this long after.",
  },
  sqsWaitTimeSeconds: { names: ["SQS_WAIT_TIME_SECONDS"], default: "20", group: "Scale-out", doc: "Long-poll wait of a worker's receive (0 to 20)." },
  s3TaskPrefix: {
    names: ["AWS_S3_TASK_PREFIX"],
    default: "devs-tasks",
    group: "Scale-out",
    doc: "Key prefix in AWS_S3_ARTIFACT_BUCKET for tasks too large for an SQS message (they go by reference).",
  },
  awsRegion: { names: ["AWS_REGION"], default: "us-east-1", group: "Scale-out", doc: "Region for SQS and S3." },
  awsEndpointUrl: { names: ["AWS_ENDPOINT_URL"], default: "", group: "Scale-out", doc: "Endpoint override (local emulators)." },
  ciCheckName: {
    names: ["CI_CHECK_NAME"],
    default: "devs-ci",
    group: "CI",
    doc: "Name of the CI check run (the status context in token mode).",
  },
  ciFixAttemptsMax: {
    names: ["CI_FIX_ATTEMPTS_MAX"],
    default: "5",
    group: "CI",
    doc: "Most times the agent may try to fix its own pull request after this app's CI failed on it; DEVS.yml ci_fix_attempts is held to it (0 turns the loop off everywhere).",
  },
  s3ArtifactBucket: { names: ["AWS_S3_ARTIFACT_BUCKET"], default: "", group: "Artifacts", doc: "Bucket for CI artifacts (empty = no upload)." },
  s3ArtifactPrefix: { names: ["AWS_S3_ARTIFACT_PREFIX"], default: "devs-artifacts", group: "Artifacts", doc: "Key prefix for artifacts." },
  s3ArtifactBaseUrl: { names: ["AWS_S3_ARTIFACT_BASE_URL"], default: "", group: "Artifacts", doc: "Public base URL that artifact links use." },
} as const satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SETTINGS;

export type AuthMode =
  | { kind: "app"; appId: number; privateKey: string }
  | { kind: "token"; token: string }
  | { kind: "unconfigured" };

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";

export interface Settings {
  auth: AuthMode;
  webhookSecret: string | null;
  installationId: number | null;
  /** REST base URL: https://api.github.com, or {protocol}://{GHE_HOST}/api/v3. */
  githubApiUrl: string;
  githubWebUrl: string;
  webhookProxyUrl: string | null;

  mentionedUser: string | null;
  authorizedTriggerUsers: AllowList;
  authorizedCiTriggerUsers: AllowList;
  allowedOwners: string[];

  claudeApiKey: string | null;
  claudeOauthToken: string | null;
  agentCommand: string;
  /** bundled: the server's Claude Code runs for the command's `claude`; image: the image's own. */
  agentCli: "bundled" | "image";
  anthropicUpstreamUrl: string;
  /** null: derived from CONTAINER_NETWORK when the proxy starts. */
  modelProxyHost: string | null;
  modelProxyPort: number;
  modelPricesFile: string | null;
  budgets: BudgetSettings;

  containerPool: string[];
  ciContainerPool: string[];
  containerTimeoutMinutes: number;
  maxConcurrentTasks: number;
  stopContainerAfterTask: boolean;
  containerIdleMinutes: number;
  repoCacheDir: string;
  workspaceDir: string;
  dataDir: string;
  /** null: task logs are off (TASK_LOGS_ENABLED=false). */
  taskLogDir: string | null;
  taskLogRetentionDays: number;
  devsEnvsDir: string;
  defaultImage: string;
  dockerHost: string | null;
  /** The client certificates' directory for a TLS engine (DOCKER_TLS_VERIFY); null: none. */
  dockerTlsCertPath: string | null;
  containerNetwork: string;

  host: string;
  port: number;
  adminUsername: string;
  adminPassword: string | null;
  /** GET /metrics also answers `Authorization: Bearer <token>` with it. */
  metricsToken: string | null;
  devMode: boolean;
  logLevel: LogLevel;
  /** The server's public base URL, without a trailing slash; null when unset. */
  publicUrl: string | null;
  logFormat: "json" | "pretty";
  production: boolean;
  redeliverMissed: boolean;
  redeliveryIntervalMinutes: number;

  taskSource: "webhook" | "sqs";
  taskSink: "pool" | "sqs";
  sqsQueueUrl: string | null;
  sqsDlqUrl: string | null;
  sqsVisibilityTimeoutSeconds: number;
  sqsWaitTimeSeconds: number;
  s3TaskPrefix: string;
  awsRegion: string;
  awsEndpointUrl: string | null;
  ciCheckName: string;
  /** CI_FIX_ATTEMPTS_MAX: the ceiling of DEVS.yml ci_fix_attempts. */
  ciFixAttemptsMax: number;
  s3ArtifactBucket: string | null;
  s3ArtifactPrefix: string;
  s3ArtifactBaseUrl: string | null;
}

/** `everyone` for `*`; `write-access` when empty (ask GitHub); otherwise lower-cased logins. */
export type AllowList = { kind: "everyone" } | { kind: "write-access" } | { kind: "users"; users: string[] };

/** A raw value with the name it was found under, so errors name what the operator wrote. */
interface Raw {
  name: string;
  value: string;
}

function raw(env: Env, key: SettingKey): Raw | null {
  const spec: SettingSpec = SETTINGS[key];
  let found: Raw | null = null;
  for (const name of spec.names) {
    const value = env[name]?.trim();
    if (value === undefined || value === "") continue;
    if (found && found.value !== value) {
      throw new SettingsError(name, `disagrees with ${found.name}; set only one of them`);
    }
    found ??= { name, value };
  }
  if (found) return found;
  return spec.default !== undefined ? { name: spec.names[0]!, value: spec.default } : null;
}

function str(env: Env, key: SettingKey): string | null {
  const r = raw(env, key);
  return r && r.value !== "" ? r.value : null;
}

function int(env: Env, key: SettingKey, min: number, max: number): number | null {
  const r = raw(env, key);
  if (!r || r.value === "") return null;
  if (!/^\d+$/.test(r.value)) throw new SettingsError(r.name, `expected a whole number, got "${r.value}"`);
  const n = Number(r.value);
  if (n < min || n > max) throw new SettingsError(r.name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function bool(env: Env, key: SettingKey): boolean {
  const r = raw(env, key)!;
  const v = r.value.toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off", ""].includes(v)) return false;
  throw new SettingsError(r.name, `expected true or false, got "${r.value}"`);
}

function oneOf<T extends string>(env: Env, key: SettingKey, allowed: readonly T[]): T {
  const r = raw(env, key)!;
  const v = r.value.toLowerCase() as T;
  if (!allowed.includes(v)) throw new SettingsError(r.name, `expected one of ${allowed.join(", ")}, got "${r.value}"`);
  return v;
}

function list(env: Env, key: SettingKey): string[] {
  return (str(env, key) ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

const LOGIN = /^[a-z\d](?:[a-z\d-]*[a-z\d])?(?:\[bot\])?$/i;

function logins(env: Env, key: SettingKey): string[] {
  const r = raw(env, key);
  const items = list(env, key);
  for (const item of items) {
    if (item !== "*" && !LOGIN.test(item)) throw new SettingsError(r!.name, `"${item}" is not a GitHub login`);
  }
  return items.map((s) => s.toLowerCase());
}

function allowList(env: Env, key: SettingKey): AllowList {
  const users = logins(env, key);
  if (users.includes("*")) return { kind: "everyone" };
  return users.length ? { kind: "users", users } : { kind: "write-access" };
}

const POOL_NAME = /^[a-z\d][a-z\d_-]{0,30}$/;

function poolNames(env: Env, key: SettingKey, required: boolean): string[] {
  const r = raw(env, key);
  // The original accepted any case; names are compared and used in lower case.
  const names = list(env, key).map((name) => name.toLowerCase());
  if (required && names.length === 0) throw new SettingsError(r?.name ?? SETTINGS[key].names[0], "needs at least one name");
  const seen = new Set<string>();
  for (const name of names) {
    // Slots become parts of container names, labels and path segments: keep them plain.
    if (!POOL_NAME.test(name)) {
      throw new SettingsError(r!.name, `"${name}" must be letters, digits, - or _ (at most 31; used in lower case)`);
    }
    if (seen.has(name)) throw new SettingsError(r!.name, `"${name}" is listed twice`);
    seen.add(name);
  }
  return names;
}

function dir(env: Env, key: SettingKey, home: string): string {
  return resolve(expandHome(str(env, key)!, home));
}

/** `~` and `~/…` as a shell reads them, for directories and key files alike. */
function expandHome(value: string, home: string): string {
  return value === "~" ? home : value.startsWith("~/") ? `${home}/${value.slice(2)}` : value;
}

function url(env: Env, key: SettingKey): string | null {
  const r = raw(env, key);
  if (!r || r.value === "") return null;
  try {
    const u = new URL(r.value);
    if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error("not http");
  } catch {
    throw new SettingsError(r.name, `expected an http(s) URL, got "${r.value}"`);
  }
  return r.value;
}

/** PEM text, \n-escaped PEM, base64 PEM, or a path to a PEM file (as Probot accepts; `~/` too). */
function privateKey(env: Env, home: string): string | null {
  const inline = raw(env, "privateKey");
  const path = raw(env, "privateKeyPath");
  if (inline) return parsePem(inline.value.startsWith("~/") ? { ...inline, value: expandHome(inline.value, home) } : inline);
  if (path) return readPemFile({ ...path, value: expandHome(path.value, home) });
  return null;
}

function parsePem(r: Raw): string {
  if (r.value.includes("-----BEGIN")) return normalizePem(r.value.replace(/\\n/g, "\n"));
  if (!/\s/.test(r.value) && existsSync(r.value)) return readPemFile(r);
  const decoded = Buffer.from(r.value, "base64").toString("utf8");
  if (decoded.includes("-----BEGIN")) return normalizePem(decoded);
  throw new SettingsError(r.name, "is neither a PEM private key, nor base64 of one, nor a readable file");
}

function readPemFile(r: Raw): string {
  let text: string;
  try {
    if (!statSync(r.value).isFile()) throw new Error("not a file");
    text = readFileSync(r.value, "utf8");
  } catch {
    throw new SettingsError(r.name, `cannot read the key file "${r.value}"`);
  }
  if (!text.includes("-----BEGIN")) throw new SettingsError(r.name, `"${r.value}" does not hold a PEM key`);
  return normalizePem(text);
}

const normalizePem = (text: string): string => `${text.trim()}\n`;

function agentCommand(env: Env): string {
  const r = raw(env, "agentCommand")!;
  try {
    parseAgentCommand(r.value);
  } catch (error) {
    throw new SettingsError(r.name, (error as Error).message);
  }
  return r.value;
}

/**
 * A tcp:// engine is root on the host for anyone who reaches it: TLS with client certificates
 * (the Docker CLI's DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), or an explicit DOCKER_ALLOW_PLAINTEXT.
 */
function dockerTls(env: Env, home: string): string | null {
  const host = str(env, "dockerHost") ?? "";
  const verify = (str(env, "dockerTlsVerify") ?? "") !== "" && str(env, "dockerTlsVerify") !== "0";
  if (!/^(tcp|http):\/\//.test(host)) return null;
  if (!verify) {
    if (bool(env, "dockerAllowPlaintext")) return null;
    throw new SettingsError(
      "DOCKER_HOST",
      `${host} is a plaintext engine: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), or DOCKER_ALLOW_PLAINTEXT=true`,
    );
  }
  const certPath = dir(env, "dockerCertPath", home);
  const missing = ["ca.pem", "cert.pem", "key.pem"].filter((file) => !existsSync(resolve(certPath, file)));
  if (missing.length) throw new SettingsError("DOCKER_CERT_PATH", `${certPath} lacks ${missing.join(", ")}`);
  return certPath;
}

/** json or pretty; the original's `console` is pretty. */
function logFormat(env: Env): "json" | "pretty" {
  const r = raw(env, "logFormat")!;
  return r.value.toLowerCase() === "console" ? "pretty" : oneOf(env, "logFormat", ["json", "pretty"] as const);
}

function dollars(env: Env, key: SettingKey): number | null {
  const r = raw(env, key);
  if (!r || r.value === "") return null;
  const value = parseUsd(r.value);
  if (value === null) throw new SettingsError(r.name, `expected an amount in dollars such as 5 or 0.50, got "${r.value}"`);
  return value;
}

function budgets(env: Env): BudgetSettings {
  const taskDefaultUsd = dollars(env, "maxTaskCostUsd")!;
  const taskCeilingUsd = dollars(env, "taskCostCeilingUsd")!;
  if (taskDefaultUsd <= 0) throw new SettingsError(raw(env, "maxTaskCostUsd")!.name, "must be more than 0");
  if (taskDefaultUsd > taskCeilingUsd) {
    throw new SettingsError(raw(env, "maxTaskCostUsd")!.name, `${taskDefaultUsd} is above TASK_COST_CEILING_USD (${taskCeilingUsd})`);
  }
  const byRepo = raw(env, "monthlyBudgets");
  let monthlyByRepo: BudgetSettings["monthlyByRepo"] = [];
  try {
    monthlyByRepo = parseMonthlyBudgets(byRepo?.value ?? "");
  } catch (error) {
    throw new SettingsError(byRepo!.name, (error as Error).message);
  }
  return { taskDefaultUsd, taskCeilingUsd, monthlyDefaultUsd: dollars(env, "monthlyBudgetUsd"), monthlyByRepo };
}

function proxyHost(env: Env): string | null {
  const r = raw(env, "modelProxyHost");
  if (!r || r.value === "") return null;
  // An address, not a name: containers are handed it in ANTHROPIC_BASE_URL and must reach it as is.
  if (!/^(\d{1,3}(\.\d{1,3}){3}|localhost)$/.test(r.value)) throw new SettingsError(r.name, `expected an IPv4 address such as 172.17.0.1, got "${r.value}"`);
  if (r.value === "0.0.0.0") throw new SettingsError(r.name, "must be one address the containers reach, not every interface");
  return r.value;
}

/** One line GitHub shows as the check's (or the status context's) name. */
function checkName(env: Env): string {
  const r = raw(env, "ciCheckName")!;
  // eslint-disable-next-line no-control-regex -- a name is one line of printable text
  if (r.value.length > 100 || /[\x00-\x1f\x7f]/.test(r.value)) {
    throw new SettingsError(r.name, "must be one line of at most 100 characters");
  }
  return r.value;
}

/**
 * The task queue must be FIFO: its message groups are what keeps one task from running twice at
 * once across hosts (README, "Workers and what is guaranteed"). `neededBy` names the setting that
 * requires it, or null when nothing does.
 */
function taskQueueUrl(env: Env, neededBy: string | null): string | null {
  const value = url(env, "sqsQueueUrl");
  const name = raw(env, "sqsQueueUrl")?.name ?? "AWS_SQS_QUEUE_URL";
  if (!value) {
    if (neededBy) throw new SettingsError(name, `required when ${neededBy}`);
    return null;
  }
  if (!new URL(value).pathname.endsWith(".fifo")) {
    throw new SettingsError(name, `must be an SQS FIFO queue (its name ends in .fifo), got "${value}": FIFO message groups keep a task from running twice at once`);
  }
  return value;
}

function authMode(env: Env, home: string): AuthMode {
  const appId = int(env, "appId", 1, Number.MAX_SAFE_INTEGER);
  const key = privateKey(env, home);
  if (appId !== null && key === null) {
    throw new SettingsError("PRIVATE_KEY", "required with APP_ID (or set PRIVATE_KEY_PATH / GITHUB_APP_PRIVATE_KEY)");
  }
  if (appId === null && key !== null) throw new SettingsError("APP_ID", "required with the App's private key");
  if (appId !== null && key !== null) return { kind: "app", appId, privateKey: key };
  const token = str(env, "githubToken");
  return token ? { kind: "token", token } : { kind: "unconfigured" };
}

function githubUrls(env: Env): { api: string; web: string } {
  const host = raw(env, "gheHost");
  const protocol = oneOf(env, "gheProtocol", ["http", "https"] as const);
  if (!host) return { api: "https://api.github.com", web: "https://github.com" };
  if (!/^[a-z\d.-]+(?::\d{1,5})?$/i.test(host.value)) {
    throw new SettingsError(host.name, `expected a host name such as github.example.com, got "${host.value}"`);
  }
  return { api: `${protocol}://${host.value}/api/v3`, web: `${protocol}://${host.value}` };
}

export function loadSettings(env: Env, home: string = homedir()): Settings {
  const auth = authMode(env, home);
  const urls = githubUrls(env);
  const taskSource = oneOf(env, "taskSource", ["webhook", "sqs"] as const);
  const taskSink = oneOf(env, "taskSink", ["pool", "sqs"] as const);
  const sqsQueueUrl = taskQueueUrl(env, taskSource === "sqs" ? "TASK_SOURCE=sqs" : taskSink === "sqs" ? "TASK_SINK=sqs" : null);
  const mentionedUser = str(env, "mentionedUser");
  if (mentionedUser && !LOGIN.test(mentionedUser)) {
    throw new SettingsError("GITHUB_MENTIONED_USER", `"${mentionedUser}" is not a GitHub login`);
  }
  const network = str(env, "containerNetwork")!;
  if (!/^[\w][\w.-]*$/.test(network)) {
    throw new SettingsError("CONTAINER_NETWORK", `"${network}" is not a Docker network name`);
  }
  const containerPool = poolNames(env, "containerPool", true);
  const ciContainerPool = poolNames(env, "ciContainerPool", false);
  return {
    auth,
    webhookSecret: str(env, "webhookSecret"),
    installationId: int(env, "installationId", 1, Number.MAX_SAFE_INTEGER),
    githubApiUrl: urls.api,
    githubWebUrl: urls.web,
    webhookProxyUrl: url(env, "webhookProxyUrl"),

    mentionedUser: mentionedUser ? mentionedUser.replace(/\[bot\]$/i, "") : null,
    authorizedTriggerUsers: allowList(env, "authorizedTriggerUsers"),
    authorizedCiTriggerUsers: allowList(env, "authorizedCiTriggerUsers"),
    allowedOwners: [...logins(env, "allowedOrgs"), ...logins(env, "allowedUsers")],

    claudeApiKey: str(env, "claudeApiKey"),
    claudeOauthToken: str(env, "claudeOauthToken"),
    agentCommand: agentCommand(env),
    agentCli: oneOf(env, "agentCli", ["bundled", "image"] as const),
    anthropicUpstreamUrl: url(env, "anthropicUpstreamUrl")!,
    modelProxyHost: proxyHost(env),
    modelProxyPort: int(env, "modelProxyPort", 0, 65535)!,
    modelPricesFile: str(env, "modelPricesFile"),
    budgets: budgets(env),

    containerPool,
    ciContainerPool,
    containerTimeoutMinutes: int(env, "containerTimeoutMinutes", 1, 24 * 60)!,
    maxConcurrentTasks: int(env, "maxConcurrentTasks", 1, 1000)!,
    stopContainerAfterTask: bool(env, "stopContainerAfterTask"),
    containerIdleMinutes: int(env, "containerIdleMinutes", 1, 7 * 24 * 60)!,
    repoCacheDir: dir(env, "repoCacheDir", home),
    workspaceDir: dir(env, "workspaceDir", home),
    dataDir: dir(env, "dataDir", home),
    taskLogDir: bool(env, "taskLogsEnabled") ? (str(env, "taskLogDir") ? dir(env, "taskLogDir", home) : resolve(dir(env, "dataDir", home), "task-logs")) : null,
    taskLogRetentionDays: int(env, "taskLogRetentionDays", 1, 3650)!,
    devsEnvsDir: dir(env, "devsEnvsDir", home),
    defaultImage: str(env, "defaultImage")!,
    dockerHost: str(env, "dockerHost"),
    dockerTlsCertPath: dockerTls(env, home),
    containerNetwork: network,

    host: str(env, "host")!,
    port: int(env, "port", 0, 65535)!,
    adminUsername: str(env, "adminUsername")!,
    adminPassword: str(env, "adminPassword"),
    metricsToken: str(env, "metricsToken"),
    devMode: bool(env, "devMode"),
    logLevel: oneOf(env, "logLevel", ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const),
    logFormat: logFormat(env),
    publicUrl: url(env, "publicUrl")?.replace(/\/+$/, "") ?? null,
    production: str(env, "nodeEnv") === "production",
    redeliverMissed: bool(env, "redeliverMissed"),
    redeliveryIntervalMinutes: int(env, "redeliveryIntervalMinutes", 1, 24 * 60)!,

    taskSource,
    taskSink,
    sqsQueueUrl,
    sqsDlqUrl: url(env, "sqsDlqUrl"),
    sqsVisibilityTimeoutSeconds: int(env, "sqsVisibilityTimeoutSeconds", 3, 12 * 60 * 60)!,
    sqsWaitTimeSeconds: int(env, "sqsWaitTimeSeconds", 0, 20)!,
    s3TaskPrefix: str(env, "s3TaskPrefix")!.replace(/^\/+|\/+$/g, ""),
    awsRegion: str(env, "awsRegion")!,
    awsEndpointUrl: url(env, "awsEndpointUrl"),
    ciCheckName: checkName(env),
    ciFixAttemptsMax: int(env, "ciFixAttemptsMax", 0, 20)!,
    s3ArtifactBucket: str(env, "s3ArtifactBucket"),
    s3ArtifactPrefix: str(env, "s3ArtifactPrefix")!,
    s3ArtifactBaseUrl: url(env, "s3ArtifactBaseUrl"),
  };
}

/**
 * What `serve` needs beyond well-formed values. Setup mode (no credentials, not production) is not
 * an error: the caller starts Probot's manifest registration instead.
 */
export function checkServeRequirements(settings: Settings): void {
  if (settings.auth.kind === "unconfigured") {
    if (settings.production) {
      throw new SettingsError("APP_ID", "required in production: set APP_ID and PRIVATE_KEY, or GITHUB_TOKEN for token mode");
    }
    return;
  }
  if (!settings.webhookSecret) {
    throw new SettingsError("WEBHOOK_SECRET", "required to verify deliveries (alias GITHUB_WEBHOOK_SECRET)");
  }
}

/** The original's settings that mean nothing here, and what replaces each. */
const ORIGINAL_ONLY: Readonly<Record<string, string>> = {
  CONTAINER_MAX_AGE_HOURS: "containers stop when their queue empties (STOP_CONTAINER_AFTER_TASK) or after CONTAINER_IDLE_MINUTES",
  CLEANUP_CHECK_INTERVAL_SECONDS: "containers stop when their queue empties (STOP_CONTAINER_AFTER_TASK) or after CONTAINER_IDLE_MINUTES",
  WEBHOOK_PATH: "deliveries are accepted at /webhook and /api/github/webhooks",
  CLAUDE_CONFIG_DIR: "nothing is mounted into containers: set CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`), which stays on the server",
  DEVS_CLAUDE_CONFIG_DIR: "nothing is mounted into containers: set CLAUDE_CODE_OAUTH_TOKEN (from `claude setup-token`), which stays on the server",
  WORKER_LOGS_ENABLED: "each task's log is kept under TASK_LOG_DIR (TASK_LOGS_ENABLED)",
  WORKER_LOGS_DIR: "each task's log is kept under TASK_LOG_DIR (TASK_LOGS_ENABLED)",
};

/** Set variables of the original's that have no effect here, for one start-up warning. */
export function unusedOriginalSettings(env: Env): Array<{ name: string; instead: string }> {
  return Object.entries(ORIGINAL_ONLY)
    .filter(([name]) => (env[name]?.trim() ?? "") !== "")
    .map(([name, instead]) => ({ name, instead }));
}

/** The effective settings as `devs-webhook config` prints them: secrets masked. */
export function describeSettings(env: Env, settings: Settings): Array<{ name: string; value: string; source: string }> {
  const rows: Array<{ name: string; value: string; source: string }> = [];
  for (const spec of Object.values(SETTINGS) as SettingSpec[]) {
    const setName = spec.names.find((n) => (env[n]?.trim() ?? "") !== "");
    const value = setName ? env[setName]!.trim() : (spec.default ?? "");
    const shown = value === "" ? "(not set)" : spec.secret ? "******** (set)" : value;
    rows.push({ name: spec.names[0]!, value: shown, source: setName ?? (spec.default !== undefined ? "default" : "-") });
  }
  rows.push({ name: "(auth mode)", value: settings.auth.kind, source: "derived" });
  rows.push({ name: "(GitHub API)", value: settings.githubApiUrl, source: "derived" });
  return rows;
}
