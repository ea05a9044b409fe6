// A minimal Docker image holding the real Claude Code CLI, for integration and end-to-end tests.
// No registry is reachable, so it is assembled here: the CLI's linux-x64 native binary from npm
// (`npm pack` of @anthropic-ai/claude-code, whose optionalDependencies name the platform package
// that carries the binary), the glibc files `ldd` names, bash (the Bash tool refuses busybox sh),
// git (the agent runs it) and busybox's applets, then `docker import`. Idempotent: an image with
// the right tag and recipe is reused; the downloaded binary is cached under .devs-test/.
// A second image, the base image, is the same root fs without Claude Code (but with the glibc files
// it loads, as any glibc distribution has them): what the server's own CLI (AGENT_CLI=bundled) meets
// in a devcontainer image that never heard of Claude.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, rename, rm, rmdir, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The CLI version the tests pin (its stream format and flags are what the product parses). */
export const CLAUDE_CODE_VERSION = process.env.DEVS_TEST_CLAUDE_VERSION || "2.1.332";
/** Bump when the image's contents change, so an old image of the same version is rebuilt. */
const RECIPE = "1";
const PACKAGE = "@anthropic-ai/claude-code";
const PLATFORM_PACKAGE = `${PACKAGE}-linux-x64`;

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const CACHE_DIR = join(REPO_ROOT, ".devs-test", "claude-code");

export const claudeImageTag = (version = CLAUDE_CODE_VERSION) => `devs-test-claude:${version}`;
export const BASE_IMAGE_TAG = `devs-test-base:${RECIPE}`;

export interface ClaudeImage {
  tag: string;
  version: string;
  /** False when an existing image was reused. */
  built: boolean;
  /** Milliseconds spent: fetching the binary (0 when cached), assembling the root fs, importing. */
  timings: { fetchMs: number; rootfsMs: number; importMs: number };
}

/** Is a Docker engine answering? `docker info` with a time limit; the reason when not. */
export async function dockerEngine(): Promise<{ ok: true } | { ok: false; why: string }> {
  try {
    await run("docker", ["info", "--format", "{{.ServerVersion}}"], { timeout: 15_000 });
    return { ok: true };
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    return { ok: false, why: (e.stderr || e.message).trim().split("\n").at(-1) ?? "docker info failed" };
  }
}

export async function ensureClaudeImage(version = CLAUDE_CODE_VERSION): Promise<ClaudeImage> {
  const tag = claudeImageTag(version);
  const timings = { fetchMs: 0, rootfsMs: 0, importMs: 0 };
  if (await imageIsCurrent(tag)) return { tag, version, built: false, timings };
  return withLock(`devs-test-claude-${version}`, async () => {
    if (await imageIsCurrent(tag)) return { tag, version, built: false, timings };
    let t = Date.now();
    const binary = await claudeBinary(version);
    timings.fetchMs = Date.now() - t;
    t = Date.now();
    const root = await mkdtemp(join(tmpdir(), "devs-claude-rootfs-"));
    try {
      await assembleRootfs(root, { claude: binary, libraryDonors: [binary] });
      timings.rootfsMs = Date.now() - t;
      t = Date.now();
      await importRootfs(root, tag);
      timings.importMs = Date.now() - t;
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    if (!(await imageIsCurrent(tag))) throw new Error(`docker import did not produce ${tag}`);
    return { tag, version, built: true, timings };
  });
}

/**
 * bash, git, busybox and glibc, no Node and no Claude Code: the libraries are those of the server's
 * installed linux-x64 build (`ldd`), so the binary mounted in later finds what it loads.
 */
export async function ensureBaseImage(): Promise<{ tag: string; built: boolean }> {
  const tag = BASE_IMAGE_TAG;
  if (await imageIsCurrent(tag)) return { tag, built: false };
  return withLock("devs-test-base", async () => {
    if (await imageIsCurrent(tag)) return { tag, built: false };
    const root = await mkdtemp(join(tmpdir(), "devs-base-rootfs-"));
    try {
      await assembleRootfs(root, { claude: null, libraryDonors: [installedClaudeBinary()] });
      await importRootfs(root, tag, "devs-webhook test image: bash, git, glibc, no Claude Code");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    if (!(await imageIsCurrent(tag))) throw new Error(`docker import did not produce ${tag}`);
    return { tag, built: true };
  });
}

/** The linux-x64 glibc build npm installed for the server (what AGENT_CLI=bundled mounts). */
export function installedClaudeBinary(): string {
  return join(dirname(createRequire(import.meta.url).resolve(`${PLATFORM_PACKAGE}/package.json`)), "claude");
}

async function imageIsCurrent(tag: string): Promise<boolean> {
  try {
    const { stdout } = await run("docker", ["image", "inspect", "--format", "{{json .Config.Env}}", tag]);
    return (JSON.parse(stdout) as string[]).includes(`DEVS_TEST_IMAGE_RECIPE=${RECIPE}`);
  } catch {
    return false;
  }
}

/**
 * The native binary for linux-x64 glibc, cached per version. The wrapper package is read first:
 * its optionalDependencies say which platform package (and version) carries the binary.
 */
export async function claudeBinary(version = CLAUDE_CODE_VERSION): Promise<string> {
  const dir = join(CACHE_DIR, version);
  const binary = join(dir, "claude");
  if (existsSync(binary)) return binary;
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(join(dir, "fetch-"));
  try {
    const wrapper = await npmPack(`${PACKAGE}@${version}`, work);
    const manifest = JSON.parse(await tarFile(wrapper, "package/package.json")) as { optionalDependencies?: Record<string, string> };
    const platformVersion = manifest.optionalDependencies?.[PLATFORM_PACKAGE];
    if (!platformVersion) {
      throw new Error(`${PACKAGE}@${version} names no ${PLATFORM_PACKAGE} package: this version ships no native binary (use 2.1 or later)`);
    }
    const platform = await npmPack(`${PLATFORM_PACKAGE}@${platformVersion}`, work);
    await run("tar", ["-xzf", platform, "-C", work, "package/claude"]);
    await chmod(join(work, "package/claude"), 0o755);
    const { stdout } = await run(join(work, "package/claude"), ["--version"], { timeout: 60_000 });
    if (!stdout.includes(platformVersion)) throw new Error(`the downloaded binary reports "${stdout.trim()}", not ${platformVersion}`);
    // Rename last, so a half-finished download is never taken for the binary.
    await rename(join(work, "package/claude"), binary);
    return binary;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `npm pack <spec>` into dir (uses npm's cache; touches no package.json); returns the tarball. */
async function npmPack(spec: string, dir: string): Promise<string> {
  const { stdout } = await run("npm", ["pack", spec, "--json", "--pack-destination", dir, "--silent"], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 10 * 60_000,
  });
  const [info] = JSON.parse(stdout) as Array<{ filename: string }>;
  if (!info) throw new Error(`npm pack ${spec} reported nothing`);
  return join(dir, info.filename.replace(/^@/, "").replace(/\//g, "-"));
}

async function tarFile(tarball: string, member: string): Promise<string> {
  const { stdout } = await run("tar", ["-xzOf", tarball, member], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

const PATH = "/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin";

/** `claude`: the binary to install as /usr/local/bin/claude, or none; `libraryDonors`: whose `ldd` libraries go in too. */
async function assembleRootfs(root: string, content: { claude: string | null; libraryDonors: string[] }): Promise<void> {
  // Merged /usr, as on Debian: /bin, /lib and /lib64 are links into /usr.
  for (const dir of ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "usr/local/bin", "usr/share", "etc", "root", "tmp", "workspace", "proc", "sys", "dev", "var/tmp"]) {
    await mkdir(join(root, dir), { recursive: true });
  }
  for (const link of ["bin", "sbin", "lib", "lib64"]) await symlink(`usr/${link}`, join(root, link));
  await chmod(join(root, "tmp"), 0o1777);
  await chmod(join(root, "var/tmp"), 0o1777);
  await chmod(join(root, "root"), 0o700);

  if (content.claude) await place(root, content.claude, "/usr/local/bin/claude");
  // Debian's bash-static needs nothing else; otherwise the system bash and its libraries.
  const bash = existsSync("/bin/bash-static") ? "/bin/bash-static" : "/usr/bin/bash";
  await place(root, bash, "/usr/bin/bash");
  await place(root, await which("git"), "/usr/bin/git");
  // git runs some of its own commands (gc --auto after a commit) through its exec path.
  await mkdir(join(root, "usr/lib/git-core"), { recursive: true });
  await symlink("../../bin/git", join(root, "usr/lib/git-core/git"));
  if (existsSync("/usr/share/git-core/templates")) {
    await run("cp", ["-a", "/usr/share/git-core", join(root, "usr/share/")]);
  }
  for (const binary of [...content.libraryDonors, bash, await which("git")]) {
    for (const lib of await sharedLibraries(binary)) await place(root, lib, lib);
  }

  const busybox = "/bin/busybox";
  if (!existsSync(busybox)) throw new Error(`${busybox} is missing: install Debian's busybox-static`);
  await place(root, busybox, "/usr/bin/busybox");
  const { stdout } = await run(busybox, ["--list"]);
  for (const applet of stdout.split("\n").filter(Boolean)) {
    const target = join(root, "usr/bin", applet);
    if (applet !== "busybox" && !existsSync(target)) await symlink("busybox", target);
  }

  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  await writeFile(join(root, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  await writeFile(join(root, "etc/nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n");
  await writeFile(join(root, "etc/hosts"), "127.0.0.1 localhost\n::1 localhost\n");
  // A bind-mounted workspace belongs to whoever made it; and the agent's commits need an author.
  await writeFile(
    join(root, "etc/gitconfig"),
    "[safe]\n\tdirectory = *\n[user]\n\tname = Test Agent\n\temail = agent@devs-test.invalid\n[init]\n\tdefaultBranch = main\n",
  );
}

/** Absolute paths of the shared objects `ldd` says a binary loads (none for a static one). */
async function sharedLibraries(binary: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run("ldd", [binary]));
  } catch {
    return []; // "not a dynamic executable"
  }
  const libs: string[] = [];
  for (const line of stdout.split("\n")) {
    const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)/.exec(line);
    if (match?.[1]) libs.push(match[1]);
  }
  if (libs.length === 0) throw new Error(`ldd named no libraries for ${binary}:\n${stdout}`);
  return libs;
}

/** Copies a file (following links) to the same path under /usr in the image. */
async function place(root: string, from: string, to: string): Promise<void> {
  const inImage = to.replace(/^\/(bin|sbin|lib|lib64)\//, "/usr/$1/");
  const target = join(root, inImage);
  await mkdir(dirname(target), { recursive: true });
  if (existsSync(target)) return;
  await copyFile(from, target);
  await chmod(target, (await stat(from)).mode & 0o7777);
}

async function which(name: string): Promise<string> {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const candidate = join(dir, name);
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is not installed on this machine (needed for the test image)`);
}

/** tar of the root fs piped into `docker import`, with the environment the CLI needs. */
async function importRootfs(root: string, tag: string, message = "devs-webhook test image: Claude Code CLI"): Promise<void> {
  const changes = [
    `ENV PATH=${PATH}`,
    "ENV SHELL=/bin/bash",
    "ENV HOME=/root",
    "ENV LANG=C.UTF-8",
    `ENV DEVS_TEST_IMAGE_RECIPE=${RECIPE}`,
    "WORKDIR /workspace",
    'CMD ["/bin/bash"]',
  ];
  const entries = await readdir(root);
  const tar = spawn("tar", ["-C", root, "--numeric-owner", "--owner=0", "--group=0", "-cf", "-", ...entries], { stdio: ["ignore", "pipe", "pipe"] });
  const docker = spawn("docker", ["import", ...changes.flatMap((c) => ["--change", c]), "--message", message, "-", tag], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  tar.stdout.pipe(docker.stdin);
  const [tarResult, dockerResult] = await Promise.all([finished(tar, "tar"), finished(docker, "docker import")]);
  for (const result of [tarResult, dockerResult]) if (result) throw new Error(result);
}

/** Resolves with null on exit 0, else with a message carrying the tool's stderr. */
function finished(child: ReturnType<typeof spawn>, name: string): Promise<string | null> {
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    child.on("error", (error) => resolve(`${name}: ${error.message}`));
    child.on("close", (code) => resolve(code === 0 ? null : `${name} exited ${code}: ${stderr.trim()}`));
  });
}

/** Serialises builds across test processes (vitest runs files in parallel forks). */
async function withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
  const dir = join(tmpdir(), `${name}.lock`);
  const staleMs = 15 * 60_000; // a first build downloads ~190 MB
  for (;;) {
    try {
      await mkdir(dir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const age = await stat(dir).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > staleMs) await rmdir(dir).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await work();
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

/** The versions of what the image holds, for test logs. */
export async function describeImage(tag: string): Promise<string> {
  const { stdout } = await run("docker", ["run", "--rm", "--network", "none", tag, "bash", "-c", "claude --version; git --version; bash --version | head -1"]);
  return stdout.trim();
}
