// The repository cache and per-task clones with real git: file:// remotes and git's smart HTTP.
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { prepareContainerSetup } from "../../src/containers/setup-source.js";
import { GitError, RepoCache } from "../../src/workspace/repo-cache.js";
import { agentTaskFromFork, agentTaskOnPullRequest } from "../helpers/tasks.js";
import { bareRepo, git } from "../helpers/git-repo.js";
import { startGitHttp, type GitHttpServer } from "../helpers/git-http.js";
import { tempDir } from "../helpers/settings.js";

const identity = { name: "devs-bot[bot]", email: "1+devs-bot[bot]@users.noreply.github.com" };
let http: GitHttpServer | null = null;
afterEach(async () => {
  await http?.close();
  http = null;
});

function setup() {
  const remotes = tempDir("devs-remotes-");
  const remote = bareRepo(remotes, "Acme", "Widgets", { "README.md": "v1\n" });
  const cache = new RepoCache(tempDir("devs-cache-"));
  const ref = { owner: "Acme", name: "Widgets", cloneUrl: `file://${remote.path}` };
  return { remotes, remote, cache, ref };
}

describe("RepoCache", () => {
  it("creates a lower-case bare cache once and fetches new commits into it", async () => {
    const { remote, cache, ref } = setup();
    const path = await cache.sync(ref, null);
    expect(path).toMatch(/acme\/widgets\.git$/);
    const head1 = git(path, "rev-parse", "refs/heads/main");
    const next = remote.commit({ "README.md": "v2\n" }, "second");
    await cache.sync(ref, null);
    expect(git(path, "rev-parse", "refs/heads/main")).toBe(next);
    expect(next).not.toBe(head1);
  });

  it("checks out a branch into a self-contained repository with the real remote and no credentials", async () => {
    const { cache, ref } = setup();
    await cache.sync(ref, null);
    const dir = join(tempDir("devs-ws-"), "eamonn-acme-widgets");
    const result = await cache.checkout(ref, dir, { kind: "branch", branch: "main" }, identity);
    expect(result.branch).toBe("main");
    expect(readFileSync(join(dir, "README.md"), "utf8")).toBe("v1\n");
    expect(statSync(join(dir, ".git")).isDirectory()).toBe(true); // not a worktree pointer file
    expect(git(dir, "remote", "get-url", "origin")).toBe(ref.cloneUrl);
    expect(git(dir, "config", "user.name")).toBe(identity.name);
    expect(git(dir, "status", "--porcelain")).toBe("");
  });

  it("a new task's checkout leaves nothing of the previous one, in the same directory", async () => {
    const { remote, cache, ref } = setup();
    remote.commit({ "feature.txt": "f\n" }, "feature", "feature");
    await cache.sync(ref, null);
    const dir = join(tempDir("devs-ws-"), "ws");
    await cache.checkout(ref, dir, { kind: "branch", branch: "feature" }, identity);
    writeFileSync(join(dir, "leftover.txt"), "junk");
    const inode = statSync(dir).ino;
    const result = await cache.checkout(ref, dir, { kind: "branch", branch: "main" }, identity);
    expect(statSync(dir).ino).toBe(inode);
    expect(existsSync(join(dir, "leftover.txt"))).toBe(false);
    expect(existsSync(join(dir, "feature.txt"))).toBe(false);
    expect(result.branch).toBe("main");
    expect(git(dir, "rev-parse", "--abbrev-ref", "HEAD")).toBe("main");
  });

  it("checks out a pull request: its branch in the same repository, refs/pull/N/head for a fork, a commit detached", async () => {
    const { remote, cache, ref } = setup();
    const headSha = remote.commit({ "pr.txt": "pr\n" }, "pr work", "fix-typo");
    // A fork's PR exists only as refs/pull/N/head in the base repository.
    const forkSha = remote.commit({ "fork.txt": "fork\n" }, "fork work", "fork-tmp");
    git(remote.path, "update-ref", "refs/pull/9/head", forkSha);
    git(remote.path, "update-ref", "-d", "refs/heads/fork-tmp");
    await cache.sync(ref, null, ["refs/pull/9/head"]);
    const dir = join(tempDir("devs-ws-"), "ws");

    const same = await cache.checkout(ref, dir, { kind: "pull", number: 3, headRef: "fix-typo", headSha, sameRepo: true }, identity);
    expect(same).toMatchObject({ branch: "fix-typo", baseSha: headSha });
    const fork = await cache.checkout(ref, dir, { kind: "pull", number: 9, headRef: "main", headSha: forkSha, sameRepo: false }, identity);
    expect(fork).toMatchObject({ branch: "pr-9", baseSha: forkSha });
    expect(existsSync(join(dir, "fork.txt"))).toBe(true);
    const detached = await cache.checkout(ref, dir, { kind: "sha", sha: headSha }, identity);
    expect(detached).toMatchObject({ branch: null, baseSha: headSha });
  });

  it("a missing branch is a clear GitError", async () => {
    const { cache, ref } = setup();
    await cache.sync(ref, null);
    await expect(cache.checkout(ref, join(tempDir(), "ws"), { kind: "branch", branch: "nope" }, identity)).rejects.toThrow(GitError);
  });

  it("concurrent syncs of one repository are serialised without git lock errors", async () => {
    const { remote, cache, ref } = setup();
    const commits = [1, 2, 3, 4].map((i) => remote.commit({ [`f${i}`]: `${i}` }, `c${i}`, `b${i}`));
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map(() => cache.sync(ref, null)));
    expect(new Set(results).size).toBe(1);
    for (const [i, sha] of commits.entries()) expect(git(results[0]!, "rev-parse", `refs/heads/b${i + 1}`)).toBe(sha);
  });

  it("over HTTP the token goes as a header only: never in the cache, the clone or an error", async () => {
    const { remotes, cache } = setup();
    http = await startGitHttp(remotes, { token: "ghs_secret123" });
    const ref = { owner: "Acme", name: "Widgets", cloneUrl: `${http.url}/Acme/Widgets.git` };
    const path = await cache.sync(ref, "ghs_secret123");
    expect(http.authHeaders.some((h) => h === `Basic ${Buffer.from("x-access-token:ghs_secret123").toString("base64")}`)).toBe(true);
    const dir = join(tempDir("devs-ws-"), "ws");
    await cache.checkout(ref, dir, { kind: "branch", branch: "main" }, identity);
    for (const file of [join(path, "config"), join(dir, ".git", "config")]) {
      const text = readFileSync(file, "utf8");
      expect(text).not.toContain("ghs_secret123");
      expect(text).not.toContain(Buffer.from("x-access-token:ghs_secret123").toString("base64"));
    }
    const failure = await cache.sync(ref, "ghs_wrong").catch((e: unknown) => e as Error);
    expect(failure).toBeInstanceOf(GitError);
    expect((failure as Error).message).not.toContain("ghs_wrong");
  });

  it("a fork's pull request is checked out at the head commit the task carries, not at a commit the fork pushed afterwards", async () => {
    const { remote, cache, ref } = setup();
    const approved = remote.commit({ "fork.txt": "approved\n" }, "fork work", "fork-tmp");
    const later = remote.commit({ "fork.txt": "pushed after the approval\n" }, "more fork work", "fork-tmp");
    // By the time the task runs, refs/pull/9/head has moved on to the later commit.
    git(remote.path, "update-ref", "refs/pull/9/head", later);
    git(remote.path, "update-ref", "-d", "refs/heads/fork-tmp");
    await cache.sync(ref, null, ["refs/pull/9/head"]);
    const dir = join(tempDir("devs-ws-"), "ws");
    const fork = await cache.checkout(ref, dir, { kind: "pull", number: 9, headRef: "main", headSha: approved, sameRepo: false }, identity);
    expect(fork.baseSha).toBe(approved);
    expect(readFileSync(join(dir, "fork.txt"), "utf8")).toBe("approved\n");
  });
});

describe("the tree a fork's container is defined from", () => {
  const BASE_DEVCONTAINER = { ".devcontainer/devcontainer.json": '{ "image": "base-image" }\n', ".devcontainer/Dockerfile": "FROM base\n" };

  /** The base repository with its devcontainer on main, and a fork's commit reachable only as refs/pull/9/head. */
  async function forkPullRequest(forkFiles: Record<string, string>) {
    const { remote, cache, ref } = setup();
    remote.commit(BASE_DEVCONTAINER, "devcontainer");
    const head = remote.commit({ "fork.txt": "fork\n", ...forkFiles }, "fork work", "fork-tmp");
    git(remote.path, "update-ref", "refs/pull/9/head", head);
    git(remote.path, "update-ref", "-d", "refs/heads/fork-tmp");
    await cache.sync(ref, null, ["refs/pull/9/head"]);
    const repo = { owner: "Acme", name: "Widgets", fullName: "Acme/Widgets", cloneUrl: ref.cloneUrl };
    const task = agentTaskFromFork({ repo: "Acme/Widgets", target: { number: 9, pullRequest: { headSha: head } } });
    task.repo = { ...task.repo, ...repo };
    return { cache, task, head, dir: join(tempDir("devs-setup-"), "place") };
  }

  it("is the default branch, checked out apart from the workspace; a fork that changed .devcontainer is told its changes are not used", async () => {
    const { cache, task, head, dir } = await forkPullRequest({ ".devcontainer/devcontainer.json": '{ "image": "fork-image", "postCreateCommand": "touch /tmp/canary" }\n' });
    const setup = await prepareContainerSetup(cache, task, { dir, headSha: head, identity });
    expect(setup.setupDir).toBe(dir);
    expect(readFileSync(join(dir, ".devcontainer/devcontainer.json"), "utf8")).toBe(BASE_DEVCONTAINER[".devcontainer/devcontainer.json"]);
    expect(existsSync(join(dir, "fork.txt"))).toBe(false);
    expect(setup.note).toBe(
      "This pull request comes from a fork, so its container is built from Acme/Widgets's default branch (`main`); changes to `.devcontainer` in the pull request are not used.",
    );
  });

  it("a fork that changed only a Dockerfile in .devcontainer, or added a .devcontainer.json, is told too", async () => {
    const changes: Array<Record<string, string>> = [{ ".devcontainer/Dockerfile": "FROM evil\n" }, { ".devcontainer.json": '{ "image": "fork-image" }\n' }];
    for (const files of changes) {
      const { cache, task, head, dir } = await forkPullRequest(files);
      expect((await prepareContainerSetup(cache, task, { dir, headSha: head, identity })).note).toMatch(/^This pull request comes from a fork/);
    }
  });

  it("a fork that left the devcontainer files alone gets the same tree and no note", async () => {
    const { cache, task, head, dir } = await forkPullRequest({});
    const setup = await prepareContainerSetup(cache, task, { dir, headSha: head, identity });
    expect(setup).toEqual({ setupDir: dir, note: null });
    expect(readFileSync(join(dir, ".devcontainer/Dockerfile"), "utf8")).toBe("FROM base\n");
  });

  it("a pull request from a branch of the repository is set up from its own workspace: nothing is checked out", async () => {
    const { cache } = setup();
    const dir = join(tempDir("devs-setup-"), "place");
    expect(await prepareContainerSetup(cache, agentTaskOnPullRequest(), { dir, headSha: "a".repeat(40), identity })).toEqual({ note: null });
    expect(existsSync(dir)).toBe(false);
  });
});
