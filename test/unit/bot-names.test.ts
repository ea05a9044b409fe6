import { describe, expect, it } from "vitest";
import { botNames } from "../../src/policy/bot-names.js";

describe("botNames: the handle and the real login are both the bot", () => {
  const bot = botNames({ handle: "devs", login: "devs-app[bot]" });
  const table: Array<[string | null | undefined, boolean]> = [
    ["devs", true],
    ["DEVS", true],
    ["devs[bot]", true],
    ["devs-app[bot]", true],
    ["Devs-App[BOT]", true],
    ["devs-app", false],
    ["devs-app[bot][bot]", false],
    ["devs-apps[bot]", false],
    ["devs2", false],
    ["someone", false],
    ["", false],
    [null, false],
    [undefined, false],
  ];
  for (const [login, expected] of table) it(`${String(login)} → ${expected}`, () => expect(bot.isBot(login)).toBe(expected));

  it("mentions still address the handle", () => expect(bot.handle).toBe("devs"));

  it("without a login from GitHub, the handle alone names the bot", () => {
    const handleOnly = botNames({ handle: "devs", login: null });
    expect(handleOnly.isBot("devs[bot]")).toBe(true);
    expect(handleOnly.isBot("devs-app[bot]")).toBe(false);
  });

  it("in token mode the login is the token's user, whole", () => {
    const tokenBot = botNames({ handle: "devs", login: "devs-machine" });
    expect(tokenBot.isBot("Devs-Machine")).toBe(true);
    expect(tokenBot.isBot("devs-machine[bot]")).toBe(false);
  });

  it("a handle configured with [bot] matches it without", () => {
    expect(botNames({ handle: "devs-bot[bot]", login: null }).isBot("devs-bot")).toBe(true);
  });
});
