// The Probot app function: wires events to handlers and nothing else.
import type { ApplicationFunction } from "probot";
import { CI_EVENTS, handleCi, type CiDeps } from "./handlers/ci.js";
import { handleMention, type MentionDeps } from "./handlers/mention.js";
import { ignoringUnreachable } from "./handlers/unreachable.js";

/** `ci`: push, pull_request and check events run CI; without it they are not wired. */
export type AppDeps = MentionDeps & { ci?: CiDeps | undefined };

const MENTION_EVENTS = [
  "issues",
  "issue_comment",
  "pull_request",
  "pull_request_review",
  "pull_request_review_comment",
] as const;

export function createApp(deps: AppDeps): ApplicationFunction {
  return (app) => {
    app.on([...MENTION_EVENTS], async (context) => ignoringUnreachable(context, () => handleMention(context, deps)));
    const ci = deps.ci;
    if (ci) app.on([...CI_EVENTS], async (context) => ignoringUnreachable(context, () => handleCi(context, ci)));
  };
}
