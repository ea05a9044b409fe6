// The parts of devcontainer.json that add to the image or the container beyond `image`/`build`:
// `features` (with `overrideFeatureInstallOrder`) and `mounts`. Pure: it decides what may be
// applied and notes what may not; feature-image.ts builds the image, docker.ts mounts volumes.
import { posix } from "node:path";

type JSONPath = Array<string | number>;
type Fail = (at: JSONPath, problem: string) => never;

/** What a feature's options may be set to in devcontainer.json. */
export type FeatureValue = Record<string, string | boolean | number> | string | boolean;

/**
 * Where a feature comes from. `local`: a folder of the repository under `.devcontainer/`, copied
 * by the host; `published`: an OCI reference (or a legacy short name) the devcontainer CLI pulls;
 * `tarball`: an https URL the CLI downloads.
 */
export type FeatureSource = { kind: "local"; path: string } | { kind: "published" } | { kind: "tarball" };

export interface FeatureEntry {
  /** The key as written in devcontainer.json. */
  ref: string;
  source: FeatureSource;
  value: FeatureValue;
}

export interface FeatureSet {
  /** In the file's order. */
  entries: FeatureEntry[];
  /** `overrideFeatureInstallOrder`, as written. */
  installOrder: string[];
}

/** A named Docker volume from `mounts`; docker.ts gives it a name of the place's own. */
export interface VolumeMount {
  /** The volume's name as the repository wrote it. */
  source: string;
  /** Absolute path in the container. */
  target: string;
  readOnly: boolean;
}

/** Folder that local features must live in (the spec's rule), relative to the repository root. */
const LOCAL_FEATURES_DIR = ".devcontainer";

/** Parses `features` and `overrideFeatureInstallOrder`; null when there are no features. */
export function parseFeatures(raw: unknown, rawOrder: unknown, configFile: string, fail: Fail, notes: string[]): FeatureSet | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "object" || Array.isArray(raw)) return fail(["features"], "`features` must be an object");
  const configDir = posix.dirname(configFile);
  const entries: FeatureEntry[] = [];
  for (const [ref, value] of Object.entries(raw as Record<string, unknown>)) {
    const at = ["features", ref];
    const source = featureSource(ref, configDir, at, fail);
    if (source === null) {
      notes.push(`feature \`${ref}\` not applied: only OCI-published features, https tarballs and local folders under ${LOCAL_FEATURES_DIR}/ are used.`);
      continue;
    }
    if (value === false) continue;
    entries.push({ ref, source, value: featureValue(value, at, fail) });
  }
  if (!entries.length) return null;
  const installOrder = rawOrder === undefined || rawOrder === null ? [] : rawOrder;
  if (!Array.isArray(installOrder) || !installOrder.every((id) => typeof id === "string")) {
    return fail(["overrideFeatureInstallOrder"], "`overrideFeatureInstallOrder` must be an array of strings");
  }
  return { entries, installOrder: installOrder as string[] };
}

function featureSource(ref: string, configDir: string, at: JSONPath, fail: Fail): FeatureSource | null {
  if (!ref.trim()) return fail(at, "a feature's name is empty");
  if (ref.startsWith("./") || ref.startsWith("../")) {
    const path = posix.normalize(posix.join(configDir, ref)).replace(/\/+$/, "");
    if (!path.startsWith(`${LOCAL_FEATURES_DIR}/`)) fail(at, `the local feature \`${ref}\` must be a folder inside ${LOCAL_FEATURES_DIR}/`);
    return { kind: "local", path };
  }
  if (ref.startsWith("/") || ref.includes("\\")) return fail(at, `the local feature \`${ref}\` must be a relative path starting with ./`);
  if (/^https:\/\//i.test(ref)) return { kind: "tarball" };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) return null;
  if (!/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/.test(ref)) return fail(at, `\`${ref}\` is not a feature reference`);
  return { kind: "published" };
}

function featureValue(value: unknown, at: JSONPath, fail: Fail): FeatureValue {
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail(at, `\`${at.join(".")}\` must be an object of options`);
  }
  const options: Record<string, string | boolean | number> = {};
  for (const [name, option] of Object.entries(value as Record<string, unknown>)) {
    if (typeof option !== "string" && typeof option !== "boolean" && typeof option !== "number") {
      fail([...at, name], `the option \`${name}\` must be a string, a number or true/false`);
    }
    options[name] = option;
  }
  return options;
}

/** Docker's rule for volume names; it also keeps host paths (which contain `/`) out. */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Parses `mounts` (strings in `--mount` syntax or objects). Named volumes are kept; everything
 * else becomes a note: a bind mount would hand the container a folder of the server.
 */
export function parseMounts(
  raw: unknown,
  workspaceFolder: string,
  fail: Fail,
  notes: string[],
  substitute: (item: unknown, index: number) => unknown = (item) => item,
): VolumeMount[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) return fail(["mounts"], "`mounts` must be an array");
  const volumes: VolumeMount[] = [];
  raw.forEach((item: unknown, i) => {
    const fields = mountFields(substitute(item, i));
    if (!fields) return fail(["mounts", i], `\`mounts[${i}]\` must be a string or an object with source and target`);
    // As written: a substituted value could show a path of the server.
    const shown = typeof item === "string" ? item : JSON.stringify(item);
    const refused = refusal(fields, workspaceFolder);
    if (refused) {
      notes.push(`mount \`${shown}\` not applied: ${refused}.`);
      return;
    }
    volumes.push({ source: fields.source ?? "", target: cleanTarget(fields.target ?? ""), readOnly: fields.readOnly });
  });
  return volumes;
}

interface MountFields {
  type: string;
  source: string | undefined;
  target: string | undefined;
  readOnly: boolean;
  /** Options other than type, source, target, readonly and consistency. */
  other: string[];
}

function mountFields(item: unknown): MountFields | null {
  if (typeof item === "string") {
    const fields: MountFields = { type: "volume", source: undefined, target: undefined, readOnly: false, other: [] };
    for (const part of item.split(",")) {
      const eq = part.indexOf("=");
      const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
      const value = eq < 0 ? "" : part.slice(eq + 1).trim();
      if (key === "type") fields.type = value.toLowerCase();
      else if (key === "source" || key === "src") fields.source = value;
      else if (key === "target" || key === "destination" || key === "dst") fields.target = value;
      else if (key === "readonly" || key === "ro") fields.readOnly = value === "" || value === "true" || value === "1";
      else if (key === "consistency" || key === "") continue;
      else if (!fields.other.includes(key)) fields.other.push(key);
    }
    return fields;
  }
  if (typeof item === "object" && item !== null && !Array.isArray(item)) {
    const { type, source, target, ...rest } = item as Record<string, unknown>;
    if (typeof target !== "string" || (source !== undefined && typeof source !== "string")) return null;
    return { type: typeof type === "string" ? type.toLowerCase() : "volume", source, target, readOnly: false, other: Object.keys(rest) };
  }
  return null;
}

function refusal(fields: MountFields, workspaceFolder: string): string | null {
  if (fields.type === "bind") return "host folders are never mounted into task containers (only the workspace is)";
  if (fields.type !== "volume") return `only named volumes are mounted (not type=${fields.type})`;
  // volume-opt can make Docker's local driver bind a host path (o=bind,device=/…), and another driver reaches other hosts.
  if (fields.other.length) return `volume options (${fields.other.join(", ")}) are not applied, so the volume is not mounted`;
  if (!fields.source) return "an anonymous volume would not outlive the container; give it a name";
  if (!VOLUME_NAME.test(fields.source)) return `\`${fields.source}\` is not a volume name (host paths are never mounted)`;
  if (!fields.target?.startsWith("/")) return "its target must be an absolute path in the container";
  const target = cleanTarget(fields.target);
  if (target === "" || target === workspaceFolder || workspaceFolder.startsWith(`${target}/`)) return "it would hide the workspace";
  return null;
}

function cleanTarget(target: string): string {
  return posix.normalize(target).replace(/\/+$/, "");
}
