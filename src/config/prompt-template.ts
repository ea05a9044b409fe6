// `prompt_override` templating, with exactly the six documented variables, written `{repo_name}`.
// A template the original accepted (Python's str.format: literal braces doubled, `{{` and `}}`)
// renders exactly as it did there. One it refused (a stray brace from pasted JSON or code, an
// unknown `{name}`, which failed the task) is not refused: the six variables are filled in and
// every other brace is kept as written. Either way values are inserted in one pass, so a value
// that itself contains `{repo_name}` stays as it is.

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

type Values = Readonly<Partial<Record<string, string>>>;

export function renderPromptOverride(template: string, values: Values): string {
  return asFormatString(template, values) ?? leniently(template, values);
}

/** str.format's reading, for templates it accepts (only the six names, bare); null for the rest. */
function asFormatString(template: string, values: Values): string | null {
  const out: string[] = [];
  let i = 0;
  while (i < template.length) {
    const char = template[i]!;
    if ((char === "{" || char === "}") && template[i + 1] === char) {
      out.push(char);
      i += 2;
    } else if (char === "{") {
      const close = template.indexOf("}", i + 1);
      const name = close < 0 ? "" : template.slice(i + 1, close);
      // Positional fields, conversions (`!r`), format specs and indexing failed or are not ours.
      if (!KNOWN.has(name)) return null;
      out.push(values[name] ?? `{${name}}`);
      i = close + 1;
    } else if (char === "}") {
      return null;
    } else {
      const next = template.slice(i).search(/[{}]/);
      const end = next < 0 ? template.length : i + next;
      out.push(template.slice(i, end));
      i = end;
    }
  }
  return out.join("");
}

function leniently(template: string, values: Values): string {
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
