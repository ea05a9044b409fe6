// src/index.ts wires CI events only when CI deps are given (AppDeps.ci), so handler tests and
// processes without a CI runner are unaffected.
import { describe, expect, it } from "vitest";
import { ciDeps } from "../helpers/ci.js";
import { strictNock } from "../helpers/nock.js";
import { payload } from "../helpers/payloads.js";
import { testDeps, testProbot } from "../helpers/probot.js";

strictNock();

const push = () => payload("push", undefined, { ref: "refs/heads/main", deleted: false, created: false });

describe("createApp", () => {
  it("without ci deps, a push is not handled (no request, no task)", async () => {
    const deps = testDeps();
    const probot = await testProbot(deps);
    await probot.receive({ id: "d1", name: "push", payload: push() } as never);
    expect(deps.sink.tasks).toEqual([]);
  });

  it("remembers every delivery it received, a trigger or not, for the redelivery sweep", async () => {
    const deps = testDeps();
    const probot = await testProbot(deps);
    await probot.receive({ id: "d-push", name: "push", payload: push() } as never);
    expect(deps.memory.wasReceived("d-push")).toBe(true);
    expect(deps.memory.wasReceived("d-other")).toBe(false);
  });

  it("with them, a push queues a CI task (its check is the CI reporter's, written once the pool queues it)", async () => {
    const ci = ciDeps();
    const deps = testDeps({ ci });
    const probot = await testProbot(deps);
    await probot.receive({ id: "d2", name: "push", payload: push() } as never);
    expect(ci.sink.tasks.map((t) => [t.kind, t.ci?.checkRunId])).toEqual([["ci", null]]);
    // The mention handler's sink saw nothing.
    expect(deps.sink.tasks).toEqual([]);
  });
});
