// Real payloads from @octokit/webhooks-examples, cloned and patched per test.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples") as Array<{
  name: string;
  examples: Array<Record<string, unknown> & { action?: string }>;
}>;

type Json = Record<string, unknown>;

/** The first example of `name` with `action`, deep-merged with `patch` (null deletes a key). */
export function payload(name: string, action: string | undefined, patch: Json = {}): Json {
  const group = examples.find((e) => e.name === name);
  const found = group?.examples.find((e) => e.action === action);
  if (!found) throw new Error(`no webhooks-examples payload for ${name}.${action}`);
  return merge(structuredClone(found), patch);
}

function merge(target: Json, patch: Json): Json {
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete target[key];
    else if (isObject(value) && isObject(target[key])) merge(target[key] as Json, value);
    else target[key] = value;
  }
  return target;
}

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
