// Where the agent works after a comment in a pull request's conversation tab: the branches are
// read from GitHub when the task runs. A fork's branch (the attacker's code, in a container of
// the repository's own trust) and a closed pull request's are not worked on.
import nock from "nock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { withPullRequestBranches } from "../../src/agent/pull-request-branches.js";
import { TestOctokit } from "../helpers/probot.js";
import { makeTask } from "../helpers/tasks.js";

const API = "https://api.github.com";
const octokit = new TestOctokit({ auth: "installation-token" });

beforeEach(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

function commentOnPullRequest() {
  const task = makeTask("acme/widgets");
  task.target = { ...task.target, type: "pull_request", number: 12 };
  task.trigger = { ...task.trigger, subject: { type: "issue_comment", id: 99 } };
  return task;
}

const pull = (headRepo: string | null, state = "open") => ({
  number: 12,
  state,
  draft: true,
  head: { ref: "feature/x", sha: "a".repeat(40), repo: headRepo ? { full_name: headRepo } : null },
  base: { ref: "main", repo: { full_name: "acme/widgets" } },
});

describe("withPullRequestBranches", () => {
  it("fills in the branches of a pull request of the repository's own", async () => {
    const scope = nock(API).get("/repos/acme/widgets/pulls/12").reply(200, pull("Acme/Widgets"));
    const task = commentOnPullRequest();
    const lookup = await withPullRequestBranches(octokit, task);
    scope.done();
    expect(lookup.found).toBe("branches");
    expect(lookup.task.target.pullRequest).toEqual({ headRef: "feature/x", headSha: "a".repeat(40), headRepoFullName: "Acme/Widgets", baseRef: "main", draft: true, fromFork: false });
    expect(task.target.pullRequest).toBeUndefined();
  });

  it("leaves a fork's pull request alone: the agent works from the default branch", async () => {
    const scope = nock(API).get("/repos/acme/widgets/pulls/12").reply(200, pull("mallory/widgets"));
    const lookup = await withPullRequestBranches(octokit, commentOnPullRequest());
    scope.done();
    expect(lookup.found).toBe("fork");
    expect(lookup.task.target.pullRequest).toBeUndefined();
  });

  it("a pull request whose fork was deleted counts as a fork", async () => {
    const scope = nock(API).get("/repos/acme/widgets/pulls/12").reply(200, pull(null));
    expect((await withPullRequestBranches(octokit, commentOnPullRequest())).found).toBe("fork");
    scope.done();
  });

  it("leaves a closed pull request's branch alone", async () => {
    const scope = nock(API).get("/repos/acme/widgets/pulls/12").reply(200, pull("acme/widgets", "closed"));
    const lookup = await withPullRequestBranches(octokit, commentOnPullRequest());
    scope.done();
    expect(lookup.found).toBe("closed");
    expect(lookup.task.target.pullRequest).toBeUndefined();
  });

  it("asks GitHub nothing for an issue, or when the delivery carried the branches", async () => {
    const issue = makeTask("acme/widgets");
    expect(await withPullRequestBranches(octokit, issue)).toEqual({ task: issue, found: "not_needed" });
    const review = commentOnPullRequest();
    review.target.pullRequest = { headRef: "b", headSha: "b".repeat(40), headRepoFullName: "acme/widgets", baseRef: "main", draft: false, fromFork: false };
    expect(await withPullRequestBranches(octokit, review)).toEqual({ task: review, found: "not_needed" });
  });
});
