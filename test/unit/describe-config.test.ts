// `devs-webhook config --repo`: the argument, and the annotated YAML.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { describeConfig, MASK, operatorLookup, parseRepoArgument, RepoArgumentError } from "../../src/config/describe.js";
import { layerDocuments, type ConfigSource } from "../../src/config/layers.js";

describe("parseRepoArgument", () => {
  it.each([
    ["acme/widgets", { owner: "acme", repo: "widgets" }],
    ["Acme-Corp/my.repo_1", { owner: "Acme-Corp", repo: "my.repo_1" }],
    ["https://github.com/acme/widgets", { owner: "acme", repo: "widgets" }],
    ["https://github.example.com/acme/widgets.git", { owner: "acme", repo: "widgets" }],
    [" acme/widgets/ ", { owner: "acme", repo: "widgets" }],
  ])("%s", (arg, id) => {
    expect(parseRepoArgument(arg)).toEqual(id);
  });

  it.each(["widgets", "acme/", "/widgets", "acme/wid gets", "a/b/c", "-acme/widgets"])("refuses %j", (arg) => {
    expect(() => parseRepoArgument(arg)).toThrow(RepoArgumentError);
  });
});

describe("describeConfig", () => {
  const repo: ConfigSource = { layer: "repository", file: "DEVS.yml", url: "https://github.com/acme/widgets/blob/s/DEVS.yml", origin: "repository" };
  const op: ConfigSource = { layer: "operator-default", file: "DEVS_ENVS_DIR/default/DEVS.yml", url: "/envs/default/DEVS.yml", origin: "operator" };
  const loaded = layerDocuments("acme/widgets", "s", [
    { source: op, document: { env_vars: { default: { SENTRY_DSN_KEY: "k", GH_TOKEN: "ghp_x", PLAIN: "v" } } } },
    { source: repo, document: { ci_enabled: true, prompt_override: "Do {task_description}\n", env_vars: { harry: {} } } },
  ]);

  it("is YAML that reads back as the merged configuration, secrets masked", () => {
    const text = describeConfig(loaded);
    const back = parse(text) as typeof loaded.config;
    expect(back).toEqual({ ...loaded.config, env_vars: { default: { SENTRY_DSN_KEY: MASK, GH_TOKEN: MASK, PLAIN: "v" }, harry: {} } });
  });

  it("puts the source of each value beside it", () => {
    const lines = describeConfig(loaded).split("\n");
    expect(lines).toContain("ci_enabled: true # DEVS.yml");
    expect(lines).toContain("direct_commit: false # built-in default");
    expect(lines).toContain("prompt_override: | # DEVS.yml");
    expect(lines).toContain("    PLAIN: v # DEVS_ENVS_DIR/default/DEVS.yml");
    expect(lines).toContain('    SENTRY_DSN_KEY: "********" # DEVS_ENVS_DIR/default/DEVS.yml; value hidden');
    expect(lines).toContain("  harry: {} # DEVS.yml");
  });
});

describe("operatorLookup", () => {
  it("names the <owner>/<repo> file, and says the seed's name still works when it means one repository", () => {
    expect(operatorLookup("acme", "widgets", "/envs")).toEqual([
      "Operator files are looked for as /envs/acme/widgets/DEVS.yml, then /envs/default/DEVS.yml (directory names in any case).",
      "The older /envs/acme-widgets/DEVS.yml is used too when /envs/acme/widgets/DEVS.yml does not exist.",
    ]);
  });

  it("says the seed's name is refused, naming the other repository, for either of two look-alikes", () => {
    expect(operatorLookup("acme", "big-app", "/envs")[1]).toBe(
      "The older /envs/acme-big-app/DEVS.yml is refused for this repository, since the name could also mean acme-big/app: move such a file to /envs/acme/big-app/DEVS.yml.",
    );
    expect(operatorLookup("acme-big", "app", "/envs")[1]).toBe(
      "The older /envs/acme-big-app/DEVS.yml is refused for this repository, since the name could also mean acme/big-app: move such a file to /envs/acme-big/app/DEVS.yml.",
    );
  });
});
