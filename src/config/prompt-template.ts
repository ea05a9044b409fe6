// `prompt_override` templating. Exactly the six documented variables, written `{repo_name}`, are
// filled in, in one pass, so a value that itself contains `{repo_name}` stays as it is. Every
// other brace (JSON, code, `{{repo_name}}`, `{unknown}`) is kept exactly as written: unlike the
// original's str.format, a stray brace never breaks a task.

const PROMPT_VARIABLES = [
  "event_type",
  "event_type_full",
  "task_description",
  "repo_name",
  "workspace_path",
  "github_username",
] as const;

export type PromptVariable = (typeof PROMPT_VARIABLES)[number];
export type PromptValues = Record<PromptVariable, string>;

const KNOWN = new Set<string>(PROMPT_VARIABLES);

// A name after a run of opening braces: only a single `{` makes a variable (`{{name}` is kept
// as written). Closing braces after the first are left alone, so `{"a": {repo_name}}` works.
const TOKEN = /(\{+)([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function renderPromptOverride(template: string, values: Readonly<Partial<Record<string, string>>>): string {
  return template.replace(TOKEN, (whole: string, open: string, name: string) => {
    if (open.length !== 1 || !KNOWN.has(name)) return whole;
    return values[name] ?? whole;
  });
}

/** The documented variables a template uses, for `devs-webhook config --repo`. */
export function variablesUsed(template: string): PromptVariable[] {
  const used = new Set<PromptVariable>();
  for (const [, open, name] of template.matchAll(TOKEN)) {
    if (open!.length === 1 && KNOWN.has(name!)) used.add(name as PromptVariable);
  }
  return [...used];
}
