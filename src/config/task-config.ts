// What a task takes from DEVS.yml, for the agent runner, the pool and CI. The configuration is
// always the default branch's (the loader never reads a pull request's head), whatever the task.
// CI maps `loaded.config.ci_*` to policy/ci.ts's CiConfig and takes its env from containerEnv.
import type { Logger } from "pino";
import type { GitHubClient } from "../github/client.js";
import type { Task } from "../tasks/task.js";
import type { ConfigOctokit, DevsConfigLoader } from "./devs-yml.js";
import { describeWithheld, resolveEnvVars, type EnvVarOptions, type ResolvedEnv } from "./env-vars.js";
import type { LoadedDevsConfig } from "./layers.js";
import { isDevsConfigError } from "./errors.js";
import { logConfigError, renderConfigProblems } from "./problem-text.js";
import { renderPromptOverride } from "./prompt-template.js";

/** What DEVS.yml says about an agent task (trusted keys, read from the default branch). */
export interface AgentConfig {
  defaultBranch: string | null;
  promptExtra: string | null;
  /** Renders prompt_override with the documented variables, or null when there is none. */
  renderOverride: ((vars: Record<string, string>) => string) | null;
  directCommit: boolean;
  draftPrs: boolean;
  /** max_cost_usd, or null for the operator's default (policy/budget.ts applies the ceiling). */
  maxCostUsd: number | null;
  /** env_vars for this slot, server secrets already removed. */
  env: Record<string, string>;
}

/** The runner's client type names only `request`; the loader needs Probot's `config` plugin too. */
function asConfigOctokit(octokit: GitHubClient): ConfigOctokit {
  const candidate = octokit as Partial<ConfigOctokit>;
  if (typeof candidate.config?.get !== "function") {
    throw new TypeError("reading DEVS.yml needs a ProbotOctokit (with @probot/octokit-plugin-config), not a bare client");
  }
  return octokit as ConfigOctokit;
}

/** env_vars for one container (agent or CI), with withheld variables logged. */
function slotEnv(loaded: LoadedDevsConfig, slot: string, log: Pick<Logger, "warn">, options: EnvVarOptions = {}): ResolvedEnv {
  const resolved = resolveEnvVars(loaded.config.env_vars, slot, options);
  if (resolved.withheld.length) {
    log.warn({ repo: loaded.repo, slot, withheld: resolved.withheld }, `env_vars withheld from ${slot}: ${describeWithheld(resolved.withheld)}`);
  }
  return resolved;
}

/** The agent runner's view of a loaded configuration, for one slot. */
function toAgentConfig(loaded: LoadedDevsConfig, slot: string, log: Pick<Logger, "warn">, options: EnvVarOptions = {}): AgentConfig {
  const { config } = loaded;
  const override = config.prompt_override;
  return {
    defaultBranch: config.default_branch,
    promptExtra: config.prompt_extra,
    renderOverride: override ? (values) => renderPromptOverride(override, values) : null,
    directCommit: config.direct_commit,
    draftPrs: config.draft_prs,
    maxCostUsd: config.max_cost_usd,
    env: slotEnv(loaded, slot, log, options).env,
  };
}

export interface TaskConfigDeps {
  loader: DevsConfigLoader;
  env?: EnvVarOptions;
  log: Pick<Logger, "warn">;
}

/** The task's repository's configuration; a DevsConfigError is logged with the task and thrown on. */
async function loadForTask(deps: TaskConfigDeps, task: Task, octokit: GitHubClient): Promise<LoadedDevsConfig> {
  try {
    return await deps.loader.load(asConfigOctokit(octokit), { owner: task.repo.owner, repo: task.repo.name });
  } catch (error) {
    if (isDevsConfigError(error)) logConfigError(deps.log, error, { task: task.id });
    throw error;
  }
}

/**
 * `AgentRunnerDeps.loadConfig`. A DevsConfigError it throws is "user facing" (`userMessage`):
 * the runner shows it in the task's comment and does not run.
 */
export function agentConfigLoader(deps: TaskConfigDeps): (task: Task, octokit: GitHubClient, slot: string) => Promise<AgentConfig> {
  return async (task, octokit, slot) => toAgentConfig(await loadForTask(deps, task, octokit), slot, deps.log, deps.env);
}

/**
 * The CI runner's `loadEnv`: env_vars for this slot, exactly as agent tasks get them, so
 * both kinds share one warm container. A DevsConfigError is logged and thrown (the check shows it).
 */
export function ciEnvLoader(deps: TaskConfigDeps): (task: Task, octokit: GitHubClient, slot: string) => Promise<Record<string, string>> {
  return async (task, octokit, slot) => slotEnv(await loadForTask(deps, task, octokit), slot, deps.log, deps.env).env;
}

/**
 * `PoolOptions.routeHints`: single_queue for the task's repository. Where a task waits grants it
 * nothing, so a head read a little while ago will do: a burst of tasks (or a restart's backlog)
 * costs one GitHub read per repository, not one per task. The runner reads the config afresh.
 */
export function routeHints(loader: DevsConfigLoader, octokitFor: (task: Task) => Promise<GitHubClient>): (task: Task) => Promise<{ singleQueue: boolean }> {
  return async (task) => {
    const loaded = await loader.load(asConfigOctokit(await octokitFor(task)), { owner: task.repo.owner, repo: task.repo.name }, { headMaxAgeMs: ROUTING_HEAD_MAX_AGE_MS });
    return { singleQueue: loaded.config.single_queue };
  };
}

/** How old the default branch's head may be when a push to another branch is matched to ci_branches. */
const CI_DECISION_HEAD_MAX_AGE_MS = 30_000;
const ROUTING_HEAD_MAX_AGE_MS = 30_000;

/** What handlers/ci.ts's LoadCiConfig answers: the CI keys, or the problems for the check run. */
export type CiConfigAnswer =
  | { ciEnabled: boolean; ciBranches: string[]; ciTestCommand: string; ciFixAttempts: number | null }
  | { error: { userMessage: string; message: string } };

/**
 * handlers/ci.ts's `LoadCiConfig`, from the same loader (default branch only). An invalid file
 * becomes `{ error }` whose `userMessage` is the list of problems without a "try again" line (the
 * check run adds its own); it is logged here. Other errors are thrown.
 */
export function ciConfigLoader(
  deps: Omit<TaskConfigDeps, "env">,
): (context: { octokit: unknown }, repo: { owner: string; name: string }, options?: { fresh: boolean }) => Promise<CiConfigAnswer> {
  return async (context, repo, options = { fresh: true }) => {
    try {
      const headMaxAgeMs = options.fresh ? 0 : CI_DECISION_HEAD_MAX_AGE_MS;
      const { config } = await deps.loader.load(asConfigOctokit(context.octokit as GitHubClient), { owner: repo.owner, repo: repo.name }, { headMaxAgeMs });
      return {
        ciEnabled: config.ci_enabled,
        ciBranches: [...config.ci_branches],
        ciTestCommand: config.ci_test_command,
        ciFixAttempts: config.ci_fix_attempts,
      };
    } catch (error) {
      if (!isDevsConfigError(error)) throw error;
      logConfigError(deps.log, error);
      return { error: { userMessage: renderConfigProblems(error, null), message: error.message } };
    }
  };
}
