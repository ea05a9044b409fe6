// The CI fix loop's one line on the root task's progress comment, e.g.
// `CI failed (2 tests) → fixing, attempt 1 of 2 → ✅ CI passed`. A hidden marker starts its
// paragraph, so the line can be replaced in the comment however the rest was written. Pure.
import type { LoopStep } from "../tasks/fix-loops.js";

export const LOOP_MARKER = "<!-- devs-webhook:loop -->";

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
const code = (name: string) => `\`${name.replace(/`/g, "'").replace(/\s+/g, " ").slice(0, 200)}\``;

function stepText(step: LoopStep): string {
  switch (step.kind) {
    case "ci_failed":
      return step.failed !== null && step.failed > 0 ? `CI failed (${plural(step.failed, "test")})` : `CI failed (exit code ${step.exitCode ?? "none"})`;
    case "fixing":
      return `fixing, attempt ${step.attempt} of ${step.of}`;
    case "passed":
      return "✅ CI passed";
    case "gave_up": {
      const what = step.failing.length
        ? `: ${step.failing.slice(0, MAX_NAMES).map(code).join(", ")}${step.failing.length > MAX_NAMES ? ` and ${step.failing.length - MAX_NAMES} more` : ""}`
        : ` (exit code ${step.exitCode ?? "none"})`;
      return `❌ still failing after ${plural(step.attempts, "attempt")}${what}`;
    }
    case "stopped":
      return `stopped: ${step.why}`;
  }
}

const MAX_NAMES = 5;

/** The loop's paragraph, marker first; empty when the loop has no step yet. */
export function loopParagraph(steps: readonly LoopStep[]): string {
  return steps.length ? `${LOOP_MARKER}\n${steps.map(stepText).join(" → ")}` : "";
}

/**
 * The comment with its loop paragraph replaced by `steps`' (or added at its end). Only a paragraph
 * at the very end is the loop's: a marker the agent wrote into its summary cuts nothing away.
 */
export function withLoopParagraph(body: string, steps: readonly LoopStep[]): string {
  const rest = body.replace(LOOP_AT_END, "");
  const paragraph = loopParagraph(steps);
  return paragraph ? `${rest}\n\n${paragraph}` : rest;
}

const LOOP_AT_END = new RegExp(`\\s*${LOOP_MARKER.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n[^\\n]*$`);
