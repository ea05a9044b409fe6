// The Lambda ingress: signed deliveries in each event format AWS sends (API Gateway REST and HTTP
// APIs, function URLs, base64 bodies), a cold start, and the refusals the server gives. Tasks
// land in a recording sink; GitHub is nock.
import nock from "nock";
import { sign } from "@octokit/webhooks-methods";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLambdaHandler, handler as defaultHandler, lambdaSettings, type LambdaHandler, type LambdaResult } from "../../src/lambda.js";
import type { Env } from "../../src/settings.js";
import { MemoryTaskSink } from "../../src/tasks/sink.js";
import { startServer } from "../../src/server.js";
import { strictNock } from "../helpers/nock.js";
import { testServices } from "../helpers/services.js";
import { payload } from "../helpers/payloads.js";
import { TestOctokit } from "../helpers/probot.js";
import { tempDir, testSettings } from "../helpers/settings.js";

const API = "https://api.github.com";
const SECRET = "s3cret";
const silent = pino({ level: "silent" });
strictNock();

const mention = payload("issue_comment", "created", { comment: { body: "@devs-bot please fix" } });
const commentId = (mention.comment as { id: number }).id;
const BODY = JSON.stringify(mention);

let handlers: LambdaHandler[] = [];
let sink: MemoryTaskSink;
afterEach(async () => {
  await Promise.all(handlers.map((h) => h.close()));
  handlers = [];
});

/** GitHub's answers to "who is the bot?" (token mode), asked once per cold start. */
function identityScope(delayMs = 0) {
  return nock(API)
    .get("/user")
    .delay(delayMs)
    .reply(200, { login: "devs-bot", id: 42 })
    .get("/users/devs-bot")
    .reply(200, { login: "devs-bot", id: 42 });
}

function eyesScope() {
  return nock(API).post(`/repos/Codertocat/Hello-World/issues/comments/${commentId}/reactions`, { content: "eyes" }).reply(201, {});
}

function ingress(env: Env = {}): LambdaHandler {
  sink = new MemoryTaskSink();
  const handler = createLambdaHandler({ settings: testSettings(env), sink, log: silent, Octokit: TestOctokit });
  handlers.push(handler);
  return handler;
}

async function githubHeaders(body: string, overrides: Record<string, string> = {}, secret = SECRET): Promise<Record<string, string>> {
  return {
    "Content-Type": "application/json",
    "X-GitHub-Event": "issue_comment",
    "X-GitHub-Delivery": crypto.randomUUID(),
    "X-Hub-Signature-256": await sign(secret, body),
    "User-Agent": "GitHub-Hookshot/abc123",
    ...overrides,
  };
}

const lower = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));

/** API Gateway REST API, payload format 1.0: headers as sent, plus their multi-value form. */
function restApiEvent(headers: Record<string, string>, body: string, base64 = false, method = "POST") {
  return {
    resource: "/webhook",
    path: "/webhook",
    httpMethod: method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    requestContext: { stage: "prod", httpMethod: method, path: "/prod/webhook" },
    body: base64 ? Buffer.from(body).toString("base64") : body,
    isBase64Encoded: base64,
  };
}

/** API Gateway HTTP API and function URLs, payload format 2.0: header names lower-cased. */
function httpApiEvent(headers: Record<string, string>, body: string, options: { base64?: boolean; functionUrl?: boolean; method?: string } = {}) {
  const method = options.method ?? "POST";
  return {
    version: "2.0",
    routeKey: options.functionUrl ? "$default" : "POST /webhook",
    rawPath: "/webhook",
    rawQueryString: "",
    headers: lower(headers),
    requestContext: {
      domainName: options.functionUrl ? "abcdefg.lambda-url.eu-west-1.on.aws" : "abc.execute-api.eu-west-1.amazonaws.com",
      http: { method, path: "/webhook", protocol: "HTTP/1.1", sourceIp: "192.30.252.1", userAgent: "GitHub-Hookshot/abc123" },
    },
    body: options.base64 ? Buffer.from(body).toString("base64") : body,
    isBase64Encoded: options.base64 ?? false,
  };
}

const json = (result: LambdaResult) => JSON.parse(result.body) as { status?: string; delivery_id?: string; error?: string };

describe("a signed mention, in every event format AWS sends", () => {
  const formats: Array<[string, (h: Record<string, string>, b: string) => unknown]> = [
    ["API Gateway REST API (v1)", (h, b) => restApiEvent(h, b)],
    ["API Gateway REST API (v1), base64 body", (h, b) => restApiEvent(h, b, true)],
    ["API Gateway HTTP API (v2)", (h, b) => httpApiEvent(h, b)],
    ["API Gateway HTTP API (v2), base64 body", (h, b) => httpApiEvent(h, b, { base64: true })],
    ["function URL", (h, b) => httpApiEvent(h, b, { functionUrl: true })],
    ["function URL, base64 body", (h, b) => httpApiEvent(h, b, { functionUrl: true, base64: true })],
  ];
  for (const [name, toEvent] of formats) {
    it(`${name}: 200, one 👀, and exactly one task in the sink`, async () => {
      const identity = identityScope();
      const eyes = eyesScope();
      const handle = ingress();
      const headers = await githubHeaders(BODY);
      const result = await handle(toEvent(headers, BODY));
      const delivery = headers["X-GitHub-Delivery"]!;
      expect(result.statusCode).toBe(200);
      expect(result.headers["content-type"]).toBe("application/json");
      expect(json(result)).toEqual({ status: "accepted", delivery_id: delivery });
      expect(sink.tasks.map((t) => ({ id: t.id, kind: t.kind, repo: t.repo.fullName, deliveryId: t.deliveryId }))).toEqual([
        { id: `agent-${delivery}`, kind: "agent", repo: "Codertocat/Hello-World", deliveryId: delivery },
      ]);
      identity.done();
      eyes.done();
    });
  }

  for (const [label, rename] of [
    ["upper case", (k: string) => k.toUpperCase()],
    ["lower case", (k: string) => k.toLowerCase()],
    ["mixed case", (k: string) => k.split("").map((c, i) => (i % 2 ? c.toLowerCase() : c.toUpperCase())).join("")],
  ] as const) {
    it(`header names in ${label} are read alike`, async () => {
      const identity = identityScope();
      const eyes = eyesScope();
      const handle = ingress();
      const headers = Object.fromEntries(Object.entries(await githubHeaders(BODY)).map(([k, v]) => [rename(k), v]));
      const result = await handle(restApiEvent(headers, BODY));
      expect(result.statusCode).toBe(200);
      expect(sink.tasks).toHaveLength(1);
      identity.done();
      eyes.done();
    });
  }
});

describe("a cold start", () => {
  it("an event that arrives while the app is still starting waits for it; the bot is looked up once per instance", async () => {
    // GitHub takes its time to say who the bot is; the events are sent before it has answered.
    const identity = identityScope(300);
    const eyes = eyesScope();
    const handle = ingress();
    const first = handle(httpApiEvent(await githubHeaders(BODY), BODY, { functionUrl: true }));
    const bad = handle(httpApiEvent(await githubHeaders(BODY, {}, "not-the-secret"), BODY, { functionUrl: true }));
    expect((await first).statusCode).toBe(200);
    expect((await bad).statusCode).toBe(401);
    expect(sink.tasks).toHaveLength(1);
    identity.done();
    eyes.done();

    // Warm: another comment's mention asks GitHub for its 👀 only (any other request would fail the test).
    const other = JSON.stringify(payload("issue_comment", "created", { comment: { id: commentId + 1, body: "@devs-bot and this" } }));
    const again = nock(API).post(`/repos/Codertocat/Hello-World/issues/comments/${commentId + 1}/reactions`, { content: "eyes" }).reply(201, {});
    const second = await handle(httpApiEvent(await githubHeaders(other), other, { functionUrl: true }));
    expect(second.statusCode).toBe(200);
    expect(sink.tasks).toHaveLength(2);
    again.done();
  });

  it("a start that failed is tried again by the next event", async () => {
    // No GITHUB_MENTIONED_USER: without GitHub's answer the app cannot know its own name.
    const down = nock(API).get("/user").reply(502, { message: "Bad Gateway" });
    const handle = ingress({ GITHUB_MENTIONED_USER: "" });
    const failed = await handle(httpApiEvent(await githubHeaders(BODY), BODY));
    expect(failed.statusCode).toBe(503);
    expect(json(failed).error).toMatch(/not ready/);
    expect(sink.tasks).toEqual([]);
    down.done();

    const identity = identityScope();
    const eyes = eyesScope();
    const ok = await handle(httpApiEvent(await githubHeaders(BODY), BODY));
    expect(ok.statusCode).toBe(200);
    expect(sink.tasks).toHaveLength(1);
    identity.done();
    eyes.done();
  });

  it("with DATA_DIR unset, the delivery memory lives under the scratch directory (/tmp in Lambda) and remembers a redelivery", async () => {
    const scratch = tempDir("devs-lambda-tmp-");
    const queue = { AWS_SQS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/tasks.fifo" };
    const settings = lambdaSettings({ GITHUB_TOKEN: "test-token", WEBHOOK_SECRET: SECRET, AUTHORIZED_TRIGGER_USERS: "*", LOG_LEVEL: "silent", ...queue }, scratch);
    expect(settings.dataDir).toBe(join(scratch, "devs-webhook"));
    // An ingress always: its tasks go to the queue.
    expect(settings.taskSink).toBe("sqs");
    expect(lambdaSettings({ DATA_DIR: "/mnt/efs/devs", ...queue }, scratch).dataDir).toBe("/mnt/efs/devs");

    const identity = identityScope();
    const eyes = eyesScope();
    sink = new MemoryTaskSink();
    const handle = createLambdaHandler({ settings, sink, log: silent, Octokit: TestOctokit });
    handlers.push(handle);
    const headers = await githubHeaders(BODY);
    expect((await handle(restApiEvent(headers, BODY))).statusCode).toBe(200);
    // GitHub's "Redeliver" sends the same delivery id: no second task, no second 👀.
    expect((await handle(restApiEvent(headers, BODY))).statusCode).toBe(200);
    expect(sink.tasks).toHaveLength(1);
    expect(existsSync(join(scratch, "devs-webhook", "devs-webhook.db"))).toBe(true);
    identity.done();
    eyes.done();
  });
});

describe("the function's own handler", () => {
  it("answers 503 and names the missing variable in the log when there is no queue to send to", async () => {
    vi.stubEnv("GITHUB_TOKEN", "test-token");
    vi.stubEnv("WEBHOOK_SECRET", SECRET);
    vi.stubEnv("AWS_SQS_QUEUE_URL", "");
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      const result = await defaultHandler(httpApiEvent(await githubHeaders(BODY), BODY, { functionUrl: true }));
      expect(result.statusCode).toBe(503);
      expect(logged).toHaveBeenCalledWith(expect.stringMatching(/^AWS_SQS_QUEUE_URL: required/));
    } finally {
      logged.mockRestore();
      vi.unstubAllEnvs();
    }
  });
});

describe("what an attacker can send is refused before anything runs", () => {
  // Every test: the bot is looked up (the start), and nothing else reaches GitHub or the sink.
  async function refused(event: unknown | ((headers: Record<string, string>) => unknown), status: number, error: RegExp) {
    const identity = identityScope();
    const handle = ingress();
    const result = await handle(typeof event === "function" ? event(await githubHeaders(BODY)) : event);
    expect({ status: result.statusCode, error: json(result).error }).toEqual({ status, error: expect.stringMatching(error) });
    expect(sink.tasks).toEqual([]);
    identity.done();
  }

  it("a signature made with another secret: 401", async () => {
    await refused(httpApiEvent(await githubHeaders(BODY, {}, "not-the-secret"), BODY), 401, /signature/);
  });

  it("a body changed after it was signed: 401", async () => {
    await refused((h: Record<string, string>) => restApiEvent(h, BODY.replace("please fix", "please delete")), 401, /signature/);
  });

  it("a signature over the base64 text instead of the bytes it decodes to: 401", async () => {
    const encoded = Buffer.from(BODY).toString("base64");
    const headers = await githubHeaders(encoded);
    await refused({ ...httpApiEvent(headers, BODY), body: encoded, isBase64Encoded: true }, 401, /signature/);
  });

  it("a signed body sent as base64 but not flagged so: 401", async () => {
    const headers = await githubHeaders(BODY);
    await refused({ ...httpApiEvent(headers, BODY), body: Buffer.from(BODY).toString("base64"), isBase64Encoded: false }, 401, /signature/);
  });

  it("no body at all: 401", async () => {
    await refused((h: Record<string, string>) => ({ ...httpApiEvent(h, BODY), body: undefined }), 401, /signature/);
  });

  it("no X-Hub-Signature-256: 400, and the old SHA-1 header does not stand in for it", async () => {
    const { "X-Hub-Signature-256": _dropped, ...headers } = await githubHeaders(BODY);
    const sha1 = { ...headers, "X-Hub-Signature": "sha1=0000000000000000000000000000000000000000" };
    await refused(restApiEvent(sha1, BODY), 400, /missing header\(s\): X-Hub-Signature-256/);
  });

  it("no X-GitHub-Event and no X-GitHub-Delivery: 400 naming both", async () => {
    const { "X-GitHub-Event": _e, "X-GitHub-Delivery": _d, ...headers } = await githubHeaders(BODY);
    await refused(httpApiEvent(headers, BODY), 400, /missing header\(s\): X-GitHub-Event, X-GitHub-Delivery$/);
  });

  it("a form-encoded delivery: 415, as the server answers", async () => {
    await refused((h: Record<string, string>) => httpApiEvent({ ...h, "Content-Type": "application/x-www-form-urlencoded" }, BODY), 415, /application\/json/);
  });

  for (const id of ["../../etc", "abc/def", "x".repeat(65)]) {
    it(`a correctly signed delivery whose X-GitHub-Delivery is ${JSON.stringify(id.slice(0, 12))}: 400`, async () => {
      await refused((h: Record<string, string>) => restApiEvent({ ...h, "X-GitHub-Delivery": id }, BODY), 400, /X-GitHub-Delivery/);
    });
  }

  for (const order of ["good first", "forged first"]) {
    it(`the signature header twice, in two cases, one good and one forged (${order}): 400`, async () => {
      const headers = await githubHeaders(BODY);
      const good = headers["X-Hub-Signature-256"]!;
      const forged = await sign(SECRET, "{}");
      const { "X-Hub-Signature-256": _s, ...rest } = headers;
      const pair = order === "good first" ? { "X-Hub-Signature-256": good, "x-hub-signature-256": forged } : { "x-hub-signature-256": forged, "X-Hub-Signature-256": good };
      await refused({ ...restApiEvent(rest, BODY), headers: { ...rest, ...pair }, multiValueHeaders: null }, 400, /x-hub-signature-256 given more than once/);
    });
  }

  it("two values of X-GitHub-Event in a REST API's multi-value headers: 400", async () => {
    const headers = await githubHeaders(BODY);
    const event = restApiEvent(headers, BODY);
    await refused({ ...event, multiValueHeaders: { ...event.multiValueHeaders, "X-GitHub-Event": ["issue_comment", "push"] } }, 400, /x-github-event given more than once/);
  });

  it("a GET: 405", async () => {
    await refused((h: Record<string, string>) => httpApiEvent(h, BODY, { method: "GET" }), 405, /POST/);
  });

  it("an invocation that is not an HTTP event: 400", async () => {
    await refused({ Records: [{ eventSource: "aws:sqs", body: BODY }] }, 400, /not an HTTP event/);
  });
});

describe("the ingress and the server give the same answer to the same bad delivery", () => {
  it("headers, content type, signature and body: status and message alike", async () => {
    const settings = testSettings();
    const serverSink = new MemoryTaskSink();
    const services = testServices(settings, { sink: serverSink });
    const server = await startServer(settings, services);
    const identity = identityScope();
    const handle = ingress();
    try {
      const signed = await githubHeaders(BODY);
      const { "X-Hub-Signature-256": _s, ...unsigned } = signed;
      const { "X-GitHub-Event": _e, "X-GitHub-Delivery": _d, ...anonymous } = signed;
      const notJson = "{ not json";
      const array = "[1, 2]";
      const cases: Array<[string, Record<string, string>, string, string?]> = [
        ["no signature", unsigned, BODY],
        ["no event or delivery id", anonymous, BODY],
        ["form encoded", { ...signed, "Content-Type": "application/x-www-form-urlencoded" }, BODY],
        ["no content type", Object.fromEntries(Object.entries(signed).filter(([k]) => k !== "Content-Type")), BODY],
        ["a delivery id with a slash", { ...signed, "X-GitHub-Delivery": "a/b" }, BODY],
        ["an event name that is no name", { ...signed, "X-GitHub-Event": "Issue Comment" }, BODY],
        ["a signature that is not sha256 hex", { ...signed, "X-Hub-Signature-256": "sha256=xyz" }, BODY],
        ["the wrong secret", await githubHeaders(BODY, {}, "not-the-secret"), BODY],
        ["signed text that is not JSON", await githubHeaders(notJson), notJson],
        ["a signed JSON array", await githubHeaders(array), array],
        ["a GET", signed, BODY, "GET"],
      ];
      for (const [label, headers, body, method = "POST"] of cases) {
        const res = await fetch(`${server.url}/webhook`, { method, headers, ...(method === "POST" ? { body } : {}) });
        const fromServer = { status: res.status, error: ((await res.json()) as { error: string }).error };
        const result = await handle(httpApiEvent(headers, body, { method, functionUrl: true }));
        expect({ label, status: result.statusCode, error: json(result).error }).toEqual({ label, ...fromServer });
        expect(fromServer.status, label).toBeGreaterThanOrEqual(400);
      }
      expect({ ingress: sink.tasks, server: serverSink.tasks }).toEqual({ ingress: [], server: [] });
      identity.done();
    } finally {
      await server.close();
      await services.close();
    }
  });
});
