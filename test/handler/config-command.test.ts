// `devs-webhook config --repo owner/name`: printRepoConfig in App mode (the installation is found
// through GET /repos/{o}/{r}/installation) and in token mode, against nock.
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { pino } from "pino";
import { Probot } from "probot";
import { beforeEach, describe, expect, it } from "vitest";
import { appOctokitForRepo, printRepoConfig, RepoArgumentError, tokenOctokitForRepo } from "../../src/config/describe.js";
import { strictNock } from "../helpers/nock.js";
import { TestOctokit } from "../helpers/probot.js";

const API = "https://api.github.com";
const SHA = "5555555555555555555555555555555555555555";

let envsDir: string;
strictNock();
beforeEach(() => {
  envsDir = mkdtempSync(join(tmpdir(), "devs-envs-"));
});

function capture() {
  let text = "";
  return { out: { write: (chunk: string) => (text += chunk) }, text: () => text };
}

function serveRepoFile(scope: nock.Scope, body: string): nock.Scope {
  return scope
    .get("/repos/acme/widgets/commits/HEAD")
    .reply(200, SHA, { "content-type": "application/vnd.github.sha; charset=utf-8" })
    .get("/repos/acme/widgets/contents/DEVS.yml")
    .query({ ref: SHA })
    .reply(200, body, { "content-type": "text/plain; charset=utf-8" });
}

describe("printRepoConfig", () => {
  it("App mode: finds the installation, then prints every value with the layer it came from", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs1", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
    const probot = new Probot({ appId: 1, privateKey, Octokit: TestOctokit, log: pino({ level: "silent" }) });
    mkdirSync(join(envsDir, "default"));
    writeFileSync(join(envsDir, "default", "DEVS.yml"), "env_vars:\n  default:\n    API_TOKEN: s3cret-value\n    GITHUB_TOKEN: ghp_x\n");
    const scope = nock(API)
      .get("/repos/acme/widgets/installation")
      .reply(200, { id: 42 })
      .post("/app/installations/42/access_tokens")
      .reply(201, { token: "ghs_installation", expires_at: "2099-01-01T00:00:00Z" });
    serveRepoFile(scope, "ci_enabled: true\nci_branches: [main, release/*]\nprompt_override: |\n  Do {task_description}\n  {\"json\": true}\nenv_vars:\n  eamonn:\n    DEBUG: \"1\"\n");
    const { out, text } = capture();
    const code = await printRepoConfig({ octokitForRepo: appOctokitForRepo((id) => probot.auth(id)), envsDir, repo: "acme/widgets", out });
    expect(code).toBe(0);
    const lines = text().split("\n");
    expect(lines[0]).toBe(`# DEVS.yml for acme/widgets (default branch at ${SHA})`);
    expect(text()).toContain(`#   operator-default  DEVS_ENVS_DIR/default/DEVS.yml  ${join(envsDir, "default", "DEVS.yml")}`);
    expect(text()).toContain(`#   repository        DEVS.yml  https://github.com/acme/widgets/blob/${SHA}/DEVS.yml`);
    expect(lines).toContain("ci_enabled: true # DEVS.yml");
    expect(lines).toContain("ci_branches: [ main, release/* ] # DEVS.yml");
    expect(lines).toContain("ci_test_command: ./runtests.sh # built-in default");
    expect(lines).toContain("prompt_override: | # DEVS.yml");
    expect(lines).toContain('  {"json": true}');
    expect(lines).toContain('    API_TOKEN: "********" # DEVS_ENVS_DIR/default/DEVS.yml; value hidden');
    expect(lines).toContain(
      "    GITHUB_TOKEN: \"********\" # DEVS_ENVS_DIR/default/DEVS.yml; value hidden; withheld from containers: it names one of the server's secrets",
    );
    expect(lines).toContain('    DEBUG: "1" # DEVS.yml');
    expect(text()).not.toContain("s3cret-value");
    scope.done();
  });

  it("shows the <owner>/<repo> operator file as the repository's layer, and lists a look-alike's refused directory as the problem it is", async () => {
    const octokit = new TestOctokit({ auth: "ghp_token" });
    mkdirSync(join(envsDir, "acme", "widgets"), { recursive: true });
    writeFileSync(join(envsDir, "acme", "widgets", "DEVS.yml"), "draft_prs: true\n");
    const scope = serveRepoFile(nock(API), "ci_enabled: true\n");
    const { out, text } = capture();
    expect(await printRepoConfig({ octokitForRepo: tokenOctokitForRepo(octokit), envsDir, repo: "acme/widgets", out })).toBe(0);
    expect(text()).toContain(`#   operator-repo  DEVS_ENVS_DIR/acme/widgets/DEVS.yml  ${join(envsDir, "acme", "widgets", "DEVS.yml")}\n`);
    expect(text().split("\n")).toContain("draft_prs: true # DEVS_ENVS_DIR/acme/widgets/DEVS.yml");
    expect(text()).toContain(`# Operator files are looked for as ${envsDir}/acme/widgets/DEVS.yml, then ${envsDir}/default/DEVS.yml`);
    scope.done();

    mkdirSync(join(envsDir, "acme-big-app"));
    writeFileSync(join(envsDir, "acme-big-app", "DEVS.yml"), "draft_prs: true\n");
    const lookAlike = nock(API)
      .get("/repos/acme-big/app/commits/HEAD")
      .reply(200, SHA, { "content-type": "application/vnd.github.sha; charset=utf-8" })
      .get("/repos/acme-big/app/contents/DEVS.yml")
      .query({ ref: SHA })
      .reply(200, "ci_enabled: true\n", { "content-type": "text/plain; charset=utf-8" });
    const refused = capture();
    expect(await printRepoConfig({ octokitForRepo: tokenOctokitForRepo(octokit), envsDir, repo: "acme-big/app", out: refused.out })).toBe(1);
    expect(refused.text()).toBe(
      "DEVS.yml for acme-big/app is invalid; tasks for it will not run:\n" +
        `  DEVS_ENVS_DIR/acme-big-app/DEVS.yml (${join(envsDir, "acme-big-app", "DEVS.yml")}): the directory name acme-big-app could mean acme/big-app or acme-big/app, ` +
        "so it is used for none of them; move it to DEVS_ENVS_DIR/acme/big-app/DEVS.yml or DEVS_ENVS_DIR/acme-big/app/DEVS.yml, whichever repository it is meant for\n",
    );
    lookAlike.done();
  });

  it("token mode: the token client reads the repository; an invalid file is listed and exits 1", async () => {
    const octokit = new TestOctokit({ auth: "ghp_token" });
    const scope = serveRepoFile(nock(API), "ci_enabled: maybe\n");
    const { out, text } = capture();
    const code = await printRepoConfig({ octokitForRepo: tokenOctokitForRepo(octokit), envsDir, repo: "https://github.com/acme/widgets.git", out });
    expect(code).toBe(1);
    expect(text()).toBe(
      `DEVS.yml for acme/widgets is invalid; tasks for it will not run:\n  DEVS.yml (https://github.com/acme/widgets/blob/${SHA}/DEVS.yml) ci_enabled: must be true or false, found the string \`"maybe"\`\n`,
    );
    scope.done();
  });

  it("says when the App is not installed on the repository, and refuses a malformed --repo", async () => {
    const octokit = new TestOctokit({ auth: "app-jwt" });
    const scope = nock(API).get("/repos/acme/nowhere/installation").reply(404, { message: "Not Found" });
    const octokitForRepo = appOctokitForRepo(async () => octokit);
    await expect(printRepoConfig({ octokitForRepo, envsDir, repo: "acme/nowhere", out: capture().out })).rejects.toThrow("acme/nowhere was not found, or this app cannot read it (is the app installed on it?)");
    await expect(printRepoConfig({ octokitForRepo, envsDir, repo: "widgets", out: capture().out })).rejects.toBeInstanceOf(RepoArgumentError);
    scope.done();
  });
});
