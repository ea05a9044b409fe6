// GET /events: server-sent events for the dashboard. Each stream gets the pool's events as they
// happen and, soon after them and every few seconds, a snapshot of the rendered page fragments, so
// a client that missed events (it was slow, or reconnected) is right again with the next one.
// A client that does not read is sent nothing more until it has drained; a closed stream leaves no
// listener behind.
import type { ServerResponse } from "node:http";

/** What the pool did, as the stream says it (`cancelled` is a finish whose state was cancelled). */
export interface LiveEvent {
  type: "queued" | "started" | "suspended" | "finished" | "cancelled";
  task: string;
  kind: string;
  repo: string;
  target: number;
  slot: string;
  /** The final state, for `finished` and `cancelled`. */
  state?: string;
}

export interface LiveSource {
  /** Calls `listener` with each event until the returned function is called. */
  subscribe(listener: (event: LiveEvent) => void): () => void;
  /** The `snapshot` event's data: one line of JSON. */
  snapshot(): Promise<string>;
}

export interface LiveOptions {
  /** Streams open at once; more are refused with 503 (each holds a socket and a timer). */
  maxStreams?: number;
  /** A snapshot this often even when nothing happens: ages move on, and proxies see traffic. */
  snapshotEveryMs?: number;
  /** Events that come together are followed by one snapshot, this long after the first. */
  settleMs?: number;
  /** A snapshot that could not be built (the stream carries on; the next one may work). */
  onError?: (error: unknown) => void;
}

/** Every event stream the server has open, so that a shutdown can end them. */
export class LiveStreams {
  private readonly streams = new Set<LiveStream>();
  private readonly maxStreams: number;

  constructor(private readonly options: LiveOptions = {}) {
    this.maxStreams = options.maxStreams ?? 32;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Answers with the stream, or 503 when too many are open. */
  open(res: ServerResponse, source: LiveSource): void {
    if (this.streams.size >= this.maxStreams) {
      const text = JSON.stringify({ error: `too many event streams open (${this.maxStreams}); close a dashboard` });
      res.writeHead(503, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "retry-after": "10" });
      res.end(text);
      return;
    }
    const stream = new LiveStream(res, source, this.options, () => this.streams.delete(stream));
    this.streams.add(stream);
    stream.start();
  }

  /** Ends every stream and its connection (a shutdown: the clients reconnect to the next process). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.streams].map((stream) => stream.close()));
  }
}

class LiveStream {
  private closed = false;
  /** Something was not sent because the client had not read what came before. */
  private stale = false;
  private building = false;
  private again = false;
  private settle: NodeJS.Timeout | null = null;
  private readonly every: NodeJS.Timeout;
  private unsubscribe: () => void = () => {};

  constructor(
    private readonly res: ServerResponse,
    private readonly source: LiveSource,
    private readonly options: LiveOptions,
    private readonly onClose: () => void,
  ) {
    this.every = setInterval(() => void this.snapshot(), options.snapshotEveryMs ?? 5_000);
    this.every.unref();
  }

  start(): void {
    const { res } = this;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      // nginx and similar proxies would otherwise hold the events back.
      "x-accel-buffering": "no",
    });
    res.on("close", () => this.close());
    res.on("drain", () => {
      if (!this.stale) return;
      this.stale = false;
      void this.snapshot();
    });
    res.write("retry: 3000\n\n");
    this.unsubscribe = this.source.subscribe((event) => {
      this.send(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      this.soon();
    });
    void this.snapshot();
  }

  private soon(): void {
    if (this.settle || this.closed) return;
    this.settle = setTimeout(() => {
      this.settle = null;
      void this.snapshot();
    }, this.options.settleMs ?? 150);
  }

  /** One snapshot at a time, so an older one never lands after a newer one. */
  private async snapshot(): Promise<void> {
    if (this.closed) return;
    if (this.building) {
      this.again = true;
      return;
    }
    this.building = true;
    try {
      do {
        this.again = false;
        const data = await this.source.snapshot();
        this.send(`event: snapshot\ndata: ${data}\n\n`);
      } while (this.again && !this.closed);
    } catch (error) {
      this.options.onError?.(error);
    } finally {
      this.building = false;
    }
  }

  private send(text: string): void {
    if (this.closed) return;
    if (this.res.writableNeedDrain) {
      this.stale = true;
      return;
    }
    this.res.write(text);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    clearInterval(this.every);
    if (this.settle) clearTimeout(this.settle);
    this.unsubscribe();
    this.onClose();
    if (this.res.writableFinished || this.res.destroyed) return Promise.resolve();
    // A client that reads nothing would hold the end back: it is cut instead.
    const finished = new Promise<void>((resolve) => {
      const cut = setTimeout(() => this.res.destroy(), 1_000);
      const done = () => {
        clearTimeout(cut);
        // Otherwise the connection would wait, kept alive, for a next request that never comes.
        this.res.socket?.destroy();
        resolve();
      };
      this.res.once("finish", done);
      this.res.once("close", done);
    });
    this.res.end();
    return finished;
  }
}
