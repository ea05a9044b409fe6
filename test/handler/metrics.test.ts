// The metrics after one agent task and one CI task run through the pool `serve` builds: the real
// agent runner (with fakes for the repository, the container and the model), a CI executor that
// reports its phases, and the text exposition read back by its `# TYPE` lines and label sets.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AgentOutcome } from "../../src/agent/claude.js";
import { createAgentRunner, type AgentRunnerDeps } from "../../src/agent/runner.js";
import type { AgentConfig } from "../../src/config/task-config.js";
import type { TaskExecutor } from "../../src/tasks/execution.js";
import { VERSION } from "../../src/version.js";
import type { Services } from "../../src/wiring/services.js";
import type { RepoCache } from "../../src/workspace/repo-cache.js";
import { labelSets, parseExposition, valueOf, type Exposition } from "../helpers/metrics.js";
import { unmeteredModel } from "../helpers/model.js";
import { TestOctokit } from "../helpers/probot.js";
import { testServices } from "../helpers/services.js";
import { testSettings } from "../helpers/settings.js";
import { makeTask } from "../helpers/tasks.js";

const CONFIG: AgentConfig = { defaultBranch: null, promptExtra: null, renderOverride: null, directCommit: false, draftPrs: false, maxCostUsd: null, env: {} };

/** Every call is 100 ms later than the one before: each phase the runner times takes a known, non-zero time. */
function steppingClock(stepMs = 100) {
  let t = 1_000_000;
  return () => (t += stepMs);
}

/** The real agent runner; the agent stops at its turn limit, so nothing is published. */
function agentRunner(): TaskExecutor {
  const workspace = mkdtempSync(join(tmpdir(), "devs-metrics-ws-"));
  const outcome: AgentOutcome = { ok: false, kind: "max_turns", reason: "turn limit", detail: "", turns: 3, costUsd: null, durationMs: 1, sessionId: null, exitCode: 1 };
  const deps: AgentRunnerDeps = {
    botHandle: "devs-bot",
    identity: { name: "devs-bot", email: "bot@example.invalid" },
    repoCache: { sync: async () => "/unused", checkout: async () => ({ dir: workspace, branch: "main", baseSha: "a".repeat(40) }), cachePath: () => "/unused" } as unknown as RepoCache,
    workspaceFor: () => workspace,
    setupDirFor: () => "/unused",
    quiesce: async () => undefined,
    scratchDir: mkdtempSync(join(tmpdir(), "devs-metrics-scratch-")),
    github: async () => ({ octokit: new TestOctokit({ auth: "t" }), token: "t" }),
    loadConfig: async () => CONFIG,
    conversation: async () => [],
    prepareContainer: async () => ({
      workspaceFolder: "/workspaces/widgets",
      notes: [],
      runAgent: async () => outcome,
      exportChanges: async () => {
        throw new Error("nothing is exported after a failed run");
      },
    }),
    openModel: unmeteredModel,
    redact: (text) => text,
    log: pino({ level: "silent" }),
    now: steppingClock(),
  };
  return createAgentRunner(deps) as TaskExecutor;
}

/** A CI run as the CI runner reports it: done, with its phases. */
const ciRun: TaskExecutor = async () => ({ state: "done", detail: "success", phases: { checkout: 300, container: 400, tests: 2_000, publish: 100 } });

let services: Services | undefined;
beforeEach(() => nock.disableNetConnect());
afterEach(async () => {
  await services?.close();
  services = undefined;
  nock.cleanAll();
});

async function scrape(s: Services): Promise<Exposition> {
  const { text, contentType } = await s.operations.metrics!();
  expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(text);
}

describe("metrics after one agent task and one CI task", () => {
  it("names, types and label sets; phases in the histograms, the journal and /tasks", async () => {
    services = testServices(testSettings({ CONTAINER_POOL: "eamonn,harry", CI_CONTAINER_POOL: "ci1" }), { kinds: { agent: { execute: agentRunner() }, ci: { execute: ciRun } } });
    const agent = makeTask("acme/widgets", "agent", "metrics-agent");
    const ci = makeTask("acme/widgets", "ci", "metrics-ci");
    await services.pool.submit(agent);
    await services.pool.submit(ci);
    await services.pool.idle();
    const { journal } = services;

    const m = await scrape(services);
    expect(Object.fromEntries([...m.types].filter(([name]) => name.startsWith("devs_")))).toEqual({
      devs_deliveries_total: "counter",
      devs_tasks_total: "counter",
      devs_task_duration_seconds: "histogram",
      devs_queue_depth: "gauge",
      devs_busy_slots: "gauge",
      devs_deliveries_remembered: "gauge",
      devs_agent_cost_usd_total: "counter",
      devs_agent_model_requests_total: "counter",
      devs_agent_tokens_total: "counter",
      devs_build_info: "gauge",
    });
    // prom-client's process metrics, unprefixed as Node.js dashboards expect.
    expect(m.types.get("process_cpu_seconds_total")).toBe("counter");
    expect(m.types.get("nodejs_eventloop_lag_seconds")).toBe("gauge");

    expect(labelSets(m, "devs_tasks_total")).toEqual(["kind=agent,outcome=failed", "kind=ci,outcome=done"]);
    expect(valueOf(m, "devs_tasks_total", { kind: "agent", outcome: "failed" })).toBe(1);
    expect(labelSets(m, "devs_task_duration_seconds_count")).toEqual([
      "kind=agent,phase=agent",
      "kind=agent,phase=checkout",
      "kind=agent,phase=container",
      "kind=agent,phase=queue",
      "kind=ci,phase=checkout",
      "kind=ci,phase=container",
      "kind=ci,phase=publish",
      "kind=ci,phase=queue",
      "kind=ci,phase=tests",
    ]);
    expect(valueOf(m, "devs_task_duration_seconds_sum", { kind: "ci", phase: "tests" })).toBe(2);
    // The stepping clock: each timed call of the agent runner took 100 ms.
    expect(valueOf(m, "devs_task_duration_seconds_sum", { kind: "agent", phase: "agent" })).toBe(0.1);
    const buckets = m.samples.filter((s) => s.name === "devs_task_duration_seconds_bucket" && s.labels.kind === "ci" && s.labels.phase === "tests").map((s) => s.labels.le);
    expect(buckets[0]).toBe("0.05");
    expect(buckets.slice(-2)).toEqual(["3600", "+Inf"]);
    expect(valueOf(m, "devs_task_duration_seconds_bucket", { kind: "ci", phase: "tests", le: "1" })).toBe(0);
    expect(valueOf(m, "devs_task_duration_seconds_bucket", { kind: "ci", phase: "tests", le: "2.5" })).toBe(1);

    expect(labelSets(m, "devs_queue_depth")).toEqual(["slot=ci1", "slot=eamonn", "slot=harry"]);
    expect(m.samples.filter((s) => s.name === "devs_queue_depth").map((s) => s.value)).toEqual([0, 0, 0]);
    expect(valueOf(m, "devs_busy_slots")).toBe(0);
    expect(labelSets(m, "devs_agent_tokens_total")).toEqual(["type=cache_creation", "type=cache_read", "type=input", "type=output"]);
    expect(valueOf(m, "devs_agent_cost_usd_total")).toBe(0);
    expect(valueOf(m, "devs_build_info", { version: VERSION, node: process.versions.node })).toBe(1);
    // No delivery came in: the counter has no samples yet, only its TYPE.
    expect(labelSets(m, "devs_deliveries_total")).toEqual([]);

    // The journal keeps the phases (ms); /tasks shows them in seconds, the queue wait first.
    expect(journal.get(ci.id)!.phases).toEqual({ queue: expect.any(Number), checkout: 300, container: 400, tests: 2_000, publish: 100 });
    expect(Object.keys(journal.get(agent.id)!.phases!).sort()).toEqual(["agent", "checkout", "container", "queue"]);
    const listed = services.operations.recentTasks!(10) as Array<{ id: string; phases: Record<string, number> | null }>;
    const shown = listed.find((t) => t.id === ci.id)!.phases!;
    expect(Object.keys(shown)).toEqual(["queue", "container", "checkout", "tests", "publish"]);
    expect(shown).toMatchObject({ container: 0.4, checkout: 0.3, tests: 2, publish: 0.1 });
  });

  it("each process's services keep their own registry", async () => {
    services = testServices(testSettings(), { kinds: { ci: { execute: ciRun } } });
    const other = testServices(testSettings(), { kinds: {} });
    try {
      await services.pool.submit(makeTask("acme/widgets", "ci", "metrics-mine"));
      await services.pool.idle();
      expect(valueOf(await scrape(services), "devs_tasks_total", { kind: "ci", outcome: "done" })).toBe(1);
      expect(labelSets(await scrape(other), "devs_tasks_total")).toEqual([]);
    } finally {
      await other.close();
    }
  });
});
