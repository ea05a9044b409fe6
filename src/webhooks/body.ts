// Reads a delivery's body while its signature is computed, keeping bytes only within a budget
// shared by every request in flight. A body is needed whole only once its signature is known to
// be good, which is known only at its end; until then anyone can send one. So the bytes of all
// unverified bodies together never exceed the budget: a body that does not fit is still hashed
// (a wrong signature is then a plain 401) but not kept, and a good one that was not kept is
// answered "try again" rather than parsed.
import type { Readable } from "node:stream";
import type { SignatureCheck } from "./delivery.js";

/** Bytes the server may hold for bodies not yet parsed, across all requests. */
export class BodyBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  take(bytes: number): boolean {
    if (this.used + bytes > this.capacity) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

export type BodyOutcome =
  | { kind: "body"; body: Buffer; release(): void }
  | { kind: "too-large" }
  | { kind: "bad-signature" }
  /** Signed correctly, but its bytes could not be kept while other bodies held the budget. */
  | { kind: "no-room" }
  /** The sender went away, or sent fewer bytes than its Content-Length. */
  | { kind: "incomplete" };

export interface BodyLimits {
  maxBytes: number;
  budget: BodyBudget;
}

/**
 * Streams `stream` through `signature`. With a Content-Length the bytes go into one buffer of that
 * size (reserved at the start); without one, chunks are reserved as they come. Past `maxBytes` it
 * stops at once with "too-large" and reads no further.
 */
export function readSignedBody(stream: Readable, contentLength: number | null, signature: SignatureCheck, limits: BodyLimits): Promise<BodyOutcome> {
  const { budget, maxBytes } = limits;
  return new Promise((resolve) => {
    let size = 0;
    let held = 0;
    let keeping = true;
    let fixed: Buffer | null = null;
    let chunks: Buffer[] = [];
    if (contentLength !== null) {
      if (budget.take(contentLength)) {
        held = contentLength;
        fixed = Buffer.allocUnsafeSlow(contentLength);
      } else keeping = false;
    }
    const drop = () => {
      keeping = false;
      fixed = null;
      chunks = [];
      budget.give(held);
      held = 0;
    };
    const finish = (outcome: BodyOutcome) => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onGone);
      stream.off("close", onGone);
      if (outcome.kind !== "body") drop();
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes || (contentLength !== null && size > contentLength)) {
        stream.pause();
        return finish({ kind: "too-large" });
      }
      signature.update(chunk);
      if (!keeping) return;
      if (fixed) chunk.copy(fixed, size - chunk.length);
      else if (budget.take(chunk.length)) {
        held += chunk.length;
        chunks.push(chunk);
      } else drop();
    };
    const onEnd = () => {
      if (contentLength !== null && size !== contentLength) return finish({ kind: "incomplete" });
      if (!signature.matches()) return finish({ kind: "bad-signature" });
      if (!keeping) return finish({ kind: "no-room" });
      const body = fixed ?? Buffer.concat(chunks, size);
      const release = () => {
        budget.give(held);
        held = 0;
      };
      finish({ kind: "body", body, release });
    };
    const onGone = () => finish({ kind: "incomplete" });
    stream.on("data", onData);
    stream.on("end", onEnd);
    stream.on("error", onGone);
    stream.on("close", onGone);
  });
}
