// The agent reporter, as the user sees it: the exact text of the task's one comment and the reaction
// for each way a task ends, writes that keep their order however slow GitHub is, a failed write that
// is logged and stops nothing, and an executor's own error that never reaches the comment. GitHub
// is nock; the pool, where one drives the reporter, is the real one with its journal on disk.
import nock from "nock";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentReporter } from "../../src/agent/reporter.js";
import type { AgentReport } from "../../src/agent/report.js";
import { markerFor } from "../../src/publish/progress.js";
import { openDatabase } from "../../src/tasks/database.js";
import type { TaskEnd, TaskExecutor } from "../../src/tasks/execution.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import type { Task } from "../../src/tasks/task.js";
import { testPool, runInPool } from "../helpers/pool.js";
import { TestOctokit } from "../helpers/probot.js";
import { tempDir } from "../helpers/settings.js";
import { makeTask } from "../helpers/tasks.js";

const API = "https://api.github.com";
const COMMENTS = "/repos/acme/widgets/issues/12/comments";
const COMMENT = "/repos/acme/widgets/issues/comments/77";
const REACTIONS = "/repos/acme/widgets/issues/comments/99/reactions";
const octokit = new TestOctokit({ auth: "installation-token" });

beforeEach(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

function task(id: string): Task {
  const t = makeTask("acme/widgets", "agent", id);
  t.target.number = 12;
  t.trigger = { ...t.trigger, subject: { type: "issue_comment", id: 99 } };
  return t;
}

/** A reporter whose log lines the test reads back. */
function reporter() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const r = new AgentReporter({ github: async () => ({ octokit }), timeoutMinutes: 30, log, now: () => Date.parse("2026-11-29T10:00:00.123Z") });
  return { reporter: r, log, lines, warnings: () => lines.filter((l) => l.level === 40) };
}

const body = (id: string, line: string) => `${markerFor(id)}\n${line}`;
const queued = (id: string) => body(id, "⏳ Queued for `eamonn`.");
const running = (id: string) => body(id, "⚙️ Working in `eamonn` since 2026-11-29T10:00:00Z.");

const doneReport: AgentReport = {
  outcome: "done",
  durationMs: 192_000,
  costUsd: 0.4215,
  turns: 7,
  summary: "Added `hello.txt`.",
  pullRequest: { number: 13, url: "https://github.com/acme/widgets/pull/13" },
  note: "Left out `vendor/x`: nested repositories are not part of this one (only submodules of the base commit are).",
};
const ran = (report?: AgentReport) => ({ durationMs: 5_000, report });
const notRun = "the server could not run the task. Trigger the task again; if it keeps failing, an operator can find the details in the server log under task `{id}`.";
const generic = "the task stopped because of an error on the server; an operator can find the details in the server log under task `{id}`.";

describe("AgentReporter.finished: each final state, as the comment says it", () => {
  const cases: Array<{ name: string; end: Omit<TaskEnd<AgentReport>, "slot">; line: string; reaction: "rocket" | "confused" | null }> = [
    {
      name: "done with a pull request and a note",
      end: { state: "done", detail: "opened #13", ran: ran(doneReport) },
      line: [
        "✅ Done in 3m 12s · $0.42 · 7 turns in `eamonn`. Opened [#13](https://github.com/acme/widgets/pull/13).",
        "",
        `> ${doneReport.note}`,
        "",
        "Added `hello.txt`.",
      ].join("\n"),
      reaction: "rocket",
    },
    {
      name: "done, pushed, with no cost or turns known",
      end: {
        state: "done",
        detail: "pushed main",
        ran: ran({ outcome: "done", durationMs: 4_000, costUsd: null, turns: null, summary: "", pushed: { branch: "main", url: "https://github.com/acme/widgets/tree/main" } }),
      },
      line: "✅ Done in 4s in `eamonn`. Pushed to [`main`](https://github.com/acme/widgets/tree/main).\n\n_The agent left no summary._",
      reaction: "rocket",
    },
    {
      name: "failed with the run's reason",
      end: { state: "failed", detail: "x", ran: ran({ outcome: "failed", reason: "the agent did not finish: it stopped.", durationMs: 65_000, costUsd: 0.5 }) },
      line: "❌ Failed after 1m 5s: the agent did not finish: it stopped.",
      reaction: "confused",
    },
    {
      name: "failed because the executor threw (no report)",
      end: { state: "failed", detail: "Cannot read properties of undefined (reading 'spec')", ran: ran() },
      line: `❌ Failed after 5s: ${generic}`,
      reaction: "confused",
    },
    { name: "timed out", end: { state: "timed_out", detail: "stopped after 30 minute(s)", ran: ran() }, line: "⏱️ Stopped after 30 minutes (the time limit). Nothing was published.", reaction: null },
    {
      name: "cancelled while running, by someone",
      end: { state: "cancelled", detail: "cancelled while running by @alice", ran: ran(), cancellation: { by: "@alice" } },
      line: "🚫 Cancelled by @alice. Nothing was published.",
      reaction: null,
    },
    {
      name: "cancelled while queued (never ran), by no one named",
      end: { state: "cancelled", detail: "cancelled while queued", ran: null, cancellation: {} },
      line: "🚫 Cancelled. Nothing was published.",
      reaction: null,
    },
    { name: "given up before it ran", end: { state: "failed", detail: "interrupted by a restart twice", ran: null }, line: `❌ Failed: ${notRun}`, reaction: null },
    {
      // The work is out (a pull request): "Nothing was published" would be untrue.
      name: "cancelled after the run had published its work",
      end: { state: "cancelled", detail: "cancelled while running by @alice", ran: ran(doneReport), cancellation: { by: "@alice" } },
      line: [
        "✅ Done in 3m 12s · $0.42 · 7 turns in `eamonn`. Opened [#13](https://github.com/acme/widgets/pull/13).",
        "",
        `> ${doneReport.note}`,
        "",
        "Added `hello.txt`.",
      ].join("\n"),
      reaction: "rocket",
    },
  ];

  for (const c of cases) {
    it(`${c.name}: the comment${c.reaction ? ` and ${c.reaction}` : ", no reaction"}`, async () => {
      const id = `end-${cases.indexOf(c)}`;
      const { reporter: r, warnings } = reporter();
      // The comment the task's "queued" made, found again by its marker.
      const scope = nock(API)
        .get(COMMENTS)
        .query(true)
        .reply(200, [{ id: 77, body: queued(id) }])
        .patch(COMMENT, { body: body(id, c.line.replaceAll("{id}", id)) })
        .reply(200, { id: 77 });
      if (c.reaction) scope.post(REACTIONS, { content: c.reaction }).reply(201, {});
      await r.finished(task(id), { slot: "eamonn", ...c.end });
      scope.done();
      // An unexpected request (a reaction where none belongs) would have failed and been logged.
      expect(warnings()).toEqual([]);
      expect(r.size).toBe(0);
    });
  }
});

describe("AgentReporter and the CI fix loop", () => {
  it("a fix task writes nothing of its own: no comment, no reaction, at any stage", async () => {
    const { reporter: r, warnings } = reporter();
    const fix = { ...task("fix-root-1"), fix: { rootTask: "root", attempt: 1, of: 2, pullRequest: { number: 13, headRef: "b", headSha: "c".repeat(40) }, slot: "eamonn", failures: [], logTail: "", exitCode: 1, checkName: "devs-ci" } };
    await r.queued(fix, { slot: "eamonn", position: 0 });
    await r.started(fix, { slot: "eamonn", interrupted: false });
    await r.finished(fix, { slot: "eamonn", state: "done", detail: "pushed b", ran: ran(doneReport) });
    // Any request would have found no interceptor, failed and been logged.
    expect(warnings()).toEqual([]);
    expect(r.size).toBe(0);
  });

  it("the root task's last word keeps the loop's line when a CI run ended first", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const r = new AgentReporter({
      github: async () => ({ octokit }),
      timeoutMinutes: 30,
      log,
      loopSteps: (id) => (id === "root-1" ? [{ kind: "ci_failed", failed: 2, exitCode: 1 }, { kind: "fixing", attempt: 1, of: 2 }] : []),
    });
    const scope = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [{ id: 77, body: queued("root-1") }])
      .patch(COMMENT, (b: { body: string }) => b.body.startsWith(body("root-1", "✅ Done in 3m 12s")) && b.body.endsWith("<!-- devs-webhook:loop -->\nCI failed (2 tests) → fixing, attempt 1 of 2"))
      .reply(200, { id: 77 })
      .post(REACTIONS, { content: "rocket" })
      .reply(201, {});
    await r.finished(task("root-1"), { slot: "eamonn", state: "done", detail: "opened #13", ran: ran(doneReport) });
    scope.done();
  });
});

describe("AgentReporter through the pool", () => {
  it("a late 'running' never lands after the final comment, however slow GitHub is", async () => {
    const { reporter: r } = reporter();
    const t = task("order");
    const seen: string[] = [];
    const record = (b: { body: string }) => {
      seen.push(b.body);
      return true;
    };
    const done = body("order", "✅ Done in 3m 12s · $0.42 · 7 turns in `eamonn`. Opened [#13](https://github.com/acme/widgets/pull/13).\n\nTime: queue 0.0s\n\n> " + doneReport.note + "\n\nAdded `hello.txt`.");
    const scope = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [])
      .post(COMMENTS, (b: { body: string }) => record(b) && b.body === queued("order"))
      .reply(201, { id: 77 })
      // GitHub takes its time over "running"; the executor is done long before.
      .patch(COMMENT, (b: { body: string }) => record(b) && b.body === running("order"))
      .delay(400)
      .reply(200, { id: 77 })
      .patch(COMMENT, (b: { body: string }) => record(b) && b.body === done)
      .reply(200, { id: 77 })
      .post(REACTIONS, { content: "rocket" })
      .reply(201, {});
    const execute: TaskExecutor<AgentReport> = async () => ({ state: "done", detail: "opened #13", report: doneReport });
    const end = await runInPool(t, { execute, reporter: r });
    scope.done();
    expect(end.state).toBe("done");
    expect(seen).toEqual([queued("order"), running("order"), done]);
  });

  it("a failed 'running' and a failed final comment are logged, and the reaction still comes", async () => {
    const { reporter: r, log, lines } = reporter();
    const scope = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [])
      .post(COMMENTS, { body: queued("flaky") })
      .reply(201, { id: 77 })
      .patch(COMMENT, { body: running("flaky") })
      .reply(502, { message: "Bad Gateway" })
      .patch(COMMENT, { body: body("flaky", "❌ Failed after 2s: the agent did not finish: it stopped.\n\nTime: queue 0.0s") })
      .reply(502, { message: "Bad Gateway" })
      .post(REACTIONS, { content: "confused" })
      .reply(201, {});
    const execute: TaskExecutor<AgentReport> = async () => ({
      state: "failed",
      detail: "the agent did not finish: it stopped.",
      report: { outcome: "failed", reason: "the agent did not finish: it stopped.", durationMs: 2_000 },
    });
    const end = await runInPool(task("flaky"), { execute, reporter: r }, { log });
    scope.done();
    expect(end.state).toBe("failed");
    // The pool logs a reporter call that threw; the reporter logs what it carried on past.
    expect(lines.find((l) => l.msg === "could not report the task to GitHub")).toMatchObject({ level: 40, task: "flaky", report: "started" });
    expect(lines.find((l) => l.msg === "could not say on GitHub how the task ended")).toMatchObject({ level: 40, task: "flaky", slot: "eamonn", state: "failed" });
    expect(r.size).toBe(0);
  });

  it("a reaction GitHub refuses is logged, and the finish completes", async () => {
    const { reporter: r, log, lines } = reporter();
    const scope = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [])
      .post(COMMENTS, { body: queued("norocket") })
      .reply(201, { id: 77 })
      .patch(COMMENT, { body: running("norocket") })
      .reply(200, { id: 77 })
      .patch(COMMENT, (b: { body: string }) => b.body.startsWith(body("norocket", "✅ Done in 3m 12s")))
      .reply(200, { id: 77 })
      .post(REACTIONS, { content: "rocket" })
      .reply(403, { message: "Resource not accessible by integration" });
    const execute: TaskExecutor<AgentReport> = async () => ({ state: "done", report: doneReport });
    expect((await runInPool(task("norocket"), { execute, reporter: r }, { log })).state).toBe("done");
    scope.done();
    expect(lines.find((l) => l.msg === "could not react 🚀")).toMatchObject({ level: 40, task: "norocket" });
    expect(r.size).toBe(0);
  });

  it("an executor that threw shows one generic line: nothing of its message (a token, a host path) reaches GitHub", async () => {
    const { reporter: r } = reporter();
    const token = "ghs_R3alLookingInstallationToken000000000";
    const path = "/home/devs/.devs-webhook/repos/acme/widgets.git";
    let final = "";
    const scope = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [])
      .post(COMMENTS, { body: queued("thrown") })
      .reply(201, { id: 77 })
      .patch(COMMENT, { body: running("thrown") })
      .reply(200, { id: 77 })
      .patch(COMMENT, (b: { body: string }) => Boolean((final = b.body)))
      .reply(200, { id: 77 })
      .post(REACTIONS, { content: "confused" })
      .reply(201, {});
    // What an attacker who controls the repository could make an error say.
    const execute: TaskExecutor<AgentReport> = async () => {
      throw new Error(`fatal: could not read ${path}: token=${token} ](https://evil.example/x)`);
    };
    const { pool, journal, finished } = testPool("agent", { execute, reporter: r });
    const t = task("thrown");
    await pool.submit(t);
    const end = await finished(t);
    await pool.close();
    scope.done();
    expect(end).toMatchObject({ state: "failed", ran: { report: undefined } });
    expect(final).toMatch(new RegExp(`^${markerFor("thrown")}\\n❌ Failed after \\d+s: ${generic.replace("{id}", "thrown").replace(/[.()`;]/g, "\\$&")}\n\nTime: queue 0\\.0s$`));
    for (const secret of [token, path, "ghs_", "/home/", "evil.example", "fatal"]) expect(final).not.toContain(secret);
    // The journal keeps the error for the operator.
    expect(journal.get("thrown")?.detail).toContain(path);
  });

  it("a time limit: the timed-out comment from the pool's state, with the configured minutes", async () => {
    const { reporter: r } = reporter();
    const scope = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [])
      .post(COMMENTS, { body: queued("slow") })
      .reply(201, { id: 77 })
      .patch(COMMENT, { body: running("slow") })
      .reply(200, { id: 77 })
      .patch(COMMENT, { body: body("slow", "⏱️ Stopped after 30 minutes (the time limit). Nothing was published.") })
      .reply(200, { id: 77 });
    // As the runner does on abort: a failed verdict and no report.
    const execute: TaskExecutor<AgentReport> = (_task, ctx) =>
      new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve({ state: "failed", detail: "aborted (timeout)" }), { once: true }));
    const end = await runInPool(task("slow"), { execute, reporter: r }, { timeoutMs: 100 });
    scope.done();
    expect(end.state).toBe("timed_out");
  });

  it("cancelled while running, and another cancelled while queued behind it: each says who, neither reacts", async () => {
    const { reporter: r, warnings } = reporter();
    const first = task("first");
    const second = task("second");
    second.target.number = 13;
    const scope = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [])
      .post(COMMENTS, { body: queued("first") })
      .reply(201, { id: 77 })
      .get("/repos/acme/widgets/issues/13/comments")
      .query(true)
      .reply(200, [])
      .post("/repos/acme/widgets/issues/13/comments", { body: body("second", "⏳ Queued for `eamonn` (1 ahead).") })
      .reply(201, { id: 78 })
      .patch(COMMENT, { body: running("first") })
      .reply(200, { id: 77 })
      .patch("/repos/acme/widgets/issues/comments/78", { body: body("second", "🚫 Cancelled by an operator. Nothing was published.") })
      .reply(200, { id: 78 })
      .patch(COMMENT, { body: body("first", "🚫 Cancelled by @alice. Nothing was published.") })
      .reply(200, { id: 77 });
    const execute: TaskExecutor<AgentReport> = (_task, ctx) =>
      new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve({ state: "failed", detail: "aborted (cancelled)" }), { once: true }));
    const { pool, events, finished } = testPool("agent", { execute, reporter: r });
    await pool.submit(first);
    await pool.submit(second);
    while (!events.some((e) => e.type === "started") || events.filter((e) => e.type === "queued").length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(pool.cancel("second", { by: "an operator" })).toBe(true);
    expect(pool.cancel("first", { by: "@alice" })).toBe(true);
    expect((await finished(first)).state).toBe("cancelled");
    expect(await finished(second)).toMatchObject({ state: "cancelled", ran: null });
    await pool.close();
    scope.done();
    expect(warnings()).toEqual([]);
    expect(r.size).toBe(0);
  });

  it("a shutdown says nothing after 'running' and forgets the task; the next start edits the same comment", async () => {
    const { reporter: r, warnings, log } = reporter();
    const t = task("restart");
    let attempts = 0;
    const execute: TaskExecutor<AgentReport> = (_task, ctx) => {
      if (++attempts > 1) return Promise.resolve({ state: "done", report: doneReport });
      return new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve({ state: "failed", detail: "aborted (shutdown)" }), { once: true }));
    };
    const before = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [])
      .post(COMMENTS, { body: queued("restart") })
      .reply(201, { id: 77 })
      .patch(COMMENT, { body: running("restart") })
      .reply(200, { id: 77 });
    const dataDir = tempDir("devs-test-reporter-");
    const first = testPool("agent", { execute, reporter: r }, { dataDir, log });
    await first.pool.submit(t);
    while (!first.events.some((e) => e.type === "started")) await new Promise((resolve) => setTimeout(resolve, 5));
    await first.pool.close();
    expect(first.events.map((e) => e.type).sort()).toEqual(["queued", "started", "suspended"]);
    before.done();
    expect(r.size).toBe(0);

    // The next start (same journal): the comment is found by its marker and edited, not posted
    // again. A shutdown requeued it cleanly, so it is not shown as retrying (only a crash is).
    const after = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [{ id: 77, body: running("restart") }])
      .patch(COMMENT, { body: queued("restart") })
      .reply(200, { id: 77 })
      .patch(COMMENT, { body: running("restart") })
      .reply(200, { id: 77 })
      .patch(COMMENT, (b: { body: string }) => b.body.startsWith(body("restart", "✅ Done in 3m 12s")))
      .reply(200, { id: 77 })
      .post(REACTIONS, { content: "rocket" })
      .reply(201, {});
    const second = testPool("agent", { execute, reporter: r }, { dataDir, log });
    expect((await second.finished(t)).state).toBe("done");
    await second.pool.close();
    after.done();
    expect(warnings()).toEqual([]);
    expect(r.size).toBe(0);
  });

  /** The journal as a crash leaves it: the task marked running `attempts` times, never finished. */
  function crashedWhileRunning(t: Task, attempts: number): string {
    const dataDir = tempDir("devs-test-reporter-");
    const journal = new TaskJournal(openDatabase(dataDir));
    journal.add(t);
    for (let i = 0; i < attempts; i++) journal.markRunning(t.id, "eamonn");
    return dataDir;
  }

  it("after a crash the task runs again, and its comment says it is retrying", async () => {
    const { reporter: r, warnings, log } = reporter();
    const t = task("crashed");
    const dataDir = crashedWhileRunning(t, 1);
    const scope = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [{ id: 77, body: running("crashed") }])
      .patch(COMMENT, { body: queued("crashed") })
      .reply(200, { id: 77 })
      .patch(COMMENT, { body: body("crashed", "⚙️ Working in `eamonn` since 2026-11-29T10:00:00Z (retrying after a restart).") })
      .reply(200, { id: 77 })
      .patch(COMMENT, (b: { body: string }) => b.body.startsWith(body("crashed", "✅ Done in 3m 12s")))
      .reply(200, { id: 77 })
      .post(REACTIONS, { content: "rocket" })
      .reply(201, {});
    const execute: TaskExecutor<AgentReport> = async () => ({ state: "done", report: doneReport });
    const { pool, finished } = testPool("agent", { execute, reporter: r }, { dataDir, log });
    expect((await finished(t)).state).toBe("done");
    await pool.close();
    scope.done();
    expect(warnings()).toEqual([]);
  });

  it("given up after a second crash: the comment left at 'retrying' is edited to a failure, with no reaction", async () => {
    const { reporter: r, warnings, log } = reporter();
    const t = task("twice");
    const dataDir = crashedWhileRunning(t, 2);
    const scope = nock(API)
      .get(COMMENTS)
      .query(true)
      .reply(200, [{ id: 77, body: body("twice", "⚙️ Working in `eamonn` since 2026-11-29T09:00:00Z (retrying after a restart).") }])
      .patch(COMMENT, { body: body("twice", `❌ Failed: ${notRun.replace("{id}", "twice")}`) })
      .reply(200, { id: 77 });
    const execute: TaskExecutor<AgentReport> = async () => {
      throw new Error("a task given up on must not run");
    };
    const { pool, finished } = testPool("agent", { execute, reporter: r }, { dataDir, log });
    expect(await finished(t)).toMatchObject({ state: "failed", ran: null });
    await pool.close();
    scope.done();
    expect(warnings()).toEqual([]);
    expect(r.size).toBe(0);
  });
});
