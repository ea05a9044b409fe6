// Opening the pull request that carries the agent's work. This is the product of a task, not a
// report about it, so the runner calls it itself; the task's comment and reactions are the
// reporter's (agent/reporter.ts).
import type { GitHubClient } from "../github/client.js";
import type { Task } from "../tasks/task.js";
import { markerFor } from "./progress.js";

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

export interface TaskPullRequest {
  number: number;
  url: string;
  head: string;
  headSha: string;
}

/**
 * The open pull request an earlier run of this task opened from one of `branches` (its body
 * carries the task's marker), so that running a task again updates it instead of opening another.
 */
export async function findTaskPullRequest(octokit: GitHubClient, task: Task, branches: string[]): Promise<TaskPullRequest | null> {
  const marker = markerFor(task.id);
  for (const branch of branches) {
    const { data } = await octokit.request("GET /repos/{owner}/{repo}/pulls", {
      owner: task.repo.owner,
      repo: task.repo.name,
      state: "open",
      head: `${task.repo.owner}:${branch}`,
      per_page: 10,
    });
    const pr = data.find((p) => p.body?.includes(marker) && p.head.ref === branch);
    if (pr) return { number: pr.number, url: pr.html_url, head: pr.head.ref, headSha: pr.head.sha };
  }
  return null;
}

export async function updatePullRequest(octokit: GitHubClient, task: Task, number: number, text: { title: string; body: string }): Promise<void> {
  await octokit.request("PATCH /repos/{owner}/{repo}/pulls/{pull_number}", { owner: task.repo.owner, repo: task.repo.name, pull_number: number, ...text });
}
