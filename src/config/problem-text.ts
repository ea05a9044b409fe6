// An invalid configuration in words: the problem list for a check run or the agent's failure
// line, and the log line. Pure text (the log is injected), so config/ can build a
// DevsConfigError's message without reaching into publish/. The user gets the repository file
// (linked), the key and the problem; files on the server (operator layers) are only counted,
// never shown, since their names and values are the operator's. The logs get everything.
import type { Logger } from "pino";
import { codeSpan, type ConfigProblem } from "./schema.js";

/** Enough for any real file, small enough for GitHub's 65,536-character comment limit. */
const MAX_LISTED = 50;

/** What the renderers need of a DevsConfigError (structural, so errors.ts can use them without a cycle). */
export interface ConfigErrorLike {
  readonly repo: string;
  readonly problems: readonly ConfigProblem[];
}
export type LogLike = Pick<Logger, "warn">;

function problemLine(p: ConfigProblem): string {
  const file = p.url && /^https?:\/\//.test(p.url) ? `[${codeSpan(p.file)}](${p.url})` : codeSpan(p.file);
  return `- ${file}${p.keyPath ? `, ${codeSpan(p.keyPath)}` : ""}: ${p.problem.replace(/\r?\n/g, " ")}`;
}

/**
 * The bullet list and what to do next (`then`: how to try again; null leaves that line to the
 * caller); shared by every rendering.
 */
export function renderConfigProblems(error: ConfigErrorLike, then: string | null = "trigger the task again"): string {
  const own = error.problems.filter((p) => p.origin === "repository");
  const operator = error.problems.filter((p) => p.origin === "operator");
  const lines = own.slice(0, MAX_LISTED).map(problemLine);
  if (own.length > MAX_LISTED) lines.push(`- …and ${own.length - MAX_LISTED} more`);
  const parts = [];
  if (lines.length) parts.push(lines.join("\n"));
  if (lines.length && then) parts.push(`Fix the file on the default branch, then ${then}.`);
  if (operator.length) {
    parts.push(
      `The server's own configuration for this repository (set by whoever runs this devs-webhook) has ${operator.length} problem${
        operator.length === 1 ? "" : "s"
      }; they are in the server's log for the operator to fix.`,
    );
  }
  return parts.join("\n\n");
}

/** For the agent runner's failure line ("❌ Failed: <this>"). */
export function configErrorReason(error: ConfigErrorLike): string {
  return `the repository configuration (DEVS.yml) is invalid, so nothing ran.\n\n${renderConfigProblems(error)}`;
}

/** The log line says what the user is told, with the full detail (operator paths included). */
export function logConfigError(log: LogLike, error: ConfigErrorLike, fields: Record<string, unknown> = {}): void {
  log.warn(
    {
      ...fields,
      repo: error.repo,
      problems: error.problems.map(({ file, url, keyPath, problem, origin }) => ({ file, url, keyPath, problem, origin })),
    },
    `invalid DEVS.yml for ${error.repo}: ${error.problems.map((p) => `${p.url ?? p.file}${p.keyPath ? ` ${p.keyPath}` : ""}: ${p.problem}`).join("; ")}`,
  );
}
