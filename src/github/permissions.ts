// Who may trigger the bot (or speak to the agent) on a repository: the configured list, or, when it
// is empty, write access as GitHub answers it, remembered briefly so a busy thread does not ask once
// per comment.
import { checkAllowList, permissionAllowsTrigger } from "../policy/access.js";
import type { BotNames } from "../policy/bot-names.js";
import type { AllowList } from "../settings.js";
import type { GitHubClient } from "./client.js";

export interface TriggerAccess {
  /** AUTHORIZED_TRIGGER_USERS or AUTHORIZED_CI_TRIGGER_USERS. */
  authorizedUsers: AllowList;
  bot: BotNames;
  /** One instance for the whole process, so every handler and the agent share its answers. */
  permissions: PermissionCache;
}

/** The one check of who may trigger: a configured list answers alone; otherwise write access. */
export async function mayTrigger(octokit: GitHubClient, repo: { owner: string; name: string }, login: string, access: TriggerAccess): Promise<boolean> {
  const verdict = checkAllowList(login, access.authorizedUsers);
  if (verdict !== "ask-github") return verdict === "allowed";
  // The App has write access, but is no collaborator: GitHub would answer 404 for it.
  if (access.bot.isBot(login)) return true;
  return access.permissions.hasWriteAccess(octokit, repo.owner, repo.name, login);
}

export class PermissionCache {
  private readonly answers = new Map<string, { allowed: boolean; expires: number }>();
  /** Questions on their way: a storm of one person's mentions asks GitHub once, not once each. */
  private readonly asking = new Map<string, Promise<boolean>>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async hasWriteAccess(octokit: GitHubClient, owner: string, repo: string, login: string): Promise<boolean> {
    const key = `${owner}/${repo}#${login}`.toLowerCase();
    const cached = this.answers.get(key);
    if (cached && cached.expires > this.now()) return cached.allowed;
    let asked = this.asking.get(key);
    if (!asked) {
      asked = askGitHub(octokit, owner, repo, login).then((allowed) => {
        this.answers.set(key, { allowed, expires: this.now() + this.ttlMs });
        if (this.answers.size > 5000) this.evictExpired();
        return allowed;
      });
      this.asking.set(key, asked);
      void asked.finally(() => this.asking.delete(key)).catch(() => {});
    }
    return asked;
  }

  private evictExpired(): void {
    const now = this.now();
    for (const [key, value] of this.answers) if (value.expires <= now) this.answers.delete(key);
  }
}

async function askGitHub(octokit: GitHubClient, owner: string, repo: string, login: string): Promise<boolean> {
  try {
    const { data } = await octokit.request("GET /repos/{owner}/{repo}/collaborators/{username}/permission", {
      owner,
      repo,
      username: login,
    });
    return permissionAllowsTrigger(data.permission, data.role_name);
  } catch (error) {
    // 404: not a collaborator (or a login that does not exist): no access. Anything else is a
    // real failure and must not be mistaken for "no".
    if ((error as { status?: number }).status === 404) return false;
    throw error;
  }
}
