// When does an event start an agent task? Pure: the handler reduces a payload to a TriggerInput.
import type { BotNames } from "./bot-names.js";
import { mentions, newlyMentions } from "./mention.js";
import { carriesTaskMarker } from "./task-marker.js";

export type AgentTriggerEvent =
  | "issues"
  | "issue_comment"
  | "pull_request"
  | "pull_request_review"
  | "pull_request_review_comment";

const AGENT_TRIGGER_ACTIONS: Record<AgentTriggerEvent, readonly string[]> = {
  issues: ["opened", "edited", "assigned"],
  issue_comment: ["created", "edited"],
  pull_request: ["opened", "edited", "assigned"],
  pull_request_review: ["submitted"],
  pull_request_review_comment: ["created", "edited"],
};

/** The events the agent's handler listens to (src/index.ts wires them; the metrics name them). */
export const AGENT_TRIGGER_EVENTS = Object.keys(AGENT_TRIGGER_ACTIONS) as AgentTriggerEvent[];

export interface TriggerInput {
  event: AgentTriggerEvent;
  action: string;
  /** Who caused the delivery. */
  sender: string;
  /** Author of the comment or review, when the event is one. */
  author?: string | undefined;
  /** Only the new text: the comment/review body, or an issue/PR's title and body. */
  text: string | null;
  /** On `edited`: the same text before the edit (from `changes`). */
  previousText?: string | null | undefined;
  /** On `assigned`: the user just assigned. */
  assignee?: string | null | undefined;
  /** On `opened`: everyone assigned at creation. On a comment or review: the thread's assignees. */
  assignees?: readonly string[] | undefined;
  /** Author of the pull request the event is about, if it is about one. */
  pullRequestAuthor?: string | null | undefined;
}

export type TriggerReason = "mention" | "assigned" | "assigned_thread" | "bot_pull_request";

export type TriggerDecision =
  | { trigger: true; reason: TriggerReason }
  | { trigger: false; reason: string };

const no = (reason: string): TriggerDecision => ({ trigger: false, reason });

export function decideAgentTrigger(input: TriggerInput, bot: BotNames): TriggerDecision {
  if (!AGENT_TRIGGER_ACTIONS[input.event].includes(input.action)) return no(`action ${input.action} is not a trigger`);
  // Loop guard: the bot's own comments, edits, reviews and assignments never trigger, and neither
  // does text carrying a progress comment's marker, whoever posted it.
  if (bot.isBot(input.sender)) return no("sent by the bot itself");
  if (input.author && bot.isBot(input.author)) return no("written by the bot itself");
  if (carriesTaskMarker(input.text)) return no("carries a progress comment's marker");

  if (input.action === "assigned") {
    return bot.isBot(input.assignee) ? { trigger: true, reason: "assigned" } : no("someone else was assigned");
  }
  if (input.event === "pull_request_review" && !input.text?.trim()) return no("review has no body");

  if (input.action === "opened" && input.assignees?.some((a) => bot.isBot(a))) {
    return { trigger: true, reason: "assigned" };
  }
  const mentioned =
    input.action === "edited"
      ? newlyMentions(input.text, input.previousText, bot.handle)
      : mentions(input.text, bot.handle);
  if (mentioned) return { trigger: true, reason: "mention" };

  // A new comment or review on a pull request the bot opened, or on an issue or pull request
  // assigned to it, is addressed to the bot (edits are not: they would re-run the same request).
  const isNewFeedback =
    ((input.event === "issue_comment" || input.event === "pull_request_review_comment") && input.action === "created") ||
    input.event === "pull_request_review";
  if (isNewFeedback && bot.isBot(input.pullRequestAuthor)) return { trigger: true, reason: "bot_pull_request" };
  if (isNewFeedback && input.assignees?.some((a) => bot.isBot(a))) return { trigger: true, reason: "assigned_thread" };
  return no(input.action === "edited" ? "the edit adds no new mention" : "no mention of the bot");
}
