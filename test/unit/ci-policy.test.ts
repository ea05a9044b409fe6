import { describe, expect, it } from "vitest";
import {
  applyCiAccess,
  applyCiConfig,
  branchMatches,
  parseRunAction,
  preflightCi,
  runActionIdentifier,
  type CiCandidate,
  type CiInput,
  type CiLinkedPullRequest,
  type CiPullRequestInput,
} from "../../src/policy/ci.js";

const NAME = "devs-ci";
const SHA = "a".repeat(40);
const pr = (patch: Partial<CiPullRequestInput> = {}): CiPullRequestInput => ({
  number: 7,
  draft: false,
  author: "alice",
  headSha: SHA,
  headRef: "feature",
  headRepoFullName: "acme/widgets",
  baseRef: "main",
  fromFork: false,
  ...patch,
});
const push = (ref: string, patch: Partial<NonNullable<CiInput["push"]>> = {}): CiInput => ({
  event: "push",
  action: null,
  sender: "alice",
  push: { ref, after: SHA, deleted: false, ...patch },
});
const prEvent = (action: string, patch: Partial<CiPullRequestInput> = {}, sender = "alice"): CiInput => ({
  event: "pull_request",
  action,
  sender,
  pullRequest: pr(patch),
});
const checkRun = (action: string, name = NAME, requestedAction: string | null = null, pullRequests: CiLinkedPullRequest[] = []): CiInput => ({
  event: "check_run",
  action,
  sender: "maintainer",
  checkRun: { name, headSha: SHA, headBranch: "feature", pullRequests, requestedAction },
});

describe("preflightCi: which events and actions can run CI (before any config)", () => {
  const table: Array<[string, CiInput, Partial<CiCandidate> | string]> = [
    ["push to a branch", push("refs/heads/main"), { trigger: "push", branch: "main", ref: "refs/heads/main", headSha: SHA, actors: ["alice"], pullRequest: null }],
    ["push to a nested branch", push("refs/heads/release/1.2"), { branch: "release/1.2" }],
    ["push of a tag", push("refs/tags/v1.0"), "refs/tags/v1.0 is not a branch"],
    ["branch deletion", push("refs/heads/main", { deleted: true, after: "0".repeat(40) }), "branch or tag deleted"],
    ["deletion flagged only by the zero SHA", push("refs/heads/main", { after: "0".repeat(40) }), "branch or tag deleted"],
    ["PR opened", prEvent("opened"), { trigger: "pull_request", ref: "refs/pull/7/head", branch: "feature", pullRequest: { number: 7, baseRef: "main", fromFork: false }, actors: ["alice"] }],
    ["PR synchronize", prEvent("synchronize"), { trigger: "pull_request" }],
    ["PR reopened", prEvent("reopened"), { trigger: "pull_request" }],
    ["PR ready_for_review", prEvent("ready_for_review"), { trigger: "pull_request" }],
    ["draft PR opened", prEvent("opened", { draft: true }), "draft pull request"],
    ["draft PR synchronize", prEvent("synchronize", { draft: true }), "draft pull request"],
    ["PR labeled", prEvent("labeled"), "pull request labeled does not run CI"],
    ["PR closed", prEvent("closed"), "pull request closed does not run CI"],
    ["PR converted to draft", prEvent("converted_to_draft", { draft: true }), "pull request converted_to_draft does not run CI"],
    ["fork PR: author and sender must both be allowed", prEvent("synchronize", { fromFork: true, author: "outsider" }, "Maintainer"), { fromFork: true, actors: ["outsider", "Maintainer"] }],
    ["fork PR: author who is the sender counted once", prEvent("opened", { fromFork: true, author: "Outsider" }, "outsider"), { actors: ["outsider"] }],
    ["same-repo PR: the sender decides", prEvent("synchronize", { author: "bob" }, "carol"), { actors: ["carol"] }],
    ["check_run rerequested for our check", checkRun("rerequested"), { trigger: "rerun", ref: "refs/heads/feature", pullRequest: null, actors: ["maintainer"] }],
    ["check_run rerequested for another app's check", checkRun("rerequested", "lint"), "check run lint is not ours"],
    ["check_run created", checkRun("created"), "check_run created does not run CI"],
    ["check_run completed", checkRun("completed"), "check_run completed does not run CI"],
    ["Run tests button", checkRun("requested_action", NAME, "run-ci"), { trigger: "rerun", pullRequest: null }],
    ["Run tests button carrying a fork PR number", checkRun("requested_action", NAME, "run-ci:12"), { ref: "refs/pull/12/head", pullRequest: { number: 12, baseRef: null, fromFork: true } }],
    ["some other button", checkRun("requested_action", NAME, "fix-it"), "check_run requested_action does not run CI"],
    [
      "rerequested on a same-repo PR head",
      checkRun("rerequested", NAME, null, [{ number: 3, headRef: "feature", baseRef: "main", fromFork: false }]),
      { ref: "refs/pull/3/head", pullRequest: { number: 3, baseRef: "main", fromFork: false } },
    ],
    ["check_suite rerequested", { event: "check_suite", action: "rerequested", sender: "m", checkSuite: { headSha: SHA, headBranch: null, pullRequests: [] } }, { trigger: "rerun", ref: null, branch: null }],
    ["check_suite requested (GitHub's automatic suite)", { event: "check_suite", action: "requested", sender: "m", checkSuite: { headSha: SHA, headBranch: "main", pullRequests: [] } }, "check_suite requested does not run CI"],
    ["check_suite completed", { event: "check_suite", action: "completed", sender: "m", checkSuite: { headSha: SHA, headBranch: "main", pullRequests: [] } }, "check_suite completed does not run CI"],
  ];
  for (const [name, input, expected] of table) {
    it(name, () => {
      const result = preflightCi(input, NAME);
      if (typeof expected === "string") expect(result).toEqual({ relevant: false, reason: expected });
      else {
        expect(result.relevant).toBe(true);
        if (result.relevant) expect(result.candidate).toMatchObject(expected);
      }
    });
  }
});

describe("branchMatches: ci_branches globs", () => {
  const table: Array<[string, string[], boolean]> = [
    ["main", ["main", "master"], true],
    ["master", ["main", "master"], true],
    ["mainline", ["main", "master"], false],
    ["Main", ["main"], false],
    ["release/1.2", ["release/*"], true],
    ["release/1.2/hotfix", ["release/*"], false],
    ["release/1.2/hotfix", ["release/**"], true],
    ["release", ["release/*"], false],
    ["feature/x", ["main"], false],
    ["v2-maint", ["v*-maint"], true],
    ["release/1.2", ["release/*", "!release/1.2"], false],
    ["release/1.3", ["release/*", "!release/1.2"], true],
    ["release/1.2", ["!release/1.2", "release/*"], true],
    [".hidden", ["*"], true],
    ["main", [], false],
    ["main", ["  main  ", ""], true],
  ];
  for (const [branch, patterns, expected] of table) {
    it(`${branch} against ${JSON.stringify(patterns)}: ${expected}`, () => {
      expect(branchMatches(branch, patterns)).toBe(expected);
    });
  }
});

describe("applyCiConfig", () => {
  const candidate = (input: CiInput) => {
    const r = preflightCi(input, NAME);
    if (!r.relevant) throw new Error("not relevant");
    return r.candidate;
  };
  const config = { ciEnabled: true, ciBranches: ["main", "release/*"], ciTestCommand: "./runtests.sh" };
  it("ci_enabled false: nothing runs", () => {
    expect(applyCiConfig(candidate(push("refs/heads/main")), { ...config, ciEnabled: false })).toEqual({ run: false, reason: "ci_enabled is not true in DEVS.yml" });
  });
  it("push to a listed branch and to a glob branch run; others do not", () => {
    expect(applyCiConfig(candidate(push("refs/heads/main")), config)).toEqual({ run: true });
    expect(applyCiConfig(candidate(push("refs/heads/release/2.0")), config)).toEqual({ run: true });
    expect(applyCiConfig(candidate(push("refs/heads/feature")), config)).toEqual({ run: false, reason: "branch feature is not in ci_branches" });
  });
  it("pull requests run whatever their base or head branch", () => {
    expect(applyCiConfig(candidate(prEvent("opened", { baseRef: "develop", headRef: "x" })), config)).toEqual({ run: true });
  });
  it("re-runs are not filtered by branch", () => {
    expect(applyCiConfig(candidate(checkRun("rerequested")), config)).toEqual({ run: true });
  });
});

describe("applyCiAccess", () => {
  const candidate = (input: CiInput) => {
    const r = preflightCi(input, NAME);
    if (!r.relevant) throw new Error("not relevant");
    return r.candidate;
  };
  const only = (...logins: string[]) => (login: string) => logins.includes(login.toLowerCase());

  it("allowed pusher runs; refused pusher is skipped silently", () => {
    expect(applyCiAccess(candidate(push("refs/heads/main")), only("alice"))).toEqual({ kind: "run" });
    expect(applyCiAccess(candidate(push("refs/heads/main")), only())).toEqual({ kind: "skip", reason: "@alice may not trigger CI" });
  });
  it("fork PR by an outsider is blocked with an explanation", () => {
    expect(applyCiAccess(candidate(prEvent("opened", { fromFork: true, author: "outsider" }, "outsider")), only("alice"))).toEqual({
      kind: "blocked",
      login: "outsider",
      reason: "This pull request comes from a fork, and @outsider may not trigger CI in this repository.",
    });
  });
  it("fork PR by an outsider stays blocked when a maintainer reopens it", () => {
    const decision = applyCiAccess(candidate(prEvent("reopened", { fromFork: true, author: "outsider" }, "alice")), only("alice"));
    expect(decision).toMatchObject({ kind: "blocked", login: "outsider" });
  });
  it("fork PR by an allowed author runs", () => {
    expect(applyCiAccess(candidate(prEvent("opened", { fromFork: true, author: "alice" }, "alice")), only("alice"))).toEqual({ kind: "run" });
  });
  it("same-repo PR by a refused sender is blocked (not silent)", () => {
    expect(applyCiAccess(candidate(prEvent("synchronize", {}, "bob")), only("alice"))).toEqual({
      kind: "blocked",
      login: "bob",
      reason: "@bob may not trigger CI in this repository.",
    });
  });
  it("re-run by a refused user is skipped; by an allowed one runs", () => {
    expect(applyCiAccess(candidate(checkRun("rerequested")), only())).toEqual({ kind: "skip", reason: "@maintainer may not trigger CI" });
    expect(applyCiAccess(candidate(checkRun("rerequested")), only("maintainer"))).toEqual({ kind: "run" });
  });
});

describe("the Run tests button's identifier", () => {
  it("round-trips a PR number within GitHub's 20 characters", () => {
    const id = runActionIdentifier(123456789012);
    expect(id.length).toBeLessThanOrEqual(20);
    expect(parseRunAction(id)).toEqual({ pullRequest: 123456789012 });
    expect(parseRunAction(runActionIdentifier(null))).toEqual({ pullRequest: null });
  });
  it("other identifiers are not ours", () => {
    expect(parseRunAction("run-ci:x")).toBeNull();
    expect(parseRunAction("lgtm|26764")).toBeNull();
    expect(parseRunAction(null)).toBeNull();
  });
});
