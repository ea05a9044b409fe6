// Prometheus text exposition of the few numbers an operator alerts on. Pure.
export interface MetricsInput {
  tasks: Record<string, number>;
  containers: Record<string, { queued: number; running: string | null }>;
  deliveries: number;
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
  ];
  return `${lines.join("\n")}\n`;
}
