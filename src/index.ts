// The Probot app function: wires events to handlers and nothing else.
import type { ApplicationFunction } from "probot";
import { CI_EVENTS, handleCi, type CiDeps } from "./handlers/ci.js";
import { handleAgentTrigger, type AgentTriggerDeps } from "./handlers/agent-trigger.js";
import { ignoringUnreachable } from "./handlers/unreachable.js";

/** `ci`: push, pull_request and check events run CI; without it they are not wired. */
export type AppDeps = AgentTriggerDeps & { ci?: CiDeps | undefined };

const AGENT_TRIGGER_EVENTS = [
  "issues",
  "issue_comment",
  "pull_request",
  "pull_request_review",
  "pull_request_review_comment",
] as const;

export function createApp(deps: AppDeps): ApplicationFunction {
  return (app) => {
    // Every delivery, trigger or not: the redelivery sweep asks GitHub again for those never received.
    app.onAny(async (context) => deps.memory.received(context.id));
    app.on([...AGENT_TRIGGER_EVENTS], async (context) => ignoringUnreachable(context, () => handleAgentTrigger(context, deps)));
    const ci = deps.ci;
    if (ci) app.on([...CI_EVENTS], async (context) => ignoringUnreachable(context, () => handleCi(context, ci)));
  };
}
