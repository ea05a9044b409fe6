// A handler's logger: the child with the delivery's bindings is made only when a line at an
// enabled level is written, and that line carries the bindings as a child's would.
import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { deferredChild } from "../../src/logging.js";

function logger(level: string) {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}

describe("deferredChild", () => {
  it("makes no child for lines below the level, and writes none", () => {
    const { log, lines } = logger("info");
    const child = vi.spyOn(log, "child");
    const deferred = deferredChild(log, { delivery: "d-1", repo: "acme/widgets" });
    deferred.debug({ reason: "no mention" }, "not a trigger");
    deferred.trace("nothing");
    expect(child).not.toHaveBeenCalled();
    expect(lines).toEqual([]);
  });

  it("writes an enabled line with the bindings, making the child once", async () => {
    const { log, lines } = logger("info");
    const child = vi.spyOn(log, "child");
    const deferred = deferredChild(log, { delivery: "d-2", repo: "acme/widgets" });
    deferred.info({ task: "agent-1" }, "task queued");
    deferred.warn("a second line");
    expect(deferred.isLevelEnabled("debug")).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => [l.msg, l.delivery, l.repo, l.task])).toEqual([
      ["task queued", "d-2", "acme/widgets", "agent-1"],
      ["a second line", "d-2", "acme/widgets", undefined],
    ]);
  });

  it("at debug, a debug line is written with the bindings", async () => {
    const { log, lines } = logger("debug");
    deferredChild(log, { delivery: "d-3" }).debug("not a trigger");
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => [l.msg, l.delivery])).toEqual([["not a trigger", "d-3"]]);
  });
});
