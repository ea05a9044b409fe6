import Database from "better-sqlite3";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/tasks/database.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import { parsePhases, PhaseClock, phasesInSeconds } from "../../src/tasks/phases.js";
import { tempDir } from "../helpers/settings.js";
import { makeTask } from "../helpers/tasks.js";

describe("PhaseClock", () => {
  it("adds up each phase, also when the work throws", async () => {
    let t = 0;
    const clock = new PhaseClock(() => (t += 50));
    await clock.time("checkout", async () => undefined);
    await clock.time("container", async () => undefined);
    await clock.time("checkout", async () => undefined);
    await expect(clock.time("agent", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    clock.add("tests", -5);
    expect(clock.timings()).toEqual({ checkout: 100, container: 50, agent: 50, tests: 0 });
  });
});

describe("phases in the journal", () => {
  it("a finished task's phases come back as they were written; /tasks shows them in seconds", () => {
    const journal = new TaskJournal(openDatabase(tempDir("devs-phases-")));
    const task = makeTask("acme/widgets", "ci", "phases-ci");
    journal.add(task);
    journal.markRunning(task.id, "eamonn");
    const phases = { queue: 212, checkout: 1_500.5, container: 400, tests: 61_000, publish: 90 };
    journal.finish(task.id, "done", "success", phases);
    expect(journal.get(task.id)!.phases).toEqual(phases);
    expect(phasesInSeconds(journal.get(task.id)!.phases!)).toEqual({ queue: 0.212, container: 0.4, checkout: 1.501, tests: 61, publish: 0.09 });

    const never = makeTask("acme/widgets", "agent", "phases-cancelled");
    journal.add(never);
    journal.finish(never.id, "cancelled", "cancelled while queued");
    expect(journal.get(never.id)!.phases).toBeNull();
  });

  it("a database from before phases were kept gains the column; its tasks have none", () => {
    const dir = tempDir("devs-phases-old-");
    const old = new Database(join(dir, "devs-webhook.db"));
    old.exec(`CREATE TABLE task (id TEXT PRIMARY KEY, kind TEXT NOT NULL, repo TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL,
      container TEXT, attempts INTEGER NOT NULL DEFAULT 0, detail TEXT, created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, seq INTEGER NOT NULL)`);
    old.pragma("user_version = 3");
    old.close();
    // Migrations 1–3 are taken as applied: only the new column is added.
    const journal = new TaskJournal(openDatabase(dir));
    const task = makeTask("acme/widgets", "agent", "phases-old");
    journal.add(task);
    expect(journal.get(task.id)!.phases).toBeNull();
    journal.finish(task.id, "done", null, { queue: 1 });
    expect(journal.get(task.id)!.phases).toEqual({ queue: 1 });
  });

  it("what cannot be read is dropped, not trusted", () => {
    expect(parsePhases("not json")).toBeNull();
    expect(parsePhases('{"queue": 5, "agent": -1, "bogus": 3, "tests": "7"}')).toEqual({ queue: 5 });
  });
});
