// What an agent task may spend on the model, and what to say when a budget runs out. Pure: the
// figures come from the model proxy's own count (src/budget/), never from the agent's claim, since
// an agent's own limits are known to overrun.

/** The operator's budget settings (settings.ts parses them). */
export interface BudgetSettings {
  /** A task's limit when DEVS.yml sets no max_cost_usd (MAX_TASK_COST_USD). */
  taskDefaultUsd: number;
  /** No DEVS.yml may raise a task's limit above this (TASK_COST_CEILING_USD). */
  taskCeilingUsd: number;
  /** Each repository's calendar-month limit (MONTHLY_BUDGET_USD); null: none. */
  monthlyDefaultUsd: number | null;
  /** Per-repository monthly limits (MONTHLY_BUDGETS), `owner/name` or `owner/*`, lower-case. */
  monthlyByRepo: ReadonlyArray<{ repo: string; usd: number }>;
}

export interface TaskLimit {
  usd: number;
  /** Where the figure came from, for the user: the repository's key or the operator's setting. */
  source: "max_cost_usd" | "MAX_TASK_COST_USD" | "TASK_COST_CEILING_USD";
}

/** DEVS.yml's max_cost_usd under the operator's ceiling; the operator's default when it is unset. */
export function taskLimit(maxCostUsd: number | null, settings: BudgetSettings): TaskLimit {
  const ceiling = settings.taskCeilingUsd;
  if (maxCostUsd === null) {
    return settings.taskDefaultUsd <= ceiling ? { usd: settings.taskDefaultUsd, source: "MAX_TASK_COST_USD" } : { usd: ceiling, source: "TASK_COST_CEILING_USD" };
  }
  return maxCostUsd <= ceiling ? { usd: maxCostUsd, source: "max_cost_usd" } : { usd: ceiling, source: "TASK_COST_CEILING_USD" };
}

/** The repository's monthly limit: its own entry, else its owner's `owner/*`, else the default. */
export function monthlyLimit(repoFullName: string, settings: BudgetSettings): number | null {
  const repo = repoFullName.toLowerCase();
  const owner = `${repo.split("/")[0]}/*`;
  return (
    settings.monthlyByRepo.find((b) => b.repo === repo)?.usd ??
    settings.monthlyByRepo.find((b) => b.repo === owner)?.usd ??
    settings.monthlyDefaultUsd
  );
}

/** Calendar months in UTC: `2026-12`. */
export const monthKey = (at: Date): string => at.toISOString().slice(0, 7);

/** The first day of the next month, `2027-01-01`: when a monthly budget resets. */
export function monthResetDate(at: Date): string {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1)).toISOString().slice(0, 10);
}

export type BudgetStop =
  | { budget: "task"; limit: TaskLimit; spentUsd: number }
  | { budget: "monthly"; limitUsd: number; spentUsd: number; month: string; resetsOn: string };

export interface SpendingState {
  taskSpentUsd: number;
  limit: TaskLimit;
  /** This repository's spending this month, this task's included. */
  monthSpentUsd: number;
  monthLimitUsd: number | null;
  at: Date;
}

/** The budget that is spent, if one is: the next model request would go past it. */
export function spentBudget(state: SpendingState): BudgetStop | null {
  if (state.monthLimitUsd !== null && state.monthSpentUsd >= state.monthLimitUsd) {
    return { budget: "monthly", limitUsd: state.monthLimitUsd, spentUsd: state.monthSpentUsd, month: monthKey(state.at), resetsOn: monthResetDate(state.at) };
  }
  if (state.taskSpentUsd >= state.limit.usd) return { budget: "task", limit: state.limit, spentUsd: state.taskSpentUsd };
  return null;
}

const usd = (n: number): string => `$${n.toFixed(2)}`;

/** One line for the user: which budget, at what figure, and who can change it. */
export function budgetStopText(stop: BudgetStop): string {
  if (stop.budget === "monthly") {
    return (
      `this repository's monthly model budget is spent: ${usd(stop.spentUsd)} of ${usd(stop.limitUsd)} in ${stop.month}. ` +
      `It resets on ${stop.resetsOn}; the server's operator sets it (MONTHLY_BUDGET_USD or MONTHLY_BUDGETS).`
    );
  }
  const where =
    stop.limit.source === "max_cost_usd"
      ? "`max_cost_usd` in DEVS.yml"
      : stop.limit.source === "MAX_TASK_COST_USD"
        ? "the server's default, MAX_TASK_COST_USD; DEVS.yml `max_cost_usd` can change it"
        : "the server's ceiling, TASK_COST_CEILING_USD";
  return `the task's cost limit was reached: ${usd(stop.spentUsd)} spent of ${usd(stop.limit.usd)} (${where}).`;
}

/** A dollar figure as an operator writes it: `5`, `0.50`; never negative. */
export function parseUsd(text: string): number | null {
  const value = text.trim().replace(/^\$/, "");
  if (!/^\d+(\.\d+)?$/.test(value)) return null;
  return Number(value);
}

/** MONTHLY_BUDGETS: `owner/name=200,owner/*=50`. Throws an Error naming the entry at fault. */
export function parseMonthlyBudgets(text: string): Array<{ repo: string; usd: number }> {
  const entries: Array<{ repo: string; usd: number }> = [];
  for (const item of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const match = /^([A-Za-z\d][\w.-]*)\/([\w.-]+|\*)=(.+)$/.exec(item);
    const amount = match ? parseUsd(match[3]!) : null;
    if (!match || amount === null) throw new Error(`"${item}" is not owner/name=dollars (or owner/*=dollars)`);
    const repo = `${match[1]}/${match[2]}`.toLowerCase();
    if (entries.some((e) => e.repo === repo)) throw new Error(`${repo} is listed twice`);
    entries.push({ repo, usd: amount });
  }
  return entries;
}
