// A repository whose monthly model budget is spent: a new agent task is stopped before anything of
// it starts (no checkout, no container, no lease on the model proxy), and its one comment says
// which budget stopped it and at what figure. The ledger is the real one, in the server's database.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { pino } from "pino";
import { afterEach, beforeEach, expect, it } from "vitest";
import { AgentReporter } from "../../src/agent/reporter.js";
import { createAgentRunner, type AgentRunnerDeps } from "../../src/agent/runner.js";
import { NO_USAGE, UsageLedger } from "../../src/budget/ledger.js";
import { ModelAccess } from "../../src/budget/model-access.js";
import type { AgentConfig } from "../../src/config/task-config.js";
import { markerFor } from "../../src/publish/progress.js";
import { openDatabase } from "../../src/tasks/database.js";
import type { RepoCache } from "../../src/workspace/repo-cache.js";
import { runInPool } from "../helpers/pool.js";
import { TestOctokit } from "../helpers/probot.js";
import { tempDir } from "../helpers/settings.js";
import { makeTask } from "../helpers/tasks.js";

const API = "https://api.github.com";
const silent = pino({ level: "silent" });
const NOW = new Date("2026-12-02T10:00:00Z");
const CONFIG: AgentConfig = { defaultBranch: null, promptExtra: null, renderOverride: null, directCommit: false, draftPrs: false, maxCostUsd: 2, env: {} };

beforeEach(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

const unreachable = (what: string) => () => {
  throw new Error(`${what} must not start when the month's budget is spent`);
};

it("an exhausted monthly budget stops a new task before its container starts, and says so", async () => {
  const ledger = new UsageLedger(openDatabase(tempDir("devs-budget-db-")), () => NOW.getTime());
  // Earlier tasks this month spent $25.40 of the repository's $25; one of last month's does not count.
  ledger.record({ taskId: "earlier-1", repo: "acme/widgets", month: "2026-12", usage: { ...NO_USAGE, requests: 40, costUsd: 20 } });
  ledger.record({ taskId: "earlier-2", repo: "acme/widgets", month: "2026-12", usage: { ...NO_USAGE, requests: 9, costUsd: 5.4 } });
  ledger.record({ taskId: "november", repo: "acme/widgets", month: "2026-11", usage: { ...NO_USAGE, requests: 99, costUsd: 80 } });
  let proxyStarted = false;
  const model = new ModelAccess({
    startProxy: async () => {
      proxyStarted = true;
      throw new Error("the proxy must not start");
    },
    ledger,
    budgets: { taskDefaultUsd: 10, taskCeilingUsd: 50, monthlyDefaultUsd: null, monthlyByRepo: [{ repo: "acme/*", usd: 25 }] },
    now: () => NOW,
    log: silent,
  });
  const octokit = new TestOctokit({ auth: "installation-token" });
  const deps: AgentRunnerDeps = {
    botHandle: "devs-bot",
    identity: { name: "devs-bot", email: "bot@example.invalid" },
    repoCache: new Proxy({}, { get: () => unreachable("the repository cache") }) as unknown as RepoCache,
    workspaceFor: unreachable("the workspace"),
    setupDirFor: unreachable("the setup tree"),
    quiesce: unreachable("the container"),
    scratchDir: mkdtempSync(join(tmpdir(), "devs-scratch-")),
    github: async () => ({ octokit, token: "installation-token" }),
    loadConfig: async () => CONFIG,
    conversation: unreachable("the conversation"),
    prepareContainer: unreachable("the container"),
    openModel: (task, maxCostUsd) => model.open(task, maxCostUsd),
    redact: (text) => text,
    log: silent,
    now: () => 0,
  };
  const task = makeTask("acme/widgets", "agent", "budget-task");
  task.target.number = 12;
  task.trigger = { ...task.trigger, subject: { type: "issue_comment", id: 99 } };
  const marker = markerFor("budget-task");
  const scope = nock(API)
    .get("/repos/acme/widgets/issues/12/comments")
    .query(true)
    .reply(200, [])
    .post("/repos/acme/widgets/issues/12/comments", { body: `${marker}\n⏳ Queued for \`eamonn\`.` })
    .reply(201, { id: 77 })
    .patch("/repos/acme/widgets/issues/comments/77", { body: `${marker}\n⚙️ Working in \`eamonn\` since 1970-01-01T00:00:00Z.` })
    .reply(200, { id: 77 })
    .patch("/repos/acme/widgets/issues/comments/77", {
      body:
        `${marker}\n🛑 Not started: this repository's monthly model budget is spent: $25.40 of $25.00 in 2026-12. ` +
        "It resets on 2027-01-01; the server's operator sets it (MONTHLY_BUDGET_USD or MONTHLY_BUDGETS).",
    })
    .reply(200, { id: 77 })
    .post("/repos/acme/widgets/issues/comments/99/reactions", { content: "confused" })
    .reply(201, {});
  const reporter = new AgentReporter({ github: async () => ({ octokit }), timeoutMinutes: 30, log: silent, now: () => 0 });
  const end = await runInPool(task, { execute: createAgentRunner(deps), reporter });
  scope.done();
  expect(end.state).toBe("failed");
  expect(end.detail).toBe("stopped by the monthly budget");
  expect(proxyStarted).toBe(false);
  // Nothing was spent on the refused task.
  expect(ledger.usageOf("budget-task")).toEqual(NO_USAGE);
  expect(ledger.monthSpent("acme/widgets", "2026-12")).toBeCloseTo(25.4);
});
