// Receipts of deliveries are written in batches: none is lost to a read or a close, and a burst
// is one transaction, not a disk sync per delivery.
import Database from "better-sqlite3";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/tasks/database.js";
import { SqliteDeliveryMemory } from "../../src/tasks/delivery-memory.js";
import { tempDir } from "../helpers/settings.js";
import { until } from "../helpers/until.js";

const rowsIn = (dir: string) => {
  const raw = new Database(join(dir, "devs-webhook.db"), { readonly: true });
  const n = (raw.prepare("SELECT COUNT(*) AS n FROM received_delivery").get() as { n: number }).n;
  raw.close();
  return n;
};

describe("delivery receipts", () => {
  it("a burst is written together shortly after, and a read sees every receipt at once", async () => {
    const dir = tempDir("devs-receipts-");
    const memory = new SqliteDeliveryMemory(openDatabase(dir));
    for (let i = 0; i < 500; i++) memory.received(`d-${i}`);
    expect(rowsIn(dir)).toBe(0);
    await until(() => rowsIn(dir) === 500, { timeoutMs: 2_000 });
    memory.received("late");
    expect(memory.wasReceived("late")).toBe(true);
    expect(memory.wasReceived("never")).toBe(false);
  });

  it("a close writes what is gathered", () => {
    const dir = tempDir("devs-receipts-");
    const db = openDatabase(dir);
    const memory = new SqliteDeliveryMemory(db);
    memory.received("before-close");
    memory.flushReceipts();
    db.close();
    expect(rowsIn(dir)).toBe(1);
  });
});
