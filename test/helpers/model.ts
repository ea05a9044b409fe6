// A model session for runner tests without the server's proxy: the agent gets `env` as is (a
// scripted API's address and a key, or nothing it will use), and no budget is ever spent.
import type { AgentRunnerDeps } from "../../src/agent/runner.js";
import { NO_USAGE } from "../../src/budget/ledger.js";

export function directModel(env: Record<string, string> = { ANTHROPIC_BASE_URL: "http://127.0.0.1:9", ANTHROPIC_API_KEY: "devs-task-test" }): AgentRunnerDeps["openModel"] {
  return async () => ({
    ok: true,
    session: {
      env,
      signal: new AbortController().signal,
      limit: { usd: 10, source: "MAX_TASK_COST_USD" },
      stopped: () => null,
      usage: () => NO_USAGE,
      close: () => undefined,
    },
  });
}

/** For tests whose agent never reaches a model. */
export const unmeteredModel = directModel();
