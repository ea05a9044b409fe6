import { describe, expect, it } from "vitest";
import { botNames } from "../../src/policy/bot-names.js";
import { decideAgentTrigger, type TriggerInput } from "../../src/policy/trigger.js";
import { markerFor } from "../../src/publish/progress.js";

const BOT = botNames({ handle: "devs-bot", login: "devs-bot[bot]" });
const base: TriggerInput = { event: "issue_comment", action: "created", sender: "alice", author: "alice", text: "" };

const table: Array<[string, Partial<TriggerInput>, false | "mention" | "assigned" | "assigned_thread" | "bot_pull_request"]> = [
  ["comment mention", { text: "@devs-bot go" }, "mention"],
  ["comment without mention", { text: "go" }, false],
  ["deleted comment", { action: "deleted", text: "@devs-bot" }, false],
  ["sender is the bot", { sender: "devs-bot[bot]", text: "@devs-bot" }, false],
  ["author is the bot in upper case", { author: "DEVS-BOT", text: "@devs-bot" }, false],
  ["edit adds a mention", { action: "edited", text: "@devs-bot go", previousText: "go" }, "mention"],
  ["edit keeps a mention", { action: "edited", text: "@devs-bot go!", previousText: "@devs-bot go" }, false],
  ["new comment on the bot's PR", { text: "also docs", pullRequestAuthor: "devs-bot[bot]" }, "bot_pull_request"],
  ["edited comment on the bot's PR without new mention", { action: "edited", text: "also docs!", previousText: "also docs", pullRequestAuthor: "devs-bot[bot]" }, false],
  ["comment on a human's PR", { text: "also docs", pullRequestAuthor: "bob" }, false],
  ["new comment on an issue assigned to the bot", { text: "also docs", assignees: ["bob", "devs-bot[bot]"] }, "assigned_thread"],
  ["new comment on an issue assigned to others", { text: "also docs", assignees: ["bob"] }, false],
  ["edited comment on an issue assigned to the bot", { action: "edited", text: "also docs!", previousText: "also docs", assignees: ["devs-bot"] }, false],
  ["the bot's own comment on an issue assigned to it", { sender: "devs-bot[bot]", author: "devs-bot[bot]", text: "Done.", assignees: ["devs-bot"] }, false],
  ["new review comment on a PR assigned to the bot", { event: "pull_request_review_comment", text: "rename", assignees: ["Devs-Bot"] }, "assigned_thread"],
  ["review on a PR assigned to the bot", { event: "pull_request_review", action: "submitted", text: "please rename", assignees: ["devs-bot"] }, "assigned_thread"],
  ["mention on an issue assigned to the bot", { text: "@devs-bot go", assignees: ["devs-bot"] }, "mention"],
  ["issue opened with mention", { event: "issues", action: "opened", author: undefined, text: "T\n\n@devs-bot" }, "mention"],
  ["issue opened, bot among assignees", { event: "issues", action: "opened", text: "T", assignees: ["bob", "Devs-Bot"] }, "assigned"],
  ["issue assigned to the bot", { event: "issues", action: "assigned", assignee: "devs-bot", text: "T" }, "assigned"],
  ["issue assigned to someone else, text mentions", { event: "issues", action: "assigned", assignee: "bob", text: "@devs-bot" }, false],
  ["issue assigned by the bot itself", { event: "issues", action: "assigned", sender: "devs-bot[bot]", assignee: "devs-bot" }, false],
  ["issue labeled", { event: "issues", action: "labeled", text: "@devs-bot" }, false],
  ["issue edited adds mention", { event: "issues", action: "edited", text: "@devs-bot", previousText: "x" }, "mention"],
  ["PR opened with mention", { event: "pull_request", action: "opened", text: "@devs-bot" }, "mention"],
  ["PR synchronize", { event: "pull_request", action: "synchronize", text: "@devs-bot" }, false],
  ["PR assigned to bot", { event: "pull_request", action: "assigned", assignee: "devs-bot[bot]" }, "assigned"],
  ["review with mention", { event: "pull_request_review", action: "submitted", text: "@devs-bot fix" }, "mention"],
  ["review with empty body", { event: "pull_request_review", action: "submitted", text: "  " }, false],
  ["review on the bot's PR", { event: "pull_request_review", action: "submitted", text: "please rename", pullRequestAuthor: "devs-bot" }, "bot_pull_request"],
  ["review dismissed", { event: "pull_request_review", action: "dismissed", text: "@devs-bot" }, false],
  ["review comment with mention", { event: "pull_request_review_comment", action: "created", text: "@devs-bot" }, "mention"],
  ["review comment edited adds mention", { event: "pull_request_review_comment", action: "edited", text: "@devs-bot", previousText: "" }, "mention"],
];

describe("decideAgentTrigger", () => {
  for (const [name, patch, expected] of table) {
    it(name, () => {
      const decision = decideAgentTrigger({ ...base, ...patch }, BOT);
      expect(decision.trigger ? decision.reason : false).toBe(expected);
      if (!decision.trigger) expect(decision.reason).toBeTruthy();
    });
  }
});

describe("decideAgentTrigger when the handle is not the bot's login", () => {
  // GITHUB_MENTIONED_USER=devs, while the App's comments and pushes show devs-app[bot].
  const bot = botNames({ handle: "devs", login: "devs-app[bot]" });
  const progress = `${markerFor("agent-1")}\n✅ Done in 2m. Asked by @devs: renamed the module.`;
  const ownComment = { sender: "devs-app[bot]", author: "devs-app[bot]", text: progress };
  const table: Array<[string, Partial<TriggerInput>, string]> = [
    ["the bot's progress comment mentioning @devs", ownComment, "sent by the bot itself"],
    ["the bot's edit of its progress comment", { ...ownComment, action: "edited", previousText: `${markerFor("agent-1")}\n⏳ Queued.` }, "sent by the bot itself"],
    ["a human's edit of the bot's comment", { ...ownComment, sender: "alice", action: "edited", previousText: "" }, "written by the bot itself"],
    ["a human's comment carrying the marker", { text: `@devs go\n${markerFor("agent-1")}` }, "carries a progress comment's marker"],
    ["an issue whose body carries the marker", { event: "issues", action: "opened", author: undefined, text: `T\n\n@devs ${markerFor("x")}` }, "carries a progress comment's marker"],
    ["a review carrying the marker", { event: "pull_request_review", action: "submitted", text: `${markerFor("x")} @devs` }, "carries a progress comment's marker"],
    ["a mention of the login is no mention", { text: "@devs-app go" }, "no mention of the bot"],
  ];
  for (const [name, patch, reason] of table) {
    it(`${name}: no (${reason})`, () => expect(decideAgentTrigger({ ...base, ...patch }, bot)).toEqual({ trigger: false, reason }));
  }

  it("a human's mention of @devs still triggers", () => {
    expect(decideAgentTrigger({ ...base, text: "@devs please fix the crash" }, bot)).toEqual({ trigger: true, reason: "mention" });
  });
  it("a new comment on a pull request the App opened is addressed to the bot", () => {
    expect(decideAgentTrigger({ ...base, text: "also docs", pullRequestAuthor: "devs-app[bot]" }, bot)).toEqual({ trigger: true, reason: "bot_pull_request" });
  });
  it("in token mode, assigning the token's user is assigning the bot", () => {
    const tokenBot = botNames({ handle: "devs", login: "devs-machine-user" });
    expect(decideAgentTrigger({ ...base, event: "issues", action: "assigned", assignee: "devs-machine-user", text: "T" }, tokenBot)).toEqual({ trigger: true, reason: "assigned" });
  });
});
