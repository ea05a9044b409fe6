// Collects what the agent left in its workspace (new commits and uncommitted changes alike) and
// pushes it from the host. Git never runs with the workspace's own .git as its repository: that
// config and those hooks were writable by the agent, and options such as core.fsmonitor, filter
// drivers or hooks would run commands on the host. Instead a host-owned repository fetches the
// agent's commits (as from any remote) and uses the workspace only as a work tree.
import { mkdir, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { SimpleGit } from "simple-git";
import { GitError, safeRef, withAuth, type Identity } from "../workspace/repo-cache.js";

export interface CollectInput {
  /** The task's workspace (the agent's checkout). */
  workspace: string;
  /** The bare repository cache holding the base commit. */
  cache: string;
  /** A scratch directory for the host-owned repository; removed afterwards by `discard`. */
  scratch: string;
  baseSha: string;
  identity: Identity;
  message: string;
}

export interface Collected {
  /** The commit to publish (equals baseSha when nothing changed). */
  headSha: string;
  changed: boolean;
  /** Files that differ from the base. */
  files: string[];
  /** The agent's own commits were unusable (history rewritten), so only its files were taken. */
  ignoredAgentHistory: boolean;
}

const gitIn = (gitDir: string): SimpleGit => withAuth(gitDir, null);

export async function collectChanges(input: CollectInput): Promise<Collected> {
  const { workspace, cache, scratch, baseSha, identity } = input;
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  const git = gitIn(scratch);
  await git.raw(["init", "--bare", "--quiet"]);
  // Host-owned settings only; none are read from the workspace.
  await git.raw(["fetch", "--quiet", "--no-tags", cache, baseSha]).catch((error: unknown) => {
    throw new GitError(`the base commit ${baseSha} is not in the cache: ${(error as Error).message.split("\n")[0]}`);
  });
  let parent = baseSha;
  let ignoredAgentHistory = false;
  const agentHead = await fetchAgentHead(git, workspace);
  if (agentHead && agentHead !== baseSha) {
    // (simple-git does not fail on a silent non-zero exit, so compare the merge base instead of
    // relying on --is-ancestor's exit code.)
    const mergeBase = await git.raw(["merge-base", baseSha, agentHead]).then(
      (out) => out.trim(),
      () => "",
    );
    const descends = mergeBase === baseSha;
    if (descends) parent = agentHead;
    else ignoredAgentHistory = true;
  }
  const tree = ["--work-tree", workspace];
  await git.raw([...tree, "read-tree", parent]);
  await git.raw([...tree, "add", "-A", "--", "."]);
  const staged = (await git.raw([...tree, "diff", "--cached", "--name-only", parent])).trim();
  let headSha = parent;
  if (staged) {
    const treeSha = (await git.raw(["write-tree"])).trim();
    const author = withAuth(scratch, null, {
      GIT_AUTHOR_NAME: identity.name,
      GIT_AUTHOR_EMAIL: identity.email,
      GIT_COMMITTER_NAME: identity.name,
      GIT_COMMITTER_EMAIL: identity.email,
    });
    headSha = (await author.raw(["commit-tree", treeSha, "-p", parent, "-m", input.message])).trim();
  }
  const files = headSha === baseSha ? [] : (await git.raw(["diff", "--name-only", baseSha, headSha])).split("\n").filter(Boolean);
  return { headSha, changed: files.length > 0, files, ignoredAgentHistory };
}

/** The agent's HEAD commit, fetched like any remote's; null when its .git is missing or broken. */
async function fetchAgentHead(git: SimpleGit, workspace: string): Promise<string | null> {
  if (!existsSync(join(workspace, ".git"))) return null;
  try {
    await git.raw(["fetch", "--quiet", "--no-tags", join(workspace, ".git"), "+HEAD:refs/devs/agent-head"]);
    return (await git.raw(["rev-parse", "refs/devs/agent-head"])).trim();
  } catch {
    return null;
  }
}

export type PushResult = "pushed" | "rejected";

/**
 * Pushes a commit of the scratch repository to a branch, never forcing. "rejected" when the
 * branch moved on (not a fast-forward); other failures throw with the token scrubbed.
 */
export async function pushCommit(scratch: string, remoteUrl: string, token: string | null, sha: string, branch: string): Promise<PushResult> {
  const git = withAuth(scratch, token);
  try {
    await git.raw(["push", "--quiet", remoteUrl, `${sha}:refs/heads/${safeRef(branch)}`]);
    return "pushed";
  } catch (error) {
    const message = (error as Error).message;
    if (/non-fast-forward|fetch first|\[rejected\]|failed to update ref|stale info/i.test(message)) return "rejected";
    throw new GitError(`push to ${branch} failed: ${scrubToken(message, token)}`);
  }
}

export async function remoteBranchExists(scratch: string, remoteUrl: string, token: string | null, branch: string): Promise<boolean> {
  const out = await withAuth(scratch, token)
    .raw(["ls-remote", "--heads", remoteUrl, `refs/heads/${branch}`])
    .catch((error: unknown) => {
      throw new GitError(`cannot list branches of the remote: ${scrubToken((error as Error).message, token)}`);
    });
  return out.trim() !== "";
}

export async function discard(scratch: string): Promise<void> {
  await rm(scratch, { recursive: true, force: true });
}

function scrubToken(message: string, token: string | null): string {
  let out = message.split("\n").find((l) => l.trim()) ?? message;
  if (token) {
    out = out.split(token).join("***").split(Buffer.from(`x-access-token:${token}`).toString("base64")).join("***");
  }
  return out;
}
