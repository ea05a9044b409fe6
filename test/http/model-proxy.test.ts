// The model proxy over real HTTP on loopback: the upstream (the scripted Messages API, or a tiny
// one written here) sees the real credential and never the task token; tokens that are missing,
// wrong or revoked get nowhere; answers stream through as they come and their usage is counted.
import http, { type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_PRICES } from "../../src/model-proxy/prices.js";
import { ModelProxy, type LeaseOptions, type ModelProxyOptions, type Usage } from "../../src/model-proxy/proxy.js";
import { startFakeAnthropic, type FakeAnthropic } from "../helpers/fake-anthropic.js";
import { until } from "../helpers/until.js";

// Built at run time so no scanner mistakes the fixtures for leaked credentials.
const API_KEY = `sk-ant-api03-${"k".repeat(40)}_AA`;
const OAUTH_TOKEN = `sk-ant-oat01-${"o".repeat(60)}`;
const MODEL = "claude-sonnet-4-5-20250929";
/** The scripted API's figures for each answer: 120 in, 30 out (1 of them in message_start). */
const FAKE_USAGE = { input: 120, output: 30 };

let proxy: ModelProxy | undefined;
let fake: FakeAnthropic | undefined;
const upstreams: Upstream[] = [];
let logLines: string[] = [];

afterEach(async () => {
  await proxy?.close();
  await fake?.close();
  for (const u of upstreams.splice(0)) await u.close();
  proxy = undefined;
  fake = undefined;
});

async function startProxy(options: Partial<ModelProxyOptions> & { upstream: string }): Promise<ModelProxy> {
  logLines = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString("utf8"));
      done();
    },
  });
  proxy = new ModelProxy({ credentials: { apiKey: API_KEY }, prices: DEFAULT_PRICES, log: pino({ level: "debug" }, sink), host: "127.0.0.1", ...options });
  await proxy.listen();
  return proxy;
}

function lease(options: Partial<LeaseOptions> = {}) {
  return proxy!.lease({ taskId: "task-1", admit: () => null, ...options });
}

async function startFake(): Promise<FakeAnthropic> {
  fake = await startFakeAnthropic({ kind: "script", turns: [{ content: [{ type: "text", text: "Nothing to change." }] }] });
  return fake;
}

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

interface Upstream {
  url: string;
  seen: Seen[];
  connections: number;
  close(): Promise<void>;
}

/** A tiny upstream: records each request (its body read whole), then lets `answer` reply. */
async function startUpstream(answer: (res: ServerResponse, seen: Seen, req: IncomingMessage) => void | Promise<void>, path = ""): Promise<Upstream> {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const request = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      seen.push(request);
      void answer(res, request, req);
    });
  });
  server.on("connection", (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const upstream: Upstream = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`,
    seen,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  upstreams.push(upstream);
  return upstream;
}

const sse = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
const messageStart = (model: string, input: number) =>
  sse("message_start", { message: { id: "msg_1", type: "message", role: "assistant", model, content: [], usage: { input_tokens: input, output_tokens: 1 } } });

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request to the proxy on a fresh connection (node:http, so any header can be sent). */
function send(path: string, options: { method?: string; headers?: OutgoingHttpHeaders; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // The path goes out as written (a URL string would be normalised first).
    const { hostname, port } = new URL(proxy!.url);
    const req = http.request({ hostname, port, path, method: options.method ?? "POST", headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

const messagesBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: MODEL, max_tokens: 1024, messages: [{ role: "user", content: "hello" }], ...extra });
/** What the CLI's agent loop sends: tools, streamed. */
const agentBody = () => messagesBody({ stream: true, tools: [{ name: "Bash", input_schema: { type: "object" } }] });

const json = (token: string) => ({ "content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": token });

const apiError = (type: string, message: string) => JSON.stringify({ type: "error", error: { type, message } });

describe("credentials", () => {
  it("the upstream gets the real API key in x-api-key and never the task token; the answer comes back as sent", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const { token } = lease();
    const answer = await send("/v1/messages?beta=true", { headers: json(token), body: messagesBody() });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ type: "message", model: MODEL, content: [{ type: "text", text: "OK" }], usage: { input_tokens: FAKE_USAGE.input, output_tokens: FAKE_USAGE.output } });
    expect(api.requests).toHaveLength(1);
    const [request] = api.requests;
    expect(request).toMatchObject({ role: "side", method: "POST", path: "/v1/messages", body: JSON.parse(messagesBody()) });
    expect(request!.headers["x-api-key"]).toBe(API_KEY);
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.headers["anthropic-version"]).toBe("2023-06-01");
    expect(JSON.stringify(request!.headers)).not.toContain(token);
  });

  it("accepts the task token as a Bearer token too, and still sends only the real key", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const { token } = lease();
    const answer = await send("/v1/messages", { headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: messagesBody() });
    expect(answer.status).toBe(200);
    expect(api.requests[0]!.headers["x-api-key"]).toBe(API_KEY);
    expect(api.requests[0]!.headers.authorization).toBeUndefined();
  });

  it.each<[string, string | undefined, string]>([
    ["no beta flag", undefined, "oauth-2025-04-20"],
    ["other beta flags", "interleaved-thinking-2025-05-14, fine-grained-tool-streaming-2025-05-14", "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14,oauth-2025-04-20"],
    ["the OAuth flag already", "oauth-2025-04-20,context-1m-2025-08-07", "oauth-2025-04-20,context-1m-2025-08-07"],
  ])("with an OAuth token the upstream gets it as Bearer, with the OAuth beta flag merged into %s", async (_, sent, expected) => {
    const api = await startFake();
    await startProxy({ upstream: api.url, credentials: { oauthToken: OAUTH_TOKEN } });
    const { token } = lease();
    const headers: OutgoingHttpHeaders = { ...json(token), ...(sent ? { "anthropic-beta": sent } : {}) };
    expect((await send("/v1/messages", { headers, body: messagesBody() })).status).toBe(200);
    const seen = api.requests[0]!.headers;
    expect(seen.authorization).toBe(`Bearer ${OAUTH_TOKEN}`);
    expect(seen["x-api-key"]).toBeUndefined();
    expect(seen["anthropic-beta"]).toBe(expected);
  });

  it("the API key wins when both credentials are configured; none at all is refused at construction", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url, credentials: { apiKey: API_KEY, oauthToken: OAUTH_TOKEN } });
    await send("/v1/messages", { headers: json(lease().token), body: messagesBody() });
    expect(api.requests[0]!.headers["x-api-key"]).toBe(API_KEY);
    expect(api.requests[0]!.headers.authorization).toBeUndefined();
    expect(() => new ModelProxy({ upstream: api.url, credentials: { apiKey: "", oauthToken: null }, prices: DEFAULT_PRICES, log: pino({ level: "silent" }), host: "127.0.0.1" })).toThrow(
      "the model proxy needs an API key or an OAuth token",
    );
  });

  it("a token minted for a task is long, random and marked as ours", async () => {
    await startProxy({ upstream: "http://127.0.0.1:9" });
    const tokens = [lease().token, lease().token];
    for (const t of tokens) expect(t).toMatch(/^devs-task-[A-Za-z0-9_-]{43}$/);
    expect(tokens[0]).not.toBe(tokens[1]);
  });
});

describe("a request without a valid task token gets 401 and reaches nothing", () => {
  const cases: Array<[string, (token: string, revoke: () => void) => OutgoingHttpHeaders]> = [
    ["no credential at all", () => ({ "content-type": "application/json" })],
    ["an empty x-api-key", () => ({ "x-api-key": "" })],
    ["a token nobody minted", () => ({ "x-api-key": `devs-task-${"A".repeat(43)}` })],
    ["the task token cut short by one character", (token) => ({ "x-api-key": token.slice(0, -1) })],
    ["the task token with a character added", (token) => ({ "x-api-key": `${token}x` })],
    ["the real API key itself", () => ({ "x-api-key": API_KEY })],
    ["a Basic authorization", (token) => ({ authorization: `Basic ${Buffer.from(`x:${token}`).toString("base64")}` })],
    ["the token of a revoked lease", (token, revoke) => (revoke(), { "x-api-key": token })],
    ["the token of a revoked lease as Bearer", (token, revoke) => (revoke(), { authorization: `Bearer ${token}` })],
  ];
  it.each(cases)("%s", async (_, headersFor) => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const taken = lease();
    const answer = await send("/v1/messages", { headers: { "content-type": "application/json", ...headersFor(taken.token, () => taken.revoke()) }, body: messagesBody() });
    expect(answer.status).toBe(401);
    expect(answer.body).toBe(apiError("authentication_error", "invalid task token"));
    expect(api.requests).toEqual([]);
    expect(taken.usage().requests).toBe(0);
  });

  it("the log holds neither the token nor the key, for refused and forwarded requests alike", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const { token } = lease();
    await send("/v1/messages", { headers: json(`${token}x`), body: messagesBody() });
    await send("/v1/messages/batches", { headers: json(token), body: messagesBody() });
    await send("/v1/messages", { headers: json(token), body: messagesBody() });
    expect(logLines.length).toBeGreaterThan(0);
    const log = logLines.join("");
    expect(log).not.toContain(token.slice("devs-task-".length, 20));
    expect(log).not.toContain(API_KEY);
    expect(log).toContain('"task":"task-1"');
  });
});

describe("what a task may reach", () => {
  it("passes token counts and model listings through without counting them as requests", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const taken = lease();
    const counted = await send("/v1/messages/count_tokens?beta=true", { headers: json(taken.token), body: messagesBody() });
    expect(counted).toMatchObject({ status: 200, body: JSON.stringify({ input_tokens: 120 }) });
    // The fake has no model list; what matters is that the request got there.
    expect((await send("/v1/models/claude-opus-4-5", { method: "GET", headers: { "x-api-key": taken.token } })).status).toBe(404);
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /v1/messages/count_tokens", "GET /v1/models/claude-opus-4-5"]);
    expect(taken.usage()).toEqual({ inputTokens: 0, outputTokens: 0, cacheCreationTokens: 0, cacheReadTokens: 0, costUsd: 0, requests: 0 });
  });

  it.each([
    ["message batches (spent outside the lease's count)", "POST", "/v1/messages/batches"],
    ["the files of the organisation", "GET", "/v1/files"],
    ["a way round the list through ..", "GET", "/v1/models/../files"],
    ["a way round the list through an encoded slash", "POST", "/v1/messages%2F..%2Fbatches"],
    ["another method on the Messages path", "GET", "/v1/messages"],
    ["the admin API", "GET", "/v1/organizations/api_keys"],
    ["an absolute URL, as to a forward proxy", "POST", "http://api.anthropic.com/v1/messages"],
  ])("refuses %s with 404, and nothing reaches the upstream", async (_, method, path) => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const taken = lease();
    const answer = await send(path, { method, headers: json(taken.token), body: method === "GET" ? undefined : messagesBody() });
    expect(answer.status).toBe(404);
    expect(answer.body).toBe(apiError("not_found_error", "this endpoint is not available to tasks"));
    expect(api.requests).toEqual([]);
  });
});

describe("admission", () => {
  it("a refusal answers 400 invalid_request_error with its message, and nothing is forwarded", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    let asked = 0;
    const taken = lease({ admit: () => (++asked, { message: "This task has used its model budget ($5.00)." }) });
    const answer = await send("/v1/messages", { headers: json(taken.token), body: agentBody() });
    expect(answer).toMatchObject({ status: 400, body: apiError("invalid_request_error", "This task has used its model budget ($5.00).") });
    expect(asked).toBe(1);
    expect(api.requests).toEqual([]);
    expect(taken.usage().requests).toBe(0);
  });

  it("is asked before every request, and an admitted one goes through", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const seenBeforeAsking: number[] = [];
    const taken = lease({
      admit: () => {
        seenBeforeAsking.push(api.requests.length);
        return seenBeforeAsking.length > 2 ? { message: "budget used" } : null;
      },
    });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await send("/v1/messages", { headers: json(taken.token), body: messagesBody() })).status);
    expect(statuses).toEqual([200, 200, 400]);
    expect(seenBeforeAsking).toEqual([0, 1, 2]);
    expect(api.requests).toHaveLength(2);
  });

  it("an admit() that throws refuses the request without saying why", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const taken = lease({
      admit: () => {
        throw new Error("journal at /var/lib/devs is locked");
      },
    });
    const answer = await send("/v1/messages", { headers: json(taken.token), body: messagesBody() });
    expect(answer).toMatchObject({ status: 400, body: apiError("invalid_request_error", "the request could not be admitted") });
    expect(api.requests).toEqual([]);
  });
});

describe("forwarding", () => {
  it("keeps the upstream's path prefix and the query, drops hop-by-hop headers, cookies and the client's encodings, and streams a large body intact", async () => {
    const upstream = await startUpstream((res) => {
      res.writeHead(200, { "content-type": "application/json", "request-id": "req_1", "set-cookie": "__cf=tracking; Path=/" });
      res.end('{"ok":true}');
    }, "/anthropic/");
    await startProxy({ upstream: upstream.url });
    const { token } = lease();
    const body = messagesBody({ system: "ü".repeat(300_000) });
    const answer = await send("/v1/messages?beta=true", {
      headers: {
        ...json(token),
        connection: "keep-alive, x-hop",
        "x-hop": "1",
        cookie: "session=abc",
        "proxy-authorization": "Basic eDp5",
        "accept-encoding": "gzip, br",
        "anthropic-beta": "context-1m-2025-08-07",
        "user-agent": "claude-cli/2.1 (external, cli)",
        "content-length": Buffer.byteLength(body),
      },
      body,
    });
    expect(answer).toMatchObject({ status: 200, body: '{"ok":true}' });
    expect(answer.headers["request-id"]).toBe("req_1");
    expect(answer.headers["set-cookie"]).toBeUndefined();
    const [seen] = upstream.seen;
    expect(seen!.method).toBe("POST");
    expect(seen!.url).toBe("/anthropic/v1/messages?beta=true");
    expect(seen!.body).toBe(body);
    expect(seen!.headers).toMatchObject({
      "x-api-key": API_KEY,
      "anthropic-version": "2023-06-01",
      "anthropic-beta": "context-1m-2025-08-07",
      "user-agent": "claude-cli/2.1 (external, cli)",
      "accept-encoding": "identity",
      "content-length": String(Buffer.byteLength(body)),
    });
    for (const dropped of ["x-hop", "cookie", "proxy-authorization", "authorization"]) expect(seen!.headers[dropped], dropped).toBeUndefined();
  });

  it("reuses one upstream connection for sequential requests", async () => {
    const upstream = await startUpstream((res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.end(messageStart(MODEL, 3));
    });
    await startProxy({ upstream: upstream.url });
    const { token } = lease();
    for (let i = 0; i < 10; i++) expect((await send("/v1/messages", { headers: json(token), body: agentBody() })).status).toBe(200);
    expect(upstream.seen).toHaveLength(10);
    expect(upstream.connections).toBe(1);
  });

  it("passes the upstream's errors through as they are", async () => {
    const api = await startFake();
    api.setMode({ kind: "error", status: 529, errorType: "overloaded_error", message: "Overloaded", shouldRetry: true });
    await startProxy({ upstream: api.url });
    const taken = lease();
    const answer = await send("/v1/messages", { headers: json(taken.token), body: agentBody() });
    expect(answer).toMatchObject({ status: 529, body: apiError("overloaded_error", "Overloaded") });
    expect(answer.headers["x-should-retry"]).toBe("true");
    expect(taken.usage()).toMatchObject({ requests: 1, inputTokens: 0, costUsd: 0 });
  });

  it("an upstream that cannot be reached gets 502 api_error, with nothing of where or why", async () => {
    const closed = await startUpstream(() => undefined);
    await closed.close();
    upstreams.splice(upstreams.indexOf(closed), 1);
    await startProxy({ upstream: closed.url });
    const answer = await send("/v1/messages", { headers: json(lease().token), body: messagesBody() });
    expect(answer.status).toBe(502);
    expect(answer.body).toBe(apiError("api_error", "the model API could not be reached"));
  });
});

/** Opens a streamed request and hands back each chunk of the answer as it arrives. */
function openStream(token: string) {
  const chunks: string[] = [];
  let failed: Error | null = null;
  let ended = false;
  const req = http.request(`${proxy!.url}/v1/messages`, { method: "POST", headers: json(token), agent: false });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on("response", (res) => {
      res.on("data", (c: Buffer) => chunks.push(c.toString("utf8")));
      res.on("end", () => (ended = true));
      res.on("error", (e) => (failed = e));
      resolve(res);
    });
    req.on("error", (e) => {
      failed = e;
      reject(e);
    });
  });
  response.catch(() => undefined);
  req.end(agentBody());
  return {
    req,
    response,
    text: () => chunks.join(""),
    get ended() {
      return ended;
    },
    get failed() {
      return failed;
    },
  };
}

/** An upstream that sends message_start, then waits for `release` before the rest. */
async function heldUpstream() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let upstreamClosed = false;
  const upstream = await startUpstream(async (res) => {
    res.on("close", () => (upstreamClosed = true));
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write(messageStart(MODEL, 100));
    await released;
    if (res.destroyed) return;
    res.write(sse("content_block_start", { index: 0, content_block: { type: "text", text: "" } }));
    res.write(sse("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Done." } }));
    res.write(sse("message_delta", { delta: { stop_reason: "end_turn" }, usage: { output_tokens: 40 } }));
    res.end(sse("message_stop", {}));
  });
  return {
    upstream,
    release,
    get upstreamClosed() {
      return upstreamClosed;
    },
  };
}

describe("streaming", () => {
  it("the client receives the first event before the upstream sends the last, and its usage is counted by then", async () => {
    const held = await heldUpstream();
    await startProxy({ upstream: held.upstream.url });
    const taken = lease();
    const stream = openStream(taken.token);
    await until(() => stream.text().includes("event: message_start"), { what: "the first event, while the upstream holds the rest" });
    const res = await stream.response;
    expect(res.headers["content-type"]).toBe("text/event-stream");
    expect(res.headers["content-length"]).toBeUndefined();
    expect(stream.text()).not.toContain("message_stop");
    expect(taken.usage()).toMatchObject({ inputTokens: 100, outputTokens: 1, requests: 1 });
    held.release();
    await until(() => stream.ended, { what: "the end of the answer" });
    expect(stream.text()).toContain('"text":"Done."');
    expect(stream.text().endsWith(sse("message_stop", {}))).toBe(true);
    expect(taken.usage()).toMatchObject({ inputTokens: 100, outputTokens: 40, requests: 1 });
  });

  it("a client that hangs up mid-answer stops the upstream request", async () => {
    const held = await heldUpstream();
    await startProxy({ upstream: held.upstream.url });
    const stream = openStream(lease().token);
    await until(() => stream.text().includes("message_start"));
    expect(held.upstreamClosed).toBe(false);
    stream.req.destroy();
    await until(() => held.upstreamClosed, { what: "the upstream request to close" });
  });

  it("an upstream that breaks off mid-answer leaves the client with a broken answer, not a short complete one", async () => {
    const upstream = await startUpstream((res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(messageStart(MODEL, 10), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    await startProxy({ upstream: upstream.url });
    const stream = openStream(lease().token);
    await until(() => stream.failed, { what: "the client to see the answer break" });
    expect(stream.ended).toBe(false);
    expect(stream.text()).toContain("message_start");
  });

  it("a revoked lease lets its request in flight finish, and refuses the next", async () => {
    const held = await heldUpstream();
    await startProxy({ upstream: held.upstream.url });
    const taken = lease();
    const stream = openStream(taken.token);
    await until(() => stream.text().includes("message_start"));
    taken.revoke();
    held.release();
    await until(() => stream.ended, { what: "the answer in flight to finish" });
    expect(stream.text()).toContain("message_stop");
    expect(taken.usage()).toMatchObject({ inputTokens: 100, outputTokens: 40, requests: 1 });
    expect((await send("/v1/messages", { headers: json(taken.token), body: agentBody() })).status).toBe(401);
    expect(held.upstream.seen).toHaveLength(1);
  });

  it("close() cuts open answers, stops their upstream requests, and no lease can be taken afterwards", async () => {
    const held = await heldUpstream();
    const closing = await startProxy({ upstream: held.upstream.url });
    const url = closing.url;
    const stream = openStream(lease().token);
    await until(() => stream.text().includes("message_start"));
    await closing.close();
    proxy = undefined;
    await until(() => stream.failed, { what: "the client to see its answer cut" });
    await until(() => held.upstreamClosed, { what: "the upstream request to close" });
    expect(() => closing.lease({ taskId: "late", admit: () => null })).toThrow("the model proxy is closed");
    await expect(fetch(`${url}/v1/messages`, { method: "POST" })).rejects.toThrow();
  });
});

describe("usage", () => {
  it("adds up the scripted API's figures for streamed and JSON answers, priced by the model", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const deltas: Usage[] = [];
    const totals: Usage[] = [];
    const taken = lease({
      onUsage: (delta, total) => {
        deltas.push(delta);
        totals.push(total);
      },
    });
    const streamed = await send("/v1/messages?beta=true", { headers: json(taken.token), body: agentBody() });
    expect(streamed.status).toBe(200);
    expect(streamed.body).toContain(`"text":"Nothing t"`);
    expect(streamed.body).toContain("event: message_stop");
    expect(api.agentRequests).toHaveLength(1);
    const side = await send("/v1/messages", { headers: json(taken.token), body: messagesBody() });
    expect(side.status).toBe(200);

    // claude-sonnet-4-5: $3 in, $15 out per million.
    const perAnswer = (FAKE_USAGE.input * 3 + FAKE_USAGE.output * 15) / 1e6;
    const total = taken.usage();
    expect(total).toEqual({ inputTokens: 240, outputTokens: 60, cacheCreationTokens: 0, cacheReadTokens: 0, costUsd: expect.closeTo(2 * perAnswer, 12), requests: 2 });
    expect(deltas.map((d) => [d.requests, d.inputTokens, d.outputTokens])).toEqual([
      [1, 0, 0], // the streamed request, forwarded
      [0, 120, 1], // its message_start
      [0, 0, 29], // its message_delta (30 cumulative)
      [1, 0, 0], // the JSON request
      [0, 120, 30], // its answer
    ]);
    expect(deltas.reduce((sum, d) => sum + d.costUsd, 0)).toBeCloseTo(total.costUsd, 12);
    expect(totals.at(-1)).toEqual(total);
  });

  it("prices a model it does not know as the dearest one", async () => {
    const upstream = await startUpstream((res) => {
      res.writeHead(200, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ type: "message", model: "claude-next-9", usage: { input_tokens: 1000, output_tokens: 100, cache_read_input_tokens: 2000 } }));
    });
    await startProxy({ upstream: upstream.url });
    const taken = lease();
    await send("/v1/messages", { headers: json(taken.token), body: messagesBody() });
    // The fallback: $15 in, $75 out, $1.50 cache read per million.
    expect(taken.usage().costUsd).toBeCloseTo((1000 * 15 + 100 * 75 + 2000 * 1.5) / 1e6, 12);
  });

  it("a listener that throws is logged and breaks neither the answer nor the count", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const taken = lease({
      onUsage: () => {
        throw new Error("budget store down");
      },
    });
    const answer = await send("/v1/messages", { headers: json(taken.token), body: agentBody() });
    expect(answer.status).toBe(200);
    expect(answer.body).toContain("event: message_stop");
    expect(taken.usage()).toMatchObject({ inputTokens: 120, outputTokens: 30, requests: 1 });
    expect(logLines.join("")).toContain("budget store down");
  });

  it("leases count apart: one task's answers never land on another's", async () => {
    const api = await startFake();
    await startProxy({ upstream: api.url });
    const first = lease({ taskId: "task-a" });
    const second = lease({ taskId: "task-b" });
    await send("/v1/messages", { headers: json(first.token), body: messagesBody() });
    await send("/v1/messages", { headers: json(first.token), body: messagesBody() });
    await send("/v1/messages", { headers: json(second.token), body: messagesBody() });
    expect(first.usage()).toMatchObject({ requests: 2, inputTokens: 240 });
    expect(second.usage()).toMatchObject({ requests: 1, inputTokens: 120 });
  });
});
