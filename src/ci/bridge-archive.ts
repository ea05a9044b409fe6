// What a CI run leaves in its bridge directory reaches the host only as a tar stream from Docker's
// archive API (`GET /containers/{id}/archive`), read here with bounds. Docker resolves the path
// inside the container, so a symbolic link that a test swapped in is an entry of the archive (a
// link, stored as such), never a way to a host file; nothing on the host is opened by a path the
// container chose. The reader bounds the entries, the bytes (counted from each header before its
// content is read, so a stop never cuts a file in half), each file's size and the depth, and turns
// whatever it leaves out into notes. Consumers get the entries one at a time and stream file
// contents; nothing is held whole in memory.
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
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

export const DEFAULT_ARCHIVE_LIMITS = { maxBytes: 1024 ** 3, maxEntries: 20_000, maxFileBytes: 512 * 1024 ** 2, maxDepth: 32 } as const;

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
  const summary: ArchiveSummary = { entries: 0, bytes: 0, notes: [] };
  const extract = tar.extract();
  // Headers and padding come on top of the content; a stream far beyond both is not Docker's.
  const rawBudget = maxBytes + (maxEntries + 16) * 4096;
  let raw = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      raw += chunk.length;
      done(raw > rawBudget ? new ArchiveError(`the archive is larger than ${rawBudget} bytes`) : null, chunk);
    },
  });
  const feeding = pipeline(source as Readable, counter, extract as unknown as NodeJS.WritableStream).catch((error: unknown) => error);
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
        summary.notes.push(`the bridge directory holds more than ${bytesText(maxBytes)} of files; what comes after \`${path}\` was left out`);
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
  } finally {
    if (!finished) {
      (source as Readable).destroy?.();
      extract.destroy();
    }
  }
  const failure = await feeding;
  if (!stoppedEarly && failure) throw failure instanceof ArchiveError ? failure : new ArchiveError(`the archive could not be read: ${describe(failure)}`);
  if (tooDeep) summary.notes.push(`${count(tooDeep)} entr${tooDeep === 1 ? "y" : "ies"} deeper than ${maxDepth} directories were left out`);
  if (tooBig) summary.notes.push(`${count(tooBig)} file${tooBig === 1 ? "" : "s"} larger than ${bytesText(maxFileBytes)} were left out`);
  return summary;
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

export function bytesText(n: number): string {
  if (n >= 1024 ** 3 && n % 1024 ** 3 === 0) return `${n / 1024 ** 3} GiB`;
  if (n >= 1024 ** 2 && n % 1024 ** 2 === 0) return `${n / 1024 ** 2} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${count(n)} bytes`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0]!.slice(0, 200) : String(error);
}
