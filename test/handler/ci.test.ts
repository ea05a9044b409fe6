// The CI handler through Probot with nock: every trigger and skip case, the Task it queues (and
// what its queued check will say), the exact check-run (or commit-status) bodies of the answers it
// writes itself (approval needed, DEVS.yml invalid), dedupe, authorisation and supersede. A task's
// own check is the CI reporter's (test/handler/ci-reporter.test.ts): the handler writes none.
import nock from "nock";
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Probot } from "probot";
import type { SupersedeRequest } from "../../src/ci/checks.js";
import { ciCause, queuedOutput } from "../../src/ci/report.js";
import type { CiConfigResult } from "../../src/handlers/ci.js";
import { botNames } from "../../src/policy/bot-names.js";
import type { Task } from "../../src/tasks/task.js";
import { CI_ENABLED, ciDeps, ciProbot, exactBody, strictCiNock, type TestCiDeps } from "../helpers/ci.js";
import { payload } from "../helpers/payloads.js";

const API = "https://api.github.com";
const REPO = "/repos/Codertocat/Hello-World";
const PUSH_SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const PR_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const COMPLETED_AT = "2026-11-29T12:00:00Z";
strictCiNock();

async function deliver(probot: Probot, name: string, body: Record<string, unknown>, id: string = crypto.randomUUID()) {
  await probot.receive({ id, name, payload: body } as never);
}

const push = (ref: string, patch: Record<string, unknown> = {}) => payload("push", undefined, { ref, deleted: false, created: false, ...patch });
const pullRequest = (action: string, patch: Record<string, unknown> = {}) => payload("pull_request", action, { pull_request: { draft: false }, ...patch });
const forkPr = (action: string, author: string) =>
  pullRequest(action, { sender: { login: author }, pull_request: { user: { login: author }, head: { repo: { full_name: `${author}/Hello-World` } } } });

/** The one task submitted, and the summary its queued check will have (the CI reporter renders it from the task). */
function submitted(deps: TestCiDeps): { task: Task; queued: string } {
  expect(deps.sink.tasks).toHaveLength(1);
  const task = deps.sink.tasks[0]!;
  const ci = task.ci!;
  return { task, queued: queuedOutput({ command: ci.testCommand, headSha: ci.headSha, cause: ciCause(ci), sender: task.sender }, deps.redact).summary };
}

describe("triggers: one task, and nothing written to GitHub (its check is the CI reporter's)", () => {
  it("push to main", async () => {
    const deps = ciDeps();
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/main"), "d-push");
    // No request at all: strictNock fails the test on any.
    expect(submitted(deps).queued).toBe("Waiting for a container to run `./runtests.sh` on `6113728`, for the push to `main` by @Codertocat.");
    const task = deps.sink.tasks[0]!;
    expect(task).toMatchObject({
      version: 1,
      id: "ci-d-push",
      kind: "ci",
      deliveryId: "d-push",
      createdAt: "2026-11-29T12:00:00.000Z",
      event: "push",
      action: "",
      repo: { owner: "Codertocat", name: "Hello-World", fullName: "Codertocat/Hello-World", defaultBranch: "master" },
      target: { type: "commit", number: 0, title: "Adding a .gitignore file", url: `https://github.com/Codertocat/Hello-World/commit/${PUSH_SHA}` },
      trigger: { reason: "ci", subject: { type: "issue", id: 0 }, author: "Codertocat" },
      sender: "Codertocat",
    });
    expect(task.ci).toEqual({
      headSha: PUSH_SHA,
      ref: "refs/heads/main",
      branch: "main",
      trigger: "push",
      pullRequest: null,
      testCommand: "./runtests.sh",
      fixAttempts: null,
      checkName: "devs-ci",
      report: "checks",
      checkRunId: null,
    });
  });

  it("push to a branch matching a ci_branches glob (release/*)", async () => {
    const deps = ciDeps();
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/release/1.2"), "d-rel");
    expect(submitted(deps).queued).toBe("Waiting for a container to run `./runtests.sh` on `6113728`, for the push to `release/1.2` by @Codertocat.");
    expect(deps.sink.tasks[0]!.ci).toMatchObject({ branch: "release/1.2", ref: "refs/heads/release/1.2" });
  });

  for (const action of ["opened", "synchronize", "reopened", "ready_for_review"]) {
    it(`pull_request.${action}`, async () => {
      const deps = ciDeps();
      const probot = await ciProbot(deps);
      await deliver(probot, "pull_request", pullRequest(action), "d-pr");
      const { task, queued } = submitted(deps);
      expect(queued).toBe("Waiting for a container to run `./runtests.sh` on `ec26c3e`, for the pull request #2 by @Codertocat.");
      expect(task.ci).toEqual({
        headSha: PR_SHA,
        ref: "refs/pull/2/head",
        branch: "changes",
        trigger: "pull_request",
        pullRequest: { number: 2, baseRef: "master", fromFork: false },
        testCommand: "./runtests.sh",
        fixAttempts: null,
        checkName: "devs-ci",
        report: "checks",
        checkRunId: null,
      });
      expect(task.target).toMatchObject({ type: "pull_request", number: 2, pullRequest: { headSha: PR_SHA, fromFork: false } });
      expect(task.trigger.subject).toEqual({ type: "pull_request", id: 2 });
    });
  }

  it("check_run.rerequested for our check: a new run on the same commit, for whoever pressed Re-run", async () => {
    const deps = ciDeps();
    const probot = await ciProbot(deps);
    const body = payload("check_run", "rerequested", { check_run: { name: "devs-ci" } });
    await deliver(probot, "check_run", body, "d-rr");
    expect(submitted(deps).queued).toBe("Waiting for a container to run `./runtests.sh` on `d6fde92`, for the re-run by @octocat.");
    expect(deps.sink.tasks[0]!.ci).toMatchObject({ headSha: "d6fde92930d4715a2b49857d24b940956b26d2d3", trigger: "rerun", ref: "refs/heads/master", pullRequest: null, checkRunId: null });
    expect(deps.sink.tasks[0]!.repo.fullName).toBe("github/hello-world");
  });

  it("check_run.requested_action Run tests: a fork PR's number comes from the button", async () => {
    const deps = ciDeps();
    const probot = await ciProbot(deps);
    const body = payload("check_run", "requested_action", { check_run: { name: "devs-ci", pull_requests: [] }, requested_action: { identifier: "run-ci:26764" } });
    await deliver(probot, "check_run", body, "d-ra");
    expect(submitted(deps).queued).toBe("Waiting for a container to run `./runtests.sh` on `5bd5f19`, for the re-run by @codebytere.");
    expect(deps.sink.tasks[0]!.ci).toMatchObject({ headSha: "5bd5f196a46b8222fb7484f05faba41a73cf34bd", ref: "refs/pull/26764/head", pullRequest: { number: 26764, baseRef: null, fromFork: true } });
  });

  it("check_suite.rerequested (Re-run all checks)", async () => {
    const deps = ciDeps();
    const probot = await ciProbot(deps);
    await deliver(probot, "check_suite", payload("check_suite", "rerequested"), "d-cs");
    expect(submitted(deps).queued).toBe("Waiting for a container to run `./runtests.sh` on `ec26c3e`, for the re-run by @octocoders-linter[bot].");
    expect(deps.sink.tasks[0]!.ci).toMatchObject({ trigger: "rerun", ref: "refs/pull/2/head", pullRequest: { number: 2, baseRef: "master", fromFork: false } });
  });

  it("the check name is settable", async () => {
    const deps = ciDeps({ checkName: "tests" });
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/main"), "d-n");
    expect(deps.sink.tasks[0]!.ci?.checkName).toBe("tests");
  });
});

describe("not CI: no request, no task", () => {
  const cases: Array<{ name: string; event: string; body: Record<string, unknown>; readsConfig?: boolean; deps?: Parameters<typeof ciDeps>[0] }> = [
    { name: "push to a branch not in ci_branches", event: "push", body: push("refs/heads/feature/x"), readsConfig: true },
    { name: "push of a tag", event: "push", body: push("refs/tags/v1.0") },
    { name: "branch deletion", event: "push", body: push("refs/heads/main", { deleted: true, after: "0".repeat(40) }) },
    { name: "draft pull request opened", event: "pull_request", body: pullRequest("opened", { pull_request: { draft: true } }) },
    { name: "draft pull request synchronize", event: "pull_request", body: pullRequest("synchronize", { pull_request: { draft: true } }) },
    { name: "pull request labeled", event: "pull_request", body: payload("pull_request", "labeled") },
    { name: "pull request closed", event: "pull_request", body: payload("pull_request", "closed") },
    { name: "check_run.rerequested for another app's check", event: "check_run", body: payload("check_run", "rerequested") },
    { name: "check_run.requested_action with another identifier", event: "check_run", body: payload("check_run", "requested_action", { check_run: { name: "devs-ci" } }) },
    { name: "check_run.created", event: "check_run", body: payload("check_run", "created", { check_run: { name: "devs-ci" } }) },
    { name: "check_suite.requested (GitHub's automatic suite)", event: "check_suite", body: payload("check_suite", "requested") },
    { name: "ci_enabled false", event: "push", body: push("refs/heads/main"), readsConfig: true, deps: { config: { ...CI_ENABLED, ciEnabled: false } as CiConfigResult } },
    { name: "ci_enabled false on a pull request", event: "pull_request", body: pullRequest("opened"), readsConfig: true, deps: { config: { ...CI_ENABLED, ciEnabled: false } as CiConfigResult } },
    { name: "repository owner outside the allowlist", event: "push", body: push("refs/heads/main"), deps: { allowedOwners: ["acme"] } },
    {
      name: "unauthorised pusher",
      event: "push",
      body: push("refs/heads/main"),
      readsConfig: true,
      deps: { authorizedUsers: { kind: "users", users: ["alice"] } },
    },
    {
      name: "re-run pressed by someone who may not trigger CI",
      event: "check_suite",
      body: payload("check_suite", "rerequested"),
      readsConfig: true,
      deps: { authorizedUsers: { kind: "users", users: ["alice"] } },
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const deps = ciDeps(c.deps);
      const probot = await ciProbot(deps);
      await deliver(probot, c.event, c.body);
      expect(deps.sink.tasks).toEqual([]);
      // Irrelevant events never cost a DEVS.yml read.
      expect(deps.configReads).toHaveLength(c.readsConfig ? 1 : 0);
    });
  }
});

describe("pull requests that may not run say why", () => {
  const blockedBody = (id: string, summary: string, identifier = "run-ci:2") => ({
    name: "devs-ci",
    head_sha: PR_SHA,
    external_id: `ci-${id}`,
    status: "completed",
    conclusion: "action_required",
    completed_at: COMPLETED_AT,
    output: { title: "Not run: approval needed", summary },
    actions: [{ label: "Run tests", description: "Run CI on this commit", identifier }],
  });
  const approval =
    "\n\nSomeone who may trigger CI (listed in `AUTHORIZED_CI_TRIGGER_USERS`, or with write access when that list is empty) can start it with **Run tests** above, or with **Re-run**. Approval covers this commit (`ec26c3e`) only; a new push needs it again.";

  it("fork PR by an outsider: a completed action_required check with the explanation and a button, no task", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "users", users: ["codertocat"] } });
    const probot = await ciProbot(deps);
    const scope = nock(API)
      .post(
        `${REPO}/check-runs`,
        exactBody(blockedBody("d-fork", `This pull request comes from a fork, and @outsider may not trigger CI in this repository. The tests were not run.${approval}`)),
      )
      .reply(201, { id: 300 });
    await deliver(probot, "pull_request", forkPr("opened", "outsider"), "d-fork");
    scope.done();
    expect(deps.sink.tasks).toEqual([]);
  });

  it("fork PR, empty list: the author's permission is asked (404 = no access)", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "write-access" } });
    const probot = await ciProbot(deps);
    const scope = nock(API)
      .get(`${REPO}/collaborators/outsider/permission`)
      .reply(404, { message: "Not Found" })
      .post(`${REPO}/check-runs`, exactBody(blockedBody("d-f2", `This pull request comes from a fork, and @outsider may not trigger CI in this repository. The tests were not run.${approval}`)))
      .reply(201, { id: 301 });
    await deliver(probot, "pull_request", forkPr("synchronize", "outsider"), "d-f2");
    scope.done();
    expect(deps.sink.tasks).toEqual([]);
  });

  it("fork PR by a collaborator with write access runs", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "write-access" } });
    const probot = await ciProbot(deps);
    const scope = nock(API)
      .get(`${REPO}/collaborators/trusted/permission`)
      .reply(200, { permission: "write", role_name: "write" });
    await deliver(probot, "pull_request", forkPr("opened", "trusted"), "d-f3");
    scope.done();
    expect(submitted(deps).queued).toBe("Waiting for a container to run `./runtests.sh` on `ec26c3e`, for the pull request #2 by @trusted.");
    expect(deps.sink.tasks[0]!.ci).toMatchObject({ ref: "refs/pull/2/head", pullRequest: { number: 2, fromFork: true } });
  });

  it("a redelivery of the blocked event does not add a second check", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "users", users: ["codertocat"] } });
    const probot = await ciProbot(deps);
    const scope = nock(API).post(`${REPO}/check-runs`).reply(201, { id: 303 });
    await deliver(probot, "pull_request", forkPr("opened", "outsider"), "d-b");
    await deliver(probot, "pull_request", forkPr("opened", "outsider"), "d-b");
    await deliver(probot, "pull_request", forkPr("reopened", "outsider"), "d-b2");
    scope.done();
  });

  it("then a maintainer presses Run tests on that check: it runs, for the fork's PR", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "users", users: ["codertocat"] } });
    const probot = await ciProbot(deps);
    const blocked = nock(API).post(`${REPO}/check-runs`).reply(201, { id: 304 });
    await deliver(probot, "pull_request", forkPr("opened", "outsider"), "d-c1");
    blocked.done();
    const button = payload("check_run", "requested_action", {
      repository: payload("pull_request", "opened").repository as Record<string, unknown>,
      sender: { login: "Codertocat" },
      check_run: { name: "devs-ci", head_sha: PR_SHA, pull_requests: [], check_suite: { head_branch: null } },
      requested_action: { identifier: "run-ci:2" },
    });
    await deliver(probot, "check_run", button, "d-c2");
    expect(submitted(deps).queued).toBe("Waiting for a container to run `./runtests.sh` on `ec26c3e`, for the re-run by @Codertocat.");
    expect(deps.sink.tasks[0]!.ci).toMatchObject({ headSha: PR_SHA, ref: "refs/pull/2/head", pullRequest: { number: 2, fromFork: true } });
  });
});

describe("who may trigger CI", () => {
  it("empty list: a pusher with write access runs (the answer is asked once)", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "write-access" } });
    const probot = await ciProbot(deps);
    const scope = nock(API)
      .get(`${REPO}/collaborators/Codertocat/permission`)
      .reply(200, { permission: "admin", role_name: "admin" });
    await deliver(probot, "push", push("refs/heads/main"));
    scope.done();
    expect(deps.sink.tasks).toHaveLength(1);
  });

  it("empty list: a pusher with read access is ignored", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "write-access" } });
    const probot = await ciProbot(deps);
    const scope = nock(API).get(`${REPO}/collaborators/Codertocat/permission`).reply(200, { permission: "read", role_name: "triage" });
    await deliver(probot, "push", push("refs/heads/main"));
    scope.done();
    expect(deps.sink.tasks).toEqual([]);
  });

  it("empty list: the App's own pushes run (it has write access) without asking GitHub", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "write-access" } });
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/main", { sender: { login: "devs-bot[bot]" } }), "d-bot");
    expect(submitted(deps).queued).toBe("Waiting for a container to run `./runtests.sh` on `6113728`, for the push to `main` by @devs-bot[bot].");
  });

  it("empty list: with GITHUB_MENTIONED_USER unlike the App's login, the App's pushes still run without asking", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "write-access" }, bot: botNames({ handle: "devs", login: "devs-app[bot]" }) });
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/main", { sender: { login: "devs-app[bot]" } }), "d-app");
    expect(submitted(deps).queued).toBe("Waiting for a container to run `./runtests.sh` on `6113728`, for the push to `main` by @devs-app[bot].");
  });

  it("a list: it decides alone, for the bot too", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "users", users: ["alice"] } });
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/main", { sender: { login: "devs-bot[bot]" } }));
    expect(deps.sink.tasks).toEqual([]);
  });

  it("same-repo PR by a sender outside the list: explained, not silent", async () => {
    const deps = ciDeps({ authorizedUsers: { kind: "users", users: ["alice"] }, report: "checks" });
    const probot = await ciProbot(deps);
    const scope = nock(API)
      .post(`${REPO}/check-runs`, (b: { conclusion?: string; output?: { summary?: string } }) => b.conclusion === "action_required" && b.output!.summary!.startsWith("@Codertocat may not trigger CI in this repository."))
      .reply(201, { id: 9 });
    await deliver(probot, "pull_request", pullRequest("synchronize"));
    scope.done();
    expect(deps.sink.tasks).toEqual([]);
  });
});

describe("DEVS.yml that cannot be used", () => {
  const problem = { userMessage: "[`DEVS.yml`](https://github.com/Codertocat/Hello-World/blob/master/DEVS.yml): `ci_branches` must be a list" };
  const failureBody = (id: string, sha: string) => ({
    name: "devs-ci",
    head_sha: sha,
    external_id: `ci-${id}`,
    status: "completed",
    conclusion: "failure",
    completed_at: COMPLETED_AT,
    output: {
      title: "DEVS.yml is invalid",
      summary: `CI did not run: the configuration could not be used.\n\n${problem.userMessage}\n\nFix the file on the default branch, then press **Re-run**.`,
    },
  });

  it("on a pull request: a failed check naming the file and the key, no task", async () => {
    const deps = ciDeps({ config: { error: problem } });
    const probot = await ciProbot(deps);
    const scope = nock(API).post(`${REPO}/check-runs`, exactBody(failureBody("d-e", PR_SHA))).reply(201, { id: 1 });
    await deliver(probot, "pull_request", pullRequest("opened"), "d-e");
    await deliver(probot, "pull_request", pullRequest("opened"), "d-e");
    scope.done();
    expect(deps.sink.tasks).toEqual([]);
  });

  it("on a push to the default branch too; on other branches only in the log", async () => {
    const deps = ciDeps({ config: { error: problem } });
    const probot = await ciProbot(deps);
    const scope = nock(API).post(`${REPO}/check-runs`, exactBody(failureBody("d-m", PUSH_SHA))).reply(201, { id: 1 });
    await deliver(probot, "push", push("refs/heads/master"), "d-m");
    await deliver(probot, "push", push("refs/heads/feature"), "d-f");
    scope.done();
    expect(deps.configReads).toHaveLength(2);
  });

  it("after the file is fixed, the same commit runs", async () => {
    let config: CiConfigResult = { error: problem };
    const deps = ciDeps();
    deps.loadCiConfig = async () => config;
    const probot = await ciProbot(deps);
    const scope = nock(API).post(`${REPO}/check-runs`).reply(201, { id: 1 });
    await deliver(probot, "pull_request", pullRequest("opened"), "d-1");
    config = CI_ENABLED;
    await deliver(probot, "pull_request", pullRequest("reopened"), "d-2");
    scope.done();
    expect(submitted(deps).task.id).toBe("ci-d-2");
  });
});

describe("dedupe", () => {
  it("a redelivery (same delivery id) does nothing", async () => {
    const deps = ciDeps();
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/main"), "same");
    await deliver(probot, "push", push("refs/heads/main"), "same");
    expect(deps.sink.tasks).toHaveLength(1);
    expect(deps.configReads).toHaveLength(1);
  });

  it("a push and a pull_request event for the same head commit: one run", async () => {
    const deps = ciDeps();
    const probot = await ciProbot(deps);
    await deliver(probot, "pull_request", pullRequest("synchronize"), "pr-event");
    await deliver(probot, "push", push("refs/heads/main", { after: PR_SHA, head_commit: { id: PR_SHA } }), "push-event");
    expect(deps.sink.tasks.map((t) => t.id)).toEqual(["ci-pr-event"]);
  });

  it("re-runs always run again", async () => {
    const deps = ciDeps();
    const probot = await ciProbot(deps);
    await deliver(probot, "pull_request", pullRequest("opened"));
    await deliver(probot, "check_suite", payload("check_suite", "rerequested"));
    await deliver(probot, "check_suite", payload("check_suite", "rerequested"));
    expect(deps.sink.tasks).toHaveLength(3);
  });
});

describe("failures on the way", () => {
  it("the sink fails: the claim is released and the delivery fails, with nothing written; a redelivery works", async () => {
    const deps = ciDeps();
    let fail = true;
    const submit = deps.sink.submit.bind(deps.sink);
    deps.sink.submit = async (task: Task) => {
      if (fail) throw new Error("journal unavailable");
      return submit(task);
    };
    const probot = await ciProbot(deps);
    await expect(deliver(probot, "push", push("refs/heads/main"), "d-s")).rejects.toThrow(/journal unavailable/);
    expect(deps.sink.tasks).toEqual([]);
    fail = false;
    await deliver(probot, "push", push("refs/heads/main"), "d-s");
    expect(submitted(deps).task.id).toBe("ci-d-s");
  });

  it("the DEVS.yml read fails: the delivery fails and nothing is claimed", async () => {
    const deps = ciDeps();
    let fail = true;
    deps.loadCiConfig = async () => {
      if (fail) throw new Error("GitHub 502");
      return CI_ENABLED;
    };
    const probot = await ciProbot(deps);
    await expect(deliver(probot, "push", push("refs/heads/main"), "d-x")).rejects.toThrow(/GitHub 502/);
    fail = false;
    await deliver(probot, "push", push("refs/heads/main"), "d-x");
    expect(deps.sink.tasks).toHaveLength(1);
  });
});

describe("a newer push to the same pull request cancels the older queued run", () => {
  /** What the runtime will do with the journal and pool: cancel this PR's queued CI tasks but the new one. */
  function supersedeOver(deps: TestCiDeps, started: Set<string>, calls: SupersedeRequest[]) {
    return async (request: SupersedeRequest): Promise<string[]> => {
      calls.push(request);
      const older = deps.sink.tasks.filter(
        (t) => t.kind === "ci" && t.id !== request.keepTaskId && t.repo.fullName === request.repo.fullName && t.ci?.pullRequest?.number === request.prNumber && !started.has(t.id),
      );
      deps.sink.tasks.splice(0, deps.sink.tasks.length, ...deps.sink.tasks.filter((t) => !older.includes(t)));
      return older.map((t) => t.id);
    };
  }
  const NEWER = "f".repeat(40);

  it("the older run is cancelled, naming the newer commit; the handler writes nothing (the reporter completes its check)", async () => {
    const calls: SupersedeRequest[] = [];
    const deps = ciDeps();
    deps.supersede = supersedeOver(deps, new Set(), calls);
    const probot = await ciProbot(deps);
    await deliver(probot, "pull_request", pullRequest("opened"), "first");
    await deliver(probot, "pull_request", pullRequest("synchronize", { pull_request: { head: { sha: NEWER } } }), "second");
    expect(deps.sink.tasks.map((t) => t.id)).toEqual(["ci-second"]);
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual({ prNumber: 2, headSha: NEWER, keepTaskId: "ci-second", repo: deps.sink.tasks[0]!.repo });
    expect(calls[1]!.repo.fullName).toBe("Codertocat/Hello-World");
  });

  it("a run that already started is left alone; pushes and re-runs never supersede", async () => {
    const calls: SupersedeRequest[] = [];
    const deps = ciDeps();
    const started = new Set(["ci-first"]);
    deps.supersede = supersedeOver(deps, started, calls);
    const probot = await ciProbot(deps);
    await deliver(probot, "pull_request", pullRequest("opened"), "first");
    await deliver(probot, "pull_request", pullRequest("synchronize", { pull_request: { head: { sha: NEWER } } }), "second");
    await deliver(probot, "push", push("refs/heads/main"), "third");
    await deliver(probot, "check_suite", payload("check_suite", "rerequested"), "fourth");
    expect(calls.map((c) => c.keepTaskId)).toEqual(["ci-first", "ci-second"]);
    expect(deps.sink.tasks.map((t) => t.id)).toEqual(["ci-first", "ci-second", "ci-third", "ci-fourth"]);
  });

  it("a failing supersede does not fail the delivery: the new run is queued", async () => {
    const deps = ciDeps({ supersede: async () => Promise.reject(new Error("journal busy")) });
    const probot = await ciProbot(deps);
    await deliver(probot, "pull_request", pullRequest("synchronize"));
    expect(deps.sink.tasks).toHaveLength(1);
  });
});

describe("how fresh DEVS.yml must be for the decision", () => {
  it("a push to another branch may use a head read a little while ago; the default branch's push and pull requests read it now", async () => {
    const asked: Array<[string, boolean]> = [];
    const deps = ciDeps({
      loadCiConfig: async (context, _repo, options) => {
        asked.push([context.name === "push" ? String((context.payload as { ref: string }).ref) : context.name, options.fresh]);
        return CI_ENABLED;
      },
    });
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/feature/x", { after: "1".repeat(40) }), "d-feature");
    await deliver(probot, "push", push("refs/heads/master", { after: "2".repeat(40) }), "d-default");
    await deliver(probot, "pull_request", pullRequest("opened"), "d-pr");
    expect(asked).toEqual([
      ["refs/heads/feature/x", false],
      ["refs/heads/master", true],
      ["pull_request", true],
    ]);
  });
});

describe("a push by someone else tells the CI fix loop of the branch", () => {
  it("on any branch, CI or not, before the push's own run is decided", async () => {
    const seen: Array<[string, string, string]> = [];
    const deps = ciDeps({ branchPushed: async (repo, branch, sender) => void seen.push([repo, branch, sender]) });
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/devs/issue-1", { sender: { login: "carol" } }), "d-carol");
    expect(seen).toEqual([["Codertocat/Hello-World", "devs/issue-1", "carol"]]);
    expect(deps.sink.tasks).toEqual([]);
  });

  it("never for the bot's own push, a tag or a deleted branch", async () => {
    const seen: string[] = [];
    const deps = ciDeps({ branchPushed: async (_repo, branch) => void seen.push(branch) });
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/devs/issue-1", { sender: { login: "devs-bot[bot]" } }), "d-bot-push");
    await deliver(probot, "push", push("refs/tags/v1", { sender: { login: "carol" } }), "d-tag");
    await deliver(probot, "push", push("refs/heads/devs/issue-1", { deleted: true, after: "0".repeat(40), sender: { login: "carol" } }), "d-del");
    expect(seen).toEqual([]);
  });
});

describe("token mode: commit statuses instead of check runs", () => {
  it("the task says statuses (the reporter posts its pending status); the handler writes nothing", async () => {
    const deps = ciDeps({ report: "statuses" });
    const probot = await ciProbot(deps);
    await deliver(probot, "push", push("refs/heads/main"));
    expect(deps.sink.tasks[0]!.ci).toMatchObject({ report: "statuses", checkRunId: null });
  });

  it("a blocked fork PR is a failure status (no buttons exist)", async () => {
    const deps = ciDeps({ report: "statuses", authorizedUsers: { kind: "users", users: ["codertocat"] } });
    const probot = await ciProbot(deps);
    const scope = nock(API).post(`${REPO}/statuses/${PR_SHA}`, exactBody({ state: "failure", context: "devs-ci", description: "Not run: approval needed" })).reply(201, {});
    await deliver(probot, "pull_request", forkPr("opened", "outsider"));
    scope.done();
    expect(deps.sink.tasks).toEqual([]);
  });
});

describe("GitHub App mode", () => {
  it("the handler's own check (approval needed) is created through the installation token; the task carries the installation", async () => {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const deps = ciDeps({ authorizedUsers: { kind: "users", users: ["codertocat"] } });
    const probot = await ciProbot(deps, { appId: 123, privateKey: privateKey.export({ type: "pkcs1", format: "pem" }).toString() });
    const scope = nock(API)
      .post("/app/installations/77/access_tokens")
      .reply(201, { token: "installation-token", expires_at: "2099-01-01T00:00:00Z", permissions: {} })
      .post(`${REPO}/check-runs`, (b: { conclusion?: string }) => b.conclusion === "action_required")
      .matchHeader("authorization", "token installation-token")
      .reply(201, { id: 1 });
    await deliver(probot, "pull_request", { ...forkPr("opened", "outsider"), installation: { id: 77 } });
    scope.done();
    await deliver(probot, "push", push("refs/heads/main", { installation: { id: 77 } }));
    expect(deps.sink.tasks[0]!.installationId).toBe(77);
  });
});
