// The server's own Claude Code, made ready to mount into every task container (AGENT_CLI=bundled).
// The builds npm installed next to the server are found by Node's package resolution and staged,
// with the launcher (claude-builds.ts), in a folder under DATA_DIR: hard links when the folder is
// on the same file system as node_modules, copies otherwise. DATA_DIR because a bind mount's
// source is a path on the Docker host, and DATA_DIR is the folder the server already shares with
// the host at the same path when it runs in a container itself (docker-compose.yml). The folder
// is mounted read-only, so no task can change what the next one runs; its name carries the
// version and a hash of its contents, so an upgrade makes a new folder, and containers made with
// the old one are recreated (the mount is part of their identity).
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { BindMount } from "../containers/docker.js";
import { AGENT_CLI_DIR_IN_CONTAINER, claudeArch, claudeBuilds, installHint, launcherScript, type Libc } from "./claude-builds.js";

export class BundledCliError extends Error {
  override name = "BundledCliError";
}

export interface StagedCli {
  /** The staged folder on the host (mounted read-only at AGENT_CLI_DIR_IN_CONTAINER). */
  dir: string;
  version: string;
  /** The C libraries the server has a build for. */
  installed: Libc[];
}

export interface StageOptions {
  dataDir: string;
  /** Node's name of the CPU (default: this process's): containers run on the engine's, which is this host's. */
  arch?: string;
  /** A package's folder, or null when it is not installed (default: Node's resolution from here). */
  packageDir?: (name: string) => string | null;
}

const require = createRequire(import.meta.url);

function resolvedPackageDir(name: string): string | null {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    return null;
  }
}

interface FoundBuild {
  libc: Libc;
  binary: string;
  version: string;
  size: number;
  mtimeMs: number;
}

/** Stages the builds and the launcher (or finds them staged); throws BundledCliError when none is installed. */
export function stageBundledCli(options: StageOptions): StagedCli {
  const nodeArch = options.arch ?? process.arch;
  const arch = claudeArch(nodeArch);
  if (!arch) throw new BundledCliError(`Claude Code has no Linux build for this CPU (${nodeArch}): set AGENT_CLI=image and install claude in the images`);
  const packageDir = options.packageDir ?? resolvedPackageDir;
  const builds = claudeBuilds(arch);
  const found: FoundBuild[] = [];
  for (const build of builds) {
    const dir = packageDir(build.packageName);
    if (!dir) continue;
    const binary = join(dir, "claude");
    const stat = statSync(binary, { throwIfNoEntry: false });
    if (!stat?.isFile()) continue;
    const { version } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string };
    found.push({ libc: build.libc, binary, version, size: stat.size, mtimeMs: stat.mtimeMs });
  }
  if (!found.length) {
    throw new BundledCliError(
      `AGENT_CLI=bundled needs Claude Code's linux-${arch} build next to the server, and neither ${builds.map((b) => b.packageName).join(" nor ")} is installed: ` +
        `run \`npm install\` in the server's folder (or \`${installHint(builds[0]!, "latest", arch)}\`), or set AGENT_CLI=image`,
    );
  }
  const version = found[0]!.version;
  const launcher = launcherScript(arch, version, found.map((b) => b.libc));
  const identity = createHash("sha256")
    .update(JSON.stringify({ launcher, builds: found.map(({ libc, version: v, size, mtimeMs }) => [libc, v, size, mtimeMs]) }))
    .digest("hex")
    .slice(0, 12);
  const root = join(options.dataDir, "agent-cli");
  const dir = join(root, `${version}-${identity}`);
  if (!isStaged(dir, launcher, found)) {
    mkdirSync(root, { recursive: true });
    const staging = join(root, `${STAGING_PREFIX}${randomBytes(6).toString("hex")}`);
    try {
      stageInto(staging, launcher, found);
      // A folder that no longer matches what is installed is moved aside (and pruned below).
      if (statSync(dir, { throwIfNoEntry: false })) renameSync(dir, join(root, `.replaced-${randomBytes(6).toString("hex")}`));
      renameSync(staging, dir);
    } catch (error) {
      // Another process on this DATA_DIR may have staged the same folder first.
      rmSync(staging, { recursive: true, force: true });
      if (!isStaged(dir, launcher, found)) throw error;
    }
  }
  pruneOthers(root, dir);
  return { dir, version, installed: found.map((b) => b.libc) };
}

/** The read-only mount every task container gets. */
export function bundledCliMount(staged: StagedCli): BindMount {
  return { source: staged.dir, target: AGENT_CLI_DIR_IN_CONTAINER, readOnly: true };
}

const STAGING_PREFIX = ".staging-";
/** A staging folder older than this was left by a process that died mid-way. */
const STALE_STAGING_MS = 60 * 60_000;

function stageInto(staging: string, launcher: string, builds: readonly FoundBuild[]): void {
  mkdirSync(staging);
  writeFileSync(join(staging, "claude"), launcher);
  // Readable and runnable by any user an image runs as, whatever this process's umask.
  chmodSync(join(staging, "claude"), 0o755);
  for (const build of builds) {
    const target = join(staging, build.libc, "claude");
    mkdirSync(dirname(target));
    chmodSync(dirname(target), 0o755);
    try {
      linkSync(build.binary, target);
    } catch {
      copyFileSync(build.binary, target); // another file system (the server in a container)
      chmodSync(target, 0o755);
    }
  }
  chmodSync(staging, 0o755);
}

function isStaged(dir: string, launcher: string, builds: readonly FoundBuild[]): boolean {
  try {
    if (readFileSync(join(dir, "claude"), "utf8") !== launcher) return false;
    return builds.every((build) => statSync(join(dir, build.libc, "claude")).size === build.size);
  } catch {
    return false;
  }
}

/**
 * Earlier versions' folders go (containers made with one are recreated before they start again),
 * and so do staging folders a crash left behind. Best effort: a folder that cannot be removed
 * costs disk space, not correctness.
 */
function pruneOthers(root: string, keep: string): void {
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (path === keep || !entry.isDirectory()) continue;
    if (entry.name.startsWith(STAGING_PREFIX)) {
      const age = Date.now() - (statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age < STALE_STAGING_MS) continue;
    }
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // see above
    }
  }
}
