// Builds an image with a devcontainer's features, through the spec's reference implementation
// (the devcontainer CLI). The CLI is a tool the host runs, so it never sees the repository: the
// host generates a devcontainer.json holding only what the build needs (the base image, the
// features with their options, the install order), copies local feature folders into a staging
// directory it owns (through openInside, so a link out of the repository is refused), and runs
// the CLI there with a minimal environment (the server's holds its secrets, and the CLI would
// substitute `${localEnv:…}` from it). The image is tagged with a hash of everything that went
// into it, so the next task with the same configuration reuses it.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { lstat, mkdir, mkdtemp, readFile, readdir, realpath, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, posix, sep } from "node:path";
import type Docker from "dockerode";
import type { FeatureEntry, FeatureSet } from "./feature-config.js";
import { METADATA_LABEL, parseMetadataLabel, type MetadataEntry } from "./feature-metadata.js";
import { stableStringify } from "./hash.js";
import { imageRepository, type ResolvedImage } from "./image.js";
import { LastLines, LineSplitter } from "./stream.js";
import { OutsideError, openInside } from "../workspace/inside.js";

/** Which step of a features build failed: getting a feature, running its install script, or the rest. */
export type FeatureFailureStage = "fetch" | "install" | "build";

const STAGE_WORDS: Record<FeatureFailureStage, string> = { fetch: "could not be fetched", install: "failed to install", build: "failed" };

export class FeatureBuildError extends Error {
  override name = "FeatureBuildError";
  constructor(
    /** The feature as devcontainer.json names it; null when the failure names none. */
    readonly feature: string | null,
    readonly stage: FeatureFailureStage,
    readonly problem: string,
    readonly lastLines: string[] = [],
  ) {
    super(`${feature ? `the devcontainer feature ${feature}` : "the devcontainer features build"} ${STAGE_WORDS[stage]}: ${problem}`);
  }
}

export interface FeatureImageOptions {
  /** A host-owned folder for staging and the CLI's home (created when missing; emptied per build). */
  workDir: string;
  /** The engine the CLI's docker calls go to (DOCKER_HOST), and the TLS client certificates. */
  dockerHost?: string | null;
  dockerTlsCertPath?: string | null;
  /** A build taking longer is stopped (default 30 minutes). */
  timeoutMs?: number;
}

export interface FeatureBuildRequest {
  owner: string;
  repo: string;
  /** Build output, line by line. */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
}

export interface FeatureImage {
  image: ResolvedImage;
  /** The image's devcontainer.metadata entries (feature-metadata.ts applies them). */
  metadata: MetadataEntry[];
}

/** Limits on a local feature folder: it is copied by the host. */
const MAX_FILES = 2_000;
const MAX_BYTES = 64 * 1024 * 1024;

const DEFAULT_TIMEOUT_MS = 30 * 60_000;

const require = createRequire(import.meta.url);
const CLI_PACKAGE = require.resolve("@devcontainers/cli/package.json");
const CLI_SCRIPT = join(dirname(CLI_PACKAGE), "devcontainer.js");
const CLI_VERSION = (require(CLI_PACKAGE) as { version: string }).version;

export class FeatureImages {
  /** Concurrent tasks asking for the same image share one build. */
  private readonly inFlight = new Map<string, Promise<ResolvedImage>>();
  /**
   * Builds of different images run one after another: on the classic builder the CLI tags the
   * features' content as `dev_container_feature_content_temp` on the engine, one name for every
   * build, so two at once could each install the other's features.
   */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly docker: Docker,
    private readonly options: FeatureImageOptions,
  ) {}

  /** The image of `base` with `features` installed, built once per distinct input. */
  async resolve(features: FeatureSet, base: ResolvedImage, setupDir: string, request: FeatureBuildRequest): Promise<FeatureImage> {
    await mkdir(this.options.workDir, { recursive: true });
    const buildDir = await mkdtemp(join(this.options.workDir, "features-"));
    try {
      const stageDir = join(buildDir, "stage");
      const staged = await stageFeatures(features, base.id, setupDir, stageDir);
      const tag = `${imageRepository(request.owner, request.repo)}:features-${staged.hash.slice(0, 16)}`;
      const existing = await this.inspect(tag);
      if (existing) return { image: { ref: tag, id: existing.id, origin: "build-cached" }, metadata: existing.metadata };

      let image = this.inFlight.get(tag);
      if (!image) {
        const timeoutMs = this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
        const build = this.queue.then(() =>
          withEngineLock(this.docker, staged.baseImageId, timeoutMs, request.signal, () => this.build(tag, staged, buildDir, request)),
        );
        this.queue = build.catch(() => undefined);
        image = build.finally(() => this.inFlight.delete(tag));
        this.inFlight.set(tag, image);
      }
      const built = await image;
      const info = await this.inspect(tag);
      if (!info) throw new FeatureBuildError(null, "build", "the build ended without producing the image");
      return { image: built, metadata: info.metadata };
    } finally {
      await rm(buildDir, { recursive: true, force: true });
    }
  }

  private async build(tag: string, staged: StagedFeatures, buildDir: string, request: FeatureBuildRequest): Promise<ResolvedImage> {
    const home = join(buildDir, "home");
    const tmp = join(buildDir, "tmp");
    await Promise.all([mkdir(home), mkdir(tmp)]);
    const args = [
      CLI_SCRIPT,
      "build",
      "--workspace-folder",
      staged.dir,
      "--image-name",
      tag,
      "--log-format",
      "json",
      // The classic builder: an engine without buildx is the common case on servers.
      "--buildkit",
      "never",
      "--user-data-folder",
      join(buildDir, "data"),
      "--label",
      "devs.managed=true",
      "--label",
      `devs.repo=${`${request.owner}/${request.repo}`.toLowerCase()}`,
      "--label",
      `devs.build-hash=${staged.hash}`,
    ];
    const lastLines = new LastLines(40);
    const seen: string[] = [];
    // The build's folder is the server's business: lines and errors name it as `<build>`.
    const hide = (text: string) => text.split(buildDir).join("<build>");
    const onText = (raw: string) => {
      const line = hide(raw);
      lastLines.push(line);
      seen.push(line);
      if (seen.length > 5_000) seen.splice(0, seen.length - 5_000);
      request.onLine?.(line);
    };
    const { outcome, exitCode } = await runCli(args, cliEnv(home, tmp, this.options), onText, {
      timeoutMs: this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      ...(request.signal ? { signal: request.signal } : {}),
    });
    if (outcome?.outcome !== "success" || exitCode !== 0) {
      const { feature, stage } = failedFeature(seen, staged.ids);
      const problem = hide(outcome?.message ?? `the devcontainer CLI exited with code ${exitCode ?? "unknown"}`);
      throw new FeatureBuildError(feature, stage, problem, lastLines.get());
    }
    const info = await this.inspect(tag);
    if (!info) throw new FeatureBuildError(null, "build", "the build ended without producing the image", lastLines.get());
    return { ref: tag, id: info.id, origin: "built" };
  }

  private async inspect(ref: string): Promise<{ id: string; metadata: MetadataEntry[] } | null> {
    try {
      const info = await this.docker.getImage(ref).inspect();
      return { id: info.Id, metadata: parseMetadataLabel(info.Config.Labels?.[METADATA_LABEL]) };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return null;
      throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Staging

/** devcontainer.json as the host writes it for the CLI: nothing but what the image build needs (pure). */
export function generatedConfig(features: FeatureSet, baseImage: string): Record<string, unknown> {
  const refs = new Map(features.entries.map((entry) => [entry.ref, stagedRef(entry)]));
  return {
    image: baseImage,
    features: Object.fromEntries(features.entries.map((entry) => [stagedRef(entry), entry.value])),
    ...(features.installOrder.length ? { overrideFeatureInstallOrder: features.installOrder.map((id) => refs.get(id) ?? id) } : {}),
  };
}

/** The staged config is always `.devcontainer/devcontainer.json`, so local refs are relative to that folder. */
function stagedRef(entry: FeatureEntry): string {
  return entry.source.kind === "local" ? `./${posix.relative(".devcontainer", entry.source.path)}` : entry.ref;
}

interface StagedFile {
  path: string;
  mode: number;
  digest: string;
}

interface StagedFeatures {
  dir: string;
  /** Over the generated config, every copied file, the base image's id and the CLI's version. */
  hash: string;
  /** Feature ref → the id its install step is named by in the build's output. */
  ids: Map<string, string>;
  baseImageId: string;
}

async function stageFeatures(features: FeatureSet, baseImageId: string, setupDir: string, stageDir: string): Promise<StagedFeatures> {
  const configText = JSON.stringify(generatedConfig(features, baseImageId), null, 2);
  await mkdir(join(stageDir, ".devcontainer"), { recursive: true });
  await writeFile(join(stageDir, ".devcontainer", "devcontainer.json"), configText);
  const root = await realpath(setupDir);
  const files: StagedFile[] = [];
  const ids = new Map<string, string>();
  for (const entry of features.entries) {
    if (entry.source.kind !== "local") {
      ids.set(entry.ref, publishedId(entry.ref));
      continue;
    }
    const copied = await copyFeatureFolder(entry.ref, root, entry.source.path, join(stageDir, entry.source.path), files.length);
    files.push(...copied.files);
    ids.set(entry.ref, copied.id);
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const hash = createHash("sha256");
  hash.update(stableStringify({ format: 1, cli: CLI_VERSION, base: baseImageId, config: configText }) + "\n");
  for (const file of files) hash.update(`${file.path}\0${file.mode.toString(8)}\0${file.digest}\n`);
  return { dir: stageDir, hash: hash.digest("hex"), ids, baseImageId };
}

/** `ghcr.io/devcontainers/features/node:1` → `node`, as the CLI names its install step. */
function publishedId(ref: string): string {
  const last = ref.split("/").at(-1) ?? ref;
  return last.replace(/[:@].*$/, "");
}

/**
 * Copies the feature folder `rel` of the repository at `root` into `dest`, file by file through
 * openInside: links that stay in the repository are followed, a link out of it is refused.
 */
async function copyFeatureFolder(ref: string, root: string, rel: string, dest: string, filesSoFar: number): Promise<{ files: StagedFile[]; id: string }> {
  const folder = await realpath(join(root, rel)).catch(() => null);
  if (!folder) throw new FeatureBuildError(ref, "fetch", `the folder ${rel} does not exist`);
  if (!isInside(folder, root)) throw new FeatureBuildError(ref, "fetch", `${rel} is a link to a folder outside the repository; it was not read`);
  if (!(await lstat(folder)).isDirectory()) throw new FeatureBuildError(ref, "fetch", `${rel} is not a folder`);

  const files: StagedFile[] = [];
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const inFeature = posix.join(rel, path.slice(folder.length + 1).split(sep).join("/"));
      const stat = await lstat(path);
      if (stat.isDirectory()) {
        await walk(path);
        continue;
      }
      if (!stat.isFile() && !stat.isSymbolicLink()) throw new FeatureBuildError(ref, "fetch", `${inFeature} is neither a file nor a folder`);
      const file = await openInside(root, path.slice(root.length + 1)).catch((error: unknown) => {
        if (error instanceof OutsideError) throw new FeatureBuildError(ref, "fetch", `${inFeature} is a link to a file outside the repository; it was not read`);
        throw error;
      });
      if (!file) throw new FeatureBuildError(ref, "fetch", `${inFeature} is a link to something other than a file`);
      try {
        bytes += file.stat.size;
        if (files.length + filesSoFar >= MAX_FILES || bytes > MAX_BYTES) {
          throw new FeatureBuildError(ref, "fetch", `local features may hold at most ${MAX_FILES} files and ${MAX_BYTES / 1024 / 1024} MB`);
        }
        const content = Buffer.alloc(file.stat.size);
        const { bytesRead } = await file.handle.read(content, 0, content.length, 0);
        const body = content.subarray(0, bytesRead);
        // Executable bits matter (install.sh); nothing else of the mode is kept.
        const mode = file.stat.mode & 0o111 ? 0o755 : 0o644;
        const target = join(dest, inFeature.slice(rel.length + 1));
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, body, { mode });
        files.push({ path: inFeature, mode, digest: createHash("sha256").update(body).digest("hex") });
      } finally {
        await file.handle.close();
      }
    }
  };
  await walk(folder);
  if (!files.some((f) => f.path === `${rel}/devcontainer-feature.json`)) {
    throw new FeatureBuildError(ref, "fetch", `${rel} has no devcontainer-feature.json`);
  }
  const manifest = await readFile(join(dest, "devcontainer-feature.json"), "utf8");
  return { files, id: featureId(manifest) ?? posix.basename(rel) };
}

function featureId(manifest: string): string | null {
  try {
    const id = (JSON.parse(manifest) as { id?: unknown }).id;
    return typeof id === "string" && id ? id : null;
  } catch {
    return null;
  }
}

function isInside(path: string, root: string): boolean {
  return path === root || path.startsWith(root + sep);
}

// ---------------------------------------------------------------------------------------------
// One build at a time on the engine

/** A container of this name, created and never started, is the engine-wide lock. */
const LOCK_CONTAINER = "devs-features-build-lock";

/**
 * Runs `work` while holding a lock on the Docker engine, so that servers sharing one engine never
 * build features at the same moment (the CLI's content image has one name). Creating a
 * container by name is atomic on the engine; a lock older than a build's time limit is a
 * crashed holder's and is taken over.
 */
async function withEngineLock<T>(docker: Docker, image: string, timeoutMs: number, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  const staleMs = timeoutMs + 60_000;
  for (;;) {
    signal?.throwIfAborted();
    try {
      await docker.createContainer({ name: LOCK_CONTAINER, Image: image, Cmd: ["true"], Labels: { "devs.features-build-lock": "true" }, HostConfig: { NetworkMode: "none" } });
      break;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 409) throw error;
      const held = await docker.getContainer(LOCK_CONTAINER).inspect().catch(() => null);
      if (held && Date.now() - Date.parse(held.Created) > staleMs) await docker.getContainer(LOCK_CONTAINER).remove({ force: true }).catch(() => undefined);
      else await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    return await work();
  } finally {
    await docker.getContainer(LOCK_CONTAINER).remove({ force: true }).catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------------
// Running the CLI

/** The CLI's environment: a PATH for the docker CLI, homes of its own, and the engine's address. Nothing of the server's. */
function cliEnv(home: string, tmp: string, options: FeatureImageOptions): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: home,
    TMPDIR: tmp,
    DOCKER_CONFIG: join(home, ".docker"),
    ...(options.dockerHost ? { DOCKER_HOST: options.dockerHost } : {}),
    ...(options.dockerTlsCertPath ? { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: options.dockerTlsCertPath } : {}),
  };
}

interface CliOutcome {
  outcome?: string;
  message?: string;
}

async function runCli(
  args: string[],
  env: Record<string, string>,
  onText: (line: string) => void,
  limits: { timeoutMs: number; signal?: AbortSignal },
): Promise<{ outcome: CliOutcome | null; exitCode: number | null }> {
  limits.signal?.throwIfAborted();
  // Its own process group, so a stop ends the docker CLI it started too.
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let outcome: CliOutcome | null = null;
  const text = new LineSplitter(onText);
  // The log comes as JSON lines on stderr, the outcome on stdout; anything else is passed on as it is.
  const onLine = (line: string) => {
    const event = parseJson(line);
    if (event && typeof event.outcome === "string") outcome = event as CliOutcome;
    // `raw` events are the build's own output, cut anywhere; the others are whole lines.
    else if (event && typeof event.text === "string") text.push(event.type === "raw" || event.text.endsWith("\n") ? event.text : `${event.text}\n`);
    else if (line.trim()) onText(line);
  };
  const stdout = new LineSplitter(onLine);
  const stderr = new LineSplitter(onLine);
  child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  const stop = () => {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
  };
  const timer = setTimeout(stop, limits.timeoutMs);
  limits.signal?.addEventListener("abort", stop, { once: true });
  try {
    const exitCode = await new Promise<number | null>((resolve, reject) => {
      child.once("error", reject);
      child.once("close", (code) => resolve(code));
    });
    stdout.end();
    stderr.end();
    text.end();
    limits.signal?.throwIfAborted();
    if (exitCode === null) return { outcome: { outcome: "error", message: `the build took longer than ${Math.round(limits.timeoutMs / 60_000)} minutes` }, exitCode };
    return { outcome, exitCode };
  } finally {
    clearTimeout(timer);
    limits.signal?.removeEventListener("abort", stop);
  }
}

function parseJson(line: string): Record<string, unknown> | null {
  if (!line.startsWith("{")) return null;
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Which feature a failed build was at, from its output (pure): the last install step started
 * (`/tmp/dev-container-features/<id>_<n>`) names an install failure; before any, the last
 * feature the CLI began to fetch names a fetch failure.
 */
export function failedFeature(lines: readonly string[], ids: ReadonlyMap<string, string>): { feature: string | null; stage: FeatureFailureStage } {
  let fetching: string | null = null;
  let installing: string | null = null;
  const byId = new Map([...ids].map(([ref, id]) => [id, ref]));
  for (const line of lines) {
    const processing = /Processing feature: (\S+)/.exec(line);
    if (processing?.[1] && ids.has(processing[1])) fetching = processing[1];
    const step = /^Step \d+\/\d+ : RUN .*\/tmp\/dev-container-features\/([^/\s]+)_\d+\b/.exec(line);
    if (step?.[1]) installing = byId.get(step[1]) ?? installing;
  }
  if (installing) return { feature: installing, stage: "install" };
  if (fetching) return { feature: fetching, stage: "fetch" };
  return { feature: null, stage: "build" };
}
