// Repositories on disk: one bare cache per repository (fetched, never re-cloned) and a fresh,
// self-contained clone per task in a stable directory that the container bind-mounts. Git runs on
// the host; a short-lived token travels only as a header on the command line of one git process,
// never into a config file, a remote URL or the container.
import { mkdir, readdir, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { simpleGit, type SimpleGit } from "simple-git";
import { KeyedLock } from "./lock.js";
import { safeName } from "../names/safe-name.js";

export interface RepoRef {
  owner: string;
  name: string;
  /** https clone URL (credentials are never put in it). */
  cloneUrl: string;
}

/** What the task works on. */
export type CheckoutTarget =
  | { kind: "branch"; branch: string }
  /** A pull request: its head branch when it lives in this repository, else refs/pull/N/head. */
  | { kind: "pull"; number: number; headRef: string; headSha: string; sameRepo: boolean }
  /** Exactly this commit (CI), fetched through `fetchRef` when it is not on a branch. */
  | { kind: "sha"; sha: string; fetchRef?: string };

export interface CheckoutResult {
  dir: string;
  /** The local branch checked out, or null when detached at a commit. */
  branch: string | null;
  /** The commit checked out. */
  baseSha: string;
}

export class GitError extends Error {
  override name = "GitError";
}

export interface Identity {
  name: string;
  email: string;
}

export class RepoCache {
  private readonly locks = new KeyedLock();

  constructor(private readonly cacheDir: string) {}

  /** Lower-case on disk, whatever the case in the payload. */
  cachePath(repo: RepoRef): string {
    return join(this.cacheDir, safeName(repo.owner, "file"), `${safeName(repo.name, "file")}.git`);
  }

  /**
   * Brings the bare cache up to date with the remote's branches (and the given extra refs, such
   * as `refs/pull/7/head`), creating it on first use. Serialised per repository.
   */
  async sync(repo: RepoRef, token: string | null, extraRefs: string[] = []): Promise<string> {
    const path = this.cachePath(repo);
    return this.locks.run(path, async () => {
      if (!existsSync(join(path, "HEAD"))) {
        await mkdir(path, { recursive: true });
        await simpleGit(path).init(true);
      }
      const git = withAuth(path, token);
      const refspecs = ["+refs/heads/*:refs/heads/*", ...extraRefs.map((r) => `+${r}:${r}`)];
      try {
        await git.raw(["fetch", "--prune", "--no-tags", repo.cloneUrl, ...refspecs]);
      } catch (error) {
        throw new GitError(`fetching ${repo.owner}/${repo.name} failed: ${scrub((error as Error).message, token)}`);
      }
      return path;
    });
  }

  /**
   * Replaces the contents of `dir` with a fresh clone of the cache at the target: nothing of a
   * previous task survives. The directory itself stays, so a container's bind mount holds.
   */
  async checkout(repo: RepoRef, dir: string, target: CheckoutTarget, identity: Identity): Promise<CheckoutResult> {
    const cache = this.cachePath(repo);
    return this.locks.run(cache, async () => {
      await emptyDir(dir);
      // A complete repository (not a worktree whose .git points at a host path the container
      // cannot see), with its own copy of every object: hard links would let the container rewrite
      // an object file of the cache in place and so poison every later checkout of this repository.
      await simpleGit().raw(["clone", "--no-hardlinks", "--no-checkout", "--quiet", cache, dir]);
      const git = simpleGit(dir);
      await git.addConfig("user.name", identity.name);
      await git.addConfig("user.email", identity.email);
      // The agent sees the real remote, without credentials; pushes happen on the host.
      await git.remote(["set-url", "origin", repo.cloneUrl]);
      return checkoutTarget(git, dir, target);
    });
  }

  /**
   * The tree entries (mode, type, object id, path) of `paths` at `commit`, read from the cache:
   * equal text means equal contents, whole folders included.
   */
  async treeEntries(repo: RepoRef, commit: string, paths: string[]): Promise<string> {
    if (!/^[0-9a-f]{7,64}$/i.test(commit)) throw new GitError("not a commit id");
    try {
      return await simpleGit(this.cachePath(repo)).raw(["ls-tree", "--full-tree", commit, "--", ...paths]);
    } catch (error) {
      throw new GitError(`cannot read commit ${commit}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
}

/** Ref names from payloads end up as git arguments: refuse anything git would read as an option. */
export function safeRef(name: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what git forbids in refs
  if (!name || name.startsWith("-") || /[\s~^:?*[\\\x00-\x1f\x7f]|\.\.|@\{|\/\/|\.lock$|^\/|\/$/.test(name)) {
    throw new GitError(`"${name}" is not a valid branch name`);
  }
  return name;
}

async function checkoutTarget(git: SimpleGit, dir: string, target: CheckoutTarget): Promise<CheckoutResult> {
  if (target.kind === "branch") safeRef(target.branch);
  if (target.kind === "pull") safeRef(target.headRef);
  if (target.kind !== "branch" && !/^[0-9a-f]{7,64}$/i.test(target.kind === "pull" ? target.headSha : target.sha)) {
    throw new GitError("not a commit id");
  }
  try {
    switch (target.kind) {
      case "branch": {
        await git.raw(["checkout", "--quiet", "-B", target.branch, `refs/remotes/origin/${target.branch}`]);
        await git.raw(["branch", "--quiet", `--set-upstream-to=origin/${target.branch}`]);
        return { dir, branch: target.branch, baseSha: (await git.revparse(["HEAD"])).trim() };
      }
      case "pull": {
        const branch = target.sameRepo ? target.headRef : `pr-${target.number}`;
        const source = target.sameRepo ? `refs/remotes/origin/${target.headRef}` : target.headSha;
        await git.raw(["checkout", "--quiet", "-B", branch, source]);
        return { dir, branch, baseSha: (await git.revparse(["HEAD"])).trim() };
      }
      case "sha": {
        await git.raw(["checkout", "--quiet", "--detach", target.sha]);
        return { dir, branch: null, baseSha: (await git.revparse(["HEAD"])).trim() };
      }
    }
  } catch (error) {
    throw new GitError(`cannot check out ${describe(target)}: ${(error as Error).message.split("\n")[0]}`);
  }
}

function describe(target: CheckoutTarget): string {
  if (target.kind === "branch") return `branch ${target.branch}`;
  if (target.kind === "pull") return `pull request #${target.number} (${target.headRef})`;
  return `commit ${target.sha}`;
}

/**
 * The token as an HTTP header for this git process only, passed through the environment (which,
 * unlike `-c` arguments, other users of the host cannot read from the process list).
 */
export function withAuth(dir: string, token: string | null, extraEnv: Record<string, string> = {}): SimpleGit {
  const env = { ...gitEnv(), ...extraEnv };
  if (token) {
    const basic = Buffer.from(`x-access-token:${token}`).toString("base64");
    Object.assign(env, { GIT_CONFIG_COUNT: "1", GIT_CONFIG_KEY_0: "http.extraHeader", GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}` });
  }
  // Our arguments never come from users unchecked (ref names are validated by safeRef), so the
  // guards simple-git keeps for apps that pass user input through are not needed here.
  return simpleGit(dir, {
    unsafe: { allowUnsafeConfigEnvCount: true, allowUnsafeConfigPaths: true },
    allowEnvironment: Object.keys(env),
  }).env(env);
}

/** Git's own environment for child processes: no prompts, no user config surprises. */
function gitEnv(): Record<string, string> {
  const keep = ["PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"];
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: "0" };
  for (const key of keep) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

function scrub(message: string, token: string | null): string {
  const basic = token ? Buffer.from(`x-access-token:${token}`).toString("base64") : null;
  let out = message;
  for (const secret of [token, basic]) if (secret) out = out.split(secret).join("***");
  return out.split("\n")[0] ?? out;
}

async function emptyDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const entry of await readdir(dir)) await rm(join(dir, entry), { recursive: true, force: true });
}
