// The dashboard over real HTTP, as `serve` builds it: the page behind Basic auth, escaped and under
// a strict CSP; the event stream and what it costs to open and close; POSTs from other sites.
import { afterEach, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server.js";
import type { Services } from "../../src/wiring/services.js";
import type { ContainerLifecycle } from "../../src/pool/pool.js";
import { testServices } from "../helpers/services.js";
import { testSettings } from "../helpers/settings.js";
import { agentTask, ciTask } from "../helpers/tasks.js";
import { gatedKinds, type Gates } from "../helpers/gated-kinds.js";
import { until } from "../helpers/until.js";

let server: RunningServer | undefined;
let services: Services | undefined;
let gates: Gates;

const AUTH = { authorization: `Basic ${btoa("admin:pw")}` };
const PAGE = { ...AUTH, accept: "text/html,application/xhtml+xml" };

async function start(env: Record<string, string> = {}, lifecycle?: ContainerLifecycle) {
  gates = gatedKinds();
  const settings = testSettings({ ADMIN_PASSWORD: "pw", CONTAINER_POOL: "eamonn,harry", MAX_CONCURRENT_TASKS: "1", ...env });
  services = testServices(settings, { kinds: gates.kinds, lifecycle });
  server = await startServer(settings, services);
  return { server, services };
}

afterEach(async () => {
  await server?.close();
  await services?.close();
  server = undefined;
  services = undefined;
});

const stateOf = (id: string) => services!.journal.get(id)?.state;

/** Server-sent events as they arrive: `next(type)` resolves with the data of the next event of that type. */
function eventReader(body: ReadableStream<Uint8Array>) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const events: Array<{ type: string; data: string }> = [];
  const pump = async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const type = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (type && data !== undefined) events.push({ type, data });
      }
    }
  };
  const pumping = pump().catch(() => {});
  let seen = 0;
  return {
    events,
    async next(type: string, match: (data: string) => boolean = () => true): Promise<string> {
      const found = await until(() => events.slice(seen).find((e) => e.type === type && match(e.data)), { what: `a ${type} event`, timeoutMs: 5_000 });
      seen = events.indexOf(found) + 1;
      return found.data;
    },
    close: async () => {
      await reader.cancel().catch(() => {});
      await pumping;
    },
  };
}

describe("GET / (the dashboard)", () => {
  it("asks a browser for the admin credentials; a probe without Accept: text/html still gets the health JSON", async () => {
    await start();
    const anonymous = await fetch(`${server!.url}/`, { headers: { accept: "text/html" } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Basic realm="devs-webhook"');
    const wrong = await fetch(`${server!.url}/`, { headers: { accept: "text/html", authorization: `Basic ${btoa("admin:nope")}` } });
    expect(wrong.status).toBe(401);
    const probe = await fetch(`${server!.url}/`);
    expect(probe.status).toBe(200);
    expect(await probe.json()).toMatchObject({ status: "healthy", service: "devs-webhook" });
    const page = await fetch(`${server!.url}/`, { headers: PAGE });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("cache-control")).toBe("no-store");
  });

  it("renders user text inert: a <script> title, markup in a repository name and a javascript: URL stay text, and the CSP runs only the page's nonce", async () => {
    await start();
    const hostile = agentTask({
      repo: "acme/w<i>dgets",
      target: { number: 7, title: `<script>alert("owned")</script><img src=x onerror=alert(1)>`, url: "javascript:alert(2)" },
    });
    await services!.pool.submit(hostile);
    await until(() => stateOf(hostile.id) === "running");
    const res = await fetch(`${server!.url}/`, { headers: PAGE });
    const html = await res.text();
    const csp = res.headers.get("content-security-policy")!;
    const nonce = /script-src 'nonce-([A-Za-z0-9+/=]+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toMatch(/https?:/);
    // One script, the page's own, with the nonce the header allows.
    expect(html.match(/<script/g)).toHaveLength(1);
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).toContain("&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;");
    expect(html).toContain("acme/w&lt;i&gt;dgets");
    expect(html).not.toContain("<img");
    expect(html).not.toContain("<i>");
    expect(html).not.toContain("javascript:");
    expect(html).not.toMatch(/<[^>]*\son\w+=/);
    // The stream's snapshot is escaped the same way.
    const stream = await fetch(`${server!.url}/events`, { headers: AUTH });
    const events = eventReader(stream.body!);
    const fragments = JSON.parse(await events.next("snapshot")) as { tasks: string; pool: string };
    expect(fragments.tasks).toContain("&lt;script&gt;alert(&quot;owned&quot;)");
    expect(fragments.tasks + fragments.pool).not.toMatch(/<script|<img|<i>|javascript:/);
    await events.close();
  });

  it("shows each slot's queue, its running task with its age, and which containers are warm", async () => {
    const lifecycle: ContainerLifecycle = {
      running: async (slot) => (slot === "eamonn" ? [{ repo: "acme/widgets", trust: "maintainers" }] : []),
      stop: async () => {},
    };
    await start({}, lifecycle);
    const running = agentTask({ repo: "acme/widgets", target: { number: 12, title: "Fix the login" } });
    const waiting = ciTask({ repo: "acme/gadgets" });
    await services!.pool.submit(running);
    await until(() => stateOf(running.id) === "running");
    await services!.pool.submit(waiting);
    await until(() => services!.journal.get(waiting.id)?.slot);
    const html = await (await fetch(`${server!.url}/`, { headers: PAGE })).text();
    const slot = (name: string) => new RegExp(`<section class="slot" data-slot="${name}">(.*?)</section>`).exec(html)?.[1] ?? "";
    expect(slot("eamonn")).toMatch(/warm: acme\/widgets \(maintainers\)/);
    expect(slot("eamonn")).toMatch(/running acme\/widgets .*#12.*Fix the login.*for <span data-since="\d+">\d+s</);
    expect(slot("harry")).toContain("no container running");
    // The CI run waits for MAX_CONCURRENT_TASKS=1 in the least loaded slot.
    expect(slot("harry")).toMatch(/queue: 1<\/p><ol class="queue"><li>acme\/gadgets .*commit.*ci/);
    // Recent tasks: the check run's page for CI, the issue for the agent's progress comment.
    expect(html).toContain(`href="https://example.invalid/acme/gadgets/commit/${"a".repeat(40)}/checks"`);
    expect(html).toMatch(new RegExp(`<tr data-task="${running.id}" data-state="running">.*?data-cancel="${running.id}"`));
    gates.release(running.id);
  });
});

describe("POST from another site", () => {
  it("a cross-site form post with the admin's credentials cancels nothing; the dashboard's own request does", async () => {
    await start();
    const running = agentTask();
    const queued = agentTask();
    await services!.pool.submit(running);
    await services!.pool.submit(queued);
    await until(() => stateOf(running.id) === "running" && services!.journal.get(queued.id)?.slot);
    const url = `${server!.url}/tasks/${queued.id}/cancel`;
    const form = { ...AUTH, "content-type": "application/x-www-form-urlencoded" };
    const attempts = [
      // What a browser sends for a form on another site posting here.
      { ...form, origin: "https://evil.example", "sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate" },
      // An older browser: Origin but no Sec-Fetch-*.
      { ...form, origin: "https://evil.example" },
      // A sibling site (same-site but not same-origin), even with the header.
      { ...form, origin: "https://admin.evil.example", "sec-fetch-site": "same-site", "x-requested-with": "devs-dashboard" },
      // Same origin, but a plain form: no X-Requested-With.
      { ...form, origin: server!.url, "sec-fetch-site": "same-origin" },
    ];
    for (const headers of attempts) {
      const res = await fetch(url, { method: "POST", headers, body: "x=1" });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(((await res.json()) as { error: string }).error).toMatch(/refused/);
    }
    const stop = await fetch(`${server!.url}/container/harry/stop`, { method: "POST", headers: attempts[0]! });
    expect(stop.status).toBe(403);
    expect(stateOf(queued.id)).toBe("queued");
    // Without credentials a same-origin request is still a 401: the header is no password.
    const anonymous = await fetch(url, { method: "POST", headers: { origin: server!.url, "sec-fetch-site": "same-origin", "x-requested-with": "devs-dashboard" } });
    expect(anonymous.status).toBe(401);
    const own = await fetch(url, { method: "POST", headers: { ...AUTH, origin: server!.url, "sec-fetch-site": "same-origin", "x-requested-with": "devs-dashboard" } });
    expect(own.status).toBe(200);
    expect(stateOf(queued.id)).toBe("cancelled");
    gates.release(running.id);
  });
});

describe("GET /events", () => {
  it("needs the admin credentials, starts with a snapshot, then says what the pool does and sends the page's new rows", async () => {
    await start();
    expect((await fetch(`${server!.url}/events`)).status).toBe(401);
    const res = await fetch(`${server!.url}/events`, { headers: AUTH });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const events = eventReader(res.body!);
    expect(JSON.parse(await events.next("snapshot"))).toMatchObject({ tasks: expect.stringContaining("no tasks yet") });
    const task = agentTask({ target: { number: 41, title: "Make it faster" } });
    await services!.pool.submit(task);
    expect(JSON.parse(await events.next("queued"))).toEqual({ type: "queued", task: task.id, kind: "agent", repo: "acme/widgets", target: 41, slot: expect.any(String) });
    await events.next("started");
    await events.next("snapshot", (d) => d.includes(`data-task=\\"${task.id}\\" data-state=\\"running\\"`));
    gates.release(task.id);
    expect(JSON.parse(await events.next("finished"))).toMatchObject({ task: task.id, state: "done" });
    await events.next("snapshot", (d) => d.includes(`data-task=\\"${task.id}\\" data-state=\\"done\\"`));
    const cancelled = agentTask();
    const blocker = agentTask();
    await services!.pool.submit(blocker);
    await services!.pool.submit(cancelled);
    await until(() => services!.journal.get(cancelled.id)?.slot);
    services!.pool.cancel(cancelled.id);
    expect(JSON.parse(await events.next("cancelled"))).toMatchObject({ task: cancelled.id, state: "cancelled" });
    gates.release(blocker.id);
    await events.close();
  });

  it("opening and closing many streams leaves no listener on the pool, and too many at once are refused", async () => {
    await start();
    const pool = services!.pool;
    expect(pool.observerCount).toBe(0);
    for (let round = 0; round < 5; round++) {
      const streams = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const controller = new AbortController();
          const res = await fetch(`${server!.url}/events`, { headers: AUTH, signal: controller.signal });
          const events = eventReader(res.body!);
          await events.next("snapshot");
          return { controller, events };
        }),
      );
      expect(pool.observerCount).toBe(10);
      for (const s of streams) {
        s.controller.abort();
        await s.events.close();
      }
      await until(() => pool.observerCount === 0, { what: "every stream's listener removed" });
    }
    // The cap: 32 open at once; the 33rd is told to come back later.
    const open = await Promise.all(Array.from({ length: 32 }, () => fetch(`${server!.url}/events`, { headers: AUTH })));
    expect(open.map((r) => r.status)).toEqual(Array(32).fill(200));
    const refused = await fetch(`${server!.url}/events`, { headers: AUTH });
    expect(refused.status).toBe(503);
    await refused.body?.cancel();
    // A shutdown ends the open streams at once instead of waiting for their clients.
    const t0 = Date.now();
    const closing = server!.close();
    const ended = await Promise.all(open.map((r) => r.text().then((text) => ({ text, ms: Date.now() - t0 }))));
    expect(Math.max(...ended.map((e) => e.ms))).toBeLessThan(1_000);
    expect(ended.every((e) => e.text.includes("event: snapshot"))).toBe(true);
    await closing;
    server = undefined;
    expect(pool.observerCount).toBe(0);
  });
});
