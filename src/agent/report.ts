// What an agent task's executor hands its reporter: everything the final comment says that only
// the run knows. The reporter takes the state itself from the pool (a time limit or a cancel wins),
// and the slot. The fields are the progress comment's own, so the two cannot drift apart.
import type { Progress } from "../publish/progress.js";

type Stage<S extends Progress["stage"]> = Omit<Extract<Progress, { stage: S }>, "stage" | "slot">;

export type AgentReport =
  /** `summary` is the agent's own, already redacted; `note` says what was left out, or why a pull request replaced a push. */
  | ({ outcome: "done" } & Stage<"done"> & { /** A fix not pushed because the branch moved on meanwhile (ci/fix-loop.ts reads it). */ branchMoved?: true })
  /** `reason` is one line for the user, already safe (task-failure.ts) and redacted. */
  | ({ outcome: "failed" } & Stage<"failed"> & { durationMs: number })
  /** A budget stopped it; `budget` is budgetStopText's line. */
  | ({ outcome: "stopped" } & Stage<"stopped">);
