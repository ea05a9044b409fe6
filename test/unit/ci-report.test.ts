import { describe, expect, it } from "vitest";
import { MAX_OUTPUT_CHARS } from "../../src/ci/checks.js";
import {
  blockedOutput,
  cleanLog,
  code,
  configErrorOutput,
  countsText,
  decideConclusion,
  endedEarlyOutput,
  errorOutput,
  logText,
  queuedOutput,
  renderCiReport,
  reportTitle,
  runningOutput,
  tailLines,
  type CiRunFacts,
} from "../../src/ci/report.js";
import { createRedactor } from "../../src/publish/redact.js";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const redact = createRedactor(["hunter2-secret-value"]);
const facts = (patch: Partial<CiRunFacts> = {}): CiRunFacts => ({
  conclusion: "success",
  command: "./runtests.sh",
  exitCode: 0,
  durationMs: 63_000,
  container: "eamonn",
  headSha: SHA,
  log: "ok\n",
  ...patch,
});

describe("title", () => {
  const table: Array<[string, Partial<CiRunFacts>, string]> = [
    ["passed without JUnit", {}, "Tests passed"],
    ["passed with JUnit", { junit: { total: 12, passed: 10, failed: 0, errored: 0, skipped: 2 } }, "Tests passed: 10 passed, 2 skipped"],
    ["failed with JUnit", { conclusion: "failure", exitCode: 1, junit: { total: 5, passed: 2, failed: 2, errored: 1, skipped: 0 } }, "Tests failed: 2 failed, 1 error, 2 passed"],
    ["failed without JUnit names the exit code", { conclusion: "failure", exitCode: 2 }, "Tests failed (exit code 2)"],
    ["failed by exit code while JUnit shows no failure", { conclusion: "failure", exitCode: 3, junit: { total: 4, passed: 4, failed: 0, errored: 0, skipped: 0 } }, "Tests failed (exit code 3): 4 passed"],
    ["timed out", { conclusion: "timed_out", exitCode: null, durationMs: 30 * 60_000 }, "Timed out after 30m 0s"],
    ["cancelled", { conclusion: "cancelled", exitCode: null }, "Cancelled"],
    ["empty JUnit is not a count", { junit: { total: 0, passed: 0, failed: 0, errored: 0, skipped: 0 } }, "Tests passed"],
  ];
  for (const [name, patch, expected] of table) {
    it(name, () => expect(reportTitle(facts(patch))).toBe(expected));
  }
  it("counts text", () => {
    expect(countsText({ total: 0, passed: 0, failed: 0, errored: 0, skipped: 0 })).toBe("0 passed");
    expect(countsText({ total: 3, passed: 0, failed: 3, errored: 0, skipped: 0 })).toBe("3 failed");
    expect(countsText({ total: 2, passed: 0, failed: 0, errored: 2, skipped: 0 })).toBe("2 errors");
  });
});

describe("conclusion", () => {
  const junit = (failed: number, errored = 0) => ({ total: 3, passed: 3 - failed - errored, failed, errored, skipped: 0 });
  const table: Array<[string, Parameters<typeof decideConclusion>[0], string]> = [
    ["exit 0", { exitCode: 0 }, "success"],
    ["exit 1", { exitCode: 1 }, "failure"],
    ["no exit code (killed)", { exitCode: null }, "failure"],
    ["exit 0 with clean JUnit", { exitCode: 0, junit: junit(0) }, "success"],
    ["exit 0 but JUnit records a failure", { exitCode: 0, junit: junit(1) }, "failure"],
    ["exit 0 but JUnit records an error", { exitCode: 0, junit: junit(0, 1) }, "failure"],
    ["time limit", { exitCode: null, ended: "timed_out" }, "timed_out"],
    ["cancelled after it passed", { exitCode: 0, ended: "cancelled" }, "cancelled"],
  ];
  for (const [name, input, expected] of table) it(name, () => expect(decideConclusion(input)).toBe(expected));
});

describe("summary", () => {
  it("has the command, exit code, duration, container, commit and artifacts link", () => {
    const out = renderCiReport(facts({ artifacts: { url: "https://a.example/x.tar.gz", label: "x.tar.gz (1 KiB)" } }), redact);
    expect(out.summary).toBe(
      [
        "- **Command:** `./runtests.sh`",
        "- **Exit code:** 0",
        "- **Duration:** 1m 3s",
        "- **Container:** `eamonn`",
        "- **Commit:** `0123456`",
        "- **Artifacts:** [x.tar.gz (1 KiB)](https://a.example/x.tar.gz)",
      ].join("\n"),
    );
  });
  it("links the task's log when it has a public link (PUBLIC_URL)", () => {
    const out = renderCiReport(facts({ artifacts: { url: "https://a.example/x.tar.gz", label: "x.tar.gz" }, logUrl: "https://devs.example.com/logs/ci-1/ab12" }), redact);
    expect(out.summary).toBe(
      [
        "- **Command:** `./runtests.sh`",
        "- **Exit code:** 0",
        "- **Duration:** 1m 3s",
        "- **Container:** `eamonn`",
        "- **Commit:** `0123456`",
        "- **Artifacts:** [x.tar.gz](https://a.example/x.tar.gz)",
        "- **Log:** [task log](https://devs.example.com/logs/ci-1/ab12)",
      ].join("\n"),
    );
  });
  it("links the task's log from a run that broke before its tests, too", () => {
    const base = { reason: "The tests could not be run: the image did not build.", command: "make test", container: "eamonn", headSha: SHA, durationMs: 4000 };
    const lines = [
      "The tests could not be run: the image did not build.",
      "",
      "- **Command:** `make test` (not run)",
      "- **Container:** `eamonn`",
      "- **Commit:** `0123456`",
      "- **Duration:** 4s",
    ];
    expect(errorOutput(base, redact).summary).toBe(lines.join("\n"));
    expect(errorOutput({ ...base, logUrl: "https://devs.example.com/logs/ci-1/ab12" }, redact).summary).toBe(
      [...lines, "- **Log:** [task log](https://devs.example.com/logs/ci-1/ab12)"].join("\n"),
    );
  });
  it("says where the time went, in one line after the duration", () => {
    const out = renderCiReport(facts({ phases: { queue: 200, container: 420, checkout: 310, tests: 62_000, publish: 90 } }), redact);
    expect(out.summary).toBe(
      [
        "- **Command:** `./runtests.sh`",
        "- **Exit code:** 0",
        "- **Duration:** 1m 3s",
        "- **Time:** queue 0.2s · container 0.4s · checkout 0.3s · tests 1m 2s · publish 0.1s",
        "- **Container:** `eamonn`",
        "- **Commit:** `0123456`",
      ].join("\n"),
    );
  });
  it("says why a run ended early and that the command did not finish", () => {
    const out = renderCiReport(facts({ conclusion: "timed_out", exitCode: null, reason: "Stopped after 30 minutes (CONTAINER_TIMEOUT_MINUTES)." }), redact);
    expect(out.summary.startsWith("Stopped after 30 minutes (CONTAINER_TIMEOUT_MINUTES).\n\n- **Command:**")).toBe(true);
    expect(out.summary).toContain("- **Exit code:** none (the command did not finish)");
  });
  it("an upload failure is a note, not a link", () => {
    const out = renderCiReport(facts({ artifacts: { note: "the artifacts could not be uploaded (NoSuchBucket)" } }), redact);
    expect(out.summary).toContain("- **Artifacts:** the artifacts could not be uploaded (NoSuchBucket)");
  });
  it("lists failed tests, escaped and redacted, at most 30", () => {
    const failures = Array.from({ length: 32 }, (_, i) => ({ name: `suite › test *${i}*`, location: i === 0 ? "src/a.ts:3" : null, message: i === 0 ? "token hunter2-secret-value leaked\nsecond line" : null }));
    const out = renderCiReport(facts({ conclusion: "failure", exitCode: 1, failures }), redact);
    expect(out.summary).toContain("### Failed tests");
    expect(out.summary).toContain("- suite › test \\*0\\* (`src/a.ts:3`): token \\[redacted\\] leaked second line");
    expect(out.summary).toContain("- … and 2 more");
    expect(out.summary).not.toContain("hunter2");
  });
  it("a command with a secret and backticks is redacted and still one code span", () => {
    const out = renderCiReport(facts({ command: "TOKEN=hunter2-secret-value make `test`" }), redact);
    expect(out.summary).toContain("- **Command:** `` TOKEN=[redacted] make `test` ``");
  });
});

describe("log text", () => {
  it("a short log is shown whole in a fence", () => {
    expect(logText("line 1\nline 2\n", redact)).toBe("```text\nline 1\nline 2\n```");
  });
  it("no output", () => {
    expect(logText("\n\n", redact)).toBe("_The command printed nothing._");
  });
  it("a fence longer than any backtick run in the log", () => {
    expect(logText("see ````this````", redact)).toBe("`````text\nsee ````this````\n`````");
  });
  it("secrets are redacted before the cut, so none survives half-cut", () => {
    const log = `${"x".repeat(100)}\nhunter2-secret-value\n${"y".repeat(50)}`;
    const text = logText(log, redact, false, 400 + 60);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("secret-value");
  });
  it("a long log keeps its tail within GitHub's limit, cut at a line boundary, with a note", () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${String(i).padStart(5, "0")} of the test output`);
    const text = logText(lines.join("\n"), redact, true);
    expect(text.length).toBeLessThanOrEqual(MAX_OUTPUT_CHARS);
    expect(text.length).toBeGreaterThan(MAX_OUTPUT_CHARS - 1000);
    const match = /^_The first ([\d,]+) lines \(([\d,]+) characters\) of the log are not shown; the full log is in the artifacts\._\n\n```text\n/.exec(text);
    expect(match).not.toBeNull();
    const body = text.slice(match![0].length, -"\n```".length);
    expect(body.endsWith("line 19999 of the test output")).toBe(true);
    // Starts with a whole line, and the numbers add up.
    expect(body).toMatch(/^line \d{5} of the test output\n/);
    const firstShown = Number(/^line (\d{5})/.exec(body)![1]);
    expect(Number(match![1]!.replace(/,/g, ""))).toBe(firstShown);
    const cutChars = Number(match![2]!.replace(/,/g, ""));
    expect(cutChars + body.length).toBe(lines.join("\n").length);
  });
  it("ANSI colours and carriage-return progress are cleaned", () => {
    expect(cleanLog("\u001b[32mPASS\u001b[0m a.test.ts\r\nprogress 10%\rprogress 100%\nend")).toBe("PASS a.test.ts\nprogress 100%\nend");
  });
});

describe("tailLines", () => {
  it("keeps everything that fits", () => {
    expect(tailLines("a\nb", 10)).toEqual({ text: "a\nb", cutLines: 0, cutChars: 0 });
  });
  it("starts at the next line boundary", () => {
    expect(tailLines("aaaa\nbbbb\ncccc", 7)).toEqual({ text: "cccc", cutLines: 2, cutChars: 10 });
  });
  it("a cut exactly at a boundary keeps that line", () => {
    expect(tailLines("aaaa\nbbbb\ncccc", 9)).toEqual({ text: "bbbb\ncccc", cutLines: 1, cutChars: 5 });
  });
  it("one enormous line is cut inside it", () => {
    expect(tailLines("x".repeat(100), 10)).toEqual({ text: "x".repeat(10), cutLines: 1, cutChars: 90 });
  });
});

describe("stage outputs", () => {
  it("queued and running name the command, commit, cause and container", () => {
    expect(queuedOutput({ command: "npm test", headSha: SHA, cause: "push to `main`", sender: "alice" }, redact)).toEqual({
      title: "Queued",
      summary: "Waiting for a container to run `npm test` on `0123456`, for the push to `main` by @alice.",
    });
    expect(runningOutput({ container: "harry", command: "npm test" }, redact)).toEqual({ title: "Running in harry", summary: "Running `npm test` in container `harry`." });
  });
  it("blocked explains how to approve, with or without buttons", () => {
    const withButtons = blockedOutput({ reason: "Because.", headSha: SHA, buttons: true });
    expect(withButtons.title).toBe("Not run: approval needed");
    expect(withButtons.summary).toContain("**Run tests**");
    expect(withButtons.summary).toContain("`0123456`");
    expect(blockedOutput({ reason: "Because.", headSha: SHA, buttons: false }).summary).not.toContain("Run tests");
  });
  it("config error carries the loader's message", () => {
    expect(configErrorOutput("`DEVS.yml`: `ci_branches` must be a list", redact).summary).toContain("`DEVS.yml`: `ci_branches` must be a list");
  });
  it("a run that ended before it could report", () => {
    expect(endedEarlyOutput("cancelled", "cancelled while queued", redact)).toEqual({ title: "Cancelled", summary: "The run ended before it could report: cancelled while queued." });
    expect(endedEarlyOutput("failure", "interrupted by a restart twice", redact).title).toBe("Not completed");
  });
  it("code spans survive backticks at the ends", () => {
    expect(code("`x`")).toBe("`` `x` ``");
    expect(code("a\nb")).toBe("`a b`");
  });
});
