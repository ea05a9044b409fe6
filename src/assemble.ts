// Wires the parts of `serve` that run tasks: Docker, the repository cache, DEVS.yml, the agent and
// CI runners, and the pool's hooks (routing hints, progress comments, check runs, container stops).
import { join } from "node:path";
import type { Logger } from "pino";
import type { Probot } from "probot";
import { trustedConversation } from "./agent/conversation.js";
import { containerAgent } from "./agent/container-agent.js";
import { AgentReporter } from "./agent/reporter.js";
import { createAgentRunner } from "./agent/runner.js";
import { artifactStoreFromSettings } from "./ci/artifacts.js";
import { ciContainer } from "./ci/container.js";
import { ciPoolListener, supersedeQueued } from "./ci/pool-hooks.js";
import { CiReporter } from "./ci/reporter.js";
import { createCiRunner } from "./ci/runner.js";
import { DevsConfigLoader } from "./config/devs-yml.js";
import { agentConfigLoader, ciConfigLoader, ciEnvLoader, routeHints } from "./config/task-config.js";
import { connectDocker, ContainerRuntime } from "./containers/docker.js";
import { placeName, placeOf, type PlaceKey } from "./containers/naming.js";
import { quiesceTaskContainer } from "./containers/task-container.js";
import type { BotIdentity } from "./github/identity.js";
import { PermissionCache } from "./github/permissions.js";
import { taskGitHub } from "./github/probot.js";
import type { ContainerLifecycle, PoolEvent } from "./pool/pool.js";
import { createRedactor } from "./publish/redact.js";
import type { Runtime } from "./runtime.js";
import type { TaskKinds } from "./tasks/execution.js";
import type { ServerDeps } from "./server.js";
import type { Settings } from "./settings.js";
import type { Task } from "./tasks/task.js";
import { RepoCache } from "./workspace/repo-cache.js";

export interface Assembly {
  kinds: TaskKinds;
  lifecycle: ContainerLifecycle;
  routeHints: (task: Task) => Promise<{ singleQueue: boolean }>;
  onEvent: (event: PoolEvent) => Promise<void>;
  devsConfig: DevsConfigLoader;
  /** The CI handler's collaborators, once the journal and the pool exist. */
  ciHandler(runtime: Pick<Runtime, "journal" | "pool">): NonNullable<ServerDeps["ci"]>;
}

/** Settings whose values must never appear in anything posted or logged. */
export function secretValues(settings: Settings): string[] {
  return [
    settings.webhookSecret,
    settings.auth.kind === "app" ? settings.auth.privateKey : null,
    settings.auth.kind === "token" ? settings.auth.token : null,
    settings.adminPassword,
    settings.claudeApiKey,
    settings.claudeOauthToken,
  ].filter((v): v is string => Boolean(v));
}

export function assemble(settings: Settings, log: Logger, probot: Probot, identity: BotIdentity): Assembly {
  const docker = connectDocker(settings.dockerHost);
  // No host folder is mounted for the CI bridge: it is a directory inside the container, emptied
  // before each run and read through Docker's archive API, so nothing the container writes there
  // is ever opened by a host path (src/ci/container.ts).
  const containers = new ContainerRuntime(docker, { network: settings.containerNetwork });
  const devsConfig = new DevsConfigLoader({ envsDir: settings.devsEnvsDir, webUrl: settings.githubWebUrl, log });
  const github = taskGitHub(probot, settings);
  const secrets = secretValues(settings);
  const redact = createRedactor(secrets);
  const permissions = new PermissionCache();
  const repoCache = new RepoCache(settings.repoCacheDir);
  // Shared by both kinds: the container's workspace mount is part of its identity.
  const workspaceFor = (container: string, task: Task) => placeDirs(settings, placeOf(container, task)).workspace;
  // Before the host touches the workspace: nothing of an earlier task runs in the container.
  const quiesce = async (input: { container: string; task: Task }) => void (await quiesceTaskContainer(containers, input, log));

  const agent = createAgentRunner({
    botHandle: identity.handle,
    identity: identity.commit,
    repoCache,
    workspaceFor,
    quiesce,
    scratchDir: join(settings.dataDir, "publish"),
    github,
    loadConfig: agentConfigLoader({ loader: devsConfig, log, env: { secretValues: secrets } }),
    conversation: (octokit, task) =>
      trustedConversation(octokit, task, { botHandle: identity.handle, authorizedUsers: settings.authorizedTriggerUsers, permissions }),
    prepareContainer: containerAgent({
      docker,
      runtime: containers,
      defaultImage: settings.defaultImage,
      agentCommand: settings.agentCommand,
      credentials: { apiKey: settings.claudeApiKey, oauthToken: settings.claudeOauthToken },
      secrets: () => secrets,
      identity: identity.commit,
      log,
    }),
    redact,
    log,
  });
  const agentReporter = new AgentReporter({ github, timeoutMinutes: settings.containerTimeoutMinutes, log });

  const reporter = new CiReporter({ github, log: log.child({ name: "ci" }) });
  const ci = createCiRunner({
    repoCache,
    identity: identity.commit,
    workspaceFor,
    quiesce,
    reporter,
    loadEnv: ciEnvLoader({ loader: devsConfig, log, env: { secretValues: secrets } }),
    prepareContainer: ciContainer({ docker, runtime: containers, defaultImage: settings.defaultImage, log }),
    artifacts: artifactStoreFromSettings(settings),
    secrets: () => secrets,
    timeoutMinutes: settings.containerTimeoutMinutes,
    log,
  });
  // Runs a newer push superseded: their checks are completed by the handler, not the listener.
  const superseded = new Set<string>();
  const ciEvents = ciPoolListener({ reporter, redact, log, superseded });

  const onEvent = ciEvents;

  return {
    kinds: { agent: { execute: agent, reporter: agentReporter }, ci: { execute: ci } },
    devsConfig,
    routeHints: routeHints(devsConfig, async (task) => (await github(task)).octokit),
    onEvent,
    ciHandler: (runtime) => ({
      loadCiConfig: ciConfigLoader({ loader: devsConfig, log }),
      supersede: supersedeQueued(runtime.journal, runtime.pool, superseded),
      redact,
    }),
    lifecycle: containerLifecycle(containers, log),
  };
}

/** A place's directories on the host: the workspace bind-mounted into its container, and its bridge. */
export function placeDirs(settings: Pick<Settings, "workspaceDir" | "dataDir">, place: PlaceKey): { workspace: string; bridge: string } {
  const name = placeName(place);
  return { workspace: join(settings.workspaceDir, name), bridge: join(settings.dataDir, "bridge", name) };
}

/** The pool's hold on the containers: which run, stopping them, and clearing each after its task. */
export function containerLifecycle(containers: ContainerRuntime, log: Logger): ContainerLifecycle {
  return {
    running: async (slot) => (await containers.list({ pool: slot })).filter((c) => c.running).map((c) => ({ repo: c.repo, trust: c.trust })),
    stop: async (slot, place) => {
      for (const c of await containers.list({ pool: slot })) if (c.repo === place.repo && c.trust === place.trust && c.running) await containers.stop(c.name);
    },
    afterTask: async (slot, task) => void (await quiesceTaskContainer(containers, { container: slot, task }, log)),
  };
}
