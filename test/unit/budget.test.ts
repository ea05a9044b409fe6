import { describe, expect, it } from "vitest";
import {
  budgetStopText,
  monthKey,
  monthlyLimit,
  monthResetDate,
  parseMonthlyBudgets,
  parseUsd,
  spentBudget,
  taskLimit,
  type BudgetSettings,
} from "../../src/policy/budget.js";
import { loadSettings, SettingsError, type Env } from "../../src/settings.js";

const SETTINGS: BudgetSettings = {
  taskDefaultUsd: 10,
  taskCeilingUsd: 50,
  monthlyDefaultUsd: 100,
  monthlyByRepo: [
    { repo: "acme/widgets", usd: 200 },
    { repo: "acme/*", usd: 20 },
  ],
};
const AT = new Date("2026-12-31T23:59:00Z");

describe("a task's cost limit", () => {
  it("is DEVS.yml's max_cost_usd when it is under the ceiling", () => {
    expect(taskLimit(0.5, SETTINGS)).toEqual({ usd: 0.5, source: "max_cost_usd" });
  });
  it("is the operator's default when DEVS.yml sets none", () => {
    expect(taskLimit(null, SETTINGS)).toEqual({ usd: 10, source: "MAX_TASK_COST_USD" });
  });
  it("never goes above the operator's ceiling, whatever DEVS.yml says", () => {
    expect(taskLimit(1000, SETTINGS)).toEqual({ usd: 50, source: "TASK_COST_CEILING_USD" });
  });
});

describe("a repository's monthly limit", () => {
  it("is its own entry first, then its owner's, then the default", () => {
    expect(monthlyLimit("Acme/Widgets", SETTINGS)).toBe(200);
    expect(monthlyLimit("acme/gadgets", SETTINGS)).toBe(20);
    expect(monthlyLimit("other/thing", SETTINGS)).toBe(100);
    expect(monthlyLimit("other/thing", { ...SETTINGS, monthlyDefaultUsd: null })).toBeNull();
  });
  it("counts calendar months in UTC and resets on the first of the next", () => {
    expect(monthKey(AT)).toBe("2026-12");
    expect(monthResetDate(AT)).toBe("2027-01-01");
  });
});

describe("which budget is spent", () => {
  const state = { taskSpentUsd: 0.2, limit: { usd: 0.5, source: "max_cost_usd" as const }, monthSpentUsd: 3, monthLimitUsd: 100, at: AT };
  it("none while both are under their limits", () => expect(spentBudget(state)).toBeNull());
  it("the task's once its spending reaches the limit", () => {
    expect(spentBudget({ ...state, taskSpentUsd: 0.5 })).toEqual({ budget: "task", limit: state.limit, spentUsd: 0.5 });
  });
  it("the month's first, when both are spent", () => {
    expect(spentBudget({ ...state, taskSpentUsd: 9, monthSpentUsd: 100 })).toEqual({
      budget: "monthly",
      limitUsd: 100,
      spentUsd: 100,
      month: "2026-12",
      resetsOn: "2027-01-01",
    });
  });
  it("a zero monthly limit allows nothing", () => expect(spentBudget({ ...state, monthSpentUsd: 0, monthLimitUsd: 0 })?.budget).toBe("monthly"));
});

describe("what the user is told", () => {
  it("names the task's budget, the figures and where the limit comes from", () => {
    expect(budgetStopText({ budget: "task", limit: { usd: 0.5, source: "max_cost_usd" }, spentUsd: 0.734 })).toBe(
      "the task's cost limit was reached: $0.73 spent of $0.50 (`max_cost_usd` in DEVS.yml).",
    );
    expect(budgetStopText({ budget: "task", limit: { usd: 50, source: "TASK_COST_CEILING_USD" }, spentUsd: 50.1 })).toContain(
      "(the server's ceiling, TASK_COST_CEILING_USD)",
    );
  });
  it("names the month, the figures and when it resets", () => {
    expect(budgetStopText({ budget: "monthly", limitUsd: 100, spentUsd: 100.25, month: "2026-12", resetsOn: "2027-01-01" })).toBe(
      "this repository's monthly model budget is spent: $100.25 of $100.00 in 2026-12. " +
        "It resets on 2027-01-01; the server's operator sets it (MONTHLY_BUDGET_USD or MONTHLY_BUDGETS).",
    );
  });
});

describe("the operator's budget settings", () => {
  const load = (env: Env) => loadSettings(env, "/home/op").budgets;
  const problem = (env: Env) => {
    try {
      load(env);
    } catch (error) {
      expect(error).toBeInstanceOf(SettingsError);
      return (error as Error).message;
    }
    throw new Error("expected a SettingsError");
  };

  it("default to $10 a task under a $50 ceiling, and no monthly limit", () => {
    expect(load({})).toEqual({ taskDefaultUsd: 10, taskCeilingUsd: 50, monthlyDefaultUsd: null, monthlyByRepo: [] });
  });
  it("read dollar amounts and per-repository budgets", () => {
    expect(load({ MAX_TASK_COST_USD: "$2.50", TASK_COST_CEILING_USD: "5", MONTHLY_BUDGET_USD: "100", MONTHLY_BUDGETS: "Acme/Widgets=200, acme/*=0" })).toEqual({
      taskDefaultUsd: 2.5,
      taskCeilingUsd: 5,
      monthlyDefaultUsd: 100,
      monthlyByRepo: [
        { repo: "acme/widgets", usd: 200 },
        { repo: "acme/*", usd: 0 },
      ],
    });
  });
  it("refuse what is not an amount, naming the variable", () => {
    expect(problem({ MAX_TASK_COST_USD: "lots" })).toBe('MAX_TASK_COST_USD: expected an amount in dollars such as 5 or 0.50, got "lots"');
    expect(problem({ MONTHLY_BUDGET_USD: "-3" })).toMatch(/^MONTHLY_BUDGET_USD: expected an amount/);
    expect(problem({ MAX_TASK_COST_USD: "0" })).toBe("MAX_TASK_COST_USD: must be more than 0");
  });
  it("refuse a default above the ceiling", () => {
    expect(problem({ MAX_TASK_COST_USD: "80" })).toBe("MAX_TASK_COST_USD: 80 is above TASK_COST_CEILING_USD (50)");
  });
  it("refuse a malformed or repeated MONTHLY_BUDGETS entry", () => {
    expect(problem({ MONTHLY_BUDGETS: "acme/widgets:200" })).toBe('MONTHLY_BUDGETS: "acme/widgets:200" is not owner/name=dollars (or owner/*=dollars)');
    expect(problem({ MONTHLY_BUDGETS: "acme/w=1,ACME/W=2" })).toBe("MONTHLY_BUDGETS: acme/w is listed twice");
  });
  it("parse amounts strictly", () => {
    expect(parseUsd("0.50")).toBe(0.5);
    expect(parseUsd("1e3")).toBeNull();
    expect(parseMonthlyBudgets("")).toEqual([]);
  });
});

describe("the model proxy's address", () => {
  it("is derived unless MODEL_PROXY_HOST names one address", () => {
    expect(loadSettings({}, "/h").modelProxyHost).toBeNull();
    expect(loadSettings({ MODEL_PROXY_HOST: "172.17.0.1" }, "/h").modelProxyHost).toBe("172.17.0.1");
    expect(() => loadSettings({ MODEL_PROXY_HOST: "0.0.0.0" }, "/h")).toThrow("MODEL_PROXY_HOST: must be one address the containers reach, not every interface");
    expect(() => loadSettings({ MODEL_PROXY_HOST: "proxy.example" }, "/h")).toThrow(/MODEL_PROXY_HOST: expected an IPv4 address/);
  });
  it("forwards to the real API unless ANTHROPIC_UPSTREAM_URL says otherwise", () => {
    expect(loadSettings({}, "/h").anthropicUpstreamUrl).toBe("https://api.anthropic.com");
    expect(() => loadSettings({ ANTHROPIC_UPSTREAM_URL: "ftp://x" }, "/h")).toThrow(/^ANTHROPIC_UPSTREAM_URL: expected an http\(s\) URL/);
  });
});
