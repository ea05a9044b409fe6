// The group commit: writes asked for in one turn of the event loop reach the disk together (a
// storm of mentions shares its disk syncs), yet each is its own savepoint, a duplicate is still
// caught within the group, and a commit that fails tells every writer.
import Database from "better-sqlite3";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { grouped, openDatabase } from "../../src/tasks/database.js";
import { SqliteDeliveryMemory } from "../../src/tasks/delivery-memory.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import { tempDir } from "../helpers/settings.js";
import { makeTask } from "../helpers/tasks.js";

function twoConnections() {
  const dir = tempDir("devs-group-commit-");
  const db = openDatabase(dir);
  const reader = new Database(join(dir, "devs-webhook.db"), { readonly: true });
  const count = () => (reader.prepare("SELECT COUNT(*) AS n FROM task").get() as { n: number }).n;
  return { db, count };
}

describe("grouped", () => {
  it("the tasks asked for in one turn are all on disk, in one commit, when the first resolves", async () => {
    const { db, count } = twoConnections();
    const journal = new TaskJournal(db);
    const seenAtResolve: number[] = [];
    const added = Array.from({ length: 50 }, (_, i) => journal.addGrouped(makeTask("acme/a", "agent", `t${i}`)).then((ok) => (seenAtResolve.push(count()), ok)));
    // Nothing is written before the turn ends.
    expect(count()).toBe(0);
    expect(await Promise.all(added)).toEqual(Array(50).fill(true));
    expect(seenAtResolve).toEqual(Array(50).fill(50));
    expect(journal.recent(3).map((e) => e.task.id)).toEqual(["t49", "t48", "t47"]);
  });

  it("a write that throws is undone and rejects alone; the others of its group land", async () => {
    const { db, count } = twoConnections();
    const journal = new TaskJournal(db);
    const first = journal.addGrouped(makeTask("acme/a", "agent", "first"));
    const broken = grouped(db, () => {
      journal.add(makeTask("acme/a", "agent", "half-written"));
      throw new Error("the work failed after writing");
    });
    const last = journal.addGrouped(makeTask("acme/a", "agent", "last"));
    await expect(broken).rejects.toThrow("the work failed after writing");
    expect([await first, await last]).toEqual([true, true]);
    expect(count()).toBe(2);
    expect(journal.get("half-written")).toBeNull();
  });

  it("two deliveries of one trigger in the same group: only the first claims it", async () => {
    const memory = new SqliteDeliveryMemory(openDatabase(tempDir("devs-group-commit-")));
    const claims = await Promise.all([memory.claim("d1", "same-comment"), memory.claim("d2", "same-comment"), memory.claim("d1", "other-comment")]);
    expect(claims).toEqual([true, false, false]);
    expect({ d2: memory.seenDelivery("d2"), other: memory.seenContent("other-comment") }).toEqual({ d2: false, other: false });
  });

  it("a commit that cannot be written rejects every write of its group, so no delivery is answered as queued", async () => {
    const db = openDatabase(tempDir("devs-group-commit-"));
    const journal = new TaskJournal(db);
    const added = [journal.addGrouped(makeTask("acme/a", "agent", "a")), journal.addGrouped(makeTask("acme/a", "agent", "b"))];
    db.close();
    for (const write of added) await expect(write).rejects.toThrow(/not open/);
  });
});
