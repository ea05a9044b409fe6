// Which slot gets a task. Pure.
import type { TaskKind } from "../tasks/task.js";

export interface SlotNames {
  /** CONTAINER_POOL, in config order. */
  main: readonly string[];
  /** CI_CONTAINER_POOL; empty = CI shares the main pool. */
  ci: readonly string[];
}

export function slotsFor(kind: TaskKind, names: SlotNames, singleQueue: boolean): readonly string[] {
  // A single_queue repository serialises all its work, so every kind uses the main pool.
  if (kind === "ci" && names.ci.length > 0 && !singleQueue) return names.ci;
  return names.main;
}

/**
 * The slot with the fewest queued plus running tasks; ties go to the earlier slot in config
 * order. A pinned slot wins while it is still configured.
 */
export function chooseSlot(candidates: readonly string[], load: (slot: string) => number, pinned: string | null): string {
  if (candidates.length === 0) throw new Error("no slots configured (CONTAINER_POOL)");
  if (pinned && candidates.includes(pinned)) return pinned;
  let best = candidates[0]!;
  for (const name of candidates.slice(1)) if (load(name) < load(best)) best = name;
  return best;
}
