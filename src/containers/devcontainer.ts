// Reads a repository's devcontainer.json into the small, typed subset this app applies, and lists
// in plain words what it did not apply. Repository content is untrusted: nothing here runs on
// the host, `${localEnv:…}` never reads the server's environment, and paths cannot leave the
// workspace. Parsing is pure; only `readDevcontainer` touches the file system.
import { readdir, stat } from "node:fs/promises";
import { OutsideError, readInside as readFileInside } from "../workspace/inside.js";
import { join, posix } from "node:path";
import {
  findNodeAtLocation,
  getNodeValue,
  parseTree,
  printParseErrorCode,
  type JSONPath,
  type Node,
  type ParseError,
} from "jsonc-parser";
import { valueHash } from "./hash.js";
import { parseFeatures, parseMounts, type FeatureSet, type VolumeMount } from "./feature-config.js";

/** Where a devcontainer.json is looked for, first match wins (the devcontainer CLI's order). */
const DEVCONTAINER_FILES = [".devcontainer/devcontainer.json", ".devcontainer.json"] as const;

/** A single command: a shell string, or an argv run without a shell. */
export type CommandForm = { kind: "shell"; command: string } | { kind: "argv"; argv: string[] };

/** A lifecycle command in any of the spec's three forms; the object form runs its entries in parallel. */
export type LifecycleCommand = CommandForm | { kind: "parallel"; commands: Record<string, CommandForm> };

export type LifecycleHook = "onCreateCommand" | "updateContentCommand" | "postCreateCommand" | "postStartCommand";

export interface BuildSpec {
  /** Relative to the workspace root, POSIX separators, never outside the workspace. */
  dockerfile: string;
  /** Relative to the workspace root ("." for the root itself). */
  context: string;
  args: Record<string, string>;
  target: string | null;
}

/** The `runArgs` that map cleanly onto the container's create options. */
export interface RunOptions {
  env: Record<string, string>;
  capDrop: string[];
  memoryBytes: number | null;
  nanoCpus: number | null;
}

/** A Docker Compose devcontainer: its files and services, planned by compose.ts. */
export interface ComposeRef {
  /** Relative to the workspace root, in the order given (later files override earlier ones). */
  files: string[];
  /** The service the task runs in. */
  service: string;
  /** Services to start; null for all of them. */
  runServices: string[] | null;
  /** Whether devcontainer.json sets workspaceFolder (otherwise the Compose file's workspace bind decides). */
  workspaceFolderGiven: boolean;
}

export interface DevcontainerSpec {
  /** The file read, relative to the workspace; null when the repository has none. */
  source: string | null;
  /** Exactly one of `image` and `build` is set, unless `compose` is (then the task's service has them). */
  image: string | null;
  build: BuildSpec | null;
  /** Set only for a Compose devcontainer; absent otherwise, so other specs hash as before. */
  compose?: ComposeRef;
  /** Set on the container when it is created. */
  containerEnv: Record<string, string>;
  /** Set on every command run in the container; may refer to `${containerEnv:NAME}`. */
  remoteEnv: Record<string, string>;
  /** User for commands run in the container (lifecycle hooks and tasks). */
  remoteUser: string | null;
  /** User the container's own process runs as. */
  containerUser: string | null;
  /** Absolute path inside the container where the workspace is mounted. */
  workspaceFolder: string;
  /** Replace the image's command with one that keeps the container alive (the spec's default). */
  overrideCommand: boolean;
  onCreateCommand: LifecycleCommand | null;
  updateContentCommand: LifecycleCommand | null;
  postCreateCommand: LifecycleCommand | null;
  postStartCommand: LifecycleCommand | null;
  run: RunOptions;
  /** Features to build into the image (feature-image.ts); absent when there are none. */
  features?: FeatureSet;
  /** Named volumes from `mounts`; absent when there are none. */
  volumes?: VolumeMount[];
}

export interface DevcontainerResult {
  spec: DevcontainerSpec;
  /** Human-readable lines naming what was not applied, for the task's output. */
  notes: string[];
}

export interface DevcontainerOptions {
  /** Repository name, for the default workspace folder and `${localWorkspaceFolderBasename}`. */
  repoName: string;
  /** Image used when the repository has no devcontainer.json (DEFAULT_IMAGE). */
  defaultImage: string;
  /**
   * Values for `${localEnv:NAME}`: only what a setting names (for example DEVS.yml env_vars),
   * never the server's own environment.
   */
  localEnv?: Readonly<Record<string, string>>;
  /** Host path of the workspace, for `${localWorkspaceFolder}`. */
  workspaceDir?: string;
}

export class DevcontainerError extends Error {
  override name = "DevcontainerError";
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(`${file}${line === undefined ? "" : `:${line}:${column ?? 1}`}: ${problem}`);
  }
}

/** The spec for a repository without a devcontainer.json. */
export function defaultSpec(options: Pick<DevcontainerOptions, "repoName" | "defaultImage">): DevcontainerSpec {
  return {
    source: null,
    image: options.defaultImage,
    build: null,
    containerEnv: {},
    remoteEnv: {},
    remoteUser: null,
    containerUser: null,
    workspaceFolder: defaultWorkspaceFolder(options.repoName),
    overrideCommand: true,
    onCreateCommand: null,
    updateContentCommand: null,
    postCreateCommand: null,
    postStartCommand: null,
    run: { env: {}, capDrop: [], memoryBytes: null, nanoCpus: null },
  };
}

function defaultWorkspaceFolder(repoName: string): string {
  return `/workspaces/${repoName}`;
}

/** A hash of everything in the spec; comments and key order in the file do not change it. */
export function devcontainerHash(spec: DevcontainerSpec): string {
  return valueHash(spec);
}

/** Finds and parses the workspace's devcontainer.json; no file gives `defaultSpec`. */
export async function readDevcontainer(workspaceDir: string, options: DevcontainerOptions): Promise<DevcontainerResult> {
  const [primary, secondary] = DEVCONTAINER_FILES;
  for (const file of DEVCONTAINER_FILES) {
    const text = await readInside(workspaceDir, file);
    if (text === null) continue;
    const result = parseDevcontainer(text, file, { workspaceDir, ...options });
    if (file === primary && (await readInside(workspaceDir, secondary)) !== null) {
      result.notes.push(`\`${secondary}\` ignored: \`${primary}\` takes precedence.`);
    }
    return result;
  }
  const nested = await nestedConfigs(workspaceDir);
  const notes = nested.length
    ? [`${nested.map((f) => `\`${f}\``).join(", ")} not read: only ${DEVCONTAINER_FILES.map((f) => `\`${f}\``).join(" or ")} are used.`]
    : [];
  return { spec: defaultSpec(options), notes };
}

/** Null when the file does not exist; refuses links that lead out of the workspace. */
async function readInside(workspaceDir: string, file: string): Promise<string | null> {
  try {
    const text = await readFileInside(workspaceDir, file);
    if (text === null && (await stat(join(workspaceDir, file)).catch(() => null))?.isDirectory()) {
      throw new DevcontainerError(file, "is a directory, not a file");
    }
    return text;
  } catch (error) {
    if (error instanceof OutsideError) throw new DevcontainerError(file, "is a link to a file outside the repository; it was not read");
    throw error;
  }
}

async function nestedConfigs(workspaceDir: string): Promise<string[]> {
  try {
    const entries = await readdir(join(workspaceDir, ".devcontainer"), { withFileTypes: true });
    const found: string[] = [];
    for (const entry of entries.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
      const file = `.devcontainer/${entry.name}/devcontainer.json`;
      if ((await readInside(workspaceDir, file).catch(() => null)) !== null) found.push(file);
    }
    return found;
  } catch (error) {
    if (isNotFound(error) || (error as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ENOTDIR";
}

// ---------------------------------------------------------------------------------------------
// Parsing (pure)

/** Properties that only concern an editor, or that this app covers by design, left out without a note. */
const SILENT = new Set([
  "$schema",
  "name",
  "customizations",
  "extensions",
  "settings",
  "devPort",
  "shutdownAction",
  "waitFor",
  "updateRemoteUserUID",
]);

/** Properties recognised but not applied, with the reason the user reads. */
const NOT_APPLIED: Record<string, string> = {
  initializeCommand: "it would run on the server host, and repository code never runs there",
  postAttachCommand: "tasks do not attach an editor",
  workspaceMount: "the workspace is always bind-mounted at workspaceFolder",
  forwardPorts: "no ports are published",
  appPort: "no ports are published",
  portsAttributes: "no ports are published",
  otherPortsAttributes: "no ports are published",
  privileged: "containers never run privileged",
  capAdd: "capabilities can only be dropped (runArgs `--cap-drop`)",
  securityOpt: "security options are fixed by the operator",
  hostRequirements: "host requirements are not checked",
  userEnvProbe: "commands run with the container's environment plus remoteEnv; no login shell is probed",
  secrets: "secrets reach containers only through DEVS.yml env_vars",
};

const HANDLED = new Set([
  "image",
  "build",
  "dockerFile",
  "context",
  "containerEnv",
  "remoteEnv",
  "remoteUser",
  "containerUser",
  "workspaceFolder",
  "overrideCommand",
  "onCreateCommand",
  "updateContentCommand",
  "postCreateCommand",
  "postStartCommand",
  "runArgs",
  "features",
  "overrideFeatureInstallOrder",
  "mounts",
  "dockerComposeFile",
  "service",
  "runServices",
  "init",
]);

/** Parses devcontainer.json text; `file` is its path relative to the workspace root. */
export function parseDevcontainer(text: string, file: string, options: DevcontainerOptions): DevcontainerResult {
  const doc = new Doc(text, file);
  const root = doc.root;
  const notes: string[] = [];
  const raw = getNodeValue(root) as Record<string, unknown>;

  for (const key of Object.keys(raw)) {
    if (HANDLED.has(key) || SILENT.has(key)) continue;
    const reason = NOT_APPLIED[key];
    notes.push(reason ? `\`${key}\` not applied: ${reason}.` : `\`${key}\` not applied: not supported.`);
  }

  const vars = new Substitution(options, notes);
  let givenFolder = doc.optionalString(["workspaceFolder"]);
  // In a Compose devcontainer `/` is the spec's default, where no workspace can be mounted: the
  // Compose file's own workspace bind says where the repository goes instead.
  const composeRoot = doc.has(["dockerComposeFile"]) && givenFolder !== undefined && posix.normalize(vars.apply(givenFolder, "workspaceFolder")).replace(/\/+$/, "") === "";
  if (composeRoot) {
    notes.push("`workspaceFolder: /` not applied: the workspace is mounted where the Compose file's workspace bind puts it.");
    givenFolder = undefined;
  }
  const workspaceFolder = normaliseWorkspaceFolder(doc, vars.apply(givenFolder ?? defaultWorkspaceFolder(options.repoName), "workspaceFolder"));
  vars.containerWorkspaceFolder = workspaceFolder;

  const fail = (at: JSONPath, problem: string) => doc.fail(at, problem);
  const features = parseFeatures(doc.value(["features"]), doc.value(["overrideFeatureInstallOrder"]), file, fail, notes);
  const volumes = parseMounts(doc.value(["mounts"]), workspaceFolder, fail, notes, (item, i) => substituteMount(item, i, vars));
  if (raw.init === false) notes.push("`init: false` not applied: containers always run with an init process.");

  const compose = readCompose(doc, file, vars, notes, !composeRoot);
  const { image, build } = compose ? { image: null, build: null } : readImageOrBuild(doc, file, vars, notes, options);
  const runArgs = doc.optionalStringArray(["runArgs"]).map((arg, i) => vars.apply(arg, `runArgs[${i}]`));
  const parsedRun = parseRunArgs(runArgs);
  notes.push(...parsedRun.notes);

  const spec: DevcontainerSpec = {
    source: file,
    image,
    build,
    containerEnv: vars.applyMap(doc.stringMap(["containerEnv"], notes), "containerEnv"),
    remoteEnv: vars.applyMap(doc.stringMap(["remoteEnv"], notes), "remoteEnv"),
    remoteUser: nonEmpty(doc, ["remoteUser"]),
    containerUser: nonEmpty(doc, ["containerUser"]),
    workspaceFolder,
    // The spec's defaults: a Compose service keeps its own command, an image gets a keep-alive.
    overrideCommand: doc.optionalBoolean(["overrideCommand"]) ?? !compose,
    onCreateCommand: readLifecycle(doc, vars, "onCreateCommand"),
    updateContentCommand: readLifecycle(doc, vars, "updateContentCommand"),
    postCreateCommand: readLifecycle(doc, vars, "postCreateCommand"),
    postStartCommand: readLifecycle(doc, vars, "postStartCommand"),
    run: parsedRun.run,
    // Only when present, so the hash of a spec without them stays what it was.
    ...(compose ? { compose } : {}),
    ...(features ? { features } : {}),
    ...(volumes.length ? { volumes } : {}),
  };
  return { spec, notes: [...new Set(notes)] };
}

/** `dockerComposeFile` with `service`; the files themselves are read and checked by compose.ts. */
function readCompose(doc: Doc, file: string, vars: Substitution, notes: string[], folderGiven: boolean): ComposeRef | null {
  const raw = doc.value(["dockerComposeFile"]);
  if (raw === undefined || raw === null) {
    for (const key of ["service", "runServices"]) if (doc.has([key])) notes.push(`\`${key}\` not applied: there is no \`dockerComposeFile\`.`);
    return null;
  }
  const list = typeof raw === "string" ? [raw] : doc.optionalStringArray(["dockerComposeFile"]);
  if (!list.length) doc.fail(["dockerComposeFile"], "`dockerComposeFile` names no file");
  const configDir = posix.dirname(file);
  const files = list.map((entry, i) => insideWorkspace(doc, typeof raw === "string" ? ["dockerComposeFile"] : ["dockerComposeFile", i], configDir, vars.apply(entry, "dockerComposeFile")));
  const service = nonEmpty(doc, ["service"]);
  if (!service) doc.fail(["dockerComposeFile"], "`dockerComposeFile` needs `service`: the service the task runs in");
  const runServices = doc.has(["runServices"]) ? doc.optionalStringArray(["runServices"]) : null;
  for (const key of ["image", "build", "dockerFile"]) if (doc.has([key])) notes.push(`\`${key}\` not used: the Compose service \`${service}\` says what runs.`);
  return { files, service, runServices, workspaceFolderGiven: folderGiven && doc.has(["workspaceFolder"]) };
}

/** Variables in a `mounts` entry (often `${localWorkspaceFolderBasename}` in a volume's name). */
function substituteMount(item: unknown, i: number, vars: Substitution): unknown {
  if (typeof item === "string") return vars.apply(item, `mounts[${i}]`);
  if (typeof item !== "object" || item === null || Array.isArray(item)) return item;
  return Object.fromEntries(Object.entries(item).map(([k, v]) => [k, typeof v === "string" ? vars.apply(v, `mounts[${i}].${k}`) : v]));
}

function readImageOrBuild(
  doc: Doc,
  file: string,
  vars: Substitution,
  notes: string[],
  options: DevcontainerOptions,
): { image: string | null; build: BuildSpec | null } {
  const configDir = posix.dirname(file);
  const buildObject = doc.optionalObject(["build"]);
  const legacyDockerfile = doc.optionalString(["dockerFile"]);
  const dockerfile = buildObject ? doc.optionalString(["build", "dockerfile"]) : legacyDockerfile;
  if (buildObject && !dockerfile && doc.optionalString(["image"]) === undefined) {
    doc.fail(["build"], "`build` needs `dockerfile` (or use `image`)");
  }
  if (dockerfile) {
    const contextRaw = (buildObject ? doc.optionalString(["build", "context"]) : doc.optionalString(["context"])) ?? ".";
    const args = buildObject ? vars.applyMap(doc.stringMap(["build", "args"], notes), "build.args") : {};
    const target = buildObject ? (doc.optionalString(["build", "target"]) ?? null) : null;
    for (const key of ["cacheFrom", "options"]) {
      if (buildObject && buildObject[key] !== undefined) notes.push(`\`build.${key}\` not applied: not supported.`);
    }
    const dockerfilePath = insideWorkspace(doc, buildObject ? ["build", "dockerfile"] : ["dockerFile"], configDir, vars.apply(dockerfile, "build.dockerfile"));
    const context = insideWorkspace(doc, buildObject ? ["build", "context"] : ["context"], configDir, vars.apply(contextRaw, "build.context"));
    if (context !== "." && !dockerfilePath.startsWith(context + "/")) {
      doc.fail(buildObject ? ["build", "dockerfile"] : ["dockerFile"], `the Dockerfile (${dockerfilePath}) must be inside the build context (${context})`);
    }
    if (doc.optionalString(["image"]) !== undefined) notes.push("`image` not used: `build` takes precedence.");
    return { image: null, build: { dockerfile: dockerfilePath, context, args, target } };
  }
  const image = doc.optionalString(["image"]);
  if (buildObject) notes.push("`build` not used: it names no `dockerfile`.");
  if (image !== undefined) {
    const resolved = vars.apply(image, "image").trim();
    if (!resolved) doc.fail(["image"], "`image` is empty");
    return { image: resolved, build: null };
  }
  notes.push(`Neither \`image\` nor \`build\` is set; using the default image ${options.defaultImage}.`);
  return { image: options.defaultImage, build: null };
}

/** Resolves a path written relative to the config's folder into one relative to the workspace root. */
function insideWorkspace(doc: Doc, at: JSONPath, configDir: string, value: string): string {
  if (value.startsWith("/") || /^[A-Za-z]:[\\/]/.test(value)) doc.fail(at, `\`${value}\` must be a relative path`);
  const joined = posix.normalize(posix.join(configDir, value.replace(/\\/g, "/")));
  const clean = joined.replace(/\/+$/, "") || ".";
  if (clean === ".." || clean.startsWith("../")) doc.fail(at, `\`${value}\` leads outside the repository`);
  return clean;
}

function normaliseWorkspaceFolder(doc: Doc, value: string): string {
  if (!value.startsWith("/")) doc.fail(["workspaceFolder"], `\`${value}\` must be an absolute path in the container`);
  const clean = posix.normalize(value).replace(/\/+$/, "");
  if (!clean || clean === "/") doc.fail(["workspaceFolder"], "the workspace cannot be mounted at /");
  return clean;
}

function nonEmpty(doc: Doc, at: JSONPath): string | null {
  const value = doc.optionalString(at);
  if (value === undefined) return null;
  if (!value.trim()) doc.fail(at, `\`${at.join(".")}\` is empty`);
  return value.trim();
}

function readLifecycle(doc: Doc, vars: Substitution, key: LifecycleHook): LifecycleCommand | null {
  const value = doc.value([key]);
  if (value === undefined || value === null) return null;
  const one = (v: unknown, at: JSONPath): CommandForm | null => {
    if (typeof v === "string") return v.trim() ? { kind: "shell", command: vars.apply(v, at.join(".")) } : null;
    if (Array.isArray(v) && v.every((item) => typeof item === "string")) {
      return v.length ? { kind: "argv", argv: v.map((item: string) => vars.apply(item, at.join("."))) } : null;
    }
    return doc.fail(at, `\`${at.join(".")}\` must be a string or an array of strings`);
  };
  if (typeof value === "object" && !Array.isArray(value)) {
    const commands: Record<string, CommandForm> = {};
    for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
      const command = one(entry, [key, name]);
      if (command) commands[name] = command;
    }
    return Object.keys(commands).length ? { kind: "parallel", commands } : null;
  }
  return one(value, [key]);
}

// ---------------------------------------------------------------------------------------------
// runArgs

/** Flags of `docker run` that take no value, so the next argument is not swallowed as one. */
const BOOLEAN_FLAGS = new Set([
  "--privileged",
  "--init",
  "--rm",
  "--read-only",
  "--tty",
  "-t",
  "--interactive",
  "-i",
  "-it",
  "-ti",
  "--detach",
  "-d",
  "--no-healthcheck",
  "--oom-kill-disable",
  "--publish-all",
  "-P",
  "--sig-proxy",
  "--disable-content-trust",
  "--quiet",
  "-q",
]);

const FLAG_REASONS: Record<string, string> = {
  "--privileged": "containers never run privileged",
  "--cap-add": "capabilities can only be dropped",
  "--network": "the network mode is set by the operator (CONTAINER_NETWORK)",
  "--net": "the network mode is set by the operator (CONTAINER_NETWORK)",
  "--volume": "only the workspace is mounted",
  "-v": "only the workspace is mounted",
  "--mount": "only the workspace is mounted",
  "--publish": "no ports are published",
  "-p": "no ports are published",
  "--env-file": "files on the server are never read; use containerEnv or DEVS.yml env_vars",
  "--device": "host devices are never passed in",
  "--pid": "containers never share the host's namespaces",
  "--ipc": "containers never share the host's namespaces",
  "--uts": "containers never share the host's namespaces",
  "--userns": "containers never share the host's namespaces",
  "--user": "use `containerUser` or `remoteUser`",
  "-u": "use `containerUser` or `remoteUser`",
  "--name": "containers are named by the app",
};

const SHORT_ALIASES: Record<string, string> = { "-e": "--env", "-m": "--memory" };
const VALUE_FLAGS = new Set(["--env", "--memory", "--cpus", "--cap-drop"]);

/** Maps the runArgs this app supports; every other argument becomes a note. */
export function parseRunArgs(args: readonly string[]): { run: RunOptions; notes: string[] } {
  const run: RunOptions = { env: {}, capDrop: [], memoryBytes: null, nanoCpus: null };
  const notes: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (!arg.startsWith("-") || arg === "-" || arg === "--") {
      notes.push(`runArgs \`${arg}\` not applied: not an option.`);
      continue;
    }
    let flag: string;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      flag = eq < 0 ? arg : arg.slice(0, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else {
      // Short options: `-e K=V`, `-eK=V` and `-e=K=V` all work in docker's parser.
      flag = arg.slice(0, 2);
      const rest = arg.slice(2);
      if (SHORT_ALIASES[flag] && rest) inline = rest.startsWith("=") ? rest.slice(1) : rest;
      else if (rest) flag = arg;
    }
    const canonical = SHORT_ALIASES[flag] ?? flag;
    if (VALUE_FLAGS.has(canonical)) {
      const value = inline ?? args[i + 1];
      if (inline === undefined) i++;
      if (value === undefined) {
        notes.push(`runArgs \`${arg}\` not applied: it needs a value.`);
        continue;
      }
      applyValueFlag(canonical, value, run, notes, inline === undefined ? `${arg} ${value}` : arg);
      continue;
    }
    let shown = arg;
    if (inline === undefined && !BOOLEAN_FLAGS.has(flag)) {
      const next = args[i + 1];
      if (next !== undefined && !next.startsWith("-")) {
        shown = `${arg} ${next}`;
        i++;
      }
    }
    notes.push(`runArgs \`${shown}\` not applied: ${FLAG_REASONS[canonical] ?? "not supported"}.`);
  }
  return { run, notes };
}

function applyValueFlag(flag: string, value: string, run: RunOptions, notes: string[], shown: string): void {
  switch (flag) {
    case "--env": {
      const eq = value.indexOf("=");
      if (eq <= 0) {
        notes.push(`runArgs \`${shown}\` not applied: passing a variable through from the server is never done; give it a value.`);
        return;
      }
      run.env[value.slice(0, eq)] = value.slice(eq + 1);
      return;
    }
    case "--cap-drop": {
      const cap = value.trim().toUpperCase();
      if (!/^[A-Z_]+$/.test(cap)) {
        notes.push(`runArgs \`${shown}\` not applied: \`${value}\` is not a capability name.`);
        return;
      }
      if (!run.capDrop.includes(cap)) run.capDrop.push(cap);
      return;
    }
    case "--memory": {
      const bytes = parseMemory(value);
      if (bytes === null) notes.push(`runArgs \`${shown}\` not applied: \`${value}\` is not a size (examples: 512m, 4g).`);
      else if (bytes < MIN_MEMORY) notes.push(`runArgs \`${shown}\` not applied: Docker needs at least 6m.`);
      else run.memoryBytes = bytes;
      return;
    }
    case "--cpus": {
      const cpus = /^\d+(\.\d+)?$|^\.\d+$/.test(value.trim()) ? Number(value) : NaN;
      if (!(cpus > 0)) notes.push(`runArgs \`${shown}\` not applied: \`${value}\` is not a positive number of CPUs.`);
      else run.nanoCpus = Math.round(cpus * 1e9);
      return;
    }
  }
}

const MIN_MEMORY = 6 * 1024 * 1024;

/** Docker's size syntax for `--memory`: a number with an optional binary unit (b, k, m, g, t, p). */
export function parseMemory(value: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgtp])?(i)?(b)?$/i.exec(value.trim());
  if (!match) return null;
  const units = ["", "k", "m", "g", "t", "p"];
  const power = units.indexOf((match[2] ?? "").toLowerCase());
  if (match[3] && !match[2]) return null;
  return Math.floor(Number(match[1]) * 1024 ** power);
}

// ---------------------------------------------------------------------------------------------
// Variables

/** `${containerEnv:NAME}` or `${containerEnv:NAME:default}`, resolved when a command runs. */
const CONTAINER_ENV_REF = /\$\{containerEnv:([^}:]+)(?::([^}]*))?\}/g;

/** Replaces `${containerEnv:NAME[:default]}` with values from the running container's environment. */
export function resolveContainerEnvRefs(value: string, containerEnv: Readonly<Record<string, string>>): string {
  return value.replace(CONTAINER_ENV_REF, (_all, name: string, fallback: string | undefined) => containerEnv[name] ?? fallback ?? "");
}

class Substitution {
  containerWorkspaceFolder: string | null = null;
  constructor(
    private readonly options: DevcontainerOptions,
    private readonly notes: string[],
  ) {}

  apply(value: string, where: string): string {
    return value.replace(/\$\{([^}]*)\}/g, (all, body: string) => {
      const [kind, name, ...rest] = body.split(":");
      const fallback = rest.length ? rest.join(":") : undefined;
      switch (kind) {
        case "localEnv":
        case "env": {
          const known = name ? this.options.localEnv?.[name] : undefined;
          if (known !== undefined) return known;
          if (fallback !== undefined) return fallback;
          this.notes.push(
            `\`${all}\` in ${where} has no value: the server's environment is never read; set ${name || "it"} in DEVS.yml env_vars.`,
          );
          return "";
        }
        case "containerEnv":
          return all;
        case "localWorkspaceFolder":
          return this.options.workspaceDir ?? all;
        case "localWorkspaceFolderBasename":
          return this.options.repoName;
        case "containerWorkspaceFolder":
          if (this.containerWorkspaceFolder) return this.containerWorkspaceFolder;
          break;
        case "containerWorkspaceFolderBasename":
          if (this.containerWorkspaceFolder) return posix.basename(this.containerWorkspaceFolder);
          break;
      }
      this.notes.push(`\`${all}\` in ${where} not substituted: not supported.`);
      return all;
    });
  }

  applyMap(map: Record<string, string>, where: string): Record<string, string> {
    return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, this.apply(v, `${where}.${k}`)]));
  }
}

// ---------------------------------------------------------------------------------------------
// Typed access to the parsed tree, with errors that point at the line and column.

class Doc {
  readonly root: Node;
  constructor(
    private readonly text: string,
    private readonly file: string,
  ) {
    const errors: ParseError[] = [];
    const root = parseTree(text, errors, { allowTrailingComma: true, disallowComments: false });
    const first = errors[0];
    if (first) {
      const { line, column } = position(text, first.offset);
      throw new DevcontainerError(file, `invalid JSON (${printParseErrorCode(first.error)})`, line, column);
    }
    if (!root || root.type !== "object") {
      const { line, column } = position(text, root?.offset ?? 0);
      throw new DevcontainerError(file, "must contain a JSON object", line, column);
    }
    this.root = root;
  }

  fail(at: JSONPath, problem: string): never {
    const node = findNodeAtLocation(this.root, at);
    const { line, column } = position(this.text, node?.offset ?? 0);
    throw new DevcontainerError(this.file, problem, line, column);
  }

  has(at: JSONPath): boolean {
    return findNodeAtLocation(this.root, at) !== undefined;
  }

  value(at: JSONPath): unknown {
    const node = findNodeAtLocation(this.root, at);
    return node ? getNodeValue(node) : undefined;
  }

  optionalString(at: JSONPath): string | undefined {
    const value = this.value(at);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") this.fail(at, `\`${at.join(".")}\` must be a string`);
    return value;
  }

  optionalBoolean(at: JSONPath): boolean | undefined {
    const value = this.value(at);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "boolean") this.fail(at, `\`${at.join(".")}\` must be true or false`);
    return value;
  }

  optionalObject(at: JSONPath): Record<string, unknown> | undefined {
    const value = this.value(at);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "object" || Array.isArray(value)) this.fail(at, `\`${at.join(".")}\` must be an object`);
    return value as Record<string, unknown>;
  }

  optionalStringArray(at: JSONPath): string[] {
    const value = this.value(at);
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
      this.fail(at, `\`${at.join(".")}\` must be an array of strings`);
    }
    return value as string[];
  }

  /** An object of strings; numbers and booleans are taken as their text, null values are noted. */
  stringMap(at: JSONPath, notes: string[]): Record<string, string> {
    const object = this.optionalObject(at) ?? {};
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(object)) {
      const where = [...at, key];
      if (!/^[^=\0]+$/.test(key)) this.fail(where, `\`${key}\` is not a valid variable name`);
      if (value === null) {
        notes.push(`\`${where.join(".")}: null\` not applied: variables cannot be unset.`);
        continue;
      }
      if (typeof value === "number" || typeof value === "boolean") out[key] = String(value);
      else if (typeof value === "string") out[key] = value;
      else this.fail(where, `\`${where.join(".")}\` must be a string`);
      if (out[key]?.includes("\0")) this.fail(where, `\`${where.join(".")}\` contains a NUL character`);
    }
    return out;
  }
}

function position(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  const column = offset - before.lastIndexOf("\n");
  return { line, column };
}
