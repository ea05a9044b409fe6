// prompt_override: a template the original's str.format accepted renders as there; any other has
// the six variables filled in and every other brace kept as written (where the original failed).
import { describe, expect, it } from "vitest";
import { renderPromptOverride, variablesUsed, type PromptValues } from "../../src/config/prompt-template.js";

const values: PromptValues = {
  event_type: "issue",
  event_type_full: "GitHub issue",
  task_description: "Fix {workspace_path} handling",
  repo_name: "acme/widgets",
  workspace_path: "/workspaces/widgets",
  github_username: "devs-bot",
};

describe("renderPromptOverride", () => {
  it.each([
    ["all six", "{event_type}|{event_type_full}|{task_description}|{repo_name}|{workspace_path}|{github_username}", "issue|GitHub issue|Fix {workspace_path} handling|acme/widgets|/workspaces/widgets|devs-bot"],
    ["a variable twice", "{repo_name} and {repo_name}", "acme/widgets and acme/widgets"],
    ["a JSON snippet", 'Reply as {"repo": "{repo_name}", "ok": true}', 'Reply as {"repo": "acme/widgets", "ok": true}'],
    ["a variable closing a JSON object", '{"r": {repo_name}}', '{"r": acme/widgets}'],
    ["an unknown name", "{unknown} and {Repo_Name}", "{unknown} and {Repo_Name}"],
    ["doubled braces, as str.format reads them", "{{repo_name}} and {{ literal }}", "{repo_name} and { literal }"],
    ["doubled braces around a variable", '{{"repo": "{repo_name}"}}', '{"repo": "acme/widgets"}'],
    ["tripled braces", "{{{repo_name}}}", "{acme/widgets}"],
    ["doubled braces next to a stray one are kept (the original failed)", "{{ok}} {", "{{ok}} {"],
    ["doubled braces next to an unknown name are kept (the original failed)", "{{ok}} {unknown} {repo_name}", "{{ok}} {unknown} acme/widgets"],
    ["a stray closing brace", "{repo_name} }", "acme/widgets }"],
    ["code", "function f() { return {a: 1}; }", "function f() { return {a: 1}; }"],
    ["positional and format specs", "{} {0} {repo_name!r} {repo_name:>10}", "{} {0} {repo_name!r} {repo_name:>10}"],
    ["unbalanced braces", "{ { repo_name } {repo_name", "{ { repo_name } {repo_name"],
    ["no braces", "Just do it.", "Just do it."],
    ["a value containing a variable is not substituted again", "{task_description}", "Fix {workspace_path} handling"],
  ])("%s", (_name, template, expected) => {
    expect(renderPromptOverride(template, values)).toBe(expected);
  });

  it("inserts values literally, even ones that look like replacement patterns", () => {
    expect(renderPromptOverride("[{task_description}]", { ...values, task_description: "$& $1 $$ $`" })).toBe("[$& $1 $$ $`]");
  });

  it("leaves a variable without a value as written", () => {
    expect(renderPromptOverride("{repo_name} {github_username}", { repo_name: "acme/widgets" })).toBe("acme/widgets {github_username}");
  });
});

describe("variablesUsed", () => {
  it("lists the documented variables a template uses, once each", () => {
    expect(variablesUsed("{repo_name} {{event_type}} {unknown} {repo_name} {github_username}")).toEqual(["repo_name", "github_username"]);
  });
});
