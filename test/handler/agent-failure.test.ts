// A failed agent task, as the user sees it on GitHub and the operator in the log: the comment is one
// line in the user's terms (never a host path, a socket, a stack or a TypeError's text); the log
// has the error itself under the task's id. The failures are real where they can be: a Docker
// client against a socket that is not there, a property read on undefined. Each task runs through
// a real pool with the agent's runner and reporter, as `serve` runs it.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import nock from "nock";
import { pino, type Logger } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AgentOutcome } from "../../src/agent/claude.js";
import { AgentReporter } from "../../src/agent/reporter.js";
import { createAgentRunner, type AgentRunnerDeps, type PreparedContainer } from "../../src/agent/runner.js";
import type { AgentConfig } from "../../src/config/task-config.js";
import { LifecycleCommandError } from "../../src/containers/docker.js";
import { markerFor } from "../../src/publish/progress.js";
import { GitError, type RepoCache } from "../../src/workspace/repo-cache.js";
import type { Task } from "../../src/tasks/task.js";
import { TestOctokit } from "../helpers/probot.js";
import { runInPool, type TestPoolOptions } from "../helpers/pool.js";
import { makeTask } from "../helpers/tasks.js";
import { unmeteredModel } from "../helpers/model.js";

/** These tasks fail before the agent's work would be taken out. */
const unusedExport = async (): Promise<never> => {
  throw new Error("exportChanges must not be called");
};

const API = "https://api.github.com";
const HOST_PATH = /\/(tmp|home|var|root|usr)\//;

beforeEach(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

const CONFIG: AgentConfig = { defaultBranch: null, promptExtra: null, renderOverride: null, directCommit: false, draftPrs: false, maxCostUsd: null, env: {} };

/** A logger whose lines the test reads back. */
function recordingLog() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

const octokit = new TestOctokit({ auth: "installation-token" });

/** The runner's collaborators for these tests: nothing real but GitHub (nock) and the log. */
function runnerDeps(log: Logger, over: { sync?: RepoCache["sync"]; prepareContainer?: AgentRunnerDeps["prepareContainer"] } = {}): AgentRunnerDeps {
  const workspace = mkdtempSync(join(tmpdir(), "devs-failure-ws-"));
  const repoCache = {
    sync: over.sync ?? (async () => "/unused"),
    checkout: async () => ({ dir: workspace, branch: "main", baseSha: "a".repeat(40) }),
    cachePath: () => "/unused",
  } as unknown as RepoCache;
  return {
    botHandle: "devs-bot",
    identity: { name: "devs-bot", email: "bot@example.invalid" },
    repoCache,
    workspaceFor: () => workspace,
    // These tasks are not a fork's: no setup tree is made.
    setupDirFor: () => "/unused",
    // No container runs before the failures these tests cause.
    quiesce: async () => undefined,
    scratchDir: mkdtempSync(join(tmpdir(), "devs-failure-scratch-")),
    github: async () => ({ octokit, token: "installation-token" }),
    loadConfig: async () => CONFIG,
    conversation: async () => [],
    prepareContainer: over.prepareContainer ?? (async () => ({ workspaceFolder: "/workspaces/widgets", notes: [], runAgent: async () => ({}) as AgentOutcome, exportChanges: unusedExport })),
    openModel: unmeteredModel,
    redact: (text) => text,
    log,
    now: () => 0,
  };
}

/** The agent kind as `serve` wires it: this runner and the reporter, on the same GitHub client. */
function runAgentInPool(task: Task, deps: AgentRunnerDeps, options: TestPoolOptions = {}, logUrl?: (task: Task) => string | null) {
  const reporter = new AgentReporter({ github: async () => ({ octokit }), timeoutMinutes: 30, log: deps.log, now: () => 0, logUrl });
  return runInPool(task, { execute: createAgentRunner(deps), reporter }, options);
}

const queued = (taskId: string) => `${markerFor(taskId)}\n⏳ Queued for \`eamonn\`.`;
const running = (taskId: string) => `${markerFor(taskId)}\n⚙️ Working in \`eamonn\` since 1970-01-01T00:00:00Z.`;

interface Scenario {
  taskId: string;
  sync?: RepoCache["sync"];
  prepareContainer?: AgentRunnerDeps["prepareContainer"];
  /** The task log's public link (PUBLIC_URL). */
  logUrl?: (task: Task) => string | null;
}

/** Runs one task whose step fails as the scenario says; returns the body of its failure comment and the log. */
async function runFailing(scenario: Scenario): Promise<{ body: string; lines: Array<Record<string, unknown>> }> {
  const task = makeTask("acme/widgets", "agent", scenario.taskId);
  task.target.number = 12;
  task.trigger = { ...task.trigger, subject: { type: "issue_comment", id: 99 } };
  const { log, lines } = recordingLog();
  const deps = runnerDeps(log, { ...(scenario.sync ? { sync: scenario.sync } : {}), ...(scenario.prepareContainer ? { prepareContainer: scenario.prepareContainer } : {}) });
  let body = "";
  const scope = nock(API)
    .get("/repos/acme/widgets/issues/12/comments")
    .query(true)
    .reply(200, [])
    .post("/repos/acme/widgets/issues/12/comments", { body: queued(scenario.taskId) })
    .reply(201, { id: 77 })
    .patch("/repos/acme/widgets/issues/comments/77", { body: running(scenario.taskId) })
    .reply(200, { id: 77 })
    .patch("/repos/acme/widgets/issues/comments/77", (b: { body: string }) => {
      body = b.body;
      return true;
    })
    .reply(200, { id: 77 })
    .post("/repos/acme/widgets/issues/comments/99/reactions", { content: "confused" })
    .reply(201, {});
  const end = await runAgentInPool(task, deps, {}, scenario.logUrl);
  expect(end.state).toBe("failed");
  scope.done();
  return { body, lines };
}

/** `time`: the phases the task reached before it failed (the clocks stand still: all 0.0s). */
const failed = (taskId: string, reason: string, time: string) => `${markerFor(taskId)}\n❌ Failed after 0s: ${reason}\n\nTime: ${time}`;
const TO_CONTAINER = "queue 0.0s · container 0.0s · checkout 0.0s";
const TO_AGENT = "queue 0.0s · container 0.0s · checkout 0.0s · agent 0.0s";

describe("a failed agent task's comment", () => {
  it("Docker's socket missing (connect ENOENT <socket>): says the engine could not be reached, and where the details are", async () => {
    const socket = join(mkdtempSync(join(tmpdir(), "devs-failure-nosock-")), "docker.sock");
    const docker = new Docker({ socketPath: socket });
    // Docker's API over the (missing) socket is seen by nock as localhost:80; let it through to fail for real.
    nock.enableNetConnect((host) => host.startsWith("localhost"));
    const { body, lines } = await runFailing({
      taskId: "task-enoent",
      prepareContainer: async () => {
        await docker.ping();
        throw new Error("unreachable: the ping must fail");
      },
    });
    expect(body).toBe(
      failed("task-enoent", "the server could not reach its Docker engine, so the task's container could not start; an operator can find the details in the server log under task `task-enoent`.", TO_CONTAINER),
    );
    expect(body).not.toContain("docker.sock");
    // The operator's side: the error itself, under the task's id.
    const logged = lines.find((l) => l.msg === "agent task failed");
    expect(logged).toMatchObject({ level: 50, task: "task-enoent", repo: "acme/widgets", slot: "eamonn", failure: "docker_unreachable" });
    expect((logged!.err as { message: string }).message).toBe(`connect ENOENT ${socket}`);
  });

  it("with PUBLIC_URL: ends with the link to the task's log, on the final comment only", async () => {
    const { body } = await runFailing({
      taskId: "task-linked",
      prepareContainer: async () => {
        throw new TypeError("boom");
      },
      logUrl: (task) => `https://devs.example.com/logs/${task.id}/0123abcd`,
    });
    expect(body).toBe(
      `${failed("task-linked", "the task stopped because of an error on the server; an operator can find the details in the server log under task `task-linked`.", TO_CONTAINER)}\n\n[Log](https://devs.example.com/logs/task-linked/0123abcd)`,
    );
  });

  it("a TypeError: a generic line, never its text", async () => {
    const { body, lines } = await runFailing({
      taskId: "task-typeerror",
      prepareContainer: async ({ env }) => {
        const missing = (env as unknown as Record<string, { spec: { image: string } }>).devcontainer;
        return { workspaceFolder: missing!.spec.image, notes: [], runAgent: async () => ({}) as AgentOutcome, exportChanges: unusedExport } as PreparedContainer;
      },
    });
    expect(body).toBe(failed("task-typeerror", "the task stopped because of an error on the server; an operator can find the details in the server log under task `task-typeerror`.", TO_CONTAINER));
    expect(body).not.toMatch(/Cannot read|undefined|TypeError/);
    const logged = lines.find((l) => l.msg === "agent task failed");
    expect(logged).toMatchObject({ task: "task-typeerror", failure: "internal", err: { type: "TypeError", message: expect.stringContaining("Cannot read properties of undefined") } });
    expect((logged!.err as { stack: string }).stack).toContain("agent-failure.test.ts");
  });

  it("a GitError that names a host path: says git failed and what to do, without the path", async () => {
    const hostPath = "/home/devs/.devs-webhook/repos/acme/widgets.git";
    const { body, lines } = await runFailing({
      taskId: "task-git",
      sync: async () => {
        throw new GitError(`fetching acme/widgets failed: fatal: '${hostPath}' does not appear to be a git repository`);
      },
    });
    expect(body).toBe(
      failed(
        "task-git",
        "git on the server could not fetch, check out or publish the repository. Trigger the task again; if it keeps failing, an operator can find the details in the server log under task `task-git`.",
        "queue 0.0s · checkout 0.0s",
      ),
    );
    expect(body).not.toMatch(HOST_PATH);
    expect(lines.find((l) => l.msg === "agent task failed")).toMatchObject({ task: "task-git", failure: "git", err: { message: expect.stringContaining(hostPath) } });
  });

  it("a lifecycle hook failing: names the hook, its entry and exit code (the user's own config), not its output", async () => {
    const { body, lines } = await runFailing({
      taskId: "task-hook",
      prepareContainer: async () => {
        throw new LifecycleCommandError("devs-eamonn-acme-widgets", "postCreateCommand", "deps", 127, ["sh: /root/.cache/install.sh: not found"]);
      },
    });
    expect(body).toBe(
      failed(
        "task-hook",
        "the devcontainer's `postCreateCommand` (`deps`) exited with code 127, so the agent did not run. Fix the command in the devcontainer configuration on the default branch, then trigger the task again.",
        TO_CONTAINER,
      ),
    );
    expect(body).not.toMatch(HOST_PATH);
    expect(lines.find((l) => l.msg === "agent task failed")).toMatchObject({ failure: "lifecycle_hook", err: { message: expect.stringContaining("/root/.cache/install.sh") } });
  });

  it("the agent's exec failing (exec_failed): the server's problem, said as such; the detail goes to the log", async () => {
    const outcome: AgentOutcome = {
      ok: false,
      kind: "exec_failed",
      reason: "The agent could not be run in the container: connect ECONNREFUSED <path>",
      detail: "exec create failed: connect ECONNREFUSED /run/user/1000/docker.sock",
      turns: null,
      costUsd: null,
      durationMs: 5,
      sessionId: null,
      exitCode: null,
    };
    const { body, lines } = await runFailing({
      taskId: "task-exec",
      prepareContainer: async () => ({ workspaceFolder: "/workspaces/widgets", notes: [], runAgent: async () => outcome, exportChanges: unusedExport }),
    });
    expect(body).toBe(
      failed(
        "task-exec",
        "the agent could not be started in the task's container. Trigger the task again; if it keeps failing, an operator can find the details in the server log under task `task-exec`.",
        TO_AGENT,
      ),
    );
    expect(lines.find((l) => l.kind === "exec_failed")).toMatchObject({ level: 40, task: "task-exec", detail: outcome.detail });
  });

  it("the agent's own failure (its turn limit): its reason, written for users, stays", async () => {
    const outcome: AgentOutcome = {
      ok: false,
      kind: "max_turns",
      reason: "The agent reached its turn limit after 30 turns before finishing.",
      detail: "result error_max_turns",
      turns: 30,
      costUsd: 1.5,
      durationMs: 5,
      sessionId: "s",
      exitCode: 1,
    };
    const { body } = await runFailing({
      taskId: "task-turns",
      prepareContainer: async () => ({ workspaceFolder: "/workspaces/widgets", notes: [], runAgent: async () => outcome, exportChanges: unusedExport }),
    });
    expect(body).toBe(failed("task-turns", "the agent did not finish: The agent reached its turn limit after 30 turns before finishing.", TO_AGENT));
  });
});

describe("a stopped agent task whose last comment edit fails", () => {
  it("logs that the user was not told (the comment would otherwise say Working… with no trace why)", async () => {
    const task = makeTask("acme/widgets", "agent", "task-unsaid");
    task.target = { ...task.target, number: 12 };
    task.trigger = { ...task.trigger, subject: { type: "issue_comment", id: 99 } };
    const { log, lines } = recordingLog();
    const deps = runnerDeps(log, {
      prepareContainer: async () => ({
        workspaceFolder: "/workspaces/widgets",
        notes: [],
        // The pool's time limit lands while the agent runs.
        runAgent: (_prompt, signal) =>
          new Promise<AgentOutcome>((resolve) => {
            signal.addEventListener("abort", () => resolve({ ok: false, kind: "aborted", reason: "stopped" } as unknown as AgentOutcome), { once: true });
          }),
        exportChanges: unusedExport,
      }),
    });
    const scope = nock(API)
      .get("/repos/acme/widgets/issues/12/comments")
      .query(true)
      .reply(200, [])
      .post("/repos/acme/widgets/issues/12/comments", { body: queued("task-unsaid") })
      .reply(201, { id: 78 })
      .patch("/repos/acme/widgets/issues/comments/78", { body: running("task-unsaid") })
      .reply(200, { id: 78 })
      .patch("/repos/acme/widgets/issues/comments/78", { body: `${markerFor("task-unsaid")}\n⏱️ Stopped after 30 minutes (the time limit). Nothing was published.` })
      .reply(502, { message: "Bad Gateway" });
    const end = await runAgentInPool(task, deps, { timeoutMs: 200 });
    expect(end).toMatchObject({ state: "timed_out", ran: { report: undefined } });
    scope.done();
    const warning = lines.find((l) => l.msg === "could not say on GitHub how the task ended");
    expect(warning).toMatchObject({ level: 40, task: "task-unsaid", slot: "eamonn", state: "timed_out" });
  });
});
