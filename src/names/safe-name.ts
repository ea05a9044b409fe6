// Turning a name from GitHub or a payload (owner, repository, pool slot, task id, title) into one
// that is safe where it goes: a Docker name, a folder, a URL segment, a branch. Pure.
//
// The rules differ on purpose, and each stays as it is: the names they make are identities already
// in use (a place's container and folder, a repository's cache, an image's tag), so changing a rule
// would orphan what an earlier run created.

export type SafeAlphabet = "alnum" | "docker" | "url" | "file";

interface Rule {
  unsafe: RegExp;
  replacement: string;
  /** Characters trimmed off both ends, if any. */
  ends: RegExp | null;
}

const RULES: Record<SafeAlphabet, Rule> = {
  /** Letters and digits with single dashes between: Docker image repository components, branch slugs, plain path names. */
  alnum: { unsafe: /[^a-z0-9]+/g, replacement: "-", ends: /^-+|-+$/g },
  /** Docker container names, and one path segment: each run of anything else becomes one dash. */
  docker: { unsafe: /[^a-z0-9_.-]+/g, replacement: "-", ends: null },
  /** A URL path segment of an object key: as `docker`, without a dot or dash at either end. */
  url: { unsafe: /[^a-z0-9._-]+/g, replacement: "-", ends: /^[-.]+|[-.]+$/g },
  /** A folder name: each other character becomes `_`. */
  file: { unsafe: /[^a-z0-9._-]/g, replacement: "_", ends: null },
};

/** `text` in lower case with only the characters of `alphabet`; may be empty (callers pick the fallback). */
export function safeName(text: string, alphabet: SafeAlphabet): string {
  const rule = RULES[alphabet];
  const replaced = text.toLowerCase().replace(rule.unsafe, rule.replacement);
  return rule.ends ? replaced.replace(rule.ends, "") : replaced;
}
