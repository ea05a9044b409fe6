// The DEVS.yml schema: what it accepts, how its problems read, and that the published JSON file is
// the schema in code.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  codeSpan,
  defaultDevsYml,
  DEVS_YML_KEYS,
  DEVS_YML_SCHEMA,
  formatKeyPath,
  SCHEMA_FILE_NAME,
  schemaJson,
  validateDevsYml,
  type DevsYml,
  type FileRef,
} from "../../src/config/schema.js";

const FILE: FileRef = { file: "DEVS.yml", url: "https://github.com/acme/widgets/blob/x/DEVS.yml", origin: "repository" };
const problems = (doc: unknown) => validateDevsYml(doc, FILE).map((p) => [p.keyPath, p.problem]);

describe("devs-yml.schema.json", () => {
  it("is the schema in code (run `node --import tsx scripts/write-schema.ts` after a change)", () => {
    const committed = readFileSync(fileURLToPath(new URL(`../../${SCHEMA_FILE_NAME}`, import.meta.url)), "utf8");
    expect(committed).toBe(schemaJson());
  });

  it("is a valid draft-07 schema that describes every key, and ships in the package", () => {
    expect(() => new Ajv({ strict: true }).compile(JSON.parse(schemaJson()))).not.toThrow();
    for (const [key, spec] of Object.entries(DEVS_YML_SCHEMA.properties)) expect(spec.description, key).toMatch(/\w/);
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")) as { files: string[] };
    expect(pkg.files).toContain(SCHEMA_FILE_NAME);
  });
});

describe("defaults", () => {
  it("are the documented ones, fresh on every call", () => {
    const d = defaultDevsYml();
    expect(d).toEqual({
      default_branch: null,
      prompt_extra: "",
      prompt_override: null,
      direct_commit: false,
      draft_prs: false,
      max_cost_usd: null,
      single_queue: false,
      ci_enabled: false,
      ci_test_command: "./runtests.sh",
      ci_fix_attempts: null,
      ci_branches: ["main", "master"],
      env_vars: {},
      ssh_host: null,
    });
    d.ci_branches.push("x");
    expect(defaultDevsYml().ci_branches).toEqual(["main", "master"]);
    expect(DEVS_YML_KEYS).not.toContain("_extends");
  });
});

describe("validateDevsYml", () => {
  it.each([
    ["the seed's example", { default_branch: "develop", prompt_extra: "tabs\n", direct_commit: true, single_queue: true, ci_enabled: true, ci_test_command: "npm test", ci_branches: ["main", "develop"], env_vars: { default: { NODE_ENV: "production", DEBUG: "false" }, eamonn: { DEBUG: "true" } } }],
    ["an empty file", {}],
    ["empty values where allowed", { default_branch: null, prompt_extra: null, prompt_override: null, ssh_host: null }],
    ["globs in ci_branches", { ci_branches: ["release/*", "hotfix/**", "!release/old"] }],
    ["_extends forms", { _extends: "acme/shared:ci/devs.yml" }],
    ["draft_prs", { draft_prs: true }],
    ["a cost limit", { max_cost_usd: 0.75 }],
    ["a whole-dollar cost limit", { max_cost_usd: 3 }],
  ])("accepts %s", (_name, doc) => {
    expect(problems(doc)).toEqual([]);
  });

  it.each([
    ["a YAML list", [1], [["", "must be a mapping of keys to values, found a list"]]],
    ["a scalar", 42, [["", "must be a mapping of keys to values, found the number `42`"]]],
    ["a typo", { ci_enable: true }, [["ci_enable", "unknown key (did you mean `ci_enabled`?)"]]],
    ["an unknown key", { colour: "blue" }, [["colour", `unknown key; the keys are ${DEVS_YML_KEYS.map((k) => `\`${k}\``).join(", ")}`]]],
    ["yes for a boolean (YAML 1.2)", { direct_commit: "yes" }, [["direct_commit", 'must be true or false, found the string `"yes"`']]],
    ["an empty boolean", { ci_enabled: null }, [["ci_enabled", "must be true or false, found nothing (an empty value)"]]],
    ["a string for a list", { ci_branches: "main" }, [["ci_branches", 'must be a list, found the string `"main"`']]],
    ["a bad list item", { ci_branches: ["main", 3] }, [["ci_branches[1]", "must be a string, found the number `3`"]]],
    ["an empty command", { ci_test_command: "" }, [["ci_test_command", "must not be empty"]]],
    ["a number for a prompt", { prompt_extra: 5 }, [["prompt_extra", "must be a string or empty, found the number `5`"]]],
    ["an unquoted number in env_vars", { env_vars: { default: { PORT: 8080 } } }, [["env_vars.default.PORT", 'must be a string, found the number `8080`; quote it: `PORT: "8080"`']]],
    ["an unquoted boolean in env_vars", { env_vars: { harry: { DEBUG: true } } }, [["env_vars.harry.DEBUG", 'must be a string, found the boolean `true`; quote it: `DEBUG: "true"`']]],
    ["a bad variable name", { env_vars: { default: { "MY-VAR": "x" } } }, [["env_vars.default.MY-VAR", "`MY-VAR` is not a valid environment variable name (letters, digits and _, not starting with a digit)"]]],
    ["a bad container name", { env_vars: { "two words": {} } }, [['env_vars["two words"]', "`two words` is not a valid container name (letters, digits, _ . -)"]]],
    ["an empty container map", { env_vars: { eamonn: null } }, [["env_vars.eamonn", "must be a mapping of keys to values, found nothing (an empty value)"]]],
    ["a quoted cost limit", { max_cost_usd: "$2" }, [["max_cost_usd", 'must be a number or empty, found the string `"$2"`']]],
    ["a zero cost limit", { max_cost_usd: 0 }, [["max_cost_usd", "must be more than 0, found the number `0`"]]],
    ["a bad _extends", { _extends: "a b" }, [["_extends", 'must be repo, owner/repo or owner/repo:path.yml, found the string `"a b"`']]],
  ])("reports %s", (_name, doc, expected) => {
    expect(problems(doc)).toEqual(expected);
  });

  it("does not repeat an operator file's env values, even in a problem", () => {
    const found = validateDevsYml({ env_vars: { default: { DB_PASSWORD: 31415926 } } }, { file: "DEVS_ENVS_DIR/default/DEVS.yml", url: "/srv/envs/default/DEVS.yml", origin: "operator" });
    expect(found.map((p) => [p.keyPath, p.problem])).toEqual([["env_vars.default.DB_PASSWORD", "must be a string, found a number; quote the value"]]);
  });

  it("reports every problem at once, each with the file it is in", () => {
    const found = validateDevsYml({ ci_enabled: "true", single_queue: 1, nope: 1 }, FILE);
    expect(found.map((p) => p.keyPath).sort()).toEqual(["ci_enabled", "nope", "single_queue"]);
    for (const p of found) expect(p).toMatchObject(FILE);
  });
});

describe("formatting helpers", () => {
  it.each([
    [["env_vars", "default", "FOO"], "env_vars.default.FOO"],
    [["ci_branches", 2], "ci_branches[2]"],
    [["env_vars", "a b"], 'env_vars["a b"]'],
    [[], ""],
  ] as const)("key path %j → %s", (path, text) => {
    expect(formatKeyPath(path)).toBe(text);
  });

  it.each([
    ["plain", "`plain`"],
    ["a`b", "``a`b``"],
    ["`x", "`` `x ``"],
  ])("code span of %s", (text, span) => {
    expect(codeSpan(text)).toBe(span);
  });
});

describe("the DevsYml type", () => {
  it("is the schema's, with every defaulted key present", () => {
    expectTypeOf<DevsYml>().toEqualTypeOf<{
      default_branch: string | null;
      prompt_extra: string | null;
      prompt_override: string | null;
      direct_commit: boolean;
      draft_prs: boolean;
      max_cost_usd: number | null;
      single_queue: boolean;
      ci_enabled: boolean;
      ci_test_command: string;
      ci_fix_attempts: number | null;
      ci_branches: string[];
      env_vars: Record<string, Record<string, string>>;
      ssh_host: string | null;
    }>();
  });
});
