// mayTrigger: the one check of who may trigger, for mentions, CI and the agent's conversation.
import { describe, expect, it } from "vitest";
import type { GitHubClient } from "../../src/github/client.js";
import { mayTrigger, PermissionCache } from "../../src/github/permissions.js";
import { botNames } from "../../src/policy/bot-names.js";
import type { AllowList } from "../../src/settings.js";

const REPO = { owner: "acme", name: "widgets" };
/** GITHUB_MENTIONED_USER=devs-bot, while GitHub shows the App as devs-app[bot]. */
const BOT = botNames({ handle: "devs-bot", login: "devs-app[bot]" });

/** A client that answers the permission route only, counting the questions. */
function fakeGitHub(permissions: Record<string, string>) {
  const asked: string[] = [];
  const octokit = {
    request: async (_route: string, params: { username: string }) => {
      asked.push(params.username);
      const permission = permissions[params.username];
      if (!permission) throw Object.assign(new Error("Not Found"), { status: 404 });
      return { data: { permission, role_name: permission } };
    },
  } as unknown as GitHubClient;
  return { octokit, asked };
}

describe("mayTrigger", () => {
  it.each<[string, AllowList, string, boolean, string[]]>([
    ["everyone", { kind: "everyone" }, "stranger", true, []],
    ["a listed user", { kind: "users", users: ["alice"] }, "Alice", true, []],
    ["an unlisted user", { kind: "users", users: ["alice"] }, "bob", false, []],
    ["the handle, unlisted", { kind: "users", users: ["alice"] }, "devs-bot[bot]", false, []],
    ["a writer", { kind: "write-access" }, "carol", true, ["carol"]],
    ["a reader", { kind: "write-access" }, "dave", false, ["dave"]],
    ["no collaborator (404)", { kind: "write-access" }, "erin", false, ["erin"]],
    ["the handle, without asking", { kind: "write-access" }, "devs-bot[bot]", true, []],
    ["the App's login, without asking", { kind: "write-access" }, "devs-app[bot]", true, []],
    ["the App's login, unlisted", { kind: "users", users: ["alice"] }, "devs-app[bot]", false, []],
    ["an account named like the App's slug is asked about", { kind: "write-access" }, "devs-app", false, ["devs-app"]],
  ])("%s", async (_name, authorizedUsers, login, allowed, asked) => {
    const github = fakeGitHub({ carol: "write", dave: "read" });
    const access = { authorizedUsers, bot: BOT, permissions: new PermissionCache() };
    expect(await mayTrigger(github.octokit, REPO, login, access)).toBe(allowed);
    expect(github.asked).toEqual(asked);
  });

  it("asks GitHub once per user while the answer is fresh", async () => {
    const github = fakeGitHub({ carol: "write" });
    const access = { authorizedUsers: { kind: "write-access" } as const, bot: BOT, permissions: new PermissionCache() };
    for (let i = 0; i < 3; i++) expect(await mayTrigger(github.octokit, REPO, "carol", access)).toBe(true);
    expect(github.asked).toEqual(["carol"]);
  });

  it("questions asked at once about one user share GitHub's one answer", async () => {
    const github = fakeGitHub({ carol: "write" });
    const access = { authorizedUsers: { kind: "write-access" } as const, bot: BOT, permissions: new PermissionCache() };
    const answers = await Promise.all(["carol", "Carol", "dave", "carol"].map((login) => mayTrigger(github.octokit, REPO, login, access)));
    expect(answers).toEqual([true, true, false, true]);
    expect(github.asked).toEqual(["carol", "dave"]);
  });

  it("a question that failed is asked again next time, not answered from the failure", async () => {
    let fail = true;
    const asked: string[] = [];
    const octokit = {
      request: async (_route: string, params: { username: string }) => {
        asked.push(params.username);
        if (fail) throw Object.assign(new Error("Bad gateway"), { status: 502 });
        return { data: { permission: "write", role_name: "write" } };
      },
    } as unknown as GitHubClient;
    const access = { authorizedUsers: { kind: "write-access" } as const, bot: BOT, permissions: new PermissionCache() };
    const both = await Promise.allSettled([mayTrigger(octokit, REPO, "carol", access), mayTrigger(octokit, REPO, "carol", access)]);
    expect(both.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    fail = false;
    expect(await mayTrigger(octokit, REPO, "carol", access)).toBe(true);
    expect(asked).toEqual(["carol", "carol"]);
  });
});
