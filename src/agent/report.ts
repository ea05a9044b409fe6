// What an agent task's executor hands its reporter: everything the final comment says that only
// the run knows. The reporter takes the state itself from the pool (a time limit or a cancel wins).

export type AgentReport =
  | {
      outcome: "done";
      durationMs: number;
      costUsd: number | null;
      turns: number | null;
      /** The agent's own summary, already redacted. */
      summary: string;
      pullRequest?: { number: number; url: string } | undefined;
      pushed?: { branch: string; url: string } | undefined;
      /** Said above the summary: what was left out, or why a pull request replaced a push. */
      note?: string | undefined;
    }
  | {
      outcome: "failed";
      /** One line for the user, already safe (task-failure.ts) and redacted. */
      reason: string;
      durationMs: number;
      costUsd?: number | null | undefined;
    };
