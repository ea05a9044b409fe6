// Waiting in tests for something to happen, instead of sleeping and hoping it did.
import { setTimeout as sleep } from "node:timers/promises";

type Truthy<T> = Exclude<T, undefined | null | false | 0 | "">;

export interface UntilOptions {
  /** How long to wait before failing the test. */
  timeoutMs?: number;
  /** What is awaited, for the error: "the final comment" (default: the probe's source). */
  what?: string;
  /** How often to look. */
  intervalMs?: number;
  /** More to say when it times out (a server's log, the requests seen). */
  detail?: () => string;
}

/** Calls `probe` until it answers something truthy, and returns that; throws when time runs out. */
export async function until<T>(probe: () => T | Promise<T>, options: UntilOptions = {}): Promise<Truthy<T>> {
  const { timeoutMs = 5_000, what = probe.toString(), intervalMs = 10, detail } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as Truthy<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail()}` : ""}`);
    await sleep(intervalMs);
  }
}
