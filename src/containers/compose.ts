// Reads a devcontainer's Docker Compose files into a checked plan: which services run, in which
// order, from which image or build, with which environment, command, named volumes and network.
// The files are repository content and never reach docker-compose: Compose would give them the
// host (bind mounts of `/` or the Docker socket, privileged mode, the host's network or PID
// namespace, devices, env files and `extends` read from the server's disk). So only a subset is
// read, each refusal names the file and the key with its reason, and the plan is run by
// ContainerRuntime through the engine's API. Pure: the caller reads the files (readInside).
import { posix } from "node:path";
import { parse as parseYaml } from "yaml";
import { DevcontainerError, type BuildSpec, type ComposeRef } from "./devcontainer.js";

export class ComposeError extends DevcontainerError {
  override name = "ComposeError";
}

export interface ComposeFileText {
  /** Relative to the repository root. */
  file: string;
  text: string;
}

/** Docker's health check, durations in nanoseconds. */
export interface Healthcheck {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

export interface ServiceVolume {
  /** A named volume of the file (made per place), or null for an anonymous one. */
  volume: string | null;
  target: string;
  readOnly: boolean;
}

export interface PlannedService {
  name: string;
  /** Exactly one of `image` and `build` is set. */
  image: string | null;
  build: BuildSpec | null;
  env: Record<string, string>;
  command: string[] | null;
  entrypoint: string[] | null;
  workingDir: string | null;
  user: string | null;
  capDrop: string[];
  volumes: ServiceVolume[];
  /** `network_mode: service:<name>`: the service runs in that service's network namespace. */
  networkOf: string | null;
  healthcheck: Healthcheck | null;
  /** Services this one waits for: started, or healthy for `condition: service_healthy`. */
  waitFor: Array<{ service: string; healthy: boolean }>;
}

export interface ComposePlan {
  /** The service the task runs in. */
  service: string;
  /** Every service to run, the task's included, in start order (dependencies first). */
  services: PlannedService[];
  /** Named volumes the services use. */
  volumes: string[];
  /** Where the repository's own workspace bind put the repository, when devcontainer.json does not say. */
  workspaceFolder: string | null;
}

export interface ComposeOptions {
  repoName: string;
  /** Values for `${NAME}`: only what a setting names (DEVS.yml env_vars), never the server's environment. */
  localEnv?: Readonly<Record<string, string>>;
  /** devcontainer.json's workspaceFolder (or its default). */
  workspaceFolder: string;
}

/** Keys that would hand the host to the file, refused with the reason. */
const REFUSED_SERVICE_KEYS: Record<string, string> = {
  cap_add: "capabilities can only be dropped",
  devices: "host devices are never passed in",
  device_cgroup_rules: "host devices are never passed in",
  pid: "containers never share the host's namespaces",
  ipc: "containers never share the host's namespaces",
  uts: "containers never share the host's namespaces",
  userns_mode: "containers never share the host's namespaces",
  cgroup: "containers never share the host's namespaces",
  cgroup_parent: "the cgroup is set by the engine",
  security_opt: "security options are fixed by the operator",
  sysctls: "kernel settings are fixed by the operator",
  volumes_from: "a service mounts only its own named volumes",
  extends: "it reads other files; write the service out in full",
  secrets: "files on the server are never read; secrets reach containers only through DEVS.yml env_vars",
  configs: "files on the server are never read",
  runtime: "the container runtime is fixed by the operator",
  isolation: "the isolation is fixed by the operator",
  external_links: "services reach only the services of their own file",
  credential_spec: "files on the server are never read",
};

/** Keys read but not applied, with the reason the user reads. */
const NOTED_SERVICE_KEYS: Record<string, string> = {
  ports: "no ports are published; services reach each other by name",
  restart: "services run as long as the task's container",
  container_name: "containers are named by the server",
  networks: "every service joins one network of its own place, reachable by service name",
  links: "services reach each other by service name",
  labels: "labels are set by the server",
  logging: "logging is set by the operator",
  deploy: "deploy settings are not applied",
  profiles: "profiles are not applied",
  extra_hosts: "host names are not added",
  dns: "DNS is set by the engine",
  dns_search: "DNS is set by the engine",
  tmpfs: "only named volumes are mounted",
  mem_limit: "resource limits are set by the operator",
  cpus: "resource limits are set by the operator",
  shm_size: "resource limits are set by the operator",
  ulimits: "resource limits are set by the operator",
  platform: "the platform is the server's",
  pull_policy: "images are pulled only when missing",
  stop_signal: "containers are stopped by the server",
  stop_grace_period: "containers are stopped by the server",
  read_only: "not supported",
  hostname: "a service's name is its host name",
  domainname: "a service's name is its host name",
  mac_address: "addresses are set by the engine",
  oom_score_adj: "not supported",
};

/** Harmless here, or (`privileged`) checked by value below: `privileged: false` is fine. */
const SILENT_SERVICE_KEYS = new Set(["expose", "init", "tty", "stdin_open", "privileged"]);

const APPLIED_SERVICE_KEYS = new Set([
  "image",
  "build",
  "environment",
  "env_file",
  "command",
  "entrypoint",
  "working_dir",
  "user",
  "cap_drop",
  "depends_on",
  "volumes",
  "network_mode",
  "healthcheck",
]);

const TOP_LEVEL_REFUSED: Record<string, string> = {
  include: "it reads other files; list them in devcontainer.json's dockerComposeFile",
  secrets: "files on the server are never read; secrets reach containers only through DEVS.yml env_vars",
  configs: "files on the server are never read",
};

const TOP_LEVEL_SILENT = new Set(["version", "name", "services", "volumes", "networks"]);

/**
 * Merges the files (later ones override earlier ones, as Compose does) and plans the services of
 * `ref`. Paths are relative to the first file's folder, as in Compose, and stay in the repository.
 */
export function planCompose(texts: readonly ComposeFileText[], ref: ComposeRef, options: ComposeOptions): { plan: ComposePlan; notes: string[] } {
  const notes: string[] = [];
  const first = texts[0];
  if (!first) throw new ComposeError("devcontainer.json", "`dockerComposeFile` names no file");
  const projectDir = posix.dirname(first.file);
  const interpolate = interpolator(options.localEnv ?? {}, notes);

  const merged: Record<string, unknown> = {};
  const origin = new Map<string, string>();
  for (const { file, text } of texts) {
    const doc = readYaml(file, text);
    for (const [key, value] of Object.entries(doc)) {
      if (key.startsWith("x-")) continue;
      const refused = TOP_LEVEL_REFUSED[key];
      if (refused && value !== null && value !== undefined) throw new ComposeError(file, `\`${key}\` refused: ${refused}`);
      if (!TOP_LEVEL_SILENT.has(key)) notes.push(`${file}: \`${key}\` not applied: not supported.`);
    }
    const services = asMap(file, "services", doc.services ?? {});
    const mergedServices = (merged.services ??= {}) as Record<string, Record<string, unknown>>;
    for (const [name, raw] of Object.entries(services)) {
      // It names the service's container and its host name on the place's network.
      if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(name)) throw new ComposeError(file, `services.${name}: not a valid service name (letters, digits, \`_\`, \`.\`, \`-\`)`);
      const service = normaliseService(file, name, interpolate(raw, `services.${name}`));
      mergedServices[name] = mergedServices[name] ? mergeService(mergedServices[name], service) : service;
      origin.set(name, file);
    }
    const volumes = asMap(file, "volumes", doc.volumes ?? {});
    const mergedVolumes = (merged.volumes ??= {}) as Record<string, unknown>;
    for (const [name, definition] of Object.entries(volumes)) {
      checkVolumeDefinition(file, name, definition, notes);
      mergedVolumes[name] = definition;
    }
    if (doc.networks) notes.push(`${file}: \`networks\` not applied: every service joins one network of its own place.`);
  }

  const services = merged.services as Record<string, Record<string, unknown>>;
  const declaredVolumes = new Set(Object.keys((merged.volumes ?? {}) as Record<string, unknown>));
  if (!services[ref.service]) {
    throw new ComposeError(first.file, `\`service\` in devcontainer.json names \`${ref.service}\`, which no Compose file defines`);
  }
  const wanted = new Set(ref.runServices ?? Object.keys(services));
  wanted.add(ref.service);
  for (const name of wanted) {
    if (!services[name]) throw new ComposeError(first.file, `\`runServices\` in devcontainer.json names \`${name}\`, which no Compose file defines`);
  }

  let workspaceFolder: string | null = null;
  const planned = new Map<string, PlannedService>();
  const plan = (name: string, path: string[]): void => {
    if (planned.has(name)) return;
    if (path.includes(name)) throw new ComposeError(origin.get(name) ?? first.file, `services.${name}: \`depends_on\` or \`network_mode\` makes a cycle (${[...path, name].join(" → ")})`);
    const raw = services[name];
    if (!raw) throw new ComposeError(origin.get(path.at(-1) ?? "") ?? first.file, `services.${path.at(-1)}: depends on \`${name}\`, which no Compose file defines`);
    const file = origin.get(name) ?? first.file;
    const service = planService(file, name, raw, { projectDir, declaredVolumes, options, notes, isTask: name === ref.service });
    if (service.planned.networkOf === ref.service) {
      // The task's container is restarted for every task, and a shared network would die with it.
      throw new ComposeError(file, `\`services.${name}.network_mode: service:${ref.service}\` refused: the task's service is restarted for every task; let \`${ref.service}\` use \`network_mode: service:${name}\` instead`);
    }
    if (service.workspaceFolder && name === ref.service) workspaceFolder = service.workspaceFolder;
    for (const dep of [...service.planned.waitFor.map((w) => w.service), ...(service.planned.networkOf ? [service.planned.networkOf] : [])]) {
      plan(dep, [...path, name]);
    }
    planned.set(name, service.planned);
  };
  for (const name of [ref.service, ...[...wanted].filter((n) => n !== ref.service).sort()]) plan(name, []);
  const skipped = Object.keys(services).filter((n) => !planned.has(n));
  if (skipped.length) notes.push(`Compose services not started (not in \`runServices\`): ${skipped.join(", ")}.`);

  const ordered = startOrder([...planned.values()]);
  const volumes = [...new Set(ordered.flatMap((s) => s.volumes.map((v) => v.volume).filter((v): v is string => v !== null)))].sort();
  return { plan: { service: ref.service, services: ordered, volumes, workspaceFolder }, notes: [...new Set(notes)] };
}

/** Dependencies first; ties in name order, so the same files always give the same plan. */
function startOrder(services: PlannedService[]): PlannedService[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const done = new Set<string>();
  const out: PlannedService[] = [];
  const visit = (service: PlannedService) => {
    if (done.has(service.name)) return;
    done.add(service.name);
    const deps = [...service.waitFor.map((w) => w.service), ...(service.networkOf ? [service.networkOf] : [])].sort();
    for (const dep of deps) visit(byName.get(dep)!);
    out.push(service);
  };
  for (const service of [...services].sort((a, b) => a.name.localeCompare(b.name))) visit(service);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading and merging

function readYaml(file: string, text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    // Anchors are resolved, but a bounded number of times: a file cannot grow without bound.
    doc = parseYaml(text, { maxAliasCount: 200, uniqueKeys: true, merge: true });
  } catch (error) {
    const at = (error as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    throw new DevcontainerError(file, `invalid YAML (${(error as Error).message.split("\n")[0]})`, at?.line, at?.col);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) throw new ComposeError(file, "must contain a YAML mapping");
  return doc as Record<string, unknown>;
}

function asMap(file: string, where: string, value: unknown): Record<string, unknown> {
  if (value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) throw new ComposeError(file, `\`${where}\` must be a mapping`);
  return value as Record<string, unknown>;
}

/** A service with list-or-map keys in one form, so that files merge as Compose merges them. */
function normaliseService(file: string, name: string, raw: unknown): Record<string, unknown> {
  const service = { ...asMap(file, `services.${name}`, raw ?? {}) };
  if (service.environment !== undefined) service.environment = environmentMap(file, name, service.environment);
  if (service.depends_on !== undefined) service.depends_on = dependsOnMap(file, name, service.depends_on);
  if (typeof service.build === "string") service.build = { context: service.build };
  if (service.volumes !== undefined && !Array.isArray(service.volumes)) throw new ComposeError(file, `services.${name}.volumes must be a list`);
  return service;
}

/** Later values win; environment, depends_on, build and healthcheck merge key by key; volumes by target. */
function mergeService(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const before = out[key];
    if (["environment", "depends_on", "build", "healthcheck"].includes(key) && isMap(before) && isMap(value)) out[key] = { ...before, ...value };
    else if (key === "volumes" && Array.isArray(before) && Array.isArray(value)) {
      const byTarget = new Map<string, unknown>();
      for (const entry of [...before, ...value]) byTarget.set(volumeTarget(entry) ?? JSON.stringify(entry), entry);
      out[key] = [...byTarget.values()];
    } else out[key] = value;
  }
  return out;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function environmentMap(file: string, name: string, value: unknown): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (Array.isArray(value)) {
    for (const entry of value) {
      if (typeof entry !== "string") throw new ComposeError(file, `services.${name}.environment entries must be strings`);
      const eq = entry.indexOf("=");
      if (eq === 0) throw new ComposeError(file, `services.${name}.environment: \`${entry}\` has no name`);
      if (eq < 0) out[entry] = null;
      else out[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    return out;
  }
  for (const [key, v] of Object.entries(asMap(file, `services.${name}.environment`, value))) {
    if (v === null || v === undefined) out[key] = null;
    else if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[key] = String(v);
    else throw new ComposeError(file, `services.${name}.environment.${key} must be a string`);
  }
  return out;
}

function dependsOnMap(file: string, name: string, value: unknown): Record<string, { condition: string }> {
  const out: Record<string, { condition: string }> = {};
  if (Array.isArray(value)) {
    for (const dep of value) {
      if (typeof dep !== "string") throw new ComposeError(file, `services.${name}.depends_on entries must be service names`);
      out[dep] = { condition: "service_started" };
    }
    return out;
  }
  for (const [dep, v] of Object.entries(asMap(file, `services.${name}.depends_on`, value))) {
    const condition = isMap(v) && typeof v.condition === "string" ? v.condition : "service_started";
    out[dep] = { condition };
  }
  return out;
}

function checkVolumeDefinition(file: string, name: string, definition: unknown, notes: string[]): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new ComposeError(file, `volumes.${name}: not a valid volume name`);
  if (definition === null || definition === undefined) return;
  if (!isMap(definition)) throw new ComposeError(file, `volumes.${name} must be a mapping`);
  if (definition.external) throw new ComposeError(file, `volumes.${name}.external refused: a place's volumes are its own, never shared with other containers`);
  if (definition.driver_opts) throw new ComposeError(file, `volumes.${name}.driver_opts refused: driver options can bind a folder of the server`);
  if (definition.driver && definition.driver !== "local") throw new ComposeError(file, `volumes.${name}.driver refused: only local volumes are made`);
  for (const key of Object.keys(definition)) {
    if (!["driver", "driver_opts", "external"].includes(key)) notes.push(`${file}: \`volumes.${name}.${key}\` not applied: not supported.`);
  }
}

// ---------------------------------------------------------------------------------------------
// One service

interface PlanContext {
  projectDir: string;
  declaredVolumes: Set<string>;
  options: ComposeOptions;
  notes: string[];
  isTask: boolean;
}

function planService(file: string, name: string, raw: Record<string, unknown>, ctx: PlanContext): { planned: PlannedService; workspaceFolder: string | null } {
  const at = `services.${name}`;
  const fail = (key: string, problem: string): never => {
    throw new ComposeError(file, `\`${at}.${key}\` ${problem}`);
  };
  for (const key of Object.keys(raw)) {
    if (key.startsWith("x-") || APPLIED_SERVICE_KEYS.has(key) || SILENT_SERVICE_KEYS.has(key)) continue;
    const refused = REFUSED_SERVICE_KEYS[key];
    if (refused) fail(key, `refused: ${refused}`);
    const noted = NOTED_SERVICE_KEYS[key];
    ctx.notes.push(`${file}: \`${at}.${key}\` not applied: ${noted ?? "not supported"}.`);
  }
  if (raw.privileged !== undefined && raw.privileged !== false) fail("privileged", "refused: containers never run privileged");
  if (raw.env_file !== undefined) {
    const files = Array.isArray(raw.env_file) ? raw.env_file : [raw.env_file];
    for (const entry of files) {
      const path = typeof entry === "string" ? entry : isMap(entry) && typeof entry.path === "string" ? entry.path : "";
      const resolved = repoPath(ctx.projectDir, path);
      if (resolved === null) fail("env_file", `refused: \`${path}\` is outside the repository, and files on the server are never read`);
      ctx.notes.push(`${file}: \`${at}.env_file\` not applied: use \`environment\`, containerEnv or DEVS.yml env_vars.`);
    }
  }

  const build = raw.build === undefined ? null : planBuild(file, at, raw.build, ctx);
  const imageRaw = raw.image;
  if (imageRaw !== undefined && typeof imageRaw !== "string") fail("image", "must be a string");
  const image = typeof imageRaw === "string" && imageRaw.trim() ? imageRaw.trim() : null;
  if (!build && !image) fail("image", "is missing: a service needs `image` or `build`");
  if (build && image) ctx.notes.push(`${file}: \`${at}.image\` not used: \`build\` takes precedence.`);

  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries((raw.environment ?? {}) as Record<string, string | null>)) {
    if (value === null) ctx.notes.push(`${file}: \`${at}.environment.${key}\` not applied: the server's environment is never passed through; give it a value.`);
    else env[key] = value;
  }

  const network = planNetwork(file, at, raw.network_mode, ctx.notes);
  const mounts = planVolumes(file, at, raw.volumes, ctx);
  const waitFor = Object.entries((raw.depends_on ?? {}) as Record<string, { condition: string }>).map(([service, { condition }]) => {
    if (condition === "service_completed_successfully") ctx.notes.push(`${file}: \`${at}.depends_on.${service}\`: waits for the start, not the end, of ${service}.`);
    return { service, healthy: condition === "service_healthy" };
  });

  const planned: PlannedService = {
    name,
    image: build ? null : image,
    build,
    env,
    command: commandOf(file, at, "command", raw.command),
    entrypoint: commandOf(file, at, "entrypoint", raw.entrypoint),
    workingDir: optionalString(file, at, "working_dir", raw.working_dir),
    user: optionalString(file, at, "user", raw.user),
    capDrop: capDrop(file, at, raw.cap_drop),
    volumes: mounts.volumes,
    networkOf: network,
    healthcheck: raw.healthcheck === undefined ? null : planHealthcheck(file, at, raw.healthcheck),
    waitFor,
  };
  return { planned, workspaceFolder: mounts.workspaceFolder };
}

function planBuild(file: string, at: string, raw: unknown, ctx: PlanContext): BuildSpec {
  if (!isMap(raw)) throw new ComposeError(file, `\`${at}.build\` must be a path or a mapping`);
  const contextRaw = raw.context ?? ".";
  if (typeof contextRaw !== "string") throw new ComposeError(file, `\`${at}.build.context\` must be a path`);
  if (/^[a-z]+:\/\//i.test(contextRaw) || contextRaw.startsWith("git@")) {
    throw new ComposeError(file, `\`${at}.build.context\` refused: only folders of the repository are built`);
  }
  const context = repoPath(ctx.projectDir, contextRaw);
  if (context === null) throw new ComposeError(file, `\`${at}.build.context\` refused: \`${contextRaw}\` is outside the repository`);
  const dockerfileRaw = raw.dockerfile ?? "Dockerfile";
  if (typeof dockerfileRaw !== "string") throw new ComposeError(file, `\`${at}.build.dockerfile\` must be a path`);
  const dockerfile = repoPath(context, dockerfileRaw);
  if (dockerfile === null || (context !== "." && !dockerfile.startsWith(context + "/"))) {
    throw new ComposeError(file, `\`${at}.build.dockerfile\` refused: \`${dockerfileRaw}\` must be inside the build context (${context})`);
  }
  const args: Record<string, string> = {};
  if (raw.args !== undefined) {
    for (const [key, value] of Object.entries(environmentMap(file, `${at.slice("services.".length)}.build.args`, raw.args))) {
      if (value === null) ctx.notes.push(`${file}: \`${at}.build.args.${key}\` not applied: the server's environment is never passed through.`);
      else args[key] = value;
    }
  }
  const target = raw.target === undefined ? null : String(raw.target);
  for (const key of Object.keys(raw)) {
    if (!["context", "dockerfile", "args", "target"].includes(key)) ctx.notes.push(`${file}: \`${at}.build.${key}\` not applied: not supported.`);
  }
  return { context, dockerfile, args, target };
}

/** null for the place's network; a service's name for `service:<name>`. */
function planNetwork(file: string, at: string, raw: unknown, notes: string[]): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "string") throw new ComposeError(file, `\`${at}.network_mode\` must be a string`);
  if (raw.startsWith("service:")) {
    const service = raw.slice("service:".length);
    if (!service) throw new ComposeError(file, `\`${at}.network_mode\` names no service`);
    return service;
  }
  if (raw === "host") throw new ComposeError(file, `\`${at}.network_mode: host\` refused: containers never share the server's network`);
  if (raw.startsWith("container:")) throw new ComposeError(file, `\`${at}.network_mode: ${raw}\` refused: services share only the network of a service of their own file`);
  notes.push(`${file}: \`${at}.network_mode: ${raw}\` not applied: every service joins one network of its own place.`);
  return null;
}

function planVolumes(file: string, at: string, raw: unknown, ctx: PlanContext): { volumes: ServiceVolume[]; workspaceFolder: string | null } {
  const volumes: ServiceVolume[] = [];
  let workspaceFolder: string | null = null;
  for (const entry of (raw ?? []) as unknown[]) {
    const mount = parseVolume(file, at, entry);
    if (!mount.target.startsWith("/")) throw new ComposeError(file, `\`${at}.volumes\`: the target \`${mount.target}\` must be an absolute path`);
    const target = posix.normalize(mount.target).replace(/(.)\/+$/, "$1");
    if (mount.type === "tmpfs") {
      ctx.notes.push(`${file}: \`${at}.volumes\` tmpfs at ${target} not applied: only named volumes are mounted.`);
      continue;
    }
    if (mount.type === "volume") {
      if (mount.source === null) volumes.push({ volume: null, target, readOnly: mount.readOnly });
      else if (!ctx.declaredVolumes.has(mount.source)) {
        throw new ComposeError(file, `\`${at}.volumes\`: \`${mount.source}\` is not declared under the top-level \`volumes\``);
      } else volumes.push({ volume: mount.source, target, readOnly: mount.readOnly });
      continue;
    }
    // A bind mount. The repository's own workspace bind (its folder or the one above it) is what
    // the server does itself; anything else would let a file name a folder of the server, or
    // have Docker follow, on the server, a link the container planted in the workspace.
    const source = mount.source ?? "";
    const relative = !source.startsWith("/") && !source.startsWith("~") && !/^[A-Za-z]:[\\/]/.test(source);
    const resolved = relative ? posix.normalize(posix.join(ctx.projectDir, source)).replace(/\/+$/, "") || "." : null;
    if (resolved === "." || resolved === "..") {
      if (ctx.isTask) workspaceFolder = resolved === "." ? target : posix.join(target, ctx.options.repoName);
      ctx.notes.push(`${file}: \`${at}.volumes\` \`${source}:${target}\` not applied: the server mounts the workspace itself, at ${ctx.options.workspaceFolder}.`);
      continue;
    }
    if (resolved === null || resolved.startsWith("../")) {
      throw new ComposeError(file, `\`${at}.volumes\` \`${source}:${target}\` refused: a bind mount of a folder of the server (only named volumes are mounted)`);
    }
    ctx.notes.push(`${file}: \`${at}.volumes\` \`${source}:${target}\` not applied: only the workspace is bind-mounted, into the task's service.`);
  }
  return { volumes, workspaceFolder };
}

interface ParsedVolume {
  type: "volume" | "bind" | "tmpfs";
  source: string | null;
  target: string;
  readOnly: boolean;
}

function parseVolume(file: string, at: string, entry: unknown): ParsedVolume {
  if (typeof entry === "string") {
    const parts = entry.split(":");
    if (parts.length === 1) return { type: "volume", source: null, target: entry, readOnly: false };
    const [source = "", target = "", mode = ""] = parts;
    const bind = /^[./~]/.test(source) || /^[A-Za-z]$/.test(source);
    return { type: bind ? "bind" : "volume", source, target, readOnly: mode.split(",").includes("ro") };
  }
  if (!isMap(entry)) throw new ComposeError(file, `\`${at}.volumes\` entries must be strings or mappings`);
  const type = entry.type ?? "volume";
  const target = entry.target;
  if (typeof target !== "string") throw new ComposeError(file, `\`${at}.volumes\`: an entry has no \`target\``);
  if (type !== "volume" && type !== "bind" && type !== "tmpfs") {
    throw new ComposeError(file, `\`${at}.volumes\` of type \`${String(type)}\` refused: only named volumes are mounted`);
  }
  const source = typeof entry.source === "string" && entry.source ? entry.source : null;
  return { type, source, target, readOnly: entry.read_only === true };
}

function volumeTarget(entry: unknown): string | null {
  if (typeof entry === "string") {
    const parts = entry.split(":");
    return (parts.length === 1 ? parts[0] : parts[1]) ?? null;
  }
  return isMap(entry) && typeof entry.target === "string" ? entry.target : null;
}

function planHealthcheck(file: string, at: string, raw: unknown): Healthcheck | null {
  if (!isMap(raw)) throw new ComposeError(file, `\`${at}.healthcheck\` must be a mapping`);
  if (raw.disable === true) return { Test: ["NONE"] };
  const test = raw.test;
  let Test: string[];
  if (typeof test === "string") Test = ["CMD-SHELL", test];
  else if (Array.isArray(test) && test.every((t) => typeof t === "string") && ["CMD", "CMD-SHELL", "NONE"].includes(test[0] as string)) Test = test as string[];
  else throw new ComposeError(file, `\`${at}.healthcheck.test\` must be a string or a list starting with CMD, CMD-SHELL or NONE`);
  const out: Healthcheck = { Test };
  const duration = (key: string, value: unknown): number | undefined => {
    if (value === undefined) return undefined;
    const ns = parseDuration(String(value));
    if (ns === null) throw new ComposeError(file, `\`${at}.healthcheck.${key}\` is not a duration (examples: 5s, 1m30s)`);
    return ns;
  };
  const interval = duration("interval", raw.interval);
  const timeout = duration("timeout", raw.timeout);
  const startPeriod = duration("start_period", raw.start_period);
  if (interval !== undefined) out.Interval = interval;
  if (timeout !== undefined) out.Timeout = timeout;
  if (startPeriod !== undefined) out.StartPeriod = startPeriod;
  if (raw.retries !== undefined) {
    if (!Number.isInteger(raw.retries) || (raw.retries as number) < 0) throw new ComposeError(file, `\`${at}.healthcheck.retries\` must be a whole number`);
    out.Retries = raw.retries as number;
  }
  return out;
}

/** Compose's durations (`1m30s`, `500ms`, `10s`) in nanoseconds; null when not one. */
export function parseDuration(text: string): number | null {
  const units: Record<string, number> = { us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const clean = text.trim();
  if (!/^(\d+(\.\d+)?(us|ms|s|m|h))+$/.test(clean)) return null;
  let total = 0;
  for (const [, amount, , unit] of clean.matchAll(/(\d+(\.\d+)?)(us|ms|s|m|h)/g)) total += Number(amount) * units[unit!]!;
  return Math.round(total);
}

function commandOf(file: string, at: string, key: string, raw: unknown): string[] | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw === "string") return splitCommand(file, `${at}.${key}`, raw);
  if (Array.isArray(raw) && raw.every((item) => typeof item === "string" || typeof item === "number")) return raw.map(String);
  throw new ComposeError(file, `\`${at}.${key}\` must be a string or a list of strings`);
}

/** Splits a command line as a POSIX shell would (quotes and backslashes), without running one. */
export function splitCommand(file: string, at: string, text: string): string[] {
  const out: string[] = [];
  let current = "";
  let started = false;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote === "'") {
      if (ch === "'") quote = null;
      else current += ch;
    } else if (quote === '"') {
      if (ch === '"') quote = null;
      else if (ch === "\\" && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) current += text[++i];
      else current += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      started = true;
    } else if (ch === "\\" && i + 1 < text.length) {
      current += text[++i];
      started = true;
    } else if (/\s/.test(ch)) {
      if (started || current) out.push(current);
      current = "";
      started = false;
    } else {
      current += ch;
      started = true;
    }
  }
  if (quote) throw new ComposeError(file, `\`${at}\` has an unclosed quote`);
  if (started || current) out.push(current);
  return out;
}

function optionalString(file: string, at: string, key: string, raw: unknown): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "string" && typeof raw !== "number") throw new ComposeError(file, `\`${at}.${key}\` must be a string`);
  const value = String(raw).trim();
  return value || null;
}

function capDrop(file: string, at: string, raw: unknown): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw) || !raw.every((c) => typeof c === "string" && /^[A-Za-z_]+$/.test(c))) {
    throw new ComposeError(file, `\`${at}.cap_drop\` must be a list of capability names`);
  }
  return [...new Set(raw.map((c: string) => c.toUpperCase()))];
}

/** `base`/`rel` as a path from the repository root, or null when it leaves the repository. */
function repoPath(base: string, rel: string): string | null {
  if (!rel || rel.startsWith("/") || rel.startsWith("~") || /^[A-Za-z]:[\\/]/.test(rel)) return null;
  const joined = posix.normalize(posix.join(base, rel.replace(/\\/g, "/"))).replace(/\/+$/, "") || ".";
  return joined === ".." || joined.startsWith("../") ? null : joined;
}

// ---------------------------------------------------------------------------------------------
// Variables

/**
 * Compose's `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?message}`, `$NAME` and
 * `$$`, from `localEnv` only: the server's own environment and `.env` files are never read.
 */
function interpolator(localEnv: Readonly<Record<string, string>>, notes: string[]) {
  const one = (text: string, where: string): string =>
    text.replace(/\$(\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g, (all, _body: string, braced: string | undefined, bare: string | undefined) => {
      if (all === "$$") return "$";
      const expr = braced ?? bare ?? "";
      const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$/s.exec(expr);
      if (!match) {
        notes.push(`\`${all}\` in ${where} not substituted: not a variable.`);
        return all;
      }
      const [, name = "", op, arg = ""] = match;
      const value = localEnv[name];
      const empty = value === undefined || (op?.startsWith(":") && value === "");
      if (op === ":-" || op === "-") return (op === ":-" ? empty : value === undefined) ? arg : value!;
      if (op === ":+" || op === "+") return (op === ":+" ? !empty : value !== undefined) ? arg : "";
      if (value !== undefined && !(op === ":?" && value === "")) return value;
      notes.push(`\`${all}\` in ${where} has no value: the server's environment is never read; set ${name} in DEVS.yml env_vars.`);
      return "";
    });
  const walk = (value: unknown, where: string): unknown => {
    if (typeof value === "string") return one(value, where);
    if (Array.isArray(value)) return value.map((item) => walk(item, where));
    if (isMap(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v, `${where}.${k}`)]));
    return value;
  };
  return walk;
}
