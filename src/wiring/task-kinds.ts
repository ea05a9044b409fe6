// The kinds of task `serve` runs, on Docker: the repository cache, the agent and CI runners with
// their reporters, and the pool's hold on the containers. Built by the composition root
// (services.ts), which hands in what handlers share with the runners.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { trustedConversation } from "../agent/conversation.js";
import { BundledCliError, bundledCliMount, stageBundledCli, type StagedCli } from "../agent/bundled-cli.js";
import { BUNDLED_CLAUDE_PATH } from "../agent/claude-builds.js";
import { containerAgent } from "../agent/container-agent.js";
import { AgentReporter } from "../agent/reporter.js";
import { createAgentRunner } from "../agent/runner.js";
import { artifactStoreFromSettings } from "../ci/artifacts.js";
import { ciContainer } from "../ci/container.js";
import { CiReporter } from "../ci/reporter.js";
import { createCiRunner } from "../ci/runner.js";
import type { DevsConfigLoader } from "../config/devs-yml.js";
import { agentConfigLoader, ciEnvLoader } from "../config/task-config.js";
import { connectDocker, ContainerRuntime } from "../containers/docker.js";
import { FeatureImages } from "../containers/feature-image.js";
import { placeName, placeOf, type PlaceKey } from "../containers/naming.js";
import { quiesceTaskContainer } from "../containers/task-container.js";
import type { BotIdentity } from "../github/identity.js";
import type { PermissionCache } from "../github/permissions.js";
import type { TaskGitHub } from "../github/probot.js";
import { runsClaude } from "../policy/agent-command.js";
import type { BotNames } from "../policy/bot-names.js";
import type { ContainerLifecycle } from "../pool/pool.js";
import type { Redactor } from "../publish/redact.js";
import type { Settings } from "../settings.js";
import type { TaskKinds } from "../tasks/execution.js";
import type { Task } from "../tasks/task.js";
import { RepoCache } from "../workspace/repo-cache.js";
import type { UsageLedger } from "../budget/ledger.js";
import type { FixLoops } from "../tasks/fix-loops.js";
import { ModelAccess } from "../budget/model-access.js";
import { hostAddressFor } from "../containers/network.js";
import { ModelProxy } from "../model-proxy/proxy.js";
import { DEFAULT_PRICES, parsePriceOverrides, type PriceTable } from "../model-proxy/prices.js";
import { SettingsError } from "../settings.js";

/** What the composition root shares with the runners. */
export interface SharedParts {
  log: Logger;
  identity: BotIdentity;
  /** Who counts as the bot (services.ts builds it once from the identity). */
  bot: BotNames;
  github: TaskGitHub;
  devsConfig: DevsConfigLoader;
  permissions: PermissionCache;
  /** The settings' secret values (secretValues in services.ts). */
  secrets: string[];
  redact: Redactor;
  /** The clock for the times the reporters write. */
  now: () => Date;
  ledger: UsageLedger;
  /** The CI fix loops' store: the agent runner records its pushes there. */
  fixLoops: FixLoops;
  /** The public link of a task's log, for final comments and check runs; null without PUBLIC_URL. */
  logUrl: ((task: Task) => string | null) | null;
}

export interface DockerTaskKinds {
  kinds: TaskKinds;
  lifecycle: ContainerLifecycle;
  model: ModelAccess;
}

export function buildTaskKinds(settings: Settings, shared: SharedParts): DockerTaskKinds {
  const { log, identity, bot, github, devsConfig, permissions, secrets, redact, now, ledger } = shared;
  const logUrl = shared.logUrl ?? undefined;
  const docker = connectDocker(settings.dockerHost, settings.dockerTlsCertPath);
  // No host folder is mounted for the CI bridge: it is a directory inside the container, emptied
  // before each run and read through Docker's archive API, so nothing the container writes there
  // is ever opened by a host path (src/ci/container.ts).
  const agentCli = bundledAgentCli(settings, log);
  // The server's Claude Code is mounted into every container, CI's too: one warm container per place.
  const containers = new ContainerRuntime(docker, {
    network: settings.containerNetwork,
    ...(agentCli ? { mounts: () => [bundledCliMount(agentCli)] } : {}),
  });
  // The devcontainer CLI builds images with features; it gets the engine's address, nothing else of the settings.
  const features = new FeatureImages(docker, {
    workDir: join(settings.dataDir, "features"),
    dockerHost: settings.dockerHost,
    dockerTlsCertPath: settings.dockerTlsCertPath,
  });
  const repoCache = new RepoCache(settings.repoCacheDir);
  // Shared by both kinds: the container's workspace mount is part of its identity.
  const workspaceFor = (slot: string, task: Task) => placeDirs(settings, placeOf(slot, task)).workspace;
  const setupDirFor = (slot: string, task: Task) => placeDirs(settings, placeOf(slot, task)).setup;
  // Before the host touches the workspace: nothing of an earlier task runs in the container.
  const quiesce = async (input: { slot: string; task: Task }) => void (await quiesceTaskContainer(containers, input, log));

  const prices = modelPrices(settings);
  const model = new ModelAccess({
    startProxy: async () => {
      const proxy = new ModelProxy({
        upstream: settings.anthropicUpstreamUrl,
        credentials: { apiKey: settings.claudeApiKey, oauthToken: settings.claudeOauthToken },
        prices,
        log: log.child({ name: "model-proxy" }),
        host: settings.modelProxyHost ?? (await hostAddressFor(docker, settings.containerNetwork, log)),
        port: settings.modelProxyPort,
      });
      await proxy.listen();
      log.info({ url: proxy.url }, "model proxy listening");
      return proxy;
    },
    ledger,
    budgets: settings.budgets,
    now,
    log,
  });

  const agent = createAgentRunner({
    botHandle: identity.handle,
    identity: identity.commit,
    repoCache,
    workspaceFor,
    setupDirFor,
    quiesce,
    scratchDir: join(settings.dataDir, "publish"),
    github,
    loadConfig: agentConfigLoader({ loader: devsConfig, log, env: { secretValues: secrets } }),
    conversation: (octokit, task) =>
      trustedConversation(octokit, task, { bot, authorizedUsers: settings.authorizedTriggerUsers, permissions }),
    prepareContainer: containerAgent({
      docker,
      runtime: containers,
      defaultImage: settings.defaultImage,
      features,
      agentCommand: settings.agentCommand,
      claudePath: agentCli ? BUNDLED_CLAUDE_PATH : undefined,
      secrets: () => secrets,
      identity: identity.commit,
      log,
    }),
    openModel: (task, maxCostUsd, sharedWith) => model.open(task, maxCostUsd, sharedWith),
    recordPush: (push) => shared.fixLoops.recordPush(push),
    redact,
    log,
  });
  const agentReporter = new AgentReporter({
    github,
    timeoutMinutes: settings.containerTimeoutMinutes,
    log,
    now: () => now().getTime(),
    logUrl,
    loopSteps: (taskId) => shared.fixLoops.loop(taskId)?.steps ?? [],
  });

  const ciReporter = new CiReporter({ github, redact, log: log.child({ name: "ci" }), now });
  const ci = createCiRunner({
    repoCache,
    identity: identity.commit,
    workspaceFor,
    setupDirFor,
    quiesce,
    github,
    loadEnv: ciEnvLoader({ loader: devsConfig, log, env: { secretValues: secrets } }),
    prepareContainer: ciContainer({ docker, runtime: containers, defaultImage: settings.defaultImage, features, log }),
    artifacts: artifactStoreFromSettings(settings),
    secrets: () => secrets,
    timeoutMinutes: settings.containerTimeoutMinutes,
    log,
    logUrl,
  });

  return {
    kinds: { agent: { execute: agent, reporter: agentReporter }, ci: { execute: ci, reporter: ciReporter } },
    lifecycle: containerLifecycle(containers, log),
    model,
  };
}

/**
 * The server's Claude Code, staged for the containers, when AGENT_CLI=bundled and the agent
 * command runs `claude`; null when the image's own program runs. A missing build stops start-up.
 */
function bundledAgentCli(settings: Pick<Settings, "agentCli" | "agentCommand" | "dataDir">, log: Logger): StagedCli | null {
  if (settings.agentCli !== "bundled" || !runsClaude(settings.agentCommand)) return null;
  let staged: StagedCli;
  try {
    staged = stageBundledCli({ dataDir: settings.dataDir });
  } catch (error) {
    if (error instanceof BundledCliError) throw new SettingsError("AGENT_CLI", error.message);
    throw error;
  }
  const missing = (["glibc", "musl"] as const).filter((libc) => !staged.installed.includes(libc));
  log.info(
    { dir: staged.dir, version: staged.version, builds: staged.installed },
    `Claude Code ${staged.version} (${staged.installed.join(", ")}) is mounted read-only into task containers` +
      (missing.length ? `; images that use ${missing.join(", ")} need AGENT_CLI=image or that build installed` : ""),
  );
  return staged;
}

/** The built-in price table, under MODEL_PRICES_FILE's entries; a bad file stops start-up. */
function modelPrices(settings: Pick<Settings, "modelPricesFile">): PriceTable {
  const file = settings.modelPricesFile;
  if (!file) return DEFAULT_PRICES;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new SettingsError("MODEL_PRICES_FILE", `cannot read "${file}"`);
  }
  try {
    return parsePriceOverrides(text, `MODEL_PRICES_FILE (${file})`);
  } catch (error) {
    throw new SettingsError("MODEL_PRICES_FILE", (error as Error).message);
  }
}

/**
 * A place's directories on the host: the workspace bind-mounted into its container, its bridge,
 * and the setup tree a fork's container is defined from (never mounted).
 */
export function placeDirs(settings: Pick<Settings, "workspaceDir" | "dataDir">, place: PlaceKey): { workspace: string; bridge: string; setup: string } {
  const name = placeName(place);
  return { workspace: join(settings.workspaceDir, name), bridge: join(settings.dataDir, "bridge", name), setup: join(settings.dataDir, "setup", name) };
}

/** The pool's hold on the containers: which run, stopping them, and clearing each after its task. */
export function containerLifecycle(containers: ContainerRuntime, log: Logger): ContainerLifecycle {
  return {
    running: async (slot) => (await containers.list({ slot: slot })).filter((c) => c.running).map((c) => ({ repo: c.repo, trust: c.trust })),
    stop: async (slot, place) => {
      for (const c of await containers.list({ slot: slot })) if (c.repo === place.repo && c.trust === place.trust && c.running) await containers.stop(c.name);
    },
    afterTask: async (slot, task) => void (await quiesceTaskContainer(containers, { slot, task }, log)),
  };
}
