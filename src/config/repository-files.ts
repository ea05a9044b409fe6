// The repository's layer, read through the installation client the way Probot's config plugin
// reads it: root `DEVS.yml`, else `.github/devs.yml`, each with the owner's `.github` repository as
// fallback and `_extends` followed. Always at the default branch's commit: trusted keys (commands,
// prompts, env) must never come from a pull request's head.
//
// What `_extends` may reach, and why: a writer of one repository chooses the target, and the
// installation (or token) can read far more than that writer can. So `_extends` names a file of
// the same owner only, never another owner's (refused before anything is read from it). And the
// env_vars of an extended file in ANOTHER repository are dropped (logged, and shown by
// `devs-webhook config --repo`): env_vars are where secrets live, and repository B's secrets must
// not reach A's containers because A's writers asked for them. Files of the repository itself and
// of the owner's `.github` repository keep their env_vars: the latter is the owner's default for
// every repository (used anyway when a repository has no file), so extending it reaches nothing
// new. This walk is ours rather than the plugin's so the reach is checked before each request.
import type { ProbotOctokit } from "probot";
import type { ConfigSource, IgnoredSetting, LayerKind, SourcedDocument } from "./layers.js";
import { parseYaml } from "./operator-files.js";
import { codeSpan, type ConfigProblem, type FileRef } from "./schema.js";

/** The installation client (Probot's); the files are read with its REST `request`, the chain walked here. */
export type ConfigOctokit = Pick<InstanceType<typeof ProbotOctokit>, "request" | "config">;

const ROOT_PATH = "DEVS.yml";
const GITHUB_DIR_PATH = ".github/devs.yml";

export interface RepoId {
  owner: string;
  repo: string;
}

export interface RepositoryRead {
  /** Highest first: the repository's file (or the owner's `.github` fallback), then `_extends`. */
  documents: SourcedDocument[];
  problems: ConfigProblem[];
  /** Keys of extended files that were not used (env_vars of another repository). */
  ignored: IgnoredSetting[];
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

const sameRepo = (a: RepoId, b: RepoId) => a.owner.toLowerCase() === b.owner.toLowerCase() && a.repo.toLowerCase() === b.repo.toLowerCase();

/** What the user sees for a file: its path in their repository, else `owner/repo:path` (the `_extends` syntax). */
function repositoryFileRef(file: RepoId & { path: string }, main: RepoId, sha: string | null, webUrl: string): FileRef {
  const own = sameRepo(file, main);
  const ref = own && sha ? sha : "HEAD";
  const path = file.path.split("/").map(encodeURIComponent).join("/");
  return {
    file: own ? file.path : `${file.owner}/${file.repo}:${file.path}`,
    url: `${webUrl.replace(/\/+$/, "")}/${file.owner}/${file.repo}/blob/${ref}/${path}`,
    origin: "repository",
  };
}

/** The owner's repository whose files are every repository's defaults, as in Probot. */
const OWNER_DEFAULTS_REPO = ".github";

/** Files an `_extends` chain may read after the first; a longer chain is a mistake, not a configuration. */
const MAX_EXTENDS = 5;

/** The plugin's syntax: `repo`, `owner/repo`, each with an optional `:path.yml`. */
const EXTENDS_PATTERN = /^(?:([a-z\d](?:[a-z\d]|-(?=[a-z\d])){0,38})\/)?([-_.\w\d]+)(?::([-_./\w\d]+\.ya?ml))?$/i;

interface ReadFile extends RepoId {
  path: string;
  /** The parsed mapping, without `_extends`; null: no such file. */
  config: Record<string, unknown> | null;
}

type Walk = { files: ReadFile[] } | { problem: ConfigProblem };

const isMapping = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

const isOwnerDefaults = (file: RepoId, main: RepoId) => file.owner.toLowerCase() === main.owner.toLowerCase() && file.repo.toLowerCase() === OWNER_DEFAULTS_REPO;

/** Reads the repository's layer at `sha` (null for an empty repository: its default branch). */
export async function readRepositoryFiles(octokit: ConfigOctokit, main: RepoId, sha: string | null, webUrl: string): Promise<RepositoryRead> {
  const refOf = (file: RepoId & { path: string }) => repositoryFileRef(file, main, sha, webUrl);
  const root = await walk(octokit, main, ROOT_PATH, sha, refOf);
  if ("problem" in root) return { documents: [], problems: [root.problem], ignored: [], consulted: [] };
  let chosen = root.files;
  const consulted = [...root.files];
  // No root DEVS.yml in the repository itself: its .github/devs.yml comes before the owner's fallback.
  if (!root.files[0]?.config) {
    const nested = await walk(octokit, main, GITHUB_DIR_PATH, sha, refOf);
    if ("problem" in nested) return { documents: [], problems: [nested.problem], ignored: [], consulted: [] };
    consulted.push(...nested.files);
    if (nested.files[0]?.config || !root.files.some((f) => f.config)) chosen = nested.files;
  }

  const documents: SourcedDocument[] = [];
  const ignored: IgnoredSetting[] = [];
  for (const [index, file] of chosen.entries()) {
    if (!file.config) continue;
    const source: ConfigSource = { ...refOf(file), layer: layerAt(chosen, index) };
    const layer = source.layer;
    let document = file.config;
    if (layer === "extends" && !sameRepo(file, main) && !isOwnerDefaults(file, main) && Object.hasOwn(document, "env_vars")) {
      const { env_vars: _dropped, ...rest } = document;
      document = rest;
      ignored.push({ source, keyPath: "env_vars", reason: "env_vars are not taken from another repository through _extends" });
    }
    documents.push({ source, document });
  }
  const others = new Map<string, RepoId>();
  for (const f of consulted) if (!sameRepo(f, main)) others.set(`${f.owner}/${f.repo}`.toLowerCase(), { owner: f.owner, repo: f.repo });
  return { documents, problems: [], ignored, consulted: [...others.values()] };
}

/**
 * One path's chain, as the plugin builds it: the repository's file, else the owner's `.github`
 * one, then each `_extends` target in turn. Every target is checked before it is read.
 */
async function walk(octokit: ConfigOctokit, main: RepoId, path: string, sha: string | null, refOf: (f: RepoId & { path: string }) => FileRef): Promise<Walk> {
  const read = async (file: RepoId & { path: string }): Promise<ReadFile | { problem: ConfigProblem }> => {
    // The repository's own files at the commit read; other repositories at their default branch.
    const answer = await readConfigFile(octokit, file, sameRepo(file, main) ? sha : null);
    return "problem" in answer ? { problem: { ...refOf(file), keyPath: "", problem: answer.problem } } : { ...file, config: answer.config };
  };
  const first = await read({ ...main, path });
  if ("problem" in first) return first;
  const files = [first];
  if (!first.config && main.repo !== OWNER_DEFAULTS_REPO) {
    const fallback = await read({ owner: main.owner, repo: OWNER_DEFAULTS_REPO, path });
    if ("problem" in fallback) return fallback;
    files.push(fallback);
  }
  let followed = 0;
  for (let current = files.at(-1)!; current.config && Object.hasOwn(current.config, "_extends"); followed++) {
    const { _extends: value, ...config } = current.config;
    current.config = config;
    const named: ConfigSource = { ...refOf(current), layer: layerAt(files, files.length - 1) };
    const refuse = (problem: string): Walk => ({ problem: { ...named, keyPath: "_extends", problem } });
    const match = typeof value === "string" ? EXTENDS_PATTERN.exec(value) : null;
    if (!match) return refuse(`must be repo, owner/repo or owner/repo:path.yml, found ${codeSpan(typeof value === "string" ? value : JSON.stringify(value))}`);
    const target = { owner: match[1] ?? main.owner, repo: match[2]!, path: match[3] ?? path };
    const label = codeSpan(refOf(target).file);
    if (target.owner.toLowerCase() !== main.owner.toLowerCase()) {
      return refuse(`names ${label}, a file of another owner; _extends may only name repositories of ${main.owner}`);
    }
    if (files.some((f) => sameRepo(f, target) && f.path === target.path)) return refuse(`names ${label}, which was already read (a loop)`);
    if (followed >= MAX_EXTENDS) return refuse(`names ${label}, but _extends may be followed at most ${MAX_EXTENDS} times`);
    const next = await read(target);
    if ("problem" in next) return next;
    if (!next.config) return refuse(`names ${label}, which does not exist or this app cannot read`);
    files.push(next);
    current = next;
  }
  return { files };
}

/** One file through the contents API; null config: there is none. */
async function readConfigFile(
  octokit: Pick<ConfigOctokit, "request">,
  file: RepoId & { path: string },
  ref: string | null,
): Promise<{ config: Record<string, unknown> | null } | { problem: string }> {
  let response;
  try {
    response = await octokit.request("GET /repos/{owner}/{repo}/contents/{path}", {
      owner: file.owner,
      repo: file.repo,
      path: file.path,
      mediaType: { format: "raw" },
      ...(ref ? { ref } : {}),
    });
  } catch (error) {
    if ((error as { status?: number }).status === 404) return { config: null };
    throw error;
  }
  // The raw format answers a directory (or a submodule) with its JSON listing.
  if (String(response.headers["content-type"] ?? "").startsWith("application/json")) return { problem: "is a directory or a submodule, not a file" };
  const data = response.data as unknown;
  const text = data instanceof ArrayBuffer ? new TextDecoder().decode(data) : typeof data === "string" ? data : null;
  if (text === null) return { problem: "is a directory or a submodule, not a file" };
  const parsed = parseYaml(text);
  if (!parsed.ok) return { problem: parsed.problem };
  if (!isMapping(parsed.document)) {
    return { problem: `must be a mapping of keys to values, found ${Array.isArray(parsed.document) ? "a list" : "a single value"}` };
  }
  return { config: parsed.document };
}

/** The layer of a chain's file: its first file is the repository's; the owner's fallback stands in for a missing one. */
function layerAt(files: readonly ReadFile[], index: number): LayerKind {
  if (index === 0) return "repository";
  return index === 1 && !files[0]?.config ? "organization" : "extends";
}
