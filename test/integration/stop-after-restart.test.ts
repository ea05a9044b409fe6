// `stop-container` after a restart: the server that started a slot's containers is gone, and a new
// one knows nothing of them from memory. It finds them by their Docker labels and stops them, and
// leaves another slot's running.
import type Docker from "dockerode";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { defaultSpec } from "../../src/containers/devcontainer.js";
import { ContainerRuntime } from "../../src/containers/docker.js";
import { inspectImage } from "../../src/containers/image.js";
import { ContainerPool } from "../../src/pool/pool.js";
import { openDatabase } from "../../src/tasks/database.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import { containerLifecycle } from "../../src/wiring/task-kinds.js";
import { BUSYBOX_IMAGE, ensureBusyboxImage, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { tempDir } from "../helpers/settings.js";
import { allKinds } from "../helpers/tasks.js";

let docker: Docker | null;
const slot = `stop${runId()}`;
const other = `keep${runId()}`;
const silent = pino({ level: "silent" });

beforeAll(async () => {
  docker = await requireDocker();
  if (docker) await ensureBusyboxImage(docker);
});
afterAll(async () => {
  if (docker) for (const s of [slot, other]) await removePoolContainers(docker, s);
});

it("a new process stops the containers an earlier one started in that slot, found by their labels", async (ctx) => {
  if (!docker) return ctx.skip();
  const runtime = new ContainerRuntime(docker, { network: "none" });
  const spec = { ...defaultSpec({ repoName: "widgets", defaultImage: BUSYBOX_IMAGE }), workspaceFolder: "/workspace" };
  const image = { ref: BUSYBOX_IMAGE, id: (await inspectImage(docker, BUSYBOX_IMAGE))!, origin: "local" as const };
  // What the earlier process left running: two places in the slot, one in another slot.
  for (const [s, repo] of [[slot, "widgets"], [slot, "gadgets"], [other, "widgets"]] as const) {
    await runtime.ensure({ slot: s, owner: "acme", repo, trust: "maintainers", workspaceDir: tempDir(), spec, image });
  }
  const running = async (s: string) => (await runtime.list({ slot: s })).filter((c) => c.running).length;
  expect([await running(slot), await running(other)]).toEqual([2, 1]);

  // The restarted server: a new runtime and pool, nothing in memory about those containers.
  const pool = new ContainerPool({
    slots: { main: [slot, other], ci: [] },
    journal: new TaskJournal(openDatabase(tempDir("devs-stop-data-"))),
    log: silent,
    maxConcurrent: 1,
    timeoutMs: 60_000,
    kinds: allKinds(async () => ({ state: "done" })),
    lifecycle: containerLifecycle(new ContainerRuntime(docker, { network: "none" }), silent),
  });
  pool.start();
  try {
    expect(await pool.stopSlot(slot)).toBe("stopped");
    expect([await running(slot), await running(other)]).toEqual([0, 1]);
  } finally {
    await pool.close();
  }
}, 120_000);
