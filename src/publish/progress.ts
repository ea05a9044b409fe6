// The one progress comment per task, rendered for each stage. A hidden marker names the task so
// a retried task (after a restart) edits its comment instead of posting another. Pure.
import { TASK_MARKER } from "../policy/task-marker.js";
import { PHASES, type PhaseTimings } from "../tasks/phases.js";

export type Progress =
  | { stage: "queued"; slot: string; position: number }
  | { stage: "running"; slot: string; since: Date; retry?: boolean }
  | {
      stage: "done";
      slot: string;
      durationMs: number;
      costUsd: number | null;
      turns: number | null;
      summary: string;
      pullRequest?: { number: number; url: string } | undefined;
      pushed?: { branch: string; url: string } | undefined;
      note?: string | undefined;
      phases?: PhaseTimings | undefined;
    }
  | { stage: "failed"; reason: string; durationMs?: number | undefined; costUsd?: number | null | undefined; phases?: PhaseTimings | undefined }
  /**
   * A budget stopped the task (`budget` says which, at what figure), before it started (`ran`
   * false) or while the agent worked; what it had done so far may be a draft pull request.
   */
  | {
      stage: "stopped";
      budget: string;
      ran: boolean;
      durationMs: number;
      costUsd: number | null;
      pullRequest?: { number: number; url: string } | undefined;
      note?: string | undefined;
      phases?: PhaseTimings | undefined;
    }
  | { stage: "timed_out"; minutes: number }
  | { stage: "cancelled"; by?: string | undefined };

export const markerFor = (taskId: string) => `${TASK_MARKER}${taskId} -->`;

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** A phase's time: tenths of a second under a minute (phases are often sub-second), then as formatDuration. */
function formatPhaseDuration(ms: number): string {
  if (ms < 59_950) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  return formatDuration(ms);
}

/** `queue 0.2s · container 0.4s · checkout 0.3s · agent 3m 2s · publish 1.1s`; empty when nothing was timed. */
export function formatPhases(phases: PhaseTimings | undefined): string {
  if (!phases) return "";
  return PHASES.filter((phase) => phases[phase] !== undefined)
    .map((phase) => `${phase} ${formatPhaseDuration(phases[phase]!)}`)
    .join(" · ");
}

/** The comment's paragraph of where the time went; nothing when nothing was timed. */
const timeLine = (phases: PhaseTimings | undefined) => {
  const text = formatPhases(phases);
  return text ? `\n\nTime: ${text}` : "";
};

/** Keeps comments under GitHub's 65,536-character limit with room for the header. */
const MAX_SUMMARY = 60_000;

/** Stages after which the task's log is complete. */
const FINAL_STAGES: ReadonlySet<Progress["stage"]> = new Set(["done", "failed", "stopped", "timed_out", "cancelled"]);

/** The comment for a stage; a final stage ends with a link to the task's log when there is one (PUBLIC_URL). */
export function renderProgress(taskId: string, p: Progress, logUrl: string | null = null): string {
  const body = renderStage(taskId, p);
  return logUrl && FINAL_STAGES.has(p.stage) ? `${body}\n\n[Log](${logUrl})` : body;
}

function renderStage(taskId: string, p: Progress): string {
  const marker = markerFor(taskId);
  switch (p.stage) {
    case "queued":
      return `${marker}\n⏳ Queued for \`${p.slot}\`${p.position > 0 ? ` (${p.position} ahead)` : ""}.`;
    case "running":
      return `${marker}\n⚙️ Working in \`${p.slot}\` since ${p.since.toISOString().replace(/\.\d+Z$/, "Z")}${p.retry ? " (retrying after a restart)" : ""}.`;
    case "done": {
      const facts = [`in ${formatDuration(p.durationMs)}`];
      if (p.costUsd !== null) facts.push(`$${p.costUsd.toFixed(2)}`);
      if (p.turns !== null) facts.push(`${p.turns} turn${p.turns === 1 ? "" : "s"}`);
      const result = p.pullRequest
        ? ` Opened [#${p.pullRequest.number}](${p.pullRequest.url}).`
        : p.pushed
          ? ` Pushed to [\`${p.pushed.branch}\`](${p.pushed.url}).`
          : "";
      let summary = p.summary.trim() || "_The agent left no summary._";
      if (summary.length > MAX_SUMMARY) summary = `${summary.slice(0, MAX_SUMMARY)}\n\n…(summary cut at ${MAX_SUMMARY} characters)`;
      return `${marker}\n✅ Done ${facts.join(" · ")} in \`${p.slot}\`.${result}${timeLine(p.phases)}${p.note ? `\n\n> ${p.note}` : ""}\n\n${summary}`;
    }
    case "failed":
      return `${marker}\n❌ Failed${p.durationMs !== undefined ? ` after ${formatDuration(p.durationMs)}` : ""}: ${p.reason}${timeLine(p.phases)}`;
    case "stopped": {
      if (!p.ran) return `${marker}\n🛑 Not started: ${p.budget}`;
      const facts = [formatDuration(p.durationMs), ...(p.costUsd !== null ? [`$${p.costUsd.toFixed(2)}`] : [])].join(" · ");
      const kept = p.pullRequest
        ? ` The work so far is in the draft pull request [#${p.pullRequest.number}](${p.pullRequest.url}), marked unfinished.`
        : p.note
          ? ` ${p.note}`
          : "";
      return `${marker}\n🛑 Stopped after ${facts}: ${p.budget}${kept}${timeLine(p.phases)}`;
    }
    case "timed_out":
      return `${marker}\n⏱️ Stopped after ${p.minutes} minute${p.minutes === 1 ? "" : "s"} (the time limit). Nothing was published.`;
    case "cancelled":
      return `${marker}\n🚫 Cancelled${p.by ? ` by ${p.by}` : ""}. Nothing was published.`;
  }
}
