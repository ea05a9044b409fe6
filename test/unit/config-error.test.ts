// How an invalid DEVS.yml is told: the agent's failure line (the check run's text is in ci-report) and the log line.
import { describe, expect, it } from "vitest";
import { DevsConfigError } from "../../src/config/errors.js";
import type { ConfigProblem } from "../../src/config/schema.js";
import { configErrorReason, logConfigError } from "../../src/config/problem-text.js";

const URL = "https://github.com/acme/widgets/blob/abc/DEVS.yml";
const repoProblem = (keyPath: string, problem: string): ConfigProblem => ({ file: "DEVS.yml", url: URL, keyPath, problem, origin: "repository" });
const operatorProblem: ConfigProblem = {
  file: "DEVS_ENVS_DIR/default/DEVS.yml",
  url: "/home/ops/.devs/envs/default/DEVS.yml",
  keyPath: "env_vars.default.PROD_DB_PASSWORD",
  problem: "must be a string, found a number; quote the value",
  origin: "operator",
};

function recorder() {
  const calls: Array<{ fields: Record<string, unknown>; message: string }> = [];
  return { log: { warn: (fields: Record<string, unknown>, message: string) => calls.push({ fields, message }) } as never, calls };
}

describe("rendering", () => {
  it("links the file, names the key in code, and says what to do", () => {
    const error = new DevsConfigError("acme/widgets", [repoProblem("ci_enabled", "must be true or false"), repoProblem("", "not valid YAML: bad indentation\nsecond line")]);
    expect(configErrorReason(error)).toBe(
      [
        "the repository configuration (DEVS.yml) is invalid, so nothing ran.",
        "",
        `- [\`DEVS.yml\`](${URL}), \`ci_enabled\`: must be true or false`,
        `- [\`DEVS.yml\`](${URL}): not valid YAML: bad indentation second line`,
        "",
        "Fix the file on the default branch, then trigger the task again.",
      ].join("\n"),
    );
    expect(error.userMessage).toBe(configErrorReason(error));
  });

  it("keeps a key with backticks or a mention inside code", () => {
    const error = new DevsConfigError("acme/widgets", [repoProblem("[\"@acme/team`x\"]", "unknown key")]);
    expect(configErrorReason(error)).toContain('``["@acme/team`x"]``: unknown key');
  });

  it("never shows an operator file's name, path, keys or values to the user", () => {
    const error = new DevsConfigError("acme/widgets", [operatorProblem, repoProblem("draft_prs", "must be true or false")]);
    const text = configErrorReason(error);
    expect(text).not.toMatch(/PROD_DB_PASSWORD|home\/ops|DEVS_ENVS_DIR/);
    expect(text).toContain("has 1 problem; they are in the server's log for the operator to fix.");
    expect(text).toContain("`draft_prs`");
  });

  it("lists at most 50 problems and counts the rest", () => {
    const many = Array.from({ length: 53 }, (_, i) => repoProblem(`k${i}`, "unknown key"));
    const text = configErrorReason(new DevsConfigError("acme/widgets", many));
    expect(text.match(/^- \[/gm)).toHaveLength(50);
    expect(text).toContain("- …and 3 more");
  });
});

describe("logs", () => {
  it("say everything for the operator, operator files included", () => {
    const { log, calls } = recorder();
    const error = new DevsConfigError("acme/widgets", [repoProblem("ci_test_command", "must not be empty"), operatorProblem]);
    logConfigError(log, error);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.message).toBe(
      `invalid DEVS.yml for acme/widgets: ${URL} ci_test_command: must not be empty; /home/ops/.devs/envs/default/DEVS.yml env_vars.default.PROD_DB_PASSWORD: must be a string, found a number; quote the value`,
    );
    expect(calls[0]!.fields).toMatchObject({ repo: "acme/widgets", problems: [expect.objectContaining({ keyPath: "ci_test_command" }), expect.objectContaining({ origin: "operator" })] });
  });

  it("logConfigError adds the caller's fields", () => {
    const { log, calls } = recorder();
    logConfigError(log, new DevsConfigError("acme/widgets", [repoProblem("x", "unknown key")]), { task: "t1" });
    expect(calls[0]!.fields).toMatchObject({ task: "t1", repo: "acme/widgets" });
  });
});
