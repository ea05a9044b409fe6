// An agent task on a fork's pull request, through the agent's runner as `serve` wires it: the real
// repository cache, the real container path (containerAgent) on a real Docker engine, and the real
// Claude Code CLI against a scripted Messages API. The fork's devcontainer.json names another
// image, sets an environment and has hooks that leave canaries; the fork pushed again after the
// maintainer's mention. Its sibling runs the same devcontainer.json on a pull request from a branch
// of the repository, where it is used.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type Docker from "dockerode";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { containerAgent } from "../../src/agent/container-agent.js";
import { createAgentRunner, type AgentRunnerDeps } from "../../src/agent/runner.js";
import type { AgentConfig } from "../../src/config/task-config.js";
import { ContainerRuntime } from "../../src/containers/docker.js";
import { placeOf, trustOf } from "../../src/containers/naming.js";
import { quiesceTaskContainer } from "../../src/containers/task-container.js";
import { DEFAULT_AGENT_COMMAND } from "../../src/policy/agent-command.js";
import type { Task } from "../../src/tasks/task.js";
import { placeDirs } from "../../src/wiring/task-kinds.js";
import { RepoCache } from "../../src/workspace/repo-cache.js";
import { dockerEngine, ensureClaudeImage } from "../helpers/claude-image.js";
import { archiveListing, imageId, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { startFakeAnthropic, type FakeAnthropic } from "../helpers/fake-anthropic.js";
import { bareRepo, git, type BareRepo } from "../helpers/git-repo.js";
import { TestOctokit } from "../helpers/probot.js";
import { tempDir } from "../helpers/settings.js";
import { agentTaskFromFork, agentTaskOnPullRequest } from "../helpers/tasks.js";
import { directModel } from "../helpers/model.js";

const engine = await dockerEngine();
if (!engine.ok) {
  if (process.env.DEVS_REQUIRE_DOCKER === "1") throw new Error(`DEVS_REQUIRE_DOCKER=1 but no Docker engine answers (${engine.why}); run .ci/docker.sh`);
  console.warn(`skipping the fork agent tests: no Docker engine answers (${engine.why})`);
}

const API_KEY = "sk-ant-api03-fork-test-key-00000000000000";
const identity = { name: "devs-bot[bot]", email: "9+devs-bot[bot]@users.noreply.github.com" };
const slot = `fk${runId()}`;
const log = pino({ level: "silent" });
const NAME = "widgets";

describe.skipIf(!engine.ok)("an agent task on a fork's pull request runs in the base repository's container", () => {
  let docker: Docker;
  let runtime: ContainerRuntime;
  let baseImage: string;
  let baseImageId: string;
  // The CLI's image under a label of its own, so the container's image id tells which file was used.
  const otherImage = `devs-hfork-agent-${runId()}:latest`;
  let otherImageId: string;
  let remote: BareRepo;
  let fake: FakeAnthropic | null = null;
  const dirs = { workspaceDir: tempDir("devs-hfork-ws-"), dataDir: tempDir("devs-hfork-data-") };

  beforeAll(async () => {
    docker = (await requireDocker())!;
    baseImage = (await ensureClaudeImage()).tag;
    baseImageId = (await imageId(docker, baseImage))!;
    const context = tempDir("devs-hfork-image-");
    writeFileSync(join(context, "Dockerfile"), `FROM ${baseImage}\nLABEL devs-hfork.chosen-by=pull-request\n`);
    const stream = await docker.buildImage({ context, src: ["Dockerfile"] }, { t: otherImage, networkmode: "none" });
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (error: Error | null, out: Array<{ error?: string }>) => {
        const failed = out?.find((o) => o.error);
        if (error || failed) reject(error ?? new Error(failed?.error));
        else resolve();
      }),
    );
    otherImageId = (await imageId(docker, otherImage))!;
    runtime = new ContainerRuntime(docker, { network: "host", stopTimeoutSeconds: 1 });
    remote = bareRepo(tempDir("devs-hfork-remotes-"), "acme", NAME, {
      "version.txt": "v1\n",
      ".devcontainer/devcontainer.json": JSON.stringify({ image: baseImage }),
    });
  }, 15 * 60_000);

  afterEach(async () => {
    await fake?.close();
    fake = null;
  });

  afterAll(async () => {
    await removePoolContainers(docker, slot);
    await docker.getImage(otherImage).remove({ force: true }).catch(() => undefined);
  });

  /** A pull request's devcontainer.json: another image, its own environment, and hooks that leave canaries in the workspace and /tmp. */
  const prDevcontainer = JSON.stringify({
    image: otherImage,
    containerEnv: { CHOSEN_BY: "pull-request" },
    postCreateCommand: `echo pwned > /tmp/canary-create; echo pwned > /workspaces/${NAME}/canary-create`,
    postStartCommand: `echo pwned > /tmp/canary-start; echo pwned > /workspaces/${NAME}/canary-start`,
  });

  function runnerDeps(): AgentRunnerDeps {
    // Nothing here should reach GitHub (the configuration and the conversation are given); a call would be refused on the spot.
    const octokit = new TestOctokit({ auth: "unused", baseUrl: "http://127.0.0.1:9" });
    const config: AgentConfig = {
      defaultBranch: null,
      promptExtra: null,
      renderOverride: null,
      directCommit: false,
      draftPrs: false,
      maxCostUsd: null,
      env: { HTTP_PROXY: fake!.url, HTTPS_PROXY: fake!.url, NO_PROXY: "127.0.0.1,localhost" },
    };
    return {
      botHandle: "devs-bot",
      identity,
      repoCache: new RepoCache(tempDir("devs-hfork-cache-")),
      workspaceFor: (s, task) => placeDirs(dirs, placeOf(s, task)).workspace,
      setupDirFor: (s, task) => placeDirs(dirs, placeOf(s, task)).setup,
      quiesce: async (input) => void (await quiesceTaskContainer(runtime, input, log)),
      scratchDir: tempDir("devs-hfork-scratch-"),
      github: async () => ({ octokit, token: "unused" }),
      loadConfig: async () => config,
      conversation: async () => [],
      prepareContainer: containerAgent({
        docker,
        runtime,
        defaultImage: baseImage,
        agentCommand: DEFAULT_AGENT_COMMAND,
        secrets: () => [API_KEY],
        identity,
        log,
      }),
      openModel: directModel({ ANTHROPIC_BASE_URL: fake!.url, ANTHROPIC_API_KEY: API_KEY }),
      redact: (text) => text,
      log,
    };
  }

  /** Runs the task as the pool would (minus the reporter); returns its result and its container as it was left. */
  async function run(task: Task) {
    fake = await startFakeAnthropic({ kind: "script", turns: [{ content: [{ type: "text", text: "Nothing to change." }] }] });
    const deps = runnerDeps();
    const result = await createAgentRunner(deps)(task, { slot, signal: AbortSignal.timeout(180_000), interrupted: false });
    const container = (await runtime.list({ slot })).find((c) => c.trust === trustOf(task));
    const info = await docker.getContainer(container!.id).inspect();
    const tmp = (await archiveListing(docker, container!.id, "/tmp")) ?? [];
    return { result, info, tmp, workspace: deps.workspaceFor(slot, task) };
  }

  const withClone = (task: Task): Task => ({ ...task, repo: { ...task.repo, owner: "acme", name: NAME, fullName: `acme/${NAME}`, cloneUrl: `file://${remote.path}` } });

  it("fork: the base branch's image, no hook or environment of the fork, the approved head commit's files, and a note saying so", async () => {
    // The fork's commits exist in the base repository only as refs/pull/5/head, as GitHub serves them.
    const fork = tempDir("devs-hfork-fork-");
    git(fork, "clone", "--quiet", remote.path, ".");
    writeFileSync(join(fork, "version.txt"), "from the fork\n");
    writeFileSync(join(fork, ".devcontainer/devcontainer.json"), prDevcontainer);
    git(fork, "commit", "--quiet", "-am", "the fork's change");
    const approved = git(fork, "rev-parse", "HEAD");
    // Pushed after the maintainer's mention: the task must not use it.
    writeFileSync(join(fork, "version.txt"), "pushed after the mention\n");
    git(fork, "commit", "--quiet", "-am", "a later push");
    git(fork, "push", "--quiet", remote.path, "HEAD:refs/pull/5/head");

    const task = withClone(agentTaskFromFork({ target: { number: 5, pullRequest: { headRef: "main", headSha: approved } } }));
    const { result, info, tmp, workspace } = await run(task);

    expect(result).toMatchObject({ state: "done", detail: "no changes" });
    expect(result.report).toMatchObject({
      outcome: "done",
      summary: "Nothing to change.",
      note: "This pull request comes from a fork, so its container is built from acme/widgets's default branch (`main`); changes to `.devcontainer` in the pull request are not used.",
    });
    expect(info.Image).toBe(baseImageId);
    expect(info.Config.Env).not.toContain("CHOSEN_BY=pull-request");
    expect(tmp.filter((f) => f.startsWith("canary"))).toEqual([]);
    expect(info.Mounts.map((m) => [m.Destination, m.Source])).toEqual([[`/workspaces/${NAME}`, workspace]]);
    expect(readFileSync(join(workspace, "version.txt"), "utf8")).toBe("from the fork\n");
    expect(git(workspace, "rev-parse", "HEAD")).toBe(approved);
    expect(existsSync(join(workspace, "canary-create")) || existsSync(join(workspace, "canary-start"))).toBe(false);
  }, 240_000);

  it("sibling: the same devcontainer.json on a pull request from a branch of the repository is used: its image, its environment, its hooks", async () => {
    const sha = remote.commit({ "version.txt": "from a branch\n", ".devcontainer/devcontainer.json": prDevcontainer }, "a maintainer's change", "feature");

    const task = withClone(agentTaskOnPullRequest({ target: { number: 6, pullRequest: { headRef: "feature", headSha: sha } } }));
    const { result, info, tmp, workspace } = await run(task);

    // The hooks' canaries are changes in the workspace, so they are published with the agent's (empty) work.
    expect(result).toMatchObject({ state: "done", detail: "pushed feature" });
    expect(result.report).toMatchObject({ outcome: "done", summary: "Nothing to change." });
    expect(result.report).not.toHaveProperty("note");
    expect(git(remote.path, "ls-tree", "--name-only", "feature").split("\n")).toEqual([".devcontainer", "canary-create", "canary-start", "version.txt"]);
    expect(info.Image).toBe(otherImageId);
    expect(info.Config.Env).toContain("CHOSEN_BY=pull-request");
    expect(tmp.filter((f) => f.startsWith("canary"))).toEqual(["canary-create", "canary-start"]);
    expect(readFileSync(join(workspace, "version.txt"), "utf8")).toBe("from a branch\n");
    expect(existsSync(join(workspace, "canary-create"))).toBe(true);
  }, 240_000);
});
