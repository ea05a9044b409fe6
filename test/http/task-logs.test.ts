// Per-task logs: a task run through the real pool leaves its file (the server's lines and its
// container's output, secrets redacted), served behind the admin auth and by the public link.
import { utimesSync, writeFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger, taskLogger } from "../../src/logging.js";
import { renderProgress } from "../../src/publish/progress.js";
import { startServer, type RunningServer } from "../../src/server.js";
import type { Env } from "../../src/settings.js";
import { TaskLogs, taskLogToken } from "../../src/tasks/task-logs.js";
import { buildServices, openTaskLogs, type Services } from "../../src/wiring/services.js";
import { testGitHub } from "../helpers/services.js";
import { testSettings, tempDir } from "../helpers/settings.js";
import { allKinds, makeTask } from "../helpers/tasks.js";
import { until } from "../helpers/until.js";

const SECRET = "s3cret";
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

let server: RunningServer | undefined;
let services: Services | undefined;
afterEach(async () => {
  await server?.close();
  await services?.close();
  server = services = undefined;
});

/** `serve`'s services with their task logs, a runner that prints like a container, and the HTTP server. */
async function start(env: Env = {}) {
  const settings = testSettings({ ADMIN_PASSWORD: "adm1n-pass", ...env });
  const warnings: unknown[] = [];
  const taskLogs = openTaskLogs(settings, (error) => warnings.push(error))!;
  // LOG_LEVEL=silent: nothing on the console, yet debug lines reach the task log.
  const log = await createLogger(settings, taskLogs.stream());
  services = buildServices(settings, { ...testGitHub(settings, log), taskLogs }, {
    kinds: allKinds(async (task) => {
      const taskLog = taskLogger(log, { task: task.id });
      taskLog.debug({ stream: "stdout", line: `cloning with ${SECRET} and ghp_${"a".repeat(36)}` }, "container output");
      taskLog.info("agent ran");
      return { state: "done", detail: "ok" };
    }),
  });
  server = await startServer(settings, services);
  return { settings, taskLogs, warnings, url: server.url };
}

async function runTask(id: string) {
  const task = makeTask("acme/widgets", "agent", id);
  await services!.pool.submit(task);
  await until(() => services!.journal.recent(10).some((e) => e.task.id === id && e.finishedAt !== null));
  await services!.pool.idle();
}

describe("task logs", () => {
  it("keep the server's lines and the container's output about a task, with secrets redacted", async () => {
    const { taskLogs, settings, warnings } = await start();
    await runTask("agent-1");
    await taskLogs.flush();
    const text = (await taskLogs.read("agent-1"))!;
    expect(text).toMatch(/DEBUG stdout \| cloning with \[redacted\] and \[redacted\]\n/);
    expect(text).toMatch(/INFO agent ran\n/);
    expect(text).toMatch(/INFO pool: task finished \{.*"state":"done"/);
    expect(text).not.toContain(SECRET);
    expect(existsSync(join(settings.taskLogDir!, "agent-1.log"))).toBe(true);
    expect(warnings).toEqual([]);
  });

  it("are served behind the admin auth, and 404 for unknown and path-like ids", async () => {
    const { url } = await start();
    await runTask("agent-2");
    expect((await fetch(`${url}/tasks/agent-2/log`)).status).toBe(401);
    expect((await fetch(`${url}/tasks/agent-2/log`, { headers: basic("admin", "wrong") })).status).toBe(401);
    const res = await fetch(`${url}/tasks/agent-2/log`, { headers: basic("admin", "adm1n-pass") });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await res.text()).toContain("stdout | cloning with [redacted]");
    for (const id of ["agent-404", "..%2Fagent-2", "..%2F..%2Fetc%2Fpasswd", "%2e%2e"]) {
      expect((await fetch(`${url}/tasks/${id}/log`, { headers: basic("admin", "adm1n-pass") })).status, id).toBe(404);
    }
    // The dashboard's row of the finished task links it.
    const page = await (await fetch(`${url}/`, { headers: { ...basic("admin", "adm1n-pass"), accept: "text/html" } })).text();
    expect(page).toMatch(/<tr data-task="agent-2" data-state="done">.*?<td><a href="\/tasks\/agent-2\/log" rel="noreferrer">log<\/a><\/td>/);
    // Without PUBLIC_URL there is no public link.
    expect((await fetch(`${url}/logs/agent-2/${taskLogToken(SECRET, "agent-2")}`)).status).toBe(404);
  });

  it("with PUBLIC_URL, open to the link's token and to no other", async () => {
    const { url } = await start({ PUBLIC_URL: "https://devs.example.com" });
    await runTask("agent-3");
    const good = await fetch(`${url}/logs/agent-3/${taskLogToken(SECRET, "agent-3")}`);
    expect(good.status).toBe(200);
    expect(await good.text()).toContain("INFO agent ran");
    expect((await fetch(`${url}/logs/agent-3/${taskLogToken("other", "agent-3")}`)).status).toBe(404);
    expect((await fetch(`${url}/logs/agent-3/${taskLogToken(SECRET, "agent-4")}`)).status).toBe(404);
    expect((await fetch(`${url}/logs/agent-3/short`)).status).toBe(404);
  });

  it("older than TASK_LOG_RETENTION_DAYS are deleted at start", async () => {
    const dir = tempDir("devs-task-logs-");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "old.log"), "old\n");
    writeFileSync(join(dir, "new.log"), "new\n");
    const old = (Date.now() - 3 * 86_400_000) / 1000;
    utimesSync(join(dir, "old.log"), old, old);
    await start({ TASK_LOG_DIR: dir, TASK_LOG_RETENTION_DAYS: "2" });
    await until(() => !existsSync(join(dir, "old.log")));
    expect(existsSync(join(dir, "new.log"))).toBe(true);
  });

  it("stop at their size limit with one line that says so, and an unwritable folder is one warning", async () => {
    const dir = tempDir("devs-task-logs-");
    const warnings: unknown[] = [];
    const logs = new TaskLogs({ dir, redact: (t) => t, warn: (e) => warnings.push(e), maxBytes: 100 });
    for (let i = 0; i < 20; i++) logs.append("t1", `line ${i} ${"x".repeat(10)}`);
    await logs.flush();
    const text = (await logs.read("t1"))!;
    expect(text.split("\n").filter((l) => l.includes("log cut at 100 bytes"))).toHaveLength(1);
    expect(Buffer.byteLength(text)).toBeLessThan(200);
    // A process that starts again does not add to a full file.
    const again = new TaskLogs({ dir, redact: (t) => t, warn: (e) => warnings.push(e), maxBytes: 100 });
    again.append("t1", "one more");
    await again.flush();
    expect(await again.read("t1")).toBe(text);
    // A file is written in several turns, its size counted across them.
    logs.append("t3", "a".repeat(60));
    await logs.flush();
    logs.append("t3", "b".repeat(60));
    await logs.flush();
    expect((await logs.read("t3"))!.split("\n").filter((l) => l.includes("log cut"))).toHaveLength(1);
    writeFileSync(join(dir, "file"), "");
    const broken = new TaskLogs({ dir: join(dir, "file", "logs"), redact: (t) => t, warn: (e) => warnings.push(e) });
    broken.append("t2", "a");
    await broken.flush();
    broken.append("t2", "b");
    await broken.flush();
    expect(warnings).toHaveLength(1);
  });
});

describe("the final comment", () => {
  it("links the log only when there is a public link", () => {
    const failed = { stage: "failed", reason: "the agent crashed" } as const;
    expect(renderProgress("agent-1", failed)).toBe("<!-- devs-webhook:task=agent-1 -->\n❌ Failed: the agent crashed");
    expect(renderProgress("agent-1", failed, "https://devs.example.com/logs/agent-1/abc")).toBe(
      "<!-- devs-webhook:task=agent-1 -->\n❌ Failed: the agent crashed\n\n[Log](https://devs.example.com/logs/agent-1/abc)",
    );
    expect(renderProgress("agent-1", { stage: "queued", slot: "eamonn", position: 0 }, "https://x/logs/a/b")).not.toContain("[Log]");
  });
});
