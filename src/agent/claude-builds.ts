// The Claude Code builds the server brings into task containers, and the launcher that picks one.
// npm installs the native binary as a platform package of @anthropic-ai/claude-code (one for glibc,
// one for musl, per CPU); a container runs on the host's CPU but its own C library, which only
// the image knows. So the launcher, a POSIX sh script mounted beside the builds, looks at the
// image's dynamic loader and execs the matching build, or says in one line what the server lacks.
// Pure: the I/O that finds and stages the files is in bundled-cli.ts.

export type Libc = "glibc" | "musl";

export type ClaudeArch = "x64" | "arm64";

export interface ClaudeBuild {
  libc: Libc;
  /** The npm package that carries the binary (its `claude` file). */
  packageName: string;
  /** The dynamic loader an image of this C library has for this CPU. */
  loader: string;
}

/** Where every task container sees the server's Claude Code (read-only). */
export const AGENT_CLI_DIR_IN_CONTAINER = "/opt/devs-webhook/agent";

/** The launcher's path in the container: what the command's `claude` word becomes. */
export const BUNDLED_CLAUDE_PATH = `${AGENT_CLI_DIR_IN_CONTAINER}/claude`;

const LOADERS: Record<ClaudeArch, Record<Libc, string>> = {
  x64: { glibc: "/lib64/ld-linux-x86-64.so.2", musl: "/lib/ld-musl-x86_64.so.1" },
  arm64: { glibc: "/lib/ld-linux-aarch64.so.1", musl: "/lib/ld-musl-aarch64.so.1" },
};

/** Node's name of the CPU, as a Claude Code platform package names it; null for one it has none for. */
export function claudeArch(nodeArch: string): ClaudeArch | null {
  return nodeArch === "x64" || nodeArch === "arm64" ? nodeArch : null;
}

/** The two builds for a CPU: glibc first (most images), then musl (Alpine). */
export function claudeBuilds(arch: ClaudeArch): ClaudeBuild[] {
  const base = `@anthropic-ai/claude-code-linux-${arch}`;
  return [
    { libc: "glibc", packageName: base, loader: LOADERS[arch].glibc },
    { libc: "musl", packageName: `${base}-musl`, loader: LOADERS[arch].musl },
  ];
}

/** The command that adds a missing build next to the server (npm skips the other libc's package). */
export function installHint(build: ClaudeBuild, version: string, arch: ClaudeArch): string {
  return `npm install --no-save --os=linux --cpu=${arch} --libc=${build.libc} ${build.packageName}@${version}`;
}

/**
 * The launcher: musl when the image has musl's loader, else glibc; exit 127 with one line on
 * stderr when that build is not on the server or the image has neither C library. Every path in
 * it is absolute and the server's, so nothing the image puts on PATH is run instead.
 */
export function launcherScript(arch: ClaudeArch, version: string, installed: readonly Libc[]): string {
  const [glibc, musl] = claudeBuilds(arch) as [ClaudeBuild, ClaudeBuild];
  const missing = (build: ClaudeBuild) =>
    `echo ${shellQuote(`devs-webhook: this image uses ${build.libc}, but the server has no ${build.libc} build of Claude Code ${version}. On the server, run \`${installHint(build, version, arch)}\` in its folder and restart it, or set AGENT_CLI=image to run the image's own claude.`)} >&2; exit 127`;
  const branch = (build: ClaudeBuild) =>
    installed.includes(build.libc) ? `exec ${AGENT_CLI_DIR_IN_CONTAINER}/${build.libc}/claude "$@"` : missing(build);
  return [
    "#!/bin/sh",
    `# devs-webhook: runs the server's Claude Code ${version} build for this image's C library.`,
    `if [ -e ${musl.loader} ]; then`,
    `  ${branch(musl)}`,
    "fi",
    `if [ -e ${glibc.loader} ]; then`,
    `  ${branch(glibc)}`,
    "fi",
    `echo ${shellQuote(`devs-webhook: this image has neither glibc (${glibc.loader}) nor musl (${musl.loader}), so the server's Claude Code cannot run in it. Install claude in the image and set AGENT_CLI=image.`)} >&2`,
    "exit 127",
    "",
  ].join("\n");
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
