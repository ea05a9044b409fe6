// env_vars for a container: its own map over `default`, with the server's secrets kept out.
import { describe, expect, it } from "vitest";
import { isServerSecretName, resolveEnvVars, SERVER_SECRET_NAMES } from "../../src/config/env-vars.js";

const vars = {
  default: { NODE_ENV: "production", DEBUG: "false", GITHUB_TOKEN: "ghp_from_file", ANTHROPIC_BASE_URL: "http://127.0.0.1:9" },
  eamonn: { DEBUG: "true", AWS_SECRET_ACCESS_KEY: "x", AWS_REGION: "eu-west-1" },
  Harry: { ONLY_HARRY: "1" },
};

describe("resolveEnvVars", () => {
  it("overlays the container's own map on default and withholds server secrets by name", () => {
    expect(resolveEnvVars(vars, "eamonn")).toEqual({
      env: { NODE_ENV: "production", DEBUG: "true", ANTHROPIC_BASE_URL: "http://127.0.0.1:9", AWS_REGION: "eu-west-1" },
      withheld: [
        { name: "GITHUB_TOKEN", keyPath: "env_vars.default.GITHUB_TOKEN", reason: "secret-name" },
        { name: "AWS_SECRET_ACCESS_KEY", keyPath: "env_vars.eamonn.AWS_SECRET_ACCESS_KEY", reason: "secret-name" },
      ],
    });
  });

  it("matches container names whatever their case; the exact name wins a tie", () => {
    expect(resolveEnvVars(vars, "harry").env.ONLY_HARRY).toBe("1");
    expect(resolveEnvVars({ Harry: { V: "cased" }, harry: { V: "exact" } }, "harry").env.V).toBe("exact");
    expect(resolveEnvVars({ harry: { V: "exact" }, Harry: { V: "cased" } }, "Harry").env.V).toBe("cased");
  });

  it("a container without its own map gets default; no env_vars gives nothing", () => {
    expect(resolveEnvVars(vars, "darren").env).toEqual({ NODE_ENV: "production", DEBUG: "false", ANTHROPIC_BASE_URL: "http://127.0.0.1:9" });
    expect(resolveEnvVars({}, "darren")).toEqual({ env: {}, withheld: [] });
  });

  it("withholds a value equal to one of the server's secrets, whatever the name", () => {
    const result = resolveEnvVars({ default: { HARMLESS: "ghs_the_installation_token", SHORT: "abc" } }, "eamonn", { secretValues: ["ghs_the_installation_token", "abc", null] });
    expect(result.env).toEqual({ SHORT: "abc" }); // too short to be treated as a secret
    expect(result.withheld).toEqual([{ name: "HARMLESS", keyPath: "env_vars.default.HARMLESS", reason: "secret-value" }]);
  });

  it("lets through only the names the operator allows explicitly", () => {
    const result = resolveEnvVars(vars, "eamonn", { allow: ["github_token"] });
    expect(result.env.GITHUB_TOKEN).toBe("ghp_from_file");
    expect(result.withheld.map((w) => w.name)).toEqual(["AWS_SECRET_ACCESS_KEY"]);
  });
});

describe("server secret names", () => {
  it.each([
    "WEBHOOK_SECRET",
    "GITHUB_WEBHOOK_SECRET",
    "PRIVATE_KEY",
    "GITHUB_APP_PRIVATE_KEY",
    "PRIVATE_KEY_PATH",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "ADMIN_PASSWORD",
    "CLAUDE_API_KEY",
    "ANTHROPIC_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "aws_session_token",
  ])("%s is one", (name) => {
    expect(isServerSecretName(name)).toBe(true);
  });

  it.each(["AWS_REGION", "NODE_ENV", "ANTHROPIC_BASE_URL", "GITHUB_REPOSITORY", "DATABASE_URL"])("%s is not", (name) => {
    expect(isServerSecretName(name)).toBe(false);
  });

  it("covers every secret setting, by all its names", async () => {
    const { SETTINGS } = await import("../../src/settings.js");
    const secret = Object.values(SETTINGS).filter((s) => "secret" in s && s.secret).flatMap((s) => s.names);
    expect(secret.length).toBeGreaterThan(5);
    for (const name of secret) expect(SERVER_SECRET_NAMES).toContain(name);
  });
});
