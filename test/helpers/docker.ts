// Docker for integration tests and benchmarks: find the engine (or say why the tests skip), and
// make a tiny base image with `docker import` from a root filesystem built on the spot from
// Debian's static busybox — no registry is reachable here.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, rmdir, stat, symlink, writeFile, copyFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import type Docker from "dockerode";
import { connectDocker, LABELS } from "../../src/containers/docker.js";

export const BUSYBOX_IMAGE = "devs-test-busybox:latest";
const BUSYBOX = "/bin/busybox";

/**
 * The Docker engine, or null (with a message saying the tests skip) when none answers. With
 * DEVS_REQUIRE_DOCKER=1 a missing engine is an error instead.
 */
export async function requireDocker(): Promise<Docker | null> {
  const docker = connectDocker(process.env.DOCKER_HOST);
  try {
    await withTimeout(docker.ping(), 5_000, "no answer within 5 s");
    return docker;
  } catch (error) {
    const why = `no Docker engine answers at ${process.env.DOCKER_HOST || "/var/run/docker.sock"} (${(error as Error).message}); run .ci/docker.sh as root to install and start one`;
    if (process.env.DEVS_REQUIRE_DOCKER === "1") throw new Error(`DEVS_REQUIRE_DOCKER=1 but ${why}`);
    console.warn(`skipping Docker tests: ${why}`);
    return null;
  }
}

/** A short random tag for names that must not clash with other runs. */
export function runId(): string {
  return randomBytes(3).toString("hex");
}

/**
 * Imports the busybox base image unless it is already there; returns its id. A user `dev`
 * (uid 1000) exists besides root, and every busybox applet is linked into /bin.
 */
export async function ensureBusyboxImage(docker: Docker, tag = BUSYBOX_IMAGE): Promise<string> {
  const existing = await imageId(docker, tag);
  if (existing) return existing;
  return withLock(`devs-test-import-${tag.replace(/[^a-z0-9]+/gi, "-")}`, async () => {
    const again = await imageId(docker, tag);
    if (again) return again;
    if (!existsSync(BUSYBOX)) {
      throw new Error(`${BUSYBOX} is missing: install Debian's busybox-static (.ci/docker.sh does) to build the test image`);
    }
    const root = await mkdtemp(join(tmpdir(), "devs-rootfs-"));
    try {
      await buildRootfs(root);
      await importRootfs(docker, root, tag);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    const id = await imageId(docker, tag);
    if (!id) throw new Error(`docker import did not produce ${tag}`);
    return id;
  });
}

async function buildRootfs(root: string): Promise<void> {
  for (const dir of ["bin", "sbin", "usr/bin", "etc", "root", "home/dev", "tmp", "proc", "sys", "dev", "var/lib", "workspaces"]) {
    await mkdir(join(root, dir), { recursive: true });
  }
  await chmod(join(root, "tmp"), 0o1777);
  await copyFile(BUSYBOX, join(root, "bin/busybox"));
  await chmod(join(root, "bin/busybox"), 0o755);
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean);
  for (const applet of applets) {
    if (applet === "busybox") continue;
    await symlink("busybox", join(root, "bin", applet));
  }
  await writeFile(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\ndev:x:1000:1000:dev:/home/dev:/bin/sh\n");
  await writeFile(join(root, "etc/group"), "root:x:0:\ndev:x:1000:\n");
  await chmod(join(root, "home/dev"), 0o755);
  await writeFile(join(root, "etc/profile"), "");
}

/** `tar` of the folder piped into the engine's import (what `docker import -` does). */
async function importRootfs(docker: Docker, root: string, tag: string): Promise<void> {
  const tar = spawn("tar", ["-C", root, "--numeric-owner", "--owner=0", "--group=0", "-cf", "-", "."], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let tarErr = "";
  tar.stderr.on("data", (d: Buffer) => (tarErr += d.toString()));
  const tarDone = new Promise<void>((resolve, reject) => {
    tar.on("error", reject);
    tar.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}: ${tarErr}`))));
  });
  const [repo, version] = tag.split(":");
  const stream = await docker.importImage(tar.stdout, {
    repo,
    tag: version ?? "latest",
    changes: ['CMD ["/bin/sh"]', "ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"],
  });
  await new Promise<void>((resolve, reject) => {
    docker.modem.followProgress(stream, (error: Error | null, output: Array<{ error?: string }>) => {
      const failed = output?.find((o) => o.error);
      if (error || failed) reject(error ?? new Error(failed?.error));
      else resolve();
    });
  });
  await tarDone;
}

export async function imageId(docker: Docker, ref: string): Promise<string | null> {
  try {
    return (await docker.getImage(ref).inspect()).Id;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return null;
    throw error;
  }
}

/** Removes every managed container of one slot (a test run's unique one). */
export async function removePoolContainers(docker: Docker, pool: string): Promise<void> {
  const containers = await docker.listContainers({ all: true, filters: { label: [`${LABELS.managed}=true`, `${LABELS.slot}=${pool}`] } });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
}

/** Removes images whose repository starts with the prefix (the tests' `devs-img-<owner>-…`). */
export async function removeImages(docker: Docker, repositoryPrefix: string): Promise<void> {
  const images = await docker.listImages();
  for (const image of images) {
    for (const tag of image.RepoTags ?? []) {
      if (tag.startsWith(repositoryPrefix)) await docker.getImage(tag).remove({ force: true }).catch(() => undefined);
    }
  }
}

/** Lines of `ps` inside a container (busybox ps: PID USER TIME COMMAND). */
export async function psLines(docker: Docker, containerId: string): Promise<string[]> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: ["ps", "-o", "pid,stat,args"], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const out = { write: (c: Buffer) => chunks.push(c) } as unknown as NodeJS.WritableStream;
    docker.modem.demuxStream(stream, out, out);
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", reject);
  });
  return Buffer.concat(chunks).toString("utf8").split("\n").filter(Boolean);
}

/** Serialises image imports across test processes (vitest runs files in parallel forks). */
async function withLock<T>(name: string, work: () => Promise<T>): Promise<T> {
  const dir = join(tmpdir(), `${name}.lock`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      await mkdir(dir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      // A lock older than two minutes was left by a killed process.
      const age = await stat(dir).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 120_000) await rmdir(dir).catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`timed out waiting for the lock ${dir}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await work();
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Command lines of every process in a container, as the engine sees them from the host (`docker
 * top`); a container that is not running has none.
 */
export async function hostProcesses(docker: Docker, containerId: string): Promise<string[]> {
  const handle = docker.getContainer(containerId);
  if (!(await handle.inspect()).State.Running) return [];
  const top = await handle.top({ ps_args: "-o pid,args" }).catch((error: { statusCode?: number }) => (error.statusCode === 409 ? null : Promise.reject(error)));
  return (top?.Processes ?? []).map((row: string[]) => row.join(" "));
}

/** Names of the entries directly in `path`, read through the archive API (a stopped container too); null when it is missing. */
export async function archiveListing(docker: Docker, containerId: string, path: string): Promise<string[] | null> {
  const stream = await docker
    .getContainer(containerId)
    .getArchive({ path })
    .catch((error: { statusCode?: number }) => (error.statusCode === 404 ? null : Promise.reject(error)));
  if (!stream) return null;
  const { default: tar } = await import("tar-stream");
  const extract = tar.extract();
  const names = new Set<string>();
  extract.on("entry", (header, body, next) => {
    const parts = header.name.replace(/\/+$/, "").split("/");
    if (parts.length >= 2 && parts[1]) names.add(parts[1]);
    body.on("end", next);
    body.resume();
  });
  await new Promise<void>((resolve, reject) => {
    extract.on("finish", resolve);
    extract.on("error", reject);
    stream.pipe(extract as unknown as NodeJS.WritableStream);
  });
  return [...names].sort();
}
