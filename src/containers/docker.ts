// The container lifecycle on a Docker engine: one long-lived container per slot, repository
// and trust (see naming.ts), created from a devcontainer spec and a resolved image, kept (image,
// container, file system) between tasks but restarted for each so that no process of one task
// meets the next (see quiesce), recreated when what made it changes, with lifecycle hooks run
// when the spec says.
//
// Identity is in labels; the name is predictable (`devs-` + placeName, lower-case, since GitHub names ignore case).
// Containers get only the environment the spec and the caller give: nothing of the server's
// own environment, never privileged, no published ports, only the workspace mounted (plus the
// operator's extra mounts, such as the CI bridge directory, the same for every task kind).
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import Docker from "dockerode";
import { devcontainerHash, resolveContainerEnvRefs, type CommandForm, type DevcontainerSpec, type LifecycleHook } from "./devcontainer.js";
import { execInContainer, parseEnvList, toEnvList, type ExecOptions, type ExecResult } from "./exec.js";
import { valueHash } from "./hash.js";
import type { ResolvedImage } from "./image.js";
import { placeName, type PlaceKey, type Trust } from "./naming.js";
import { LastLines, type LineCallback } from "./stream.js";
import { SIDECAR_LABELS, Sidecars, type ComposeRun, type TaskAttachment } from "./sidecars.js";

export const LABELS = {
  managed: "devs.managed",
  // The label keeps the name older builds gave slots, so their containers are still found.
  slot: "devs.pool",
  repo: "devs.repo",
  trust: "devs.trust",
  configHash: "devs.config-hash",
  imageId: "devs.image-id",
  devcontainerHash: "devs.devcontainer-hash",
  envHash: "devs.env-hash",
} as const;

export class DockerHostError extends Error {
  override name = "DockerHostError";
}

export class ContainerError extends Error {
  override name = "ContainerError";
  constructor(
    readonly container: string,
    problem: string,
  ) {
    super(`container ${container}: ${problem}`);
  }
}

export class LifecycleCommandError extends Error {
  override name = "LifecycleCommandError";
  constructor(
    readonly container: string,
    readonly hook: LifecycleHook,
    /** The entry's name for the object form of a command. */
    readonly entry: string | null,
    readonly exitCode: number,
    readonly lastLines: string[],
  ) {
    super(
      `${hook}${entry ? ` (${entry})` : ""} failed with exit code ${exitCode} in ${container}` +
        (lastLines.length ? `:\n${lastLines.join("\n")}` : ""),
    );
  }
}

/** A Docker client for DOCKER_HOST: empty for the local socket, unix://, tcp:// or http(s)://. */
export function connectDocker(dockerHost?: string | null, tlsCertPath?: string | null): Docker {
  const host = dockerHost?.trim() ?? "";
  // Explicit fields throughout: docker-modem would otherwise fill gaps from process.env.
  const unset = { host: undefined, port: undefined, protocol: undefined } as const;
  if (!host) return new Docker({ ...unset, socketPath: "/var/run/docker.sock" });
  if (host.startsWith("unix://")) return new Docker({ ...unset, socketPath: host.slice("unix://".length) || "/var/run/docker.sock" });
  const match = /^(tcp|http|https):\/\/([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(host);
  if (match) {
    const [, scheme, hostname, port] = match;
    if (tlsCertPath) {
      // As the Docker CLI does with DOCKER_TLS_VERIFY: the engine's CA, and our client certificate.
      const read = (file: string) => readFileSync(join(tlsCertPath, file));
      return new Docker({ host: hostname, port: Number(port), protocol: "https", ca: read("ca.pem"), cert: read("cert.pem"), key: read("key.pem") });
    }
    return new Docker({ host: hostname, port: Number(port), protocol: scheme === "https" ? "https" : "http" });
  }
  throw new DockerHostError(
    `DOCKER_HOST=${host} is not supported: use unix:///path/to/docker.sock or tcp://host:port`,
  );
}

/** `devs-<slot>-<owner>-<repo>[-fork]-<hash>`, lower-case, unique per place. */
export function containerName(place: PlaceKey): string {
  return `devs-${placeName(place)}`;
}

export interface RuntimeOptions {
  /** Network mode: bridge (default), none, host or a network's name (CONTAINER_NETWORK). */
  network?: string;
  /** Seconds `stop` waits before Docker kills the container. */
  stopTimeoutSeconds?: number;
  /** Run Docker's init as PID 1 so processes orphaned by a kill are reaped (default true). */
  init?: boolean;
  /**
   * Host folders bind-mounted into every container this runtime makes, besides the workspace (the
   * CI bridge directory). Per place (slot, repository, trust), and the same whatever the task
   * kind, so agent and CI tasks of one place share one warm container. Part of the container's
   * identity: a change recreates it. Sources are created when missing.
   */
  mounts?: (container: PlaceKey) => readonly BindMount[];
  /**
   * Places whose container is removed between tasks, not only restarted, so that no file a task
   * wrote outside the workspace (a replaced /bin/sh, a planted ~/.profile) reaches the next task.
   * Default: a fork's, whose code anyone can write and whose tasks come from different outsiders.
   * Elsewhere the file system stays warm (postCreate runs once), which trusts it to the place.
   */
  freshPerTask?: (place: PlaceKey) => boolean;
}

export interface BindMount {
  /** Host folder. */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readOnly?: boolean;
}

export interface EnsureRequest {
  slot: string;
  owner: string;
  repo: string;
  /** Whose code the task runs: a fork's never shares a container with the maintainers'. */
  trust: Trust;
  /** Host folder bind-mounted at the spec's workspaceFolder. Keep it stable per place (placeName): it is part of the container's identity. */
  workspaceDir: string;
  spec: DevcontainerSpec;
  image: ResolvedImage;
  /** Extra variables set on the container (for example DEVS.yml env_vars); they win over containerEnv. */
  env?: Readonly<Record<string, string>>;
  /** A Compose devcontainer's plan and images: its other services run beside the container. */
  compose?: ComposeRun;
  /** Output of lifecycle hooks. */
  onLine?: LineCallback;
  /** What ensure is doing, in a few words (for the task's log). */
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

export interface DevContainer {
  /** The name to use with stop/remove (normally `containerName(...)`). */
  name: string;
  id: string;
  slot: string;
  /** owner/repo, lower-case. */
  repo: string;
  trust: Trust;
  spec: DevcontainerSpec;
  imageId: string;
  /** The container's environment as Docker reports it: image ENV, containerEnv, caller env. */
  env: Record<string, string>;
  /** started: it existed (a running one is restarted first); created: it is new. */
  action: "started" | "created";
  /** Why an existing container was replaced, if it was. */
  recreatedBecause: string | null;
}

export interface ManagedContainer {
  name: string;
  id: string;
  slot: string;
  repo: string;
  /** Containers made before trust was part of the identity count as the maintainers'. */
  trust: Trust;
  state: string;
  running: boolean;
  imageId: string;
  configHash: string;
  createdAt: Date;
}

/** Keeps the container's PID 1 idle, and quits at once on `docker stop` (the devcontainer CLI's loop). */
const KEEP_ALIVE = "trap 'exit 0' TERM INT; while sleep 3600 & wait $!; do :; done";

/** Lifecycle state kept inside the container, so it survives restarts of this process. */
const STATE_DIR = "/var/lib/devs-webhook";
const READ_STATE = `[ -e ${STATE_DIR}/created ] && echo created; [ -r ${STATE_DIR}/started ] && printf 'started:%s\\n' "$(cat ${STATE_DIR}/started)"; true`;
const MARK_CREATED = `mkdir -p ${STATE_DIR} && : > ${STATE_DIR}/created`;
const MARK_STARTED = `mkdir -p ${STATE_DIR} && printf '%s' "$1" > ${STATE_DIR}/started`;

const CREATE_HOOKS = ["onCreateCommand", "updateContentCommand", "postCreateCommand"] as const;

export class ContainerRuntime {
  private readonly network: string;
  private readonly stopTimeout: number;
  private readonly init: boolean;
  private readonly mounts: NonNullable<RuntimeOptions["mounts"]>;
  private readonly freshPerTask: NonNullable<RuntimeOptions["freshPerTask"]>;
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Container id → the start (State.StartedAt) whose hooks have run, to skip the check when warm. */
  private readonly hooksDone = new Map<string, string>();
  private readonly sidecars: Sidecars;

  constructor(
    readonly docker: Docker,
    options: RuntimeOptions = {},
  ) {
    this.network = options.network ?? "bridge";
    this.stopTimeout = options.stopTimeoutSeconds ?? 10;
    this.init = options.init ?? true;
    this.mounts = options.mounts ?? (() => []);
    this.freshPerTask = options.freshPerTask ?? ((place) => place.trust === "fork");
    this.sidecars = new Sidecars(docker, { network: this.network, stopTimeout: this.stopTimeout, init: this.init });
  }

  /**
   * Returns a running container for the request, creating, recreating or starting it as needed,
   * and holding no process of an earlier task: a running one is quiesced (restarted) first.
   */
  ensure(request: EnsureRequest): Promise<DevContainer> {
    const place = placeOfRequest(request);
    const preferred = containerName(place);
    return this.locked(preferred, () => this.ensureUnlocked(request, place, preferred));
  }

  /**
   * Makes sure nothing of an earlier task runs in the place's container; call it before the host
   * touches the task's workspace (a live leftover could race the checkout), and after each task.
   * A running container is killed through the engine (SIGKILL to its init: the kernel then ends
   * every process in it) and left stopped; the next ensure starts it again.
   *
   * Why a restart and not a kill of what looks foreign: the task is hostile. Marks and
   * in-container scans are beaten by `env -i`, `setsid`, a double fork, a forged mark or a
   * replaced /bin/sh; and even a host-side list of the container's own processes (Docker's top
   * API, compared with what ran right after its start) cannot tell whether those processes are
   * still only its own: a task running as root (most images' default) can write the memory of
   * any process in the container, /proc/1/mem included (Docker's seccomp profile allows ptrace,
   * and root can take any uid), and hide itself in the container's init or keep-alive loop. Only
   * ending every process leaves nothing of the task. What stays warm is the image, the container
   * and its file system (postCreate has run); each task pays a start and postStartCommand, whose
   * services live for one task and come back for the next. Places of `freshPerTask` (a fork's)
   * have their container removed instead: nothing of the file system stays either.
   */
  quiesce(place: PlaceKey, onProgress?: (message: string) => void): Promise<QuiesceResult> {
    const preferred = containerName(place);
    return this.locked(preferred, async () => {
      const { name, info } = await this.find(preferred, place);
      if (!info) return { outcome: "absent" };
      return this.clear(name, info, place, onProgress);
    });
  }

  /**
   * Ends every process in the place's container (SIGKILL to its init through the engine) and
   * leaves it stopped, never removed: for reading what a task wrote through Docker's archive API
   * once nothing of the task can still change it. The next quiesce or ensure does the rest.
   */
  halt(place: PlaceKey): Promise<QuiesceResult> {
    const preferred = containerName(place);
    return this.locked(preferred, async () => {
      const { name, info } = await this.find(preferred, place);
      if (!info) return { outcome: "absent" };
      if (info.State.Paused) await this.docker.getContainer(info.Id).unpause();
      if (!info.State.Running) return { outcome: "not-running" };
      await this.killContainer(name, info.Id);
      return { outcome: "stopped" };
    });
  }

  private async ensureUnlocked(request: EnsureRequest, place: PlaceKey, preferred: string): Promise<DevContainer> {
    const { signal } = request;
    const repo = `${request.owner}/${request.repo}`.toLowerCase();
    const extra = this.mounts(place);
    // Docker refuses a bind mount whose source is missing, on create and on start alike.
    for (const mount of extra) await mkdir(resolve(mount.source), { recursive: true });
    const { name, info: existing } = await this.find(preferred, place);
    let info = existing;
    let recreatedBecause: string | null = null;
    let attachment: TaskAttachment | null = null;
    if (request.compose) {
      if (this.network === "host") {
        throw new ContainerError(name, "Docker Compose services cannot run beside a container on the host's network (CONTAINER_NETWORK=host)");
      }
      // A fresh place starts its services afresh too: the old ones go with the old container.
      if (info && this.freshPerTask(place)) {
        await this.clear(name, info, place, request.onProgress);
        info = null;
      }
      attachment = await this.sidecars.up(name, this.placeLabels(request, repo), request.compose, request.onProgress, signal).catch((error: unknown) => {
        throw statusCode(error) === undefined && error instanceof Error && error.name === "Error" ? new ContainerError(name, error.message) : error;
      });
    }
    const wanted = this.createOptions(request, repo, extra, attachment);

    if (info) {
      const labels = info.Config.Labels ?? {};
      const status = info.State.Status;
      if (labels[LABELS.configHash] !== wanted.Labels[LABELS.configHash]) recreatedBecause = changeReason(labels, wanted.Labels);
      else if (status === "dead" || status === "removing") recreatedBecause = `it was ${status}`;
      if (recreatedBecause) {
        request.onProgress?.(`recreating ${name}: ${recreatedBecause}`);
        await this.docker.getContainer(info.Id).remove({ force: true, v: true });
        this.hooksDone.delete(info.Id);
        info = null;
      }
    }
    signal?.throwIfAborted();

    if (info && (info.State.Running || this.freshPerTask(place))) {
      const cleared = await this.clear(name, info, place, request.onProgress);
      info = cleared.outcome === "removed" ? null : await this.docker.getContainer(info.Id).inspect();
    }
    signal?.throwIfAborted();

    let action: DevContainer["action"];
    if (!info) {
      // A place that no longer uses Compose leaves no services behind.
      if (!request.compose) await this.sidecars.remove(name);
      request.onProgress?.(`creating ${name} from ${request.image.ref}`);
      const created = await this.docker.createContainer({ ...wanted, name }).catch((error: unknown) => {
        throw new ContainerError(name, `could not be created: ${dockerMessage(error)}`);
      });
      for (const { network, aliases } of attachment?.connect ?? []) {
        await this.docker
          .getNetwork(network)
          .connect({ Container: created.id, EndpointConfig: { Aliases: aliases } })
          .catch(async (error: unknown) => {
            await created.remove({ force: true }).catch(() => undefined);
            throw new ContainerError(name, `could not join the network of its services: ${dockerMessage(error)}`);
          });
      }
      await created.start().catch(async (error: unknown) => {
        await created.remove({ force: true }).catch(() => undefined);
        throw new ContainerError(name, `could not be started: ${dockerMessage(error)}`);
      });
      action = "created";
      info = await created.inspect();
    } else {
      request.onProgress?.(`starting ${name}`);
      await this.docker
        .getContainer(info.Id)
        .start()
        .catch((error: unknown) => {
          throw new ContainerError(name, `could not be started: ${dockerMessage(error)}`);
        });
      action = "started";
      info = await this.docker.getContainer(info.Id).inspect();
    }

    const handle: DevContainer = {
      name,
      id: info.Id,
      slot: request.slot,
      repo,
      trust: request.trust,
      spec: request.spec,
      imageId: request.image.id,
      env: parseEnvList(info.Config.Env),
      action,
      recreatedBecause,
    };
    await this.runHooks(handle, info.State.StartedAt, action === "created", request);
    return handle;
  }

  /** Runs `cmd` (an argv) in the container with remoteEnv, then `options.env`, over the container's env. */
  exec(container: DevContainer, cmd: readonly string[], options: ExecOptions = {}): Promise<ExecResult> {
    const { spec } = container;
    const remoteEnv = Object.fromEntries(
      Object.entries(spec.remoteEnv).map(([k, v]) => [k, resolveContainerEnvRefs(v, container.env)]),
    );
    const user = options.user ?? spec.remoteUser ?? spec.containerUser ?? undefined;
    return execInContainer(this.docker.getContainer(container.id), cmd, {
      ...options,
      env: { ...remoteEnv, ...options.env },
      cwd: options.cwd ?? spec.workspaceFolder,
      ...(user ? { user } : {}),
    });
  }

  /** Stops a managed container; false when it was not running or does not exist. */
  stop(name: string): Promise<boolean> {
    return this.locked(name, async () => {
      const info = await this.inspectManaged(name);
      // A Compose place's services stop with it (they may run while its container is stopped between tasks).
      const services = info ? await this.sidecars.stop(name) : false;
      if (!info?.State.Running) return services;
      try {
        await this.docker.getContainer(info.Id).stop({ t: this.stopTimeout });
      } catch (error) {
        if (statusCode(error) === 304 || statusCode(error) === 404) return false;
        throw error;
      }
      return true;
    });
  }

  /** Removes a managed container, running or not; false when it does not exist. */
  remove(name: string): Promise<boolean> {
    return this.locked(name, async () => {
      const info = await this.inspectManaged(name);
      if (!info) {
        // A Compose place whose container was never made (its services failed) may have some.
        await this.sidecars.remove(name);
        return false;
      }
      try {
        await this.docker.getContainer(info.Id).remove({ force: true, v: true });
      } catch (error) {
        if (statusCode(error) === 404) return false;
        throw error;
      }
      this.hooksDone.delete(info.Id);
      await this.sidecars.remove(name);
      return true;
    });
  }

  async isRunning(name: string): Promise<boolean> {
    const info = await this.inspectManaged(name);
    return info?.State.Running ?? false;
  }

  /** Containers this app manages, optionally only one slot's. */
  async list(filter: { slot?: string } = {}): Promise<ManagedContainer[]> {
    const label = [`${LABELS.managed}=true`, ...(filter.slot ? [`${LABELS.slot}=${filter.slot}`] : [])];
    const all = await this.docker.listContainers({ all: true, filters: { label } });
    // A Compose place's other services are part of it, not containers of their own; while they
    // run, the place counts as running, so the pool's idle stop ends them too.
    const containers = all.filter((c) => c.Labels[SIDECAR_LABELS.of] === undefined);
    const servicesRun = new Set(all.filter((c) => c.Labels[SIDECAR_LABELS.of] !== undefined && c.State === "running").map((c) => c.Labels[SIDECAR_LABELS.of]));
    return containers
      .map((c) => ({
        name: (c.Names[0] ?? c.Id).replace(/^\//, ""),
        id: c.Id,
        slot: c.Labels[LABELS.slot] ?? "",
        repo: c.Labels[LABELS.repo] ?? "",
        trust: c.Labels[LABELS.trust] === "fork" ? ("fork" as const) : ("maintainers" as const),
        state: c.State,
        running: c.State === "running" || servicesRun.has((c.Names[0] ?? c.Id).replace(/^\//, "")),
        imageId: c.Labels[LABELS.imageId] ?? c.ImageID,
        configHash: c.Labels[LABELS.configHash] ?? "",
        createdAt: new Date(c.Created * 1000),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  // -------------------------------------------------------------------------------------------

  private placeLabels(request: EnsureRequest, repo: string): Record<string, string> {
    return { [LABELS.managed]: "true", [LABELS.slot]: request.slot, [LABELS.repo]: repo, [LABELS.trust]: request.trust };
  }

  private createOptions(
    request: EnsureRequest,
    repo: string,
    extra: readonly BindMount[],
    attachment: TaskAttachment | null,
  ): Docker.ContainerCreateOptions & { Labels: Record<string, string> } {
    const { spec } = request;
    // A Compose devcontainer's task service gives the base; devcontainer.json's keys win over it.
    const service = request.compose?.plan.services.find((s) => s.name === request.compose?.plan.service) ?? null;
    const env = { ...service?.env, ...spec.run.env, ...spec.containerEnv, ...request.env };
    const user = spec.containerUser ?? service?.user ?? null;
    const command = spec.overrideCommand
      ? { Entrypoint: ["/bin/sh", "-c", KEEP_ALIVE], Cmd: ["devs-keepalive"] }
      : { ...(service?.entrypoint ? { Entrypoint: service.entrypoint } : {}), ...(service?.command ? { Cmd: service.command } : {}) };
    const options = {
      Image: request.image.id,
      Env: toEnvList(sortedRecord(env)),
      WorkingDir: spec.workspaceFolder,
      ...(user ? { User: user } : {}),
      ...command,
      ...(service?.healthcheck ? { Healthcheck: service.healthcheck } : {}),
      StopTimeout: this.stopTimeout,
      Labels: {
        ...this.placeLabels(request, repo),
        [LABELS.imageId]: request.image.id,
        [LABELS.devcontainerHash]: devcontainerHash(spec),
        [LABELS.envHash]: valueHash(sortedRecord(request.env ?? {})),
      } as Record<string, string>,
      HostConfig: {
        Mounts: [
          { Type: "bind" as const, Source: resolve(request.workspaceDir), Target: spec.workspaceFolder },
          // Listed only when there are any, so containers made before extra mounts existed keep their hash.
          ...extra.map((m) => ({ Type: "bind" as const, Source: resolve(m.source), Target: m.target, ...(m.readOnly ? { ReadOnly: true } : {}) })),
          ...(attachment?.mounts ?? []),
          ...this.volumeMounts(request),
        ],
        NetworkMode: attachment?.networkMode ?? this.network,
        Init: this.init,
        Privileged: false,
        RestartPolicy: { Name: "no" },
        ...(spec.run.capDrop.length ? { CapDrop: spec.run.capDrop } : {}),
        ...(spec.run.memoryBytes ? { Memory: spec.run.memoryBytes } : {}),
        ...(spec.run.nanoCpus ? { NanoCpus: spec.run.nanoCpus } : {}),
      },
      ...(attachment?.aliases.length ? { NetworkingConfig: { EndpointsConfig: { [attachment.networkMode]: { Aliases: attachment.aliases } } } } : {}),
    };
    // Everything that would make a different container, so any change recreates it.
    // The networks joined after create (API 1.41 takes one at create) count too.
    options.Labels[LABELS.configHash] = valueHash(attachment?.connect.length ? { ...options, joins: attachment.connect } : options);
    return options;
  }

  /**
   * devcontainer.json's named volumes, named after the place (`<container name>-<volume>`), so
   * that no two repositories, trusts or slots ever share one. None for places of freshPerTask,
   * whose tasks must not inherit files from one another.
   */
  private volumeMounts(request: EnsureRequest) {
    const place = placeOfRequest(request);
    if (this.freshPerTask(place) || !request.spec.volumes?.length) return [];
    return request.spec.volumes.map((volume) => ({
      Type: "volume" as const,
      Source: `${containerName(place)}-${volume.source}`,
      Target: volume.target,
      ...(volume.readOnly ? { ReadOnly: true } : {}),
    }));
  }

  private async find(preferred: string, place: PlaceKey): Promise<{ name: string; info: Docker.ContainerInspectInfo | null }> {
    const repo = `${place.owner}/${place.repo}`.toLowerCase();
    const owns = (info: Docker.ContainerInspectInfo) => {
      const labels = info.Config.Labels ?? {};
      return labels[LABELS.managed] === "true" && labels[LABELS.slot] === place.slot && labels[LABELS.repo] === repo && labels[LABELS.trust] === place.trust;
    };
    const info = await this.inspect(preferred);
    if (!info || owns(info)) return { name: preferred, info };
    // The name is taken by a container this app did not make for this place (someone made one by
    // hand). Step aside with a name made unique by a hash.
    const alternative = `${preferred}-${valueHash([place.slot, repo, place.trust], 8)}`;
    const other = await this.inspect(alternative);
    if (other && !owns(other)) throw new ContainerError(alternative, "exists and was not created by devs-webhook for this repository");
    return { name: alternative, info: other };
  }

  /** See quiesce. The caller holds the container's lock. */
  private async clear(name: string, found: Docker.ContainerInspectInfo, place: PlaceKey, onProgress?: (message: string) => void): Promise<QuiesceResult> {
    let info = found;
    const handle = this.docker.getContainer(info.Id);
    if (this.freshPerTask(place)) {
      onProgress?.(`removing ${name}: each task of this place gets a new container`);
      // Removing a running container kills it first: the same end for every process in it.
      await handle.remove({ force: true, v: true }).catch((error: unknown) => {
        if (statusCode(error) !== 404) throw new ContainerError(name, `could not be removed: ${dockerMessage(error)}`);
      });
      this.hooksDone.delete(info.Id);
      // A Compose place's services, network and volumes go too: no state of them reaches the next task.
      await this.sidecars.remove(name);
      return { outcome: "removed" };
    }
    if (info.State.Paused) {
      await handle.unpause();
      info = await handle.inspect();
    }
    if (!info.State.Running) return { outcome: "not-running" };
    onProgress?.(`restarting ${name}: nothing of an earlier task may run on in it`);
    await this.killContainer(name, info.Id);
    return { outcome: "stopped" };
  }

  /** SIGKILL to the container's init through the engine: the kernel ends every process in it. */
  private async killContainer(name: string, id: string): Promise<void> {
    const handle = this.docker.getContainer(id);
    try {
      await handle.kill({ signal: "SIGKILL" });
    } catch (error) {
      // 409: it stopped meanwhile, which is the point.
      if (statusCode(error) !== 409 && statusCode(error) !== 304) throw new ContainerError(name, `could not be killed: ${dockerMessage(error)}`);
    }
    this.hooksDone.delete(id);
    const deadline = Date.now() + 30_000;
    while ((await handle.inspect()).State.Running) {
      if (Date.now() > deadline) throw new ContainerError(name, "still runs 30 s after SIGKILL");
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async runHooks(container: DevContainer, startedAt: string, fresh: boolean, request: EnsureRequest): Promise<void> {
    const { spec } = container;
    const createHooks = CREATE_HOOKS.filter((hook) => spec[hook]);
    if (!createHooks.length && !spec.postStartCommand) return;
    if (!fresh && this.hooksDone.get(container.id) === startedAt) return;

    // Marks are written only after a hook succeeds: a failed hook runs again on the next ensure.
    const state = fresh ? { created: false, started: null } : await this.readState(container);
    if (createHooks.length && !state.created) {
      for (const hook of createHooks) await this.runHook(container, hook, request);
      await this.asRoot(container, MARK_CREATED);
    }
    if (spec.postStartCommand && state.started !== startedAt) {
      await this.runHook(container, "postStartCommand", request);
      await this.asRoot(container, MARK_STARTED, startedAt);
    }
    this.hooksDone.set(container.id, startedAt);
  }

  private async runHook(container: DevContainer, hook: LifecycleHook, request: EnsureRequest): Promise<void> {
    const command = container.spec[hook];
    if (!command) return;
    request.onProgress?.(`running ${hook} in ${container.name}`);
    const entries: Array<[string | null, CommandForm]> =
      command.kind === "parallel" ? Object.entries(command.commands) : [[null, command]];
    await Promise.all(
      entries.map(async ([entry, form]) => {
        const lastLines = new LastLines(20);
        const argv =
          form.kind === "shell"
            ? ["/bin/sh", "-c", resolveContainerEnvRefs(form.command, container.env)]
            : form.argv.map((arg) => resolveContainerEnvRefs(arg, container.env));
        const result = await this.exec(container, argv, {
          onLine: (stream, line) => {
            lastLines.push(line);
            request.onLine?.(stream, line);
          },
          ...(request.signal ? { signal: request.signal } : {}),
        });
        if (result.exitCode !== 0) throw new LifecycleCommandError(container.name, hook, entry, result.exitCode, lastLines.get());
      }),
    );
  }

  private async readState(container: DevContainer): Promise<{ created: boolean; started: string | null }> {
    const lines: string[] = [];
    await this.asRoot(container, READ_STATE, undefined, (line) => lines.push(line));
    const started = lines.find((l) => l.startsWith("started:"));
    return { created: lines.includes("created"), started: started ? started.slice("started:".length) : null };
  }

  private async asRoot(container: DevContainer, script: string, arg?: string, onStdout?: (line: string) => void): Promise<void> {
    const errors: string[] = [];
    const result = await execInContainer(this.docker.getContainer(container.id), ["/bin/sh", "-c", script, "devs-state", ...(arg ? [arg] : [])], {
      user: "0",
      onLine: (stream, line) => (stream === "stdout" ? onStdout?.(line) : errors.push(line)),
    });
    if (result.exitCode !== 0) {
      throw new ContainerError(container.name, `could not record lifecycle state in ${STATE_DIR} (exit ${result.exitCode}): ${errors.join(" ")}`);
    }
  }

  private async inspect(name: string): Promise<Docker.ContainerInspectInfo | null> {
    try {
      return await this.docker.getContainer(name).inspect();
    } catch (error) {
      if (statusCode(error) === 404) return null;
      throw error;
    }
  }

  /** Inspects by name and refuses containers this app did not create. */
  private async inspectManaged(name: string): Promise<Docker.ContainerInspectInfo | null> {
    const info = await this.inspect(name);
    if (info && info.Config.Labels?.[LABELS.managed] !== "true") {
      throw new ContainerError(name, "was not created by devs-webhook; leaving it alone");
    }
    return info;
  }

  /** Serialises work on one container name within this process. */
  private locked<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return next;
  }
}

export interface QuiesceResult {
  /**
   * absent: no container yet; not-running: nothing runs; stopped: killed through the engine now;
   * removed: removed (a place whose tasks each get a new container).
   */
  outcome: "absent" | "not-running" | "stopped" | "removed";
}

function placeOfRequest(request: EnsureRequest): PlaceKey {
  return { slot: request.slot, owner: request.owner, repo: request.repo, trust: request.trust };
}

function changeReason(have: Record<string, string>, want: Record<string, string>): string {
  if (have[LABELS.imageId] !== want[LABELS.imageId]) return "its image changed";
  if (have[LABELS.devcontainerHash] !== want[LABELS.devcontainerHash]) return "the devcontainer configuration changed";
  if (have[LABELS.envHash] !== want[LABELS.envHash]) return "its environment changed";
  return "its container options changed";
}

function sortedRecord(record: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function statusCode(error: unknown): number | undefined {
  return (error as { statusCode?: number }).statusCode;
}

function dockerMessage(error: unknown): string {
  const json = (error as { json?: { message?: string } }).json;
  return (json?.message ?? (error instanceof Error ? error.message : String(error))).trim();
}
