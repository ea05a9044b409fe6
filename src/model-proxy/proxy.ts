// The model proxy on the host: a task's agent reaches the Messages API through it with a token
// minted for that task, never the real credential. Each request's token is checked and swapped
// for the real key, the body and the answer stream through chunk by chunk (server-sent events
// are never held back), and the usage the API reports is counted against the task's lease.
import { createHash, randomBytes } from "node:crypto";
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import https from "node:https";
import type { Logger } from "pino";
import { costUsd, priceOf, type PriceTable } from "./prices.js";
import { MAX_JSON_BYTES, noTokens, SseUsageReader, usageOfJson, type TokenUsage } from "./usage.js";

export interface ProxyCredentials {
  apiKey?: string | null;
  oauthToken?: string | null;
}

export interface Usage extends TokenUsage {
  costUsd: number;
  /** Messages requests forwarded (`POST /v1/messages`). */
  requests: number;
}

/** Shown to the agent as an API error. */
export interface Refusal {
  message: string;
}

export interface LeaseOptions {
  taskId: string;
  /**
   * Asked before each request is forwarded; a Refusal answers it with an Anthropic-style
   * `invalid_request_error` (HTTP 400, which the CLI does not retry) and nothing is forwarded.
   */
  admit(): Refusal | null;
  /**
   * Called synchronously as usage arrives, with that increment (priced) and the lease's running
   * total: once when a Messages request is forwarded (requests + 1), then for each increase the
   * answer reports (message_start, message_delta, or a JSON answer's usage). The increments add
   * up to the total. An exception thrown here is logged, never breaks the stream.
   */
  onUsage?(delta: Usage, total: Usage): void;
}

export interface Lease {
  readonly token: string;
  usage(): Usage;
  /** The token stops working at once; requests in flight finish. */
  revoke(): void;
}

export interface ModelProxyOptions {
  /** Base URL of the Messages API, http: or https:, may end in a path prefix. */
  upstream: string;
  /** Exactly one is used; apiKey wins. */
  credentials: ProxyCredentials;
  prices: PriceTable;
  log: Logger;
  /** Where to listen: 127.0.0.1, or the address of a bridge the containers reach. */
  host: string;
  /** 0 or undefined: any free port. */
  port?: number;
}

interface LeaseState {
  taskId: string;
  admit: () => Refusal | null;
  onUsage: ((delta: Usage, total: Usage) => void) | undefined;
  total: Usage;
}

/** What may pass: the Messages API and the model list. */
interface Route {
  /** Counted as a request of the lease. */
  isMessage: boolean;
}

const TOKEN_PREFIX = "devs-task-";
const OAUTH_BETA = "oauth-2025-04-20";

/** Hop-by-hop headers, and what the client must not pass on (its own credentials, cookies). */
const DROPPED_REQUEST_HEADERS = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
  "host",
  "x-api-key",
  "authorization",
  "proxy-authorization",
  "cookie",
  // Replaced by identity: a compressed answer could not be read for its usage.
  "accept-encoding",
]);
const DROPPED_RESPONSE_HEADERS = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "set-cookie"]);

const MODEL_ID = /^[A-Za-z0-9][\w.-]*$/;

/**
 * The routes a task may use. Everything else the credential opens (message batches, files,
 * skills, the admin API) stays closed: batches would spend outside the lease's count, and files
 * belong to the whole organisation, not to the task.
 */
function routeOf(method: string | undefined, url: string): Route | null {
  const query = url.indexOf("?");
  const path = query === -1 ? url : url.slice(0, query);
  if (method === "POST" && path === "/v1/messages") return { isMessage: true };
  if (method === "POST" && path === "/v1/messages/count_tokens") return { isMessage: false };
  if (method === "GET" && (path === "/v1/models" || (path.startsWith("/v1/models/") && MODEL_ID.test(path.slice("/v1/models/".length))))) {
    return { isMessage: false };
  }
  return null;
}

const digest = (token: string) => createHash("sha256").update(token).digest("base64");

function presentedToken(headers: IncomingHttpHeaders): string | null {
  const key = headers["x-api-key"];
  if (typeof key === "string" && key !== "") return key;
  const bearer = /^Bearer +(\S+) *$/i.exec(headers.authorization ?? "");
  return bearer ? bearer[1]! : null;
}

function mergeBeta(sent: string | string[] | undefined, flag: string): string {
  const flags = [sent ?? []]
    .flat()
    .flatMap((value) => value.split(","))
    .map((value) => value.trim())
    .filter((value) => value !== "");
  return [...new Set([...flags, flag])].join(",");
}

function answerError(res: ServerResponse, status: number, type: string, message: string): void {
  const body = JSON.stringify({ type: "error", error: { type, message } });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const noUsage = (): Usage => ({ ...noTokens(), costUsd: 0, requests: 0 });

export class ModelProxy {
  readonly #log: Logger;
  readonly #prices: PriceTable;
  readonly #host: string;
  readonly #port: number;
  readonly #upstream: URL;
  /** The upstream's path prefix, without its trailing slash. */
  readonly #basePath: string;
  readonly #request: typeof http.request;
  readonly #agent: http.Agent;
  readonly #credentialHeaders: (sent: IncomingHttpHeaders) => OutgoingHttpHeaders;
  /** Live leases by the digest of their token: the lookup never compares the secret itself. */
  readonly #leases = new Map<string, LeaseState>();
  readonly #server: http.Server;
  #url: string | null = null;
  #closed = false;

  constructor(options: ModelProxyOptions) {
    this.#log = options.log;
    this.#prices = options.prices;
    this.#host = options.host;
    this.#port = options.port ?? 0;
    let upstream: URL;
    try {
      upstream = new URL(options.upstream);
    } catch {
      throw new Error(`the model API address is not a URL: ${options.upstream}`);
    }
    if (upstream.protocol !== "http:" && upstream.protocol !== "https:") {
      throw new Error(`the model API address must be http: or https:, not ${upstream.protocol}`);
    }
    this.#upstream = upstream;
    this.#basePath = upstream.pathname.replace(/\/+$/, "");
    const secure = upstream.protocol === "https:";
    this.#request = secure ? https.request : http.request;
    this.#agent = secure ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });

    const { apiKey, oauthToken } = options.credentials;
    if (apiKey) this.#credentialHeaders = () => ({ "x-api-key": apiKey });
    else if (oauthToken) {
      this.#credentialHeaders = (sent) => ({ authorization: `Bearer ${oauthToken}`, "anthropic-beta": mergeBeta(sent["anthropic-beta"], OAUTH_BETA) });
    } else throw new Error("the model proxy needs an API key or an OAuth token");

    this.#server = http.createServer({ noDelay: true }, (req, res) => this.#handle(req, res));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off("error", reject);
        const { port } = this.#server.address() as { port: number };
        this.#url = `http://${this.#host.includes(":") ? `[${this.#host}]` : this.#host}:${port}`;
        resolve();
      });
    });
  }

  /** The base URL a container uses (ANTHROPIC_BASE_URL). */
  get url(): string {
    if (this.#url === null) throw new Error("the model proxy is not listening yet");
    return this.#url;
  }

  lease(options: LeaseOptions): Lease {
    if (this.#closed) throw new Error("the model proxy is closed");
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
    const key = digest(token);
    const state: LeaseState = { taskId: options.taskId, admit: () => options.admit(), onUsage: options.onUsage?.bind(options), total: noUsage() };
    this.#leases.set(key, state);
    const leases = this.#leases;
    return {
      token,
      usage: () => ({ ...state.total }),
      revoke: () => {
        leases.delete(key);
      },
    };
  }

  /** Stops listening, ends open connections (and with them the requests they carry), revokes every lease. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#leases.clear();
    if (this.#server.listening) {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeAllConnections();
      await closed;
    }
    this.#agent.destroy();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const token = presentedToken(req.headers);
    const lease = token === null ? undefined : this.#leases.get(digest(token));
    if (!lease) {
      this.#log.warn({ from: req.socket.remoteAddress }, "model proxy: refused a request without a valid task token");
      return answerError(res, 401, "authentication_error", "invalid task token");
    }
    const url = req.url ?? "";
    const route = url.startsWith("/") ? routeOf(req.method, url) : null;
    if (!route) {
      this.#log.warn({ task: lease.taskId, method: req.method }, "model proxy: refused a request for an endpoint tasks may not use");
      return answerError(res, 404, "not_found_error", "this endpoint is not available to tasks");
    }
    let refusal: Refusal | null;
    try {
      refusal = lease.admit();
    } catch (error) {
      this.#log.error({ task: lease.taskId, err: error }, "model proxy: admitting a request failed; refused it");
      refusal = { message: "the request could not be admitted" };
    }
    if (refusal) {
      this.#log.info({ task: lease.taskId }, "model proxy: refused a request");
      return answerError(res, 400, "invalid_request_error", refusal.message);
    }
    this.#forward(req, res, url, lease, route);
  }

  #forward(req: IncomingMessage, res: ServerResponse, url: string, lease: LeaseState, route: Route): void {
    const upstreamReq = this.#request({
      protocol: this.#upstream.protocol,
      hostname: this.#upstream.hostname.replace(/^\[(.*)\]$/, "$1"), // an IPv6 address without its brackets
      port: this.#upstream.port || undefined,
      method: req.method,
      path: `${this.#basePath}${url}`,
      headers: this.#upstreamHeaders(req.headers),
      agent: this.#agent,
    });
    upstreamReq.on("socket", (socket) => socket.setNoDelay(true));
    if (route.isMessage) this.#record(lease, { ...noUsage(), requests: 1 });

    upstreamReq.on("error", (error) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (res.destroyed) return; // the client left first
      this.#log.warn({ task: lease.taskId, err: error.message }, "model proxy: the model API could not be reached");
      answerError(res, 502, "api_error", "the model API could not be reached");
    });
    upstreamReq.on("response", (upstreamRes) => this.#answer(upstreamRes, res, lease));
    // The client hung up before its answer was complete: stop the upstream request with it.
    res.on("close", () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    req.on("error", () => upstreamReq.destroy());
    req.pipe(upstreamReq);
  }

  #upstreamHeaders(sent: IncomingHttpHeaders): OutgoingHttpHeaders {
    const hopByHop = new Set((typeof sent.connection === "string" ? sent.connection : "").split(",").map((name) => name.trim().toLowerCase()));
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(sent)) {
      if (value !== undefined && !DROPPED_REQUEST_HEADERS.has(name) && !hopByHop.has(name)) headers[name] = value;
    }
    headers["accept-encoding"] = "identity";
    return { ...headers, ...this.#credentialHeaders(sent) };
  }

  #answer(upstreamRes: IncomingMessage, res: ServerResponse, lease: LeaseState): void {
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(upstreamRes.headers)) {
      if (value !== undefined && !DROPPED_RESPONSE_HEADERS.has(name)) headers[name] = value;
    }
    res.writeHead(upstreamRes.statusCode ?? 502, headers);
    const meter = this.#meter(upstreamRes.headers, lease);
    if (meter) upstreamRes.on("data", (chunk: Buffer) => meter.push(chunk));
    upstreamRes.on("end", () => meter?.end());
    // Cut off mid-answer: the client must see a broken answer, not a short complete one.
    upstreamRes.on("close", () => {
      if (!upstreamRes.complete) res.destroy();
    });
    upstreamRes.on("error", () => res.destroy());
    upstreamRes.pipe(res);
  }

  /** Reads the usage of an answer as it passes: events as they come, a JSON body at its end. */
  #meter(headers: IncomingHttpHeaders, lease: LeaseState): { push(chunk: Buffer): void; end(): void } | null {
    const type = (headers["content-type"] ?? "").toLowerCase();
    const encoding = (headers["content-encoding"] ?? "identity").toLowerCase();
    if (encoding !== "identity") {
      this.#log.warn({ task: lease.taskId, encoding }, "model proxy: an answer came encoded; its usage is not counted");
      return null;
    }
    const record = (tokens: TokenUsage, model: string | null) =>
      this.#record(lease, { ...tokens, costUsd: costUsd(tokens, priceOf(this.#prices, model)), requests: 0 });
    if (type.startsWith("text/event-stream")) {
      const reader = new SseUsageReader(record);
      return { push: (chunk) => reader.push(chunk), end: () => reader.end() };
    }
    if (type.startsWith("application/json")) {
      const chunks: Buffer[] = [];
      let size = 0;
      return {
        push: (chunk) => {
          size += chunk.length;
          if (size <= MAX_JSON_BYTES) chunks.push(chunk);
        },
        end: () => {
          if (size > MAX_JSON_BYTES) {
            this.#log.warn({ task: lease.taskId, bytes: size }, "model proxy: a JSON answer was too large to read its usage");
            return;
          }
          const answer = usageOfJson(Buffer.concat(chunks).toString("utf8"));
          if (answer) record(answer.usage, answer.model);
        },
      };
    }
    return null;
  }

  #record(lease: LeaseState, delta: Usage): void {
    const total = lease.total;
    total.inputTokens += delta.inputTokens;
    total.outputTokens += delta.outputTokens;
    total.cacheCreationTokens += delta.cacheCreationTokens;
    total.cacheReadTokens += delta.cacheReadTokens;
    total.costUsd += delta.costUsd;
    total.requests += delta.requests;
    if (!lease.onUsage) return;
    try {
      lease.onUsage(delta, { ...total });
    } catch (error) {
      this.#log.error({ task: lease.taskId, err: error }, "model proxy: the usage listener failed");
    }
  }
}
