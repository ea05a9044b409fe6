// The operator's layers on the server: DEVS_ENVS_DIR/{owner-repo}/DEVS.yml and
// DEVS_ENVS_DIR/default/DEVS.yml. Directory names match whatever their case (W5). A file is parsed
// again only when its modification time or size changes.
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseDocument } from "yaml";
import type { ConfigSource, SourcedDocument } from "./layers.js";
import type { ConfigProblem } from "./schema.js";

export const OPERATOR_FILE_NAME = "DEVS.yml";
export const DEFAULT_DIR = "default";

export interface OperatorRead {
  /** Highest first: the repository's own directory, then `default`. */
  documents: SourcedDocument[];
  problems: ConfigProblem[];
}

type Parsed = { ok: true; document: unknown } | { ok: false; problem: string };

/** The directory name the seed uses for a repository: `owner-repo`. */
export function projectDirName(owner: string, repo: string): string {
  return `${owner}-${repo}`;
}

export class OperatorFiles {
  private readonly parsed = new Map<string, { mtimeMs: number; size: number; result: Parsed }>();

  constructor(readonly envsDir: string) {}

  async read(owner: string, repo: string): Promise<OperatorRead> {
    const entries = await this.directories();
    const out: OperatorRead = { documents: [], problems: [] };
    const layers = [
      { layer: "operator-repo" as const, wanted: projectDirName(owner, repo) },
      { layer: "operator-default" as const, wanted: DEFAULT_DIR },
    ];
    for (const { layer, wanted } of layers) {
      const matches = entries.filter((name) => name.toLowerCase() === wanted.toLowerCase()).sort();
      if (matches.length > 1) {
        out.problems.push({
          ...this.ref(matches[0]!),
          keyPath: "",
          problem: `several directories match ${wanted} whatever their case (${matches.join(", ")}); keep one`,
        });
        continue;
      }
      if (!matches[0]) continue;
      const file = this.ref(matches[0]);
      const result = await this.parse(file.url);
      if (result === null) continue;
      if (!result.ok) out.problems.push({ ...file, keyPath: "", problem: result.problem });
      else if (hasKey(result.document, "_extends")) {
        out.problems.push({ ...file, keyPath: "_extends", problem: "works in repository files only; copy the settings into this file instead" });
      } else out.documents.push({ source: { ...file, layer }, document: result.document });
    }
    return out;
  }

  private ref(dir: string): Omit<ConfigSource, "layer"> & { url: string } {
    return {
      file: `DEVS_ENVS_DIR/${dir}/${OPERATOR_FILE_NAME}`,
      url: join(this.envsDir, dir, OPERATOR_FILE_NAME),
      origin: "operator",
    };
  }

  private async directories(): Promise<string[]> {
    try {
      const entries = await readdir(this.envsDir, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() || e.isSymbolicLink()).map((e) => e.name);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
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

export function firstLine(message: string): string {
  return (message.split("\n")[0] ?? "").trim().replace(/:$/, "");
}
