// Remembers which deliveries and which trigger contents already became tasks, across restarts,
// so a redelivery or a duplicate delivery does nothing.
import { grouped, statement, type Db } from "./database.js";

const DAY_MS = 24 * 60 * 60 * 1000;

export interface DeliveryMemory {
  seenDelivery(deliveryId: string): boolean;
  seenContent(key: string): boolean;
  /** Atomically records both, on disk when it resolves; false when either was already there (a concurrent duplicate). */
  claim(deliveryId: string, contentKey: string): Promise<boolean>;
  /** Forgets a claim whose task could not be queued, so a redelivery can try again. */
  release(deliveryId: string, contentKey: string): void;
  stats(): { deliveries: number; contents: number; retentionDays: number };
  /** Every delivery that reached the app, a trigger or not (the redelivery sweep asks for the others). */
  received(deliveryId: string): void;
}

/**
 * How long receipts gather before they are written in one transaction. Nearly every delivery is
 * one to drop, and a commit each would cost a disk sync each; a receipt lost to a crash in this
 * window only makes the sweep ask GitHub for a delivery that the dedupe then drops.
 */
const RECEIPTS_FLUSH_MS = 100;
const MAX_PENDING_RECEIPTS = 10_000;

export class SqliteDeliveryMemory implements DeliveryMemory {
  private readonly retentionMs: number;
  private claims = 0;
  private receipts = 0;
  private pendingReceipts: Array<[id: string, at: number]> = [];
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
    retentionDays = 14,
  ) {
    this.retentionMs = retentionDays * DAY_MS;
  }

  seenDelivery(deliveryId: string): boolean {
    return statement(this.db, "SELECT 1 FROM seen_delivery WHERE id = ?").get(deliveryId) !== undefined;
  }

  seenContent(key: string): boolean {
    return statement(this.db, "SELECT 1 FROM seen_content WHERE key = ?").get(key) !== undefined;
  }

  async claim(deliveryId: string, contentKey: string): Promise<boolean> {
    const at = this.now();
    // Checked and written in one savepoint of the group commit: of two concurrent duplicates, the
    // second sees the first's rows.
    const claimed = await grouped(this.db, () => {
      if (this.seenDelivery(deliveryId) || this.seenContent(contentKey)) return false;
      statement(this.db, "INSERT INTO seen_delivery (id, seen_at) VALUES (?, ?)").run(deliveryId, at);
      statement(this.db, "INSERT INTO seen_content (key, delivery_id, seen_at) VALUES (?, ?, ?)").run(contentKey, deliveryId, at);
      return true;
    });
    if (claimed && ++this.claims % 100 === 0) this.prune();
    return claimed;
  }

  release(deliveryId: string, contentKey: string): void {
    this.db.transaction(() => {
      statement(this.db, "DELETE FROM seen_delivery WHERE id = ?").run(deliveryId);
      statement(this.db, "DELETE FROM seen_content WHERE key = ? AND delivery_id = ?").run(contentKey, deliveryId);
    })();
  }

  prune(): void {
    const cutoff = this.now() - this.retentionMs;
    statement(this.db, "DELETE FROM seen_delivery WHERE seen_at < ?").run(cutoff);
    statement(this.db, "DELETE FROM seen_content WHERE seen_at < ?").run(cutoff);
    statement(this.db, "DELETE FROM received_delivery WHERE received_at < ?").run(cutoff);
    statement(this.db, "DELETE FROM redelivery_asked WHERE asked_at < ?").run(cutoff);
  }

  received(deliveryId: string): void {
    // Bounded while the database refuses writes: the oldest receipts go first.
    if (this.pendingReceipts.length >= MAX_PENDING_RECEIPTS) this.pendingReceipts.shift();
    this.pendingReceipts.push([deliveryId, this.now()]);
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        try {
          this.flushReceipts();
        } catch {
          // The database refuses writes (a full or read-only disk): the receipts wait for the next
          // flush, and the next read (the sweep's) meets the error itself.
        }
      }, RECEIPTS_FLUSH_MS);
      this.flushTimer.unref();
    }
  }

  /** Writes the receipts gathered so far (before the database closes, and before any is read). */
  flushReceipts(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const batch = this.pendingReceipts;
    if (!batch.length) return;
    const insert = statement(this.db, "INSERT OR IGNORE INTO received_delivery (id, received_at) VALUES (?, ?)");
    this.db.transaction(() => {
      for (const [id, at] of batch) insert.run(id, at);
    })();
    this.pendingReceipts = [];
    // Most deliveries are never claims (pushes, labels…), so they keep the table pruned too.
    const before = this.receipts;
    this.receipts += batch.length;
    if (Math.floor(this.receipts / 1000) > Math.floor(before / 1000)) this.prune();
  }

  wasReceived(deliveryId: string): boolean {
    this.flushReceipts();
    return statement(this.db, "SELECT 1 FROM received_delivery WHERE id = ?").get(deliveryId) !== undefined;
  }

  /** Records that GitHub was asked to redeliver `guid`; false when it already was (ask once). */
  markRedeliveryAsked(guid: string): boolean {
    return statement(this.db, "INSERT OR IGNORE INTO redelivery_asked (guid, asked_at) VALUES (?, ?)").run(guid, this.now()).changes === 1;
  }

  /** When this database first served (ms): deliveries older than that were never ours to miss. */
  servingSince(): number {
    statement(this.db, "INSERT OR IGNORE INTO meta (key, value) VALUES ('serving_since', ?)").run(String(this.now()));
    return Number((statement(this.db, "SELECT value FROM meta WHERE key = 'serving_since'").get() as { value: string }).value);
  }

  stats() {
    const count = (table: string) => (statement(this.db, `SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { deliveries: count("seen_delivery"), contents: count("seen_content"), retentionDays: this.retentionMs / DAY_MS };
  }
}
