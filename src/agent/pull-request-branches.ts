// A comment in a pull request's conversation tab arrives as `issue_comment`, which names the pull
// request but not its branches. They are read when the task runs, not on the delivery path, so
// the agent works on the branch as it is then.
import type { GitHubClient } from "../github/client.js";
import { pullRequestSnapshot, type Task } from "../tasks/task.js";

export type BranchLookup =
  /** The task as it came, or with the pull request's branches filled in. */
  | { task: Task; found: "branches" | "not_needed" }
  /**
   * The agent works from the default branch and offers a new pull request: a fork's branch cannot
   * be pushed to, and its code must not run in a container of the repository's own trust (the
   * place was chosen before the lookup); a closed pull request's branch is nobody's work any more.
   */
  | { task: Task; found: "fork" | "closed" };

export async function withPullRequestBranches(octokit: GitHubClient, task: Task): Promise<BranchLookup> {
  if (task.target.type !== "pull_request" || task.target.pullRequest) return { task, found: "not_needed" };
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/pulls/{pull_number}", {
    owner: task.repo.owner,
    repo: task.repo.name,
    pull_number: task.target.number,
  });
  const pullRequest = pullRequestSnapshot(data, task.repo.fullName);
  if (pullRequest.fromFork) return { task, found: "fork" };
  if (data.state !== "open") return { task, found: "closed" };
  return { task: { ...task, target: { ...task.target, pullRequest } }, found: "branches" };
}
