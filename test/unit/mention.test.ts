import { describe, expect, it } from "vitest";
import { isStopCommand, mentions, newlyMentions, stripNonProse } from "../../src/policy/mention.js";

describe("mentions(@devs-bot)", () => {
  const table: Array<[string, boolean]> = [
    ["@devs-bot fix it", true],
    ["hey @devs-bot, fix it", true],
    ["@DEVS-BOT please", true],
    ["thanks @devs-bot.", true],
    ["(@devs-bot)", true],
    ["@devs-bot: go", true],
    ["line one\n@devs-bot", true],
    ["@devs-bot[bot] do it", true],
    ["mail x@devs-bot now", false],
    ["@devs-bot-helper do it", false],
    ["@devs-botname do it", false],
    ["@devs-bot/team", false],
    ["@devs-bot.js is a file", false],
    ["devs-bot without at", false],
    ["`@devs-bot` inline", false],
    ["``code with ` and @devs-bot``", false],
    ["```\n@devs-bot\n```", false],
    ["~~~md\n@devs-bot\n~~~\n", false],
    ["```\nunclosed fence @devs-bot", false],
    ["> @devs-bot quoted\nreply", false],
    ["   > nested quote @devs-bot", false],
    ["<!-- @devs-bot -->", false],
    ["<!-- multi\nline @devs-bot\n-->after", false],
    ["```\ncode\n```\n@devs-bot after code", true],
    ["> quote\n\n@devs-bot after quote", true],
    ["", false],
  ];
  for (const [text, expected] of table) {
    it(`${JSON.stringify(text)} → ${expected}`, () => expect(mentions(text, "devs-bot")).toBe(expected));
  }
  it("null and undefined are no mention", () => {
    expect(mentions(null, "devs-bot")).toBe(false);
    expect(mentions(undefined, "devs-bot")).toBe(false);
  });
  it("a handle with regex characters is matched literally", () => {
    expect(mentions("@a.b go", "a.b")).toBe(true);
    expect(mentions("@axb go", "a.b")).toBe(false);
  });
});

describe("newlyMentions", () => {
  it("counts a mention the edit added", () => expect(newlyMentions("@devs-bot go", "go", "devs-bot")).toBe(true));
  it("ignores a mention that was already there", () => expect(newlyMentions("@devs-bot go now", "@devs-bot go", "devs-bot")).toBe(false));
  it("counts a mention moved out of a code block", () => expect(newlyMentions("@devs-bot go", "`@devs-bot` go", "devs-bot")).toBe(true));
  it("treats an unknown previous text as empty", () => expect(newlyMentions("@devs-bot", null, "devs-bot")).toBe(true));
});

describe("stripNonProse", () => {
  it("keeps prose and drops code, quotes and comments", () => {
    expect(stripNonProse("a `b` c\n> d\n<!-- e -->f\n```\ng\n```\nh").replace(/\s+/g, " ").trim()).toBe("a c f h");
  });
});

describe("isStopCommand", () => {
  const table: Array<[string, boolean]> = [
    ["@devs-bot stop", true],
    ["@Devs-Bot cancel.", true],
    ["@devs-bot please stop!", true],
    ["@devs-bot: stop", true],
    ["  @devs-bot stop  ", true],
    ["@devs-bot stop and fix the tests", false],
    ["stop @devs-bot", false],
    ["> @devs-bot stop\nok", false],
    ["`@devs-bot stop`", false],
    ["@devs-bot-helper stop", false],
  ];
  for (const [text, expected] of table) it(`${JSON.stringify(text)} → ${expected}`, () => expect(isStopCommand(text, "devs-bot")).toBe(expected));
});
