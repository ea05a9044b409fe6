// The Probot app function: wires events to handlers and nothing else.
import type { ApplicationFunction } from "probot";
import { handleCi, type CiDeps } from "./handlers/ci.js";
import { handleAgentTrigger, type AgentTriggerDeps } from "./handlers/agent-trigger.js";
import { ignoringUnreachable } from "./handlers/unreachable.js";
import { CI_EVENTS } from "./policy/ci.js";
import { AGENT_TRIGGER_EVENTS } from "./policy/trigger.js";

/** `ci`: push, pull_request and check events run CI; without it they are not wired. */
export type AppDeps = AgentTriggerDeps & { ci?: CiDeps | undefined };

export function createApp(deps: AppDeps): ApplicationFunction {
  return (app) => {
    // Every delivery, trigger or not: the redelivery sweep asks GitHub again for those never received.
    app.onAny(async (context) => deps.memory.received(context.id));
    app.on([...AGENT_TRIGGER_EVENTS], async (context) => ignoringUnreachable(context, () => handleAgentTrigger(context, deps)));
    const ci = deps.ci;
    if (ci) app.on([...CI_EVENTS], async (context) => ignoringUnreachable(context, () => handleCi(context, ci)));
  };
}
