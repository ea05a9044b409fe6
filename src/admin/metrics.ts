// The process's Prometheus metrics on its own registry (never prom-client's global one, so tests
// and several services in one process keep theirs apart). Counters and histograms are fed by the
// intake and the pool's finished events; gauges and the model proxy's totals are read at scrape
// time from the pool, the delivery memory and the usage ledger.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Usage } from "../model-proxy/proxy.js";
import type { FinalState } from "../tasks/execution.js";
import { PHASES, type PhaseTimings } from "../tasks/phases.js";
import type { TaskKind } from "../tasks/task.js";
import type { DeliveryOutcome } from "../webhooks/outcomes.js";

/** What the gauges read at scrape time. */
export interface MetricsSources {
  /** Per slot: tasks waiting and the running task (the pool's status). */
  slots(): Record<string, { queued: number; running: string | null }>;
  deliveriesRemembered(): number;
  /** What the model proxy counted, all tasks together (the ledger survives restarts). */
  model(): Usage;
}

export interface MetricsOptions {
  version: string;
  /** prom-client's process and Node.js metrics (CPU, memory, event loop lag, GC), unprefixed as Node.js dashboards expect. */
  processMetrics?: boolean;
}

/** 50 ms (a warm checkout) to an hour (a long agent run). */
const PHASE_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];

export class DevsMetrics {
  readonly registry = new Registry();
  private readonly deliveries: Counter<"event" | "outcome">;
  private readonly tasks: Counter<"kind" | "outcome">;
  private readonly phases: Histogram<"kind" | "phase">;

  constructor(sources: MetricsSources, options: MetricsOptions) {
    const registers = [this.registry];
    this.deliveries = new Counter({
      name: "devs_deliveries_total",
      help: "Webhook deliveries by event and what became of them: queued, duplicate, ignored, refused, bad_signature, error.",
      labelNames: ["event", "outcome"],
      registers,
    });
    this.tasks = new Counter({
      name: "devs_tasks_total",
      help: "Finished tasks by kind (agent, ci) and final state: done, failed, timed_out, cancelled.",
      labelNames: ["kind", "outcome"],
      registers,
    });
    this.phases = new Histogram({
      name: "devs_task_duration_seconds",
      help: "Time finished tasks spent per phase: queue, container, checkout, agent, tests, publish.",
      labelNames: ["kind", "phase"],
      buckets: PHASE_BUCKETS,
      registers,
    });
    new Gauge({
      name: "devs_queue_depth",
      help: "Tasks waiting for each slot (a name of CONTAINER_POOL or CI_CONTAINER_POOL).",
      labelNames: ["slot"],
      registers,
      collect() {
        this.reset();
        for (const [slot, s] of Object.entries(sources.slots())) this.set({ slot }, s.queued);
      },
    });
    new Gauge({
      name: "devs_busy_slots",
      help: "Slots running a task now.",
      registers,
      collect() {
        this.set(Object.values(sources.slots()).filter((s) => s.running).length);
      },
    });
    new Gauge({
      name: "devs_deliveries_remembered",
      help: "Deliveries remembered for deduplication.",
      registers,
      collect() {
        this.set(sources.deliveriesRemembered());
      },
    });
    // Totals kept by the ledger: each scrape sets the counter to them.
    const fromLedger = (name: string, help: string, read: (u: Usage) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read(sources.model()));
        },
      });
    fromLedger("devs_agent_cost_usd_total", "Model cost of agent tasks in US dollars, as the model proxy counted it.", (u) => u.costUsd);
    fromLedger("devs_agent_model_requests_total", "Messages requests agent tasks made through the model proxy.", (u) => u.requests);
    new Counter({
      name: "devs_agent_tokens_total",
      help: "Model tokens of agent tasks by type (input, output, cache_creation, cache_read), from the API's usage figures.",
      labelNames: ["type"],
      registers,
      collect() {
        const u = sources.model();
        this.reset();
        this.inc({ type: "input" }, u.inputTokens);
        this.inc({ type: "output" }, u.outputTokens);
        this.inc({ type: "cache_creation" }, u.cacheCreationTokens);
        this.inc({ type: "cache_read" }, u.cacheReadTokens);
      },
    });
    new Gauge({ name: "devs_build_info", help: "1, labelled with the build's version and the Node.js version.", labelNames: ["version", "node"], registers }).set(
      { version: options.version, node: process.versions.node },
      1,
    );
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  delivery(event: string, outcome: DeliveryOutcome): void {
    this.deliveries.inc({ event, outcome });
  }

  /** A task reached its final state; its phases (milliseconds) are observed in seconds. */
  taskFinished(kind: TaskKind, state: FinalState, phases: PhaseTimings | undefined): void {
    this.tasks.inc({ kind, outcome: state });
    for (const phase of PHASES) {
      const ms = phases?.[phase];
      if (ms !== undefined) this.phases.observe({ kind, phase }, ms / 1000);
    }
  }

  /** The text exposition and its content type. */
  async exposition(): Promise<{ text: string; contentType: string }> {
    return { text: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
