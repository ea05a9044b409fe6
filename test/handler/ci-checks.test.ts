// The Checks API helper against nock: exact request bodies for each stage, annotation batches, and
// the commit-status fallback of token mode.
import nock from "nock";
import { describe, expect, it } from "vitest";
import { CiCheck, ciCheckForTask, clampAnnotation, statusDescription, type CheckAnnotation } from "../../src/ci/checks.js";
import { makeTask } from "../helpers/tasks.js";
import { TestOctokit } from "../helpers/probot.js";
import { exactBody as body, strictCiNock } from "../helpers/ci.js";

const API = "https://api.github.com";
const REPO = "/repos/acme/widgets";
const SHA = "0123456789abcdef0123456789abcdef01234567";
const NOW = new Date("2026-11-29T12:00:00.123Z");
const octokit = new TestOctokit({ auth: "test-token" });
strictCiNock();

const target = { owner: "acme", repo: "widgets", headSha: SHA };
const annotation = (i: number): CheckAnnotation => ({ path: `src/f${i}.ts`, start_line: i + 1, end_line: i + 1, annotation_level: "failure", message: `m${i}` });

describe("check runs (GitHub App)", () => {
  it("queued → in_progress → completed, one shape throughout", async () => {
    const check = new CiCheck(octokit, target, { mode: "checks", name: "devs-ci", externalId: "ci-d1", detailsUrl: "https://ci.example/tasks/ci-d1", now: () => NOW });
    const scope = nock(API)
      .post(
        `${REPO}/check-runs`,
        body({
          name: "devs-ci",
          head_sha: SHA,
          external_id: "ci-d1",
          details_url: "https://ci.example/tasks/ci-d1",
          status: "queued",
          output: { title: "Queued", summary: "waiting" },
        }),
      )
      .reply(201, { id: 555 })
      .patch(`${REPO}/check-runs/555`, body({ status: "in_progress", started_at: "2026-11-29T12:00:00Z", output: { title: "Running in eamonn", summary: "Running in container `eamonn`." } }))
      .reply(200, {})
      .patch(
        `${REPO}/check-runs/555`,
        body({
          status: "completed",
          conclusion: "success",
          completed_at: "2026-11-29T12:00:00Z",
          output: { title: "Tests passed", summary: "s", text: "t" },
        }),
      )
      .reply(200, {});
    await check.queued({ title: "Queued", summary: "waiting" });
    expect(check.id).toBe(555);
    await check.inProgress("eamonn");
    const result = await check.complete({ conclusion: "success", output: { title: "Tests passed", summary: "s", text: "t" } });
    expect(result).toEqual({ annotations: 0, dropped: 0, annotationError: null });
    scope.done();
  });

  it("120 annotations: 50 with the conclusion, then 50 and 20 in updates that keep the text", async () => {
    const check = new CiCheck(octokit, target, { mode: "checks", name: "devs-ci", checkRunId: 9, now: () => NOW });
    const all = Array.from({ length: 120 }, (_, i) => annotation(i));
    const output = { title: "Tests failed: 120 failed", summary: "s", text: "log" };
    const scope = nock(API)
      .patch(
        `${REPO}/check-runs/9`,
        body({
          status: "completed",
          conclusion: "failure",
          completed_at: "2026-11-29T12:00:00Z",
          details_url: "https://a.example/x.tar.gz",
          output: { ...output, annotations: all.slice(0, 50) },
        }),
      )
      .reply(200, {})
      .patch(`${REPO}/check-runs/9`, body({ output: { ...output, annotations: all.slice(50, 100) } }))
      .reply(200, {})
      .patch(`${REPO}/check-runs/9`, body({ output: { ...output, annotations: all.slice(100) } }))
      .reply(200, {});
    const result = await check.complete({ conclusion: "failure", output, annotations: all, detailsUrl: "https://a.example/x.tar.gz" });
    expect(result).toEqual({ annotations: 120, dropped: 0, annotationError: null });
    scope.done();
  });

  it("over the cap: the rest are dropped; a failed batch keeps the conclusion and reports what was lost", async () => {
    const check = new CiCheck(octokit, target, { mode: "checks", name: "devs-ci", checkRunId: 9, maxAnnotations: 120, now: () => NOW });
    const all = Array.from({ length: 130 }, (_, i) => annotation(i));
    const scope = nock(API)
      .patch(`${REPO}/check-runs/9`, (b: { conclusion?: string; output: { annotations: unknown[] } }) => b.conclusion === "failure" && b.output.annotations.length === 50)
      .reply(200, {})
      .patch(`${REPO}/check-runs/9`)
      .reply(422, { message: "Invalid annotation" });
    const result = await check.complete({ conclusion: "failure", output: { title: "t", summary: "s" }, annotations: all });
    expect(result.annotations).toBe(50);
    expect(result.dropped).toBe(80);
    expect((result.annotationError as { status: number }).status).toBe(422);
    scope.done();
  });

  it("completing a run that was never created creates it completed, with buttons", async () => {
    const check = new CiCheck(octokit, target, { mode: "checks", name: "tests", externalId: "ci-d2", now: () => NOW });
    const actions = [{ label: "Run tests", description: "Run CI on this commit", identifier: "run-ci:4" }];
    const scope = nock(API)
      .post(
        `${REPO}/check-runs`,
        body({
          name: "tests",
          head_sha: SHA,
          external_id: "ci-d2",
          status: "completed",
          conclusion: "action_required",
          completed_at: "2026-11-29T12:00:00Z",
          output: { title: "Not run", summary: "why" },
          actions,
        }),
      )
      .reply(201, { id: 77 });
    await check.complete({ conclusion: "action_required", output: { title: "Not run", summary: "why" }, actions });
    expect(check.id).toBe(77);
    scope.done();
  });

  it("in_progress creates the run when the queued one could not be made", async () => {
    const check = new CiCheck(octokit, target, { mode: "checks", name: "devs-ci", externalId: "ci-d3", now: () => NOW });
    const scope = nock(API)
      .post(`${REPO}/check-runs`, body({ name: "devs-ci", head_sha: SHA, external_id: "ci-d3", status: "in_progress", started_at: "2026-11-29T12:00:00Z", output: { title: "Running in harry", summary: "x" } }))
      .reply(201, { id: 8 });
    await check.inProgress("harry", { title: "Running in harry", summary: "x" });
    expect(check.id).toBe(8);
    scope.done();
  });

  it("a task's check comes from its CI snapshot", async () => {
    const task = makeTask("acme/widgets", "ci", "ci-d4");
    task.ci = { headSha: SHA, ref: "refs/heads/main", branch: "main", trigger: "push", pullRequest: null, testCommand: "make test", checkName: "devs-ci", report: "checks", checkRunId: 31 };
    const scope = nock(API)
      .patch(`${REPO}/check-runs/31`, body({ status: "completed", conclusion: "timed_out", completed_at: "2026-11-29T12:00:00Z", output: { title: "Timed out after 30m 0s", summary: "s" } }))
      .reply(200, {});
    await ciCheckForTask(octokit, task, { now: () => NOW }).complete({ conclusion: "timed_out", output: { title: "Timed out after 30m 0s", summary: "s" } });
    scope.done();
    expect(() => ciCheckForTask(octokit, makeTask())).toThrow(/not a CI task/);
  });
});

describe("commit statuses (token mode)", () => {
  const cases: Array<[string, string]> = [
    ["success", "success"],
    ["neutral", "success"],
    ["failure", "failure"],
    ["action_required", "failure"],
    ["timed_out", "error"],
    ["cancelled", "error"],
  ];
  for (const [conclusion, state] of cases) {
    it(`${conclusion} → ${state}`, async () => {
      const check = new CiCheck(octokit, target, { mode: "statuses", name: "devs-ci", detailsUrl: "https://ci.example/t" });
      const scope = nock(API)
        .post(`${REPO}/statuses/${SHA}`, body({ state, context: "devs-ci", description: "Title here", target_url: "https://a.example/x" }))
        .reply(201, {});
      const result = await check.complete({
        conclusion: conclusion as "success",
        output: { title: "Title here", summary: "lost", text: "lost" },
        annotations: [annotation(1)],
        detailsUrl: "https://a.example/x",
      });
      expect(result).toEqual({ annotations: 0, dropped: 1, annotationError: null });
      scope.done();
    });
  }

  it("queued and in_progress are both pending, told apart by the description", async () => {
    const check = new CiCheck(octokit, target, { mode: "statuses", name: "devs-ci" });
    const scope = nock(API)
      .post(`${REPO}/statuses/${SHA}`, body({ state: "pending", context: "devs-ci", description: "Queued" }))
      .reply(201, {})
      .post(`${REPO}/statuses/${SHA}`, body({ state: "pending", context: "devs-ci", description: "Running in darren" }))
      .reply(201, {});
    await check.queued({ title: "Queued", summary: "s" });
    await check.inProgress("darren");
    expect(check.id).toBeNull();
    scope.done();
  });

  it("descriptions fit in 140 characters on one line", () => {
    expect(statusDescription("a\n  b")).toBe("a b");
    const long = statusDescription("x".repeat(200));
    expect(long).toHaveLength(140);
    expect(long.endsWith("…")).toBe(true);
  });
});

describe("annotation limits", () => {
  it("title ≤ 255, message and raw details ≤ 64 KB, lines ≥ 1, columns only on one line", () => {
    const a = clampAnnotation({
      path: "a.ts",
      start_line: 0,
      end_line: 3,
      start_column: 4,
      end_column: 9,
      annotation_level: "failure",
      title: "t".repeat(300),
      message: "é".repeat(40_000),
      raw_details: "r".repeat(70_000),
    });
    expect(a.start_line).toBe(1);
    expect(a.end_line).toBe(3);
    expect(a.start_column).toBeUndefined();
    expect(a.title!.length).toBe(255);
    expect(Buffer.byteLength(a.message)).toBeLessThanOrEqual(64 * 1024);
    expect(a.message.endsWith("é…")).toBe(true);
    expect(Buffer.byteLength(a.raw_details!)).toBeLessThanOrEqual(64 * 1024);
    const single = clampAnnotation({ path: "a.ts", start_line: 2, end_line: 2, start_column: 5, end_column: 3, annotation_level: "warning", message: "" });
    expect(single).toEqual({ path: "a.ts", start_line: 2, end_line: 2, start_column: 5, end_column: 5, annotation_level: "warning", message: "(no message)" });
  });
});
