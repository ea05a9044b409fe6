// The names of a task's places: its container, its workspace directory and its bridge directory,
// all from one function so they can never disagree. A place belongs to one slot, one
// repository and one trust: a fork's code never shares a container or a directory with the
// maintainers' tasks of that repository.
//
// Names are a readable part plus a hash of the exact identity. The readable part alone is
// ambiguous (`acme/big-app` and `acme-big/app` both read `acme-big-app`); the hash of the
// lower-cased owner/repo (GitHub's names are case-insensitive), the slot and the trust is not.
import type { Task } from "../tasks/task.js";
import { sha256 } from "./hash.js";
import { safeName } from "../names/safe-name.js";

/**
 * `maintainers`: code the repository's writers put there (pushes, the agent's own work, pull
 * requests from branches of the repository). `fork`: a pull request from a fork, whose code anyone
 * could have written.
 */
export type Trust = "maintainers" | "fork";

export interface PlaceKey {
  /** The slot (a CONTAINER_POOL name). */
  slot: string;
  owner: string;
  repo: string;
  trust: Trust;
}

/** A CI run of a fork's pull request, or an agent task on one, runs the fork's code. */
export function trustOf(task: Task): Trust {
  if (task.kind === "ci") return task.ci?.pullRequest?.fromFork ? "fork" : "maintainers";
  return task.target.pullRequest?.fromFork ? "fork" : "maintainers";
}

/** Longest readable part kept: directory names stop at 255 bytes. */
const READABLE_MAX = 120;

/**
 * `<slot>-<owner>-<repo>[-fork]-<hash>`: lower-case, only `[a-z0-9_.-]` (safe for Docker names
 * and as one path segment), unique for each (slot, owner/repo, trust).
 */
export function placeName(key: PlaceKey): string {
  const part = (s: string) => safeName(s, "docker");
  const readable = `${part(key.slot)}-${part(key.owner)}-${part(key.repo)}${key.trust === "fork" ? "-fork" : ""}`.slice(0, READABLE_MAX);
  const identity = JSON.stringify([key.slot, `${key.owner}/${key.repo}`.toLowerCase(), key.trust]);
  return `${readable}-${sha256(identity).slice(0, 12)}`;
}

/** The place of a task that runs in `slot`. */
export function placeOf(slot: string, task: Task): PlaceKey {
  return { slot, owner: task.repo.owner, repo: task.repo.name, trust: trustOf(task) };
}
