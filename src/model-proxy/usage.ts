// The token usage the Messages API reports in its own answers: the `usage` of a streamed message
// (server-sent events, read incrementally from raw chunks) or of a JSON answer. Pure.

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
}

/** A line this long without a newline is no usage event; keeping it would let an answer grow our memory. */
const MAX_LINE_BYTES = 1024 * 1024;
/** The most of a JSON answer read for its usage (a full 64k-token answer is far smaller). */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;

const FIELDS = [
  ["inputTokens", "input_tokens"],
  ["outputTokens", "output_tokens"],
  ["cacheCreationTokens", "cache_creation_input_tokens"],
  ["cacheReadTokens", "cache_read_input_tokens"],
] as const;

const LF = 0x0a;
const CR = 0x0d;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const count = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : null);

export const noTokens = (): TokenUsage => ({ inputTokens: 0, outputTokens: 0, cacheCreationTokens: 0, cacheReadTokens: 0 });

/**
 * Incremental reader of a Messages API event stream. Chunks may be split anywhere (inside a UTF-8
 * character, a line or an event). `onUsage` hears each increase of the counts: a `message_start`
 * gives the message's first figures; a `message_delta` repeats them cumulatively (output_tokens
 * always, the other fields in newer APIs), so only each field's growth is passed on, never a
 * figure twice. A new `message_start` starts a new message. Memory is bounded: an over-long line
 * is dropped, and so is the event it belonged to.
 */
export class SseUsageReader {
  readonly #onUsage: (delta: TokenUsage, model: string | null) => void;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  /** Inside an over-long line: skip to its end. */
  #overlong = false;
  /** The last chunk ended on CR: a LF starting the next one belongs to the same line end. */
  #afterCR = false;
  #eventName = "";
  #data: string[] = [];
  #dataBytes = 0;
  #eventBroken = false;
  /** What the current message has reported so far, field by field. */
  #seen = noTokens();
  #model: string | null = null;

  constructor(onUsage: (delta: TokenUsage, model: string | null) => void) {
    this.#onUsage = onUsage;
  }

  push(chunk: Buffer | string): void {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    let start = 0;
    if (this.#afterCR) {
      this.#afterCR = false;
      if (bytes[0] === LF) start = 1;
    }
    for (let i = start; i < bytes.length; i++) {
      const byte = bytes[i];
      if (byte !== LF && byte !== CR) continue;
      this.#keep(bytes.subarray(start, i));
      this.#endLine();
      if (byte === CR) {
        if (i + 1 === bytes.length) this.#afterCR = true;
        else if (bytes[i + 1] === LF) i++;
      }
      start = i + 1;
    }
    // The rest is a partial line: copy it, the caller may reuse its buffer.
    if (start < bytes.length) this.#keep(Buffer.from(bytes.subarray(start)));
  }

  /** The stream ended: a last line or event without its terminator still counts. */
  end(): void {
    if (this.#pendingBytes > 0 || this.#overlong) this.#endLine();
    this.#dispatch();
    this.#afterCR = false;
  }

  #keep(part: Buffer): void {
    if (this.#overlong || part.length === 0) return;
    if (this.#pendingBytes + part.length > MAX_LINE_BYTES) {
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#overlong = true;
      return;
    }
    this.#pending.push(part);
    this.#pendingBytes += part.length;
  }

  #endLine(): void {
    if (this.#overlong) {
      this.#overlong = false;
      this.#eventBroken = true;
      return;
    }
    const line = this.#pending.length === 1 ? this.#pending[0]!.toString("utf8") : Buffer.concat(this.#pending).toString("utf8");
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#field(line);
  }

  /** One line of the event-stream format: `field: value`, a `:comment`, or blank (end of event). */
  #field(line: string): void {
    if (line === "") return this.#dispatch();
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const name = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (name === "event") this.#eventName = value;
    else if (name === "data") {
      this.#dataBytes += value.length;
      if (this.#dataBytes > MAX_LINE_BYTES) this.#eventBroken = true;
      else this.#data.push(value);
    }
  }

  #dispatch(): void {
    const name = this.#eventName;
    const data = this.#data;
    const broken = this.#eventBroken;
    this.#eventName = "";
    this.#data = [];
    this.#dataBytes = 0;
    this.#eventBroken = false;
    if (broken || data.length === 0) return;
    // Text and tool deltas are most of a stream and never carry usage: skip them unparsed.
    if (name !== "" && name !== "message_start" && name !== "message_delta") return;
    let value: unknown;
    try {
      value = JSON.parse(data.join("\n"));
    } catch {
      return;
    }
    if (!isObject(value)) return;
    if (value.type === "message_start" && isObject(value.message)) {
      this.#seen = noTokens();
      this.#model = typeof value.message.model === "string" ? value.message.model : null;
      if (isObject(value.message.usage)) this.#grow(value.message.usage);
    } else if (value.type === "message_delta" && isObject(value.usage)) {
      this.#grow(value.usage);
    }
  }

  #grow(usage: Json): void {
    const delta = noTokens();
    let grew = false;
    for (const [field, apiField] of FIELDS) {
      const figure = count(usage[apiField]);
      if (figure === null || figure <= this.#seen[field]) continue;
      delta[field] = figure - this.#seen[field];
      this.#seen[field] = figure;
      grew = true;
    }
    if (grew) this.#onUsage(delta, this.#model);
  }
}

/** The usage of a non-streamed answer (`{ model, usage: {...} }`), or null if the body is not one. */
export function usageOfJson(body: string): { usage: TokenUsage; model: string | null } | null {
  if (body.length > MAX_JSON_BYTES) return null;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return null;
  }
  if (!isObject(value) || !isObject(value.usage)) return null;
  const usage = noTokens();
  for (const [field, apiField] of FIELDS) usage[field] = count(value.usage[apiField]) ?? 0;
  return { usage, model: typeof value.model === "string" ? value.model : null };
}
