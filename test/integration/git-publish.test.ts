// Collecting and pushing the agent's work with real git, including a hostile workspace.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { exportChanges, ExportError } from "../../src/publish/export-changes.js";
import { collectChanges, parseBundleHeader, pushCommit, remoteBranchExists } from "../../src/publish/git-publish.js";
import { RepoCache } from "../../src/workspace/repo-cache.js";
import { bareRepo, git } from "../helpers/git-repo.js";
import { localExportExec } from "../helpers/local-exec.js";
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
  const bundle = `${scratch}.bundle`;
  // The container's side, run here with the test's own git in the workspace.
  const exportBundle = (maxBytes?: number) =>
    exportChanges(localExportExec(workspace), { baseSha, identity, target: bundle, signal: AbortSignal.timeout(20_000), ...(maxBytes ? { maxBytes } : {}) });
  const importBundle = () => collectChanges({ bundle, cache: cachePath, scratch, baseSha, identity, message: "Fix the thing\n\nRequested by @alice" });
  const collect = async () => {
    await exportBundle();
    return importBundle();
  };
  return { remote, workspace, baseSha, scratch, bundle, cachePath, collect, exportBundle, importBundle, ref };
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

  it("a nested repository the agent left is not taken (no gitlink), and is named", async () => {
    const s = await setup();
    const nested = join(s.workspace, "vendor", "other");
    mkdirSync(nested, { recursive: true });
    git(nested, "init", "-q");
    writeFileSync(join(nested, "x.txt"), "x\n");
    git(nested, "add", "x.txt");
    git(nested, "-c", "user.name=x", "-c", "user.email=x@y", "commit", "-q", "-m", "nested");
    writeFileSync(join(s.workspace, "kept.txt"), "kept\n");
    expect((await s.exportBundle()).nestedRepositories).toEqual(["vendor/other"]);
    const result = await s.importBundle();
    expect(result.droppedGitlinks).toEqual([]);
    expect(result.files).toEqual(["kept.txt"]);
    expect(git(s.scratch, "ls-tree", "-r", result.headSha)).not.toContain("160000");
  });

  it("an agent commit that records a nested repository: its history is left out, its files kept", async () => {
    const s = await setup();
    const nested = join(s.workspace, "sub");
    mkdirSync(nested);
    git(nested, "init", "-q");
    git(nested, "-c", "user.name=x", "-c", "user.email=x@y", "commit", "-q", "--allow-empty", "-m", "nested");
    writeFileSync(join(s.workspace, "a.md"), "a\n");
    git(s.workspace, "add", "-A");
    git(s.workspace, "commit", "-q", "-m", "with a gitlink");
    const result = await s.collect();
    expect(result.ignoredAgentHistory).toBe(true);
    expect(result.droppedGitlinks).toEqual(["sub"]);
    expect(git(s.scratch, "rev-parse", `${result.headSha}^`)).toBe(s.baseSha);
    expect(result.files).toEqual(["a.md"]);
  });

  it("a damaged bundle is refused by git's object checks and nothing is published", async () => {
    const s = await setup();
    writeFileSync(join(s.workspace, "new.txt"), "some content that is long enough to be compressed\n".repeat(20));
    await s.exportBundle();
    const bytes = readFileSync(s.bundle);
    const header = parseBundleHeader(bytes)!;
    bytes[header.packOffset + 40]! ^= 0xff;
    writeFileSync(s.bundle, bytes);
    await expect(s.importBundle()).rejects.toThrow(/object checks/);
  });

  it("bytes that are not a bundle, or a bundle without the agent's ref, are refused", async () => {
    const s = await setup();
    writeFileSync(s.bundle, "# v2 git bundle\n" + "0".repeat(40) + " refs/heads/main\n\nPACK");
    await expect(s.importBundle()).rejects.toThrow(/usable git bundle/);
    writeFileSync(s.bundle, "not a bundle at all");
    await expect(s.importBundle()).rejects.toThrow(/usable git bundle/);
  });

  it("a change over the size limit is refused with a clear reason", async () => {
    const s = await setup();
    writeFileSync(join(s.workspace, "big.bin"), randomBytes(200_000));
    await expect(s.exportBundle(50_000)).rejects.toThrow(ExportError);
    await expect(s.exportBundle(50_000)).rejects.toThrow(/larger than/);
  });

  it("a container without git says so", async () => {
    const s = await setup();
    const noGit = (argv: string[], options: Parameters<ReturnType<typeof localExportExec>>[1]) =>
      localExportExec(s.workspace)(argv, { ...options, env: { ...options.env, PATH: "/nonexistent" } });
    await expect(
      exportChanges((argv, options) => noGit(["/bin/sh", ...argv.slice(1)], options), { baseSha: s.baseSha, identity, target: s.bundle, signal: AbortSignal.timeout(5000) }),
    ).rejects.toThrow(/has no git/);
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
