// DEVS.yml `env_vars` for one slot: the slot's own map over `default` (names compared
// without regard to case). Variables named like the server's own secrets are withheld, and so
// is any value equal to one of them, unless the operator allows the name explicitly:
// a DEVS.yml must not be a way to hand the App's keys or a token to code running in a container.
import { SETTINGS } from "../settings.js";
import type { DevsYml } from "./schema.js";

/** The server's secret settings (every alias), and credentials of the kind it may hold. */
export const SERVER_SECRET_NAMES: readonly string[] = [
  ...new Set([
    ...Object.values(SETTINGS)
      .filter((spec) => "secret" in spec && spec.secret)
      .flatMap((spec) => spec.names),
    "PRIVATE_KEY_PATH",
    "GH_TOKEN",
    "GH_ENTERPRISE_TOKEN",
    "GITHUB_ENTERPRISE_TOKEN",
    "CLIENT_SECRET",
    "GITHUB_CLIENT_SECRET",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
  ]),
];

const SECRET_NAME_SET = new Set(SERVER_SECRET_NAMES);

export function isServerSecretName(name: string): boolean {
  return SECRET_NAME_SET.has(name.toUpperCase());
}

export interface EnvVarOptions {
  /** Names the operator explicitly lets through although they name a server secret. */
  allow?: Iterable<string>;
  /** The server's secret values (tokens, keys): a variable carrying one is withheld whatever its name. */
  secretValues?: Iterable<string | null | undefined>;
}

export interface WithheldVariable {
  name: string;
  /** Where it was set: `env_vars.default.GITHUB_TOKEN`. */
  keyPath: string;
  reason: "secret-name" | "secret-value";
}

export interface ResolvedEnv {
  env: Record<string, string>;
  withheld: WithheldVariable[];
}

/** Values shorter than this are not treated as secrets: they would match ordinary settings. */
const MIN_SECRET_VALUE = 8;

export function resolveEnvVars(envVars: DevsYml["env_vars"], slot: string, options: EnvVarOptions = {}): ResolvedEnv {
  const allowed = new Set([...(options.allow ?? [])].map((n) => n.toUpperCase()));
  const secretValues = new Set([...(options.secretValues ?? [])].filter((v): v is string => typeof v === "string" && v.length >= MIN_SECRET_VALUE));
  const wanted = slot.toLowerCase();
  const sections = [
    ...Object.keys(envVars).filter((k) => k === "default"),
    // A differently cased duplicate is applied after the exact name would be: exact wins.
    ...Object.keys(envVars)
      .filter((k) => k !== "default" && k.toLowerCase() === wanted)
      .sort((a, b) => Number(a === slot) - Number(b === slot)),
  ];
  const picked = new Map<string, { value: string; keyPath: string }>();
  for (const section of sections) {
    for (const [name, value] of Object.entries(envVars[section] ?? {})) picked.set(name, { value, keyPath: `env_vars.${section}.${name}` });
  }
  const env: Record<string, string> = {};
  const withheld: WithheldVariable[] = [];
  for (const [name, { value, keyPath }] of picked) {
    if (!allowed.has(name.toUpperCase())) {
      if (isServerSecretName(name)) {
        withheld.push({ name, keyPath, reason: "secret-name" });
        continue;
      }
      if (secretValues.has(value)) {
        withheld.push({ name, keyPath, reason: "secret-value" });
        continue;
      }
    }
    env[name] = value;
  }
  return { env, withheld };
}

/** One log line's worth: which variables were withheld and why. */
export function describeWithheld(withheld: readonly WithheldVariable[]): string {
  return withheld
    .map((w) => `${w.keyPath} (${w.reason === "secret-name" ? "names one of the server's secrets" : "carries one of the server's secret values"})`)
    .join(", ");
}
