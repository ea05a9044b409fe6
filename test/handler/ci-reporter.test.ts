// The CI reporter with the real pool and journal, and nock for GitHub (exact bodies): every stage
// of a task's check in order whoever is slow, the check found again by its external_id after a
// restart, and every way a task ends — with the runner's report, cancelled while queued,
// superseded by a newer push, a runner that threw, a report GitHub refused — completing it.
import nock from "nock";
import { pino } from "pino";
import { Probot } from "probot";
import { describe, expect, it } from "vitest";
import { CiReporter, type CiReport } from "../../src/ci/reporter.js";
import { supersedeQueued } from "../../src/ci/supersede.js";
import { ContainerPool } from "../../src/pool/pool.js";
import { createRedactor } from "../../src/publish/redact.js";
import type { TaskExecutor } from "../../src/tasks/execution.js";
import { openDatabase } from "../../src/tasks/database.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import type { CiSnapshot, Task } from "../../src/tasks/task.js";
import { exactBody, strictCiNock } from "../helpers/ci.js";
import { TestOctokit } from "../helpers/probot.js";
import { tempDir } from "../helpers/settings.js";
import { ciTask as pushTask } from "../helpers/tasks.js";
import { until } from "../helpers/until.js";

const API = "https://api.github.com";
const REPO = "/repos/acme/widgets";
const SHA = "0123456789abcdef0123456789abcdef01234567";
const NOW = "2026-11-29T12:00:00Z";
const SECRET = "hunter2-operator-secret";
const log = pino({ level: "silent" });
strictCiNock();

/** A CI task for a push to main as the handler makes it, with its own id and snapshot fields. */
const ciTask = (id: string, ci: Partial<CiSnapshot> = {}): Task => pushTask({ id, ci: { headSha: SHA, ...ci } });

async function reporter(): Promise<CiReporter> {
  const probot = new Probot({ githubToken: "test-token", Octokit: TestOctokit, log });
  const octokit = await probot.auth();
  return new CiReporter({ github: async () => ({ octokit, token: "test-token" }), redact: createRedactor([SECRET]), log, now: () => new Date(NOW) });
}

function setup(execute: TaskExecutor<CiReport>, r: CiReporter, dataDir = tempDir()) {
  const journal = new TaskJournal(openDatabase(dataDir));
  const pool = new ContainerPool({ slots: { main: ["eamonn"], ci: [] }, journal, log, maxConcurrent: 1, timeoutMs: 60_000, kinds: { ci: { execute, reporter: r } } });
  return { pool, journal };
}

/** A task back from the journal: its check is looked up by external_id first, and none is found (or `runs`). */
function lookup(scope: nock.Scope, runs: Array<{ id: number; external_id: string }> = [], sha = SHA): nock.Scope {
  return scope
    .get(`${REPO}/commits/${sha}/check-runs`)
    .query({ check_name: "devs-ci", filter: "all", per_page: "100" })
    .reply(200, { total_count: runs.length, check_runs: runs });
}

const QUEUED = { title: "Queued", summary: "Waiting for a container to run `./runtests.sh` on `0123456`, for the push to `main` by @alice." };
const RUNNING = { title: "Running in eamonn", summary: "Running `./runtests.sh` in container `eamonn`." };
const PASSED: CiReport = { conclusion: "success", output: { title: "Tests passed", summary: "- **Exit code:** 0", text: "```text\nok\n```" }, annotations: [], detailsUrl: null };
const completedBody = (conclusion: string, output: object) => ({ status: "completed", conclusion, completed_at: NOW, output });

describe("a task's check, stage by stage", () => {
  it("queued when the pool places it, in progress, completed with the runner's report: in order even when GitHub is slow", async () => {
    const r = await reporter();
    const order: string[] = [];
    const scope = nock(API)
      .post(`${REPO}/check-runs`, exactBody({ name: "devs-ci", head_sha: SHA, external_id: "ci-d1", status: "queued", output: QUEUED }))
      .delay(300)
      .reply(201, () => (order.push("queued"), { id: 77 }))
      .patch(`${REPO}/check-runs/77`, exactBody({ status: "in_progress", started_at: NOW, output: RUNNING }))
      .reply(200, () => (order.push("in_progress"), { id: 77 }))
      .patch(
        `${REPO}/check-runs/77`,
        exactBody(completedBody("failure", { ...PASSED.output, title: "Tests failed: 1 failed", annotations: [{ path: "a.ts", start_line: 3, end_line: 3, annotation_level: "failure", message: "boom" }] })),
      )
      .reply(200, () => (order.push("completed"), { id: 77 }));
    // The runner does not wait for GitHub: it is done before the queued check exists.
    const { pool } = setup(async () => ({
      state: "done",
      report: {
        conclusion: "failure",
        output: { ...PASSED.output, title: "Tests failed: 1 failed" },
        annotations: [{ path: "a.ts", start_line: 3, end_line: 3, annotation_level: "failure", message: "boom" }],
        detailsUrl: null,
      },
    }), r);
    pool.start();
    await pool.submit(ciTask("ci-d1"));
    await pool.idle();
    await until(() => scope.isDone() && r.size === 0);
    expect(order).toEqual(["queued", "in_progress", "completed"]);
    scope.done();
  });

  it("the queued check cannot be created: the task runs anyway, and the next write creates the check", async () => {
    const r = await reporter();
    const scope = nock(API)
      .post(`${REPO}/check-runs`)
      .reply(500, { message: "boom" })
      .post(`${REPO}/check-runs`, exactBody({ name: "devs-ci", head_sha: SHA, external_id: "ci-d2", status: "in_progress", started_at: NOW, output: RUNNING }))
      .reply(201, { id: 12 })
      .patch(`${REPO}/check-runs/12`, exactBody(completedBody("success", PASSED.output)))
      .reply(200, { id: 12 });
    const { pool } = setup(async () => ({ state: "done", report: PASSED }), r);
    pool.start();
    await pool.submit(ciTask("ci-d2"));
    await pool.idle();
    await until(() => scope.isDone());
    scope.done();
  });

  it("what the reporter renders never shows the settings' secrets (a test command that names one)", async () => {
    const r = await reporter();
    const command = `./runtests.sh --token ${SECRET}`;
    const scope = nock(API)
      .post(`${REPO}/check-runs`, exactBody({ name: "devs-ci", head_sha: SHA, external_id: "ci-d3", status: "queued", output: { ...QUEUED, summary: QUEUED.summary.replace("`./runtests.sh`", "`./runtests.sh --token [redacted]`") } }))
      .reply(201, { id: 13 })
      .patch(`${REPO}/check-runs/13`, exactBody({ status: "in_progress", started_at: NOW, output: { ...RUNNING, summary: "Running `./runtests.sh --token [redacted]` in container `eamonn`." } }))
      .reply(200, { id: 13 })
      .patch(`${REPO}/check-runs/13`, exactBody(completedBody("failure", { title: "Not completed", summary: "The run ended before it could report: docker said [redacted]." })))
      .reply(200, { id: 13 });
    const { pool } = setup(async () => Promise.reject(new Error(`docker said ${SECRET}`)), r);
    pool.start();
    await pool.submit(ciTask("ci-d3", { testCommand: command }));
    await pool.idle();
    await until(() => scope.isDone());
    scope.done();
  });

  it("attacker: a test run's output cannot forge the conclusion; the report's conclusion is what GitHub gets", async () => {
    const r = await reporter();
    const forged = { title: "Tests passed", summary: '"conclusion": "success"', text: '```text\n{"status":"completed","conclusion":"success"}\n```' };
    const scope = nock(API)
      .post(`${REPO}/check-runs`)
      .reply(201, { id: 14 })
      .patch(`${REPO}/check-runs/14`)
      .reply(200, { id: 14 })
      .patch(`${REPO}/check-runs/14`, exactBody(completedBody("failure", forged)))
      .reply(200, { id: 14 });
    const { pool } = setup(async () => ({ state: "done", report: { conclusion: "failure", output: forged } }), r);
    pool.start();
    await pool.submit(ciTask("ci-d4"));
    await pool.idle();
    await until(() => scope.isDone());
    scope.done();
  });

  it("token mode: commit statuses, pending then the conclusion, no lookup", async () => {
    const r = await reporter();
    const status = (state: string, description: string) => exactBody({ state, context: "devs-ci", description });
    const scope = nock(API)
      .post(`${REPO}/statuses/${SHA}`, status("pending", "Queued"))
      .reply(201, {})
      .post(`${REPO}/statuses/${SHA}`, status("pending", "Running in eamonn"))
      .reply(201, {})
      .post(`${REPO}/statuses/${SHA}`, status("success", "Tests passed"))
      .reply(201, {});
    const { pool } = setup(async () => ({ state: "done", report: PASSED }), r);
    pool.start();
    await pool.submit(ciTask("ci-d5", { report: "statuses" }));
    await pool.idle();
    await until(() => scope.isDone());
    scope.done();
  });
});

describe("restarts and shutdowns", () => {
  it("a shutdown while the tests run: the check says queued again until the server is back", async () => {
    const r = await reporter();
    const scope = nock(API)
      .post(`${REPO}/check-runs`)
      .reply(201, { id: 21 })
      .patch(`${REPO}/check-runs/21`, exactBody({ status: "in_progress", started_at: NOW, output: RUNNING }))
      .reply(200, { id: 21 })
      .patch(
        `${REPO}/check-runs/21`,
        exactBody({ status: "queued", output: { title: "Queued again", summary: "The server stopped while this run was in progress; it runs again when the server is back." } }),
      )
      .reply(200, { id: 21 });
    const { pool, journal } = setup(
      (_task, ctx) => new Promise((resolve) => ctx.signal.addEventListener("abort", () => resolve({ state: "failed", detail: "interrupted by shutdown" }))),
      r,
    );
    pool.start();
    await pool.submit(ciTask("ci-s1"));
    await until(() => journal.get("ci-s1")!.state === "running");
    await pool.close();
    await until(() => scope.isDone() && r.size === 0);
    expect(journal.get("ci-s1")!.state).toBe("queued");
    scope.done();
  });

  it("after a restart: an interrupted run is found by its external_id and queued again (saying so), a run interrupted twice is completed, a task of an older build uses the id it carries", async () => {
    const dataDir = tempDir();
    const journal = new TaskJournal(openDatabase(dataDir));
    const once = ciTask("ci-once", { headSha: "1".repeat(40) });
    const twice = ciTask("ci-twice", { headSha: "2".repeat(40) });
    const older = ciTask("ci-older-build", { checkRunId: 3 });
    for (const t of [once, twice, older]) journal.add(t);
    journal.markRunning(once.id, "eamonn");
    journal.markRunning(twice.id, "eamonn");
    journal.requeue(twice.id); // a graceful shutdown does not count…
    journal.markRunning(twice.id, "eamonn");
    journal.markRunning(twice.id, "eamonn"); // …two crashes do.
    const r = await reporter();
    const again = { title: "Queued again", summary: "A restart of the server interrupted this run; it runs again from the start when `eamonn` is free." };
    const scope = nock(API);
    lookup(scope, [{ id: 9, external_id: "ci-other" }, { id: 2, external_id: "ci-twice" }], "2".repeat(40))
      .patch(`${REPO}/check-runs/2`, exactBody(completedBody("failure", { title: "Not completed", summary: "The run ended before it could report: interrupted by a restart twice." })))
      .reply(200, { id: 2 });
    lookup(scope, [{ id: 1, external_id: "ci-once" }], "1".repeat(40))
      .patch(`${REPO}/check-runs/1`, exactBody({ status: "queued", output: again }))
      .reply(200, { id: 1 })
      .patch(`${REPO}/check-runs/1`, exactBody({ status: "in_progress", started_at: NOW, output: { ...RUNNING, summary: "Running `./runtests.sh` in container `eamonn` (again, after a restart interrupted the first attempt)." } }))
      .reply(200, { id: 1 })
      .patch(`${REPO}/check-runs/1`, exactBody(completedBody("success", PASSED.output)))
      .reply(200, { id: 1 });
    // Queued before the restart and never started: its check still says so, nothing is written until it runs.
    scope
      .patch(`${REPO}/check-runs/3`, exactBody({ status: "in_progress", started_at: NOW, output: RUNNING }))
      .reply(200, { id: 3 })
      .patch(`${REPO}/check-runs/3`, exactBody(completedBody("success", PASSED.output)))
      .reply(200, { id: 3 });
    const ran: Array<[string, boolean]> = [];
    const { pool } = setup(async (task, ctx) => {
      ran.push([task.id, ctx.interrupted]);
      return { state: "done", report: PASSED };
    }, r, dataDir);
    expect(pool.start()).toEqual({ requeued: 2, abandoned: 1 });
    await pool.idle();
    await until(() => scope.isDone() && r.size === 0);
    expect(ran).toEqual([[once.id, true], [older.id, false]]);
    scope.done();
  });

  it("after a restart, a run that never started keeps its queued check as it is (found by its external_id)", async () => {
    const dataDir = tempDir();
    const journal = new TaskJournal(openDatabase(dataDir));
    journal.add(ciTask("ci-waited"));
    const r = await reporter();
    const scope = lookup(nock(API), [{ id: 4, external_id: "ci-waited" }])
      .patch(`${REPO}/check-runs/4`, exactBody({ status: "in_progress", started_at: NOW, output: RUNNING }))
      .reply(200, { id: 4 })
      .patch(`${REPO}/check-runs/4`, exactBody(completedBody("success", PASSED.output)))
      .reply(200, { id: 4 });
    const { pool } = setup(async () => ({ state: "done", report: PASSED }), r, dataDir);
    pool.start();
    await pool.idle();
    await until(() => scope.isDone());
    scope.done();
  });
});

describe("a task that ends without the runner's report", () => {
  it("cancelled while queued: completed `cancelled` with the pool's reason; the run ahead of it reports itself", async () => {
    const r = await reporter();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const scope = nock(API);
    scope.post(`${REPO}/check-runs`, (b: { head_sha: string }) => b.head_sha === "1".repeat(40)).reply(201, { id: 31 });
    scope
      .post(`${REPO}/check-runs`, exactBody({ name: "devs-ci", head_sha: "2".repeat(40), external_id: "ci-waits", status: "queued", output: { ...QUEUED, summary: QUEUED.summary.replace("0123456", "2222222") } }))
      .reply(201, { id: 32 })
      .patch(`${REPO}/check-runs/32`, exactBody(completedBody("cancelled", { title: "Cancelled", summary: "The run ended before it could report: cancelled while queued by an operator." })))
      .reply(200, { id: 32 });
    scope
      .patch(`${REPO}/check-runs/31`, exactBody({ status: "in_progress", started_at: NOW, output: RUNNING }))
      .reply(200, { id: 31 })
      .patch(`${REPO}/check-runs/31`, exactBody(completedBody("success", PASSED.output)))
      .reply(200, { id: 31 });
    const { pool, journal } = setup(async () => {
      await gate;
      return { state: "done", report: PASSED };
    }, r);
    pool.start();
    await pool.submit(ciTask("ci-runs", { headSha: "1".repeat(40) }));
    await pool.submit(ciTask("ci-waits", { headSha: "2".repeat(40) }));
    // Placed in its slot's queue (routing is asynchronous).
    await until(() => journal.get("ci-waits")!.slot !== null);
    expect(pool.cancel("ci-waits", { by: "an operator" })).toBe(true);
    release();
    await pool.idle();
    await until(() => scope.isDone() && r.size === 0);
    scope.done();
  });

  it("a runner that threw: the check is completed from the task's end state", async () => {
    const r = await reporter();
    const scope = nock(API)
      .post(`${REPO}/check-runs`)
      .reply(201, { id: 41 })
      .patch(`${REPO}/check-runs/41`, exactBody({ status: "in_progress", started_at: NOW, output: RUNNING }))
      .reply(200, { id: 41 })
      .patch(`${REPO}/check-runs/41`, exactBody(completedBody("failure", { title: "Not completed", summary: "The run ended before it could report: docker went away." })))
      .reply(200, { id: 41 });
    const { pool } = setup(async () => Promise.reject(new Error("docker went away")), r);
    pool.start();
    await pool.submit(ciTask("ci-crash"));
    await pool.idle();
    await until(() => scope.isDone());
    scope.done();
  });

  it("a report GitHub refuses: the check is completed anyway, saying why, not left running", async () => {
    const r = await reporter();
    const scope = nock(API)
      .post(`${REPO}/check-runs`)
      .reply(201, { id: 51 })
      .patch(`${REPO}/check-runs/51`, exactBody({ status: "in_progress", started_at: NOW, output: RUNNING }))
      .reply(200, { id: 51 })
      .patch(`${REPO}/check-runs/51`, exactBody(completedBody("success", PASSED.output)))
      .reply(422, { message: "Invalid request" })
      .patch(`${REPO}/check-runs/51`, exactBody(completedBody("failure", { title: "Not completed", summary: "The run ended before it could report: Invalid request." })))
      .reply(200, { id: 51 });
    const { pool } = setup(async () => ({ state: "done", report: PASSED }), r);
    pool.start();
    await pool.submit(ciTask("ci-refused"));
    await pool.idle();
    await until(() => scope.isDone() && r.size === 0);
    scope.done();
  });
});

describe("a newer push to a pull request (supersedeQueued)", () => {
  it("cancels only the pull request's queued runs (not the new one, not other PRs, not running ones); each older check names the newer commit", async () => {
    const r = await reporter();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { pool, journal } = setup(async () => {
      await gate;
      return { state: "done", report: PASSED };
    }, r);
    pool.start();
    const pr = (n: number) => ({ trigger: "pull_request" as const, ref: `refs/pull/${n}/head`, pullRequest: { number: n, baseRef: "main", fromFork: false } });
    const running = ciTask("running-12", { ...pr(12), checkRunId: 10 });
    const older = ciTask("older-12", { ...pr(12), checkRunId: 11, headSha: "1".repeat(40) });
    const newStyle = ciTask("new-style-12", { ...pr(12), headSha: "2".repeat(40) });
    const otherPr = ciTask("other-13", { ...pr(13), checkRunId: 13 });
    const newer = ciTask("newer-12", { ...pr(12), checkRunId: 14, headSha: "f".repeat(40) });
    // Everything before the supersede: the queued and in-progress writes.
    const before = nock(API).patch(/check-runs\/10$/).reply(200, {});
    before.post(`${REPO}/check-runs`, (b: { external_id: string }) => b.external_id === "new-style-12").reply(201, { id: 12 });
    for (const t of [running, older, newStyle, otherPr, newer]) await pool.submit(t);
    await until(() => journal.get(running.id)!.state === "running" && journal.get(newer.id)!.slot !== null && before.isDone());
    const superseded = (id: number) =>
      nock(API)
        .patch(
          `${REPO}/check-runs/${id}`,
          exactBody(
            completedBody("cancelled", {
              title: "Cancelled: a newer commit was pushed",
              summary: "A newer commit (`fffffff`) was pushed to this pull request before this run started; its run replaces this one.",
            }),
          ),
        )
        .reply(200, {});
    const scopes = [superseded(11), superseded(12)];
    const ids = await supersedeQueued(journal, pool)({ repo: running.repo, prNumber: 12, headSha: "f".repeat(40), keepTaskId: newer.id });
    expect(ids).toEqual([older.id, newStyle.id]);
    expect([older, newStyle, otherPr, newer, running].map((t) => journal.get(t.id)!.state)).toEqual(["cancelled", "cancelled", "queued", "queued", "running"]);
    await until(() => scopes.every((s) => s.isDone()));
    // The rest runs and reports itself.
    const rest = nock(API).patch(/check-runs\/(10|13|14)$/).times(5).reply(200, {});
    release();
    await pool.idle();
    await until(() => rest.isDone() && r.size === 0);
  });

  it("token mode: the superseded commit's status turns to error", async () => {
    const r = await reporter();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { pool, journal } = setup(async () => {
      await gate;
      return { state: "done", report: PASSED };
    }, r);
    pool.start();
    const pr = { trigger: "pull_request" as const, ref: "refs/pull/12/head", pullRequest: { number: 12, baseRef: "main", fromFork: false }, report: "statuses" as const };
    const running = ciTask("running", { ...pr, headSha: "1".repeat(40) });
    const older = ciTask("older", { ...pr, headSha: "a".repeat(40) });
    const before = nock(API).post(/statuses/).times(3).reply(201, {});
    for (const t of [running, older]) await pool.submit(t);
    await until(() => journal.get(running.id)!.state === "running" && journal.get(older.id)!.slot !== null && before.isDone());
    const scope = nock(API).post(`${REPO}/statuses/${"a".repeat(40)}`, exactBody({ state: "error", context: "devs-ci", description: "Cancelled: a newer commit was pushed" })).reply(201, {});
    expect(await supersedeQueued(journal, pool)({ repo: running.repo, prNumber: 12, headSha: "f".repeat(40), keepTaskId: "newer" })).toEqual(["older"]);
    await until(() => scope.isDone());
    const rest = nock(API).post(`${REPO}/statuses/${"1".repeat(40)}`).reply(201, {});
    release();
    await pool.idle();
    await until(() => rest.isDone() && r.size === 0);
  });
});
