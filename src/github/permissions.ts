// Asks GitHub whether a user has write access to a repository, remembering answers briefly so a
// busy thread does not ask once per comment.
import { permissionAllowsTrigger } from "../policy/access.js";
import type { GitHubClient } from "./client.js";

export class PermissionCache {
  private readonly answers = new Map<string, { allowed: boolean; expires: number }>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async hasWriteAccess(octokit: GitHubClient, owner: string, repo: string, login: string): Promise<boolean> {
    const key = `${owner}/${repo}#${login}`.toLowerCase();
    const cached = this.answers.get(key);
    if (cached && cached.expires > this.now()) return cached.allowed;
    const allowed = await askGitHub(octokit, owner, repo, login);
    this.answers.set(key, { allowed, expires: this.now() + this.ttlMs });
    if (this.answers.size > 5000) this.evictExpired();
    return allowed;
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
    const body = data as { permission?: string; role_name?: string };
    return permissionAllowsTrigger(body.permission, body.role_name);
  } catch (error) {
    // 404: not a collaborator (or a login that does not exist): no access. Anything else is a
    // real failure and must not be mistaken for "no".
    if ((error as { status?: number }).status === 404) return false;
    throw error;
  }
}
