// The operator's layers on the server: DEVS_ENVS_DIR/<owner>/<repo>/DEVS.yml (or the seed's
// DEVS_ENVS_DIR/<owner-repo>/DEVS.yml where that name can stand for one repository only) and
// DEVS_ENVS_DIR/default/DEVS.yml. Directory names match whatever their case, as GitHub's names do. A file is
// parsed again only when its modification time or size changes.
//
// Why the seed's name is refused when it is ambiguous: `acme-big-app` reads as acme/big-app and as
// acme-big/app. Operator files carry env_vars (often secrets), so using it for either would hand
// one repository's values to whoever creates the other; guessing which one was meant is a coin
// toss. Refusing it (a problem, so tasks for both stop and the log says how to move it) keeps the
// operator's values where they were meant to go. Names without that doubt keep working as before.
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseDocument } from "yaml";
import type { ConfigSource, SourcedDocument } from "./layers.js";
import type { ConfigProblem } from "./schema.js";

export const OPERATOR_FILE_NAME = "DEVS.yml";
export const DEFAULT_DIR = "default";

export interface OperatorRead {
  /** Highest first: the repository's own file, then `default`. */
  documents: SourcedDocument[];
  problems: ConfigProblem[];
}

type Parsed = { ok: true; document: unknown } | { ok: false; problem: string };

/** The seed's directory name for a repository: `owner-repo`. */
export function legacyDirName(owner: string, repo: string): string {
  return `${owner}-${repo}`;
}

/** A GitHub account name (letters, digits, single inner hyphens; `_` for managed users) and a repository name. */
const OWNER_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?$/;
const REPO_NAME = /^[A-Za-z0-9._-]+$/;

/** Every owner/repo an `owner-repo` directory name can stand for: one per hyphen that splits it into two valid names. */
export function legacyDirReadings(name: string): Array<{ owner: string; repo: string }> {
  const readings = [];
  for (let at = name.indexOf("-"); at !== -1; at = name.indexOf("-", at + 1)) {
    const owner = name.slice(0, at);
    const repo = name.slice(at + 1);
    if (OWNER_NAME.test(owner) && REPO_NAME.test(repo) && repo !== "." && repo !== "..") readings.push({ owner, repo });
  }
  return readings;
}

/** How `devs-webhook config --repo` and the problems name an operator file. */
const operatorFileLabel = (...dirs: string[]) => `DEVS_ENVS_DIR/${[...dirs, OPERATOR_FILE_NAME].join("/")}`;

type Match = { kind: "none" } | { kind: "one"; name: string } | { kind: "several"; names: string[] };

export class OperatorFiles {
  private readonly parsed = new Map<string, { mtimeMs: number; size: number; result: Parsed }>();

  constructor(readonly envsDir: string) {}

  async read(owner: string, repo: string): Promise<OperatorRead> {
    const out: OperatorRead = { documents: [], problems: [] };
    const top = await this.directories(this.envsDir);
    const own = await this.repositoryFile(top, owner, repo, out.problems);
    if (own) out.documents.push(own);
    const fallback = await this.file(top, DEFAULT_DIR, "operator-default", out.problems);
    if (fallback) out.documents.push(fallback);
    return out;
  }

  /** `<owner>/<repo>/DEVS.yml`, else the seed's `<owner-repo>/DEVS.yml` when its name is not in doubt. */
  private async repositoryFile(top: string[], owner: string, repo: string, problems: ConfigProblem[]): Promise<SourcedDocument | null> {
    let current: SourcedDocument | null = null;
    const ownerDir = this.match(top, owner, [], problems);
    if (ownerDir !== null) {
      current = await this.file(await this.directories(join(this.envsDir, ownerDir)), repo, "operator-repo", problems, [ownerDir]);
    }
    const legacyDir = this.match(top, legacyDirName(owner, repo), [], problems);
    if (legacyDir === null) return current;
    const legacy = await this.load([legacyDir], "operator-repo", problems);
    if (!legacy) return current;
    const readings = legacyDirReadings(legacyDir);
    if (readings.length > 1) {
      const names = readings.map((r) => `${r.owner}/${r.repo}`);
      problems.push({
        ...this.ref([legacyDir]),
        keyPath: "",
        problem:
          `the directory name ${legacyDir} could mean ${names.slice(0, -1).join(", ")} or ${names.at(-1)}, so it is used for none of them; ` +
          `move it to ${readings.map((r) => operatorFileLabel(r.owner, r.repo)).join(" or ")}, whichever repository it is meant for`,
      });
      return current;
    }
    if (current) {
      problems.push({
        ...this.ref([legacyDir]),
        keyPath: "",
        problem: `${current.source.file} also configures ${owner}/${repo}; keep that one and remove this one`,
      });
      return current;
    }
    return legacy;
  }

  /** The DEVS.yml in the entry of `entries` named `wanted` (any case), under `parents`. */
  private async file(
    entries: string[],
    wanted: string,
    layer: ConfigSource["layer"],
    problems: ConfigProblem[],
    parents: string[] = [],
  ): Promise<SourcedDocument | null> {
    const dir = this.match(entries, wanted, parents, problems);
    return dir === null ? null : this.load([...parents, dir], layer, problems);
  }

  /** null: no file there, or a problem (pushed). */
  private async load(dirs: string[], layer: ConfigSource["layer"], problems: ConfigProblem[]): Promise<SourcedDocument | null> {
    const file = this.ref(dirs);
    const result = await this.parse(file.url);
    if (result === null) return null;
    if (!result.ok) problems.push({ ...file, keyPath: "", problem: result.problem });
    else if (hasKey(result.document, "_extends")) {
      problems.push({ ...file, keyPath: "_extends", problem: "works in repository files only; copy the settings into this file instead" });
    } else return { source: { ...file, layer }, document: result.document };
    return null;
  }

  /** The one entry named `wanted` whatever its case; several such entries are a problem, not a coin toss. */
  private match(entries: string[], wanted: string, parents: string[], problems: ConfigProblem[]): string | null {
    const found = matching(entries, wanted);
    if (found.kind === "several") {
      problems.push({
        ...this.ref([...parents, found.names[0]!]),
        keyPath: "",
        problem: `several directories match ${wanted} whatever their case (${found.names.join(", ")}); keep one`,
      });
      return null;
    }
    return found.kind === "one" ? found.name : null;
  }

  private ref(dirs: string[]): Omit<ConfigSource, "layer"> & { url: string } {
    return { file: operatorFileLabel(...dirs), url: join(this.envsDir, ...dirs, OPERATOR_FILE_NAME), origin: "operator" };
  }

  private async directories(path: string): Promise<string[]> {
    try {
      const entries = await readdir(path, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() || e.isSymbolicLink()).map((e) => e.name);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return [];
      throw error;
    }
  }

  /** null: no such file. */
  private async parse(path: string): Promise<Parsed | null> {
    let info;
    try {
      info = await stat(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return null;
      return { ok: false, problem: `could not be read (${code ?? String(error)})` };
    }
    if (!info.isFile()) return { ok: false, problem: "is not a file" };
    const cached = this.parsed.get(path);
    if (cached && cached.mtimeMs === info.mtimeMs && cached.size === info.size) return cached.result;
    let result: Parsed;
    try {
      result = parseYaml(await readFile(path, "utf8"));
    } catch (error) {
      result = { ok: false, problem: `could not be read (${(error as NodeJS.ErrnoException).code ?? String(error)})` };
    }
    this.parsed.set(path, { mtimeMs: info.mtimeMs, size: info.size, result });
    return result;
  }
}

function matching(entries: string[], wanted: string): Match {
  const names = entries.filter((name) => name.toLowerCase() === wanted.toLowerCase()).sort();
  if (names.length > 1) return { kind: "several", names };
  return names[0] === undefined ? { kind: "none" } : { kind: "one", name: names[0] };
}

const hasKey = (value: unknown, key: string) => typeof value === "object" && value !== null && Object.hasOwn(value, key);

/** YAML text → its value; an empty file is an empty mapping. */
export function parseYaml(text: string): Parsed {
  const doc = parseDocument(text);
  const error = doc.errors[0];
  if (error) return { ok: false, problem: `not valid YAML: ${firstLine(error.message)}` };
  try {
    return { ok: true, document: doc.toJS() ?? {} };
  } catch (e) {
    return { ok: false, problem: `not valid YAML: ${firstLine((e as Error).message)}` };
  }
}

function firstLine(message: string): string {
  return (message.split("\n")[0] ?? "").trim().replace(/:$/, "");
}
