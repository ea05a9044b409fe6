// The running server over real HTTP: both webhook paths, signatures, bad bodies, health, admin.
import nock from "nock";
import { sign } from "@octokit/webhooks-methods";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startServer, type RunningServer, type ServerDeps } from "../../src/server.js";
import type { Services } from "../../src/wiring/services.js";
import { testServices } from "../helpers/services.js";
import { MemoryTaskSink } from "../../src/tasks/sink.js";
import { payload } from "../helpers/payloads.js";
import { testSettings } from "../helpers/settings.js";
import { until } from "../helpers/until.js";
import type { Env } from "../../src/settings.js";
import type { TaskSummary } from "../../src/admin/dashboard.js";
import { labelSets, parseExposition, valueOf } from "../helpers/metrics.js";

const SECRET = "s3cret";

let server: RunningServer;
let services: Services | undefined;
let sink: MemoryTaskSink;

/** What `serve` runs, with no task kinds: tasks land in `sink`. */
async function start(env: Env = {}, intake?: ServerDeps["intake"]) {
  sink = new MemoryTaskSink();
  const settings = testSettings(env);
  services = testServices(settings, { sink });
  server = await startServer(settings, { ...services, ...(intake ? { intake } : {}) });
}

beforeEach(() => {
  nock.disableNetConnect();
  nock.enableNetConnect((host) => host.startsWith("127.0.0.1"));
});
afterEach(async () => {
  await server?.close();
  await services?.close();
  services = undefined;
  nock.cleanAll();
  nock.enableNetConnect();
});

const mention = payload("issue_comment", "created", { comment: { body: "@devs-bot please fix" } });
const commentId = (mention.comment as { id: number }).id;

async function post(path: string, body: string, headers: Record<string, string>) {
  const res = await fetch(`${server.url}${path}`, { method: "POST", body, headers });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as { error?: string; status?: string; delivery_id?: string } };
}

async function signedHeaders(event: string, body: string, secret = SECRET) {
  return {
    "content-type": "application/json",
    "x-github-event": event,
    "x-github-delivery": crypto.randomUUID(),
    "x-hub-signature-256": await sign(secret, body),
  };
}

describe("webhook deliveries over HTTP", () => {
  for (const path of ["/api/github/webhooks", "/webhook"]) {
    it(`a signed mention at ${path} is accepted, queued and acknowledged with one 👀`, async () => {
      await start();
      const scope = nock("https://api.github.com")
        .post(`/repos/Codertocat/Hello-World/issues/comments/${commentId}/reactions`, { content: "eyes" })
        .reply(201, {});
      const body = JSON.stringify(mention);
      const headers = await signedHeaders("issue_comment", body);
      const res = await post(path, body, headers);
      expect(res).toEqual({ status: 200, body: { status: "accepted", delivery_id: headers["x-github-delivery"] } });
      scope.done();
      expect(sink.tasks).toHaveLength(1);
    });

    it(`a wrongly signed delivery at ${path} is refused with 401 and queues nothing`, async () => {
      await start();
      const body = JSON.stringify(mention);
      const res = await post(path, body, await signedHeaders("issue_comment", body, "not-the-secret"));
      expect(res.status).toBe(401);
      expect(res.body.error).toMatch(/signature/);
      expect(sink.tasks).toEqual([]);
    });
  }

  it("a body changed after signing is refused", async () => {
    await start();
    const body = JSON.stringify(mention);
    const headers = await signedHeaders("issue_comment", body);
    const res = await post("/webhook", body.replace("please fix", "please delete"), headers);
    expect(res.status).toBe(401);
    expect(sink.tasks).toEqual([]);
  });

  for (const id of ["../../etc", "abc/def", "..", "x".repeat(65)]) {
    it(`a correctly signed delivery whose X-GitHub-Delivery is ${JSON.stringify(id.slice(0, 12))} is refused with 400 before anything runs`, async () => {
      await start();
      // No nock scope: any GitHub call would fail the delivery with a 500 instead.
      const body = JSON.stringify(mention);
      const headers = { ...(await signedHeaders("issue_comment", body)), "x-github-delivery": id };
      const res = await post("/webhook", body, headers);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/X-GitHub-Delivery/);
      expect(sink.tasks).toEqual([]);
    });
  }

  it("a wrong signature over a body that is not JSON is a 401: nothing unsigned is parsed", async () => {
    await start();
    const body = '{"action": "created", ';
    const res = await post("/webhook", body, await signedHeaders("issue_comment", body, "not-the-secret"));
    expect(res.status).toBe(401);
    expect(res.body.error).toMatch(/signature/);
  });

  it("a correctly signed body larger than GitHub's 25 MiB cap is a 413, with a Content-Length and chunked", async () => {
    await start();
    const text = JSON.stringify({ ...mention, padding: "x".repeat(25 * 1024 * 1024) });
    const headers = await signedHeaders("issue_comment", text);
    const declared = await post("/webhook", text, headers);
    expect(declared.status).toBe(413);
    const bytes = new TextEncoder().encode(text);
    const chunked = await fetch(`${server.url}/webhook`, {
      method: "POST",
      headers,
      duplex: "half",
      body: new ReadableStream({
        start(controller) {
          for (let at = 0; at < bytes.length; at += 1024 * 1024) controller.enqueue(bytes.subarray(at, at + 1024 * 1024));
          controller.close();
        },
      }),
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(sink.tasks).toEqual([]);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });

  it("a correctly signed body that cannot be kept while others hold the intake budget is a 503 to redeliver; forged ones stay 401", async () => {
    // A budget smaller than the body stands for one already held by other requests in flight.
    await start({}, { maxBufferedBytes: 1024 });
    const body = JSON.stringify(mention);
    expect(body.length).toBeGreaterThan(1024);
    const res = await fetch(`${server.url}/webhook`, { method: "POST", body, headers: await signedHeaders("issue_comment", body) });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("10");
    expect((await post("/webhook", body, await signedHeaders("issue_comment", body, "forged"))).status).toBe(401);
    expect(sink.tasks).toEqual([]);
  });

  it("with Expect: 100-continue, a delivery without a signature is refused before its body is sent", async () => {
    await start();
    const { request } = await import("node:http");
    const url = new URL(`${server.url}/webhook`);
    const outcome = await new Promise<{ status: number | undefined; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = request({
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: "POST",
        headers: { "content-type": "application/json", "x-github-event": "ping", "x-github-delivery": "abc", "content-length": "1000", expect: "100-continue" },
      });
      req.on("continue", () => (continued = true));
      req.on("response", (res) => {
        res.resume();
        resolve({ status: res.statusCode, continued });
        req.destroy();
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    expect(outcome).toEqual({ status: 400, continued: false });
  });

  it("a delivery without a signature is refused with 400", async () => {
    await start();
    const body = JSON.stringify(mention);
    const { "x-hub-signature-256": _, ...headers } = await signedHeaders("issue_comment", body);
    const res = await post("/api/github/webhooks", body, headers);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/X-Hub-Signature-256/);
  });

  it("an unsupported event is answered 2xx and queues nothing", async () => {
    await start();
    const body = JSON.stringify(payload("ping", undefined));
    const res = await post("/api/github/webhooks", body, await signedHeaders("ping", body));
    expect(res.status).toBe(200);
    expect(sink.tasks).toEqual([]);
  });

  it("malformed JSON (correctly signed) is a 400 and the server stays up", async () => {
    await start();
    const body = '{"action": "created", ';
    const res = await post("/api/github/webhooks", body, await signedHeaders("issue_comment", body));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/JSON/);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
  });

  it("a form-encoded delivery is a 415 naming the fix", async () => {
    await start();
    const res = await post("/webhook", "payload=%7B%7D", { "content-type": "application/x-www-form-urlencoded" });
    expect(res.status).toBe(415);
    expect(res.body.error).toMatch(/application\/json/);
  });

  it("GET on a webhook path is 405", async () => {
    await start();
    const res = await fetch(`${server.url}/webhook`);
    expect(res.status).toBe(405);
  });

  it("a handler failure is a 500 without internals, so GitHub can redeliver", async () => {
    await start({ AUTHORIZED_TRIGGER_USERS: "" });
    const scope = nock("https://api.github.com")
      .get("/repos/Codertocat/Hello-World/collaborators/Codertocat/permission")
      .reply(500, { message: "internal detail /srv/secret/path" });
    const body = JSON.stringify(mention);
    const res = await post("/webhook", body, await signedHeaders("issue_comment", body));
    scope.done();
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toMatch(/secret|internal detail/);
    expect(sink.tasks).toEqual([]);
  });
});

describe("health and admin routes", () => {
  it("GET /health is open", async () => {
    await start();
    const res = await fetch(`${server.url}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "healthy", service: "devs-webhook" });
  });

  it("GET /status is closed without ADMIN_PASSWORD", async () => {
    await start();
    const res = await fetch(`${server.url}/status`, { headers: { authorization: `Basic ${btoa("admin:")}` } });
    expect(res.status).toBe(503);
  });

  it("GET /status needs the right Basic credentials", async () => {
    await start({ ADMIN_PASSWORD: "pw" });
    expect((await fetch(`${server.url}/status`)).status).toBe(401);
    const wrong = await fetch(`${server.url}/status`, { headers: { authorization: `Basic ${btoa("admin:nope")}` } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${server.url}/status`, { headers: { authorization: `Basic ${btoa("admin:pw")}` } });
    expect(right.status).toBe(200);
    const body = await right.json();
    expect(body).toMatchObject({
      mentioned_user: "devs-bot",
      auth_mode: "token",
      container_pool: ["eamonn", "harry", "darren"],
      authorized_trigger_users: "*",
      authorized_ci_trigger_users: "write access",
      allowed_owners: [],
      stop_container_after_task: true,
      container_idle_minutes: 60,
      container_timeout_minutes: 30,
      max_concurrent_tasks: 3,
    });
    expect(JSON.stringify(body)).not.toContain("test-token");
  });

  it("GET /tasks?limit= refuses what is not a whole number of 1 or more with 400 and caps the rest at 500", async () => {
    const settings = testSettings({ ADMIN_PASSWORD: "pw" });
    // Only the count matters here.
    const journal = Array.from({ length: 600 }, (_, i) => ({ id: `task-${i}` }) as TaskSummary);
    const asked: number[] = [];
    services = testServices(settings);
    server = await startServer(settings, {
      ...services,
      operations: {
        ...services.operations,
        // SQLite's LIMIT as the journal applies it: negative means everything.
        recentTasks: (limit) => (asked.push(limit), limit < 0 ? journal : journal.slice(0, limit)),
      },
    });
    const auth = { authorization: `Basic ${btoa("admin:pw")}` };
    const list = async (query: string) => {
      const res = await fetch(`${server.url}/tasks${query}`, { headers: auth });
      return { status: res.status, body: (await res.json()) as { tasks?: unknown[]; error?: string } };
    };
    for (const bad of ["-1", "0", "2.5", "1e3", "abc", "", "%20", "-0", "+5"]) {
      const res = await list(`?limit=${bad}`);
      expect(res.status, `limit=${bad}`).toBe(400);
      expect(res.body.error).toMatch(/limit/);
    }
    expect((await list("")).body.tasks).toHaveLength(50);
    expect((await list("?limit=3")).body.tasks).toHaveLength(3);
    expect((await list("?limit=100000")).body.tasks).toHaveLength(500);
    expect((await list(`?limit=${"9".repeat(400)}`)).body.tasks).toHaveLength(500);
    expect(asked).toEqual([50, 3, 500, 500]);
  });

  it("unknown paths are 404", async () => {
    await start();
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });
});

describe("admin routes over the pool and journal", () => {
  it("list containers and tasks, cancel a task, refuse to stop a busy container, expose metrics", async () => {
    const settings = testSettings({ ADMIN_PASSWORD: "pw", CONTAINER_POOL: "solo" });
    const started: string[] = [];
    services = testServices(settings, {
      kinds: {
        agent: {
          execute: async (task, ctx) => {
            started.push(task.id);
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
            return { state: "failed", detail: "aborted" };
          },
        },
      },
    });
    server = await startServer(settings, services);
    const auth = { authorization: `Basic ${btoa("admin:pw")}` };
    const scope = nock("https://api.github.com").post(/\/reactions$/).times(2).reply(201, {});
    for (const [i, text] of ["@devs-bot one", "@devs-bot two"].entries()) {
      const body = JSON.stringify(payload("issue_comment", "created", { comment: { id: 1000 + i, body: text } }));
      expect((await post("/webhook", body, await signedHeaders("issue_comment", body))).status).toBe(200);
    }
    scope.done();
    await until(() => started.length > 0, { what: "the task to start" });
    const containers = await (await fetch(`${server.url}/containers`, { headers: auth })).json();
    expect(containers).toEqual({ solo: { queued: 1, running: started[0] } });

    const stop = await fetch(`${server.url}/container/solo/stop`, { method: "POST", headers: auth });
    expect(stop.status).toBe(409);
    expect((await fetch(`${server.url}/container/nobody/stop`, { method: "POST", headers: auth })).status).toBe(404);

    const tasks = (await (await fetch(`${server.url}/tasks`, { headers: auth })).json()) as { tasks: Array<{ id: string; state: string }> };
    expect(tasks.tasks.map((t) => t.state)).toEqual(["queued", "running"]);
    // The shape scripts read: every field of an entry, by name.
    expect(Object.keys(tasks.tasks[1]!).sort()).toEqual(
      ["attempts", "container", "cost_usd", "created_at", "detail", "finished_at", "id", "kind", "phases", "repo", "report_url", "slot", "started_at", "state", "target", "title", "url"],
    );
    expect(tasks.tasks[1]).toMatchObject({ kind: "agent", repo: "Codertocat/Hello-World", slot: "solo", container: "solo", attempts: 1, cost_usd: 0, phases: null, finished_at: null });
    const waiting = tasks.tasks[0]!.id;
    const cancel = await fetch(`${server.url}/task/${waiting}/cancel`, { method: "POST", headers: auth });
    expect(cancel.status).toBe(200);
    expect((await fetch(`${server.url}/task/unknown/cancel`, { method: "POST", headers: auth })).status).toBe(404);

    const scrape = async () => parseExposition(await (await fetch(`${server.url}/metrics`, { headers: auth })).text());
    await until(async () => valueOf(await scrape(), "devs_tasks_total", { kind: "agent", outcome: "cancelled" }) === 1, { what: "the cancel to be counted" });
    const metrics = await scrape();
    expect(valueOf(metrics, "devs_busy_slots")).toBe(1);
    expect(valueOf(metrics, "devs_queue_depth", { slot: "solo" })).toBe(0);
    expect(valueOf(metrics, "devs_deliveries_total", { event: "issue_comment", outcome: "queued" })).toBe(2);
    // Cancelled while queued: it never ran, so no phase was timed.
    expect(labelSets(metrics, "devs_task_duration_seconds_count")).toEqual([]);
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401);
  });
});

describe("GET /metrics", () => {
  const basic = (user: string, password: string) => ({ authorization: `Basic ${btoa(`${user}:${password}`)}` });
  const scrape = (headers: Record<string, string> = {}) => fetch(`${server.url}/metrics`, { headers });

  it("asks for Basic auth; without METRICS_TOKEN a bearer token opens nothing", async () => {
    await start({ ADMIN_PASSWORD: "pw" });
    expect((await scrape()).status).toBe(401);
    expect((await scrape(basic("admin", "wrong"))).status).toBe(401);
    expect((await scrape({ authorization: "Bearer pw" })).status).toBe(401);
    const ok = await scrape(basic("admin", "pw"));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(parseExposition(await ok.text()).types.get("devs_deliveries_total")).toBe("counter");
  });

  it("with METRICS_TOKEN: the right bearer token or Basic auth; the token opens no other route", async () => {
    await start({ ADMIN_PASSWORD: "pw", METRICS_TOKEN: "scrape-me-0123456789" });
    expect((await scrape()).status).toBe(401);
    expect((await scrape({ authorization: "Bearer scrape-me-wrong" })).status).toBe(401);
    expect((await scrape({ authorization: "Bearer scrape-me-0123456789x" })).status).toBe(401);
    expect((await scrape({ authorization: "Bearer scrape-me-0123456789" })).status).toBe(200);
    expect((await scrape(basic("admin", "pw"))).status).toBe(200);
    expect((await fetch(`${server.url}/status`, { headers: { authorization: "Bearer scrape-me-0123456789" } })).status).toBe(401);
  });

  it("counts each delivery once by what became of it; an unknown event name is 'other'", async () => {
    await start({ ADMIN_PASSWORD: "pw" });
    const scope = nock("https://api.github.com").post(/\/reactions$/).reply(201, {});
    const body = JSON.stringify(mention);
    const headers = await signedHeaders("issue_comment", body);
    expect((await post("/webhook", body, headers)).status).toBe(200);
    // The same delivery again (GitHub's redelivery keeps its id).
    expect((await post("/webhook", body, headers)).status).toBe(200);
    scope.done();
    const chatter = JSON.stringify(payload("issue_comment", "created", { comment: { id: 4242, body: "no mention here" } }));
    expect((await post("/webhook", chatter, await signedHeaders("issue_comment", chatter))).status).toBe(200);
    expect((await post("/webhook", body, await signedHeaders("issue_comment", body, "wrong-secret"))).status).toBe(401);
    expect((await post("/webhook", body, await signedHeaders("made_up_event", body, "wrong-secret"))).status).toBe(401);
    expect((await post("/webhook", "not json", await signedHeaders("issue_comment", "not json"))).status).toBe(400);
    const metrics = parseExposition(await (await scrape(basic("admin", "pw"))).text());
    expect(labelSets(metrics, "devs_deliveries_total")).toEqual([
      "event=issue_comment,outcome=bad_signature",
      "event=issue_comment,outcome=duplicate",
      "event=issue_comment,outcome=ignored",
      "event=issue_comment,outcome=queued",
      "event=issue_comment,outcome=refused",
      "event=other,outcome=bad_signature",
    ]);
    for (const s of metrics.samples.filter((s) => s.name === "devs_deliveries_total")) expect(s.value, JSON.stringify(s.labels)).toBe(1);
    expect(sink.tasks).toHaveLength(1);
  });
});

describe("every admin route asks for the admin's credentials", () => {
  const ROUTES: Array<{ method: string; path: string; headers?: Record<string, string> }> = [
    { method: "GET", path: "/status" },
    { method: "GET", path: "/containers" },
    { method: "GET", path: "/tasks" },
    { method: "GET", path: "/metrics" },
    { method: "GET", path: "/", headers: { accept: "text/html" } },
    { method: "POST", path: "/container/eamonn/stop" },
    { method: "POST", path: "/task/no-such-task/cancel" },
  ];
  const basic = (user: string, password: string) => ({ authorization: `Basic ${btoa(`${user}:${password}`)}` });
  const ask = async (route: (typeof ROUTES)[number], auth: Record<string, string>) => {
    const res = await fetch(`${server.url}${route.path}`, { method: route.method, headers: { ...route.headers, ...auth } });
    await res.arrayBuffer();
    return res.status;
  };

  it("none or wrong credentials are 401 on each; the right ones are let through", async () => {
    await start({ ADMIN_PASSWORD: "pw" });
    for (const route of ROUTES) {
      const label = `${route.method} ${route.path}`;
      expect(await ask(route, {}), `${label} without credentials`).toBe(401);
      expect(await ask(route, basic("admin", "nope")), `${label} with a wrong password`).toBe(401);
      expect(await ask(route, basic("root", "pw")), `${label} with a wrong user`).toBe(401);
      expect(await ask(route, basic("admin", "")), `${label} with an empty password`).toBe(401);
      expect([200, 404], `${label} with the right credentials`).toContain(await ask(route, basic("admin", "pw")));
    }
  });

  it("without ADMIN_PASSWORD (and no DEV_MODE) each is closed: 503, whatever is sent", async () => {
    await start();
    for (const route of ROUTES) {
      expect(await ask(route, basic("admin", "")), `${route.method} ${route.path}`).toBe(503);
      expect(await ask(route, {}), `${route.method} ${route.path}`).toBe(503);
    }
  });
});
