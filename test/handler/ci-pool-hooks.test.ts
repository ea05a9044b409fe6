// The CI check's life around the pool, with nock for GitHub (exact bodies) and the real pool and
// journal: writes in order whoever makes them, a check whose queued creation failed found again by
// its external_id, and every way a task ends without its runner's report completing the check.
import { allKinds } from "../helpers/tasks.js";
import nock from "nock";
import { pino } from "pino";
import { Probot } from "probot";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ciPoolListener, supersedeQueued } from "../../src/ci/pool-hooks.js";
import { CiReporter } from "../../src/ci/reporter.js";
import { ContainerPool, type PoolEvent } from "../../src/pool/pool.js";
import type { TaskExecutor } from "../../src/tasks/execution.js";
import { createRedactor } from "../../src/publish/redact.js";
import { openDatabase } from "../../src/tasks/database.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import type { CiSnapshot, Task } from "../../src/tasks/task.js";
import { exactBody, mismatches } from "../helpers/ci.js";
import { TestOctokit } from "../helpers/probot.js";
import { tempDir } from "../helpers/settings.js";
import { makeTask } from "../helpers/tasks.js";

const API = "https://api.github.com";
const REPO = "/repos/acme/widgets";
const SHA = "0123456789abcdef0123456789abcdef01234567";
const NOW = "2026-11-29T12:00:00Z";
const log = pino({ level: "silent" });
let unmatched: string[] = [];
async function until(check: () => boolean, ms = 5_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
const onNoMatch = (req: { method?: string; path?: string }) => unmatched.push(`${req.method} ${req.path}`);

beforeEach(() => {
  nock.disableNetConnect();
  unmatched = [];
  mismatches.length = 0;
  nock.emitter.on("no match", onNoMatch);
});
afterEach(() => {
  nock.emitter.removeListener("no match", onNoMatch);
  nock.cleanAll();
  expect(mismatches).toEqual([]);
  expect(unmatched).toEqual([]);
});

function ciTask(id: string, ci: Partial<CiSnapshot> = {}): Task {
  return {
    ...makeTask("acme/widgets", "ci", id),
    ci: {
      headSha: SHA,
      ref: "refs/heads/main",
      branch: "main",
      trigger: "push",
      pullRequest: null,
      testCommand: "./runtests.sh",
      checkName: "devs-ci",
      report: "checks",
      checkRunId: 77,
      ...ci,
    },
  };
}

async function reporter(): Promise<CiReporter> {
  const probot = new Probot({ githubToken: "test-token", Octokit: TestOctokit, log });
  const octokit = await probot.auth();
  return new CiReporter({ github: async () => ({ octokit, token: "test-token" }), log, now: () => new Date(NOW) });
}

describe("CiReporter", () => {
  it("keeps a task's writes in the order they were registered, even when the first is slow", async () => {
    const r = await reporter();
    const task = ciTask("ci-order");
    const order: string[] = [];
    const scope = nock(API)
      .patch(`${REPO}/check-runs/77`, exactBody({ status: "in_progress", started_at: NOW, output: { title: "Running in eamonn", summary: "Running in container `eamonn`." } }))
      .delay(300)
      .reply(200, () => (order.push("in_progress"), { id: 77 }))
      .patch(`${REPO}/check-runs/77`, exactBody({ status: "completed", conclusion: "success", completed_at: NOW, output: { title: "Tests passed", summary: "ok" } }))
      .reply(200, () => (order.push("completed"), { id: 77 }));
    const running = r.write(task, (check) => check.inProgress("eamonn"));
    const done = r.complete(task, { conclusion: "success", output: { title: "Tests passed", summary: "ok" } });
    await Promise.all([running, done]);
    expect(order).toEqual(["in_progress", "completed"]);
    expect(r.isCompleted(task.id)).toBe(true);
    scope.done();
  });

  it("a failed write does not stop the next", async () => {
    const r = await reporter();
    const task = ciTask("ci-fail-first");
    const scope = nock(API).patch(`${REPO}/check-runs/77`).reply(500, { message: "boom" }).patch(`${REPO}/check-runs/77`).reply(200, { id: 77 });
    await expect(r.write(task, (check) => check.inProgress("eamonn"))).rejects.toThrow();
    await r.complete(task, { conclusion: "failure", output: { title: "t", summary: "s" } });
    scope.done();
  });

  it("no check id in the task (the queued create failed): finds the one an earlier attempt created by external_id", async () => {
    const r = await reporter();
    const task = ciTask("ci-lookup", { checkRunId: null });
    const scope = nock(API)
      .get(`${REPO}/commits/${SHA}/check-runs`)
      .query({ check_name: "devs-ci", filter: "all", per_page: "100" })
      .reply(200, { total_count: 2, check_runs: [{ id: 5, external_id: "ci-other" }, { id: 6, external_id: "ci-lookup" }] })
      .patch(`${REPO}/check-runs/6`, exactBody({ status: "completed", conclusion: "cancelled", completed_at: NOW, output: { title: "Cancelled", summary: "s" } }))
      .reply(200, { id: 6 });
    await r.complete(task, { conclusion: "cancelled", output: { title: "Cancelled", summary: "s" } });
    scope.done();
  });

  it("…and creates it when there is none", async () => {
    const r = await reporter();
    const task = ciTask("ci-create", { checkRunId: null });
    const scope = nock(API)
      .get(`${REPO}/commits/${SHA}/check-runs`)
      .query(true)
      .reply(200, { total_count: 0, check_runs: [] })
      .post(`${REPO}/check-runs`, exactBody({ name: "devs-ci", head_sha: SHA, external_id: "ci-create", status: "in_progress", started_at: NOW, output: { title: "Running in harry", summary: "Running in container `harry`." } }))
      .reply(201, { id: 12 })
      .patch(`${REPO}/check-runs/12`, exactBody({ status: "completed", conclusion: "success", completed_at: NOW, output: { title: "Tests passed", summary: "ok" } }))
      .reply(200, { id: 12 });
    await r.write(task, (check) => check.inProgress("harry"));
    await r.complete(task, { conclusion: "success", output: { title: "Tests passed", summary: "ok" } });
    scope.done();
  });
});

describe("ciPoolListener with the real pool and journal", () => {
  function setup(executor: TaskExecutor, r: CiReporter, superseded = new Set<string>(), dataDir = tempDir()) {
    const journal = new TaskJournal(openDatabase(dataDir));
    const listener = ciPoolListener({ reporter: r, redact: createRedactor([]), log, superseded });
    const events: PoolEvent[] = [];
    const pool = new ContainerPool({
      slots: { main: ["eamonn"], ci: [] },
      journal,
      log,
      maxConcurrent: 1,
      timeoutMs: 60_000,
      kinds: allKinds(executor),
      onEvent: async (e) => {
        events.push(e);
        await listener(e);
      },
    });
    return { pool, journal, events, superseded, dataDir };
  }

  it("cancelled while queued: completed `cancelled` with the pool's reason; a run that reported itself gets nothing more", async () => {
    const r = await reporter();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const executor: TaskExecutor = async (task) => {
      await gate;
      await r.complete(task, { conclusion: "success", output: { title: "Tests passed", summary: "ok" } });
      return { state: "done" };
    };
    const { pool, journal } = setup(executor, r);
    pool.start();
    const scope = nock(API)
      .patch(`${REPO}/check-runs/88`, exactBody({ status: "completed", conclusion: "cancelled", completed_at: NOW, output: { title: "Cancelled", summary: "The run ended before it could report: cancelled while queued by an operator." } }))
      .reply(200, { id: 88 })
      .patch(`${REPO}/check-runs/77`, exactBody({ status: "completed", conclusion: "success", completed_at: NOW, output: { title: "Tests passed", summary: "ok" } }))
      .reply(200, { id: 77 });
    await pool.submit(ciTask("ci-runs"));
    await pool.submit(ciTask("ci-waits", { checkRunId: 88 }));
    // Placed in its container's queue (routing is asynchronous).
    await until(() => journal.get("ci-waits")!.slot !== null);
    expect(pool.cancel("ci-waits", { by: "an operator" })).toBe(true);
    release();
    await pool.idle();
    await until(() => scope.isDone());
  });

  it("a runner that could not report: the check is completed from the task's end state", async () => {
    const r = await reporter();
    const { pool } = setup(async () => {
      throw new Error("docker went away");
    }, r);
    pool.start();
    const scope = nock(API)
      .patch(`${REPO}/check-runs/77`, exactBody({ status: "completed", conclusion: "failure", completed_at: NOW, output: { title: "Not completed", summary: "The run ended before it could report: docker went away." } }))
      .reply(200, { id: 77 });
    await pool.submit(ciTask("ci-crash"));
    await pool.idle();
    scope.done();
  });

  it("after a restart: interrupted runs are queued again (and say so), runs interrupted twice are completed", async () => {
    const dataDir = tempDir();
    const journal = new TaskJournal(openDatabase(dataDir));
    const once = ciTask("ci-once", { checkRunId: 1 });
    const twice = ciTask("ci-twice", { checkRunId: 2 });
    journal.add(once);
    journal.add(twice);
    journal.markRunning(once.id, "eamonn");
    journal.markRunning(twice.id, "eamonn");
    journal.requeue(twice.id); // a graceful shutdown does not count…
    journal.markRunning(twice.id, "eamonn");
    journal.markRunning(twice.id, "eamonn"); // …two crashes do.
    const r = await reporter();
    const scope = nock(API)
      .patch(`${REPO}/check-runs/2`, exactBody({ status: "completed", conclusion: "failure", completed_at: NOW, output: { title: "Not completed", summary: "The run ended before it could report: interrupted by a restart twice." } }))
      .reply(200, { id: 2 })
      .patch(
        `${REPO}/check-runs/1`,
        exactBody({ status: "queued", output: { title: "Queued again", summary: "A restart of the server interrupted this run; it runs again from the start when `eamonn` is free." } }),
      )
      .reply(200, { id: 1 })
      .patch(`${REPO}/check-runs/1`, exactBody({ status: "completed", conclusion: "success", completed_at: NOW, output: { title: "Tests passed", summary: "again" } }))
      .reply(200, { id: 1 });
    const ran: Array<[string, boolean]> = [];
    const { pool } = setup(
      async (task, ctx) => {
        ran.push([task.id, ctx.interrupted]);
        await r.complete(task, { conclusion: "success", output: { title: "Tests passed", summary: "again" } });
        return { state: "done" };
      },
      r,
      new Set(),
      dataDir,
    );
    expect(pool.start()).toEqual({ requeued: 1, abandoned: 1 });
    await pool.idle();
    await r.settled(twice);
    expect(ran).toEqual([[once.id, true]]);
    scope.done();
  });
});

describe("supersedeQueued", () => {
  it("cancels only the pull request's queued runs (not the new one, not other PRs, not running ones); the listener leaves their checks to the handler", async () => {
    const r = await reporter();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const journal = new TaskJournal(openDatabase(tempDir()));
    const superseded = new Set<string>();
    const listener = ciPoolListener({ reporter: r, redact: createRedactor([]), log, superseded });
    const pool = new ContainerPool({
      slots: { main: ["eamonn"], ci: [] },
      journal,
      log,
      maxConcurrent: 1,
      timeoutMs: 60_000,
      kinds: allKinds(async (task) => {
        await gate;
        return { state: task.id === "running-12" ? "done" : "failed", detail: "not expected to run" };
      }),
      onEvent: listener,
    });
    pool.start();
    const pr = (n: number) => ({ trigger: "pull_request" as const, ref: `refs/pull/${n}/head`, pullRequest: { number: n, baseRef: "main", fromFork: false } });
    const running = ciTask("running-12", { ...pr(12), checkRunId: 10 });
    const older = ciTask("older-12", { ...pr(12), checkRunId: 11, headSha: "1".repeat(40) });
    const noCheck = ciTask("nocheck-12", { ...pr(12), checkRunId: null, headSha: "2".repeat(40) });
    const otherPr = ciTask("other-13", { ...pr(13), checkRunId: 13 });
    const newer = ciTask("newer-12", { ...pr(12), checkRunId: 14, headSha: "f".repeat(40) });
    for (const t of [running, older, noCheck, otherPr, newer]) await pool.submit(t);
    await until(() => journal.get(running.id)!.state === "running" && journal.get(newer.id)!.slot !== null);
    // The run without a check the handler knows of is completed by the listener (found by external_id, or created).
    const scope = nock(API)
      .get(`${REPO}/commits/${"2".repeat(40)}/check-runs`)
      .query(true)
      .reply(200, { total_count: 0, check_runs: [] })
      .post(`${REPO}/check-runs`, exactBody({ name: "devs-ci", head_sha: "2".repeat(40), external_id: "nocheck-12", status: "completed", conclusion: "cancelled", completed_at: NOW, output: { title: "Cancelled", summary: "The run ended before it could report: cancelled while queued by a newer push (fffffff)." } }))
      .reply(201, { id: 15 });
    const runs = await supersedeQueued(journal, pool, superseded)({ repo: running.repo, prNumber: 12, headSha: "f".repeat(40), keepTaskId: newer.id });
    expect(runs).toEqual([
      { taskId: older.id, headSha: "1".repeat(40), checkName: "devs-ci", report: "checks", checkRunId: 11 },
      { taskId: noCheck.id, headSha: "2".repeat(40), checkName: "devs-ci", report: "checks", checkRunId: null },
    ]);
    expect([older, noCheck, otherPr, newer, running].map((t) => journal.get(t.id)!.state)).toEqual(["cancelled", "cancelled", "queued", "queued", "running"]);
    await until(() => scope.isDone());
    pool.cancel(otherPr.id);
    pool.cancel(newer.id);
    const rest = nock(API).patch(/check-runs\/(13|14)$/).times(2).reply(200, {});
    release();
    await pool.idle();
    await until(() => rest.isDone());
  });
});
