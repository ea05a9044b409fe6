// Which tree defines a task's container. A pull request from a fork may change the files the
// agent or the tests see, never the container they run in: its devcontainer.json, Dockerfile,
// build context and lifecycle commands would run the fork's choices with the place's
// environment. So for a fork the container is set up from the base repository's default branch,
// checked out on the host into a directory no container ever mounts; the workspace still holds
// the fork's files.
import type { Task } from "../tasks/task.js";
import type { CheckoutTarget, Identity, RepoCache } from "../workspace/repo-cache.js";
import { trustOf } from "./naming.js";

export type ContainerSetupSource = "workspace" | "base-default-branch";

export function containerSetupSource(task: Task): ContainerSetupSource {
  return trustOf(task) === "fork" ? "base-default-branch" : "workspace";
}

/** The paths whose contents define a container (devcontainer.ts looks for its file in exactly these). */
const DEVCONTAINER_PATHS = [".devcontainer", ".devcontainer.json"];

export interface ContainerSetup {
  /** The host directory devcontainer.json and the build context are read from; absent: the workspace. */
  setupDir?: string;
  /** One line for the user when the task's own devcontainer files were set aside. */
  note: string | null;
}

/**
 * For a fork's task: the base repository's default branch checked out into `dir` (the place's
 * setup directory), and a note when the head commit's devcontainer files differ from it, compared
 * in the host's own cache. Nothing for any other task.
 */
export async function prepareContainerSetup(
  repoCache: Pick<RepoCache, "checkout" | "treeEntries">,
  task: Task,
  options: { dir: string; headSha: string; identity: Identity },
): Promise<ContainerSetup> {
  if (containerSetupSource(task) === "workspace") return { note: null };
  const repo = { owner: task.repo.owner, name: task.repo.name, cloneUrl: task.repo.cloneUrl };
  const target: CheckoutTarget = { kind: "branch", branch: task.repo.defaultBranch };
  const base = await repoCache.checkout(repo, options.dir, target, options.identity);
  const [ours, theirs] = await Promise.all([
    repoCache.treeEntries(repo, base.baseSha, DEVCONTAINER_PATHS),
    repoCache.treeEntries(repo, options.headSha, DEVCONTAINER_PATHS),
  ]);
  return { setupDir: options.dir, note: ours === theirs ? null : forkSetupNote(task) };
}

function forkSetupNote(task: Task): string {
  return (
    `This pull request comes from a fork, so its container is built from ${task.repo.fullName}'s default branch ` +
    `(\`${task.repo.defaultBranch.replace(/`/g, "")}\`); changes to \`.devcontainer\` in the pull request are not used.`
  );
}
