// Secrets out of everything that leaves the process: comments, check runs, logs. Two nets: the
// values we know (tokens and keys from the settings, the task's installation token), replaced
// wherever they appear, and patterns for credentials we were never told about (what an agent or a
// test command may print). Errors shown to users are reduced to one safe line.

export const REDACTED = "[redacted]";

/** Shorter known values are ignored: replacing them would shred ordinary words. */
const MIN_SECRET_LENGTH = 4;

interface Rule {
  pattern: RegExp;
  replace: (match: string, ...groups: string[]) => string;
}

const whole = (): string => REDACTED;

/** Order matters: PEM blocks first (they contain base64 that other rules would half-match). */
const RULES: readonly Rule[] = [
  // A PEM block, or its beginning when the text was cut before the END line.
  {
    pattern: /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?(?:-----END \1-----|$)/g,
    replace: (_m, label) => `-----BEGIN ${label}----- ${REDACTED} -----END ${label}-----`,
  },
  // Credentials in a URL's user-info: https://x-access-token:ghs_…@github.com/…
  {
    pattern: /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/:@]+):([^\s/@]+)@/gi,
    replace: (_m, scheme, user) => `${scheme}${user}:${REDACTED}@`,
  },
  { pattern: /\bx-access-token:[^\s@]+@/gi, replace: () => `x-access-token:${REDACTED}@` },
  // A long user name alone in a URL is a token (https://<token>@host/…).
  { pattern: /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/:@]{20,}@/gi, replace: (_m, scheme) => `${scheme}${REDACTED}@` },
  // Authorization headers (HTTP, JSON, git's http.extraheader), whatever the scheme.
  {
    pattern: /\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:(basic|bearer|token)\s+)?[^\s"',;]+/gi,
    replace: (_m, prefix, scheme) => `${prefix}${scheme ? `${scheme} ` : ""}${REDACTED}`,
  },
  { pattern: /\b(bearer\s+)[a-z0-9._~+/=-]{8,}/gi, replace: (_m, prefix) => `${prefix}${REDACTED}` },
  // GitHub: classic, OAuth, user-to-server, server-to-server and refresh tokens; fine-grained PATs.
  { pattern: /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g, replace: whole },
  { pattern: /\bgithub_pat_[A-Za-z0-9_]{20,}\b/g, replace: whole },
  // Anthropic API keys and Claude Code OAuth tokens (sk-ant-api03-…, sk-ant-oat01-…).
  { pattern: /\bsk-ant-[A-Za-z0-9_-]{8,}/g, replace: whole },
  // AWS: access key ids, and secret keys where they are named.
  { pattern: /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g, replace: whole },
  {
    pattern: /\b(aws_secret_access_key|secretaccesskey|aws_session_token)(["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{16,}/gi,
    replace: (_m, name, sep) => `${name}${sep}${REDACTED}`,
  },
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The forms a known secret may take once it has passed through a URL or a header. */
function variants(secret: string): string[] {
  const forms = new Set([secret, encodeURIComponent(secret), Buffer.from(secret, "utf8").toString("base64")]);
  return [...forms].filter((s) => s.length >= MIN_SECRET_LENGTH);
}

export type Redactor = (text: string) => string;

/**
 * A redactor for a fixed set of known secret values (null and empty entries are skipped, so
 * settings can be passed as they are) plus the built-in patterns.
 */
export function createRedactor(secrets: Iterable<string | null | undefined> = []): Redactor {
  const values = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    for (const form of variants(secret.trim())) values.add(form);
  }
  // Longest first, so a secret that contains another is replaced whole.
  const known = [...values].sort((a, b) => b.length - a.length);
  const knownPattern = known.length ? new RegExp(known.map(escapeRegExp).join("|"), "g") : null;
  return (text: string) => {
    let out = knownPattern ? text.replace(knownPattern, REDACTED) : text;
    for (const rule of RULES) out = out.replace(rule.pattern, rule.replace as (m: string, ...g: string[]) => string);
    return out;
  };
}

/** One-off redaction; build a Redactor with `createRedactor` when redacting often. */
export function redact(text: string, secrets: Iterable<string | null | undefined> = []): string {
  return createRedactor(secrets)(text);
}

/** Errors whose message is a programming mistake, not something a user can act on. */
const INTERNAL_ERRORS = [TypeError, ReferenceError, SyntaxError, RangeError, EvalError, URIError];

export interface SafeSummaryOptions {
  /** Known secret values, as for createRedactor; or a ready redactor. */
  secrets?: Iterable<string | null | undefined>;
  redactor?: Redactor;
  /** At most this many characters (default 300). */
  maxLength?: number;
}

/**
 * One line about an error that may be shown on GitHub: the message's first line, secrets
 * redacted, file system paths and stack frames removed, bounded in length. Programming errors
 * (TypeError and friends) and non-errors become a generic line: their text helps no user.
 */
export function safeErrorSummary(error: unknown, options: SafeSummaryOptions = {}): string {
  const generic = "an internal error occurred (details are in the server log)";
  let message: string;
  if (error instanceof Error) {
    if (INTERNAL_ERRORS.some((kind) => error instanceof kind)) return generic;
    message = error.message;
  } else if (typeof error === "string") {
    message = error;
  } else {
    return generic;
  }
  const text = safeText(message, options);
  return text || generic;
}

/**
 * Text from somewhere we do not control (an agent's error, a tool's message) made fit for a
 * comment: first meaningful line, redacted, paths hidden, bounded.
 */
export function safeText(text: string, options: SafeSummaryOptions = {}): string {
  const redactor = options.redactor ?? createRedactor(options.secrets ?? []);
  const maxLength = options.maxLength ?? 300;
  // Redact before cutting to one line: a PEM block spans lines and must go whole.
  const lines = redactor(text)
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !/^at\s/.test(line));
  let line = hidePaths(lines[0] ?? "")
    .replace(/\s+/g, " ")
    .trim();
  if (line.length > maxLength) line = `${line.slice(0, maxLength - 1).trimEnd()}…`;
  return line;
}

/**
 * Replaces absolute file system paths (POSIX with two or more segments, Windows drive paths,
 * file:// URLs) with `<path>`; URL paths are left alone (they follow a host name).
 */
export function hidePaths(text: string): string {
  return text
    .replace(/\bfile:\/\/\S+/g, "<path>")
    .replace(/\b[A-Za-z]:\\[^\s'"`]+/g, "<path>")
    .replace(/(^|[\s'"`(=[,])\/(?:[^\s/'"`)]+\/)+[^\s/'"`),:]*/g, (_m, before) => `${before}<path>`);
}
