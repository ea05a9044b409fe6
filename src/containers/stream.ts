// Turns Docker's byte streams into lines. An exec without a TTY sends stdout and stderr as frames
// (8-byte header: stream id, 3 zero bytes, big-endian length); a build sends JSON objects whose
// `stream` text arrives in arbitrary pieces. Pure: callers feed chunks in and get lines out.
import { StringDecoder } from "node:string_decoder";

export type OutputStream = "stdout" | "stderr";

export type LineCallback = (stream: OutputStream, line: string) => void;

/** Splits text into lines (\n or \r\n), keeping UTF-8 sequences cut across chunks intact. */
export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";

  /**
   * @param maxLineLength a line longer than this is delivered in pieces rather than held in
   *   memory without bound (a program that never prints a newline).
   */
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLineLength = 8 * 1024 * 1024,
  ) {}

  push(chunk: Buffer | string): void {
    this.consume(typeof chunk === "string" ? chunk : this.decoder.write(chunk));
  }

  /** Delivers a last line that has no newline. */
  end(): void {
    this.consume(this.decoder.end());
    if (this.pending) this.emit(this.pending);
    this.pending = "";
  }

  private consume(text: string): void {
    if (!text) return;
    let buffer = this.pending + text;
    let newline: number;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      this.emit(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
    }
    while (buffer.length > this.maxLineLength) {
      this.onLine(buffer.slice(0, this.maxLineLength));
      buffer = buffer.slice(this.maxLineLength);
    }
    this.pending = buffer;
  }

  private emit(line: string): void {
    this.onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
  }
}

export class StreamFormatError extends Error {
  override name = "StreamFormatError";
}

/** Parses Docker's multiplexed exec stream and hands each frame's payload to its stream's lines. */
export class FrameDemuxer {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly out: Pick<LineSplitter, "push" | "end">;
  private readonly err: LineSplitter;

  /** @param onStdoutBytes when set, standard output goes to it as raw bytes instead of lines (binary output). */
  constructor(onLine: LineCallback, maxLineLength?: number, onStdoutBytes?: (chunk: Buffer) => void) {
    const out = new LineSplitter((line) => onLine("stdout", line), maxLineLength);
    this.out = onStdoutBytes ? { push: (chunk: Buffer) => onStdoutBytes(chunk), end: () => {} } : out;
    this.err = new LineSplitter((line) => onLine("stderr", line), maxLineLength);
  }

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let offset = 0;
    while (this.buffer.length - offset >= 8) {
      const kind = this.buffer[offset];
      const size = this.buffer.readUInt32BE(offset + 4);
      if (kind !== 0 && kind !== 1 && kind !== 2) {
        throw new StreamFormatError(`unexpected stream id ${kind} in Docker's exec output (was a TTY allocated?)`);
      }
      if (this.buffer.length - offset - 8 < size) break;
      const payload = this.buffer.subarray(offset + 8, offset + 8 + size);
      (kind === 2 ? this.err : this.out).push(payload);
      offset += 8 + size;
    }
    this.buffer = offset ? this.buffer.subarray(offset) : this.buffer;
  }

  /** Flushes last lines without a newline; a cut-off frame means the connection broke. */
  end(): void {
    this.out.end();
    this.err.end();
    if (this.buffer.length) {
      throw new StreamFormatError(`Docker's exec output ended inside a frame (${this.buffer.length} bytes left over)`);
    }
  }
}

/** Keeps the last lines of some output, for error messages (the whole output is never held). */
export class LastLines {
  private readonly lines: string[] = [];
  constructor(private readonly size = 30) {}
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.size) this.lines.shift();
  }
  get(): string[] {
    return [...this.lines];
  }
}
