// Between two tasks in one container, nothing of the first is left running: tried the way a
// hostile test suite or agent would, and checked from the host with Docker's top API (the
// container's own ps and /proc can lie). Also: tasks of different trust, and repositories whose
// names read alike, get different containers and directories; stop-after-task stops them all.
import { allKinds } from "../helpers/tasks.js";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pino } from "pino";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerLifecycle, placeDirs } from "../../src/wiring/task-kinds.js";
import { BRIDGE_FOLDER } from "../../src/ci/container.js";
import { defaultSpec, type DevcontainerSpec } from "../../src/containers/devcontainer.js";
import { ContainerRuntime, type DevContainer } from "../../src/containers/docker.js";
import { TASK_ID_VARIABLE } from "../../src/containers/exec.js";
import { resolveImage, type ResolvedImage } from "../../src/containers/image.js";
import { placeOf, type PlaceKey } from "../../src/containers/naming.js";
import { ContainerPool } from "../../src/pool/pool.js";
import { openDatabase } from "../../src/tasks/database.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import type { Task } from "../../src/tasks/task.js";
import { BUSYBOX_IMAGE, ensureBusyboxImage, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { tempDir } from "../helpers/settings.js";
import { makeTask } from "../helpers/tasks.js";

const docker = await requireDocker();
const id = runId();
const POOL = `tp${id}`;
const STOP_POOL = `tps${id}`;
const OWNER = `tp-${id}`;
const log = pino({ level: "silent" });

/** Scans every process's environment for the model key and keeps what it finds in the container. */
const STEALER = `while :; do for f in /proc/[0-9]*/environ; do cat "$f" 2>/dev/null | tr '\\0' '\\n' | grep '^MODEL_KEY=' >> /tmp/stolen; done; sleep 0.2; done`;

describe.skipIf(!docker)("no process of one task is there when the next starts (real dockerd)", () => {
  const d = docker!;
  const root = tempDir("devs-tp-");
  const dirs = { workspaceDir: join(root, "workspaces"), dataDir: join(root, "data") };
  let image: ResolvedImage;
  const newRuntime = () =>
    new ContainerRuntime(d, { network: "none", stopTimeoutSeconds: 1, mounts: (place) => [{ source: placeDirs(dirs, place).bridge, target: BRIDGE_FOLDER }] });
  const runtime = newRuntime();
  const spec = (over: Partial<DevcontainerSpec> = {}): DevcontainerSpec => ({ ...defaultSpec({ repoName: "app", defaultImage: BUSYBOX_IMAGE }), ...over });

  beforeAll(async () => {
    await ensureBusyboxImage(d);
    image = await resolveImage(d, spec(), root, { owner: OWNER, repo: "app" });
  });
  afterAll(async () => {
    await removePoolContainers(d, POOL);
    await removePoolContainers(d, STOP_POOL);
    await removePoolContainers(d, `${POOL}t`);
  });

  /** What the runners do before the command: clear the container, check out, ensure. */
  async function startTask(rt: ContainerRuntime, task: Task, over: { spec?: DevcontainerSpec; slot?: string } = {}) {
    const place = placeOf(over.slot ?? POOL, task);
    const cleared = await rt.quiesce(place);
    const workspace = placeDirs(dirs, place).workspace;
    mkdirSync(workspace, { recursive: true });
    chmodSync(workspace, 0o777);
    writeFileSync(join(workspace, "checkout.txt"), `${task.id}\n`);
    const container = await rt.ensure({ ...place, workspaceDir: workspace, spec: over.spec ?? spec(), image });
    return { place, cleared, container };
  }

  const run = async (rt: ContainerRuntime, c: DevContainer, task: Task, script: string, env: Record<string, string> = {}) => {
    const out: string[] = [];
    const result = await rt.exec(c, ["sh", "-c", script], { user: "0", env: { ...env, [TASK_ID_VARIABLE]: task.id }, onLine: (s, l) => (s === "stdout" ? out.push(l) : undefined) });
    return { out, exitCode: result.exitCode };
  };

  /** `pid@start` of every process in the container, as the engine sees it (host PIDs). */
  const hostView = async (containerId: string) => {
    const top = (await d.getContainer(containerId).top({ ps_args: "-eo pid,lstart" })) as { Processes: string[][] };
    return new Set(top.Processes.map(([pid, started]) => `${pid}@${started}`));
  };
  const added = (after: Set<string>, before: Set<string>) => [...after].filter((p) => !before.has(p));

  const task = (repo: string, kind: Task["kind"] = "agent") => makeTask(`${OWNER}/${repo}`, kind);

  /** Runs the attack as `first`'s command; what of it runs on afterwards (asserted not empty: the attack is real). */
  async function leaveBehind(first: Task, attack: string) {
    const one = await startTask(runtime, first);
    const before = await hostView(one.container.id);
    await run(runtime, one.container, first, attack);
    await new Promise((r) => setTimeout(r, 300));
    const left = added(await hostView(one.container.id), before);
    expect(left.length).toBeGreaterThan(0);
    return { one, left };
  }

  /** The next task holds a model key for a second: none of `left` runs, and nothing caught the key. */
  async function expectGoneAndBlind(container: DevContainer, next: Task, left: string[]) {
    const secret = `secret-${runId()}`;
    await run(runtime, container, next, "sleep 1", { MODEL_KEY: secret });
    const view = await hostView(container.id);
    for (const p of left) expect(view.has(p)).toBe(false);
    expect((await run(runtime, container, next, "cat /tmp/stolen 2>/dev/null; true")).out.join("\n")).not.toContain(secret);
  }

  /** The first task's move, then a second task reading its model key for a while. */
  async function attackThenNext(repo: string, attack: string, options: { restartServerBetween?: boolean; clearAfterFirst?: boolean } = {}) {
    const first = task(repo);
    const one = await startTask(runtime, first);
    const before = await hostView(one.container.id);
    expect((await run(runtime, one.container, first, attack)).exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    const left = added(await hostView(one.container.id), before);
    // The attack is real: something of the first task runs on after its command returned.
    expect(left.length).toBeGreaterThan(0);
    if (options.clearAfterFirst !== false) await runtime.quiesce(one.place);

    const rt = options.restartServerBetween ? newRuntime() : runtime;
    const second = task(repo);
    const two = await startTask(rt, second);
    const during = await hostView(two.container.id);
    const secret = `secret-${runId()}`;
    const ran = await run(rt, two.container, second, "sleep 1.5; cat checkout.txt", { MODEL_KEY: secret });
    const stolen = await run(rt, two.container, second, "cat /tmp/stolen 2>/dev/null; true");
    return { left, during, after: await hostView(two.container.id), ran, stolen: stolen.out.join("\n"), secret, second: two, secondTask: second };
  }

  it("a `setsid env -i` loop left by one task is gone when the next task starts, and never sees its environment", async () => {
    const r = await attackThenNext("setsid", `setsid env -i sh -c '${STEALER}' > /dev/null 2>&1 < /dev/null &`);
    for (const p of r.left) expect(r.during.has(p) || r.after.has(p)).toBe(false);
    // The second task saw its own checkout, which the host wrote after the clearing.
    expect(r.ran.out).toEqual([r.secondTask.id]);
    expect(r.stolen).not.toContain(r.secret);
  });

  it("the same after a restart of the server, with only the clearing before the next task (what runs in it is unknown)", async () => {
    const r = await attackThenNext("unknown", `setsid env -i sh -c '${STEALER}' > /dev/null 2>&1 < /dev/null &`, { restartServerBetween: true, clearAfterFirst: false });
    expect(r.second.cleared.outcome).toBe("stopped");
    for (const p of r.left) expect(r.during.has(p) || r.after.has(p)).toBe(false);
    expect(r.stolen).not.toContain(r.secret);
  });

  it("a leftover that breaks the in-container kill (tr and grep replaced) and renames itself is killed through the engine", async () => {
    const attack = [
      `mkdir -p "/tmp/sleep 3600 " && ln -sf /bin/busybox "/tmp/sleep 3600 /sh"`,
      `for t in tr grep; do rm -f /bin/$t; printf '#!/bin/sh\\nexit 1\\n' > /bin/$t; chmod +x /bin/$t; done`,
      `setsid env -i "/tmp/sleep 3600 /sh" -c 'printf sleep > /proc/self/comm; trap "" TERM HUP INT; while :; do cat /proc/[0-9]*/environ >> /tmp/stolen 2>/dev/null; sleep 0.2; done' > /dev/null 2>&1 < /dev/null &`,
    ].join("\n");
    const first = task("renamed");
    const { one, left } = await leaveBehind(first, attack);

    // The clearing after the task: the in-container scan cannot see it, the engine can.
    expect(await runtime.quiesce(one.place)).toMatchObject({ outcome: "stopped" });
    const second = task("renamed");
    const two = await startTask(runtime, second);
    expect(two.container.action).toBe("started");
    await expectGoneAndBlind(two.container, second, left);
  });

  it("a double-forked process carrying a later task's forged DEVS_TASK_ID and DEVS_EXEC_ID marks is gone when that task starts", async () => {
    const next = task("forged");
    const attack = `( ( env ${TASK_ID_VARIABLE}=${next.id} DEVS_EXEC_ID=0123456789abcdef sh -c '${STEALER}' > /dev/null 2>&1 < /dev/null & ) & )`;
    const first = task("forged");
    const { left } = await leaveBehind(first, attack);

    // No clearing after the first task this time: the one before the next must do it alone.
    const two = await startTask(runtime, next);
    expect(two.cleared.outcome).toBe("stopped");
    await expectGoneAndBlind(two.container, next, left);
  });

  it("even a task that leaves nothing running gets every process replaced before the next, init too: it could write their memory", async () => {
    const first = task("memory");
    const one = await startTask(runtime, first);
    const before = await hostView(one.container.id);
    // The attacker's capability: as root it can write the memory of the container's init, where a
    // kill of foreign processes would never look.
    const write = `a=$(grep '\\[stack\\]' /proc/1/maps | cut -d- -f1); dd if=/proc/1/mem bs=1 skip=$((0x$a)) count=8 2>/dev/null | dd of=/proc/1/mem bs=1 seek=$((0x$a)) conv=notrunc 2>/dev/null && echo written`;
    expect((await run(runtime, one.container, first, write)).out).toEqual(["written"]);
    expect(await runtime.quiesce(one.place)).toMatchObject({ outcome: "stopped" });
    const two = await startTask(runtime, task("memory"));
    expect(two.container).toMatchObject({ id: one.container.id, action: "started" });
    const now = await hostView(two.container.id);
    for (const p of before) expect(now.has(p)).toBe(false);
  });

  it("quiesce leaves a stopped container alone and restarts one started behind this process's back", async () => {
    const place: PlaceKey = { slot: POOL, owner: OWNER, repo: "fresh", trust: "maintainers" };
    const ws = placeDirs(dirs, place).workspace;
    mkdirSync(ws, { recursive: true });
    expect(await runtime.quiesce(place)).toEqual({ outcome: "absent" });
    const c = await runtime.ensure({ ...place, workspaceDir: ws, spec: spec(), image });
    expect(await runtime.quiesce(place)).toEqual({ outcome: "stopped" });
    expect(await runtime.quiesce(place)).toEqual({ outcome: "not-running" });
    await d.getContainer(c.id).start();
    expect(await runtime.quiesce(place)).toEqual({ outcome: "stopped" });
    expect((await d.getContainer(c.id).inspect()).State.Running).toBe(false);
  });

  it("a postStartCommand service does not outlive its task: it comes back for the next task with the restart that clears the container", async () => {
    const withService = spec({
      postStartCommand: { kind: "shell", command: `setsid sh -c 'echo $$ > /tmp/svc.pid; while :; do sleep 1; done' > /dev/null 2>&1 < /dev/null &` },
    });
    const alive = async (rt: ContainerRuntime, c: DevContainer, t: Task) => (await run(rt, c, t, `kill -0 "$(cat /tmp/svc.pid)" && echo alive`)).out;

    const first = task("service");
    const one = await startTask(runtime, first, { spec: withService });
    const baseline = await hostView(one.container.id);
    expect(await alive(runtime, one.container, first)).toEqual(["alive"]);
    await runtime.quiesce(one.place);

    const second = task("service");
    const two = await startTask(runtime, second, { spec: withService });
    expect(two.container).toMatchObject({ id: one.container.id, action: "started" });
    expect(await alive(runtime, two.container, second)).toEqual(["alive"]);
    // Every process is new: the first task's service is not among them.
    const now = await hostView(two.container.id);
    for (const p of baseline) expect(now.has(p)).toBe(false);
  });

  it("a fork's pull request and the maintainers' tasks of one repository get different containers, workspaces and bridges", async () => {
    const maintainers = task("shared");
    const fork = task("shared", "ci");
    fork.ci = { headSha: "f".repeat(40), ref: "refs/pull/5/head", branch: "patch", trigger: "pull_request", pullRequest: { number: 5, baseRef: "main", fromFork: true }, testCommand: "true", checkName: "ci", report: "checks", checkRunId: null };
    const forkAgent = task("shared");
    forkAgent.target.pullRequest = { headRef: "patch", headSha: "f".repeat(40), headRepoFullName: "mallory/shared", baseRef: "main", draft: false, fromFork: true };

    const m = await startTask(runtime, maintainers);
    const f = await startTask(runtime, fork);
    expect(f.container.id).not.toBe(m.container.id);
    const mounts = async (c: DevContainer) => Object.fromEntries((await d.getContainer(c.id).inspect()).Mounts.map((x) => [x.Destination, x.Source]));
    const [mm, fm] = [await mounts(m.container), await mounts(f.container)];
    // Same trust, same repository: one place (its name and directories), but a new container.
    const fa = await startTask(runtime, forkAgent);
    expect(fa.container).toMatchObject({ name: f.container.name, action: "created" });
    expect(await mounts(fa.container)).toEqual(fm);
    expect(mm[BRIDGE_FOLDER]).not.toBe(fm[BRIDGE_FOLDER]);
    expect(mm["/workspaces/app"]).not.toBe(fm["/workspaces/app"]);
    expect(fm["/workspaces/app"]).toBe(placeDirs(dirs, placeOf(POOL, fork)).workspace);
    // What the fork's run writes is not in the maintainers' workspace.
    await run(runtime, fa.container, forkAgent, "echo planted > /workspaces/app/planted.txt");
    expect((await run(runtime, m.container, maintainers, "ls /workspaces/app")).out).toEqual(["checkout.txt"]);
  });

  it("a file a fork's task plants outside the workspace is gone for the next fork task; the maintainers' file system stays warm", async () => {
    const prTask = (n: number) => {
      const t = task("planted", "ci");
      t.ci = { headSha: "e".repeat(40), ref: `refs/pull/${n}/head`, branch: "p", trigger: "pull_request", pullRequest: { number: n, baseRef: "main", fromFork: true }, testCommand: "true", checkName: "ci", report: "checks", checkRunId: null };
      return t;
    };
    const plant = `rm -f /bin/tr && printf '#!/bin/sh\\ncat /proc/self/environ >> /tmp/loot\\n' > /bin/tr && chmod +x /bin/tr && echo planted`;

    const mallory = prTask(1);
    const one = await startTask(runtime, mallory);
    expect((await run(runtime, one.container, mallory, plant)).out).toEqual(["planted"]);
    expect(await runtime.quiesce(one.place)).toEqual({ outcome: "removed" });
    const alice = prTask(2);
    const two = await startTask(runtime, alice);
    expect(two.container.id).not.toBe(one.container.id);
    // The image's /bin/tr (a link to busybox) is back; the planted script is not.
    expect((await run(runtime, two.container, alice, "[ -L /bin/tr ] && echo original")).out).toEqual(["original"]);

    // The maintainers' container is only restarted: its file system is theirs to keep.
    const own = task("planted");
    const m1 = await startTask(runtime, own);
    await run(runtime, m1.container, own, "echo cached > /tmp/build-cache");
    const m2 = await startTask(runtime, task("planted"));
    expect(m2.container).toMatchObject({ id: m1.container.id, action: "started" });
    expect((await run(runtime, m2.container, own, "cat /tmp/build-cache")).out).toEqual(["cached"]);
  });

  it("halt ends a fork task's processes but keeps its container, so what it wrote can be read through the archive API", async () => {
    const t = task("halted", "ci");
    t.ci = { headSha: "d".repeat(40), ref: "refs/pull/7/head", branch: "p", trigger: "pull_request", pullRequest: { number: 7, baseRef: "main", fromFork: true }, testCommand: "true", checkName: "ci", report: "checks", checkRunId: null };
    const one = await startTask(runtime, t);
    await run(runtime, one.container, t, `echo report > /tmp/report.xml; setsid env -i sh -c 'while :; do echo late >> /tmp/report.xml; sleep 0.1; done' > /dev/null 2>&1 < /dev/null &`);
    expect(await runtime.halt(one.place)).toEqual({ outcome: "stopped" });
    const read = async () => {
      const archive = (await d.getContainer(one.container.id).getArchive({ path: "/tmp/report.xml" })) as unknown as NodeJS.ReadableStream;
      const extract = tar.extract();
      let text = "";
      extract.on("entry", (_header, stream, next) => {
        stream.on("data", (c: unknown) => (text += String(c)));
        stream.on("end", next);
      });
      await new Promise<void>((resolve, reject) => {
        extract.on("finish", resolve);
        extract.on("error", reject);
        archive.pipe(extract);
      });
      return text;
    };
    const first = await read();
    expect(first.startsWith("report\n")).toBe(true);
    // Nothing appends any more: a read a moment later sees the same file.
    await new Promise((r) => setTimeout(r, 300));
    expect(await read()).toBe(first);
    expect(await runtime.quiesce(one.place)).toEqual({ outcome: "removed" });
  });

  it("acme/big-app and acme-big/app get different containers and directories", async () => {
    const a: PlaceKey = { slot: POOL, owner: OWNER, repo: "big-app", trust: "maintainers" };
    const b: PlaceKey = { slot: POOL, owner: `${OWNER}-big`, repo: "app", trust: "maintainers" };
    expect(placeDirs(dirs, a).workspace).not.toBe(placeDirs(dirs, b).workspace);
    expect(placeDirs(dirs, a).bridge).not.toBe(placeDirs(dirs, b).bridge);
    const ca = await startTask(runtime, makeTask(`${a.owner}/${a.repo}`));
    const cb = await startTask(runtime, makeTask(`${b.owner}/${b.repo}`));
    expect(ca.container.name).not.toBe(cb.container.name);
    expect(ca.container.id).not.toBe(cb.container.id);
  });

  it("a timed-out task's `setsid env -i` leftover, which the marked kill misses, is gone once the pool has finished with the task", async () => {
    const journal = new TaskJournal(openDatabase(tempDir("devs-tp-journal-")));
    let before = new Set<string>();
    let containerId = "";
    const pool = new ContainerPool({
      slots: { main: [`${POOL}t`], ci: [] },
      journal,
      log,
      maxConcurrent: 1,
      timeoutMs: 1_500,
      lifecycle: containerLifecycle(runtime, log),
      kinds: allKinds(async (t, ctx) => {
        const { container } = await startTask(runtime, t, { slot: ctx.slot });
        containerId = container.id;
        before = await hostView(container.id);
        await runtime.exec(container, ["sh", "-c", `setsid env -i sh -c '${STEALER}' > /dev/null 2>&1 < /dev/null & sleep 600`], {
          env: { [TASK_ID_VARIABLE]: t.id },
          signal: ctx.signal,
        });
        return { state: "done" };
      }),
    });
    pool.start();
    const t = task("timeout");
    await pool.submit(t);
    await pool.idle();
    expect(journal.get(t.id)!.state).toBe("timed_out");
    const info = await d.getContainer(containerId).inspect();
    if (info.State.Running) expect(added(await hostView(containerId), before)).toEqual([]);
    await pool.close();
  });

  it("stop-after-task stops the containers of both repositories on a pool name once its queue is empty", async () => {
    const journal = new TaskJournal(openDatabase(tempDir("devs-tp-journal-")));
    const pool = new ContainerPool({
      slots: { main: [STOP_POOL], ci: [] },
      journal,
      log,
      maxConcurrent: 1,
      timeoutMs: 60_000,
      cleanup: { mode: "after-task" },
      lifecycle: containerLifecycle(runtime, log),
      kinds: allKinds(async (t, ctx) => {
        const { container } = await startTask(runtime, t, { slot: ctx.slot });
        await run(runtime, container, t, "sleep 300 > /dev/null 2>&1 & true");
        return { state: "done" };
      }),
    });
    pool.start();
    await pool.submit(task("first"));
    await pool.submit(task("second"));
    await pool.idle();
    const containers = await runtime.list({ slot: STOP_POOL });
    expect(containers.map((c) => c.repo).sort()).toEqual([`${OWNER}/first`, `${OWNER}/second`]);
    expect(containers.map((c) => c.running)).toEqual([false, false]);
    await pool.close();
  });
});
