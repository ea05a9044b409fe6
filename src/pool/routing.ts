// Which container name gets a task. Pure.
import type { TaskKind } from "../tasks/task.js";

export interface PoolNames {
  /** CONTAINER_POOL, in config order. */
  main: readonly string[];
  /** CI_CONTAINER_POOL; empty = CI shares the main pool. */
  ci: readonly string[];
}

export function namesFor(kind: TaskKind, names: PoolNames, singleQueue: boolean): readonly string[] {
  // A single_queue repository serialises all its work, so every kind uses the main pool.
  if (kind === "ci" && names.ci.length > 0 && !singleQueue) return names.ci;
  return names.main;
}

/**
 * The name with the fewest queued plus running tasks; ties go to the earlier name in config
 * order. A pinned name wins while it is still configured.
 */
export function chooseContainer(candidates: readonly string[], load: (name: string) => number, pinned: string | null): string {
  if (candidates.length === 0) throw new Error("no container names configured");
  if (pinned && candidates.includes(pinned)) return pinned;
  let best = candidates[0]!;
  for (const name of candidates.slice(1)) if (load(name) < load(best)) best = name;
  return best;
}
