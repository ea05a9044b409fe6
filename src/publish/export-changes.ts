// Takes the agent's work out of its container as data. The container's own git (whatever the
// image ships, and whatever config, hooks or alternates the agent planted) runs INSIDE the
// container and writes a git bundle to standard output; the host keeps only those bytes, bounded
// in size, and verifies them (see importBundle in git-publish.ts). The host never opens the
// workspace's .git, so nothing there — alternates, symlinked refs, nested repositories, hooks —
// can reach a host path or run a host command.
import { closeSync, openSync, writeSync } from "node:fs";
import type { Identity } from "../workspace/repo-cache.js";

/** The bundle holds this one ref: the agent's HEAD plus everything it left uncommitted. */
export const EXPORT_REF = "refs/devs/collected";

/** Lines of the script's stderr that name a nested repository it left out. */
const NESTED_PREFIX = "devs-nested-repository: ";

/** A bigger change is refused (a bundle holds only what is new since the base). */
const DEFAULT_MAX_BUNDLE_BYTES = 256 * 1024 * 1024;

/**
 * Runs in the container, in the workspace, as the task's user. $1 is the base commit.
 * A temporary index leaves the agent's own index as it was. When HEAD is unusable (the agent
 * removed or broke .git), a throwaway repository takes the files alone, without history.
 * Exit 3: not a single git command works (git missing).
 */
const EXPORT_SCRIPT = `
set -eu
command -v git >/dev/null 2>&1 || exit 3
base="$1"
idx="$(mktemp "\${TMPDIR:-/tmp}/devs-index.XXXXXX")"; rm -f "$idx"
scratch=""
trap 'rm -f "$idx"; [ -n "$scratch" ] && rm -rf "$scratch"' EXIT
export GIT_INDEX_FILE="$idx"
if head="$(git rev-parse --verify --quiet 'HEAD^{commit}' 2>/dev/null)"; then
  git read-tree "$head"
  set -- -p "$head"
else
  scratch="$(mktemp -d "\${TMPDIR:-/tmp}/devs-git.XXXXXX")"
  git init --quiet "$scratch"
  export GIT_DIR="$scratch/.git" GIT_WORK_TREE="$PWD"
  set --
  base=""
fi
# Nested repositories are not part of this one: they are left out (and named on stderr) rather
# than recorded as gitlinks, and the host drops any gitlink the base does not declare anyway.
ex="$(mktemp "\${TMPDIR:-/tmp}/devs-exclude.XXXXXX")"
trap 'rm -f "$idx" "$ex"; [ -n "$scratch" ] && rm -rf "$scratch"' EXIT
find . -path ./.git -prune -o -name .git -print -prune 2>/dev/null | sed 's#^\\./##; s#/\\.git$##' | while IFS= read -r dir; do
  printf '/%s/\n' "$dir" >> "$ex"
  printf '${NESTED_PREFIX}%s\n' "$dir" >&2
done
export GIT_CONFIG_COUNT=2 GIT_CONFIG_KEY_1=core.excludesFile GIT_CONFIG_VALUE_1="$ex"
git add -A -- .
tree="$(git write-tree)"
commit="$(git commit-tree "$tree" "$@" -m "devs-webhook: the agent's work")"
git update-ref ${EXPORT_REF} "$commit"
if [ -n "$base" ] && git cat-file -e "$base^{commit}" 2>/dev/null; then
  git bundle create --quiet - ${EXPORT_REF} "^$base"
else
  git bundle create --quiet - ${EXPORT_REF}
fi
`;

export class ExportError extends Error {
  override name = "ExportError";
  constructor(
    message: string,
    /** For the log only: what the container's git said. */
    readonly stderr: string[] = [],
  ) {
    super(message);
  }
}

export interface ExportExecOptions {
  env: Record<string, string>;
  /** Raw bytes of standard output. */
  onStdout: (chunk: Buffer) => void;
  onStderr: (line: string) => void;
  signal: AbortSignal;
}

/** Runs argv in the task's container, in its workspace folder, as the task's user. */
export type ExportExec = (argv: string[], options: ExportExecOptions) => Promise<{ exitCode: number }>;

export interface ExportRequest {
  baseSha: string;
  /** Commits made by the script carry this identity (the host re-commits under its own anyway). */
  identity: Identity;
  /** Host file the bundle is written to (mode 0600); its directory is the host's own. */
  target: string;
  maxBytes?: number;
  signal: AbortSignal;
}

export interface ExportResult {
  bytes: number;
  /** Nested repositories the script left out (as the container named them; for a note only). */
  nestedRepositories: string[];
}

/** Writes the agent's work as a bundle to `target`; throws ExportError with a user-safe message. */
export async function exportChanges(exec: ExportExec, request: ExportRequest): Promise<ExportResult> {
  const maxBytes = request.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  const fd = openSync(request.target, "w", 0o600);
  const stderr: string[] = [];
  const nested: string[] = [];
  const tooBig = new AbortController();
  const signal = AbortSignal.any([request.signal, tooBig.signal]);
  let bytes = 0;
  let result: { exitCode: number };
  try {
    result = await exec(["/bin/sh", "-c", EXPORT_SCRIPT, "devs-export", request.baseSha], {
      env: {
        GIT_AUTHOR_NAME: request.identity.name,
        GIT_AUTHOR_EMAIL: request.identity.email,
        GIT_COMMITTER_NAME: request.identity.name,
        GIT_COMMITTER_EMAIL: request.identity.email,
        // The host cloned the workspace, so it may belong to another user than the task's.
        GIT_CONFIG_COUNT: "1",
        GIT_CONFIG_KEY_0: "safe.directory",
        GIT_CONFIG_VALUE_0: "*",
        GIT_TERMINAL_PROMPT: "0",
      },
      onStdout: (chunk) => {
        if (tooBig.signal.aborted) return;
        bytes += chunk.length;
        if (bytes > maxBytes) {
          tooBig.abort(new ExportError(`the change is larger than ${Math.round(maxBytes / 1024 / 1024)} MiB`));
          return;
        }
        writeSync(fd, chunk);
      },
      onStderr: (line) => {
        if (line.startsWith(NESTED_PREFIX)) {
          if (nested.length < 20) nested.push(line.slice(NESTED_PREFIX.length));
        } else if (stderr.length < 50) stderr.push(line);
      },
      signal,
    });
  } catch (error) {
    if (tooBig.signal.aborted) throw tooBig.signal.reason as ExportError;
    throw error;
  } finally {
    closeSync(fd);
  }
  if (tooBig.signal.aborted) throw tooBig.signal.reason as ExportError;
  if (result.exitCode === 3) throw new ExportError("the container has no git, so the agent's changes cannot be taken out of it", stderr);
  if (result.exitCode !== 0) throw new ExportError(`git in the container could not package the agent's changes (exit code ${result.exitCode})`, stderr);
  return { bytes, nestedRepositories: nested };
}
