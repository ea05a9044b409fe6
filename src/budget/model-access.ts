// An agent task's way to the model: a lease on the server's model proxy, under the task's and the
// repository's budgets. The container gets the proxy's address and a token that works for this
// task only, never the real key. The proxy counts what the API says was used; that count is
// written to the ledger as it arrives, and the moment a budget is spent the task's signal aborts
// (the agent stops within seconds) and the proxy refuses its next request.
import type { Logger } from "pino";
import type { Lease, ModelProxy, Usage } from "../model-proxy/proxy.js";
import { budgetStopText, monthKey, monthlyLimit, spentBudget, taskLimit, type BudgetSettings, type BudgetStop, type TaskLimit } from "../policy/budget.js";
import type { Task } from "../tasks/task.js";
import type { UsageLedger } from "./ledger.js";

/** The abort reason when a budget stops a task. */
export class BudgetExhausted extends Error {
  constructor(readonly stop: BudgetStop) {
    super(budgetStopText(stop));
    this.name = "BudgetExhausted";
  }
}

export interface ModelSession {
  /** For the agent's exec: the proxy's address and this task's token. */
  env: Record<string, string>;
  /** Aborts, with a BudgetExhausted reason, when a budget runs out during the run. */
  signal: AbortSignal;
  limit: TaskLimit;
  /** The budget that stopped the run, if one did. */
  stopped(): BudgetStop | null;
  /** The task's usage as the proxy counted it, earlier attempts included. */
  usage(): Usage;
  /** The token stops working. */
  close(): void;
}

export type ModelAccessAnswer = { ok: true; session: ModelSession } | { ok: false; stop: BudgetStop };

type Proxy = Pick<ModelProxy, "url" | "lease" | "close">;

export interface ModelAccessDeps {
  /** Starts the proxy (once, on first use: its address depends on the container network). */
  startProxy(): Promise<Proxy>;
  ledger: UsageLedger;
  budgets: BudgetSettings;
  now: () => Date;
  log: Logger;
}

export class ModelAccess {
  private proxy: Promise<Proxy> | null = null;

  constructor(private readonly deps: ModelAccessDeps) {}

  /** Refuses before anything runs when a budget is already spent; otherwise leases a token. */
  async open(task: Task, maxCostUsd: number | null, sharedWith: readonly string[] = []): Promise<ModelAccessAnswer> {
    const { ledger, budgets, log } = this.deps;
    // What the earlier tasks of the same piece of work spent comes off this one's limit.
    const spentBefore = sharedWith.reduce((sum, id) => sum + ledger.usageOf(id).costUsd, 0);
    const repo = task.repo.fullName;
    // A retried task goes on counting in the month and from the figure where its first attempt stopped.
    const month = ledger.monthOf(task.id) ?? monthKey(this.deps.now());
    const earlier = ledger.usageOf(task.id);
    const limit = taskLimit(maxCostUsd, budgets);
    const monthLimitUsd = monthlyLimit(repo, budgets);
    const state = (taskSpentUsd: number) => ({ taskSpentUsd: spentBefore + taskSpentUsd, limit, monthSpentUsd: ledger.monthSpent(repo, month), monthLimitUsd, at: this.deps.now() });

    const before = spentBudget(state(earlier.costUsd));
    if (before) return { ok: false, stop: before };

    const proxy = await (this.proxy ??= this.deps.startProxy());
    const stopper = new AbortController();
    let stop: BudgetStop | null = null;
    let lease: Lease | null = null;
    const total = (): Usage => add(earlier, lease?.usage());
    const exhaust = (found: BudgetStop) => {
      if (stop) return;
      stop = found;
      log.info({ task: task.id, repo, budget: found.budget, spentUsd: found.spentUsd }, `budget spent: ${budgetStopText(found)}`);
      stopper.abort(new BudgetExhausted(found));
    };
    lease = proxy.lease({
      taskId: task.id,
      admit: () => {
        const found = stop ?? spentBudget(state(total().costUsd));
        if (!found) return null;
        exhaust(found);
        return { message: `devs-webhook stopped this task: ${budgetStopText(found)}` };
      },
      onUsage: (_delta, running) => {
        const usage = add(earlier, running);
        ledger.record({ taskId: task.id, repo, month, usage });
        const found = spentBudget(state(usage.costUsd));
        if (found) exhaust(found);
      },
    });
    const token = lease.token;
    return {
      ok: true,
      session: {
        env: { ANTHROPIC_BASE_URL: proxy.url, ANTHROPIC_API_KEY: token },
        signal: stopper.signal,
        limit,
        stopped: () => stop,
        usage: total,
        close: () => lease.revoke(),
      },
    };
  }

  async close(): Promise<void> {
    if (this.proxy) await (await this.proxy.catch(() => null))?.close();
  }
}

function add(a: Usage, b: Usage | undefined): Usage {
  if (!b) return a;
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheCreationTokens: a.cacheCreationTokens + b.cacheCreationTokens,
    cacheReadTokens: a.cacheReadTokens + b.cacheReadTokens,
    requests: a.requests + b.requests,
    costUsd: a.costUsd + b.costUsd,
  };
}
