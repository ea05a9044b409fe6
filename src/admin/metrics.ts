// Prometheus text exposition of the few numbers an operator alerts on. Pure.
import type { Usage } from "../model-proxy/proxy.js";

export interface MetricsInput {
  tasks: Record<string, number>;
  containers: Record<string, { queued: number; running: string | null }>;
  deliveries: number;
  /** What the model proxy counted, all tasks together. */
  model: Usage;
}

export function renderMetrics(input: MetricsInput): string {
  const lines = [
    "# HELP devs_tasks Tasks in the journal by state.",
    "# TYPE devs_tasks gauge",
    ...Object.entries(input.tasks).map(([state, n]) => `devs_tasks{state="${state}"} ${n}`),
    "# HELP devs_container_queued Tasks waiting for each slot (a CONTAINER_POOL name).",
    "# TYPE devs_container_queued gauge",
    ...Object.entries(input.containers).map(([name, c]) => `devs_container_queued{container="${name}"} ${c.queued}`),
    "# HELP devs_container_busy 1 while a slot runs a task.",
    "# TYPE devs_container_busy gauge",
    ...Object.entries(input.containers).map(([name, c]) => `devs_container_busy{container="${name}"} ${c.running ? 1 : 0}`),
    "# HELP devs_deliveries_remembered Deliveries remembered for deduplication.",
    "# TYPE devs_deliveries_remembered gauge",
    `devs_deliveries_remembered ${input.deliveries}`,
    "# HELP devs_model_cost_usd_total Model cost of agent tasks in US dollars, as the model proxy counted it.",
    "# TYPE devs_model_cost_usd_total counter",
    `devs_model_cost_usd_total ${input.model.costUsd}`,
    "# HELP devs_model_tokens_total Model tokens of agent tasks by kind, from the API's usage figures.",
    "# TYPE devs_model_tokens_total counter",
    `devs_model_tokens_total{kind="input"} ${input.model.inputTokens}`,
    `devs_model_tokens_total{kind="output"} ${input.model.outputTokens}`,
    `devs_model_tokens_total{kind="cache_creation"} ${input.model.cacheCreationTokens}`,
    `devs_model_tokens_total{kind="cache_read"} ${input.model.cacheReadTokens}`,
    "# HELP devs_model_requests_total Messages requests agent tasks made through the model proxy.",
    "# TYPE devs_model_requests_total counter",
    `devs_model_requests_total ${input.model.requests}`,
  ];
  return `${lines.join("\n")}\n`;
}
