// Whether a finished CI run starts the agent again on its failure. Pure: the CI fix loop
// (ci/fix-loop.ts) gathers the facts and acts on the answer.

/** A commit the agent pushed to a pull request's branch, and the loop it belongs to. */
export interface AgentPush {
  repo: string;
  sha: string;
  branch: string;
  pullNumber: number;
  /** The task that began the loop: the request whose answer this branch is. */
  rootTask: string;
  /** 0 for the root task's own push; n for the push of fix attempt n. */
  attempt: number;
  /** Where the agent ran, so a fix runs in the same warm container. */
  slot: string;
}

export interface CiFixFacts {
  conclusion: string;
  /** The tests ran to a verdict: not timed out, cancelled, or broken before they could run. */
  judged: boolean;
  pullRequest: { fromFork: boolean } | null;
  /** The agent's push of the tested commit; null when someone else made it. */
  push: AgentPush | null;
  /** The loop was stopped (a human push, a new request, `@bot stop`) or has ended. */
  loopClosed: boolean;
  /** DEVS.yml ci_fix_attempts, already held to the operator's ceiling. */
  attempts: number;
}

export type CiFixDecision =
  | { kind: "none"; why: string }
  /** Queue fix attempt `attempt`. */
  | { kind: "fix"; attempt: number }
  /** A fix attempt's push passed: the loop ends well. */
  | { kind: "passed" }
  /** The last allowed attempt still fails. */
  | { kind: "gave_up"; attempts: number }
  /** A fix attempt's check could not judge the tests: the loop ends, and the check says why. */
  | { kind: "unjudged" };

export function decideCiFix(facts: CiFixFacts): CiFixDecision {
  const { push } = facts;
  if (!push) return { kind: "none", why: "not a commit the agent pushed" };
  if (facts.loopClosed) return { kind: "none", why: "the loop was stopped or has ended" };
  if (facts.conclusion === "success") return push.attempt > 0 ? { kind: "passed" } : { kind: "none", why: "passed" };
  // A cancelled run was replaced or called off; whoever did it says so.
  if (facts.conclusion === "cancelled") return { kind: "none", why: "cancelled" };
  // A time limit or a broken run says nothing about the code: the agent must not be sent after it.
  if (!facts.judged) return push.attempt > 0 ? { kind: "unjudged" } : { kind: "none", why: "the tests did not run to a verdict" };
  if (facts.conclusion !== "failure") return { kind: "none", why: `concluded ${facts.conclusion}` };
  if (!facts.pullRequest) return { kind: "none", why: "not on a pull request" };
  if (facts.pullRequest.fromFork) return { kind: "none", why: "a fork's pull request" };
  if (facts.attempts <= 0) return { kind: "none", why: "ci_fix_attempts is 0" };
  const attempt = push.attempt + 1;
  if (attempt > facts.attempts) return { kind: "gave_up", attempts: push.attempt };
  return { kind: "fix", attempt };
}

const DEFAULT_CI_FIX_ATTEMPTS = 2;

/** DEVS.yml's ci_fix_attempts (empty: the default) held to CI_FIX_ATTEMPTS_MAX. */
export function fixAttemptsAllowed(configured: number | null | undefined, ceiling: number): number {
  return Math.max(0, Math.min(configured ?? DEFAULT_CI_FIX_ATTEMPTS, ceiling));
}

