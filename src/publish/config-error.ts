// A configuration the task could not run on, told to the user where they will see it: a comment on
// the triggering issue or pull request, or a check run's output. The words themselves (what the
// user and the log are told) are in config/problem-text.ts.
import type { GitHubClient } from "../github/client.js";
import {
  configErrorComment,
  logConfigError,
  renderConfigProblems,
  type ConfigErrorLike,
  type LogLike,
} from "../config/problem-text.js";

export interface CommentTarget {
  owner: string;
  repo: string;
  /** The issue or pull request that triggered the task. */
  issueNumber: number;
}

/** Posts the error as a comment on the triggering issue or pull request; returns the comment id. */
export async function postConfigErrorComment(
  octokit: GitHubClient,
  target: CommentTarget,
  error: ConfigErrorLike,
  log: LogLike,
): Promise<number> {
  logConfigError(log, error, { issue: target.issueNumber });
  const { data } = await octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", {
    owner: target.owner,
    repo: target.repo,
    issue_number: target.issueNumber,
    body: configErrorComment(error),
  });
  return Number(data.id); // int64 in the OpenAPI types; JSON gives a number
}

/** A check run's `output` for a CI run that could not start; send it with conclusion `failure`. */
export function configErrorCheckOutput(error: ConfigErrorLike, log: LogLike): { title: string; summary: string } {
  logConfigError(log, error);
  const count = error.problems.length;
  return {
    title: `Invalid DEVS.yml: ${count} problem${count === 1 ? "" : "s"}`,
    summary: `The tests did not run.\n\n${renderConfigProblems(error, "push again or re-run this check")}`,
  };
}
