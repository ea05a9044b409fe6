// A broken DEVS.yml reaches the user through the agent runner: the loader's DevsConfigError is
// "user facing", so the task's own comment says what to fix and nothing else runs. The task runs
// through a real pool with the agent's runner and reporter, as `serve` runs it.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { pino } from "pino";
import { afterEach, beforeEach, expect, it } from "vitest";
import { AgentReporter } from "../../src/agent/reporter.js";
import { createAgentRunner, type AgentRunnerDeps } from "../../src/agent/runner.js";
import { DevsConfigLoader } from "../../src/config/devs-yml.js";
import { agentConfigLoader } from "../../src/config/task-config.js";
import { markerFor } from "../../src/publish/progress.js";
import type { RepoCache } from "../../src/workspace/repo-cache.js";
import { runInPool } from "../helpers/pool.js";
import { TestOctokit } from "../helpers/probot.js";
import { makeTask } from "../helpers/tasks.js";
import { unmeteredModel } from "../helpers/model.js";

const API = "https://api.github.com";
const SHA = "4444444444444444444444444444444444444444";
const silent = pino({ level: "silent" });

beforeEach(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

const unreachable = (what: string) => () => {
  throw new Error(`${what} must not run on an invalid configuration`);
};

it("the task's comment names the file, key and problem, and nothing runs", async () => {
  const task = makeTask("acme/widgets", "agent", "cfg-task");
  task.createdAt = "2026-11-29T12:00:00Z";
  task.target.number = 12;
  task.trigger = { ...task.trigger, subject: { type: "issue_comment", id: 99 } };
  const octokit = new TestOctokit({ auth: "installation-token" });
  const deps: AgentRunnerDeps = {
    botHandle: "devs-bot",
    identity: { name: "devs-bot", email: "bot@example.invalid" },
    repoCache: new Proxy({}, { get: () => unreachable("the repository cache") }) as unknown as RepoCache,
    workspaceFor: unreachable("the workspace"),
    setupDirFor: unreachable("the setup tree"),
    quiesce: unreachable("the container"),
    scratchDir: mkdtempSync(join(tmpdir(), "devs-scratch-")),
    github: async () => ({ octokit, token: "installation-token" }),
    loadConfig: agentConfigLoader({ loader: new DevsConfigLoader({ envsDir: mkdtempSync(join(tmpdir(), "devs-envs-")) }), log: silent }),
    conversation: unreachable("the conversation"),
    prepareContainer: unreachable("the container"),
    openModel: unmeteredModel,
    redact: (text) => text,
    log: silent,
    now: () => 0,
  };
  const url = `https://github.com/acme/widgets/blob/${SHA}/DEVS.yml`;
  const failed = [
    `${markerFor("cfg-task")}`,
    "❌ Failed after 0s: the repository configuration (DEVS.yml) is invalid, so nothing ran.",
    "",
    `- [\`DEVS.yml\`](${url}), \`ci_test_command\`: must be a string, found a list`,
    "",
    "Fix the file on the default branch, then trigger the task again.",
    "",
    // It failed before the checkout: the queue wait is all there was.
    "Time: queue 0.0s",
  ].join("\n");
  const scope = nock(API)
    .get("/repos/acme/widgets/issues/12/comments")
    .query({ per_page: 100, since: "2026-11-29T12:00:00Z" })
    .reply(200, [])
    .post("/repos/acme/widgets/issues/12/comments", { body: `${markerFor("cfg-task")}\n⏳ Queued for \`eamonn\`.` })
    .reply(201, { id: 77 })
    .patch("/repos/acme/widgets/issues/comments/77", { body: `${markerFor("cfg-task")}\n⚙️ Working in \`eamonn\` since 1970-01-01T00:00:00Z.` })
    .reply(200, { id: 77 })
    .get("/repos/acme/widgets/commits/HEAD")
    .reply(200, SHA, { "content-type": "application/vnd.github.sha; charset=utf-8" })
    .get("/repos/acme/widgets/contents/DEVS.yml")
    .query({ ref: SHA })
    .reply(200, "ci_test_command: [npm, test]\n", { "content-type": "text/plain; charset=utf-8" })
    .patch("/repos/acme/widgets/issues/comments/77", { body: failed })
    .reply(200, { id: 77 })
    .post("/repos/acme/widgets/issues/comments/99/reactions", { content: "confused" })
    .reply(201, {});
  const reporter = new AgentReporter({ github: async () => ({ octokit }), timeoutMinutes: 30, log: silent, now: () => 0 });
  const end = await runInPool(task, { execute: createAgentRunner(deps), reporter });
  expect(end.state).toBe("failed");
  scope.done();
});
