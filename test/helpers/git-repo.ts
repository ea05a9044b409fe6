// Real repositories for tests: a bare "remote" with commits made through a scratch clone.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tempDir } from "./settings.js";

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: cwd, GIT_AUTHOR_NAME: "T", GIT_AUTHOR_EMAIL: "t@example.invalid", GIT_COMMITTER_NAME: "T", GIT_COMMITTER_EMAIL: "t@example.invalid" },
  }).trim();
}

export interface BareRepo {
  /** The bare repository's path. */
  path: string;
  /** A working clone that pushes to it. */
  work: string;
  commit(files: Record<string, string>, message: string, branch?: string): string;
}

/** `root/owner/name.git` with a first commit on main. */
export function bareRepo(root: string, owner: string, name: string, files: Record<string, string> = { "README.md": "# hello\n" }): BareRepo {
  const path = join(root, owner, `${name}.git`);
  mkdirSync(path, { recursive: true });
  git(path, "init", "--bare", "--quiet", "--initial-branch=main");
  const work = tempDir("devs-work-");
  git(work, "init", "--quiet", "--initial-branch=main");
  git(work, "remote", "add", "origin", path);
  const repo: BareRepo = {
    path,
    work,
    commit(changes, message, branch = "main") {
      const current = git(work, "symbolic-ref", "--short", "HEAD");
      if (current !== branch) {
        const exists = git(work, "branch", "--list", branch) !== "";
        git(work, "checkout", "--quiet", ...(exists ? [branch] : ["-b", branch]));
      }
      for (const [file, content] of Object.entries(changes)) {
        mkdirSync(dirname(join(work, file)), { recursive: true });
        writeFileSync(join(work, file), content);
      }
      git(work, "add", "-A");
      git(work, "commit", "--quiet", "-m", message);
      git(work, "push", "--quiet", "origin", branch);
      return git(work, "rev-parse", "HEAD");
    },
  };
  repo.commit(files, "first commit");
  return repo;
}
