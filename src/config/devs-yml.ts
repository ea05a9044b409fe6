// The layered DEVS.yml loader. Highest first:
//   1. DEVS_ENVS_DIR/<owner>/<repo>/DEVS.yml (operator, per repository; any case), or the seed's
//      DEVS_ENVS_DIR/<owner-repo>/DEVS.yml when that name can mean this repository only
//   2. DEVS_ENVS_DIR/default/DEVS.yml        (operator default)
//   3. the repository's DEVS.yml, else .github/devs.yml, on the default branch (with the owner's
//      .github fallback and _extends, as Probot's config plugin does; _extends stays within the
//      owner, and env_vars never come through it from another repository: repository-files.ts)
//   4. the schema's defaults
// Every layer applies. A fresh read per task, but the repository's files are read again only
// when the default branch's head moves, or the head of another repository they came from;
// operator files when their mtime changes. A broken file anywhere throws a DevsConfigError.
// Whether a push to a branch other than the default one runs CI may be decided from a head read
// up to half a minute ago (LoadOptions): a storm of pushes costs no GitHub read each, and a change
// to DEVS.yml arrives as a push to the default branch, which always reads the head again.
import type { Logger } from "pino";
import { DevsConfigError, RepositoryUnavailableError } from "./errors.js";
import { layerDocuments, type LoadedDevsConfig } from "./layers.js";
import { OperatorFiles } from "./operator-files.js";
import {
  defaultBranchHead,
  headKey,
  type Head,
  readRepositoryFiles,
  type ConfigOctokit,
  type RepoId,
  type RepositoryRead,
} from "./repository-files.js";

export type { ConfigOctokit } from "./repository-files.js";

export interface DevsConfigLoaderOptions {
  /** DEVS_ENVS_DIR (absolute). */
  envsDir: string;
  /** The GitHub web URL for links in error messages (settings.githubWebUrl). */
  webUrl?: string;
  /** Repositories whose read is kept; the least recently used goes first. */
  maxCachedRepos?: number;
  log?: Pick<Logger, "debug" | "warn">;
  now?: () => number;
}

export interface LoadOptions {
  /**
   * How old a read of the default branch's head may be (default 0: read it now). Only a decision
   * that grants nothing may use an older one: which pushes run CI, on the delivery path. Such a
   * decision may also take the whole config as loaded within that time, operator files included:
   * read-only, for it is the same object each time.
   */
  headMaxAgeMs?: number;
}

interface CachedRead {
  head: string;
  /** Heads of the other repositories the files came from, when they were read. */
  others: Array<{ id: RepoId; head: string }>;
  read: RepositoryRead;
}

export class DevsConfigLoader {
  private readonly operator: OperatorFiles;
  private readonly cache = new Map<string, CachedRead>();
  /** The last config loaded per repository, and when, for callers that accept an older one. */
  private readonly recent = new Map<string, { loaded: LoadedDevsConfig; at: number }>();
  /** The default branch's head per repository, and when it was read. */
  private readonly heads = new Map<string, { head: Head; at: number }>();
  private readonly webUrl: string;
  private readonly maxCached: number;

  constructor(private readonly options: DevsConfigLoaderOptions) {
    this.operator = new OperatorFiles(options.envsDir);
    this.webUrl = options.webUrl ?? "https://github.com";
    this.maxCached = options.maxCachedRepos ?? 500;
  }

  /**
   * The merged, validated DEVS.yml for a repository, with where each value came from. Throws
   * DevsConfigError (the user must fix a file) or RepositoryUnavailableError; other errors are
   * GitHub or the server failing and may be retried.
   */
  async load(octokit: ConfigOctokit, id: RepoId, options: LoadOptions = {}): Promise<LoadedDevsConfig> {
    const fullName = `${id.owner}/${id.repo}`;
    const key = fullName.toLowerCase();
    const started = (this.options.now ?? Date.now)();
    const known = this.recent.get(key);
    const maxAgeMs = options.headMaxAgeMs ?? 0;
    if (known && maxAgeMs > 0 && started - known.at <= maxAgeMs) return known.loaded;
    const loaded = await this.loadNow(octokit, id, fullName, maxAgeMs);
    this.recent.delete(key);
    this.recent.set(key, { loaded, at: started });
    while (this.recent.size > this.maxCached) this.recent.delete(this.recent.keys().next().value!);
    return loaded;
  }

  private async loadNow(octokit: ConfigOctokit, id: RepoId, fullName: string, headMaxAgeMs: number): Promise<LoadedDevsConfig> {
    const [head, operator] = await Promise.all([this.headOf(octokit, id, headMaxAgeMs), this.operator.read(id.owner, id.repo)]);
    if (head.kind === "missing") throw new RepositoryUnavailableError(fullName);
    const sha = head.kind === "sha" ? head.sha : null;
    const repository = await this.repositoryRead(octokit, id, headKey(head), sha, headMaxAgeMs);
    const problems = [...operator.problems, ...repository.problems];
    if (problems.length) throw new DevsConfigError(fullName, problems);
    for (const skipped of repository.ignored) {
      this.options.log?.warn({ repo: fullName, file: skipped.source.file, keyPath: skipped.keyPath }, `DEVS.yml for ${fullName}: ${skipped.keyPath} of ${skipped.source.file} not used: ${skipped.reason}`);
    }
    return layerDocuments(fullName, sha, [...operator.documents, ...repository.documents], repository.ignored);
  }

  private async headOf(octokit: ConfigOctokit, id: RepoId, maxAgeMs: number): Promise<Head> {
    const key = `${id.owner}/${id.repo}`.toLowerCase();
    const now = (this.options.now ?? Date.now)();
    const known = this.heads.get(key);
    if (known && maxAgeMs > 0 && now - known.at <= maxAgeMs) return known.head;
    const head = await defaultBranchHead(octokit, id);
    this.heads.delete(key);
    this.heads.set(key, { head, at: now });
    while (this.heads.size > this.maxCached) this.heads.delete(this.heads.keys().next().value!);
    return head;
  }

  private async repositoryRead(octokit: ConfigOctokit, id: RepoId, head: string, sha: string | null, headMaxAgeMs: number): Promise<RepositoryRead> {
    const key = `${id.owner}/${id.repo}`.toLowerCase();
    const cached = this.cache.get(key);
    if (cached && cached.head === head && (await this.othersUnchanged(octokit, cached, headMaxAgeMs))) {
      this.cache.delete(key); // re-inserted below: most recently used last
      this.cache.set(key, cached);
      this.options.log?.debug({ repo: key, sha }, "DEVS.yml unchanged since the last read");
      return cached.read;
    }
    const read = await readRepositoryFiles(octokit, id, sha, this.webUrl);
    // A broken read is not kept: the fix may land in another repository whose head we do not track.
    if (read.problems.length === 0) {
      const others = await Promise.all(read.consulted.map(async (other) => ({ id: other, head: headKey(await this.headOf(octokit, other, 0)) })));
      this.cache.delete(key);
      this.cache.set(key, { head, others, read });
      while (this.cache.size > this.maxCached) this.cache.delete(this.cache.keys().next().value!);
    }
    this.options.log?.debug({ repo: key, sha, files: read.documents.map((d) => d.source.file) }, "DEVS.yml read");
    return read;
  }

  private async othersUnchanged(octokit: ConfigOctokit, cached: CachedRead, headMaxAgeMs: number): Promise<boolean> {
    const now = await Promise.all(cached.others.map(async (o) => headKey(await this.headOf(octokit, o.id, headMaxAgeMs)) === o.head));
    return now.every(Boolean);
  }
}
