// One file per task under the task-log directory: the server's log lines about the task (every
// pino line with a `task` field, debug lines included, so container output is kept even when the
// console shows only info) with the server's secrets redacted, bounded in size, kept for a number
// of days. Appends are queued per file and written asynchronously, so logging never waits on disk.
import { createHmac, timingSafeEqual } from "node:crypto";
import { appendFile, mkdir, readdir, readFile, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { safeName } from "../names/safe-name.js";

/** A task's file grows to this size at most; one line then says it was cut. */
const MAX_TASK_LOG_BYTES = 5 * 1024 * 1024;

/** Task ids the routes accept: what tasks/task.ts makes, and nothing with a path separator. */
const TASK_ID = /^[\w.:-]{1,200}$/;

export interface TaskLogOptions {
  dir: string;
  /** The server's redactor (publish/redact.ts createRedactor with its secret values). */
  redact: (text: string) => string;
  /** Called once, on the first failed write (an unwritable directory must not flood the console). */
  warn: (error: unknown) => void;
  maxBytes?: number;
}

interface FileState {
  /** Bytes written or queued so far; null until the existing file's size is known. */
  bytes: number | null;
  pending: string[];
  writing: Promise<void> | null;
  cut: boolean;
}

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };
/** Fields every line has, or that the file already says. */
const PLAIN_FIELDS = new Set(["level", "time", "pid", "hostname", "msg", "task", "name", "stream", "line"]);

export class TaskLogs {
  private readonly files = new Map<string, FileState>();
  private readonly maxBytes: number;
  private warned = false;
  private dirReady: Promise<void> | null = null;

  constructor(private readonly options: TaskLogOptions) {
    this.maxBytes = options.maxBytes ?? MAX_TASK_LOG_BYTES;
  }

  /** The file of a task id, or null for an id no task has (path-like ids included). */
  pathOf(taskId: string): string | null {
    if (!TASK_ID.test(taskId)) return null;
    const name = safeName(taskId, "file");
    if (!name || name === "." || name === "..") return null;
    return join(this.options.dir, `${name}.log`);
  }

  /** A pino destination: lines with a `task` field go to that task's file. */
  stream(): Writable {
    return new Writable({
      decodeStrings: false,
      write: (chunk: string | Buffer, _encoding, done) => {
        this.takeLine(String(chunk));
        done();
      },
    });
  }

  /** One pino JSON line; anything else (or a line about no task) is ignored. */
  takeLine(json: string): void {
    if (!json.includes('"task"')) return;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(json) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof entry.task !== "string") return;
    this.append(entry.task, formatLine(entry));
  }

  append(taskId: string, text: string): void {
    const path = this.pathOf(taskId);
    if (!path) return;
    let file = this.files.get(path);
    if (!file) {
      file = { bytes: null, pending: [], writing: null, cut: false };
      this.files.set(path, file);
    }
    if (file.cut) return;
    file.pending.push(`${this.options.redact(text)}\n`);
    file.writing ??= this.drain(path, file);
  }

  /** Every queued line written (tests, and close). */
  async flush(): Promise<void> {
    while ([...this.files.values()].some((f) => f.writing)) await Promise.all([...this.files.values()].map((f) => f.writing));
  }

  async read(taskId: string): Promise<string | null> {
    const path = this.pathOf(taskId);
    if (!path) return null;
    await this.files.get(path)?.writing;
    try {
      return await readFile(path, "utf8");
    } catch {
      return null;
    }
  }

  /** Deletes the files last written more than `days` ago; returns how many. */
  async prune(days: number, now = Date.now()): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.options.dir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names.filter((n) => n.endsWith(".log"))) {
      const path = join(this.options.dir, name);
      try {
        if ((await stat(path)).mtimeMs < now - days * 86_400_000) {
          await unlink(path);
          this.files.delete(path);
          removed++;
        }
      } catch {
        // Gone already, or not ours to delete.
      }
    }
    return removed;
  }

  private async drain(path: string, file: FileState): Promise<void> {
    try {
      this.dirReady ??= mkdir(this.options.dir, { recursive: true }).then(() => undefined);
      await this.dirReady;
      file.bytes ??= await stat(path).then(
        (s) => s.size,
        () => 0,
      );
      // Cut already, before this process forgot the file.
      if (file.bytes >= this.maxBytes) {
        file.cut = true;
        file.pending = [];
      }
      while (file.pending.length) {
        let text = file.pending.splice(0).join("");
        const room = this.maxBytes - file.bytes;
        if (Buffer.byteLength(text) > room) {
          text = `${cutToBytes(text, Math.max(0, room))}… (log cut at ${this.maxBytes} bytes; later lines are only in the server's log)\n`;
          file.cut = true;
        }
        file.bytes += Buffer.byteLength(text);
        await appendFile(path, text);
        if (file.cut) break;
      }
    } catch (error) {
      file.pending = [];
      this.dirReady = null;
      if (!this.warned) {
        this.warned = true;
        this.options.warn(error);
      }
    } finally {
      file.writing = null;
      // Lines that came while the last write ran; else the file is forgotten until its next line
      // (its size is read again then), so a long-running server holds no state per past task.
      if (file.pending.length && !file.cut) file.writing = this.drain(path, file);
      else if (!file.cut) this.files.delete(path);
    }
  }
}

/** `2026-12-02T03:40:00.000Z INFO pool: task started {"slot":"eamonn"}`, or a container's `stdout | line`. */
function formatLine(entry: Record<string, unknown>): string {
  const time = typeof entry.time === "number" ? new Date(entry.time).toISOString() : new Date().toISOString();
  const level = LEVELS[entry.level as number] ?? String(entry.level ?? "");
  const who = typeof entry.name === "string" && entry.name !== "devs-webhook" ? `${entry.name}: ` : "";
  const extra = Object.fromEntries(Object.entries(entry).filter(([key]) => !PLAIN_FIELDS.has(key)));
  const fields = Object.keys(extra).length ? ` ${JSON.stringify(extra)}` : "";
  if (typeof entry.line === "string") {
    return `${time} ${level} ${who}${typeof entry.stream === "string" ? entry.stream : "output"} | ${entry.line}${fields}`;
  }
  return `${time} ${level} ${who}${typeof entry.msg === "string" ? entry.msg : ""}${fields}`;
}

function cutToBytes(text: string, bytes: number): string {
  return Buffer.from(text).subarray(0, bytes).toString("utf8").replace(/\uFFFD$/, "");
}

/** The token of a task's public log link: HMAC-SHA256(WEBHOOK_SECRET, "task-log:" + id), hex. */
export function taskLogToken(secret: string, taskId: string): string {
  return createHmac("sha256", secret).update(`task-log:${taskId}`).digest("hex");
}

export function checkTaskLogToken(secret: string, taskId: string, token: string): boolean {
  const expected = Buffer.from(taskLogToken(secret, taskId));
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** `PUBLIC_URL/logs/<id>/<token>`. */
export function publicTaskLogUrl(publicUrl: string, secret: string, taskId: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/logs/${encodeURIComponent(taskId)}/${taskLogToken(secret, taskId)}`;
}
