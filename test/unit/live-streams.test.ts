// The dashboard's event streams against a client that stops reading: nothing piles up in memory,
// and once it reads again it gets one fresh snapshot instead of everything it missed.
import type { ServerResponse } from "node:http";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { LiveStreams, type LiveEvent } from "../../src/admin/live.js";
import { until } from "../helpers/until.js";

/** A response whose client has stopped reading: writes are held until `read()`. */
function stalledResponse() {
  const written: string[] = [];
  let held: Array<() => void> = [];
  let reading = false;
  const res = new Writable({
    highWaterMark: 1024,
    write(_chunk: Buffer, _encoding, callback) {
      if (reading) callback();
      else held.push(callback);
    },
  });
  // What the stream asked to send, whether or not it has left the buffer yet.
  const write = res.write.bind(res) as (chunk: string) => boolean;
  Object.assign(res, {
    writeHead: () => res,
    write: (chunk: string) => {
      written.push(chunk);
      return write(chunk);
    },
  });
  return {
    res: res as unknown as ServerResponse,
    written,
    buffered: () => res.writableLength,
    read: () => {
      reading = true;
      const callbacks = held;
      held = [];
      for (const callback of callbacks) callback();
    },
  };
}

describe("LiveStreams", () => {
  it("sends a slow client nothing more once its buffer is full, then one fresh snapshot when it drains", async () => {
    const listeners = new Set<(event: LiveEvent) => void>();
    let snapshots = 0;
    const streams = new LiveStreams({ settleMs: 1, snapshotEveryMs: 60_000 });
    const client = stalledResponse();
    streams.open(client.res, {
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
      snapshot: async () => JSON.stringify({ n: ++snapshots, pad: "x".repeat(300) }),
    });
    await until(() => client.written.some((w) => w.startsWith("event: snapshot")));
    const event: LiveEvent = { type: "queued", task: "t", kind: "agent", repo: "acme/widgets", target: 1, slot: "eamonn" };
    for (let i = 0; i < 10_000; i++) for (const listener of listeners) listener({ ...event, task: `t${i}` });
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Held back: what was written before the buffer filled, not ten thousand events.
    expect(client.buffered()).toBeLessThan(4 * 1024);
    const beforeDrain = client.written.length;
    expect(beforeDrain).toBeLessThan(20);
    client.read();
    await until(() => client.written.slice(beforeDrain).some((w) => w.startsWith("event: snapshot")), { what: "a snapshot after the drain" });
    expect(client.written.slice(beforeDrain).filter((w) => w.startsWith("event: queued"))).toEqual([]);
    await streams.closeAll();
    expect(listeners.size).toBe(0);
    expect(streams.size).toBe(0);
  });
});
