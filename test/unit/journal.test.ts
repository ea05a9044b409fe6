// The task journal's queries: order, limits and recovery, on a real SQLite file. The admin routes
// (GET /tasks, the dashboard) and every enqueue read the journal by `seq`; with a backlog of
// thousands of tasks those reads must use an index, and give the same answers as before.
import Database from "better-sqlite3";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/tasks/database.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import { tempDir } from "../helpers/settings.js";
import { makeTask } from "../helpers/tasks.js";

const ids = (entries: Array<{ task: { id: string } }>) => entries.map((e) => e.task.id);

describe("TaskJournal", () => {
  it("lists the newest tasks first by the order they were added, whatever their clock says", () => {
    // The clock runs backwards: `seq`, not created_at, is the order.
    let t = 1_000;
    const journal = new TaskJournal(openDatabase(tempDir("devs-journal-")), () => t--);
    for (let i = 1; i <= 7; i++) expect(journal.add(makeTask(`acme/r${i % 2}`, i % 3 ? "agent" : "ci", `j${i}`))).toBe(true);
    expect(ids(journal.recent(3))).toEqual(["j7", "j6", "j5"]);
    expect(ids(journal.recent())).toEqual(["j7", "j6", "j5", "j4", "j3", "j2", "j1"]);
    expect(ids(journal.recent(100))).toHaveLength(7);
  });

  it("a task added twice keeps its place; the next one still comes after every other", () => {
    const journal = new TaskJournal(openDatabase(tempDir("devs-journal-")));
    journal.add(makeTask("acme/a", "agent", "first"));
    journal.add(makeTask("acme/a", "agent", "second"));
    expect(journal.add(makeTask("acme/a", "agent", "first"))).toBe(false);
    journal.add(makeTask("acme/a", "agent", "third"));
    expect(ids(journal.recent())).toEqual(["third", "second", "first"]);
  });

  it("after finished tasks are pruned, new tasks still come after the ones kept", () => {
    let t = 0;
    const journal = new TaskJournal(openDatabase(tempDir("devs-journal-")), () => t);
    journal.add(makeTask("acme/a", "agent", "old"));
    journal.add(makeTask("acme/a", "agent", "kept"));
    journal.finish("old", "done");
    t = 31 * 24 * 60 * 60 * 1000;
    expect(journal.prune()).toBe(1);
    journal.add(makeTask("acme/a", "agent", "new"));
    expect(ids(journal.recent())).toEqual(["new", "kept"]);
  });

  it("counts, queued and recovery keep the journal's order and states", () => {
    const dataDir = tempDir("devs-journal-");
    const journal = new TaskJournal(openDatabase(dataDir));
    for (const [id, kind, repo] of [
      ["c1", "ci", "acme/a"],
      ["a1", "agent", "acme/a"],
      ["c2", "ci", "Acme/A"],
      ["c3", "ci", "acme/b"],
      ["a2", "agent", "acme/b"],
      ["c4", "ci", "acme/a"],
    ] as const) {
      journal.add(makeTask(repo, kind, id));
    }
    journal.markRunning("a1", "eamonn");
    journal.markRunning("c4", "harry");
    journal.finish("c4", "done");
    journal.finish("c3", "cancelled", "superseded");
    expect(journal.counts()).toEqual({ queued: 3, running: 1, done: 1, failed: 0, timed_out: 0, cancelled: 1 });
    expect(journal.queued("ci", "ACME/a").map((t) => t.id)).toEqual(["c1", "c2"]);

    const again = new TaskJournal(openDatabase(dataDir));
    const recovery = again.recover();
    expect(recovery.requeue.map((r) => [r.task.id, r.interrupted])).toEqual([
      ["c1", false],
      ["a1", true],
      ["c2", false],
      ["a2", false],
    ]);
    expect(again.get("a1")).toMatchObject({ state: "queued", detail: "interrupted by a restart; retrying", attempts: 1 });
  });

  it("a slot assigned to a queued task is written with others, read back at once, and kept at a close", () => {
    const dataDir = tempDir("devs-journal-");
    const db = openDatabase(dataDir);
    const journal = new TaskJournal(db);
    for (const id of ["q1", "q2", "q3"]) journal.add(makeTask("acme/a", "agent", id));
    let commits = 0;
    db.function("count_commit", () => ++commits);
    db.exec("CREATE TEMP TRIGGER counted AFTER UPDATE OF container ON task BEGIN SELECT count_commit(); END");
    journal.assign("q1", "eamonn");
    journal.assign("q2", "harry");
    // Not written yet, but whoever reads the slots sees them.
    expect(commits).toBe(0);
    expect(journal.get("q1")?.slot).toBe("eamonn");
    expect(commits).toBe(2);
    journal.assign("q3", "darren");
    journal.markRunning("q3", "darren");
    journal.finish("q3", "done");
    // A slot set for a task that has run since does not overwrite where it ran.
    journal.assign("q3", "harry");
    journal.flush();
    db.close();
    const reopened = new TaskJournal(openDatabase(dataDir));
    expect(reopened.recent().map((e) => [e.task.id, e.slot])).toEqual([
      ["q3", "darren"],
      ["q2", "harry"],
      ["q1", "eamonn"],
    ]);
  });

  it("a database closed with slots still unwritten does not fail when their turn comes", async () => {
    const db = openDatabase(tempDir("devs-journal-"));
    const journal = new TaskJournal(db);
    journal.add(makeTask("acme/a", "agent", "q1"));
    journal.assign("q1", "eamonn");
    db.close();
    await new Promise((r) => setTimeout(r, 50));
  });

  it("reads the newest tasks and the next place through an index, not the whole table", () => {
    const db = openDatabase(tempDir("devs-journal-"));
    const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as Array<{ detail: string }>).map((r) => r.detail).join("; ");
    // The journal's own queries (journal.ts recent and add).
    expect(plan("SELECT * FROM task ORDER BY seq DESC LIMIT 50")).toMatch(/USING INDEX task_seq/);
    expect(plan("SELECT * FROM task ORDER BY seq DESC LIMIT 50")).not.toMatch(/TEMP B-TREE/);
    expect(plan("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM task")).toMatch(/task_seq/);
    // A repository's queued CI runs, which every push to a pull request looks up to supersede.
    const queued = plan("SELECT body FROM task WHERE kind = 'ci' AND repo = 'acme/a' AND state = 'queued' ORDER BY seq");
    expect(queued).toMatch(/USING INDEX task_queued_by_repo/);
    expect(queued).not.toMatch(/TEMP B-TREE/);
  });

  it("a database from before the index gains it and keeps its tasks in their order", () => {
    const dataDir = tempDir("devs-journal-");
    const first = openDatabase(dataDir);
    const journal = new TaskJournal(first);
    for (let i = 1; i <= 3; i++) journal.add(makeTask("acme/a", "agent", `old${i}`));
    const version = first.pragma("user_version", { simple: true }) as number;
    // As an older build left it: neither of the last two migrations' indexes, the version before them.
    first.exec("DROP INDEX task_seq; DROP INDEX task_queued_by_repo");
    first.pragma(`user_version = ${version - 2}`);
    first.close();

    const reopened = new TaskJournal(openDatabase(dataDir));
    reopened.add(makeTask("acme/a", "agent", "new"));
    expect(ids(reopened.recent())).toEqual(["new", "old3", "old2", "old1"]);
    const raw = new Database(join(dataDir, "devs-webhook.db"), { readonly: true });
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'task_seq'").get()).toEqual({ name: "task_seq" });
    expect(raw.pragma("user_version", { simple: true })).toBe(version);
    raw.close();
  });
});
