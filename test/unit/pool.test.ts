// The pool with its real journal (SQLite on disk) and real timers; the executor is a function
// here, the container-backed one is tested against dockerd in test/integration.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ContainerPool, placeInSlot, type ContainerLifecycle, type PoolEvent, type PoolOptions, type SlotPlace } from "../../src/pool/pool.js";
import { chooseSlot, slotsFor } from "../../src/pool/routing.js";
import type { RunContext, TaskExecutor, TaskReporter } from "../../src/tasks/execution.js";
import { openDatabase } from "../../src/tasks/database.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import type { Task } from "../../src/tasks/task.js";
import { tempDir } from "../helpers/settings.js";
import { allKinds, makeTask } from "../helpers/tasks.js";
import { until } from "../helpers/until.js";

const log = pino({ level: "silent" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pool({ executor, ...options }: Partial<PoolOptions> & { executor: TaskExecutor }, dataDir = tempDir()) {
  const journal = new TaskJournal(openDatabase(dataDir));
  const events: PoolEvent[] = [];
  const p = new ContainerPool({
    slots: { main: ["eamonn", "harry", "darren"], ci: [] },
    kinds: allKinds(executor),
    journal,
    log,
    maxConcurrent: 3,
    timeoutMs: 60_000,
    onEvent: (e) => void events.push(e),
    ...options,
  });
  p.start();
  return { pool: p, journal, events, dataDir };
}

/** An executor whose tasks wait until the pool aborts them (a shutdown leaves them queued). */
const untilAborted: TaskExecutor = async (_t, ctx) => {
  await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
  return { state: "failed", detail: "aborted" };
};

/** An executor whose tasks finish when the test says so. */
function gated() {
  const gates = new Map<string, () => void>();
  const started: Array<{ id: string; slot: string }> = [];
  const executor: TaskExecutor = async (task, ctx) => {
    started.push({ id: task.id, slot: ctx.slot });
    await new Promise<void>((resolve) => gates.set(task.id, resolve));
    return { state: "done" };
  };
  return { executor, started, open: (id: string) => gates.get(id)?.(), gates };
}

/** Running containers per pool name, as the lifecycle sees them; a task's start brings its own up. */
function fakeEngine() {
  const running = new Map<string, Map<string, SlotPlace>>();
  const stopped: string[] = [];
  const stoppedAt = new Map<string, number>();
  const up = (container: string, repo: string, trust: SlotPlace["trust"]) => {
    if (!running.has(container)) running.set(container, new Map());
    running.get(container)!.set(`${repo}|${trust}`, { repo, trust });
  };
  const lifecycle: ContainerLifecycle = {
    running: async (c) => [...(running.get(c)?.values() ?? [])],
    stop: async (c, slot) => {
      if (!running.get(c)?.delete(`${slot.repo}|${slot.trust}`)) return;
      stopped.push(`${c}:${slot.repo}:${slot.trust}`);
      stoppedAt.set(`${c}:${slot.repo}:${slot.trust}`, Date.now());
    },
  };
  const wrap =
    (executor: TaskExecutor): TaskExecutor =>
    (task, ctx) => {
      const slot = placeInSlot(task);
      up(ctx.slot, slot.repo, slot.trust);
      return executor(task, ctx);
    };
  return { lifecycle, stopped, stoppedAt, up, wrap };
}

/** A CI task for a pull request from a fork. */
function forkCi(repo: string): Task {
  const task = makeTask(repo, "ci");
  task.ci = { headSha: "f".repeat(40), ref: "refs/pull/9/head", branch: "patch", trigger: "pull_request", pullRequest: { number: 9, baseRef: "main", fromFork: true }, testCommand: "true", checkName: "ci", report: "checks", checkRunId: null };
  return task;
}

describe("routing (pure)", () => {
  it("least loaded wins; ties go to config order", () => {
    const loads: Record<string, number> = { a: 1, b: 0, c: 0 };
    expect(chooseSlot(["a", "b", "c"], (n) => loads[n]!, null)).toBe("b");
    expect(chooseSlot(["a", "b", "c"], () => 0, null)).toBe("a");
  });
  it("a configured pin wins; an unknown pin is ignored", () => {
    expect(chooseSlot(["a", "b"], (n) => (n === "b" ? 5 : 0), "b")).toBe("b");
    expect(chooseSlot(["a", "b"], () => 0, "gone")).toBe("a");
  });
  it("CI uses its own pool unless the repository is single_queue", () => {
    const names = { main: ["a"], ci: ["ci1"] };
    expect(slotsFor("ci", names, false)).toEqual(["ci1"]);
    expect(slotsFor("ci", names, true)).toEqual(["a"]);
    expect(slotsFor("agent", names, false)).toEqual(["a"]);
    expect(slotsFor("ci", { main: ["a"], ci: [] }, false)).toEqual(["a"]);
  });
});

describe("ContainerPool", () => {
  it("spreads tasks over the least loaded names, in config order, and counts running ones", async () => {
    const g = gated();
    const { pool: p, events } = pool({ executor: g.executor });
    const tasks = ["a/1", "b/2", "c/3", "d/4"].map((r) => makeTask(r));
    for (const t of tasks) await p.submit(t);
    await until(() => events.filter((e) => e.type === "queued").length === 4);
    const placed = events.filter((e) => e.type === "queued").map((e) => [e.task.id, e.slot, e.type === "queued" ? e.position : -1]);
    expect(placed).toEqual([
      [tasks[0]!.id, "eamonn", 0],
      [tasks[1]!.id, "harry", 0],
      [tasks[2]!.id, "darren", 0],
      [tasks[3]!.id, "eamonn", 1],
    ]);
    for (const t of tasks) g.open(t.id);
    await until(() => g.started.length === 4);
    for (const t of tasks) g.open(t.id);
    await p.idle();
  });

  it("a thread's agent tasks run one after the other in one slot, while other threads and CI spread", async () => {
    const g = gated();
    const { pool: p, events } = pool({ executor: g.executor });
    const onIssue = (id: string, number: number) => {
      const task = makeTask("acme/widgets");
      return { ...task, id, target: { ...task.target, number } };
    };
    const first = onIssue("agent-first", 5);
    const second = onIssue("agent-second", 5);
    const elsewhere = onIssue("agent-elsewhere", 6);
    const ci = { ...makeTask("acme/widgets", "ci"), id: "ci-1" };
    for (const t of [first, second, elsewhere, ci]) await p.submit(t);
    await until(() => g.started.length === 3);
    const slots = Object.fromEntries(events.filter((e) => e.type === "queued").map((e) => [e.task.id, e.slot]));
    expect(slots).toEqual({ "agent-first": "eamonn", "agent-second": "eamonn", "agent-elsewhere": "harry", "ci-1": "darren" });
    // The second request waits for the first even though a slot is free.
    expect(g.started.map((s) => s.id)).toEqual(["agent-first", "agent-elsewhere", "ci-1"]);
    g.open("agent-first");
    await until(() => g.started.length === 4);
    expect(g.started[3]).toEqual({ id: "agent-second", slot: "eamonn" });
    for (const id of ["agent-second", "agent-elsewhere", "ci-1"]) g.open(id);
    await p.idle();
  });

  it("a repository's tasks are placed and run while GitHub has not yet taken their Queued comments", async () => {
    const g = gated();
    const asked: string[] = [];
    // GitHub's content limits hold every "Queued" write: none of them ever lands in this test.
    const reporter: TaskReporter = {
      queued: (task) => (asked.push(task.id), new Promise<void>(() => undefined)),
      started: async () => undefined,
      suspended: async () => undefined,
      finished: async () => undefined,
    };
    const { pool: p, events } = pool({ executor: g.executor, kinds: { agent: { execute: g.executor, reporter }, ci: { execute: g.executor } } });
    const onIssue = (id: string, number: number) => {
      const task = makeTask("acme/widgets");
      return { ...task, id, target: { ...task.target, number } };
    };
    for (const [id, number] of [["agent-a", 1], ["agent-b", 2], ["agent-c", 3]] as const) await p.submit(onIssue(id, number));
    await until(() => g.started.length === 3);
    expect({ asked, queued: events.filter((e) => e.type === "queued").map((e) => e.task.id) }).toEqual({
      asked: ["agent-a", "agent-b", "agent-c"],
      queued: ["agent-a", "agent-b", "agent-c"],
    });
    for (const id of ["agent-a", "agent-b", "agent-c"]) g.open(id);
    await p.idle();
  });

  it("once a thread's task has ended, its next task goes to whichever slot is least loaded", async () => {
    const g = gated();
    const { pool: p, events } = pool({ executor: g.executor });
    const busy = makeTask("acme/other");
    await p.submit(busy);
    await until(() => g.started.length === 1);
    const task = makeTask("acme/widgets");
    await p.submit(task);
    await until(() => g.started.length === 2);
    g.open(task.id);
    await until(() => events.some((e) => e.type === "finished" && e.task.id === task.id));
    const again = { ...makeTask("acme/widgets"), id: "agent-again" };
    await p.submit(again);
    await until(() => g.started.length === 3);
    expect(g.started.map((s) => s.slot)).toEqual(["eamonn", "harry", "harry"]);
    for (const id of [busy.id, again.id]) g.open(id);
    await p.idle();
  });

  it("a shutdown never starts a task that was waiting for MAX_CONCURRENT_TASKS: it stays queued for the next start", async () => {
    const started: string[] = [];
    const executor: TaskExecutor = async (task, ctx) => {
      started.push(task.id);
      await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => resolve(), { once: true }));
      return { state: "failed", detail: "interrupted by shutdown" };
    };
    const { pool: p, journal } = pool({ executor, maxConcurrent: 1 });
    const first = makeTask("acme/one");
    const waiting = makeTask("acme/two");
    await p.submit(first);
    await p.submit(waiting);
    await until(() => started.length === 1);
    const closed = Date.now();
    await p.close();
    expect(Date.now() - closed).toBeLessThan(2_000);
    expect(started).toEqual([first.id]);
    expect(journal.get(waiting.id)!.state).toBe("queued");
  });

  it("many queued tasks spread and follow their threads as one would (the counts kept with the queue)", async () => {
    const g = gated();
    const { pool: p, events } = pool({ executor: g.executor, maxConcurrent: 1 });
    const onIssue = (repo: string, number: number, id: string) => {
      const task = makeTask(repo);
      return { ...task, id, target: { ...task.target, number } };
    };
    const blocker = onIssue("acme/block", 1, "block");
    await p.submit(blocker);
    await until(() => g.started.length === 1);
    for (let i = 0; i < 30; i++) await p.submit(onIssue("acme/many", i % 5, `t${i}`));
    await until(() => events.filter((e) => e.type === "queued").length === 31);
    const slotOf = Object.fromEntries(events.filter((e) => e.type === "queued").map((e) => [e.task.id, e.slot]));
    // Each thread's tasks share one slot; the threads spread (eamonn holds the blocker too).
    for (let t = 0; t < 5; t++) expect(new Set(Array.from({ length: 6 }, (_, k) => slotOf[`t${t + 5 * k}`])).size).toBe(1);
    expect(Object.values(slotOf).filter((s) => s === "eamonn").length).toBe(1 + 6);
    // A cancelled thread's queued task no longer holds its slot for the thread.
    for (let k = 0; k < 6; k++) p.cancel(`t${5 * k}`);
    const next = onIssue("acme/many", 0, "after-cancel");
    await p.submit(next);
    await until(() => events.some((e) => e.type === "queued" && e.task.id === "after-cancel"));
    // It goes where the fewest live tasks are, the cancelled ones not counted.
    const live = (slot: string) => Object.entries(slotOf).filter(([id, s]) => s === slot && !(id.startsWith("t") && Number(id.slice(1)) % 5 === 0)).length;
    const least = ["eamonn", "harry", "darren"].reduce((a, b) => (live(b) < live(a) ? b : a));
    expect(events.find((e) => e.type === "queued" && e.task.id === "after-cancel")!.slot).toBe(least);
    // Drain: each task that starts is let through (MAX_CONCURRENT_TASKS 1: one at a time).
    const total = 1 + 24 + 1;
    for (let opened = 0; opened < total; opened++) {
      await until(() => g.started.length > opened);
      g.open(g.started[opened]!.id);
    }
    await p.idle();
    expect(g.started.map((s) => s.id).filter((id) => /^t\d+$/.test(id) && Number(id.slice(1)) % 5 === 0)).toEqual([]);
  });

  it("a CI fix goes to the slot its loop's agent worked in, however loaded, while that slot exists", async () => {
    const g = gated();
    const { pool: p } = pool({ executor: g.executor });
    const busy = makeTask("acme/other");
    await p.submit(busy);
    await until(() => g.started.length === 1);
    const fixIn = (slot: string, id: string) => ({
      ...makeTask(`acme/${id}`),
      id,
      fix: { rootTask: "root", attempt: 1, of: 2, pullRequest: { number: 2, headRef: "b", headSha: "c".repeat(40) }, slot, failures: [], logTail: "", exitCode: 1, checkName: "devs-ci" },
    });
    await p.submit(fixIn("eamonn", "fix-root-1"));
    await p.submit(fixIn("gone", "fix-other-1"));
    await until(() => g.started.length === 2);
    g.open(busy.id);
    await until(() => g.started.length === 3);
    expect(g.started.slice(1)).toEqual([
      { id: "fix-other-1", slot: "harry" },
      { id: "fix-root-1", slot: "eamonn" },
    ]);
    for (const id of ["fix-root-1", "fix-other-1"]) g.open(id);
    await p.idle();
  });

  it("single_queue pins a repository to one name, across restarts; others spread", async () => {
    const g = gated();
    const hints = async (t: Task) => ({ singleQueue: t.repo.fullName === "acme/pinned" });
    const first = pool({ executor: g.executor, routeHints: hints });
    const pinned = [makeTask("acme/pinned"), makeTask("acme/pinned", "ci"), makeTask("acme/pinned")];
    // Two threads: one thread's tasks would share a slot whatever the repository's setting.
    const other = [1, 2].map((number) => {
      const task = makeTask("acme/free");
      return { ...task, target: { ...task.target, number } };
    });
    for (const t of [pinned[0]!, other[0]!, pinned[1]!, other[1]!, pinned[2]!]) await first.pool.submit(t);
    await until(() => first.events.filter((e) => e.type === "queued").length === 5);
    const where = (id: string) => first.events.find((e) => e.type === "queued" && e.task.id === id)!.slot;
    expect(pinned.map((t) => where(t.id))).toEqual(["eamonn", "eamonn", "eamonn"]);
    expect(other.map((t) => where(t.id))).toEqual(["harry", "darren"]);
    // Order within the pinned repository is kept.
    for (const t of [...pinned, ...other]) {
      await until(() => g.gates.has(t.id) || g.started.some((s) => s.id === t.id));
      g.open(t.id);
    }
    await first.pool.idle();
    expect(g.started.filter((s) => s.slot === "eamonn").map((s) => s.id)).toEqual(pinned.map((t) => t.id));
    expect(first.journal.pins()).toEqual({ "acme/pinned": "eamonn" });

    // After a restart on the same DATA_DIR the pin holds even when eamonn is the busiest.
    const g2 = gated();
    const second = pool({ executor: g2.executor, routeHints: hints }, first.dataDir);
    const busy = makeTask("x/y");
    await second.pool.submit(busy);
    await until(() => g2.started.length === 1);
    const again = makeTask("acme/pinned");
    await second.pool.submit(again);
    await until(() => second.events.some((e) => e.type === "queued" && e.task.id === again.id));
    expect(second.events.find((e) => e.type === "queued" && e.task.id === again.id)!.slot).toBe("eamonn");
    g2.open(busy.id);
    await until(() => g2.started.length === 2);
    g2.open(again.id);
    await second.pool.idle();
  });

  it("a restart reads each repository's routing hints once, not once per task, and still routes by them", async () => {
    const first = pool({ executor: untilAborted, maxConcurrent: 1, routeHints: async () => ({ singleQueue: false }) });
    const tasks = [...Array.from({ length: 6 }, () => makeTask("acme/pinned", "ci")), ...Array.from({ length: 4 }, () => makeTask("acme/free", "ci"))];
    for (const t of tasks) await first.pool.submit(t);
    await until(() => first.events.filter((e) => e.type === "queued").length === tasks.length);
    await first.pool.close();

    const read: string[] = [];
    const hints = async (t: Task) => {
      read.push(t.repo.fullName);
      return { singleQueue: t.repo.fullName === "acme/pinned" };
    };
    const second = pool({ executor: async () => ({ state: "done" }), routeHints: hints }, first.dataDir);
    await until(() => second.events.filter((e) => e.type === "queued").length === tasks.length);
    expect(read.sort()).toEqual(["acme/free", "acme/pinned"]);
    const slots = (repo: string) => new Set(second.events.filter((e) => e.type === "queued" && e.task.repo.fullName === repo).map((e) => (e as { slot: string }).slot));
    expect(slots("acme/pinned").size).toBe(1);
    expect(slots("acme/free").size).toBeGreaterThan(1);
    await second.pool.idle();
  });

  it("after a restart, a repository whose hints cannot be read still has each of its tasks queued and run", async () => {
    const first = pool({ executor: untilAborted, maxConcurrent: 1 });
    const tasks = Array.from({ length: 4 }, () => makeTask("acme/broken", "ci"));
    for (const t of tasks) await first.pool.submit(t);
    await until(() => first.events.filter((e) => e.type === "queued").length === tasks.length);
    await first.pool.close();

    let reads = 0;
    const second = pool(
      {
        executor: async () => ({ state: "done" }),
        routeHints: async () => {
          reads++;
          throw new Error("DEVS.yml unreadable");
        },
      },
      first.dataDir,
    );
    await until(() => second.events.filter((e) => e.type === "finished").length === tasks.length);
    expect(reads).toBe(1);
    expect(second.journal.counts()).toMatchObject({ done: tasks.length, queued: 0, failed: 0 });
  });

  it("turning single_queue off removes the pin", async () => {
    let single = true;
    const { pool: p, journal } = pool({ executor: async () => ({ state: "done" }), routeHints: async () => ({ singleQueue: single }) });
    await p.submit(makeTask("acme/x"));
    await p.idle();
    expect(journal.pins()).toEqual({ "acme/x": "eamonn" });
    single = false;
    await p.submit(makeTask("acme/x"));
    await p.idle();
    expect(journal.pins()).toEqual({});
  });

  it("MAX_CONCURRENT_TASKS caps running tasks across names", async () => {
    let running = 0;
    let peak = 0;
    const { pool: p } = pool({
      maxConcurrent: 2,
      executor: async () => {
        peak = Math.max(peak, ++running);
        await sleep(40);
        running--;
        return { state: "done" };
      },
    });
    for (let i = 0; i < 6; i++) await p.submit(makeTask(`r/${i}`));
    await p.idle();
    expect(peak).toBe(2);
  });

  it("a timeout aborts the task, measured from its own start, and ends it timed_out", async () => {
    const finished: PoolEvent[] = [];
    const executor: TaskExecutor = async (task, ctx: RunContext) => {
      if (task.repo.fullName === "slow/one") {
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        return { state: "failed", detail: "aborted" };
      }
      await sleep(250);
      return { state: "done" };
    };
    const { pool: p, journal } = pool({ executor, timeoutMs: 400, slots: { main: ["solo"], ci: [] }, onEvent: (e) => void finished.push(e) });
    const quick1 = makeTask("quick/a");
    const quick2 = makeTask("quick/b");
    const slow = makeTask("slow/one");
    const t0 = Date.now();
    for (const t of [quick1, quick2, slow]) await p.submit(t);
    await p.idle();
    // quick2 waited ~250 ms and ran ~250 ms: over 400 ms since queued, but not since it started.
    expect(journal.get(quick2.id)!.state).toBe("done");
    const slowEntry = journal.get(slow.id)!;
    expect(slowEntry.state).toBe("timed_out");
    expect(slowEntry.finishedAt! - slowEntry.startedAt!).toBeGreaterThanOrEqual(390);
    expect(slowEntry.finishedAt! - slowEntry.startedAt!).toBeLessThan(1_000);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(finished.find((e) => e.type === "finished" && e.task.id === slow.id)).toMatchObject({ state: "timed_out" });
  });

  it("an executor that ignores the abort is abandoned after the grace period; the queue moves on", async () => {
    const { pool: p, journal } = pool({
      slots: { main: ["solo"], ci: [] },
      timeoutMs: 100,
      abortGraceMs: 100,
      executor: async (task) => (task.repo.name === "hung" ? new Promise(() => undefined) : { state: "done" }),
    });
    const hung = makeTask("a/hung");
    const next = makeTask("a/next");
    await p.submit(hung);
    await p.submit(next);
    await p.idle();
    expect(journal.get(hung.id)!.state).toBe("timed_out");
    expect(journal.get(next.id)!.state).toBe("done");
  });

  it("cancels a queued task (it never runs) and a running one (aborted)", async () => {
    const g = gated();
    const executor: TaskExecutor = async (task, ctx) => {
      g.started.push({ id: task.id, slot: ctx.slot });
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      return { state: "failed", detail: "aborted" };
    };
    const { pool: p, journal } = pool({ executor, slots: { main: ["solo"], ci: [] } });
    const running = makeTask("r/run");
    const queued = makeTask("r/wait");
    await p.submit(running);
    await p.submit(queued);
    await until(() => g.started.length === 1);
    expect(p.cancel(queued.id)).toBe(true);
    expect(journal.get(queued.id)!.state).toBe("cancelled");
    expect(p.activeOn("r/run", "agent", 1)).toEqual([running.id]);
    expect(p.cancel(running.id, { by: "@alice" })).toBe(true);
    expect(p.cancel(running.id, { by: "@alice" })).toBe(false); // once is enough
    await p.idle();
    expect(journal.get(running.id)).toMatchObject({ state: "cancelled", detail: "cancelled while running by @alice" });
    expect(g.started.map((s) => s.id)).toEqual([running.id]);
    expect(p.cancel("nope")).toBe(false);
  });

  it("a task cancelled while its routing hints are still being read never reaches a queue, and its reporter hears it ended", async () => {
    const g = gated();
    let readHints!: () => void;
    const hintsRead = new Promise<void>((resolve) => (readHints = resolve));
    const told: string[] = [];
    const reporter: TaskReporter = {
      queued: async (t) => void told.push(`queued ${t.id}`),
      started: async (t) => void told.push(`started ${t.id}`),
      suspended: async (t) => void told.push(`suspended ${t.id}`),
      finished: async (t, end) => void told.push(`finished ${t.id} ${end.state} ran=${end.ran !== null} by=${end.cancellation?.by}`),
    };
    const { pool: p, journal } = pool({
      executor: g.executor,
      kinds: { agent: { execute: g.executor, reporter } },
      routeHints: async () => (await hintsRead, { singleQueue: false }),
    });
    const task = makeTask("r/slow-hints");
    await p.submit(task);
    expect(p.activeOn("r/slow-hints", "agent", 1)).toEqual([task.id]);
    expect(p.cancel(task.id, { by: "@alice" })).toBe(true);
    expect(p.cancel(task.id, { by: "@alice" })).toBe(false);
    expect(journal.get(task.id)).toMatchObject({ state: "cancelled", detail: "cancelled while queued by @alice" });
    readHints();
    await p.idle();
    expect(g.started).toEqual([]);
    expect(told).toEqual([`finished ${task.id} cancelled ran=false by=@alice`]);
    expect(p.status().slots).toEqual({ eamonn: { queued: 0, running: null }, harry: { queued: 0, running: null }, darren: { queued: 0, running: null } });
  });

  it("a task cancelled while it waits for a global slot (MAX_CONCURRENT_TASKS) never runs", async () => {
    const g = gated();
    const { pool: p, journal } = pool({ executor: g.executor, slots: { main: ["a", "b"], ci: [] }, maxConcurrent: 1 });
    const first = makeTask("r/one");
    const second = makeTask("r/two");
    await p.submit(first);
    await p.submit(second);
    await until(() => g.started.length === 1);
    // `second` has its own container's queue to itself, and waits for the one global slot.
    expect(journal.get(second.id)).toMatchObject({ state: "queued", slot: "b" });
    expect(p.cancel(second.id)).toBe(true);
    g.open(first.id);
    await p.idle();
    expect(g.started.map((s) => s.id)).toEqual([first.id]);
    expect(journal.get(second.id)!.state).toBe("cancelled");
    expect(p.status().slots.b).toEqual({ queued: 0, running: null });
  });

  it("says which queued tasks are back after a restart interrupted them", async () => {
    const dataDir = tempDir();
    const journal = new TaskJournal(openDatabase(dataDir));
    const [interrupted, waiting] = [makeTask(), makeTask()];
    journal.add(interrupted);
    journal.add(waiting);
    journal.markRunning(interrupted.id, "eamonn");
    const { events } = pool({ executor: async () => ({ state: "done" }) }, dataDir);
    await until(() => events.filter((e) => e.type === "queued").length === 2);
    const queued = events.flatMap((e) => (e.type === "queued" ? [[e.task.id, e.interrupted]] : []));
    expect(queued).toEqual([
      [interrupted.id, true],
      [waiting.id, false],
    ]);
  });

  it("a duplicate task id is not queued twice", async () => {
    let runs = 0;
    const { pool: p } = pool({ executor: async () => (runs++, { state: "done" }) });
    const t = makeTask("r/x", "agent", "same-id");
    await p.submit(t);
    await p.submit(t);
    await p.idle();
    expect(runs).toBe(1);
  });

  it("a failing executor marks the task failed with its message and the queue goes on", async () => {
    const { pool: p, journal } = pool({
      slots: { main: ["solo"], ci: [] },
      executor: async (task) => {
        if (task.repo.name === "bad") throw new Error("docker went away");
        return { state: "done" };
      },
    });
    const bad = makeTask("a/bad");
    const good = makeTask("a/good");
    await p.submit(bad);
    await p.submit(good);
    await p.idle();
    expect(journal.get(bad.id)).toMatchObject({ state: "failed", detail: "docker went away" });
    expect(journal.get(good.id)!.state).toBe("done");
  });

  it("stop-after-task stops every idle container of the name once its queue is empty (any repository, any trust); a busy one never", async () => {
    const engine = fakeEngine();
    // Left running by an earlier process of the server: no task of this one has used it.
    engine.up("solo", "o/old", "maintainers");
    const g = gated();
    const { pool: p } = pool({
      executor: engine.wrap(g.executor),
      slots: { main: ["solo"], ci: [] },
      cleanup: { mode: "after-task" },
      lifecycle: engine.lifecycle,
    });
    const a = makeTask("o/a");
    const b = makeTask("o/b");
    const fork = forkCi("o/a");
    for (const t of [a, b, fork]) await p.submit(t);
    await until(() => g.started.length === 1);
    expect(await p.stopSlot("solo")).toBe("busy");
    g.open(a.id);
    await until(() => g.started.length === 2);
    expect(engine.stopped).toEqual([]); // b and the fork's run are still queued for solo
    g.open(b.id);
    await until(() => g.started.length === 3);
    expect(engine.stopped).toEqual([]);
    g.open(fork.id);
    await p.idle();
    await until(() => engine.stopped.length === 4);
    expect(engine.stopped.sort()).toEqual(["solo:o/a:fork", "solo:o/a:maintainers", "solo:o/b:maintainers", "solo:o/old:maintainers"]);
    expect(await engine.lifecycle.running("solo")).toEqual([]);
    expect(await p.stopSlot("nope")).toBe("unknown");
  });

  it("clears each task's container after it ends, whatever the end, before the next task starts", async () => {
    const engine = fakeEngine();
    const order: string[] = [];
    const { pool: p } = pool({
      executor: engine.wrap(async (task) => {
        order.push(`run ${task.id}`);
        if (task.repo.name === "bad") throw new Error("boom");
        return { state: "done" };
      }),
      slots: { main: ["solo"], ci: [] },
      lifecycle: { ...engine.lifecycle, afterTask: async (c, t) => void order.push(`clear ${c} ${t.id}`) },
    });
    const bad = makeTask("o/bad");
    const good = makeTask("o/good");
    await p.submit(bad);
    await p.submit(good);
    await p.idle();
    expect(order).toEqual([`run ${bad.id}`, `clear solo ${bad.id}`, `run ${good.id}`, `clear solo ${good.id}`]);
  });

  it("idle cleanup stops every container of a name once idle for the period since its last task, and one from before a restart", async () => {
    const engine = fakeEngine();
    engine.up("solo", "o/old", "fork");
    const ended = new Map<string, number>();
    const { pool: p } = pool({
      executor: engine.wrap(async (task) => {
        await sleep(150); // longer than the idle period: idleness must not count from the start
        ended.set(task.repo.fullName, Date.now());
        return { state: "done" };
      }),
      slots: { main: ["solo"], ci: [] },
      cleanup: { mode: "idle", idleMs: 100, checkEveryMs: 20 },
      lifecycle: engine.lifecycle,
    });
    await p.submit(makeTask("o/a"));
    await p.submit(makeTask("o/b"));
    await until(() => engine.stopped.length === 3, { timeoutMs: 3_000 });
    expect(engine.stopped).toEqual(["solo:o/old:fork", "solo:o/a:maintainers", "solo:o/b:maintainers"]);
    // The one from before the restart went while the tasks still ran; each other one only after
    // the idle period counted from the end of its own last task.
    expect(engine.stoppedAt.get("solo:o/old:fork")!).toBeLessThan(ended.get("o/b")!);
    expect(engine.stoppedAt.get("solo:o/a:maintainers")! - ended.get("o/a")!).toBeGreaterThanOrEqual(80);
    expect(engine.stoppedAt.get("solo:o/b:maintainers")! - ended.get("o/b")!).toBeGreaterThanOrEqual(80);
    await p.close();
  });

  it("close() interrupts running work and leaves it queued for the next start, uncounted", async () => {
    const dir = tempDir();
    const executor: TaskExecutor = async (_t, ctx) => {
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      return { state: "failed", detail: "aborted" };
    };
    const first = pool({ executor, slots: { main: ["solo"], ci: [] } }, dir);
    const t = makeTask("o/a");
    await first.pool.submit(t);
    await until(() => first.journal.get(t.id)!.state === "running");
    await first.pool.close();
    expect(first.journal.get(t.id)).toMatchObject({ state: "queued", attempts: 0 });
    const ran: string[] = [];
    const second = pool({ executor: async (task) => (ran.push(task.id), { state: "done" }) }, dir);
    await second.pool.idle();
    expect(ran).toEqual([t.id]);
    expect(second.journal.get(t.id)!.state).toBe("done");
    await expect(first.pool.submit(makeTask())).rejects.toThrow(/shutting down/);
  });
});

describe("TaskJournal.prune", () => {
  it("forgets finished tasks past the retention and keeps recent and unfinished ones", () => {
    let now = 0;
    const journal = new TaskJournal(openDatabase(tempDir()), () => now);
    const [old, queued, recent] = [makeTask(), makeTask(), makeTask()];
    journal.add(old);
    journal.finish(old.id, "done");
    journal.add(queued);
    now = 40 * 24 * 60 * 60 * 1000;
    journal.add(recent);
    journal.finish(recent.id, "failed", "x");
    expect(journal.prune(30)).toBe(1);
    expect(journal.get(old.id)).toBeNull();
    expect(journal.get(queued.id)!.state).toBe("queued");
    expect(journal.get(recent.id)!.state).toBe("failed");
  });
});

describe("what the dashboard reads", () => {
  it("slotTasks lists each slot's running task with its start and its queue in order; warmPlaces says which containers run", async () => {
    const g = gated();
    const engine = fakeEngine();
    let now = 1_000;
    const { pool: p } = pool({ executor: g.executor, maxConcurrent: 1, slots: { main: ["eamonn", "harry"], ci: [] }, lifecycle: engine.lifecycle, now: () => now });
    const [a, b, c] = [makeTask("acme/a"), makeTask("acme/b"), makeTask("acme/c")];
    await p.submit(a);
    await until(() => g.started.length === 1);
    now = 5_000;
    await p.submit(b);
    await p.submit(c);
    await until(() => Object.values(p.slotTasks()).reduce((n, s) => n + s.queued.length, 0) === 2);
    const slots = p.slotTasks();
    const running = slots[g.started[0]!.slot]!.running;
    expect(running).toEqual({ task: a, startedAt: 1_000 });
    expect(Object.values(slots).flatMap((s) => s.queued.map((t) => t.id)).sort()).toEqual([b.id, c.id].sort());
    p.cancel(b.id);
    expect(Object.values(p.slotTasks()).flatMap((s) => s.queued.map((t) => t.id))).toEqual([c.id]);
    engine.up("harry", "acme/x", "fork");
    expect(await p.warmPlaces()).toEqual({ eamonn: [], harry: [{ repo: "acme/x", trust: "fork" }] });
    g.open(a.id);
    await until(() => g.started.length === 2);
    g.open(c.id);
    await p.idle();
    expect(Object.values(p.slotTasks())).toEqual([
      { queued: [], running: null },
      { queued: [], running: null },
    ]);
  });

  it("observe: every event reaches each observer until it is removed; one that throws does not stop the others", async () => {
    const g = gated();
    const { pool: p } = pool({ executor: g.executor });
    const seen: string[] = [];
    const removeThrowing = p.observe(() => {
      throw new Error("a broken stream");
    });
    const remove = p.observe((e) => seen.push(`${e.type}:${e.task.id}`));
    expect(p.observerCount).toBe(2);
    const task = makeTask();
    await p.submit(task);
    await until(() => g.started.length === 1);
    g.open(task.id);
    await until(() => seen.length === 3);
    expect(seen).toEqual([`queued:${task.id}`, `started:${task.id}`, `finished:${task.id}`]);
    remove();
    removeThrowing();
    expect(p.observerCount).toBe(0);
    const later = makeTask();
    await p.submit(later);
    await until(() => g.started.length === 2);
    g.open(later.id);
    await p.idle();
    expect(seen).toHaveLength(3);
  });
});
