// The layered DEVS.yml loader against GitHub's REST API (nock): the repository's files read through
// Probot's config plugin at the default branch's head, the owner's .github fallback, _extends, the
// cache, and a broken file becoming the comment the user sees.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { pino } from "pino";
import { beforeEach, describe, expect, it } from "vitest";
import { DevsConfigLoader } from "../../src/config/devs-yml.js";
import { DevsConfigError, RepositoryUnavailableError } from "../../src/config/errors.js";
import { agentConfigLoader, ciConfigLoader, routeHints } from "../../src/config/task-config.js";
import { describeLayers } from "../../src/config/describe.js";
import { strictNock } from "../helpers/nock.js";
import { TestOctokit } from "../helpers/probot.js";
import { agentTaskFromFork, makeTask } from "../helpers/tasks.js";

const API = "https://api.github.com";
const SHA = "1111111111111111111111111111111111111111";
const NEW_SHA = "2222222222222222222222222222222222222222";
const PR_HEAD_SHA = "9999999999999999999999999999999999999999";
const ORG_SHA = "3333333333333333333333333333333333333333";
const silent = pino({ level: "silent" });
const octokit = new TestOctokit({ auth: "installation-token" });

let envsDir: string;
strictNock();
beforeEach(() => {
  envsDir = mkdtempSync(join(tmpdir(), "devs-envs-"));
});

const loader = () => new DevsConfigLoader({ envsDir, log: silent });
const contents = (path: string) => `/contents/${encodeURIComponent(path)}`;

/** `GET commits/HEAD` with the SHA media type: the bare SHA as text. */
function head(scope: nock.Scope, repo: string, sha: string | 404): nock.Scope {
  const interceptor = scope.get(`/repos/${repo}/commits/HEAD`).matchHeader("accept", "application/vnd.github.sha");
  return sha === 404 ? interceptor.reply(404, { message: "Not Found" }) : interceptor.reply(200, sha, { "content-type": "application/vnd.github.sha; charset=utf-8" });
}

/** A file as the contents API answers `mediaType.format=raw`; `ref` null = the default branch. */
function file(scope: nock.Scope, repo: string, path: string, ref: string | null, body: string | 404): nock.Scope {
  const interceptor = scope.get(`/repos/${repo}${contents(path)}`).query(ref ? { ref } : {});
  return body === 404
    ? interceptor.reply(404, { message: "Not Found" })
    : interceptor.reply(200, body, { "content-type": "application/vnd.github.raw; charset=utf-8" });
}

function operatorFile(dir: string, text: string): string {
  mkdirSync(join(envsDir, dir), { recursive: true });
  const path = join(envsDir, dir, "DEVS.yml");
  writeFileSync(path, text);
  return path;
}

async function loadError(promise: Promise<unknown>): Promise<DevsConfigError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DevsConfigError);
  return error as DevsConfigError;
}

describe("the repository's file", () => {
  it("reads the root DEVS.yml at the default branch's head commit", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "ci_enabled: true\nci_test_command: npm test\n");
    const loaded = await loader().load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.sha).toBe(SHA);
    expect(loaded.config).toMatchObject({ ci_enabled: true, ci_test_command: "npm test", ci_branches: ["main", "master"], direct_commit: false });
    const ci = loaded.provenance.find((e) => e.keyPath === "ci_enabled")!;
    expect(ci.source).toEqual({ layer: "repository", file: "DEVS.yml", url: `https://github.com/acme/widgets/blob/${SHA}/DEVS.yml`, origin: "repository" });
    expect(loaded.provenance.find((e) => e.keyPath === "ci_branches")!.source.layer).toBe("default");
    scope.done();
  });

  it("falls back to .github/devs.yml when there is no root DEVS.yml", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, 404);
    file(scope, "acme/.github", "DEVS.yml", null, 404);
    file(scope, "acme/widgets", ".github/devs.yml", SHA, "draft_prs: true\n");
    head(scope, "acme/.github", 404); // consulted, so its head is remembered for the cache
    const loaded = await loader().load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.config.draft_prs).toBe(true);
    expect(loaded.sources.map((s) => s.file)).toEqual([".github/devs.yml", "built-in default"]);
    expect(loaded.sources[0]!.url).toBe(`https://github.com/acme/widgets/blob/${SHA}/.github/devs.yml`);
    scope.done();
  });

  it("follows _extends into another repository of the owner: own keys win, lists replace, maps merge", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "_extends: acme/shared:ci/devs.yml\nci_branches: [develop]\nenv_vars:\n  default:\n    B: widgets\n");
    file(scope, "acme/shared", "ci/devs.yml", null, "ci_enabled: true\nci_branches: [main, release/*]\nprompt_extra: Use tabs.\n");
    head(scope, "acme/shared", ORG_SHA);
    const loaded = await loader().load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.config.ci_enabled).toBe(true);
    expect(loaded.config.ci_branches).toEqual(["develop"]); // not [main, release/*, develop]
    expect(loaded.config.prompt_extra).toBe("Use tabs.");
    expect(loaded.provenance.find((e) => e.keyPath === "prompt_extra")!.source).toMatchObject({
      layer: "extends",
      file: "acme/shared:ci/devs.yml",
      url: "https://github.com/acme/shared/blob/HEAD/ci/devs.yml",
    });
    expect(loaded.ignored).toEqual([]);
    scope.done();
  });

  it("uses the owner's .github repository when the repository has no file", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, 404);
    file(scope, "acme/.github", "DEVS.yml", null, "single_queue: true\n");
    file(scope, "acme/widgets", ".github/devs.yml", SHA, 404);
    file(scope, "acme/.github", ".github/devs.yml", null, 404);
    head(scope, "acme/.github", ORG_SHA);
    const loaded = await loader().load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.config.single_queue).toBe(true);
    expect(loaded.sources[0]).toMatchObject({ layer: "organization", file: "acme/.github:DEVS.yml" });
    scope.done();
  });

  it("prefers the repository's own .github/devs.yml to the owner's DEVS.yml", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, 404);
    file(scope, "acme/.github", "DEVS.yml", null, "single_queue: true\n");
    file(scope, "acme/widgets", ".github/devs.yml", SHA, "draft_prs: true\n");
    head(scope, "acme/.github", ORG_SHA);
    const loaded = await loader().load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.config).toMatchObject({ draft_prs: true, single_queue: false });
    expect(loaded.sources.map((s) => s.layer)).toEqual(["repository", "default"]);
    scope.done();
  });

  it("gives the defaults when no file exists anywhere", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, 404);
    file(scope, "acme/.github", "DEVS.yml", null, 404);
    file(scope, "acme/widgets", ".github/devs.yml", SHA, 404);
    file(scope, "acme/.github", ".github/devs.yml", null, 404);
    head(scope, "acme/.github", 404);
    const loaded = await loader().load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.config).toEqual({
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
    expect(loaded.provenance.every((e) => e.source.layer === "default")).toBe(true);
    scope.done();
  });

  it("a repository without commits reads no ref (the owner's fallback still applies)", async () => {
    const scope = nock(API);
    scope.get("/repos/acme/empty/commits/HEAD").reply(409, { message: "Git Repository is empty." });
    file(scope, "acme/empty", "DEVS.yml", null, 404);
    file(scope, "acme/.github", "DEVS.yml", null, "draft_prs: true\n");
    file(scope, "acme/empty", ".github/devs.yml", null, 404);
    file(scope, "acme/.github", ".github/devs.yml", null, 404);
    head(scope, "acme/.github", ORG_SHA);
    const loaded = await loader().load(octokit, { owner: "acme", repo: "empty" });
    expect(loaded.sha).toBeNull();
    expect(loaded.config.draft_prs).toBe(true);
    scope.done();
  });

  it("a repository the app cannot see is not a configuration problem", async () => {
    const scope = nock(API);
    head(scope, "acme/secret", 404);
    await expect(loader().load(octokit, { owner: "acme", repo: "secret" })).rejects.toBeInstanceOf(RepositoryUnavailableError);
    scope.done();
  });
});

describe("what _extends may reach", () => {
  /** A logger that keeps its warnings. */
  function recording() {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    return { log, lines };
  }

  it("repo A extends repo B of the same owner: B's prompt_extra applies, B's env_vars reach no container of A", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "_extends: billing\nenv_vars:\n  default:\n    OWN: widgets\n");
    file(scope, "acme/billing", "DEVS.yml", null, "prompt_extra: Mind the ledger.\nenv_vars:\n  default:\n    STRIPE_SECRET_KEY: sk_live_billing\n  eamonn:\n    BILLING_DB: postgres://billing\n");
    head(scope, "acme/billing", ORG_SHA);
    const { log, lines } = recording();
    const task = makeTask("acme/widgets", "agent", "extends-task");
    const shared = new DevsConfigLoader({ envsDir, log });
    const config = await agentConfigLoader({ loader: shared, log })(task, octokit, "eamonn");
    expect(config.promptExtra).toBe("Mind the ledger.");
    expect(config.env).toEqual({ OWN: "widgets" });
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 40,
        file: "acme/billing:DEVS.yml",
        keyPath: "env_vars",
        msg: "DEVS.yml for acme/widgets: env_vars of acme/billing:DEVS.yml not used: env_vars are not taken from another repository through _extends",
      }),
    );
    scope.done();

    // Cached: the next read still drops them, and `config --repo` says so.
    const again = nock(API);
    head(again, "acme/widgets", SHA);
    head(again, "acme/billing", ORG_SHA);
    const loaded = await shared.load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.config.env_vars).toEqual({ default: { OWN: "widgets" } });
    expect(loaded.ignored).toEqual([
      {
        source: { layer: "extends", file: "acme/billing:DEVS.yml", url: "https://github.com/acme/billing/blob/HEAD/DEVS.yml", origin: "repository" },
        keyPath: "env_vars",
        reason: "env_vars are not taken from another repository through _extends",
      },
    ]);
    expect(describeLayers(loaded, envsDir)).toContain(
      "# Not used: env_vars of acme/billing:DEVS.yml (env_vars are not taken from another repository through _extends).",
    );
    again.done();
  });

  it("extends another owner's repository: refused before anything is read from it, and the user is told where", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "_extends: mallory/loot:secrets.yml\nci_enabled: true\n");
    // Nothing of mallory's is asked for: strictNock fails the test on any request not served here.
    const error = await loadError(loader().load(octokit, { owner: "acme", repo: "widgets" }));
    const url = `https://github.com/acme/widgets/blob/${SHA}/DEVS.yml`;
    expect(error.problems).toEqual([
      {
        layer: "repository",
        file: "DEVS.yml",
        url,
        origin: "repository",
        keyPath: "_extends",
        problem: "names `mallory/loot:secrets.yml`, a file of another owner; _extends may only name repositories of acme",
      },
    ]);
    expect(error.userMessage).toBe(
      [
        "the repository configuration (DEVS.yml) is invalid, so nothing ran.",
        "",
        `- [\`DEVS.yml\`](${url}), \`_extends\`: names \`mallory/loot:secrets.yml\`, a file of another owner; _extends may only name repositories of acme`,
        "",
        "Fix the file on the default branch, then trigger the task again.",
      ].join("\n"),
    );
    scope.done();
  });

  it("a same-owner file cannot launder another owner's: the hop is refused on the file that makes it", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "_extends: shared\n");
    file(scope, "acme/shared", "DEVS.yml", null, "_extends: Mallory/loot\ndraft_prs: true\n");
    // Nothing of mallory's is asked for (strictNock).
    const error = await loadError(loader().load(octokit, { owner: "acme", repo: "widgets" }));
    expect(error.problems).toEqual([
      {
        layer: "extends",
        file: "acme/shared:DEVS.yml",
        url: "https://github.com/acme/shared/blob/HEAD/DEVS.yml",
        origin: "repository",
        keyPath: "_extends",
        problem: "names `Mallory/loot:DEVS.yml`, a file of another owner; _extends may only name repositories of acme",
      },
    ]);
    scope.done();
  });

  it("the owner's .github still works, as the fallback and through _extends, env_vars included", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "_extends: .github:devs/base.yml\nenv_vars:\n  default:\n    OWN: widgets\n");
    file(scope, "acme/.github", "devs/base.yml", null, "ci_enabled: true\nenv_vars:\n  default:\n    ORG_WIDE: acme\n");
    head(scope, "acme/.github", ORG_SHA);
    const loaded = await loader().load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.config).toMatchObject({ ci_enabled: true, env_vars: { default: { OWN: "widgets", ORG_WIDE: "acme" } } });
    expect(loaded.ignored).toEqual([]);
    scope.done();

    // Another of the owner's repositories, without a file: the owner's DEVS.yml, env_vars included.
    const fallback = nock(API);
    head(fallback, "acme/gadgets", SHA);
    file(fallback, "acme/gadgets", "DEVS.yml", SHA, 404);
    file(fallback, "acme/.github", "DEVS.yml", null, "env_vars:\n  default:\n    ORG_WIDE: acme\n");
    file(fallback, "acme/gadgets", ".github/devs.yml", SHA, 404);
    file(fallback, "acme/.github", ".github/devs.yml", null, 404);
    head(fallback, "acme/.github", ORG_SHA);
    expect((await loader().load(octokit, { owner: "acme", repo: "gadgets" })).config.env_vars).toEqual({ default: { ORG_WIDE: "acme" } });
    fallback.done();
  });

  it("another file of the repository itself is read at the same commit, env_vars included", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "_extends: widgets:ci/base.yml\n");
    file(scope, "acme/widgets", "ci/base.yml", SHA, "env_vars:\n  default:\n    MODE: base\n");
    const loaded = await loader().load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.config.env_vars).toEqual({ default: { MODE: "base" } });
    expect(loaded.sources[1]).toMatchObject({ layer: "extends", file: "ci/base.yml", url: `https://github.com/acme/widgets/blob/${SHA}/ci/base.yml` });
    scope.done();
  });

  it("a loop and a chain too long are problems on the file that names the next one", async () => {
    const loop = nock(API);
    head(loop, "acme/widgets", SHA);
    file(loop, "acme/widgets", "DEVS.yml", SHA, "_extends: shared\n");
    file(loop, "acme/shared", "DEVS.yml", null, "_extends: widgets\n");
    const looped = await loadError(loader().load(octokit, { owner: "acme", repo: "widgets" }));
    expect(looped.problems.map((p) => [p.file, p.keyPath, p.problem])).toEqual([
      ["acme/shared:DEVS.yml", "_extends", "names `DEVS.yml`, which was already read (a loop)"],
    ]);
    loop.done();

    const chain = nock(API);
    head(chain, "acme/widgets", SHA);
    file(chain, "acme/widgets", "DEVS.yml", SHA, "_extends: c1\n");
    for (let i = 1; i <= 5; i++) file(chain, `acme/c${i}`, "DEVS.yml", null, `_extends: c${i + 1}\n`);
    const long = await loadError(loader().load(octokit, { owner: "acme", repo: "widgets" }));
    expect(long.problems.map((p) => [p.file, p.problem])).toEqual([["acme/c5:DEVS.yml", "names `acme/c6:DEVS.yml`, but _extends may be followed at most 5 times"]]);
    chain.done();
  });
});

describe("every layer applies", () => {
  it("operator files override the repository's keys, and the repository's other keys stay", async () => {
    operatorFile("default", "ci_test_command: make test\nenv_vars:\n  default:\n    FROM_DEFAULT: d\n    SHARED: operator\n");
    operatorFile("Acme-Widgets", "env_vars:\n  eamonn:\n    ONLY_EAMONN: e\n"); // another case
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "ci_enabled: true\nci_test_command: npm test\nenv_vars:\n  default:\n    SHARED: repo\n    FROM_REPO: r\n");
    const loaded = await loader().load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.config.ci_enabled).toBe(true); // from the repository, not hidden by the operator layer
    expect(loaded.config.ci_test_command).toBe("make test");
    expect(loaded.config.env_vars).toEqual({ default: { SHARED: "operator", FROM_REPO: "r", FROM_DEFAULT: "d" }, eamonn: { ONLY_EAMONN: "e" } });
    expect(loaded.sources.map((s) => s.layer)).toEqual(["operator-repo", "operator-default", "repository", "default"]);
    expect(loaded.sources[0]!.file).toBe("DEVS_ENVS_DIR/Acme-Widgets/DEVS.yml");
    scope.done();
  });
});

describe("operator files of look-alike repositories (acme/big-app and acme-big/app)", () => {
  const serve = (repo: string) => {
    const scope = nock(API);
    head(scope, repo, SHA);
    file(scope, repo, "DEVS.yml", SHA, "ci_enabled: true\n");
    return scope;
  };

  it("<owner>/<repo> directories: each repository's containers get its own env_vars only", async () => {
    operatorFile("acme/big-app", "env_vars:\n  default:\n    DEPLOY_KEY: big-app\n");
    operatorFile("acme-big/app", "env_vars:\n  default:\n    DEPLOY_KEY: app\n");
    const load = agentConfigLoader({ loader: loader(), log: silent });
    for (const [repo, key] of [["acme/big-app", "big-app"], ["acme-big/app", "app"]] as const) {
      const scope = serve(repo);
      expect((await load(makeTask(repo), octokit, "eamonn")).env).toEqual({ DEPLOY_KEY: key });
      scope.done();
    }
  });

  it("the seed's acme-big-app directory: refused for both, so neither runs with the other's env_vars", async () => {
    operatorFile("acme-big-app", "env_vars:\n  default:\n    DEPLOY_KEY: whose\n");
    for (const repo of ["acme/big-app", "acme-big/app"]) {
      const [owner, name] = repo.split("/") as [string, string];
      const scope = serve(repo);
      const error = await loadError(loader().load(octokit, { owner, repo: name }));
      expect(error.problems.map((p) => [p.origin, p.file])).toEqual([["operator", "DEVS_ENVS_DIR/acme-big-app/DEVS.yml"]]);
      expect(error.problems[0]!.problem).toContain("could mean acme/big-app or acme-big/app");
      scope.done();
    }
  });
});

describe("the cache", () => {
  it("reads the files again only when the default branch's head moves", async () => {
    const shared = loader();
    const first = nock(API);
    head(first, "acme/widgets", SHA);
    file(first, "acme/widgets", "DEVS.yml", SHA, "draft_prs: true\n");
    expect((await shared.load(octokit, { owner: "acme", repo: "widgets" })).config.draft_prs).toBe(true);
    first.done();

    const same = nock(API);
    head(same, "acme/widgets", SHA); // one request, no file read
    expect((await shared.load(octokit, { owner: "acme", repo: "widgets" })).config.draft_prs).toBe(true);
    same.done();

    const moved = nock(API);
    head(moved, "acme/widgets", NEW_SHA);
    file(moved, "acme/widgets", "DEVS.yml", NEW_SHA, "draft_prs: false\n");
    const loaded = await shared.load(octokit, { owner: "acme", repo: "widgets" });
    expect(loaded.config.draft_prs).toBe(false);
    expect(loaded.sha).toBe(NEW_SHA);
    moved.done();
  });

  it("reads again when a repository the files came from moves (the owner's .github)", async () => {
    const shared = loader();
    const misses = (scope: nock.Scope, orgBody: string) => {
      file(scope, "acme/widgets", "DEVS.yml", SHA, 404);
      file(scope, "acme/.github", "DEVS.yml", null, orgBody);
      file(scope, "acme/widgets", ".github/devs.yml", SHA, 404);
      file(scope, "acme/.github", ".github/devs.yml", null, 404);
    };
    const first = nock(API);
    head(first, "acme/widgets", SHA);
    misses(first, "draft_prs: true\n");
    head(first, "acme/.github", ORG_SHA);
    expect((await shared.load(octokit, { owner: "acme", repo: "widgets" })).config.draft_prs).toBe(true);
    first.done();

    const orgMoved = nock(API);
    head(orgMoved, "acme/widgets", SHA);
    head(orgMoved, "acme/.github", NEW_SHA);
    misses(orgMoved, "draft_prs: false\n");
    head(orgMoved, "acme/.github", NEW_SHA);
    expect((await shared.load(octokit, { owner: "acme", repo: "widgets" })).config.draft_prs).toBe(false);
    orgMoved.done();
  });

  it("does not keep a broken read: a fix in an extended repository is seen at once", async () => {
    const shared = loader();
    const own = "_extends: shared\ndraft_prs: true\n";
    const broken = nock(API);
    head(broken, "acme/widgets", SHA);
    file(broken, "acme/widgets", "DEVS.yml", SHA, own);
    file(broken, "acme/shared", "DEVS.yml", null, "ci_enabled: [\n");
    const error = await loadError(shared.load(octokit, { owner: "acme", repo: "widgets" }));
    expect(error.problems[0]).toMatchObject({ file: "acme/shared:DEVS.yml", url: "https://github.com/acme/shared/blob/HEAD/DEVS.yml" });
    broken.done();

    const fixed = nock(API);
    head(fixed, "acme/widgets", SHA); // the same commit: only acme/shared changed
    file(fixed, "acme/widgets", "DEVS.yml", SHA, own);
    file(fixed, "acme/shared", "DEVS.yml", null, "ci_enabled: true\n");
    head(fixed, "acme/shared", ORG_SHA);
    expect((await shared.load(octokit, { owner: "acme", repo: "widgets" })).config).toMatchObject({ ci_enabled: true, draft_prs: true });
    fixed.done();
  });
});

describe("broken files are reported, never guessed around", () => {
  it("invalid YAML names the file, with its URL at the commit read", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "ci_enabled: true\n  bad: [\n");
    const error = await loadError(loader().load(octokit, { owner: "acme", repo: "widgets" }));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ file: "DEVS.yml", url: `https://github.com/acme/widgets/blob/${SHA}/DEVS.yml`, keyPath: "" });
    expect(error.problems[0]!.problem).toMatch(/^not valid YAML: .*line \d+, column \d+/);
    scope.done();
  });

  it("a missing _extends target is a problem on the file that names it", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "_extends: shared\ndraft_prs: true\n");
    file(scope, "acme/shared", "DEVS.yml", null, 404);
    const error = await loadError(loader().load(octokit, { owner: "acme", repo: "widgets" }));
    expect(error.problems).toEqual([
      {
        layer: "repository",
        file: "DEVS.yml",
        url: `https://github.com/acme/widgets/blob/${SHA}/DEVS.yml`,
        origin: "repository",
        keyPath: "_extends",
        problem: "names `acme/shared:DEVS.yml`, which does not exist or this app cannot read",
      },
    ]);
    scope.done();
  });

  it("a malformed _extends and a directory at the path are named too", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "_extends: 'not a repo'\n");
    const bad = await loadError(loader().load(octokit, { owner: "acme", repo: "widgets" }));
    expect(bad.problems[0]).toMatchObject({ file: "DEVS.yml", keyPath: "_extends", problem: "must be repo, owner/repo or owner/repo:path.yml, found `not a repo`" });
    scope.done();

    const dir = nock(API);
    head(dir, "acme/widgets", SHA);
    dir
      .get(`/repos/acme/widgets${contents("DEVS.yml")}`)
      .query({ ref: SHA })
      .reply(200, [{ name: "x", type: "file" }], { "content-type": "application/json; charset=utf-8" });
    const directory = await loadError(loader().load(octokit, { owner: "acme", repo: "widgets" }));
    expect(directory.problems[0]).toMatchObject({ file: "DEVS.yml", problem: "is a directory or a submodule, not a file" });
    dir.done();
  });

  it("a wrong type and an unknown key become the task's one failure line, with exact wording", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "direct_commit: yes\nci_brances: [main]\nenv_vars:\n  default:\n    PORT: 8080\n");
    const error = await loadError(loader().load(octokit, { owner: "acme", repo: "widgets" }));
    const url = `https://github.com/acme/widgets/blob/${SHA}/DEVS.yml`;
    const expected = [
      "the repository configuration (DEVS.yml) is invalid, so nothing ran.",
      "",
      `- [\`DEVS.yml\`](${url}), \`ci_brances\`: unknown key (did you mean \`ci_branches\`?)`,
      `- [\`DEVS.yml\`](${url}), \`direct_commit\`: must be true or false, found the string \`"yes"\``,
      `- [\`DEVS.yml\`](${url}), \`env_vars.default.PORT\`: must be a string, found the number \`8080\`; quote it: \`PORT: "8080"\``,
      "",
      "Fix the file on the default branch, then trigger the task again.",
    ].join("\n");
    // The agent's progress comment says "❌ Failed: " and then this.
    expect(error.userMessage).toBe(expected);
    scope.done();
  });

  it("problems in operator files are counted for the user, never shown", async () => {
    const path = operatorFile("default", "env_vars:\n  default:\n    DB_PASSWORD: 12345678\n");
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "ci_enabled: true\n");
    const error = await loadError(loader().load(octokit, { owner: "acme", repo: "widgets" }));
    expect(error.problems[0]).toMatchObject({ origin: "operator", url: path, keyPath: "env_vars.default.DB_PASSWORD" });
    expect(error.userMessage).toBe(
      [
        "the repository configuration (DEVS.yml) is invalid, so nothing ran.",
        "",
        "The server's own configuration for this repository (set by whoever runs this devs-webhook) has 1 problem; they are in the server's log for the operator to fix.",
      ].join("\n"),
    );
    scope.done();
  });
});

describe("a pull request's head is never read", () => {
  it("the agent's configuration for a PR task comes from the default branch's head only", async () => {
    const task = agentTaskFromFork({ id: "pr-task", target: { number: 7, pullRequest: { headRef: "evil", headSha: PR_HEAD_SHA } } });
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "prompt_override: 'trusted {repo_name}'\nenv_vars:\n  default:\n    MODE: trusted\n");
    // What the pull request would like to run with, at its head and on its branch, is never asked
    // for: strictNock fails the test on any request not served here.
    const load = agentConfigLoader({ loader: loader(), log: silent });
    const config = await load(task, octokit, "eamonn");
    expect(config.renderOverride?.({ repo_name: "acme/widgets" })).toBe("trusted acme/widgets");
    expect(config.env).toEqual({ MODE: "trusted" });
    scope.done();
  });
});

describe("CI's view", () => {
  it("gives the CI keys, or the problems for the check run (without a second 'try again' line)", async () => {
    const load = ciConfigLoader({ loader: loader(), log: silent });
    const good = nock(API);
    head(good, "acme/widgets", SHA);
    file(good, "acme/widgets", "DEVS.yml", SHA, "ci_enabled: true\nci_branches: ['release/*']\n");
    expect(await load({ octokit }, { owner: "acme", name: "widgets" })).toEqual({ ciEnabled: true, ciBranches: ["release/*"], ciTestCommand: "./runtests.sh", ciFixAttempts: null });
    good.done();

    const bad = nock(API);
    head(bad, "acme/widgets", NEW_SHA);
    file(bad, "acme/widgets", "DEVS.yml", NEW_SHA, "ci_test_command: 42\n");
    const answer = await load({ octokit }, { owner: "acme", name: "widgets" });
    expect(answer).toEqual({
      error: {
        userMessage: `- [\`DEVS.yml\`](https://github.com/acme/widgets/blob/${NEW_SHA}/DEVS.yml), \`ci_test_command\`: must be a string, found the number \`42\``,
        message: expect.stringContaining("ci_test_command: must be a string"),
      },
    });
    bad.done();
  });
});

describe("the pool's routing hint", () => {
  it("reads single_queue for the task's repository", async () => {
    const scope = nock(API);
    head(scope, "acme/widgets", SHA);
    file(scope, "acme/widgets", "DEVS.yml", SHA, "single_queue: true\n");
    const hints = routeHints(loader(), async () => octokit);
    expect(await hints(makeTask("acme/widgets"))).toEqual({ singleQueue: true });
    scope.done();
  });
});

describe("the default branch's head, read again or not", () => {
  it("a fresh load reads it every time; one that may be older reads it once within its age, and again after", async () => {
    let now = 1_000_000;
    const shared = new DevsConfigLoader({ envsDir, log: silent, now: () => now });
    const first = nock(API);
    head(first, "acme/widgets", SHA);
    file(first, "acme/widgets", "DEVS.yml", SHA, "ci_enabled: true\n");
    await shared.load(octokit, { owner: "acme", repo: "widgets" }, { headMaxAgeMs: 30_000 });
    first.done();

    // Within 30 s: no read at all (strict nock fails on any request).
    now += 29_000;
    expect((await shared.load(octokit, { owner: "acme", repo: "widgets" }, { headMaxAgeMs: 30_000 })).config.ci_enabled).toBe(true);

    // A fresh load (a task's, or a push to the default branch) reads the heads again.
    const fresh = nock(API);
    head(fresh, "acme/widgets", SHA);
    await shared.load(octokit, { owner: "acme", repo: "widgets" });
    fresh.done();

    // Past its age, the head is read again, and a moved head reads the file again.
    now += 31_000;
    const later = nock(API);
    head(later, "acme/widgets", NEW_SHA);
    file(later, "acme/widgets", "DEVS.yml", NEW_SHA, "ci_enabled: false\n");
    expect((await shared.load(octokit, { owner: "acme", repo: "widgets" }, { headMaxAgeMs: 30_000 })).config.ci_enabled).toBe(false);
    later.done();
  });

  it("a load that may be older takes the whole config loaded within that age, operator files included; a fresh one sees an operator's edit at once", async () => {
    let now = 2_000_000;
    const shared = new DevsConfigLoader({ envsDir, log: silent, now: () => now });
    operatorFile("acme/gadgets", "ci_enabled: false\n");
    const first = nock(API);
    head(first, "acme/gadgets", SHA);
    file(first, "acme/gadgets", "DEVS.yml", SHA, "ci_branches: [main]\n");
    const older = { headMaxAgeMs: 30_000 };
    const before = await shared.load(octokit, { owner: "acme", repo: "gadgets" }, older);
    expect(before.config.ci_enabled).toBe(false);
    first.done();

    operatorFile("acme/gadgets", "ci_enabled: true\n");
    now += 10_000;
    // Within the age: the same config, not even the operator file read again.
    expect(await shared.load(octokit, { owner: "acme", repo: "gadgets" }, older)).toBe(before);

    // A task's load reads the head and the operator file now.
    const fresh = nock(API);
    head(fresh, "acme/gadgets", SHA);
    expect((await shared.load(octokit, { owner: "acme", repo: "gadgets" })).config.ci_enabled).toBe(true);
    fresh.done();
    // And what it loaded is what the next older-accepting load takes.
    expect((await shared.load(octokit, { owner: "acme", repo: "gadgets" }, older)).config.ci_enabled).toBe(true);
  });
});
