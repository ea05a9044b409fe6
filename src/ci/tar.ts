// A small tar writer (POSIX ustar with pax headers for long names) over Node's streams, so the
// artifacts need neither a `tar` binary on the host nor another package. The directory comes from
// a container, so it is read without trust: symbolic links are stored as links and never followed,
// devices, sockets and FIFOs are left out, each file contributes exactly the size it had when it
// was listed, and a byte budget bounds the archive.
import { lstat, open, readdir, readlink } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";

const BLOCK = 512;
const CHUNK = 64 * 1024;

export interface TarSummary {
  files: number;
  directories: number;
  symlinks: number;
  /** Bytes of file content archived. */
  bytes: number;
  /** Entries left out (special files, or over the byte budget), as `path: why`. */
  skipped: string[];
}

export interface TarOptions {
  /** Name of the top directory inside the archive. */
  rootName: string;
  /** Stop adding file content beyond this many bytes (default 1 GiB). */
  maxBytes?: number;
  /** Extra files placed in the root (for example the full, redacted log). */
  extraFiles?: ReadonlyArray<{ name: string; content: string | Buffer }>;
  /** Modification time for extra files and directories (seconds); default now. */
  mtime?: number;
}

/** Writes `dir` as a .tar.gz to `target`. */
export async function writeTarGz(dir: string, target: string, options: TarOptions): Promise<TarSummary> {
  const summary: TarSummary = { files: 0, directories: 0, symlinks: 0, bytes: 0, skipped: [] };
  await pipeline(Readable.from(tarStream(dir, options, summary), { objectMode: false }), createGzip({ level: 6 }), createWriteStream(target, { mode: 0o600 }));
  return summary;
}

/** The archive as a stream of blocks. */
export async function* tarStream(dir: string, options: TarOptions, summary: TarSummary): AsyncGenerator<Buffer> {
  const maxBytes = options.maxBytes ?? 1024 ** 3;
  const mtime = options.mtime ?? Math.floor(Date.now() / 1000);
  const root = options.rootName.replace(/^\/+|\/+$/g, "") || "artifacts";
  yield* entry({ path: `${root}/`, type: "5", mode: 0o755, size: 0, mtime });
  summary.directories++;
  for (const extra of options.extraFiles ?? []) {
    const content = typeof extra.content === "string" ? Buffer.from(extra.content, "utf8") : extra.content;
    yield* entry({ path: `${root}/${extra.name}`, type: "0", mode: 0o644, size: content.length, mtime });
    yield content;
    yield padding(content.length);
    summary.files++;
    summary.bytes += content.length;
  }
  yield* walk(dir, root, maxBytes, summary);
  yield Buffer.alloc(BLOCK * 2);
}

async function* walk(dir: string, prefix: string, maxBytes: number, summary: TarSummary): AsyncGenerator<Buffer> {
  const names = (await readdir(dir)).sort();
  for (const name of names) {
    const full = join(dir, name);
    const path = `${prefix}/${name}`;
    const stat = await lstat(full);
    const mtime = Math.floor(stat.mtimeMs / 1000);
    const mode = stat.mode & 0o777;
    if (stat.isSymbolicLink()) {
      yield* entry({ path, type: "2", mode, size: 0, mtime, linkname: await readlink(full) });
      summary.symlinks++;
    } else if (stat.isDirectory()) {
      yield* entry({ path: `${path}/`, type: "5", mode, size: 0, mtime });
      summary.directories++;
      yield* walk(full, path, maxBytes, summary);
    } else if (stat.isFile()) {
      if (summary.bytes + stat.size > maxBytes) {
        summary.skipped.push(`${path}: over the ${maxBytes}-byte budget`);
        continue;
      }
      yield* entry({ path, type: "0", mode, size: stat.size, mtime });
      yield* fileContent(full, stat.size);
      yield padding(stat.size);
      summary.files++;
      summary.bytes += stat.size;
    } else {
      summary.skipped.push(`${path}: not a regular file, directory or link`);
    }
  }
}

/** Exactly `size` bytes: a file that shrank since it was listed is padded, one that grew is cut. */
async function* fileContent(path: string, size: number): AsyncGenerator<Buffer> {
  const handle = await open(path, "r");
  try {
    let done = 0;
    while (done < size) {
      const buffer = Buffer.alloc(Math.min(CHUNK, size - done));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, done);
      if (bytesRead === 0) {
        yield Buffer.alloc(size - done);
        return;
      }
      done += bytesRead;
      yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

interface Entry {
  path: string;
  type: "0" | "2" | "5";
  mode: number;
  size: number;
  mtime: number;
  linkname?: string;
}

function* entry(e: Entry): Generator<Buffer> {
  const pax: Record<string, string> = {};
  const split = splitName(e.path);
  if (!split) pax.path = e.path;
  if (e.linkname !== undefined && Buffer.byteLength(e.linkname) > 100) pax.linkpath = e.linkname;
  if (Object.keys(pax).length) {
    const body = paxRecords(pax);
    yield header({ name: "././@PaxHeader", type: "x", mode: 0o644, size: body.length, mtime: e.mtime });
    yield body;
    yield padding(body.length);
  }
  const names = split ?? { name: truncateBytes(e.path, 100), prefix: "" };
  yield header({ ...names, type: e.type, mode: e.mode, size: e.size, mtime: e.mtime, linkname: e.linkname ? truncateBytes(e.linkname, 100) : "" });
}

/** ustar keeps names of up to 100 bytes, or 155 + "/" + 100 split at a slash. */
function splitName(path: string): { name: string; prefix: string } | null {
  if (Buffer.byteLength(path) <= 100) return { name: path, prefix: "" };
  for (let i = path.length - 1; i > 0; i--) {
    if (path[i] !== "/" || i === path.length - 1) continue;
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name) return { name, prefix };
  }
  return null;
}

function paxRecords(fields: Record<string, string>): Buffer {
  let out = "";
  for (const [key, value] of Object.entries(fields)) {
    const rest = ` ${key}=${value}\n`;
    const restBytes = Buffer.byteLength(rest);
    // The length counts its own digits.
    let len = restBytes + 1;
    while (String(len).length + restBytes !== len) len = String(len).length + restBytes;
    out += `${len}${rest}`;
  }
  return Buffer.from(out, "utf8");
}

function header(h: { name: string; prefix?: string; type: string; mode: number; size: number; mtime: number; linkname?: string }): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, "utf8");
  octal(b, 100, 8, h.mode);
  octal(b, 108, 8, 0);
  octal(b, 116, 8, 0);
  octal(b, 124, 12, h.size);
  octal(b, 136, 12, Math.max(0, h.mtime));
  b.fill(" ", 148, 156);
  b.write(h.type, 156, 1, "ascii");
  if (h.linkname) b.write(h.linkname, 157, 100, "utf8");
  b.write("ustar\u000000", 257, 8, "ascii");
  b.write("root", 265, 32, "ascii");
  b.write("root", 297, 32, "ascii");
  if (h.prefix) b.write(h.prefix, 345, 155, "utf8");
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, 8, "ascii");
  return b;
}

function octal(b: Buffer, offset: number, width: number, value: number): void {
  b.write(`${Math.floor(value).toString(8).padStart(width - 1, "0")}\u0000`, offset, width, "ascii");
}

function padding(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

function truncateBytes(text: string, max: number): string {
  let out = text;
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}
