// Who the bot is, as GitHub answers at start-up. Tasks ask for an installation token outright (to
// fetch and push on the host); with GHE_HOST that request must go to the Enterprise host, also when
// no API call has cached a token first (a task recovered from the journal right after a restart).
import nock from "nock";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { resolveBotIdentity } from "../../src/github/identity.js";
import { createProbot, taskGitHub } from "../../src/github/probot.js";
import { appPrivateKey } from "../helpers/serve-process.js";
import { strictNock } from "../helpers/nock.js";
import { makeTask } from "../helpers/tasks.js";
import { TestOctokit } from "../helpers/probot.js";
import { testSettings } from "../helpers/settings.js";

strictNock();

describe("installation tokens in App mode", () => {
  it("are minted at GHE_HOST, not api.github.com, when asked for before any API call", async () => {
    const settings = testSettings({ GITHUB_TOKEN: "", APP_ID: "42", PRIVATE_KEY: appPrivateKey(), GHE_HOST: "ghe.example.com" });
    const scope = nock("https://ghe.example.com/api/v3")
      .post("/app/installations/7/access_tokens")
      .matchHeader("authorization", /^bearer /i)
      .reply(201, { token: "ghs_fromEnterprise", expires_at: "2099-01-01T00:00:00Z", permissions: {} })
      .get("/repos/acme/widgets")
      .matchHeader("authorization", "token ghs_fromEnterprise")
      .reply(200, { full_name: "acme/widgets" });
    const probot = createProbot(settings, pino({ level: "silent" }), TestOctokit);
    const task = { ...makeTask("acme/widgets"), installationId: 7 };
    const { octokit, token } = await taskGitHub(probot, settings)(task);
    expect(token).toBe("ghs_fromEnterprise");
    // The client's own requests reuse the token (one mint).
    await octokit.request("GET /repos/{owner}/{repo}", { owner: "acme", repo: "widgets" });
    scope.done();
  });
});

describe("the bot's identity", () => {
  const silent = pino({ level: "silent" });

  it("App mode: the login is the App's <slug>[bot], the handle GITHUB_MENTIONED_USER", async () => {
    const settings = testSettings({ GITHUB_TOKEN: "", APP_ID: "42", PRIVATE_KEY: appPrivateKey(), GITHUB_MENTIONED_USER: "devs" });
    const scope = nock("https://api.github.com")
      .get("/app")
      .matchHeader("authorization", /^bearer /i)
      .reply(200, { id: 42, slug: "devs-app" })
      // The bot user's id, for the noreply address GitHub shows with the App's avatar: read as an installation.
      .get("/app/installations")
      .query({ per_page: 1 })
      .reply(200, [{ id: 99 }])
      .post("/app/installations/99/access_tokens")
      .reply(201, { token: "ghs_lookup", expires_at: "2099-01-01T00:00:00Z" })
      .get("/users/devs-app%5Bbot%5D")
      .matchHeader("authorization", "token ghs_lookup")
      .reply(200, { id: 4242, login: "devs-app[bot]" });
    const identity = await resolveBotIdentity(createProbot(settings, silent, TestOctokit), settings, silent);
    scope.done();
    expect(identity).toEqual({ handle: "devs", login: "devs-app[bot]", commit: { name: "devs-app[bot]", email: "4242+devs-app[bot]@users.noreply.github.com" } });
  });

  it("App mode without GITHUB_MENTIONED_USER: people mention the slug", async () => {
    const settings = testSettings({ GITHUB_TOKEN: "", APP_ID: "42", PRIVATE_KEY: appPrivateKey(), GITHUB_MENTIONED_USER: "" });
    const scope = nock("https://api.github.com").get("/app").reply(200, { id: 42, slug: "devs-app" }).get("/app/installations").query({ per_page: 1 }).reply(200, []);
    const identity = await resolveBotIdentity(createProbot(settings, silent, TestOctokit), settings, silent);
    scope.done();
    // Installed nowhere yet: the bot user cannot be read, so the plain noreply address.
    expect(identity).toEqual({ handle: "devs-app", login: "devs-app[bot]", commit: { name: "devs-app[bot]", email: "devs-app[bot]@users.noreply.github.com" } });
  });

  it("token mode: the login is the token's user, and commits carry its noreply address", async () => {
    const settings = testSettings({ GITHUB_MENTIONED_USER: "devs" });
    const scope = nock("https://api.github.com")
      .get("/user")
      .matchHeader("authorization", "token test-token")
      .reply(200, { id: 7, login: "devs-machine" })
      .get("/users/devs-machine")
      .reply(200, { id: 7, login: "devs-machine" });
    const identity = await resolveBotIdentity(createProbot(settings, silent, TestOctokit), settings, silent);
    scope.done();
    expect(identity).toEqual({ handle: "devs", login: "devs-machine", commit: { name: "devs-machine", email: "7+devs-machine@users.noreply.github.com" } });
  });

  it("GitHub cannot be asked: no login, the handle alone, and a warning", async () => {
    const settings = testSettings({ GITHUB_MENTIONED_USER: "devs" });
    const warnings: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push((JSON.parse(line) as { msg: string }).msg) });
    const scope = nock("https://api.github.com").get("/user").reply(401, { message: "Bad credentials" });
    const identity = await resolveBotIdentity(createProbot(settings, silent, TestOctokit), settings, log);
    scope.done();
    expect(identity).toEqual({ handle: "devs", login: null, commit: { name: "devs", email: "devs@users.noreply.github.com" } });
    expect(warnings).toEqual(["could not look the bot up on GitHub; commits use a generic identity, and only GITHUB_MENTIONED_USER is known as the bot"]);
  });
});
