// DEVS.yml: the one JSON Schema. Validation, the defaults and the published
// `devs-yml.schema.json` (for editor completion) all come from it, so they cannot drift apart.
// Ajv's errors are turned into problems a user can act on: the file, the key path, what is wrong.
import { Ajv, type ErrorObject } from "ajv";
import type { WithDefaults } from "./schema-type.js";

export const SCHEMA_FILE_NAME = "devs-yml.schema.json";

const ENV_NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$";
const CONTAINER_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]*$";

export const DEVS_YML_SCHEMA = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "DEVS.yml",
  description:
    "Repository configuration for devs-webhook. Read from the default branch only: DEVS.yml at the repository root, " +
    "else .github/devs.yml (with _extends within the same owner and the owner's .github repository, as for other Probot apps; " +
    "env_vars never come through _extends from another repository except the owner's .github). " +
    "Operator files override it: DEVS_ENVS_DIR/<owner>/<repo>/DEVS.yml, then DEVS_ENVS_DIR/default/DEVS.yml. " +
    "Maps merge key by key; lists and other values replace.",
  type: "object",
  additionalProperties: false,
  properties: {
    default_branch: {
      type: ["string", "null"],
      minLength: 1,
      default: null,
      description: "Branch the agent starts from and opens pull requests against. Empty: the repository's default branch.",
    },
    prompt_extra: {
      type: ["string", "null"],
      default: "",
      description: "Extra instructions appended to the agent's standard prompt (coding style, constraints).",
    },
    prompt_override: {
      type: ["string", "null"],
      default: null,
      description:
        "Replaces the whole prompt. {event_type}, {event_type_full}, {task_description}, {repo_name}, {workspace_path} " +
        "and {github_username} are filled in; {{ and }} are literal braces, as in the original's templates. In a template " +
        "with a single stray brace (JSON, code) or an unknown {name}, every other brace is kept exactly as written.",
    },
    direct_commit: {
      type: "boolean",
      default: false,
      description: "Push the agent's work straight to the default branch instead of opening a pull request.",
    },
    draft_prs: {
      type: "boolean",
      default: false,
      description: "Open the agent's pull requests as drafts.",
    },
    max_cost_usd: {
      type: ["number", "null"],
      exclusiveMinimum: 0,
      default: null,
      description:
        "Most an agent task may spend on the model, in US dollars, as the server's proxy counts it. Empty: the operator's " +
        "MAX_TASK_COST_USD. Never above the operator's TASK_COST_CEILING_USD.",
    },
    single_queue: {
      type: "boolean",
      default: false,
      description: "Run every task of this repository in one container, one after another.",
    },
    ci_enabled: {
      type: "boolean",
      default: false,
      description: "Run ci_test_command on pushes and pull requests and report it as a check run.",
    },
    ci_test_command: {
      type: "string",
      minLength: 1,
      default: "./runtests.sh",
      description: "Shell command CI runs in the devcontainer; exit code 0 passes.",
    },
    ci_fix_attempts: {
      type: ["integer", "null"],
      minimum: 0,
      default: null,
      description:
        "How many times the agent may try to fix its own pull request when this app's CI fails on a commit it pushed. " +
        "Empty: 2. 0 turns the loop off. Never above the operator's CI_FIX_ATTEMPTS_MAX.",
    },
    ci_branches: {
      type: "array",
      items: { type: "string", minLength: 1 },
      default: ["main", "master"],
      description:
        "Branches whose pushes run CI, in order: names or globs (release/* within one level, release/** any depth); " +
        "!pattern takes back what an earlier one matched. Pull requests always run.",
    },
    env_vars: {
      type: "object",
      default: {},
      description:
        "Environment variables for the containers: `default` applies to every container, a container's own name " +
        "(eamonn, harry, ...) overrides it. Values are strings (quote numbers and booleans).",
      propertyNames: { pattern: CONTAINER_NAME_PATTERN },
      properties: { default: { $ref: "#/definitions/envMap", description: "Variables for every container." } },
      additionalProperties: { $ref: "#/definitions/envMap" },
    },
    ssh_host: {
      type: ["string", "null"],
      default: null,
      description: "Used by the devs command line tool; devs-webhook ignores it.",
    },
    _extends: {
      type: "string",
      pattern: "^(?:[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/)?[-_.A-Za-z0-9]+(?::[-_./A-Za-z0-9]+\\.ya?ml)?$",
      description:
        "Repository files only: settings to start from, in another repository's file (repo, owner/repo or " +
        "owner/repo:path.yml, read on its default branch). This file's own keys win.",
    },
  },
  definitions: {
    envMap: {
      type: "object",
      description: "Variable name to value.",
      propertyNames: { pattern: ENV_NAME_PATTERN },
      additionalProperties: { type: "string" },
    },
  },
} as const;

/** A DEVS.yml after layering, with every default applied: derived from the schema, never written by hand. */
export type DevsYml = WithDefaults<typeof DEVS_YML_SCHEMA>;

export type DevsYmlKey = keyof DevsYml;

/** The settings; `_extends` is resolved (and removed) by the config plugin before validation. */
export const DEVS_YML_KEYS = Object.keys(DEVS_YML_SCHEMA.properties).filter((k) => k !== "_extends") as DevsYmlKey[];

/** Fresh copies, so a caller cannot change the defaults of the next load. */
export function defaultDevsYml(): DevsYml {
  const out: Record<string, unknown> = {};
  for (const key of DEVS_YML_KEYS) out[key] = structuredClone(DEVS_YML_SCHEMA.properties[key].default);
  return out as unknown as DevsYml;
}

/** The schema file as committed at the repository root (stable formatting, trailing newline). */
export function schemaJson(): string {
  return `${JSON.stringify(DEVS_YML_SCHEMA, null, 2)}\n`;
}

/** One thing wrong with one configuration file. */
export interface ConfigProblem {
  /** What the user knows the file as: `DEVS.yml`, `acme/.github:DEVS.yml`, `DEVS_ENVS_DIR/default/DEVS.yml`. */
  file: string;
  /** The file on GitHub (blob URL at the commit read), or the local path of an operator file. */
  url: string | null;
  /** Where in the file: `env_vars.default.FOO`, `ci_branches[1]`; empty for the whole file. */
  keyPath: string;
  problem: string;
  /** Operator files live on the server: users are told to ask the operator, and see no path. */
  origin: "repository" | "operator";
}

export type FileRef = Pick<ConfigProblem, "file" | "url" | "origin">;

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
const validate = ajv.compile(DEVS_YML_SCHEMA);

/** Validates one file's content (already parsed); no problems means it may be layered. */
export function validateDevsYml(document: unknown, file: FileRef): ConfigProblem[] {
  if (validate(document)) return [];
  const problems: ConfigProblem[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    const item = describeError(error, file.origin === "operator");
    if (!item) continue;
    const key = `${item.keyPath}\u0000${item.problem}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ ...file, ...item });
  }
  return problems;
}

/** `["env_vars","default","FOO"]` → `env_vars.default.FOO`; odd keys are quoted, indexes bracketed. */
export function formatKeyPath(path: readonly (string | number)[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

function pointerToPath(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split("/")
    .map((raw) => raw.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

const TYPE_WORDS: Record<string, string> = {
  boolean: "true or false",
  string: "a string",
  array: "a list",
  object: "a mapping of keys to values",
  null: "empty",
  number: "a number",
  integer: "a whole number",
};

/** The value as a user would recognise it, short. */
function describeValue(value: unknown): string {
  if (value === null || value === undefined) return "nothing (an empty value)";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (typeof value === "string") return `the string ${codeSpan(JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value))}`;
  return `${typeof value === "boolean" ? "the boolean" : "the number"} ${codeSpan(String(value))}`;
}

/** Inline code that survives backticks in the text (Markdown's longer-fence rule). */
export function codeSpan(text: string): string {
  const longest = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  const pad = text.startsWith("`") || text.endsWith("`") ? " " : "";
  return `${fence}${pad}${text}${pad}${fence}`;
}

/** `private`: an operator file, whose env values (often secrets) are not repeated, not even in logs. */
function describeError(error: ErrorObject, isPrivate: boolean): Pick<ConfigProblem, "keyPath" | "problem"> | null {
  const path = pointerToPath(error.instancePath);
  switch (error.keyword) {
    case "additionalProperties": {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      const known = path.length === 0 ? DEVS_YML_KEYS : [];
      const guess = closest(key, known);
      return {
        keyPath: formatKeyPath([...path, key]),
        problem: guess
          ? `unknown key (did you mean ${codeSpan(guess)}?)`
          : `unknown key${known.length ? `; the keys are ${known.map((k) => codeSpan(k)).join(", ")}` : ""}`,
      };
    }
    case "type": {
      const expected = String((error.params as { type: string | string[] }).type)
        .split(",")
        .map((t) => TYPE_WORDS[t] ?? t)
        .join(" or ");
      const inEnv = path[0] === "env_vars" && path.length === 3;
      const scalar = typeof error.data === "number" || typeof error.data === "boolean";
      if (inEnv && isPrivate) {
        return { keyPath: formatKeyPath(path), problem: `must be ${expected}, found ${scalar ? `a ${typeof error.data}; quote the value` : describeValue(error.data)}` };
      }
      const hint = inEnv && scalar ? `; quote it: ${codeSpan(`${String(path[2])}: "${String(error.data)}"`)}` : "";
      return { keyPath: formatKeyPath(path), problem: `must be ${expected}, found ${describeValue(error.data)}${hint}` };
    }
    case "pattern": {
      // Inside propertyNames: the key itself is wrong.
      const name = error.propertyName;
      if (name === undefined) {
        const problem =
          path[0] === "_extends"
            ? `must be repo, owner/repo or owner/repo:path.yml, found ${describeValue(error.data)}`
            : `does not match ${codeSpan(String(error.params.pattern))}`;
        return { keyPath: formatKeyPath(path), problem };
      }
      const isEnvName = error.params.pattern === ENV_NAME_PATTERN;
      return {
        keyPath: formatKeyPath([...path, name]),
        problem: isEnvName
          ? `${codeSpan(name)} is not a valid environment variable name (letters, digits and _, not starting with a digit)`
          : `${codeSpan(name)} is not a valid container name (letters, digits, _ . -)`,
      };
    }
    case "propertyNames":
      return null; // reported by the nested "pattern" error, which names the key
    case "exclusiveMinimum":
      return { keyPath: formatKeyPath(path), problem: `must be more than ${String(error.params.limit)}, found ${describeValue(error.data)}` };
    case "minLength":
      return { keyPath: formatKeyPath(path), problem: "must not be empty" };
    default:
      return { keyPath: formatKeyPath(path), problem: error.message ?? error.keyword };
  }
}

/** The known key a typo most likely meant (edit distance at most 2), if any. */
function closest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
