// The CI fix loop end to end (the real server, git over HTTP, Docker, the real Claude Code CLI
// against the scripted Messages API, CI as commit statuses in token mode). The agent answers a
// mention with a commit that makes `ci.sh` fail; the app's own CI run on that push fails with a
// JUnit verdict and the agent is sent back to the same branch with the failure, a bounded number
// of times, and the root task's one progress comment tells the whole story in one line. A human
// push stops the loop; a run that timed out starts nothing. GitHub sends a push webhook for every
// push; the stand-in does not, so the test delivers each one, as GitHub would, once the branch moved.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChecksSim, type SimStatus } from "../helpers/ci-github.js";
import { dockerEngine, ensureBaseImage } from "../helpers/claude-image.js";
import { removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { firstPrompt, startFakeAnthropic, turnIndex, type FakeAnthropic, type RecordedRequest, type ScriptedTurn } from "../helpers/fake-anthropic.js";
import { bareRepo, git, type BareRepo } from "../helpers/git-repo.js";
import { GitHubSim } from "../helpers/github-sim.js";
import { payload } from "../helpers/payloads.js";
import { agentServeEnv, deliver, startServe, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/settings.js";
import { until } from "../helpers/until.js";

const TOKEN = "ghs_e2eCiFixLoopToken00000000000000000";
const SECRET = "e2e-ci-fix-loop-secret";
const BOT = "devs-bot";
const pool = `e2efix${runId()}`;
/** The loop paragraph's hidden marker (src/publish/loop-line.ts). */
const LOOP_MARKER = "<!-- devs-webhook:loop -->";

const engine = await dockerEngine();
if (!engine.ok) {
  if (process.env.DEVS_REQUIRE_DOCKER === "1") throw new Error(`DEVS_REQUIRE_DOCKER=1 but no Docker engine answers (${engine.why}); run .ci/docker.sh`);
  console.warn(`skipping the CI fix loop tests: no Docker engine answers (${engine.why})`);
}

/**
 * The suite: one JUnit test whose verdict `status.txt` holds (missing: pass). `hang` sleeps past
 * the time limit, as a suite stuck on a dead service would; `slow` takes a few seconds to fail.
 */
const CI_SH = `#!/bin/sh
status=$(cat status.txt 2>/dev/null || echo pass)
echo "status.txt: $status"
if [ "$status" = hang ]; then sleep 600; fi
if [ "$status" = slow ]; then sleep 4; fi
if [ "$status" = pass ]; then
  echo '<testsuite name="widgets" tests="1"><testcase classname="widgets" name="greets politely" file="ci.sh" line="11"/></testsuite>' > "$BRIDGE_DIR/junit.xml"
  echo "1 test passed"
  exit 0
fi
echo "<testsuite name=\\"widgets\\" tests=\\"1\\" failures=\\"1\\"><testcase classname=\\"widgets\\" name=\\"greets politely\\" file=\\"ci.sh\\" line=\\"11\\"><failure message=\\"status.txt says $status\\">expected pass</failure></testcase></testsuite>" > "$BRIDGE_DIR/junit.xml"
echo "FAIL greets politely: status.txt says $status"
exit 1
`;

const devsYml = (extra = "") => `ci_enabled: true\nci_branches: ["devs/**"]\nci_test_command: "sh ci.sh"\n${extra}`;

let docker: Docker | null = null;
let sim: GitHubSim;
let checks: ChecksSim;
let fake: FakeAnthropic;
let server: ServeProcess | null = null;
let reposRoot = "";

const serverLog = () => server!.stdout() + server!.stderr();
const untilSeen = <T>(probe: () => T, timeoutMs: number, what: string) =>
  until(probe, { timeoutMs, what, intervalMs: 100, detail: () => `--- statuses ---\n${JSON.stringify(checks.statuses.map(brief))}\n--- server log ---\n${serverLog().slice(-8000)}` });
const brief = (s: SimStatus) => `${s.repo}@${s.sha.slice(0, 7)} ${s.state}: ${s.description}`;

beforeAll(async () => {
  if (!engine.ok) return;
  docker = await requireDocker();
  if (!docker) return;
  const image = await ensureBaseImage();
  reposRoot = tempDir("devs-e2e-fix-repos-");
  sim = new GitHubSim(reposRoot, TOKEN);
  // Commit statuses (token mode reports CI there); its routes go before the sim's.
  checks = new ChecksSim(sim.standIn, TOKEN);
  await sim.start();
  fake = await startFakeAnthropic({ kind: "hang" });
  server = await startServe({
    ...agentServeEnv({ token: TOKEN, secret: SECRET, githubHost: sim.host, modelUrl: fake.url, pool, image: image.tag }),
    // The shortest time limit there is: the time-out test waits for it.
    CONTAINER_TIMEOUT_MINUTES: "1",
  });
}, 15 * 60_000);

afterAll(async () => {
  server?.child.kill("SIGTERM");
  await fake?.close();
  await sim?.stop();
  if (docker) await removePoolContainers(docker, pool);
});

/** acme/<name> with ci.sh and a DEVS.yml that runs it on the agent's branches. */
function ciRepo(name: string, devs = devsYml()): BareRepo {
  return bareRepo(reposRoot, "acme", name, { "README.md": `# ${name}\n`, "DEVS.yml": devs, "ci.sh": CI_SH });
}

function repository(name: string) {
  return { name, full_name: `acme/${name}`, owner: { login: "acme" }, default_branch: "main", private: false, clone_url: sim.cloneUrl("acme", name), html_url: sim.htmlUrl("acme", name) };
}

/** A signed @mention on issue `number` of acme/<name>. */
function mention(name: string, number: number, commentId: number, text: string): Promise<Response> {
  return deliver(
    server!.base,
    SECRET,
    "issue_comment",
    payload("issue_comment", "created", {
      repository: repository(name),
      issue: { number, title: "Be polite", body: "The greeting test fails.", user: { login: "alice" }, labels: [], assignees: [] },
      comment: { id: commentId, body: `@${BOT} ${text}`, user: { login: "alice" }, html_url: `${sim.htmlUrl("acme", name)}/issues/${number}#issuecomment-${commentId}` },
      sender: { login: "alice" },
    }),
  );
}

/** The push webhook GitHub sends after `sender` moved `branch` from `before` to `after`. */
function push(name: string, branch: string, before: string, after: string, sender: string): Promise<Response> {
  return deliver(
    server!.base,
    SECRET,
    "push",
    payload("push", undefined, {
      ref: `refs/heads/${branch}`,
      before,
      after,
      created: false,
      deleted: false,
      forced: false,
      head_commit: null,
      commits: [],
      pusher: { name: sender, email: `${sender}@example.invalid` },
      sender: { login: sender },
      repository: repository(name),
    }),
  );
}

const head = (r: BareRepo, branch: string) => git(r.path, "rev-parse", `refs/heads/${branch}`);

/** The commit status of `sha` once CI is done with it (not pending). */
const ciVerdict = (name: string, sha: string, timeoutMs = 180_000) =>
  untilSeen(() => checks.statuses.filter((s) => s.repo === `acme/${name}` && s.sha === sha).findLast((s) => s.state !== "pending"), timeoutMs, `CI's verdict on ${name}@${sha.slice(0, 7)}`);

const isFix = (r: RecordedRequest) => firstPrompt(r).includes("## What failed");
/** Fix tasks that reached the model: the first request of each conversation whose prompt is a failure. */
const fixStarts = () => fake.agentRequests.filter((r) => isFix(r) && turnIndex(r) === 0);

/**
 * The task answers with `task`'s turns, every fix task with `fix`'s (by turn of its own
 * conversation); past the end of a script a request hangs.
 */
function script(task: ScriptedTurn[], fix: Array<ScriptedTurn | "hang">, hangFor?: string): void {
  fake.setMode({ kind: "route", pick: (r) => (hangFor && firstPrompt(r).includes(hangFor) ? "hang" : ((isFix(r) ? fix : task)[turnIndex(r)] ?? "hang")) });
}

const write = (name: string, file: string, content: string): ScriptedTurn => ({
  content: [{ type: "tool_use", name: "Write", input: { file_path: `/workspaces/${name}/${file}`, content } }],
});
const say = (text: string): ScriptedTurn => ({ content: [{ type: "text", text }] });

const rootComment = (issue: number) => sim.comments.find((c) => c.issue === issue);
const loopLine = (issue: number) => {
  const body = rootComment(issue)?.body ?? "";
  const at = body.indexOf(LOOP_MARKER);
  return at < 0 ? null : body.slice(at + LOOP_MARKER.length).trim();
};
const postedComments = () => sim.requests.filter((r) => r.method === "POST" && /\/issues\/\d+\/comments$/.test(r.path)).map((r) => r.path);
const taskFinished = (id: string) => server!.logs.find((l) => l.msg === "task finished" && l.task === id);

/** Someone other than the bot fixes the test on `branch` and pushes (not over HTTP: no token of the bot's). */
function humanFix(r: BareRepo, branch: string): string {
  git(r.work, "fetch", "--quiet", "origin", branch);
  git(r.work, "checkout", "--quiet", "-B", branch, "FETCH_HEAD");
  writeFileSync(join(r.work, "status.txt"), "pass\n");
  git(r.work, "commit", "--quiet", "-am", "Fix the greeting myself");
  git(r.work, "push", "--quiet", "origin", branch);
  return head(r, branch);
}

/**
 * A mention on acme/<name>#<issue> whose answer is a commit on a new pull request, and the push
 * webhook of that commit: the pull request's branch, its head, and the root task's id.
 */
async function agentOpensPullRequest(name: string, issue: number, r: BareRepo) {
  expect((await mention(name, issue, issue * 100, "please make the greeting polite")).status).toBe(200);
  const done = await untilSeen(() => sim.comments.find((c) => c.issue === issue && /✅|❌|⏱️/.test(c.body)), 180_000, `the root task's final comment on #${issue}`);
  expect(done.body).toContain("✅ Done");
  const rootTask = /^<!-- devs-webhook:task=(agent-[0-9a-f-]{36}) -->/.exec(done.body)?.[1];
  expect(rootTask, "the root task's marker").toBeDefined();
  const pr = sim.pulls.find((p) => p.head.startsWith(`devs/issue-${issue}-`));
  expect(pr, "the pull request the task opened").toBeDefined();
  const sha = head(r, pr!.head);
  expect((await push(name, pr!.head, git(r.path, "rev-parse", "main"), sha, BOT)).status).toBe(200);
  return { pr: pr!, sha, rootTask: rootTask! };
}

/** Waits until the fix task has pushed a new head to `branch`, then delivers that push. */
async function fixPushed(name: string, r: BareRepo, branch: string, before: string): Promise<string> {
  const after = await untilSeen(() => (head(r, branch) !== before ? head(r, branch) : null), 180_000, `the fix task's push to ${branch}`);
  expect((await push(name, branch, before, after, BOT)).status).toBe(200);
  return after;
}

describe.skipIf(!engine.ok)("the CI fix loop", () => {
  it("fixed on the first attempt: CI fails on the agent's commit, the fix task commits to the same branch, CI passes, one comment tells it all", async () => {
    const name = "fixed";
    const r = ciRepo(name);
    const issue = 11;
    script([write(name, "status.txt", "fail\n"), say("Made the greeting polite.")], [write(name, "status.txt", "pass\n"), say("Fixed the greeting test.")]);
    const commentsBefore = postedComments().length;
    const fixesBefore = fixStarts().length;

    const { pr, sha: first, rootTask } = await agentOpensPullRequest(name, issue, r);
    expect((await ciVerdict(name, first)).state).toBe("failure");
    const fixed = await fixPushed(name, r, pr.head, first);
    expect((await ciVerdict(name, fixed)).state).toBe("success");
    await untilSeen(() => loopLine(issue)?.endsWith("✅ CI passed"), 60_000, "the loop line to say CI passed");

    expect(loopLine(issue)).toBe("CI failed (1 test) → fixing, attempt 1 of 2 → ✅ CI passed");
    // One comment, the root task's, edited; nothing posted by the fix task, on the issue or the PR.
    expect(sim.comments.filter((c) => c.issue === issue)).toHaveLength(1);
    expect(sim.comments.filter((c) => c.issue === pr.number)).toEqual([]);
    expect(postedComments().slice(commentsBefore)).toEqual([`/repos/acme/${name}/issues/${issue}/comments`]);
    const body = rootComment(issue)!.body;
    expect(body).toContain("✅ Done");
    // Every write of the loop's line came after a read of the comment as it stood (by its id, or
    // in the issue's list), so the rest of the comment is kept whoever wrote it last.
    const commentPath = `/repos/acme/${name}/issues/comments/${rootComment(issue)!.id}`;
    const reads = (q: { method: string; path: string }) =>
      q.method === "GET" && (q.path === commentPath || q.path.split("?")[0] === `/repos/acme/${name}/issues/${issue}/comments`);
    const loopWrites = sim.requests.flatMap((q, i) => (q.method === "PATCH" && q.path === commentPath && JSON.stringify(q.body).includes(LOOP_MARKER) ? [i] : []));
    expect(loopWrites.length).toBeGreaterThanOrEqual(2);
    for (const [n, at] of loopWrites.entries()) {
      const since = n === 0 ? 0 : loopWrites[n - 1]! + 1;
      expect(sim.requests.slice(since, at).some(reads), `a read of the comment before loop write ${n + 1}`).toBe(true);
    }

    // The fix is on the pull request's branch, on top of the agent's first commit.
    expect(head(r, pr.head)).toBe(fixed);
    expect(git(r.path, "rev-parse", `${fixed}^`)).toBe(first);
    expect(git(r.path, "show", `${fixed}:status.txt`)).toBe("pass");
    // The statuses: the failure on the first commit, then success on the fix.
    const verdicts = checks.statuses.filter((s) => s.repo === `acme/${name}` && s.state !== "pending").map((s) => [s.sha, s.state]);
    expect(verdicts).toEqual([
      [first, "failure"],
      [fixed, "success"],
    ]);

    // One fix task, by its id, and its prompt held the failure.
    expect(fixStarts().length - fixesBefore).toBe(1);
    const prompt = firstPrompt(fixStarts().at(-1)!);
    expect(prompt).toContain("## What failed");
    expect(prompt).toContain("greets politely");
    expect(prompt).toMatch(/<ci-output>[\s\S]*FAIL greets politely: status.txt says fail[\s\S]*<\/ci-output>/);
    await untilSeen(() => taskFinished(`fix-${rootTask}-1`), 30_000, "the fix task's end in the log");
    expect(taskFinished(`fix-${rootTask}-1`)!.state).toBe("done");

    console.log(`[e2e] the root comment at the end of the loop:\n${body}`);
    if (process.env.DEVS_E2E_LOOP_TRANSCRIPT) {
      // For the README: what GitHub saw of this repository, in order, with each write's first line.
      const requests = sim.requests
        .filter((q) => q.path.includes(`/acme/${name}`))
        .map((q) => {
          const sent = q.body as { body?: unknown; state?: unknown; head?: unknown } | null;
          const what = typeof sent?.body === "string" ? sent.body.split("\n").filter((l) => !l.startsWith("<!--")).join(" / ").slice(0, 140) : sent?.state ?? sent?.head ?? "";
          return `${q.method} ${q.path} ${String(what)}`.trim();
        });
      writeFileSync(
        process.env.DEVS_E2E_LOOP_TRANSCRIPT,
        `# The root task's comment after a CI fix loop (test/e2e/ci-fix-loop.test.ts)\n\n\`\`\`markdown\n${body}\n\`\`\`\n\n## Requests\n\n${requests.join("\n")}\n\n## Its edits, in order\n\n${rootComment(issue)!.edits.map((e) => `\`\`\`markdown\n${e}\n\`\`\``).join("\n\n")}\n`,
      );
    }
  }, 300_000);

  it("never fixed: with ci_fix_attempts 1 the loop stops after one attempt and names the test that still fails", async () => {
    const name = "stuck";
    const r = ciRepo(name, devsYml("ci_fix_attempts: 1\n"));
    const issue = 12;
    script([write(name, "status.txt", "fail\n"), say("Made the greeting polite.")], [write(name, "status.txt", "still failing\n"), say("Tried to fix the greeting test.")]);
    const fixesBefore = fixStarts().length;

    const { pr, sha: first } = await agentOpensPullRequest(name, issue, r);
    expect((await ciVerdict(name, first)).state).toBe("failure");
    const attempt = await fixPushed(name, r, pr.head, first);
    expect((await ciVerdict(name, attempt)).state).toBe("failure");
    await untilSeen(() => loopLine(issue)?.includes("❌"), 60_000, "the loop line to give up");

    expect(loopLine(issue)).toBe("CI failed (1 test) → fixing, attempt 1 of 1 → ❌ still failing after 1 attempt: `widgets › greets politely`");
    expect(sim.comments.filter((c) => c.issue === issue)).toHaveLength(1);
    // No second fix: the model saw one fix conversation, and the branch did not move again.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(fixStarts().length - fixesBefore).toBe(1);
    expect(firstPrompt(fixStarts().at(-1)!)).toContain("fix attempt 1 of 1");
    expect(head(r, pr.head)).toBe(attempt);
  }, 300_000);

  it("a human push stops the loop: the running fix is cancelled, the line says who pushed, the human's commit is the head", async () => {
    const name = "pushed";
    const r = ciRepo(name);
    const issue = 13;
    // The fix writes its change, then waits on the model until it is cancelled.
    script([write(name, "status.txt", "fail\n"), say("Made the greeting polite.")], [write(name, "status.txt", "fixed by the agent\n"), "hang"]);

    const requestsBefore = fake.requests.length;
    const { pr, sha: first, rootTask } = await agentOpensPullRequest(name, issue, r);
    expect((await ciVerdict(name, first)).state).toBe("failure");
    const waiting = () => fake.requests.slice(requestsBefore).some((q) => q.role === "agent" && isFix(q) && turnIndex(q) === 1);
    await untilSeen(waiting, 180_000, "the fix task to wait on the model");

    const carols = humanFix(r, pr.head);
    expect((await push(name, pr.head, first, carols, "carol")).status).toBe(200);

    await untilSeen(() => loopLine(issue)?.includes("stopped"), 60_000, "the loop line to say it stopped");
    expect(loopLine(issue)).toBe("CI failed (1 test) → fixing, attempt 1 of 2 → stopped: a push by @carol");
    const end = await untilSeen(() => taskFinished(`fix-${rootTask}-1`), 60_000, "the fix task's end in the log");
    expect(end.state).toBe("cancelled");
    // carol's commit wins: the fix never landed, and her push ran CI like any other.
    expect(head(r, pr.head)).toBe(carols);
    expect(git(r.path, "log", "--format=%s", pr.head)).not.toContain("fixed by the agent");
    expect((await ciVerdict(name, carols)).state).toBe("success");
    expect(loopLine(issue)).toBe("CI failed (1 test) → fixing, attempt 1 of 2 → stopped: a push by @carol");
    expect(sim.comments.filter((c) => c.issue === issue)).toHaveLength(1);
  }, 300_000);

  it("a human push while the fix waits in the slot's queue: the fix is cancelled before it starts", async () => {
    const name = "queued";
    const r = ciRepo(name);
    ciRepo("blocker");
    const issue = 15;
    // The fix would pass; the blocker's agent holds the only slot until it is stopped.
    script([write(name, "status.txt", "slow\n"), say("Made the greeting polite.")], [write(name, "status.txt", "pass\n"), say("Fixed it.")], "acme/blocker");
    const requestsBefore = fake.requests.length;

    const { pr, sha: first, rootTask } = await agentOpensPullRequest(name, issue, r);
    // While the tests run, another request takes the slot's queue: the fix will wait behind it.
    await untilSeen(() => checks.statuses.some((s) => s.sha === first && s.description.startsWith("Running")), 60_000, "CI to run");
    expect((await mention("blocker", 16, 1600, "please look at the greeting")).status).toBe(200);
    expect((await ciVerdict(name, first)).state).toBe("failure");
    await untilSeen(() => loopLine(issue) === "CI failed (1 test) → fixing, attempt 1 of 2", 60_000, "the loop line to say the fix is queued");

    const carols = humanFix(r, pr.head);
    expect((await push(name, pr.head, first, carols, "carol")).status).toBe(200);
    await untilSeen(() => loopLine(issue)?.includes("stopped"), 60_000, "the loop line to say it stopped");
    expect(loopLine(issue)).toBe("CI failed (1 test) → fixing, attempt 1 of 2 → stopped: a push by @carol");

    // Free the slot; had the fix survived, it would run now.
    expect((await mention("blocker", 16, 1601, "stop")).status).toBe(200);
    await untilSeen(() => sim.comments.find((c) => c.issue === 16 && c.body.includes("🚫")), 60_000, "the blocker to be cancelled");
    expect((await ciVerdict(name, carols)).state).toBe("success");
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(fake.requests.slice(requestsBefore).filter((q) => q.role === "agent" && isFix(q))).toEqual([]);
    // Cancelled in the queue: it never started.
    const fixId = `fix-${rootTask}-1`;
    expect(server!.logs.find((l) => l.msg === "CI fix loop stopped" && l.loop === rootTask)?.cancelled).toEqual([fixId]);
    expect(server!.logs.filter((l) => l.task === fixId)).toEqual([]);
    expect(head(r, pr.head)).toBe(carols);
    expect(loopLine(issue)).toBe("CI failed (1 test) → fixing, attempt 1 of 2 → stopped: a push by @carol");
    expect(sim.comments.filter((c) => c.issue === issue)).toHaveLength(1);
  }, 300_000);

  it("a CI run that timed out on the agent's commit starts no fix", async () => {
    const name = "slow";
    const r = ciRepo(name);
    const issue = 14;
    script([write(name, "status.txt", "hang\n"), say("Made the greeting polite.")], [say("fake-anthropic: a fix was requested")]);
    const fixesBefore = fixStarts().length;

    const { pr, sha, rootTask } = await agentOpensPullRequest(name, issue, r);
    const verdict = await ciVerdict(name, sha, 150_000);
    // A time limit is no verdict on the code: the status says error (timed out), not failure.
    expect(verdict.state).toBe("error");
    expect(verdict.description).toMatch(/time/i);
    // Given the time to start one, no fix task came: no request, no loop line, the branch unmoved.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(fixStarts().length - fixesBefore).toBe(0);
    expect(server!.logs.filter((l) => typeof l.task === "string" && l.task.startsWith(`fix-${rootTask}-`))).toEqual([]);
    expect(rootComment(issue)!.body).not.toContain(LOOP_MARKER);
    expect(head(r, pr.head)).toBe(sha);
  }, 300_000);
});
