// Resolves the image a devcontainer spec asks for. A Dockerfile build is tagged with a hash of
// everything that goes into it (Dockerfile, context files, build args, target), so it is built
// once and reused until one of those changes. A named image is used as it is locally; only when
// it is missing is a pull tried (no registry may be reachable).
import { lstat, readdir, readlink, realpath } from "node:fs/promises";
import tar from "tar-stream";
import { join, posix, sep } from "node:path";
import { createHash } from "node:crypto";
import type Docker from "dockerode";
import type { BuildSpec, DevcontainerSpec } from "./devcontainer.js";
import { parseDockerIgnore, type DockerIgnore } from "./dockerignore.js";
import { stableStringify } from "./hash.js";
import { OutsideError, openInside, readInside } from "../workspace/inside.js";
import { LastLines, LineSplitter } from "./stream.js";
import { safeName } from "../names/safe-name.js";

export interface ResolvedImage {
  /** What containers are created from: the build tag or the named image. */
  ref: string;
  /** Image id (sha256:…); containers are recreated when it changes. */
  id: string;
  /** How it was obtained this time. */
  origin: "local" | "pulled" | "built" | "build-cached";
}

export interface ResolveImageOptions {
  owner: string;
  repo: string;
  /** Build and pull output, line by line. */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  /** Network for RUN steps of a build (CONTAINER_NETWORK); Docker's default when unset. */
  network?: string;
}

export class ImageBuildError extends Error {
  override name = "ImageBuildError";
  constructor(
    readonly tag: string,
    readonly problem: string,
    /** The last lines of the build output. */
    readonly lastLines: string[],
  ) {
    super(`building ${tag} failed: ${problem}${lastLines.length ? `\n${lastLines.join("\n")}` : ""}`);
  }
}

export class ImageUnavailableError extends Error {
  override name = "ImageUnavailableError";
  constructor(
    readonly ref: string,
    readonly problem: string,
  ) {
    super(`image ${ref} is not present on this Docker host and could not be pulled: ${problem}`);
  }
}

/** `devs-img-<owner>-<repo>`, reduced to what Docker accepts in a repository name. */
export function imageRepository(owner: string, repo: string): string {
  const part = (s: string) => safeName(s, "alnum") || "x";
  return `devs-img-${part(owner)}-${part(repo)}`;
}

export async function resolveImage(
  docker: Docker,
  spec: DevcontainerSpec,
  workspaceDir: string,
  options: ResolveImageOptions,
): Promise<ResolvedImage> {
  if (spec.build) return buildImage(docker, spec.build, workspaceDir, options);
  if (!spec.image) throw new Error("devcontainer spec names neither an image nor a build");
  return namedImage(docker, spec.image, options);
}

// ---------------------------------------------------------------------------------------------
// Named images

async function namedImage(docker: Docker, ref: string, options: ResolveImageOptions): Promise<ResolvedImage> {
  const local = await inspectImage(docker, ref);
  if (local) return { ref, id: local, origin: "local" };
  try {
    const stream = await docker.pull(ref, options.signal ? { abortSignal: options.signal } : {});
    await followJson(docker, stream, (event) => {
      if (typeof event.status === "string") options.onLine?.([event.id, event.status, event.progress].filter(Boolean).join(" "));
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    throw new ImageUnavailableError(ref, errorText(error));
  }
  const pulled = await inspectImage(docker, ref);
  if (!pulled) throw new ImageUnavailableError(ref, "the pull finished but the image is still missing");
  return { ref, id: pulled, origin: "pulled" };
}

// ---------------------------------------------------------------------------------------------
// Builds

/** Concurrent requests for the same tag share one build. */
const inFlight = new WeakMap<Docker, Map<string, Promise<ResolvedImage>>>();

async function buildImage(docker: Docker, build: BuildSpec, workspaceDir: string, options: ResolveImageOptions): Promise<ResolvedImage> {
  const context = await buildContext(workspaceDir, build);
  const tag = `${imageRepository(options.owner, options.repo)}:${context.hash.slice(0, 16)}`;
  const existing = await inspectImage(docker, tag);
  if (existing) return { ref: tag, id: existing, origin: "build-cached" };

  let builds = inFlight.get(docker);
  if (!builds) inFlight.set(docker, (builds = new Map()));
  const running = builds.get(tag);
  if (running) return running;
  const promise = runBuild(docker, tag, build, context, options).finally(() => builds.delete(tag));
  builds.set(tag, promise);
  return promise;
}

async function runBuild(
  docker: Docker,
  tag: string,
  build: BuildSpec,
  context: BuildContext,
  options: ResolveImageOptions,
): Promise<ResolvedImage> {
  const lastLines = new LastLines(30);
  const deliver = (line: string) => {
    lastLines.push(line);
    options.onLine?.(line);
  };
  const lines = new LineSplitter(deliver);
  let failure: string | null = null;
  try {
    const stream = await docker.buildImage(
      packContext(context),
      {
        t: tag,
        dockerfile: posix.relative(build.context, build.dockerfile),
        buildargs: build.args,
        ...(build.target ? { target: build.target } : {}),
        ...(options.network ? { networkmode: options.network } : {}),
        labels: { "devs.managed": "true", "devs.repo": `${options.owner}/${options.repo}`.toLowerCase(), "devs.build-hash": context.hash },
        rm: true,
        forcerm: true,
        ...(options.signal ? { abortSignal: options.signal } : {}),
      },
    );
    await followJson(docker, stream, (event) => {
      if (typeof event.stream === "string") lines.push(event.stream);
      else if (typeof event.status === "string") deliver([event.id, event.status].filter(Boolean).join(" "));
      const message = event.errorDetail?.message ?? event.error;
      if (typeof message === "string") failure = message.trim();
    });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    lines.end();
    throw new ImageBuildError(tag, errorText(error), lastLines.get());
  }
  lines.end();
  if (failure) throw new ImageBuildError(tag, failure, lastLines.get());
  const id = await inspectImage(docker, tag);
  if (!id) throw new ImageBuildError(tag, "the build ended without producing the image", lastLines.get());
  return { ref: tag, id, origin: "built" };
}

export interface BuildContext {
  /** Absolute path of the context folder. */
  dir: string;
  /** Paths sent to Docker, relative to `dir`: files, links and empty folders, .dockerignore applied. */
  files: string[];
  /** What is sent, in order. */
  entries: ContextEntry[];
  /** sha256 over the Dockerfile path, build args, target and every entry's path, type, mode and content. */
  hash: string;
}

/** Lists and hashes the build context exactly as it will be sent. */
export async function buildContext(workspaceDir: string, build: BuildSpec): Promise<BuildContext> {
  const root = await realpath(workspaceDir);
  const dir = join(root, ...build.context.split("/").filter((p) => p !== "."));
  const dirReal = await realpath(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw new ImageBuildError(build.context, `the build context ${build.context} does not exist`, []);
    throw error;
  });
  if (dirReal !== root && !dirReal.startsWith(root + sep)) {
    throw new ImageBuildError(build.context, `the build context ${build.context} leads outside the repository`, []);
  }
  const dockerfile = posix.relative(build.context, build.dockerfile);
  const dockerfileFile = await openInside(dirReal, dockerfile).catch(() => null);
  await dockerfileFile?.handle.close();
  if (!dockerfileFile) {
    throw new ImageBuildError(build.dockerfile, `the Dockerfile ${build.dockerfile} does not exist or is not a regular file`, []);
  }

  const ignoreText = (await readInside(dirReal, ".dockerignore").catch(() => null)) ?? "";
  const ignore = parseDockerIgnore(ignoreText);
  // Docker always sends these two, ignored or not: the daemon needs them.
  const always = new Set([dockerfile, ".dockerignore"]);
  const entries: ContextEntry[] = [];
  await walk(dirReal, "", ignore, always, entries);
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  const hash = createHash("sha256");
  hash.update(stableStringify({ format: 1, dockerfile, args: build.args, target: build.target }) + "\n");
  for (const entry of entries) hash.update(`${entry.type}\0${entry.path}\0${entry.mode}\0${entry.digest}\n`);
  return { dir: dirReal, files: entries.map((e) => e.path), entries, hash: hash.digest("hex") };
}

export interface ContextEntry {
  path: string;
  type: "file" | "link" | "dir";
  /** Permission bits matter to a build (an executable script stays executable). */
  mode: string;
  digest: string;
}

async function walk(base: string, rel: string, ignore: DockerIgnore, always: Set<string>, out: ContextEntry[]): Promise<void> {
  const names = await readdir(join(base, rel));
  for (const name of names) {
    const path = rel ? `${rel}/${name}` : name;
    const stat = await lstat(join(base, path));
    const ignored = ignore.ignores(path) && !always.has(path);
    if (stat.isDirectory()) {
      // An ignored folder is skipped whole unless a `!` line could bring something back.
      if (ignored && !ignore.hasExceptions) continue;
      const before = out.length;
      await walk(base, path, ignore, always, out);
      if (out.length === before && !ignored) out.push({ path, type: "dir", mode: mode(stat.mode), digest: "" });
      continue;
    }
    if (ignored) continue;
    if (stat.isSymbolicLink()) out.push({ path, type: "link", mode: "", digest: await readlink(join(base, path)) });
    else if (stat.isFile()) {
      const digest = await fileDigest(base, path);
      if (digest !== null) out.push({ path, type: "file", mode: mode(stat.mode), digest });
    }
    // Sockets, fifos and devices cannot go into a build context.
  }
}

function mode(bits: number): string {
  return (bits & 0o7777).toString(8);
}

/** The content's sha256, read through openInside; null when the file is gone or no longer a file. */
async function fileDigest(base: string, path: string): Promise<string | null> {
  const file = await openInside(base, path);
  if (!file) return null;
  const hash = createHash("sha256");
  try {
    for await (const chunk of file.handle.createReadStream({ autoClose: false })) hash.update(chunk as Buffer);
  } finally {
    await file.handle.close();
  }
  return hash.digest("hex");
}

/**
 * The build context as a tar stream, packed here rather than by a library that opens paths
 * after checking them: each file is opened through openInside and contributes exactly the bytes
 * its descriptor holds, so nothing outside the context can be swapped in while it is packed.
 */
export function packContext(context: BuildContext): NodeJS.ReadableStream {
  const pack = tar.pack();
  const mtime = new Date(0);
  void (async () => {
    for (const entry of context.entries) {
      if (entry.type === "dir") pack.entry({ name: entry.path, type: "directory", mode: Number.parseInt(entry.mode, 8), mtime });
      else if (entry.type === "link") pack.entry({ name: entry.path, type: "symlink", linkname: entry.digest, mtime });
      else await packFile(pack, context.dir, entry, mtime);
    }
    pack.finalize();
  })().catch((error: unknown) => pack.destroy(error as Error));
  return pack as unknown as NodeJS.ReadableStream;
}

async function packFile(pack: tar.Pack, dir: string, entry: ContextEntry, mtime: Date): Promise<void> {
  // A file that became a link out of the context since it was listed is left out, not followed.
  const file = await openInside(dir, entry.path).catch((error: unknown) => {
    if (error instanceof OutsideError) return null;
    throw error;
  });
  if (!file) return;
  try {
    const size = file.stat.size;
    await new Promise<void>((resolve, reject) => {
      const sink = pack.entry({ name: entry.path, type: "file", mode: Number.parseInt(entry.mode, 8), size, mtime }, (error) => (error ? reject(error) : resolve()));
      // Exactly `size` bytes from the descriptor: a file that grew is cut, one that shrank is padded.
      void (async () => {
        let done = 0;
        while (done < size) {
          const chunk = Buffer.alloc(Math.min(64 * 1024, size - done));
          const { bytesRead } = await file.handle.read(chunk, 0, chunk.length, done);
          const piece = bytesRead === 0 ? Buffer.alloc(size - done) : chunk.subarray(0, bytesRead);
          done += piece.length;
          if (!sink.write(piece)) await new Promise<void>((r) => sink.once("drain", () => r()));
        }
        sink.end(undefined);
      })().catch(reject);
    });
  } finally {
    await file.handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Docker helpers

interface ProgressEvent {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
}

function followJson(docker: Docker, stream: NodeJS.ReadableStream, onEvent: (event: ProgressEvent) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(
      stream,
      (error: Error | null) => (error ? reject(error) : resolve()),
      (event: ProgressEvent) => onEvent(event),
    );
  });
}

/** The image id, or null when the reference is not present locally. */
export async function inspectImage(docker: Docker, ref: string): Promise<string | null> {
  try {
    const info = await docker.getImage(ref).inspect();
    return info.Id;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return null;
    throw error;
  }
}

function errorText(error: unknown): string {
  const json = (error as { json?: { message?: string } }).json;
  const text = json?.message ?? (error instanceof Error ? error.message : String(error));
  return text.replace(/^\(HTTP code \d+\) [^-]*- /, "").trim();
}
