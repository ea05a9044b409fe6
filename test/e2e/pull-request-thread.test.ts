// Conversations on pull requests, end to end (the real server, git over HTTP, Docker, the real
// Claude Code CLI against the scripted Messages API). A comment in a pull request's conversation
// tab arrives as issue_comment with no branches in it: the agent must still work on the pull
// request's own branch and push there, and a follow-up on the bot's own pull request needs no
// new mention. Neither opens another pull request.
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerEngine, ensureBaseImage } from "../helpers/claude-image.js";
import { removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { startFakeAnthropic, type FakeAnthropic } from "../helpers/fake-anthropic.js";
import { bareRepo, git, type BareRepo } from "../helpers/git-repo.js";
import { GitHubSim } from "../helpers/github-sim.js";
import { payload } from "../helpers/payloads.js";
import { agentServeEnv, deliver, startServe, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/settings.js";
import { until } from "../helpers/until.js";

const TOKEN = "ghs_e2ePullRequestThread000000000000000";
const SECRET = "e2e-pr-thread-secret";
const pool = `e2epr${runId()}`;

const engine = await dockerEngine();
if (!engine.ok) {
  if (process.env.DEVS_REQUIRE_DOCKER === "1") throw new Error(`DEVS_REQUIRE_DOCKER=1 but no Docker engine answers (${engine.why}); run .ci/docker.sh`);
  console.warn(`skipping the pull-request thread tests: no Docker engine answers (${engine.why})`);
}

let docker: Docker | null = null;
let sim: GitHubSim;
let fake: FakeAnthropic;
let repo: BareRepo;
let server: ServeProcess | null = null;

beforeAll(async () => {
  if (!engine.ok) return;
  docker = await requireDocker();
  if (!docker) return;
  const image = await ensureBaseImage();
  const reposRoot = tempDir("devs-e2e-pr-repos-");
  repo = bareRepo(reposRoot, "acme", "widgets", { "README.md": "# widgets\n" });
  sim = await new GitHubSim(reposRoot, TOKEN).start();
  fake = await startFakeAnthropic({ kind: "hang" });
  server = await startServe({
    ...agentServeEnv({ token: TOKEN, secret: SECRET, githubHost: sim.host, modelUrl: fake.url, pool, image: image.tag }),
  });
}, 15 * 60_000);

afterAll(async () => {
  server?.child.kill("SIGTERM");
  await fake?.close();
  await sim?.stop();
  if (docker) await removePoolContainers(docker, pool);
});

/** A pull request of the repository's own, from `branch` (with one commit of its own), opened by `author`. */
function openPullRequest(number: number, branch: string, author: string): string {
  git(repo.work, "checkout", "--quiet", "main");
  const head = repo.commit({ [`${branch.replace(/\W/g, "-")}.md`]: "work in progress\n" }, `Start ${branch}`, branch);
  sim.pulls.push({ number, head: branch, base: "main", title: `Work on ${branch}`, body: "", draft: false, html_url: `${sim.htmlUrl("acme", "widgets")}/pull/${number}`, author });
  return head;
}

/** A signed comment in pull request `number`'s conversation tab: `issue_comment` naming the pull request only by its URLs. */
function conversationComment(number: number, commentId: number, text: string, prAuthor: string): Promise<Response> {
  const html = sim.htmlUrl("acme", "widgets");
  return deliver(
    server!.base,
    SECRET,
    "issue_comment",
    payload("issue_comment", "created", {
      repository: { name: "widgets", full_name: "acme/widgets", owner: { login: "acme" }, default_branch: "main", private: false, clone_url: sim.cloneUrl("acme", "widgets"), html_url: html },
      issue: {
        number,
        title: `Work on pull request ${number}`,
        body: "",
        user: { login: prAuthor },
        labels: [],
        assignees: [],
        html_url: `${html}/pull/${number}`,
        pull_request: { url: `http://${sim.host}/repos/acme/widgets/pulls/${number}`, html_url: `${html}/pull/${number}` },
      },
      comment: { id: commentId, body: text, user: { login: "alice" }, html_url: `${html}/pull/${number}#issuecomment-${commentId}` },
      sender: { login: "alice" },
    }),
  );
}

/** The agent writes one file and says so. */
function scriptWrite(file: string, content: string, summary: string) {
  fake.setMode({
    kind: "script",
    turns: [
      { content: [{ type: "tool_use", name: "Write", input: { file_path: `/workspaces/widgets/${file}`, content } }] },
      { content: [{ type: "text", text: summary }] },
    ],
  });
}

const finalComment = (number: number) =>
  until(() => sim.comments.find((c) => c.issue === number && /✅|❌|⏱️/.test(c.body)), {
    timeoutMs: 180_000,
    intervalMs: 100,
    what: `the final comment on #${number}`,
    detail: () => server!.stdout().slice(-6000),
  });

describe.skipIf(!engine.ok)("a conversation on a pull request", () => {
  it("a conversation-tab comment on a pull request from a branch of the repository: the commit lands on that branch and no pull request is opened", async () => {
    const before = openPullRequest(7, "feature/greeting", "carol");
    const pullsBefore = sim.pulls.length;
    scriptWrite("hello.txt", "Hello from the pull request!\n", "Added `hello.txt` to this branch.");
    expect((await conversationComment(7, 9701, "@devs-bot please add hello.txt here", "carol")).status).toBe(200);

    const done = await finalComment(7);
    expect(done.body).toContain("✅ Done");
    expect(done.body).toContain(`Pushed to [\`feature/greeting\`](${sim.htmlUrl("acme", "widgets")}/tree/feature/greeting).`);
    expect(git(repo.path, "show", "feature/greeting:hello.txt")).toBe("Hello from the pull request!");
    // On top of the pull request's head, not of main.
    expect(git(repo.path, "rev-parse", "feature/greeting^")).toBe(before);
    expect(sim.pulls).toHaveLength(pullsBefore);
    expect(sim.requests.filter((r) => r.method === "POST" && /\/pulls$/.test(r.path))).toEqual([]);
    // The agent was told where it is and where its work goes.
    const prompt = JSON.stringify(fake.agentRequests.at(-2)!.body?.messages);
    expect(prompt).toContain("Head branch `feature/greeting`");
    expect(prompt).toContain("pushed to this pull request's branch `feature/greeting`");
  }, 240_000);

  it("a follow-up on the bot's own pull request, without a mention, updates that pull request", async () => {
    const before = openPullRequest(8, "devs/issue-3-add-a-farewell", "devs-bot");
    const pullsBefore = sim.pulls.length;
    const requestsBefore = sim.requests.length;
    scriptWrite("bye.txt", "Goodbye!\n", "Added `bye.txt` as asked.");
    expect((await conversationComment(8, 9801, "Thanks! Please also add a bye.txt.", "devs-bot")).status).toBe(200);

    const done = await finalComment(8);
    expect(done.body).toContain("✅ Done");
    expect(done.body).toContain("Pushed to [`devs/issue-3-add-a-farewell`]");
    expect(git(repo.path, "show", "devs/issue-3-add-a-farewell:bye.txt")).toBe("Goodbye!");
    expect(git(repo.path, "rev-parse", "devs/issue-3-add-a-farewell^")).toBe(before);
    expect(sim.pulls).toHaveLength(pullsBefore);
    expect(sim.requests.slice(requestsBefore).filter((r) => r.method === "POST" && /\/pulls$/.test(r.path))).toEqual([]);
  }, 240_000);
});
