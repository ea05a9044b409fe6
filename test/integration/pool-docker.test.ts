// The pool on a real Docker engine. Nothing queued is lost to a crash: the server is killed with SIGKILL while one task runs in a
// real container and two wait; after a restart every task completes exactly once, and what the
// interrupted attempt left running in the container does not finish behind the new one's back.
import { allKinds } from "../helpers/tasks.js";
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/tasks/database.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import { pino } from "pino";
import { defaultSpec } from "../../src/containers/devcontainer.js";
import { ContainerRuntime } from "../../src/containers/docker.js";
import { TASK_ID_VARIABLE } from "../../src/containers/exec.js";
import { inspectImage } from "../../src/containers/image.js";
import { ContainerPool } from "../../src/pool/pool.js";
import { makeTask } from "../helpers/tasks.js";
import { BUSYBOX_IMAGE, ensureBusyboxImage, psLines, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { tempDir } from "../helpers/settings.js";

const TSX = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
const WORKER = new URL("../fixtures/pool-worker.ts", import.meta.url).pathname;
let docker: Docker | null;
const pool = `crash${runId()}`;

beforeAll(async () => {
  docker = await requireDocker();
  if (docker) await ensureBusyboxImage(docker);
});
afterAll(async () => {
  if (docker) await removePoolContainers(docker, pool);
});

function worker(dataDir: string, workspace: string, submit?: number) {
  const child: ChildProcess = spawn(process.execPath, ["--import", TSX, WORKER, dataDir, workspace, pool, ...(submit ? [String(submit)] : [])], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d: Buffer) => (out += d));
  child.stderr!.on("data", (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const waitFor = async (text: string, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!out.includes(text)) {
      if (Date.now() > end) throw new Error(`worker never printed "${text}"; stdout: ${out}; stderr: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { child, exited, waitFor, out: () => out, err: () => err };
}

describe("crash recovery (real dockerd)", () => {
  it("SIGKILL with one task running and two queued: after restart each completes exactly once", async (ctx) => {
    if (!docker) return ctx.skip();
    const dataDir = tempDir("devs-crash-data-");
    const workspace = tempDir("devs-crash-ws-");
    chmodSync(workspace, 0o777);

    const first = worker(dataDir, workspace, 3);
    await first.waitFor("started task-1");
    first.child.kill("SIGKILL");
    await first.exited;

    const journal = new TaskJournal(openDatabase(dataDir));
    expect(["task-1", "task-2", "task-3"].map((id) => journal.get(id)!.state)).toEqual(["running", "queued", "queued"]);

    const second = worker(dataDir, workspace);
    await second.waitFor("idle", 60_000);
    expect(await second.exited).toBe(0);
    // The first attempt's `sleep 2; echo` would have written task-1 too, had it not been killed.
    await new Promise((r) => setTimeout(r, 2_500));
    const done = readFileSync(join(workspace, "done.log"), "utf8").trim().split("\n");
    expect(done).toEqual(["task-1", "task-2", "task-3"]);
    const after = new TaskJournal(openDatabase(dataDir));
    expect(["task-1", "task-2", "task-3"].map((id) => after.get(id)!.state)).toEqual(["done", "done", "done"]);
    expect(after.get("task-1")!.attempts).toBe(2);
    expect(after.get("task-2")!.attempts).toBe(1);
  }, 120_000);
});

describe("pool timeout (real dockerd)", () => {
  it("kills a `sleep 600` started in the container within seconds of CONTAINER_TIMEOUT and ends the task timed_out", async (ctx) => {
    if (!docker) return ctx.skip();
    const runtime = new ContainerRuntime(docker, { network: "none" });
    const spec = { ...defaultSpec({ repoName: "widgets", defaultImage: BUSYBOX_IMAGE }), workspaceFolder: "/workspace" };
    const imageId = (await inspectImage(docker, BUSYBOX_IMAGE))!;
    const journal = new TaskJournal(openDatabase(tempDir()));
    let containerId = "";
    const p = new ContainerPool({
      slots: { main: [pool], ci: [] },
      journal,
      log: pino({ level: "silent" }),
      maxConcurrent: 1,
      timeoutMs: 1_500,
      kinds: allKinds(async (task, run) => {
        const c = await runtime.ensure({ slot: pool, owner: "acme", repo: "timeout", trust: "maintainers", workspaceDir: tempDir(), spec, image: { ref: BUSYBOX_IMAGE, id: imageId, origin: "local" } });
        containerId = c.id;
        const result = await runtime.exec(c, ["sh", "-c", "sleep 600"], { env: { [TASK_ID_VARIABLE]: task.id }, signal: run.signal });
        return { state: "failed", detail: `exit ${result.exitCode}` };
      }),
    });
    p.start();
    const task = makeTask("acme/timeout");
    const started = Date.now();
    await p.submit(task);
    await p.idle();
    const entry = journal.get(task.id)!;
    expect(entry.state).toBe("timed_out");
    expect(entry.finishedAt! - entry.startedAt!).toBeLessThan(1_500 + 4_000);
    expect(Date.now() - started).toBeLessThan(15_000);
    const ps = await psLines(docker, containerId);
    expect(ps.filter((line) => line.includes("sleep 600"))).toEqual([]);
  }, 60_000);
});
