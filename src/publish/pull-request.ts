// Opening the pull request that carries the agent's work. This is the product of a task, not a
// report about it, so the runner calls it itself; the task's comment and reactions are the
// reporter's (agent/reporter.ts).
import type { GitHubClient } from "../github/client.js";
import type { Task } from "../tasks/task.js";

export interface PullRequestInput {
  head: string;
  base: string;
  title: string;
  body: string;
  draft: boolean;
}

export async function openPullRequest(octokit: GitHubClient, task: Task, input: PullRequestInput): Promise<{ number: number; url: string }> {
  const { data } = await octokit.request("POST /repos/{owner}/{repo}/pulls", { owner: task.repo.owner, repo: task.repo.name, ...input });
  return { number: data.number, url: data.html_url };
}
