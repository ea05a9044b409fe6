// Content hashes that decide whether an image or a container is still current. Keys are sorted so
// that the same value always hashes the same, whatever order a file or an object literal used.
import { createHash } from "node:crypto";

/** JSON with object keys sorted at every level; `undefined` members are dropped as JSON does. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map((item) => stableStringify(item)).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(",")}}`;
}

export function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A short hash of a value's stable JSON, for labels and tags. */
export function valueHash(value: unknown, length = 16): string {
  return sha256(stableStringify(value)).slice(0, length);
}
