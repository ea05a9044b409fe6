// The other services of a Compose devcontainer (a database, a cache): containers of the place
// beside the task's own, made from compose.ts's checked plan through the engine's API, never by
// docker-compose. Each place gets its own internal network, on which services reach each other
// by service name, and its own named volumes; only the task's service (or the service whose
// network it shares) is also on CONTAINER_NETWORK, where the model proxy is. No service publishes
// a port, runs privileged or mounts a folder of the server. Used only by ContainerRuntime.
import type Docker from "dockerode";
import { toEnvList } from "./exec.js";
import { valueHash } from "./hash.js";
import type { ComposePlan, PlannedService } from "./compose.js";
import type { ResolvedImage } from "./image.js";

export interface ComposeRun {
  plan: ComposePlan;
  /** The image of every service of the plan, by service name. */
  images: Readonly<Record<string, ResolvedImage>>;
}

/** How the task's container joins the place's services. */
export interface TaskAttachment {
  /** Docker's network mode for the task's container. */
  networkMode: string;
  /** Its alias on the network of networkMode, when that is a network. */
  aliases: string[];
  /** Networks to connect it to after it is created, with its aliases there. */
  connect: Array<{ network: string; aliases: string[] }>;
  /** Named volumes of the task's service. */
  mounts: Array<{ Type: "volume"; Source: string; Target: string; ReadOnly?: boolean }>;
}

export const SIDECAR_LABELS = {
  /** The name of the task's container whose place the sidecar, network or volume belongs to. */
  of: "devs.sidecar-of",
  service: "devs.service",
  configHash: "devs.config-hash",
} as const;

/** How long a service may take to become healthy when another waits for it. */
const HEALTHY_WITHIN_MS = 120_000;

export class Sidecars {
  constructor(
    private readonly docker: Docker,
    private readonly options: { network: string; stopTimeout: number; init: boolean },
  ) {}

  static networkName(container: string): string {
    return `${container}-net`;
  }

  static volumeName(container: string, volume: string): string {
    return `${container}-vol-${volume}`;
  }

  static sidecarName(container: string, service: string): string {
    return `${container}-svc-${service}`;
  }

  /**
   * Makes the place's network, volumes and sidecars match the plan (recreating a sidecar whose
   * definition changed, starting one that stopped, removing one the plan no longer has), in
   * start order, and says how the task's container joins them.
   */
  async up(container: string, labels: Record<string, string>, run: ComposeRun, onProgress?: (message: string) => void, signal?: AbortSignal): Promise<TaskAttachment> {
    const { plan } = run;
    const network = Sidecars.networkName(container);
    const owned = { ...labels, [SIDECAR_LABELS.of]: container };
    await this.ensureNetwork(network, owned);
    for (const volume of plan.volumes) await this.ensureVolume(Sidecars.volumeName(container, volume), owned);

    const ids = new Map<string, string>();
    const sharers = (name: string) => plan.services.filter((s) => s.networkOf === name).map((s) => s.name);
    const task = plan.services.find((s) => s.name === plan.service)!;
    // The task's service needs CONTAINER_NETWORK; when it runs in another service's network, that one joins it.
    const outside = this.options.network === "none" ? null : this.options.network;
    const onOutside = outside ? (task.networkOf ?? task.name) : null;
    const waitedHealthy = new Set(plan.services.flatMap((s) => s.waitFor.filter((w) => w.healthy).map((w) => w.service)));

    for (const service of plan.services) {
      if (service.name === plan.service) continue;
      signal?.throwIfAborted();
      const aliases = [service.name, ...sharers(service.name)];
      const base = service.networkOf ? { mode: `container:${ids.get(service.networkOf)!}`, aliases: [] } : { mode: network, aliases };
      const extra = !service.networkOf && onOutside === service.name && outside ? [{ network: outside, aliases: [] }] : [];
      const id = await this.ensureSidecar(container, owned, service, run.images[service.name]!, base, extra, onProgress);
      ids.set(service.name, id);
      if (waitedHealthy.has(service.name)) await this.waitHealthy(Sidecars.sidecarName(container, service.name), id, signal);
    }
    await this.removeStale(container, new Set(plan.services.map((s) => s.name).filter((n) => n !== plan.service)), new Set(plan.volumes));

    const mounts = volumeMounts(container, task);
    if (task.networkOf) return { networkMode: `container:${ids.get(task.networkOf)!}`, aliases: [], connect: [], mounts };
    const aliases = [task.name, ...sharers(task.name)];
    if (!outside) return { networkMode: network, aliases, connect: [], mounts };
    return { networkMode: outside, aliases: [], connect: [{ network, aliases }], mounts };
  }

  /** Stops the place's sidecars; false when none ran. */
  async stop(container: string): Promise<boolean> {
    let stopped = false;
    for (const c of await this.listFor(container)) {
      if (c.State !== "running") continue;
      await this.docker.getContainer(c.Id).stop({ t: this.options.stopTimeout }).catch(ignoreStatus(304, 404));
      stopped = true;
    }
    return stopped;
  }

  /** Removes the place's sidecars, their network and their volumes: nothing of them is left. */
  async remove(container: string): Promise<void> {
    await this.removeStale(container, new Set(), new Set());
    const network = Sidecars.networkName(container);
    const info = await this.docker.getNetwork(network).inspect().catch(ignoreStatus(404));
    if (info && (info as { Labels?: Record<string, string> }).Labels?.[SIDECAR_LABELS.of] === container) {
      await this.docker.getNetwork(network).remove().catch(ignoreStatus(404));
    }
  }

  /** Sidecars of every place, by the name of their task's container. */
  async runningByPlace(): Promise<Set<string>> {
    const list = await this.docker.listContainers({ all: true, filters: { label: [SIDECAR_LABELS.of] } });
    return new Set(list.filter((c) => c.State === "running").map((c) => c.Labels[SIDECAR_LABELS.of] ?? ""));
  }

  // -------------------------------------------------------------------------------------------

  private async listFor(container: string): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({ all: true, filters: { label: [`${SIDECAR_LABELS.of}=${container}`] } });
  }

  private async ensureNetwork(name: string, labels: Record<string, string>): Promise<void> {
    const info = (await this.docker.getNetwork(name).inspect().catch(ignoreStatus(404))) as { Labels?: Record<string, string> } | undefined;
    if (info) {
      if (info.Labels?.[SIDECAR_LABELS.of] !== labels[SIDECAR_LABELS.of]) throw new Error(`network ${name} exists and was not created by devs-webhook for this place`);
      return;
    }
    // Internal: services reach each other, not the outside; the task's way out is CONTAINER_NETWORK.
    await this.docker.createNetwork({ Name: name, Driver: "bridge", Internal: true, CheckDuplicate: true, Labels: labels });
  }

  private async ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    const info = await this.docker.getVolume(name).inspect().catch(ignoreStatus(404));
    if (info) {
      if (info.Labels?.[SIDECAR_LABELS.of] !== labels[SIDECAR_LABELS.of]) throw new Error(`volume ${name} exists and was not created by devs-webhook for this place`);
      return;
    }
    await this.docker.createVolume({ Name: name, Driver: "local", Labels: labels });
  }

  private async ensureSidecar(
    container: string,
    labels: Record<string, string>,
    service: PlannedService,
    image: ResolvedImage,
    network: { mode: string; aliases: string[] },
    extra: Array<{ network: string; aliases: string[] }>,
    onProgress?: (message: string) => void,
  ): Promise<string> {
    const name = Sidecars.sidecarName(container, service.name);
    const options = {
      Image: image.id,
      Env: toEnvList(Object.fromEntries(Object.entries(service.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))),
      ...(service.command ? { Cmd: service.command } : {}),
      ...(service.entrypoint ? { Entrypoint: service.entrypoint } : {}),
      ...(service.workingDir ? { WorkingDir: service.workingDir } : {}),
      ...(service.user ? { User: service.user } : {}),
      ...(service.healthcheck ? { Healthcheck: service.healthcheck } : {}),
      StopTimeout: this.options.stopTimeout,
      Labels: { ...labels, [SIDECAR_LABELS.service]: service.name } as Record<string, string>,
      HostConfig: {
        Mounts: volumeMounts(container, service),
        NetworkMode: network.mode,
        Init: this.options.init,
        Privileged: false,
        RestartPolicy: { Name: "no" },
        ...(service.capDrop.length ? { CapDrop: service.capDrop } : {}),
      },
      ...(network.aliases.length ? { NetworkingConfig: { EndpointsConfig: { [network.mode]: { Aliases: network.aliases } } } } : {}),
      extraNetworks: extra,
    };
    const hash = valueHash(options);
    const { extraNetworks, ...create } = options;
    create.Labels[SIDECAR_LABELS.configHash] = hash;

    const existing = await this.docker.getContainer(name).inspect().catch(ignoreStatus(404));
    if (existing) {
      const have = existing.Config.Labels ?? {};
      if (have[SIDECAR_LABELS.of] !== container) throw new Error(`container ${name} exists and was not created by devs-webhook for this place`);
      if (have[SIDECAR_LABELS.configHash] === hash && existing.State.Status !== "dead" && existing.State.Status !== "removing") {
        if (!existing.State.Running) {
          onProgress?.(`starting service ${service.name} (${name})`);
          await this.docker.getContainer(existing.Id).start().catch(ignoreStatus(304));
        }
        return existing.Id;
      }
      onProgress?.(`recreating service ${service.name} (${name}): its definition changed`);
      await this.docker.getContainer(existing.Id).remove({ force: true, v: true });
    }
    onProgress?.(`creating service ${service.name} (${name}) from ${image.ref}`);
    const created: Docker.Container = await this.docker.createContainer({ ...create, name });
    for (const { network: other, aliases } of extraNetworks) {
      await this.docker.getNetwork(other).connect({ Container: created.id, EndpointConfig: { Aliases: aliases } });
    }
    await created.start();
    return created.id;
  }

  private async waitHealthy(name: string, id: string, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + HEALTHY_WITHIN_MS;
    for (;;) {
      signal?.throwIfAborted();
      const info = await this.docker.getContainer(id).inspect();
      const health = (info.State as { Health?: { Status?: string } }).Health?.Status;
      if (health === "healthy" || health === undefined) return;
      if (!info.State.Running) throw new Error(`service container ${name} stopped before it was healthy`);
      if (health === "unhealthy") throw new Error(`service container ${name} is unhealthy`);
      if (Date.now() > deadline) throw new Error(`service container ${name} was not healthy within ${HEALTHY_WITHIN_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private async removeStale(container: string, keepServices: Set<string>, keepVolumes: Set<string>): Promise<void> {
    for (const c of await this.listFor(container)) {
      if (keepServices.has(c.Labels[SIDECAR_LABELS.service] ?? "")) continue;
      await this.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(ignoreStatus(404));
    }
    const { Volumes } = await this.docker.listVolumes({ filters: { label: [`${SIDECAR_LABELS.of}=${container}`] } });
    const keep = new Set([...keepVolumes].map((v) => Sidecars.volumeName(container, v)));
    for (const volume of Volumes ?? []) {
      // 409: the task's container still uses it; it goes when that container is recreated.
      if (!keep.has(volume.Name)) await this.docker.getVolume(volume.Name).remove().catch(ignoreStatus(404, 409));
    }
  }
}

function volumeMounts(container: string, service: PlannedService): TaskAttachment["mounts"] {
  return service.volumes.map((v) => ({
    Type: "volume" as const,
    // An empty source is an anonymous volume, removed with its container.
    Source: v.volume ? Sidecars.volumeName(container, v.volume) : "",
    Target: v.target,
    ...(v.readOnly ? { ReadOnly: true } : {}),
  }));
}

function ignoreStatus(...codes: number[]) {
  return (error: unknown): undefined => {
    if (codes.includes((error as { statusCode?: number }).statusCode ?? 0)) return undefined;
    throw error;
  };
}
