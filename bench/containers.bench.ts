// Container overhead against the floor: the same operations made with raw dockerode calls on the
// same image, side by side in one run (interleaved, so drift hits both alike).
//   node --import tsx bench/containers.bench.ts [runs]
// Targets (issue 4): cold create-and-start ≤ 1.5 × raw; warm exec round trip ≤ raw + 20 ms.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Duplex } from "node:stream";
import type Docker from "dockerode";
import { ContainerRuntime } from "../src/containers/docker.js";
import { defaultSpec } from "../src/containers/devcontainer.js";
import { resolveImage } from "../src/containers/image.js";
import { BUSYBOX_IMAGE, ensureBusyboxImage, removePoolContainers, requireDocker, runId } from "../test/helpers/docker.js";

const RUNS = Math.max(20, Number(process.argv[2]) || 30);
const WARMUP = 3;

const docker = await requireDocker();
if (!docker) {
  console.error("no Docker engine: run .ci/docker.sh first");
  process.exit(1);
}
await ensureBusyboxImage(docker);

const id = runId();
const pool = `bench${id}`;
const owner = "bench";
const workspace = mkdtempSync(join(tmpdir(), "devs-bench-"));
const spec = defaultSpec({ repoName: "bench", defaultImage: BUSYBOX_IMAGE });
const image = await resolveImage(docker, spec, workspace, { owner, repo: "bench" });
const runtime = new ContainerRuntime(docker, { network: "none", stopTimeoutSeconds: 1 });
const rawNames: string[] = [];

const KEEP_ALIVE = "trap 'exit 0' TERM INT; while sleep 3600 & wait $!; do :; done";

/** The floor for a cold start: one create and one start with the same image, command and mount. */
async function rawCold(i: number): Promise<void> {
  const name = `devs-${pool}-raw-${i}`;
  rawNames.push(name);
  const container = await docker!.createContainer({
    name,
    Image: image.id,
    Entrypoint: ["/bin/sh", "-c", KEEP_ALIVE],
    Cmd: ["devs-keepalive"],
    WorkingDir: spec.workspaceFolder,
    HostConfig: { NetworkMode: "none", Init: true, Mounts: [{ Type: "bind", Source: workspace, Target: spec.workspaceFolder }] },
  });
  await container.start();
}

async function oursCold(i: number): Promise<void> {
  await runtime.ensure({ slot: pool, owner, repo: `cold-${i}`, trust: "maintainers", workspaceDir: workspace, spec, image });
}

/** The floor for a warm exec: create, start with the output attached, wait for its end, read the exit code. */
async function rawExec(container: Docker.Container): Promise<void> {
  const exec = await container.exec({ Cmd: ["true"], AttachStdout: true, AttachStderr: true });
  const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Duplex;
  await new Promise<void>((resolve, reject) => {
    stream.on("data", () => {});
    stream.on("end", resolve);
    stream.on("close", resolve);
    stream.on("error", reject);
  });
  const info = await exec.inspect();
  if (info.ExitCode !== 0) throw new Error(`raw exec exited ${info.ExitCode}`);
}

async function time(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function stats(samples: number[]): { median: number; p95: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
  return { median: at(0.5), p95: at(0.95) };
}

async function interleaved(ours: (i: number) => Promise<void>, raw: (i: number) => Promise<void>, runs: number) {
  const o: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < runs + WARMUP; i++) {
    // Alternate who goes first, so neither always meets a just-busied engine.
    const first = i % 2 === 0;
    const a = await time(() => (first ? ours(i) : raw(i)));
    const b = await time(() => (first ? raw(i) : ours(i)));
    if (i < WARMUP) continue;
    o.push(first ? a : b);
    r.push(first ? b : a);
  }
  return { ours: stats(o), raw: stats(r) };
}

try {
  const cold = await interleaved(oursCold, rawCold, RUNS);

  const warmContainer = await runtime.ensure({ slot: pool, owner, repo: "warm", trust: "maintainers", workspaceDir: workspace, spec, image });
  const rawContainer = docker.getContainer(warmContainer.id);
  const warm = await interleaved(
    async () => {
      const result = await runtime.exec(warmContainer, ["true"]);
      if (result.exitCode !== 0) throw new Error(`exec exited ${result.exitCode}`);
    },
    () => rawExec(rawContainer),
    RUNS,
  );
  // The next task's ensure restarts the container (nothing of the last task may run on).
  const reuse = await interleaved(
    async () => {
      const c = await runtime.ensure({ slot: pool, owner, repo: "warm", trust: "maintainers", workspaceDir: workspace, spec, image });
      if (c.action !== "started") throw new Error(`expected a restart, got ${c.action}`);
    },
    async () => {
      await rawContainer.kill({ signal: "SIGKILL" });
      await rawContainer.wait();
      await rawContainer.start();
    },
    RUNS,
  );

  const f = (n: number) => n.toFixed(1).padStart(7);
  const rows: Array<[string, { median: number; p95: number }, { median: number; p95: number }, string, boolean]> = [
    ["cold create+start", cold.ours, cold.raw, "≤ 1.5 × raw", cold.ours.median <= 1.5 * cold.raw.median],
    ["warm exec `true`", warm.ours, warm.raw, "≤ raw + 20 ms", warm.ours.median <= warm.raw.median + 20],
    ["ensure (restart)", reuse.ours, reuse.raw, "(info)", true],
  ];
  console.log(`\ncontainers benchmark — ${RUNS} runs each after ${WARMUP} warm-up, Docker ${(await docker.version()).Version}, network none`);
  console.log(`${"operation".padEnd(22)} ${"ours p50".padStart(9)} ${"ours p95".padStart(9)} ${"raw p50".padStart(9)} ${"raw p95".padStart(9)} ${"ratio".padStart(6)} ${"+ms".padStart(6)}  target`);
  for (const [name, ours, raw, target, ok] of rows) {
    console.log(
      `${name.padEnd(22)} ${f(ours.median)}ms ${f(ours.p95)}ms ${f(raw.median)}ms ${f(raw.p95)}ms ${(ours.median / raw.median).toFixed(2).padStart(6)} ${(ours.median - raw.median).toFixed(1).padStart(6)}  ${target}${target === "(info)" ? "" : ok ? "  ok" : "  MISSED"}`,
    );
  }
  if (!rows.every(([, , , , ok]) => ok)) process.exitCode = 1;
} finally {
  await removePoolContainers(docker, pool);
  await Promise.all(rawNames.map((n) => docker.getContainer(n).remove({ force: true }).catch(() => undefined)));
  rmSync(workspace, { recursive: true, force: true });
}
