// The earlier conversation the agent may read: comments on the issue or PR written before the
// trigger (and not edited since), by users who may trigger the bot or by the bot itself. Anything
// else could be someone steering the agent without permission.
import type { GitHubClient } from "../github/client.js";
import { mayTrigger, type TriggerAccess } from "../github/permissions.js";
import { TASK_MARKER } from "../policy/task-marker.js";
import type { Task } from "../tasks/task.js";
import type { ConversationComment } from "./prompt.js";

const MAX_COMMENTS = 50;

export async function trustedConversation(
  octokit: GitHubClient,
  task: Task,
  deps: TriggerAccess,
): Promise<ConversationComment[]> {
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/issues/{issue_number}/comments", {
    owner: task.repo.owner,
    repo: task.repo.name,
    issue_number: task.target.number,
    per_page: 100,
  });
  const cutoff = Date.parse(task.createdAt);
  const triggerId = task.trigger.subject.type === "issue_comment" ? task.trigger.subject.id : null;
  const ownProgress = `${TASK_MARKER}${task.id} -->`;
  const earlier = data.filter((c) => {
    if (c.id === triggerId || !c.user || !c.body?.trim()) return false;
    // The bot's answers count whenever they were written: a task that waited for the thread's
    // previous one reads what that one answered. Its own progress comment is not conversation.
    if (deps.bot.isBot(c.user.login)) return !c.body.startsWith(ownProgress);
    return Date.parse(c.created_at) <= cutoff && Date.parse(c.updated_at) <= cutoff;
  });
  const kept: ConversationComment[] = [];
  for (const c of earlier.slice(-MAX_COMMENTS)) {
    const login = c.user!.login;
    // The bot's own earlier comments belong to the conversation even when a list leaves it out.
    if (deps.bot.isBot(login) || (await mayTrigger(octokit, task.repo, login, deps))) kept.push({ author: login, createdAt: c.created_at, body: c.body! });
  }
  return [...kept, ...(await reviewComments(octokit, task, deps))];
}

/**
 * A review arrives as one delivery for the review and one per inline comment; they make one task
 * (the handler keys them by the review), which reads every comment of the review here.
 */
async function reviewComments(octokit: GitHubClient, task: Task, deps: TriggerAccess): Promise<ConversationComment[]> {
  const reviewId = task.trigger.reviewId;
  if (!reviewId || task.target.type !== "pull_request") return [];
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments", {
    owner: task.repo.owner,
    repo: task.repo.name,
    pull_number: task.target.number,
    review_id: reviewId,
    per_page: 100,
  });
  // The comment that triggered is the task's request already.
  const triggerId = task.trigger.subject.type === "pull_request_review_comment" ? task.trigger.subject.id : null;
  const kept: ConversationComment[] = [];
  for (const c of data.slice(0, MAX_COMMENTS)) {
    const login = c.user?.login;
    if (!login || !c.body?.trim() || c.id === triggerId) continue;
    if (login !== task.sender && !(await mayTrigger(octokit, task.repo, login, deps))) continue;
    kept.push({ author: login, createdAt: c.created_at, body: c.body, review: { path: c.path, line: c.line ?? c.original_line ?? null, diffHunk: c.diff_hunk } });
  }
  return kept;
}
