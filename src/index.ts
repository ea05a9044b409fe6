// The Probot app function: wires events to handlers and nothing else.
import type { ApplicationFunction } from "probot";
import { handleMention, type MentionDeps } from "./handlers/mention.js";

export type AppDeps = MentionDeps;

export const MENTION_EVENTS = [
  "issues",
  "issue_comment",
  "pull_request",
  "pull_request_review",
  "pull_request_review_comment",
] as const;

export function createApp(deps: AppDeps): ApplicationFunction {
  return (app) => {
    app.on([...MENTION_EVENTS], async (context) => handleMention(context, deps));
  };
}
