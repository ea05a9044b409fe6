// Where a task's time went: the queue wait (the pool's), then the runner's own phases. Kept in
// milliseconds like every other duration here; shown to users, kept in the journal, observed by
// the metrics' histograms.

/** In the order they are shown: the pool's wait first, then the runner's work. */
export const PHASES = ["queue", "container", "checkout", "agent", "tests", "publish"] as const;

export type Phase = (typeof PHASES)[number];

/** Milliseconds per phase; a phase the task never reached is absent. */
export type PhaseTimings = Partial<Record<Phase, number>>;

/** Adds up the time spent in each phase; a phase may be entered more than once (it accumulates). */
export class PhaseClock {
  private readonly spent: PhaseTimings = {};

  constructor(private readonly now: () => number = Date.now) {}

  /** Runs `work` and counts its time to `phase`, whether it succeeds or throws. */
  async time<T>(phase: Phase, work: () => Promise<T>): Promise<T> {
    const start = this.now();
    try {
      return await work();
    } finally {
      this.add(phase, this.now() - start);
    }
  }

  add(phase: Phase, ms: number): void {
    this.spent[phase] = (this.spent[phase] ?? 0) + Math.max(0, ms);
  }

  timings(): PhaseTimings {
    return { ...this.spent };
  }
}

/** The pool's wait in front of the runner's phases (the wait is unknown to a runner called without a pool). */
export function withQueue(queuedMs: number | undefined, phases: PhaseTimings): PhaseTimings {
  return queuedMs === undefined ? { ...phases } : { queue: queuedMs, ...phases };
}

/** Seconds per phase in PHASES order, rounded to milliseconds (the journal's and /tasks' shape). */
export function phasesInSeconds(phases: PhaseTimings): Partial<Record<Phase, number>> {
  const out: Partial<Record<Phase, number>> = {};
  for (const phase of PHASES) {
    const ms = phases[phase];
    if (ms !== undefined) out[phase] = Math.round(ms) / 1000;
  }
  return out;
}

/** Reads what the journal kept; anything that is not a known phase with a number is dropped. */
export function parsePhases(json: string | null): PhaseTimings | null {
  if (!json) return null;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  if (!value || typeof value !== "object") return null;
  const out: PhaseTimings = {};
  for (const phase of PHASES) {
    const ms = (value as Record<string, unknown>)[phase];
    if (typeof ms === "number" && Number.isFinite(ms) && ms >= 0) out[phase] = ms;
  }
  return out;
}
