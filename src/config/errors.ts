// The typed error for a configuration the task must not run on. It carries every problem found
// (file, URL, key path, problem) so the edge can tell the user precisely what to fix, and it is
// "user facing" (has `userMessage`), which the agent runner turns into its failure comment.
import { configErrorReason } from "./problem-text.js";
import type { ConfigProblem } from "./schema.js";

export class DevsConfigError extends Error {
  override name = "DevsConfigError";

  constructor(
    /** owner/name of the repository whose configuration was read. */
    readonly repo: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(
      `${repo}: invalid configuration: ${problems
        .map((p) => `${p.url ?? p.file}${p.keyPath ? ` ${p.keyPath}` : ""}: ${p.problem}`)
        .join("; ")}`,
    );
  }

  /** Markdown for a comment or check run; operator files are summarised, never shown. */
  get userMessage(): string {
    return configErrorReason(this);
  }
}

export function isDevsConfigError(error: unknown): error is DevsConfigError {
  return error instanceof DevsConfigError;
}

/** The repository (or the App's access to it) is missing: not a configuration problem. */
export class RepositoryUnavailableError extends Error {
  override name = "RepositoryUnavailableError";
  constructor(readonly repo: string) {
    super(`${repo} was not found, or this app cannot read it (is the app installed on it?)`);
  }
}
