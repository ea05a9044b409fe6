// Layering without GitHub: the original's precedence cases, every layer applying (the original let one file hide the others), lists that
// replace, maps that merge, provenance, and the operator's files on disk (names in any case, mtime re-reads).
import { mkdirSync, mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DevsConfigError } from "../../src/config/errors.js";
import { layerDocuments, sourceOf, type ConfigSource, type LayerKind, type SourcedDocument } from "../../src/config/layers.js";
import { legacyDirReadings, OperatorFiles, parseYaml } from "../../src/config/operator-files.js";
import { resolveEnvVars } from "../../src/config/env-vars.js";

const source = (layer: LayerKind, file: string): ConfigSource => ({
  layer,
  file,
  url: layer.startsWith("operator") ? `/envs/${file}` : `https://github.com/acme/widgets/blob/sha/${file}`,
  origin: layer.startsWith("operator") ? "operator" : "repository",
});
const PROJECT = source("operator-repo", "DEVS_ENVS_DIR/acme-widgets/DEVS.yml");
const USER_DEFAULT = source("operator-default", "DEVS_ENVS_DIR/default/DEVS.yml");
const REPO = source("repository", "DEVS.yml");
const EXTENDED = source("extends", "acme/shared:DEVS.yml");

/** Highest first, like the loader. */
const layer = (...docs: Array<[ConfigSource, unknown]>) =>
  layerDocuments(
    "acme/widgets",
    "sha",
    docs.map(([s, document]): SourcedDocument => ({ source: s, document })),
  );

describe("the original's layering (DevsConfigLoader.load)", () => {
  it("the repository's file alone", () => {
    const { config } = layer([REPO, { default_branch: "develop", ci_enabled: true }]);
    expect(config).toMatchObject({ default_branch: "develop", ci_enabled: true, ci_test_command: "./runtests.sh" });
  });

  it("the operator's default file overrides the repository's keys", () => {
    const { config } = layer([USER_DEFAULT, { ci_test_command: "make check" }], [REPO, { ci_test_command: "npm test", ci_enabled: true }]);
    expect(config.ci_test_command).toBe("make check");
  });

  it("the per-repository operator file overrides the operator's default", () => {
    const { config } = layer([PROJECT, { direct_commit: false }], [USER_DEFAULT, { direct_commit: true }], [REPO, { direct_commit: true }]);
    expect(config.direct_commit).toBe(false);
  });

  it("env_vars merge per container, key by key, across all three layers", () => {
    const loaded = layer(
      [PROJECT, { env_vars: { eamonn: { DEBUG: "true", LOCAL_SECRET: "dev" } } }],
      [USER_DEFAULT, { env_vars: { default: { GLOBAL: "user", API_URL: "https://user" } } }],
      [REPO, { env_vars: { default: { NODE_ENV: "production", API_URL: "https://repo", DEBUG: "false" }, eamonn: { DEBUG: "repo", EAMONN_SPECIAL: "on" }, harry: { NODE_ENV: "staging" } } }],
    );
    expect(loaded.config.env_vars).toEqual({
      default: { NODE_ENV: "production", API_URL: "https://user", DEBUG: "false", GLOBAL: "user" },
      eamonn: { DEBUG: "true", EAMONN_SPECIAL: "on", LOCAL_SECRET: "dev" },
      harry: { NODE_ENV: "staging" },
    });
    // get_env_vars(dev): default overlaid with the container's own map.
    expect(resolveEnvVars(loaded.config.env_vars, "eamonn").env).toEqual({
      NODE_ENV: "production",
      API_URL: "https://user",
      DEBUG: "true",
      GLOBAL: "user",
      EAMONN_SPECIAL: "on",
      LOCAL_SECRET: "dev",
    });
    expect(resolveEnvVars(loaded.config.env_vars, "darren").env).toEqual({ NODE_ENV: "production", API_URL: "https://user", DEBUG: "false", GLOBAL: "user" });
  });

  it("an operator default file present does not hide the repository's file", () => {
    const loaded = layer([USER_DEFAULT, { env_vars: { default: { MY_SECRET: "user" } } }], [REPO, { ci_enabled: true, ci_test_command: "npm test", prompt_extra: "tabs" }]);
    expect(loaded.config).toMatchObject({ ci_enabled: true, ci_test_command: "npm test", prompt_extra: "tabs", env_vars: { default: { MY_SECRET: "user" } } });
    expect(loaded.sources).toEqual([USER_DEFAULT, REPO, expect.objectContaining({ layer: "default" })]);
  });

  it("lists replace, whichever layer they come from (the plugin's deepmerge would concatenate)", () => {
    const { config } = layer([USER_DEFAULT, { ci_branches: ["release/*"] }], [REPO, { ci_branches: ["main", "develop"] }], [EXTENDED, { ci_branches: ["trunk"] }]);
    expect(config.ci_branches).toEqual(["release/*"]);
    expect(layer([REPO, { ci_branches: [] }]).config.ci_branches).toEqual([]);
  });

  it("an explicit empty value in a higher layer wins over a lower one", () => {
    const { config } = layer([USER_DEFAULT, { prompt_override: null }], [REPO, { prompt_override: "Do {task_description}" }]);
    expect(config.prompt_override).toBeNull();
  });

  it("an empty file is no change", () => {
    const { config } = layer([PROJECT, null], [REPO, { draft_prs: true }]);
    expect(config.draft_prs).toBe(true);
  });
});

describe("provenance", () => {
  it("names the file of every leaf, and the defaults for the rest", () => {
    const loaded = layer([USER_DEFAULT, { env_vars: { default: { B: "2" } } }], [REPO, { ci_enabled: true, env_vars: { default: { A: "1", B: "1" }, harry: {} } }]);
    expect(sourceOf(loaded, "ci_enabled")).toBe(REPO);
    expect(sourceOf(loaded, "env_vars.default.A")).toBe(REPO);
    expect(sourceOf(loaded, "env_vars.default.B")).toBe(USER_DEFAULT);
    expect(sourceOf(loaded, "env_vars.harry")).toBe(REPO);
    expect(sourceOf(loaded, "ci_test_command")?.layer).toBe("default");
    expect(loaded.provenance.map((e) => e.keyPath)).toEqual([
      "default_branch",
      "prompt_extra",
      "prompt_override",
      "direct_commit",
      "draft_prs",
      "max_cost_usd",
      "single_queue",
      "ci_enabled",
      "ci_test_command",
      "ci_fix_attempts",
      "ci_branches",
      "env_vars.default.A",
      "env_vars.default.B",
      "env_vars.harry",
      "ssh_host",
    ]);
  });

  it("does not share state with the documents it was built from", () => {
    const doc = { ci_branches: ["main"], env_vars: { default: { A: "1" } } };
    const loaded = layer([REPO, doc]);
    loaded.config.ci_branches.push("x");
    loaded.config.env_vars.default!.A = "changed";
    expect(doc).toEqual({ ci_branches: ["main"], env_vars: { default: { A: "1" } } });
  });
});

describe("validation across layers", () => {
  it("lists the problems of every file, and does not layer at all", () => {
    let error: unknown;
    try {
      layer([USER_DEFAULT, { ci_enabled: "yes" }], [REPO, { single_queue: "no", draft_prs: true }]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DevsConfigError);
    const { problems, repo } = error as DevsConfigError;
    expect(repo).toBe("acme/widgets");
    expect(problems.map((p) => [p.file, p.keyPath])).toEqual([
      ["DEVS_ENVS_DIR/default/DEVS.yml", "ci_enabled"],
      ["DEVS.yml", "single_queue"],
    ]);
    expect((error as DevsConfigError).userMessage).toContain("`single_queue`");
  });
});

describe("operator files", () => {
  const dir = () => mkdtempSync(join(tmpdir(), "devs-envs-"));
  const write = (root: string, sub: string, text: string) => {
    mkdirSync(join(root, sub), { recursive: true });
    writeFileSync(join(root, sub, "DEVS.yml"), text);
    return join(root, sub, "DEVS.yml");
  };

  it("finds the repository's directory whatever its case, and the default one", async () => {
    const root = dir();
    write(root, "ACME-Widgets", "draft_prs: true\n");
    write(root, "default", "single_queue: true\n");
    write(root, "acme-other", "ci_enabled: true\n");
    const read = await new OperatorFiles(root).read("acme", "widgets");
    expect(read.problems).toEqual([]);
    expect(read.documents).toEqual([
      { source: { layer: "operator-repo", file: "DEVS_ENVS_DIR/ACME-Widgets/DEVS.yml", url: join(root, "ACME-Widgets", "DEVS.yml"), origin: "operator" }, document: { draft_prs: true } },
      { source: { layer: "operator-default", file: "DEVS_ENVS_DIR/default/DEVS.yml", url: join(root, "default", "DEVS.yml"), origin: "operator" }, document: { single_queue: true } },
    ]);
  });

  it("no directory, or a directory without DEVS.yml, is no layer", async () => {
    expect(await new OperatorFiles(join(dir(), "missing")).read("acme", "widgets")).toEqual({ documents: [], problems: [] });
    const root = dir();
    mkdirSync(join(root, "acme-widgets"));
    expect(await new OperatorFiles(root).read("acme", "widgets")).toEqual({ documents: [], problems: [] });
  });

  it("two directories that differ only in case are a problem, not a coin toss", async () => {
    const root = dir();
    write(root, "acme-widgets", "draft_prs: true\n");
    write(root, "Acme-Widgets", "draft_prs: false\n");
    const read = await new OperatorFiles(root).read("acme", "widgets");
    expect(read.documents).toEqual([]);
    expect(read.problems).toEqual([
      {
        file: "DEVS_ENVS_DIR/Acme-Widgets/DEVS.yml",
        url: join(root, "Acme-Widgets", "DEVS.yml"),
        origin: "operator",
        keyPath: "",
        problem: "several directories match acme-widgets whatever their case (Acme-Widgets, acme-widgets); keep one",
      },
    ]);
  });

  it("bad YAML and _extends are problems on the file", async () => {
    const root = dir();
    write(root, "acme-widgets", "ci_enabled: [\n");
    write(root, "default", "_extends: acme/shared\n");
    const read = await new OperatorFiles(root).read("acme", "widgets");
    expect(read.problems.map((p) => [p.file, p.keyPath, p.problem.replace(/ at line.*/, "")])).toEqual([
      ["DEVS_ENVS_DIR/acme-widgets/DEVS.yml", "", expect.stringMatching(/^not valid YAML: /)],
      ["DEVS_ENVS_DIR/default/DEVS.yml", "_extends", "works in repository files only; copy the settings into this file instead"],
    ]);
  });

  it("re-reads a file when its modification time or size changes, not otherwise", async () => {
    const root = dir();
    const path = write(root, "default", "draft_prs: true\n");
    const first = new Date("2026-01-01T00:00:00Z");
    const second = new Date("2026-01-01T00:00:05Z");
    utimesSync(path, first, first);
    const files = new OperatorFiles(root);
    const document = async () => (await files.read("acme", "widgets")).documents[0]!.document;
    expect(await document()).toEqual({ draft_prs: true });
    writeFileSync(path, "draft_prs: tru2\n"); // same size
    utimesSync(path, first, first); // and the same mtime: the cached parse stands
    expect(await document()).toEqual({ draft_prs: true });
    utimesSync(path, second, second);
    expect(await document()).toEqual({ draft_prs: "tru2" });
    writeFileSync(path, "draft_prs: false\n");
    utimesSync(path, second, second); // same mtime, another size
    expect(await document()).toEqual({ draft_prs: false });
  });

  it("reads DEVS_ENVS_DIR/<owner>/<repo>/DEVS.yml whatever its case, for that repository only", async () => {
    const root = dir();
    write(root, "Acme/Big-App", "env_vars:\n  default:\n    DEPLOY_KEY: big-app-secret\n");
    write(root, "acme-big/app", "env_vars:\n  default:\n    DEPLOY_KEY: app-secret\n");
    const files = new OperatorFiles(root);
    const bigApp = await files.read("acme", "big-app");
    expect(bigApp.problems).toEqual([]);
    expect(bigApp.documents).toEqual([
      {
        source: { layer: "operator-repo", file: "DEVS_ENVS_DIR/Acme/Big-App/DEVS.yml", url: join(root, "Acme", "Big-App", "DEVS.yml"), origin: "operator" },
        document: { env_vars: { default: { DEPLOY_KEY: "big-app-secret" } } },
      },
    ]);
    const app = await files.read("acme-big", "app");
    expect(app.problems).toEqual([]);
    expect(app.documents.map((d) => [d.source.file, d.document])).toEqual([
      ["DEVS_ENVS_DIR/acme-big/app/DEVS.yml", { env_vars: { default: { DEPLOY_KEY: "app-secret" } } }],
    ]);
    // A look-alike repository finds nothing of either.
    expect(await files.read("acme", "big")).toEqual({ documents: [], problems: [] });
  });

  it("refuses the seed's owner-repo directory when its name could mean another repository, for both of them", async () => {
    const root = dir();
    write(root, "acme-big-app", "env_vars:\n  default:\n    DEPLOY_KEY: secret\n");
    const files = new OperatorFiles(root);
    const problem = {
      file: "DEVS_ENVS_DIR/acme-big-app/DEVS.yml",
      url: join(root, "acme-big-app", "DEVS.yml"),
      origin: "operator",
      keyPath: "",
      problem:
        "the directory name acme-big-app could mean acme/big-app or acme-big/app, so it is used for none of them; " +
        "move it to DEVS_ENVS_DIR/acme/big-app/DEVS.yml or DEVS_ENVS_DIR/acme-big/app/DEVS.yml, whichever repository it is meant for",
    };
    // The attacker's move: create acme-big/app and trigger a task. Its tasks get no DEPLOY_KEY, and
    // neither do acme/big-app's until the operator says which repository the file is for.
    expect(await files.read("acme-big", "app")).toEqual({ documents: [], problems: [problem] });
    expect(await files.read("ACME", "Big-App")).toEqual({ documents: [], problems: [problem] });
  });

  it("a file in the <owner>/<repo> layout next to the refused one: the refusal still stands", async () => {
    const root = dir();
    write(root, "acme/big-app", "draft_prs: true\n");
    write(root, "acme-big-app", "draft_prs: false\n");
    const read = await new OperatorFiles(root).read("acme", "big-app");
    expect(read.documents.map((d) => d.source.file)).toEqual(["DEVS_ENVS_DIR/acme/big-app/DEVS.yml"]);
    expect(read.problems.map((p) => p.file)).toEqual(["DEVS_ENVS_DIR/acme-big-app/DEVS.yml"]);
  });

  it("an unambiguous owner-repo directory and the <owner>/<repo> one for the same repository: keep one", async () => {
    const root = dir();
    write(root, "acme/widgets", "draft_prs: true\n");
    write(root, "acme-widgets", "draft_prs: false\n");
    const read = await new OperatorFiles(root).read("acme", "widgets");
    expect(read.documents.map((d) => d.source.file)).toEqual(["DEVS_ENVS_DIR/acme/widgets/DEVS.yml"]);
    expect(read.problems).toEqual([
      {
        file: "DEVS_ENVS_DIR/acme-widgets/DEVS.yml",
        url: join(root, "acme-widgets", "DEVS.yml"),
        origin: "operator",
        keyPath: "",
        problem: "DEVS_ENVS_DIR/acme/widgets/DEVS.yml also configures acme/widgets; keep that one and remove this one",
      },
    ]);
  });

  it("an owner's directory may hold the seed's file of another repository: each is read for its own", async () => {
    const root = dir();
    write(root, "acme-big", "draft_prs: true\n"); // the seed's name for acme/big
    write(root, "acme-big/app", "single_queue: true\n"); // acme-big/app
    const files = new OperatorFiles(root);
    expect((await files.read("acme", "big")).documents.map((d) => [d.source.file, d.document])).toEqual([["DEVS_ENVS_DIR/acme-big/DEVS.yml", { draft_prs: true }]]);
    expect((await files.read("acme-big", "app")).documents.map((d) => [d.source.file, d.document])).toEqual([["DEVS_ENVS_DIR/acme-big/app/DEVS.yml", { single_queue: true }]]);
  });

  it.each([
    ["acme-widgets", ["acme/widgets"]],
    ["acme-big-app", ["acme/big-app", "acme-big/app"]],
    ["a-b-c-d", ["a/b-c-d", "a-b/c-d", "a-b-c/d"]],
    ["acme--x", ["acme/-x"]], // an account name never ends with a hyphen
    ["acme-", []],
    ["acme", []],
  ])("legacyDirReadings(%j)", (name, readings) => {
    expect(legacyDirReadings(name).map((r) => `${r.owner}/${r.repo}`)).toEqual(readings);
  });

  it.each([
    ["", {}],
    ["# only a comment\n", {}],
    ["a: 1\n", { a: 1 }],
  ])("parseYaml(%j)", (text, value) => {
    expect(parseYaml(text)).toEqual({ ok: true, document: value });
  });

  it("parseYaml refuses duplicate keys", () => {
    expect(parseYaml("a: 1\na: 2\n")).toMatchObject({ ok: false, problem: expect.stringMatching(/^not valid YAML: Map keys must be unique/) });
  });
});
