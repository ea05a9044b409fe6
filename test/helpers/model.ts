// A model session for runner tests whose agent never reaches a model: no proxy, no budget spent.
import type { AgentRunnerDeps } from "../../src/agent/runner.js";
import { NO_USAGE } from "../../src/budget/ledger.js";

export const unmeteredModel: AgentRunnerDeps["openModel"] = async () => ({
  ok: true,
  session: {
    env: { ANTHROPIC_BASE_URL: "http://127.0.0.1:9", ANTHROPIC_API_KEY: "devs-task-test" },
    signal: new AbortController().signal,
    limit: { usd: 10, source: "MAX_TASK_COST_USD" },
    stopped: () => null,
    usage: () => NO_USAGE,
    close: () => undefined,
  },
});
