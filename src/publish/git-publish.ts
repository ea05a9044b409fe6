// Turns the agent's work into a commit on the host, from a git bundle that the container wrote to
// standard output (export-changes.ts). The bundle is data: its header is parsed here, its pack goes
// through `git index-pack --strict` (every object re-hashed and checked, no lazy fetch, nothing read
// from any other path), and the result lands in a scratch repository the host made. No git command
// ever gets the workspace as its repository, work tree or input, so the agent's config, hooks,
// alternates and symlinks stay inert. Nested repositories (gitlinks) are dropped unless the base
// commit declares them as submodules.
import { spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, open, rm } from "node:fs/promises";
import { join } from "node:path";
import type { SimpleGit } from "simple-git";
import { GitError, safeRef, withAuth, type Identity } from "../workspace/repo-cache.js";
import { EXPORT_REF } from "./export-changes.js";

export interface CollectInput {
  /** The bundle the container wrote (a host file). */
  bundle: string;
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
  /** Nested repositories left out of the commit (not submodules of the base). */
  droppedGitlinks: string[];
}

const gitIn = (gitDir: string): SimpleGit => withAuth(gitDir, null, { GIT_NO_LAZY_FETCH: "1" });

export async function collectChanges(input: CollectInput): Promise<Collected> {
  const { cache, scratch, baseSha, identity } = input;
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  const git = gitIn(scratch);
  await git.raw(["init", "--bare", "--quiet"]);
  // The host's own cache is the only repository fetched from.
  await git.raw(["fetch", "--quiet", "--no-tags", cache, baseSha]).catch((error: unknown) => {
    throw new GitError(`the base commit ${baseSha} is not in the cache: ${(error as Error).message.split("\n")[0]}`);
  });
  const collected = await importBundle(scratch, input.bundle);
  const agentHead = (await git.raw(["rev-list", "--parents", "-n", "1", collected])).trim().split(" ")[1] ?? null;

  const declared = await declaredSubmodules(git, baseSha);
  let parent = baseSha;
  let ignoredAgentHistory = false;
  if (agentHead && agentHead !== baseSha) {
    // (simple-git does not fail on a silent non-zero exit, so compare the merge base instead of
    // relying on --is-ancestor's exit code.)
    const mergeBase = await git.raw(["merge-base", baseSha, agentHead]).then(
      (out) => out.trim(),
      () => "",
    );
    if (mergeBase === baseSha && !(await historyAddsGitlinks(git, baseSha, agentHead, declared))) parent = agentHead;
    else ignoredAgentHistory = true;
  }

  const { tree, dropped } = await withoutUndeclaredGitlinks(git, scratch, `${collected}^{tree}`, declared);
  const parentTree = (await git.raw(["rev-parse", `${parent}^{tree}`])).trim();
  let headSha = parent;
  if (tree !== parentTree) {
    const author = withAuth(scratch, null, {
      GIT_AUTHOR_NAME: identity.name,
      GIT_AUTHOR_EMAIL: identity.email,
      GIT_COMMITTER_NAME: identity.name,
      GIT_COMMITTER_EMAIL: identity.email,
    });
    headSha = (await author.raw(["commit-tree", tree, "-p", parent, "-m", input.message])).trim();
  }
  const files = headSha === baseSha ? [] : (await git.raw(["diff", "--name-only", "-z", baseSha, headSha])).split("\0").filter(Boolean);
  return { headSha, changed: files.length > 0, files, ignoredAgentHistory, droppedGitlinks: dropped };
}

/** A git bundle's header: the refs it carries and where its pack starts. */
export interface BundleHeader {
  refs: Map<string, string>;
  packOffset: number;
}

const MAX_HEADER_BYTES = 1024 * 1024;

/** Parses a v2 or v3 bundle header; null when the bytes are not one. */
export function parseBundleHeader(bytes: Buffer): BundleHeader | null {
  const end = bytes.indexOf("\n\n");
  if (end < 0) return null;
  const lines = bytes.subarray(0, end).toString("utf8").split("\n");
  if (lines[0] !== "# v2 git bundle" && lines[0] !== "# v3 git bundle") return null;
  const refs = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line.startsWith("-") || line.startsWith("@")) continue; // prerequisites, capabilities
    const match = /^([0-9a-f]{40}|[0-9a-f]{64}) (refs\/[^\s]+)$/.exec(line);
    if (!match) return null;
    refs.set(match[2]!, match[1]!);
  }
  return { refs, packOffset: end + 2 };
}

/** Indexes the bundle's pack into `scratch` with every object checked; returns the collected commit. */
async function importBundle(scratch: string, bundle: string): Promise<string> {
  const handle = await open(bundle, "r");
  let head: Buffer;
  try {
    const buffer = Buffer.alloc(MAX_HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const header = parseBundleHeader(head);
  const sha = header?.refs.get(EXPORT_REF);
  if (!header || !sha) throw new GitError("the container did not hand over a usable git bundle");
  await new Promise<void>((resolve, reject) => {
    const child = spawn("git", ["--git-dir", scratch, "index-pack", "--stdin", "--fix-thin", "--strict"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", GIT_NO_LAZY_FETCH: "1", GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_NOSYSTEM: "1", HOME: scratch },
      stdio: ["pipe", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString("utf8")).slice(-2000)));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new GitError(`the agent's changes failed git's object checks: ${stderr.trim().split("\n").pop() ?? `exit ${code}`}`)),
    );
    createReadStream(bundle, { start: header.packOffset })
      .on("error", (error) => child.stdin.destroy(error))
      .pipe(child.stdin)
      .on("error", () => undefined);
  });
  const git = gitIn(scratch);
  const type = (await git.raw(["cat-file", "-t", sha]).catch(() => "")).trim();
  if (type !== "commit") throw new GitError("the container's bundle does not hold the agent's commit");
  await git.raw(["update-ref", "refs/devs/collected", sha]);
  return sha;
}

/** Submodule paths the base commit's .gitmodules declares. */
async function declaredSubmodules(git: SimpleGit, baseSha: string): Promise<Set<string>> {
  const out = await git.raw(["config", "--blob", `${baseSha}:.gitmodules`, "--get-regexp", "^submodule\\..*\\.path$"]).catch(() => "");
  return new Set(
    out
      .split("\n")
      .map((line) => line.slice(line.indexOf(" ") + 1).trim())
      .filter(Boolean),
  );
}

/** Whether a commit between base and head records a nested repository that is not a declared submodule. */
async function historyAddsGitlinks(git: SimpleGit, baseSha: string, head: string, declared: ReadonlySet<string>): Promise<boolean> {
  const raw = await git.raw(["log", "--format=", "--raw", "-r", "--no-abbrev", "-z", `${baseSha}..${head}`]);
  // -z raw output: ":old new oldsha newsha status\0path\0"
  const parts = raw.split("\0");
  for (let i = 0; i < parts.length - 1; i++) {
    const meta = /^\s*:(\d{6}) (\d{6}) /.exec(parts[i]!);
    if (meta && meta[2] === "160000" && !declared.has(parts[i + 1]!)) return true;
  }
  return false;
}

/** The tree with undeclared gitlinks removed, built in a scratch index (no work tree involved). */
async function withoutUndeclaredGitlinks(git: SimpleGit, scratch: string, treeish: string, declared: ReadonlySet<string>): Promise<{ tree: string; dropped: string[] }> {
  const tree = (await git.raw(["rev-parse", treeish])).trim();
  const listing = await git.raw(["ls-tree", "-r", "-z", tree]);
  const dropped = listing
    .split("\0")
    .filter((entry) => entry.startsWith("160000 "))
    .map((entry) => entry.slice(entry.indexOf("\t") + 1))
    .filter((path) => !declared.has(path));
  if (!dropped.length) return { tree, dropped };
  // update-index insists on a work tree; an empty one the host just made serves (no file is read).
  const emptyTree = join(scratch, "devs-empty-tree");
  await mkdir(emptyTree, { recursive: true });
  const index = withAuth(scratch, null, { GIT_INDEX_FILE: join(scratch, "devs-index"), GIT_NO_LAZY_FETCH: "1" });
  await index.raw(["read-tree", tree]);
  await index.raw(["--work-tree", emptyTree, "update-index", "--force-remove", "--", ...dropped]);
  return { tree: (await index.raw(["write-tree"])).trim(), dropped };
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

/**
 * Replaces the tip of a branch this task made (its own pull request's head) with a new run's
 * commit, only if the branch is still at `expectedSha`: work someone pushed on top is never lost.
 */
export async function replaceTaskBranch(scratch: string, remoteUrl: string, token: string | null, sha: string, branch: string, expectedSha: string): Promise<PushResult> {
  const git = withAuth(scratch, token);
  const ref = `refs/heads/${safeRef(branch)}`;
  try {
    await git.raw(["push", "--quiet", `--force-with-lease=${ref}:${expectedSha}`, remoteUrl, `${sha}:${ref}`]);
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
