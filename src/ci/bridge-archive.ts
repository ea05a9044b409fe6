// What a CI run leaves in its bridge directory reaches the host only as a tar stream from Docker's
// archive API (`GET /containers/{id}/archive`), read here with bounds. Docker resolves the path
// inside the container, so a symbolic link that a test swapped in is an entry of the archive (a
// link, stored as such), never a way to a host file; nothing on the host is opened by a path the
// container chose. The reader bounds the entries, the bytes (counted from each header before its
// content is read, so a stop never cuts a file in half), each file's size and the depth, and turns
// whatever it leaves out into notes. Consumers get the entries one at a time and stream file
// contents; nothing is held whole in memory.
import { createWriteStream } from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import * as tar from "tar-stream";

export interface ArchiveLimits {
  /** Bytes of file content, kept or skipped, read at most (default 1 GiB). */
  maxBytes?: number | undefined;
  /** Entries read at most (default 20,000). */
  maxEntries?: number | undefined;
  /** A bigger file is left out with a note (default 512 MiB). */
  maxFileBytes?: number | undefined;
  /** Directory levels below the bridge (default 32). */
  maxDepth?: number | undefined;
}

const DEFAULT_ARCHIVE_LIMITS = { maxBytes: 1024 ** 3, maxEntries: 20_000, maxFileBytes: 512 * 1024 ** 2, maxDepth: 32 } as const;

interface EntryBase {
  /** Relative to the bridge directory, `/`-separated, never absolute and never with `..`. */
  path: string;
  mode: number;
  mtime: Date;
}

export type BridgeEntry =
  | (EntryBase & { type: "file"; size: number; body: AsyncIterable<Buffer> })
  | (EntryBase & { type: "directory" })
  | (EntryBase & { type: "symlink"; linkname: string })
  /** Devices, FIFOs, sockets and hard links: never content, named so a consumer can say so. */
  | (EntryBase & { type: "other"; kind: string });

export interface ArchiveSummary {
  /** Entries below the bridge directory that were read. */
  entries: number;
  /** Bytes of file content read. */
  bytes: number;
  /** What the bounds left out, for the check's notes. */
  notes: string[];
  /** The archive ended before its end: what was read is only a part. */
  truncated: boolean;
}

/** Raised when the archive itself is unusable (not a tar, cut off); bounds never raise. */
export class ArchiveError extends Error {
  override name = "ArchiveError";
}

/**
 * Reads a tar stream of the bridge directory (its first path component is the directory itself)
 * and hands each entry to `visit` in order. A file's body should be consumed by `visit`; what it
 * leaves is drained. Stops at the first bound on entries or bytes and destroys the source.
 */
export async function readBridgeArchive(source: NodeJS.ReadableStream, visit: (entry: BridgeEntry) => Promise<void>, limits: ArchiveLimits = {}): Promise<ArchiveSummary> {
  const maxBytes = limits.maxBytes ?? DEFAULT_ARCHIVE_LIMITS.maxBytes;
  const maxEntries = limits.maxEntries ?? DEFAULT_ARCHIVE_LIMITS.maxEntries;
  const maxFileBytes = limits.maxFileBytes ?? DEFAULT_ARCHIVE_LIMITS.maxFileBytes;
  const maxDepth = limits.maxDepth ?? DEFAULT_ARCHIVE_LIMITS.maxDepth;
  const summary: ArchiveSummary = { entries: 0, bytes: 0, notes: [], truncated: false };
  const extract = tar.extract();
  // Headers and padding come on top of the content; a stream far beyond both is not Docker's.
  const rawBudget = maxBytes + (maxEntries + 16) * 4096;
  // Fed by hand (the extractor is a streamx stream): backpressure, the byte budget and errors all
  // stay in one place.
  const feeding = feed(source, extract, rawBudget);
  // An archive Docker cut short (a file changed under its feet) or that is no tar at all.
  let broken: unknown = null;
  extract.on("error", (error: unknown) => void (broken ??= error));
  let tooDeep = 0;
  let tooBig = 0;
  let stoppedEarly = false;
  let finished = false;
  try {
    for await (const entry of extract) {
      const header = entry.header;
      const path = relativePath(header.name);
      const size = header.type === "file" || header.type === "contiguous-file" ? (header.size ?? 0) : 0;
      if (path === null) {
        await drain(entry);
        continue;
      }
      if (summary.entries >= maxEntries) {
        summary.notes.push(`the bridge directory holds more than ${count(maxEntries)} entries; only the first ${count(maxEntries)} were read`);
        stoppedEarly = true;
        break;
      }
      if (summary.bytes + size > maxBytes) {
        summary.notes.push(`the bridge directory holds more than ${bytesText(maxBytes)} of files; \`${path}\` and what follows were left out`);
        stoppedEarly = true;
        break;
      }
      summary.entries++;
      summary.bytes += size;
      const base = { path, mode: (header.mode ?? 0o644) & 0o777, mtime: header.mtime ?? new Date(0) };
      if (path.split("/").length > maxDepth) {
        tooDeep++;
        await drain(entry);
        continue;
      }
      if (header.type === "file" || header.type === "contiguous-file") {
        if (size > maxFileBytes) {
          tooBig++;
          await drain(entry);
          continue;
        }
        await visit({ ...base, type: "file", size, body: entry as AsyncIterable<Buffer> });
      } else if (header.type === "directory") {
        await visit({ ...base, type: "directory" });
      } else if (header.type === "symlink") {
        await visit({ ...base, type: "symlink", linkname: header.linkname ?? "" });
      } else {
        await visit({ ...base, type: "other", kind: header.type ?? "unknown" });
      }
      await drain(entry);
    }
    finished = !stoppedEarly;
  } catch (error) {
    // The archive's fault: what came before it stands, with a note. A consumer's own error is its own.
    if (!broken && !(error instanceof ArchiveError)) throw error;
    if (summary.entries === 0) throw new ArchiveError(`the archive could not be read: ${describe(broken ?? error)}`);
    summary.notes.push(`the bridge directory's archive ended early (${describe(broken ?? error)}); only what came before was read`);
    summary.truncated = true;
  } finally {
    if (!finished) {
      (source as Readable).destroy?.();
      extract.destroy();
    }
  }
  const failure = await feeding;
  if (!stoppedEarly && failure && !summary.truncated) throw failure instanceof ArchiveError ? failure : new ArchiveError(`the archive could not be read: ${describe(failure)}`);
  if (tooDeep) summary.notes.push(`${count(tooDeep)} ${tooDeep === 1 ? "entry" : "entries"} deeper than ${maxDepth} directories ${tooDeep === 1 ? "was" : "were"} left out`);
  if (tooBig) summary.notes.push(`${count(tooBig)} ${tooBig === 1 ? "file" : "files"} larger than ${bytesText(maxFileBytes)} ${tooBig === 1 ? "was" : "were"} left out`);
  return summary;
}

/** Writes `source` into `sink` with backpressure; resolves with the error that ended it, if any. */
async function feed(source: NodeJS.ReadableStream, sink: tar.Extract | tar.Pack | NodeJS.WritableStream, budget = Number.POSITIVE_INFINITY): Promise<unknown> {
  const target = sink as unknown as NodeJS.WritableStream & { destroyed?: boolean; destroy(error?: Error): void };
  let total = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > budget) throw new ArchiveError(`the archive is larger than ${budget} bytes`);
      if (target.destroyed) return null;
      if (!target.write(chunk)) await drained(target);
    }
    target.end();
    return null;
  } catch (error) {
    target.destroy(error as Error);
    return error;
  }
}

/** The sink asks for more, or is gone. */
function drained(target: NodeJS.WritableStream): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      target.removeListener("drain", done);
      target.removeListener("close", done);
      resolve();
    };
    target.once("drain", done);
    target.once("close", done);
  });
}

/** `devs-bridge/a/b.xml` → `a/b.xml`; the directory itself and unsafe names → null. */
function relativePath(name: string): string | null {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".");
  parts.shift();
  if (parts.length === 0 || parts.some((p) => p === "..")) return null;
  return parts.join("/");
}

async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of entry) {
    // Discarded.
  }
}

const count = (n: number) => n.toLocaleString("en-US");

function bytesText(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GiB`;
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${count(n)} bytes`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]!.slice(0, 200) : String(error);
}

type PackHeader = Parameters<tar.Pack["entry"]>[0];

export interface PackSummary {
  files: number;
  directories: number;
  symlinks: number;
  /** Bytes of file content archived. */
  bytes: number;
  /** Entries left out, as `path: why`, and the reader's notes. */
  skipped: string[];
}

export interface PackOptions {
  /** Name of the top directory inside the archive. */
  rootName: string;
  /** Stop adding file content beyond this many bytes (default 1 GiB). */
  maxBytes?: number | undefined;
  /** Bounds on reading the source archive. */
  limits?: ArchiveLimits | undefined;
  /** Extra files placed in the root (for example the full, redacted log). */
  extraFiles?: ReadonlyArray<{ name: string; content: string | Buffer }> | undefined;
  /** Modification time for extra files and the root (default now). */
  mtime?: Date | undefined;
}

/**
 * Re-packs the bridge directory's archive as a .tar.gz at `target` (created 0600, never
 * overwritten): files, directories and symbolic links (stored as links, never followed), nothing
 * else, under `rootName/`, bounded in bytes and entries. `source` null packs only the extra files.
 */
export async function packBridgeArchive(source: NodeJS.ReadableStream | null, target: string, options: PackOptions): Promise<PackSummary> {
  const maxBytes = options.maxBytes ?? 1024 ** 3;
  const mtime = options.mtime ?? new Date();
  const root = options.rootName.replace(/^\/+|\/+$/g, "").replace(/\//g, "-") || "artifacts";
  const summary: PackSummary = { files: 0, directories: 0, symlinks: 0, bytes: 0, skipped: [] };
  const pack = tar.pack();
  // Its failures reach us through the pipeline below; an 'error' event with no listener would
  // otherwise be thrown as an uncaught exception when the pack is destroyed.
  pack.on("error", () => undefined);
  // The pack is read through its async iterator: a Node stream of it, not streamx's own.
  const writing = pipeline(Readable.from(pack), createGzip({ level: 6 }), createWriteStream(target, { mode: 0o600, flags: "wx" }));
  // A failed write ends the pipeline; the entries still being added must not wait for it.
  let writeError: unknown = null;
  writing.catch((error: unknown) => void (writeError = error));
  const add = (header: PackHeader, content?: Buffer) =>
    new Promise<void>((resolve, reject) => {
      if (writeError) return reject(writeError as Error);
      pack.entry(header, content ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
    });
  try {
    await add({ name: `${root}/`, type: "directory", mode: 0o755, mtime });
    summary.directories++;
    for (const extra of options.extraFiles ?? []) {
      const content = typeof extra.content === "string" ? Buffer.from(extra.content, "utf8") : extra.content;
      await add({ name: `${root}/${extra.name}`, type: "file", mode: 0o644, size: content.length, mtime }, content);
      summary.files++;
      summary.bytes += content.length;
    }
    if (source) {
      const read = await readBridgeArchive(
        source,
        async (entry) => {
          const name = `${root}/${entry.path}`;
          if (entry.type === "directory") {
            await add({ name: `${name}/`, type: "directory", mode: entry.mode, mtime: entry.mtime });
            summary.directories++;
          } else if (entry.type === "symlink") {
            await add({ name, type: "symlink", linkname: entry.linkname, mode: entry.mode, mtime: entry.mtime });
            summary.symlinks++;
          } else if (entry.type === "other") {
            summary.skipped.push(`${name}: not a regular file, directory or link`);
          } else if (summary.bytes + entry.size > maxBytes) {
            summary.skipped.push(`${name}: over the ${maxBytes}-byte budget`);
          } else {
            await copyFile(pack, { name, type: "file", size: entry.size, mode: entry.mode, mtime: entry.mtime }, entry.body);
            summary.files++;
            summary.bytes += entry.size;
          }
        },
        options.limits,
      );
      summary.skipped.push(...read.notes);
      // A file cut off half-way cannot be finished in the new archive.
      if (read.truncated) throw new ArchiveError("the bridge directory's archive ended early");
    }
  } catch (error) {
    pack.destroy(error as Error);
    await writing.catch(() => undefined);
    throw error;
  }
  pack.finalize();
  await writing;
  return summary;
}

/** One file's content from the source archive into the new one, with backpressure. */
async function copyFile(pack: tar.Pack, header: PackHeader, body: AsyncIterable<Buffer>): Promise<void> {
  let done!: (error?: Error | null) => void;
  const ended = new Promise<void>((resolve, reject) => (done = (error) => (error ? reject(error) : resolve())));
  // Awaited below only when the body was read whole; a body that breaks off leaves the pack to be
  // destroyed, and the entry's late failure must not surface as an unhandled rejection.
  ended.catch(() => undefined);
  const sink = pack.entry(header, (error) => done(error));
  // Its failure arrives through the callback above; as an event with no listener it would be thrown.
  (sink as unknown as NodeJS.EventEmitter).on("error", () => undefined);
  for await (const chunk of body) {
    if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once("drain", () => resolve()));
  }
  (sink as unknown as { end(): void }).end();
  await ended;
}
