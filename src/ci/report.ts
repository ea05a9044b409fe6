// What a CI check run says at each stage, rendered from plain facts. Pure: no GitHub, no clock.
// Everything that came from the test run (log, command, failure messages) passes through the
// caller's `redact` before it is placed, and the result fits GitHub's 65,535-character fields.
import { formatDuration, formatPhases } from "../publish/progress.js";
import type { PhaseTimings } from "../tasks/phases.js";
import type { CiSnapshot } from "../tasks/task.js";
import { MAX_OUTPUT_CHARS, type CheckOutput, type CiConclusion } from "./checks.js";

export type Redact = (text: string) => string;

export interface JUnitCounts {
  total: number;
  passed: number;
  failed: number;
  errored: number;
  skipped: number;
}

export interface FailureLine {
  /** `Suite › test name`. */
  name: string;
  /** `path:line` when known. */
  location: string | null;
  message: string | null;
}

export type ArtifactLink = { url: string; label?: string | undefined } | { note: string };

export interface CiRunFacts {
  conclusion: CiConclusion;
  command: string;
  exitCode: number | null;
  durationMs: number;
  container: string;
  headSha: string;
  /** What the command printed (stdout and stderr interleaved), or its last part. */
  log: string;
  /** Lines (and characters) at the start of the output that were not kept, when `log` is only its last part. */
  logDropped?: { lines: number; chars: number } | null | undefined;
  junit?: JUnitCounts | null | undefined;
  failures?: readonly FailureLine[] | undefined;
  artifacts?: ArtifactLink | null | undefined;
  /** Why a run ended early (time limit, cancel, an error before the command ran). */
  reason?: string | null | undefined;
  /** Other things the user should know (devcontainer parts not applied, annotations not sent). */
  notes?: readonly string[] | undefined;
  /** Where the task's time went so far (the queue wait included). */
  phases?: PhaseTimings | undefined;
  /** The task log's public link (PUBLIC_URL), or null. */
  logUrl?: string | null | undefined;
}

/** Failed tests listed in the summary; the rest are counted. */
const MAX_FAILURE_LINES = 30;
const MAX_FAILURE_MESSAGE = 300;

export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

/**
 * The conclusion of a run that got as far as the test command: a time limit or a cancel first;
 * otherwise it passes when the command exits 0 and no JUnit report records a failure (a wrapper
 * that swallows the exit code does not turn red tests green).
 */
export function decideConclusion(input: { exitCode: number | null; junit?: JUnitCounts | null | undefined; ended?: "timed_out" | "cancelled" | null | undefined }): CiConclusion {
  if (input.ended) return input.ended;
  const junitFailed = (input.junit?.failed ?? 0) + (input.junit?.errored ?? 0) > 0;
  return input.exitCode === 0 && !junitFailed ? "success" : "failure";
}

/** The finished run: counts in the title, the facts in the summary, the log's tail as the text. */
export function renderCiReport(facts: CiRunFacts, redact: Redact): CheckOutput {
  return {
    title: reportTitle(facts),
    summary: reportSummary(facts, redact),
    text: logText(facts.log, redact, Boolean(facts.artifacts && "url" in facts.artifacts), MAX_OUTPUT_CHARS, facts.logDropped),
  };
}

export function reportTitle(facts: Pick<CiRunFacts, "conclusion" | "exitCode" | "junit" | "durationMs">): string {
  const counts = facts.junit && facts.junit.total > 0 ? countsText(facts.junit) : null;
  const head = ((): string => {
    switch (facts.conclusion) {
      case "success":
        return "Tests passed";
      case "failure":
        return facts.exitCode !== null && facts.exitCode !== 0 && !(facts.junit && facts.junit.failed + facts.junit.errored > 0)
          ? `Tests failed (exit code ${facts.exitCode})`
          : "Tests failed";
      case "timed_out":
        return `Timed out after ${formatDuration(facts.durationMs)}`;
      case "cancelled":
        return "Cancelled";
      case "action_required":
        return "Not run: approval needed";
      case "neutral":
        return "Not run";
    }
  })();
  return counts ? `${head}: ${counts}` : head;
}

/** `2 failed, 1 error, 118 passed, 3 skipped`; zero counts are left out (except passed alone). */
export function countsText(c: JUnitCounts): string {
  const parts: string[] = [];
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.errored) parts.push(`${c.errored} error${c.errored === 1 ? "" : "s"}`);
  if (c.passed || parts.length === 0) parts.push(`${c.passed} passed`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  return parts.join(", ");
}

function reportSummary(facts: CiRunFacts, redact: Redact): string {
  const lines: string[] = [];
  if (facts.reason) lines.push(`${redact(facts.reason)}`, "");
  lines.push(
    `- **Command:** ${code(redact(facts.command))}`,
    `- **Exit code:** ${facts.exitCode === null ? "none (the command did not finish)" : String(facts.exitCode)}`,
    `- **Duration:** ${formatDuration(facts.durationMs)}`,
    ...timeItem(facts.phases),
    `- **Container:** ${code(facts.container)}`,
    `- **Commit:** ${code(shortSha(facts.headSha))}`,
  );
  if (facts.junit && facts.junit.total > 0) lines.push(`- **Tests:** ${countsText(facts.junit)} (JUnit reports)`);
  if (facts.artifacts) {
    lines.push("url" in facts.artifacts ? `- **Artifacts:** [${escapeLinkText(facts.artifacts.label ?? "download (.tar.gz)")}](${facts.artifacts.url})` : `- **Artifacts:** ${redact(facts.artifacts.note)}`);
  }
  if (facts.logUrl) lines.push(`- **Log:** [task log](${facts.logUrl})`);
  const failures = facts.failures ?? [];
  if (failures.length) {
    lines.push("", "### Failed tests", "");
    for (const f of failures.slice(0, MAX_FAILURE_LINES)) {
      const where = f.location ? ` (${code(f.location)})` : "";
      const message = f.message ? `: ${escapeMarkdown(oneLine(redact(f.message), MAX_FAILURE_MESSAGE))}` : "";
      lines.push(`- ${escapeMarkdown(redact(f.name))}${where}${message}`);
    }
    if (failures.length > MAX_FAILURE_LINES) lines.push(`- … and ${failures.length - MAX_FAILURE_LINES} more`);
  }
  for (const note of facts.notes ?? []) lines.push("", `> ${oneLine(redact(note), 1000)}`);
  const summary = lines.join("\n");
  return summary.length <= MAX_OUTPUT_CHARS ? summary : `${summary.slice(0, MAX_OUTPUT_CHARS - 40)}\n\n…(summary cut)`;
}

/** The last part of a text, and how much of it came before. */
export interface Tail {
  text: string;
  /** Whole lines left out at the start. */
  cutLines: number;
  cutChars: number;
}

/** The last part of `text` within `max` characters, starting at a line boundary when one exists. */
export function tailLines(text: string, max: number): Tail {
  if (text.length <= max) return { text, cutLines: 0, cutChars: 0 };
  const start = text.length - max;
  let from = start;
  if (text[start - 1] !== "\n") {
    const nl = text.indexOf("\n", start);
    // No line boundary in the tail: one enormous line, cut inside it.
    if (nl !== -1 && nl + 1 < text.length) from = nl + 1;
  }
  const cut = text.slice(0, from);
  const cutLines = (cut.match(/\n/g) ?? []).length + (cut.endsWith("\n") || cut === "" ? 0 : 1);
  return { text: text.slice(from), cutLines, cutChars: from };
}

const ESC = "\u001b";
const BEL = "\u0007";
/** CSI sequences (colours, cursor moves) and OSC sequences (titles, hyperlinks). */
const CSI = new RegExp(`${ESC}\\[[0-?]*[ -/]*[@-~]`, "g");
const OSC = new RegExp(`${ESC}\\][^${BEL}${ESC}]*(?:${BEL}|${ESC}\\\\)`, "g");

/** Terminal colours and carriage-return progress bars make no sense on GitHub. */
export function cleanLog(log: string): string {
  return log
    .replace(/\r\n/g, "\n")
    .replace(CSI, "")
    .replace(OSC, "")
    .split("\n")
    .map((line) => (line.includes("\r") ? line.slice(line.lastIndexOf("\r") + 1) : line))
    .join("\n");
}

/** Room kept for the fence and the note about what was cut. */
const TEXT_OVERHEAD = 400;

/**
 * The log's tail as the check's text: redacted first (a secret must not survive a cut), then cut.
 * `dropped`: what came before `log` and was never kept (a bounded collector), counted in the note.
 */
export function logText(
  log: string,
  redact: Redact,
  fullLogLinked = false,
  max: number = MAX_OUTPUT_CHARS,
  dropped?: { lines: number; chars: number } | null,
): string {
  const clean = redact(cleanLog(log)).replace(/\n+$/, "");
  if (!clean.trim()) return "_The command printed nothing._";
  const fence = "`".repeat(Math.max(3, longestRun(clean, "`") + 1));
  const tail = tailLines(clean, max - TEXT_OVERHEAD);
  let note = "";
  const cutLines = tail.cutLines + (dropped?.lines ?? 0);
  const cutChars = tail.cutChars + (dropped?.chars ?? 0);
  if (cutChars > 0) {
    const lines = cutLines === 1 ? "1 line" : `${cutLines.toLocaleString("en-US")} lines`;
    note =
      `_The first ${lines} (${cutChars.toLocaleString("en-US")} characters) of the log are not shown` +
      `${fullLogLinked ? "; the full log is in the artifacts" : ""}._\n\n`;
  }
  return `${note}${fence}text\n${tail.text}\n${fence}`;
}

export interface QueuedFacts {
  command: string;
  headSha: string;
  /** `push to main`, `pull request #12`, `re-run`. */
  cause: string;
  sender: string;
  position?: number | undefined;
}

/** What started a run, as the queued check says it: `push to \`main\``, `pull request #12`, `re-run`. */
export function ciCause(ci: Pick<CiSnapshot, "trigger" | "branch" | "pullRequest">): string {
  switch (ci.trigger) {
    case "push":
      return `push to \`${ci.branch ?? "?"}\``;
    case "pull_request":
      return `pull request #${ci.pullRequest?.number ?? "?"}`;
    case "rerun":
      return "re-run";
  }
}

export function queuedOutput(facts: QueuedFacts, redact: Redact): CheckOutput {
  const ahead = facts.position ? ` (${facts.position} ahead)` : "";
  return {
    title: "Queued",
    summary: `Waiting for a container${ahead} to run ${code(redact(facts.command))} on ${code(shortSha(facts.headSha))}, for the ${facts.cause} by @${facts.sender}.`,
  };
}

export function runningOutput(facts: { container: string; command: string; retry?: boolean }, redact: Redact): CheckOutput {
  return {
    title: `Running in ${facts.container}`,
    summary: `Running ${code(redact(facts.command))} in container ${code(facts.container)}${facts.retry ? " (again, after a restart interrupted the first attempt)" : ""}.`,
  };
}

export function blockedOutput(facts: { reason: string; headSha: string; buttons: boolean }): CheckOutput {
  const how = facts.buttons
    ? "Someone who may trigger CI (listed in `AUTHORIZED_CI_TRIGGER_USERS`, or with write access when that list is empty) can start it with **Run tests** above, or with **Re-run**."
    : "Someone who may trigger CI (listed in `AUTHORIZED_CI_TRIGGER_USERS`, or with write access when that list is empty) can run it by pushing this commit to a branch of the repository.";
  return {
    title: "Not run: approval needed",
    summary: `${facts.reason} The tests were not run.\n\n${how} Approval covers this commit (${code(shortSha(facts.headSha))}) only; a new push needs it again.`,
  };
}

/** `problem` is the config loader's user-facing Markdown: the file (with its URL), the key, the problem. */
export function configErrorOutput(problem: string, redact: Redact): CheckOutput {
  return {
    title: "DEVS.yml is invalid",
    summary: `CI did not run: the configuration could not be used.\n\n${redact(problem)}\n\nFix the file on the default branch, then press **Re-run**.`,
  };
}

export function supersededOutput(newerSha: string): CheckOutput {
  return {
    title: "Cancelled: a newer commit was pushed",
    summary: `A newer commit (${code(shortSha(newerSha))}) was pushed to this pull request before this run started; its run replaces this one.`,
  };
}

/**
 * A run that ended without a report of its own: cancelled while queued, or given up after
 * restarts (what the pool's `finished` event says). `reason` is the pool's detail.
 */
export function endedEarlyOutput(conclusion: CiConclusion, reason: string, redact: Redact): CheckOutput {
  const title = conclusion === "cancelled" ? "Cancelled" : conclusion === "timed_out" ? "Timed out" : "Not completed";
  return { title, summary: `The run ended before it could report: ${redact(reason)}.` };
}

/**
 * The run broke before its tests could be judged (configuration, checkout, image, container):
 * what went wrong, the facts, and the last lines of whatever failed (a build, a lifecycle hook).
 */
export function errorOutput(
  facts: {
    reason: string;
    command: string;
    container: string;
    headSha: string;
    durationMs: number;
    details?: string | null | undefined;
    notes?: readonly string[] | undefined;
    phases?: PhaseTimings | undefined;
    logUrl?: string | null | undefined;
  },
  redact: Redact,
): CheckOutput {
  const lines = [
    redact(facts.reason),
    "",
    `- **Command:** ${code(redact(facts.command))} (not run)`,
    `- **Container:** ${code(facts.container)}`,
    `- **Commit:** ${code(shortSha(facts.headSha))}`,
    `- **Duration:** ${formatDuration(facts.durationMs)}`,
    ...timeItem(facts.phases),
    ...(facts.logUrl ? [`- **Log:** [task log](${facts.logUrl})`] : []),
  ];
  for (const note of facts.notes ?? []) lines.push("", `> ${oneLine(redact(note), 1000)}`);
  const out: CheckOutput = { title: "Could not run the tests", summary: lines.join("\n") };
  if (facts.details?.trim()) out.text = logText(facts.details, redact);
  return out;
}

/** The summary's line of where the time went, when anything was timed. */
function timeItem(phases: PhaseTimings | undefined): string[] {
  const text = formatPhases(phases);
  return text ? [`- **Time:** ${text}`] : [];
}

/** Inline code that survives backticks inside. */
export function code(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, " ");
  const ticks = "`".repeat(longestRun(flat, "`") + 1);
  const pad = flat.startsWith("`") || flat.endsWith("`") ? " " : "";
  return `${ticks}${pad}${flat}${pad}${ticks}`;
}

function longestRun(text: string, ch: string): number {
  let best = 0;
  let run = 0;
  for (const c of text) {
    run = c === ch ? run + 1 : 0;
    if (run > best) best = run;
  }
  return best;
}

function oneLine(text: string, max: number): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length <= max ? line : `${line.slice(0, max - 1).trimEnd()}…`;
}

function escapeMarkdown(text: string): string {
  return oneLine(text, 500).replace(/([\\`*_[\]<>|#])/g, "\\$1");
}

function escapeLinkText(text: string): string {
  return text.replace(/([\\[\]])/g, "\\$1");
}
