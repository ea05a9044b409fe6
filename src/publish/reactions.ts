// Reactions go to the thing that triggered: an issue or PR, an issue comment, or a review comment
// (which has its own endpoint). Reviews themselves cannot carry reactions: react on the PR.
import type { GitHubClient } from "../github/client.js";
import type { TriggerSubject } from "../tasks/task.js";

export type Reaction = "eyes" | "rocket" | "confused" | "+1" | "-1" | "laugh" | "hooray" | "heart";

function reactionPath(owner: string, repo: string, targetNumber: number, subject: TriggerSubject): string {
  const base = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`;
  switch (subject.type) {
    case "issue_comment":
      return `${base}/issues/comments/${subject.id}/reactions`;
    case "pull_request_review_comment":
      return `${base}/pulls/comments/${subject.id}/reactions`;
    case "issue":
    case "pull_request":
    case "pull_request_review":
      return `${base}/issues/${targetNumber}/reactions`;
  }
}

export async function addReaction(
  octokit: GitHubClient,
  owner: string,
  repo: string,
  targetNumber: number,
  subject: TriggerSubject,
  content: Reaction,
): Promise<void> {
  await octokit.request(`POST ${reactionPath(owner, repo, targetNumber, subject)}`, { content });
}
