// The CI fix loop over its real store and journal: which finished CI runs queue a fix, the loop's
// line on the root task's comment as GitHub receives it, and what stops the loop.
import nock from "nock";
import pino from "pino";
import { beforeEach, describe, expect, it } from "vitest";
import { CiFixLoop } from "../../src/ci/fix-loop.js";
import type { CiReport, JudgedRun } from "../../src/ci/reporter.js";
import { LOOP_MARKER } from "../../src/publish/loop-line.js";
import { LoopNarrator } from "../../src/publish/loop-narrator.js";
import { markerFor } from "../../src/publish/progress.js";
import { openDatabase } from "../../src/tasks/database.js";
import type { TaskEnd } from "../../src/tasks/execution.js";
import { FixLoops } from "../../src/tasks/fix-loops.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import { MemoryTaskSink } from "../../src/tasks/sink.js";
import type { Task } from "../../src/tasks/task.js";
import { strictNock } from "../helpers/nock.js";
import { TestOctokit } from "../helpers/probot.js";
import { tempDir } from "../helpers/settings.js";
import { agentTask, ciTaskFromFork, ciTaskOnPullRequest } from "../helpers/tasks.js";

strictNock();

const API = "https://api.github.com";
const ROOT_SHA = "b".repeat(40);
const FIX_SHA = "c".repeat(40);
const BRANCH = "devs/issue-1-fix";
const octokit = new TestOctokit({ auth: "installation-token" });
const root = agentTask({ id: "agent-d1", createdAt: "2026-12-02T10:00:00.000Z" });
const COMMENT = `${markerFor("agent-d1")}\n✅ Done in 1m 2s\n\nAdded the greeting.`;

let loops: FixLoops;
let journal: TaskJournal;
let sink: MemoryTaskSink;
let cancelled: Array<{ ids: string[]; by: string }>;
let loop: CiFixLoop;

beforeEach(() => {
  const db = openDatabase(tempDir("devs-fix-loop-"));
  loops = new FixLoops(db);
  journal = new TaskJournal(db);
  journal.add(root);
  sink = new MemoryTaskSink();
  cancelled = [];
  const log = pino({ level: "silent" });
  loop = new CiFixLoop({
    loops,
    journal,
    sink: { submit: async (task) => (journal.add(task), sink.submit(task)) },
    cancelFixes: (match, by) => {
      const ids = sink.tasks.filter(match).map((t) => t.id);
      cancelled.push({ ids, by });
      return ids;
    },
    narrator: new LoopNarrator({ github: async () => ({ octokit }), log }),
    attemptsMax: 5,
    now: () => new Date("2026-12-02T10:05:00.000Z"),
    log,
  });
});

const pushed = (sha: string, attempt: number) =>
  loops.recordPush({ repo: "acme/widgets", sha, branch: BRANCH, pullNumber: 2, rootTask: "agent-d1", attempt, slot: "harry", threadNumber: 1 });

const judged: JudgedRun = {
  exitCode: 1,
  failed: 1,
  failures: ["result › says ok (test/result.test.js:3): expected 'no' to be 'ok'"],
  failingNames: ["result › says ok"],
  logTail: "not ok 1 result says ok\n",
};

function ciRun(sha: string, over: { fixAttempts?: number | null; fork?: boolean } = {}): Task {
  const make = over.fork ? ciTaskFromFork : ciTaskOnPullRequest;
  return make({ id: `ci-${sha.slice(0, 4)}-${Math.random()}`, target: { number: 2 }, ci: { headSha: sha, branch: BRANCH, fixAttempts: over.fixAttempts ?? null } });
}

const failed = (report: Partial<CiReport> = {}): TaskEnd<CiReport> => ({
  slot: "ci1",
  state: "done",
  detail: null,
  ran: { durationMs: 1000, report: { conclusion: "failure", output: { title: "1 failed", summary: "" }, judged, ...report } },
});
const passed: TaskEnd<CiReport> = { slot: "ci1", state: "done", detail: null, ran: { durationMs: 1000, report: { conclusion: "success", output: { title: "ok", summary: "" } } } };
const timedOut: TaskEnd<CiReport> = {
  slot: "ci1",
  state: "timed_out",
  detail: null,
  ran: { durationMs: 1000, report: { conclusion: "timed_out", output: { title: "timed out", summary: "" } } },
};

/** GitHub shows the root comment as `body`, and receives the edit that ends with `line`. */
function expectEdit(line: string, body = COMMENT) {
  return nock(API)
    .get("/repos/acme/widgets/issues/1/comments")
    .query({ per_page: 100, since: root.createdAt })
    .reply(200, [{ id: 5, body: "someone else" }, { id: 77, body }])
    .patch("/repos/acme/widgets/issues/comments/77", { body: `${COMMENT}\n\n${LOOP_MARKER}\n${line}` })
    .reply(200, {});
}

describe("a failing check on the agent's own commit", () => {
  it("queues one fix in the agent's slot with the failure, and the comment tells the loop to its pass", async () => {
    pushed(ROOT_SHA, 0);
    const first = expectEdit("CI failed (1 test) → fixing, attempt 1 of 2");
    await loop.ciFinished(ciRun(ROOT_SHA), failed());
    first.done();
    expect(sink.tasks).toHaveLength(1);
    const fix = sink.tasks[0]!;
    expect(fix).toMatchObject({
      id: "fix-agent-d1-1",
      kind: "agent",
      target: { number: 1 },
      trigger: { reason: "ci_failed", author: "alice" },
      fix: { rootTask: "agent-d1", attempt: 1, of: 2, slot: "harry", pullRequest: { number: 2, headRef: BRANCH, headSha: ROOT_SHA }, failures: judged.failures, logTail: judged.logTail },
    });

    // The same run's end seen again (a restart ran it twice): no second fix, no second edit.
    await loop.ciFinished(ciRun(ROOT_SHA), failed());
    expect(sink.tasks).toHaveLength(1);

    pushed(FIX_SHA, 1);
    const second = expectEdit("CI failed (1 test) → fixing, attempt 1 of 2 → ✅ CI passed", `${COMMENT}\n\n${LOOP_MARKER}\nCI failed (1 test) → fixing, attempt 1 of 2`);
    await loop.ciFinished(ciRun(FIX_SHA), passed);
    second.done();
    expect(loops.loop("agent-d1")).toMatchObject({ closed: true });
  });

  it("gives up after ci_fix_attempts, naming what still fails", async () => {
    pushed(ROOT_SHA, 0);
    const first = expectEdit("CI failed (1 test) → fixing, attempt 1 of 1");
    await loop.ciFinished(ciRun(ROOT_SHA, { fixAttempts: 1 }), failed());
    first.done();
    pushed(FIX_SHA, 1);
    const last = expectEdit("CI failed (1 test) → fixing, attempt 1 of 1 → ❌ still failing after 1 attempt: `result › says ok`");
    await loop.ciFinished(ciRun(FIX_SHA, { fixAttempts: 1 }), failed());
    last.done();
    expect(sink.tasks.map((t) => t.id)).toEqual(["fix-agent-d1-1"]);
  });

  it("ci_fix_attempts 0 turns the loop off", async () => {
    pushed(ROOT_SHA, 0);
    await loop.ciFinished(ciRun(ROOT_SHA, { fixAttempts: 0 }), failed());
    expect(sink.tasks).toEqual([]);
  });
});

describe("what starts no fix", () => {
  it("a commit the agent did not push, however it fails", async () => {
    pushed(ROOT_SHA, 0);
    await loop.ciFinished(ciRun("d".repeat(40)), failed());
    expect(sink.tasks).toEqual([]);
  });

  it("a fork's pull request, even on a commit of the agent's", async () => {
    pushed(ROOT_SHA, 0);
    await loop.ciFinished(ciRun(ROOT_SHA, { fork: true }), failed());
    expect(sink.tasks).toEqual([]);
  });

  it("a check that timed out or broke before the tests ran: reported as it is, nothing on the comment", async () => {
    pushed(ROOT_SHA, 0);
    await loop.ciFinished(ciRun(ROOT_SHA), timedOut);
    await loop.ciFinished(ciRun(ROOT_SHA), failed({ judged: undefined }));
    await loop.ciFinished(ciRun(ROOT_SHA), { slot: "ci1", state: "failed", detail: "boom", ran: null });
    expect(sink.tasks).toEqual([]);
  });

  it("a fix's check that timed out ends the loop, saying so", async () => {
    pushed(ROOT_SHA, 0);
    const first = expectEdit("CI failed (1 test) → fixing, attempt 1 of 2");
    await loop.ciFinished(ciRun(ROOT_SHA), failed());
    first.done();
    pushed(FIX_SHA, 1);
    const last = expectEdit("CI failed (1 test) → fixing, attempt 1 of 2 → stopped: the check of attempt 1 timed out");
    await loop.ciFinished(ciRun(FIX_SHA), timedOut);
    last.done();
    expect(sink.tasks).toHaveLength(1);
  });
});

describe("what stops the loop", () => {
  async function loopUnderWay() {
    pushed(ROOT_SHA, 0);
    const first = expectEdit("CI failed (1 test) → fixing, attempt 1 of 2");
    await loop.ciFinished(ciRun(ROOT_SHA), failed());
    first.done();
  }

  it("a human push to the branch cancels the fix, and a late failure of the agent's commit starts none", async () => {
    await loopUnderWay();
    const stop = expectEdit("CI failed (1 test) → fixing, attempt 1 of 2 → stopped: a push by @carol");
    expect(await loop.humanPushed("acme/widgets", BRANCH, "carol")).toBe(1);
    stop.done();
    expect(cancelled).toEqual([{ ids: ["fix-agent-d1-1"], by: "@carol" }]);
    pushed(FIX_SHA, 1);
    await loop.ciFinished(ciRun(FIX_SHA), failed());
    expect(sink.tasks).toHaveLength(1);
    // The cancelled fix's end adds nothing: the push said it first.
    await loop.fixEnded(sink.tasks[0]!, { slot: "harry", state: "cancelled", detail: null, ran: null, cancellation: { by: "@carol" } });
  });

  it("a push to another branch stops nothing", async () => {
    await loopUnderWay();
    expect(await loop.humanPushed("acme/widgets", "main", "carol")).toBe(0);
    expect(cancelled).toEqual([]);
  });

  it("a new request or @bot stop on the issue or on the pull request", async () => {
    await loopUnderWay();
    const stop = expectEdit("CI failed (1 test) → fixing, attempt 1 of 2 → stopped: @dave asked to stop");
    expect(await loop.stopOnThread("acme/widgets", 2, "@dave asked to stop", "@dave")).toBe(1);
    stop.done();
    expect(await loop.stopOnThread("acme/widgets", 1, "a new request by @erin", "@erin")).toBe(0);
  });

  it("a fix that changed nothing ends the loop, saying so", async () => {
    await loopUnderWay();
    const end = expectEdit("CI failed (1 test) → fixing, attempt 1 of 2 → stopped: attempt 1 changed nothing");
    await loop.fixEnded(sink.tasks[0]!, {
      slot: "harry",
      state: "done",
      detail: "no changes",
      ran: { durationMs: 10, report: { outcome: "done" } },
    });
    end.done();
  });
});
