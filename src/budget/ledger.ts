// The model usage ledger: what the proxy counted for each task, by repository and month, in the
// server's database. Monthly budgets read it, so they hold across restarts and across the tasks of
// one repository running side by side; the admin routes and the metrics read it too.
import { statement, type Db } from "../tasks/database.js";
import type { Usage } from "../model-proxy/proxy.js";

export const NO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, cacheCreationTokens: 0, cacheReadTokens: 0, requests: 0, costUsd: 0 };

interface Row {
  input_tokens: number;
  output_tokens: number;
  cache_creation_tokens: number;
  cache_read_tokens: number;
  requests: number;
  cost_usd: number;
}

const toUsage = (row: Row | undefined): Usage =>
  row
    ? {
        inputTokens: row.input_tokens,
        outputTokens: row.output_tokens,
        cacheCreationTokens: row.cache_creation_tokens,
        cacheReadTokens: row.cache_read_tokens,
        requests: row.requests,
        costUsd: row.cost_usd,
      }
    : NO_USAGE;

const SUMS = `COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens,
  COALESCE(SUM(cache_creation_tokens), 0) AS cache_creation_tokens, COALESCE(SUM(cache_read_tokens), 0) AS cache_read_tokens,
  COALESCE(SUM(requests), 0) AS requests, COALESCE(SUM(cost_usd), 0) AS cost_usd`;

export class UsageLedger {
  private readonly upsert;
  private readonly monthQuery;
  private readonly taskQuery;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    this.upsert = db.prepare(
      `INSERT INTO model_usage (task_id, repo, month, input_tokens, output_tokens, cache_creation_tokens, cache_read_tokens, requests, cost_usd, updated_at)
       VALUES (@task, @repo, @month, @inputTokens, @outputTokens, @cacheCreationTokens, @cacheReadTokens, @requests, @costUsd, @at)
       ON CONFLICT (task_id) DO UPDATE SET input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
         cache_creation_tokens = excluded.cache_creation_tokens, cache_read_tokens = excluded.cache_read_tokens,
         requests = excluded.requests, cost_usd = excluded.cost_usd, updated_at = excluded.updated_at`,
    );
    this.monthQuery = db.prepare("SELECT COALESCE(SUM(cost_usd), 0) AS spent FROM model_usage WHERE repo = ? AND month = ?");
    this.taskQuery = db.prepare("SELECT * FROM model_usage WHERE task_id = ?");
  }

  /** The task's totals so far (all its attempts), replacing what was recorded before. */
  record(entry: { taskId: string; repo: string; month: string; usage: Usage }): void {
    this.upsert.run({ task: entry.taskId, repo: entry.repo.toLowerCase(), month: entry.month, ...entry.usage, at: this.now() });
  }

  /** Dollars a repository's tasks spent in a month (`2026-12`), every task counted once. */
  monthSpent(repo: string, month: string): number {
    return (this.monthQuery.get(repo.toLowerCase(), month) as { spent: number }).spent;
  }

  /** A task's totals; zero when the proxy never saw it. */
  usageOf(taskId: string): Usage {
    return toUsage(this.taskQuery.get(taskId) as Row | undefined);
  }

  /** The recorded month of a task, so a retried task keeps counting where it started. */
  monthOf(taskId: string): string | null {
    return (statement(this.db, "SELECT month FROM model_usage WHERE task_id = ?").get(taskId) as { month: string } | undefined)?.month ?? null;
  }

  /** Everything ever counted, for the metrics' counters. */
  totals(): Usage {
    return toUsage(statement(this.db, `SELECT ${SUMS} FROM model_usage`).get() as Row);
  }
}
