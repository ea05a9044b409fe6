// Tasks ask for an installation token outright (to fetch and push on the host). With GHE_HOST that
// request must go to the Enterprise host, also when no API call has cached a token first (a task
// recovered from the journal right after a restart).
import nock from "nock";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
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
