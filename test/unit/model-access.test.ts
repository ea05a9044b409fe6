import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { UsageLedger, NO_USAGE } from "../../src/budget/ledger.js";
import { BudgetExhausted, ModelAccess } from "../../src/budget/model-access.js";
import type { Lease, LeaseOptions, Usage } from "../../src/model-proxy/proxy.js";
import type { BudgetSettings } from "../../src/policy/budget.js";
import { openDatabase, type Db } from "../../src/tasks/database.js";
import { tempDir } from "../helpers/settings.js";
import { agentTask } from "../helpers/tasks.js";

const BUDGETS: BudgetSettings = { taskDefaultUsd: 1, taskCeilingUsd: 5, monthlyDefaultUsd: null, monthlyByRepo: [{ repo: "acme/widgets", usd: 3 }] };
const NOW = new Date("2026-12-02T10:00:00Z");
const silent = pino({ level: "silent" });

/** The proxy's side of a lease, driven by the test: what a request would be told, and usage as it streams. */
class FakeProxy {
  readonly url = "http://127.0.0.1:4100";
  readonly leases: Array<LeaseOptions & { revoked: boolean; total: Usage }> = [];
  lease(options: LeaseOptions): Lease {
    const entry = { ...options, revoked: false, total: NO_USAGE };
    this.leases.push(entry);
    return { token: `devs-task-${this.leases.length}`, usage: () => entry.total, revoke: () => void (entry.revoked = true) };
  }
  /** A response's usage arriving: priced at $1 per 1000 output tokens here. */
  spend(index: number, costUsd: number): void {
    const entry = this.leases[index]!;
    const delta = { ...NO_USAGE, outputTokens: costUsd * 1000, requests: 1, costUsd };
    entry.total = { ...entry.total, outputTokens: entry.total.outputTokens + delta.outputTokens, requests: entry.total.requests + 1, costUsd: entry.total.costUsd + costUsd };
    entry.onUsage?.(delta, entry.total);
  }
  async close(): Promise<void> {}
}

let db: Db;
afterEach(() => db?.close());

function setup(budgets = BUDGETS) {
  db = openDatabase(join(tempDir("devs-model-access-"), "data"));
  const ledger = new UsageLedger(db, () => NOW.getTime());
  const proxy = new FakeProxy();
  let started = 0;
  const access = new ModelAccess({ startProxy: async () => (started++, proxy), ledger, budgets, now: () => NOW, log: silent });
  return { ledger, proxy, access, started: () => started };
}

describe("a task's model session", () => {
  it("hands the container the proxy's address and a task token, and records what the proxy counted", async () => {
    const { access, proxy, ledger } = setup();
    const answer = await access.open(agentTask({ id: "t1" }), null);
    if (!answer.ok) throw new Error("expected a session");
    expect(answer.session.env).toEqual({ ANTHROPIC_BASE_URL: "http://127.0.0.1:4100", ANTHROPIC_API_KEY: "devs-task-1" });
    proxy.spend(0, 0.25);
    expect(ledger.usageOf("t1")).toMatchObject({ costUsd: 0.25, requests: 1, outputTokens: 250 });
    expect(ledger.monthSpent("ACME/widgets", "2026-12")).toBe(0.25);
    expect(answer.session.usage().costUsd).toBe(0.25);
    expect(proxy.leases[0]!.admit()).toBeNull();
    answer.session.close();
    expect(proxy.leases[0]!.revoked).toBe(true);
  });

  it("aborts the run and refuses the next request once the task's limit is spent", async () => {
    const { access, proxy } = setup();
    const answer = await access.open(agentTask({ id: "t1" }), 0.5);
    if (!answer.ok) throw new Error("expected a session");
    proxy.spend(0, 0.3);
    expect(answer.session.signal.aborted).toBe(false);
    proxy.spend(0, 0.3);
    expect(answer.session.signal.aborted).toBe(true);
    expect(answer.session.signal.reason).toBeInstanceOf(BudgetExhausted);
    expect(answer.session.stopped()).toEqual({ budget: "task", limit: { usd: 0.5, source: "max_cost_usd" }, spentUsd: 0.6 });
    expect(proxy.leases[0]!.admit()).toEqual({ message: expect.stringContaining("the task's cost limit was reached: $0.60 spent of $0.50") });
  });

  it("refuses before the proxy is asked when the repository's month is already spent", async () => {
    const { access, ledger, proxy, started } = setup();
    ledger.record({ taskId: "earlier", repo: "acme/widgets", month: "2026-12", usage: { ...NO_USAGE, costUsd: 3.2 } });
    const answer = await access.open(agentTask({ id: "t2" }), null);
    expect(answer).toEqual({ ok: false, stop: { budget: "monthly", limitUsd: 3, spentUsd: 3.2, month: "2026-12", resetsOn: "2027-01-01" } });
    expect(started()).toBe(0);
    expect(proxy.leases).toHaveLength(0);
  });

  it("counts last month's spending against last month only", async () => {
    const { access, ledger } = setup();
    ledger.record({ taskId: "november", repo: "acme/widgets", month: "2026-11", usage: { ...NO_USAGE, costUsd: 9 } });
    expect((await access.open(agentTask({ id: "t3" }), null)).ok).toBe(true);
  });

  it("stops a task when another task of the repository spends the month meanwhile", async () => {
    const { access, proxy } = setup();
    const first = await access.open(agentTask({ id: "a" }), 5);
    const second = await access.open(agentTask({ id: "b" }), 5);
    if (!first.ok || !second.ok) throw new Error("expected sessions");
    proxy.spend(0, 2);
    proxy.spend(1, 1.5);
    // The second crossed the month's $3: it stops, and the first's next request is refused too.
    expect(second.session.stopped()).toMatchObject({ budget: "monthly", spentUsd: 3.5 });
    expect(proxy.leases[0]!.admit()).toEqual({ message: expect.stringContaining("monthly model budget is spent") });
    expect(first.session.signal.aborted).toBe(true);
  });

  it("a retried task goes on from what its first attempt spent", async () => {
    const { access, proxy, ledger } = setup();
    const first = await access.open(agentTask({ id: "t4" }), 1);
    if (!first.ok) throw new Error("expected a session");
    proxy.spend(0, 0.7);
    first.session.close();
    const again = await access.open(agentTask({ id: "t4" }), 1);
    if (!again.ok) throw new Error("expected a session");
    expect(again.session.usage().costUsd).toBeCloseTo(0.7);
    proxy.spend(1, 0.4);
    expect(ledger.usageOf("t4").costUsd).toBeCloseTo(1.1);
    expect(again.session.stopped()).toMatchObject({ budget: "task" });
  });

  it("a CI fix loop spends one budget: a fix starts with what the loop's earlier tasks spent", async () => {
    const { access, proxy, ledger } = setup({ ...BUDGETS, monthlyByRepo: [] });
    ledger.record({ taskId: "root", repo: "acme/widgets", month: "2026-12", usage: { ...NO_USAGE, costUsd: 0.6 } });
    ledger.record({ taskId: "fix-root-1", repo: "acme/widgets", month: "2026-12", usage: { ...NO_USAGE, costUsd: 0.3 } });
    ledger.record({ taskId: "elsewhere", repo: "acme/widgets", month: "2026-12", usage: { ...NO_USAGE, costUsd: 5 } });
    const fix = await access.open(agentTask({ id: "fix-root-2" }), 1, ["root", "fix-root-1"]);
    if (!fix.ok) throw new Error("expected a session");
    proxy.spend(0, 0.05);
    expect(fix.session.stopped()).toBeNull();
    proxy.spend(0, 0.1);
    expect(fix.session.stopped()).toMatchObject({ budget: "task", spentUsd: expect.closeTo(1.05) });
    expect(fix.session.signal.aborted).toBe(true);
    // Its own count stays its own.
    expect(ledger.usageOf("fix-root-2").costUsd).toBeCloseTo(0.15);
  });

  it("a loop whose budget is spent starts no fix at all", async () => {
    const { access, proxy, ledger } = setup({ ...BUDGETS, monthlyByRepo: [] });
    ledger.record({ taskId: "root", repo: "acme/widgets", month: "2026-12", usage: { ...NO_USAGE, costUsd: 1.2 } });
    const fix = await access.open(agentTask({ id: "fix-root-1" }), 1, ["root"]);
    expect(fix).toMatchObject({ ok: false, stop: { budget: "task" } });
    expect(proxy.leases).toHaveLength(0);
  });

  it("starts the proxy once, on first use", async () => {
    const { access, started } = setup();
    expect(started()).toBe(0);
    await access.open(agentTask({ id: "x" }), null);
    await access.open(agentTask({ id: "y" }), null);
    expect(started()).toBe(1);
  });
});
