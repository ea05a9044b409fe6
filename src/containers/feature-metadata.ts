// What features ask of the container, read from the image's `devcontainer.metadata` label that the
// devcontainer CLI writes: lifecycle commands run before the repository's own (as the spec says),
// and the asks this app never grants (privileged, capabilities, mounts, ...) become notes.
// `containerEnv` is not in the label: the CLI bakes it into the image as ENV, so every command
// run in the container sees it. Pure.
import type { CommandForm, DevcontainerSpec, LifecycleCommand, LifecycleHook } from "./devcontainer.js";

export const METADATA_LABEL = "devcontainer.metadata";

/** One entry of the label; features' entries carry their `id`. */
export type MetadataEntry = Record<string, unknown> & { id?: string };

/** The label's entries, or none when it is absent or not what the CLI writes. */
export function parseMetadataLabel(label: string | undefined): MetadataEntry[] {
  if (!label) return [];
  try {
    const value: unknown = JSON.parse(label);
    const list = Array.isArray(value) ? value : [value];
    return list.filter((entry): entry is MetadataEntry => typeof entry === "object" && entry !== null && !Array.isArray(entry));
  } catch {
    return [];
  }
}

const HOOKS: readonly LifecycleHook[] = ["onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand"];

/** What a feature may ask for that containers never get, with the reason the user reads. */
const NOT_GRANTED: Record<string, string> = {
  privileged: "containers never run privileged",
  capAdd: "capabilities are never added",
  securityOpt: "security options are fixed by the operator",
  mounts: "a feature's mounts are not applied",
  init: "containers always run with an init process",
  entrypoint: "the container's entrypoint is the app's own",
  postAttachCommand: "tasks do not attach an editor",
};

/**
 * The spec with the features' lifecycle commands put before the repository's, and notes for what
 * was not applied. Only the features' entries (those with an `id`) count.
 */
export function applyFeatureMetadata(spec: DevcontainerSpec, entries: readonly MetadataEntry[]): { spec: DevcontainerSpec; notes: string[] } {
  const features = entries.filter((entry) => typeof entry.id === "string");
  const notes: string[] = [];
  for (const entry of features) {
    for (const [key, reason] of Object.entries(NOT_GRANTED)) {
      if (asks(entry[key])) notes.push(`feature \`${entry.id}\` asks for \`${key}\`, not applied: ${reason}.`);
    }
  }
  const next: DevcontainerSpec = { ...spec };
  for (const hook of HOOKS) {
    const parts: Array<{ id: string; command: LifecycleCommand }> = [];
    for (const entry of features) {
      const command = lifecycleCommand(entry[hook]);
      if (command) parts.push({ id: entry.id as string, command });
    }
    if (!parts.length) continue;
    const own = spec[hook];
    const combined = inSequence([...parts.map((p) => p.command), ...(own ? [own] : [])]);
    if (combined) next[hook] = combined;
    else notes.push(`\`${hook}\` of feature${parts.length > 1 ? "s" : ""} ${parts.map((p) => `\`${p.id}\``).join(", ")} not applied: commands in the object form run only on their own.`);
  }
  return { spec: next, notes };
}

function asks(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === "string") return value.trim() !== "";
  return value === true;
}

function lifecycleCommand(value: unknown): LifecycleCommand | null {
  if (typeof value === "string") return value.trim() ? { kind: "shell", command: value } : null;
  if (Array.isArray(value) && value.length && value.every((v) => typeof v === "string")) return { kind: "argv", argv: value as string[] };
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const commands: Record<string, CommandForm> = {};
    for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
      const one = lifecycleCommand(entry);
      if (one && one.kind !== "parallel") commands[name] = one;
    }
    return Object.keys(commands).length ? { kind: "parallel", commands } : null;
  }
  return null;
}

/** One shell command running each in turn and stopping at the first failure; null when one is in the object form. */
function inSequence(commands: readonly LifecycleCommand[]): LifecycleCommand | null {
  if (commands.length === 1) return commands[0] ?? null;
  const shell: string[] = [];
  for (const command of commands) {
    if (command.kind === "parallel") return null;
    // Newlines around each part, so a trailing comment in one cannot swallow the rest.
    shell.push(`(\n${command.kind === "shell" ? command.command : command.argv.map(shellQuote).join(" ")}\n)`);
  }
  return { kind: "shell", command: shell.join(" && ") };
}

function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
