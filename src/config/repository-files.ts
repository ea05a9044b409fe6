// The repository's layer, read through the installation client with Probot's config plugin:
// root `DEVS.yml`, else `.github/devs.yml`, each with the owner's `.github` repository as fallback
// and `_extends` followed. Always at the default branch's commit: trusted keys (commands,
// prompts, env) must never come from a pull request's head.
import type { ProbotOctokit } from "probot";
import type { ConfigSource, LayerKind, SourcedDocument } from "./layers.js";
import { firstLine } from "./operator-files.js";
import { codeSpan, type ConfigProblem, type FileRef } from "./schema.js";

/** The installation client: REST plus `config.get` (@probot/octokit-plugin-config). */
export type ConfigOctokit = Pick<InstanceType<typeof ProbotOctokit>, "request" | "config">;

export const ROOT_PATH = "DEVS.yml";
export const GITHUB_DIR_PATH = ".github/devs.yml";

export interface RepoId {
  owner: string;
  repo: string;
}

export interface RepositoryRead {
  /** Highest first: the repository's file (or the owner's `.github` fallback), then `_extends`. */
  documents: SourcedDocument[];
  problems: ConfigProblem[];
  /** Other repositories that were read (owner's `.github`, `_extends`): a cached read is stale when their head moves. */
  consulted: RepoId[];
}

/** What `commits/HEAD` answered: a SHA, or that the repository has no commits or cannot be read. */
export type Head = { kind: "sha"; sha: string } | { kind: "empty" } | { kind: "missing" };

export const headKey = (head: Head): string => (head.kind === "sha" ? head.sha : `(${head.kind})`);

/**
 * The default branch's head commit in one cheap request (`Accept: application/vnd.github.sha`
 * answers with the bare SHA). `HEAD` is whatever the default branch is now, even after a rename.
 */
export async function defaultBranchHead(octokit: Pick<ConfigOctokit, "request">, id: RepoId): Promise<Head> {
  try {
    const { data } = await octokit.request("GET /repos/{owner}/{repo}/commits/{ref}", {
      owner: id.owner,
      repo: id.repo,
      ref: "HEAD",
      headers: { accept: "application/vnd.github.sha" },
    });
    // Octokit gives text for `…; charset=utf-8` and an ArrayBuffer when the charset is missing.
    const sha = (data instanceof ArrayBuffer ? new TextDecoder().decode(data) : String(data as unknown)).trim();
    if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/i.test(sha)) throw new Error(`${id.owner}/${id.repo}: unexpected answer for the default branch's head`);
    return { kind: "sha", sha: sha.toLowerCase() };
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === 409) return { kind: "empty" }; // "Git Repository is empty."
    if (status === 404) return { kind: "missing" };
    throw error;
  }
}

export const sameRepo = (a: RepoId, b: RepoId) => a.owner.toLowerCase() === b.owner.toLowerCase() && a.repo.toLowerCase() === b.repo.toLowerCase();

/** What the user sees for a file: its path in their repository, else `owner/repo:path` (the `_extends` syntax). */
export function repositoryFileRef(file: RepoId & { path: string }, main: RepoId, sha: string | null, webUrl: string): FileRef {
  const own = sameRepo(file, main);
  const ref = own && sha ? sha : "HEAD";
  const path = file.path.split("/").map(encodeURIComponent).join("/");
  return {
    file: own ? file.path : `${file.owner}/${file.repo}:${file.path}`,
    url: `${webUrl.replace(/\/+$/, "")}/${file.owner}/${file.repo}/blob/${ref}/${path}`,
    origin: "repository",
  };
}

type PluginFile = { owner: string; repo: string; path: string; config: Record<string, unknown> | null };
type Attempt = { files: PluginFile[] } | { problem: ConfigProblem };

/** Reads the repository's layer at `sha` (null for an empty repository: its default branch). */
export async function readRepositoryFiles(octokit: ConfigOctokit, main: RepoId, sha: string | null, webUrl: string): Promise<RepositoryRead> {
  const attempt = async (path: string): Promise<Attempt> => {
    try {
      const { files } = await octokit.config.get({ owner: main.owner, repo: main.repo, path, ...(sha ? { branch: sha } : {}) });
      return { files: files as PluginFile[] };
    } catch (error) {
      const problem = pluginProblem(error, main, sha, webUrl);
      if (problem) return { problem };
      throw error;
    }
  };

  const root = await attempt(ROOT_PATH);
  if ("problem" in root) return { documents: [], problems: [root.problem], consulted: [] };
  let chosen = root.files;
  const consulted = [...root.files];
  // No root DEVS.yml in the repository itself: its .github/devs.yml comes before the owner's fallback.
  if (!root.files[0]?.config) {
    const nested = await attempt(GITHUB_DIR_PATH);
    if ("problem" in nested) return { documents: [], problems: [nested.problem], consulted: [] };
    consulted.push(...nested.files);
    if (nested.files[0]?.config || !root.files.some((f) => f.config)) chosen = nested.files;
  }

  const documents: SourcedDocument[] = [];
  const problems: ConfigProblem[] = [];
  let previous: ConfigSource | null = null;
  for (const [index, file] of chosen.entries()) {
    const ref = repositoryFileRef(file, main, sha, webUrl);
    const layer: LayerKind = index === 0 ? "repository" : index === 1 && !chosen[0]?.config ? "organization" : "extends";
    if (file.config) {
      previous = { ...ref, layer };
      documents.push({ source: previous, document: file.config });
    } else if (layer === "extends" && previous) {
      // The plugin skips a missing `_extends` target; running without the settings it names would be guessing.
      problems.push({ ...previous, keyPath: "_extends", problem: `names ${codeSpan(ref.file)}, which does not exist or this app cannot read` });
    }
  }
  const others = new Map<string, RepoId>();
  for (const f of consulted) if (!sameRepo(f, main)) others.set(`${f.owner}/${f.repo}`.toLowerCase(), { owner: f.owner, repo: f.repo });
  return { documents, problems, consulted: [...others.values()] };
}

const PLUGIN_PREFIX = "[@probot/octokit-plugin-config]";

/** The plugin's errors (bad YAML, a directory, a bad or looping `_extends`) as problems on the file concerned. */
function pluginProblem(error: unknown, main: RepoId, sha: string | null, webUrl: string): ConfigProblem | null {
  const message = (error as Error | undefined)?.message;
  if (typeof message !== "string" || !message.startsWith(PLUGIN_PREFIX)) {
    return null;
  }
  const where = /\/repos\/([^/\s]+)\/([^/\s]+)\/contents\/([^?\s"]+)/.exec(message);
  const ref: FileRef = where
    ? repositoryFileRef({ owner: decodeURIComponent(where[1]!), repo: decodeURIComponent(where[2]!), path: decodeURIComponent(where[3]!) }, main, sha, webUrl)
    : { file: ROOT_PATH, url: null, origin: "repository" };
  const cause = (error as Error).cause as Error | undefined;
  const invalidExtends = /Invalid value (.+) for _extends in /.exec(message);
  if (message.includes("(invalid YAML)")) return { ...ref, keyPath: "", problem: `not valid YAML: ${firstLine(cause?.message ?? "could not be parsed")}` };
  if (message.includes("YAML is not an object")) return { ...ref, keyPath: "", problem: "must be a mapping of keys to values, found a single value" };
  if (message.includes("directory or a submodule")) return { ...ref, keyPath: "", problem: "is a directory or a submodule, not a file" };
  if (invalidExtends) {
    return { ...ref, keyPath: "_extends", problem: `must be repo, owner/repo or owner/repo:path.yml, found ${codeSpan(invalidExtends[1]!.replace(/^"|"$/g, ""))}` };
  }
  if (message.includes("Recursion detected")) return { ...ref, keyPath: "_extends", problem: "leads back to a file that was already read (a loop)" };
  return { ...ref, keyPath: "", problem: message.slice(PLUGIN_PREFIX.length).replace(/https?:\/\/\S+/g, "").trim() };
}
