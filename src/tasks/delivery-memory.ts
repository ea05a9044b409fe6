// Remembers which deliveries and which trigger contents already became tasks, across restarts
//, so a redelivery or a duplicate delivery does nothing.
import type { Db } from "./database.js";

const DAY_MS = 24 * 60 * 60 * 1000;

export interface DeliveryMemory {
  seenDelivery(deliveryId: string): boolean;
  seenContent(key: string): boolean;
  /** Atomically records both; false when either was already there (a concurrent duplicate). */
  claim(deliveryId: string, contentKey: string): boolean;
  /** Forgets a claim whose task could not be queued, so a redelivery can try again. */
  release(deliveryId: string, contentKey: string): void;
  stats(): { deliveries: number; contents: number; retentionDays: number };
}

export class SqliteDeliveryMemory implements DeliveryMemory {
  private readonly retentionMs: number;
  private claims = 0;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
    retentionDays = 14,
  ) {
    this.retentionMs = retentionDays * DAY_MS;
  }

  seenDelivery(deliveryId: string): boolean {
    return this.db.prepare("SELECT 1 FROM seen_delivery WHERE id = ?").get(deliveryId) !== undefined;
  }

  seenContent(key: string): boolean {
    return this.db.prepare("SELECT 1 FROM seen_content WHERE key = ?").get(key) !== undefined;
  }

  claim(deliveryId: string, contentKey: string): boolean {
    const at = this.now();
    const claimed = this.db.transaction(() => {
      if (this.seenDelivery(deliveryId) || this.seenContent(contentKey)) return false;
      this.db.prepare("INSERT INTO seen_delivery (id, seen_at) VALUES (?, ?)").run(deliveryId, at);
      this.db.prepare("INSERT INTO seen_content (key, delivery_id, seen_at) VALUES (?, ?, ?)").run(contentKey, deliveryId, at);
      return true;
    })();
    if (claimed && ++this.claims % 100 === 0) this.prune();
    return claimed;
  }

  release(deliveryId: string, contentKey: string): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM seen_delivery WHERE id = ?").run(deliveryId);
      this.db.prepare("DELETE FROM seen_content WHERE key = ? AND delivery_id = ?").run(contentKey, deliveryId);
    })();
  }

  prune(): void {
    const cutoff = this.now() - this.retentionMs;
    this.db.prepare("DELETE FROM seen_delivery WHERE seen_at < ?").run(cutoff);
    this.db.prepare("DELETE FROM seen_content WHERE seen_at < ?").run(cutoff);
  }

  stats() {
    const count = (table: string) => (this.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { deliveries: count("seen_delivery"), contents: count("seen_content"), retentionDays: this.retentionMs / DAY_MS };
  }
}
