// The earlier conversation the agent may read: comments on the issue or PR written before the
// trigger (and not edited since), by users who may trigger the bot or by the bot itself. Anything
// else could be someone steering the agent without permission.
import type { GitHubClient } from "../github/client.js";
import { mayTrigger, type TriggerAccess } from "../github/permissions.js";
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
  const earlier = data.filter(
    (c) => c.id !== triggerId && c.user && Date.parse(c.created_at) <= cutoff && Date.parse(c.updated_at) <= cutoff && c.body?.trim(),
  );
  const kept: ConversationComment[] = [];
  for (const c of earlier.slice(-MAX_COMMENTS)) {
    const login = c.user!.login;
    // The bot's own earlier comments belong to the conversation even when a list leaves it out.
    if (deps.bot.isBot(login) || (await mayTrigger(octokit, task.repo, login, deps))) kept.push({ author: login, createdAt: c.created_at, body: c.body! });
  }
  return kept;
}
