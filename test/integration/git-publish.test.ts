// Collecting and pushing the agent's work with real git, including a hostile workspace.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { collectChanges, pushCommit, remoteBranchExists } from "../../src/publish/git-publish.js";
import { RepoCache } from "../../src/workspace/repo-cache.js";
import { bareRepo, git } from "../helpers/git-repo.js";
import { tempDir } from "../helpers/settings.js";

const identity = { name: "devs-bot[bot]", email: "9+devs-bot[bot]@users.noreply.github.com" };

async function setup() {
  const remote = bareRepo(tempDir("devs-remotes-"), "acme", "widgets", { "README.md": "v1\n", "src/a.txt": "a\n" });
  const cache = new RepoCache(tempDir("devs-cache-"));
  const ref = { owner: "acme", name: "widgets", cloneUrl: `file://${remote.path}` };
  const cachePath = await cache.sync(ref, null);
  const workspace = join(tempDir("devs-ws-"), "ws");
  const { baseSha } = await cache.checkout(ref, workspace, { kind: "branch", branch: "main" }, identity);
  const scratch = join(tempDir("devs-scratch-"), "publish.git");
  const collect = () => collectChanges({ workspace, cache: cachePath, scratch, baseSha, identity, message: "Fix the thing\n\nRequested by @alice" });
  return { remote, workspace, baseSha, scratch, collect, ref };
}

describe("collectChanges", () => {
  it("nothing changed: no commit", async () => {
    const s = await setup();
    expect(await s.collect()).toMatchObject({ changed: false, headSha: s.baseSha, files: [] });
  });

  it("uncommitted edits, new and deleted files become one commit by the bot on the base", async () => {
    const s = await setup();
    writeFileSync(join(s.workspace, "README.md"), "v2\n");
    writeFileSync(join(s.workspace, "new.txt"), "new\n");
    rmSync(join(s.workspace, "src/a.txt"));
    const result = await s.collect();
    expect(result.changed).toBe(true);
    expect(result.files.sort()).toEqual(["README.md", "new.txt", "src/a.txt"]);
    expect(git(s.scratch, "log", "-1", "--format=%an <%ae>|%cn|%P|%s", result.headSha)).toBe(`${identity.name} <${identity.email}>|${identity.name}|${s.baseSha}|Fix the thing`);
  });

  it("the agent's own commits are kept, plus what it left uncommitted", async () => {
    const s = await setup();
    writeFileSync(join(s.workspace, "one.txt"), "1\n");
    git(s.workspace, "add", "one.txt");
    git(s.workspace, "commit", "-q", "-m", "agent commit");
    const agentSha = git(s.workspace, "rev-parse", "HEAD");
    writeFileSync(join(s.workspace, "two.txt"), "2\n");
    const result = await s.collect();
    expect(git(s.scratch, "rev-parse", `${result.headSha}^`)).toBe(agentSha);
    expect(git(s.scratch, "log", "--format=%s", `${s.baseSha}..${result.headSha}`).split("\n")).toEqual(["Fix the thing", "agent commit"]);
    expect(result.files.sort()).toEqual(["one.txt", "two.txt"]);
  });

  it("agent commits only (clean tree): published as they are", async () => {
    const s = await setup();
    writeFileSync(join(s.workspace, "one.txt"), "1\n");
    git(s.workspace, "add", "one.txt");
    git(s.workspace, "commit", "-q", "-m", "agent commit");
    const result = await s.collect();
    expect(result.headSha).toBe(git(s.workspace, "rev-parse", "HEAD"));
    expect(result.changed).toBe(true);
  });

  it("history rewritten below the base: only the files are taken, on the base", async () => {
    const s = await setup();
    git(s.workspace, "checkout", "-q", "--orphan", "other");
    writeFileSync(join(s.workspace, "README.md"), "rewritten\n");
    git(s.workspace, "add", "-A");
    git(s.workspace, "commit", "-q", "-m", "orphan");
    const result = await s.collect();
    expect(result.ignoredAgentHistory).toBe(true);
    expect(git(s.scratch, "rev-parse", `${result.headSha}^`)).toBe(s.baseSha);
    expect(git(s.scratch, "show", `${result.headSha}:README.md`)).toBe("rewritten");
  });

  it("a removed .git still publishes the files", async () => {
    const s = await setup();
    rmSync(join(s.workspace, ".git"), { recursive: true, force: true });
    writeFileSync(join(s.workspace, "README.md"), "v3\n");
    const result = await s.collect();
    expect(result.files).toEqual(["README.md"]);
  });

  it("hooks, fsmonitor and filter drivers planted by the agent never run on the host", async () => {
    const s = await setup();
    const proof = join(tempDir("devs-proof-"), "pwned");
    const script = join(s.workspace, ".git", "evil.sh");
    writeFileSync(script, `#!/bin/sh\ntouch ${proof}\ncat\n`);
    chmodSync(script, 0o755);
    mkdirSync(join(s.workspace, ".git", "hooks"), { recursive: true });
    for (const hook of ["pre-commit", "post-checkout", "pre-push", "reference-transaction"]) {
      writeFileSync(join(s.workspace, ".git", "hooks", hook), `#!/bin/sh\ntouch ${proof}\n`);
      chmodSync(join(s.workspace, ".git", "hooks", hook), 0o755);
    }
    git(s.workspace, "config", "core.fsmonitor", script);
    git(s.workspace, "config", "filter.evil.clean", script);
    git(s.workspace, "config", "core.hooksPath", join(s.workspace, ".git", "hooks"));
    writeFileSync(join(s.workspace, ".gitattributes"), "*.txt filter=evil\n");
    writeFileSync(join(s.workspace, "x.txt"), "data\n");
    const result = await s.collect();
    expect(result.changed).toBe(true);
    expect(existsSync(proof)).toBe(false);
  });
});

describe("pushCommit", () => {
  it("pushes a new branch, refuses to overwrite a branch that moved, and reports branch existence", async () => {
    const s = await setup();
    writeFileSync(join(s.workspace, "README.md"), "agent\n");
    const result = await s.collect();
    expect(await remoteBranchExists(s.scratch, s.ref.cloneUrl, null, "devs/issue-1-x")).toBe(false);
    expect(await pushCommit(s.scratch, s.ref.cloneUrl, null, result.headSha, "devs/issue-1-x")).toBe("pushed");
    expect(git(s.remote.path, "rev-parse", "refs/heads/devs/issue-1-x")).toBe(result.headSha);
    expect(await remoteBranchExists(s.scratch, s.ref.cloneUrl, null, "devs/issue-1-x")).toBe(true);
    // main moved on since the task started: a direct commit is rejected, not forced.
    s.remote.commit({ "other.txt": "x\n" }, "someone else", "main");
    expect(await pushCommit(s.scratch, s.ref.cloneUrl, null, result.headSha, "main")).toBe("rejected");
    expect(readFileSync(join(s.workspace, "README.md"), "utf8")).toBe("agent\n");
  });
});
