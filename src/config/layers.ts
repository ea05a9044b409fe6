// Layering, pure: validate each file on its own (so a problem names its file), then overlay them
// on the schema's defaults. Maps merge key by key; lists and scalars replace (never concatenate).
// Every leaf remembers the file it came from, for `devs-webhook config --repo` and for logs.
import { DevsConfigError } from "./errors.js";
import { defaultDevsYml, formatKeyPath, validateDevsYml, type ConfigProblem, type DevsYml, type FileRef } from "./schema.js";

/**
 * Where a value came from. Highest first: the operator's per-repository file, the operator's
 * default file, the repository's file, the owner's `.github` repository (when the repository has
 * none), files named by `_extends`, and the built-in defaults.
 */
export type LayerKind = "operator-repo" | "operator-default" | "repository" | "organization" | "extends" | "default";

export interface ConfigSource extends FileRef {
  layer: LayerKind;
}

export interface SourcedDocument {
  source: ConfigSource;
  /** The parsed file (null for an empty file). */
  document: unknown;
}

/** A key of a file that was read but deliberately not used, with why (for logs and `config --repo`). */
export interface IgnoredSetting {
  source: ConfigSource;
  keyPath: string;
  reason: string;
}

export interface ProvenanceEntry {
  path: string[];
  keyPath: string;
  value: unknown;
  source: ConfigSource;
}

export interface LoadedDevsConfig {
  /** owner/name */
  repo: string;
  /** The default branch's commit the repository's file was read at (null: empty repository). */
  sha: string | null;
  config: DevsYml;
  /** Every leaf (scalar, list, or empty map) with the file it came from, in schema order. */
  provenance: ProvenanceEntry[];
  /** The files that took part, highest first, ending with the built-in defaults. */
  sources: ConfigSource[];
  /** Keys that were read and left out on purpose. */
  ignored: IgnoredSetting[];
}

const DEFAULT_SOURCE: ConfigSource = { layer: "default", file: "built-in default", url: null, origin: "repository" };

type Tree =
  | { kind: "map"; source: ConfigSource; entries: Map<string, Tree> }
  | { kind: "leaf"; source: ConfigSource; value: unknown };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function toTree(value: unknown, source: ConfigSource): Tree {
  if (!isPlainObject(value)) return { kind: "leaf", source, value };
  return { kind: "map", source, entries: new Map(Object.entries(value).map(([k, v]) => [k, toTree(v, source)])) };
}

function overlay(lower: Tree | undefined, upper: Tree): Tree {
  if (lower?.kind !== "map" || upper.kind !== "map") return upper;
  const entries = new Map(lower.entries);
  for (const [key, value] of upper.entries) entries.set(key, overlay(entries.get(key), value));
  return { kind: "map", source: upper.source, entries };
}

function toValue(tree: Tree): unknown {
  if (tree.kind === "leaf") return structuredClone(tree.value);
  return Object.fromEntries([...tree.entries].map(([k, v]) => [k, toValue(v)]));
}

function collect(tree: Tree, path: string[], out: ProvenanceEntry[]): void {
  if (tree.kind === "map" && tree.entries.size > 0) {
    for (const [key, child] of tree.entries) collect(child, [...path, key], out);
    return;
  }
  if (path.length) out.push({ path, keyPath: formatKeyPath(path), value: toValue(tree), source: tree.source });
}

/** Problems of every file; no problems means `mergeDocuments` may run. */
function validateDocuments(documents: readonly SourcedDocument[]): ConfigProblem[] {
  return documents.flatMap(({ source, document }) => validateDevsYml(document ?? {}, source));
}

/**
 * Validates each file and layers them (highest first) over the defaults. Throws a DevsConfigError
 * listing every problem of every file: a task never runs on a partly read configuration.
 */
export function layerDocuments(repo: string, sha: string | null, documents: readonly SourcedDocument[], ignored: readonly IgnoredSetting[] = []): LoadedDevsConfig {
  const problems = validateDocuments(documents);
  if (problems.length) throw new DevsConfigError(repo, problems);
  let tree = toTree(defaultDevsYml(), DEFAULT_SOURCE);
  for (const { source, document } of [...documents].reverse()) tree = overlay(tree, toTree(document ?? {}, source));
  const provenance: ProvenanceEntry[] = [];
  collect(tree, [], provenance);
  return {
    repo,
    sha,
    config: toValue(tree) as DevsYml,
    provenance,
    sources: [...documents.map((d) => d.source), DEFAULT_SOURCE],
    ignored: [...ignored],
  };
}

/** The file a leaf's value came from (`ci_enabled`, `env_vars.default.FOO`). */
export function sourceOf(loaded: LoadedDevsConfig, keyPath: string): ConfigSource | undefined {
  return loaded.provenance.find((e) => e.keyPath === keyPath)?.source;
}
