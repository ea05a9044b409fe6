import { describe, expect, it } from "vitest";
import { branchFor, commitMessage, pullRequestText, slugify } from "../../src/publish/naming.js";
import { formatDuration, formatPhases, markerFor, renderProgress } from "../../src/publish/progress.js";
import { safeRef } from "../../src/workspace/repo-cache.js";
import { agentTask } from "../helpers/tasks.js";

describe("naming", () => {
  const table: Array<[string, string]> = [
    ["Crash on empty input!", "crash-on-empty-input"],
    ["  Ünïcödé títle  ", "unicode-title"],
    ["[bug] fix `foo()` in src/x.ts", "bug-fix-foo-in-src-x-ts"],
    ["!!!", "task"],
    ["a".repeat(80), "a".repeat(40)],
  ];
  for (const [title, slug] of table) it(`slugify ${JSON.stringify(title)}`, () => expect(slugify(title)).toBe(slug));

  it("branches: devs/issue-<n>-<slug>, devs/pr-<n>-<slug>, with a suffix when taken", () => {
    const task = agentTask({ target: { number: 12, title: "Crash on empty input" } });
    expect(branchFor(task)).toBe("devs/issue-12-crash-on-empty-input");
    expect(branchFor(task, "a1b2c3")).toBe("devs/issue-12-crash-on-empty-input-a1b2c3");
    task.target.type = "pull_request";
    expect(branchFor(task)).toBe("devs/pr-12-crash-on-empty-input");
    expect(() => safeRef(branchFor(task))).not.toThrow();
  });

  it("PR text refers to the issue without closing it", () => {
    const task = agentTask({ target: { number: 12, title: "Crash" } });
    const { title, body } = pullRequestText(task, "Fixed the crash.");
    expect(title).toBe("Crash");
    expect(body).toMatch(/^Refs #12\n/);
    expect(body).not.toMatch(/\b(fix(es|ed)?|close[sd]?|resolve[sd]?) #12/i);
    expect(body).toContain("## Summary\n\nFixed the crash.");
    expect(commitMessage(task)).toMatch(/^Crash\n\nRequested by @alice in /);
  });
});

describe("safeRef", () => {
  for (const bad of ["-x", "--upload-pack=evil", "a..b", "a b", "a:b", "a~1", "x.lock", "/a", "a/", "a//b", "a@{1}", "a\u0001b", ""]) {
    it(`refuses ${JSON.stringify(bad)}`, () => expect(() => safeRef(bad)).toThrow(/not a valid branch name/));
  }
  for (const good of ["main", "feature/x-1", "release/2026.11", "devs/issue-1-a"]) it(`accepts ${good}`, () => expect(safeRef(good)).toBe(good));
});

describe("renderProgress", () => {
  const id = "agent-1";
  it("every stage carries the task marker", () => {
    for (const p of [
      { stage: "queued", slot: "eamonn", position: 0 },
      { stage: "cancelled" },
      { stage: "timed_out", minutes: 30 },
    ] as const) {
      expect(renderProgress(id, p).startsWith(markerFor(id))).toBe(true);
    }
  });
  it("queued with position, running with its slot", () => {
    expect(renderProgress(id, { stage: "queued", slot: "harry", position: 2 })).toContain("⏳ Queued for `harry` (2 ahead).");
    expect(renderProgress(id, { stage: "running", slot: "harry", since: new Date("2026-11-29T10:00:00.123Z"), retry: true })).toContain(
      "⚙️ Working in `harry` since 2026-11-29T10:00:00Z (retrying after a restart).",
    );
  });
  it("done: duration, cost, turns, link and summary", () => {
    const text = renderProgress(id, {
      stage: "done",
      slot: "eamonn",
      durationMs: 192_000,
      costUsd: 0.4215,
      turns: 7,
      summary: "Changed x.",
      pullRequest: { number: 13, url: "https://github.com/o/r/pull/13" },
    });
    expect(text).toContain("✅ Done in 3m 12s · $0.42 · 7 turns in `eamonn`. Opened [#13](https://github.com/o/r/pull/13).");
    expect(text.endsWith("Changed x.")).toBe(true);
  });
  const phases = { queue: 200, container: 420, checkout: 310, agent: 182_400, publish: 1_080 };
  const timeLine = "Time: queue 0.2s · container 0.4s · checkout 0.3s · agent 3m 2s · publish 1.1s";
  it("done, failed and stopped: where the time went, in one line", () => {
    const done = { stage: "done", slot: "eamonn", durationMs: 185_000, costUsd: 0.4215, turns: 7, summary: "Changed x.", phases } as const;
    expect(renderProgress(id, { ...done, note: "Left out `vendor`." })).toBe(
      `${markerFor(id)}\n✅ Done in 3m 5s · $0.42 · 7 turns in \`eamonn\`.\n\n${timeLine}\n\n> Left out \`vendor\`.\n\nChanged x.`,
    );
    expect(renderProgress(id, { stage: "failed", reason: "the agent did not finish: it stopped.", durationMs: 185_000, phases })).toBe(
      `${markerFor(id)}\n❌ Failed after 3m 5s: the agent did not finish: it stopped.\n\n${timeLine}`,
    );
    const budget = "the repository's monthly budget was reached.";
    expect(renderProgress(id, { stage: "stopped", budget, ran: true, durationMs: 185_000, costUsd: null, phases })).toBe(
      `${markerFor(id)}\n🛑 Stopped after 3m 5s: ${budget}\n\n${timeLine}`,
    );
    // Nothing timed (an executor without phases): no line at all.
    expect(renderProgress(id, { stage: "failed", reason: "x", phases: {} })).toBe(`${markerFor(id)}\n❌ Failed: x`);
  });
  it("phase times: tenths of a second under a minute, then minutes; in the fixed order of the phases", () => {
    expect(formatPhases({ publish: 59_949, tests: 60_000, queue: 0, checkout: 12_345, container: 49 })).toBe(
      "queue 0.0s · container 0.0s · checkout 12.3s · tests 1m 0s · publish 59.9s",
    );
    expect(formatPhases(undefined)).toBe("");
  });
  it("a huge summary is cut below GitHub's limit", () => {
    const text = renderProgress(id, { stage: "done", slot: "e", durationMs: 1, costUsd: null, turns: null, summary: "x".repeat(100_000) });
    expect(text.length).toBeLessThan(65_536);
  });
  it("stopped by a budget: the figures, and where the unfinished work is", () => {
    const budget = "the task's cost limit was reached: $0.62 spent of $0.50 (`max_cost_usd` in DEVS.yml).";
    const base = { stage: "stopped", budget, ran: true, durationMs: 63_000, costUsd: 0.6234 } as const;
    expect(renderProgress(id, { ...base, pullRequest: { number: 14, url: "https://github.com/o/r/pull/14" } })).toBe(
      `${markerFor(id)}\n🛑 Stopped after 1m 3s · $0.62: ${budget} The work so far is in the draft pull request [#14](https://github.com/o/r/pull/14), marked unfinished.`,
    );
    expect(renderProgress(id, { ...base, note: "The agent had changed nothing yet, so nothing was published." })).toBe(
      `${markerFor(id)}\n🛑 Stopped after 1m 3s · $0.62: ${budget} The agent had changed nothing yet, so nothing was published.`,
    );
    expect(renderProgress(id, { ...base, ran: false, costUsd: null, durationMs: 0 })).toBe(`${markerFor(id)}\n🛑 Not started: ${budget}`);
  });
  it("durations", () => {
    expect([formatDuration(999), formatDuration(59_000), formatDuration(61_000), formatDuration(3_720_000)]).toEqual(["1s", "59s", "1m 1s", "1h 2m"]);
  });
});
