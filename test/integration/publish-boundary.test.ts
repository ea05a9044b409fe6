// The agent's work crosses from its container to the host as data, tried the way a hostile agent
// would: the real Claude Code CLI in a real container (against the scripted Messages API) plants
// alternates pointing at another repository's cache, a symlinked refs/, a nested .git whose
// objects are a symlink, and overwrites every object file of its workspace. The published commit
// holds only the agent's own files, no object of the other repository reaches the remote, and the
// next checkout of the repository (on another pool name) is clean and publishes.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type Docker from "dockerode";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_AGENT_COMMAND } from "../../src/policy/agent-command.js";
import { containerAgent } from "../../src/agent/container-agent.js";
import { ContainerRuntime } from "../../src/containers/docker.js";
import { collectChanges, pushCommit } from "../../src/publish/git-publish.js";
import { RepoCache } from "../../src/workspace/repo-cache.js";
import { dockerEngine, ensureClaudeImage } from "../helpers/claude-image.js";
import { removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { startFakeAnthropic, type FakeAnthropic } from "../helpers/fake-anthropic.js";
import { bareRepo, git, type BareRepo } from "../helpers/git-repo.js";
import { tempDir } from "../helpers/settings.js";
import { makeTask } from "../helpers/tasks.js";

const engine = await dockerEngine();
if (!engine.ok) {
  if (process.env.DEVS_REQUIRE_DOCKER === "1") throw new Error(`DEVS_REQUIRE_DOCKER=1 but no Docker engine answers (${engine.why}); run .ci/docker.sh`);
  console.warn(`skipping the publish boundary tests: no Docker engine answers (${engine.why})`);
}

const API_KEY = "sk-ant-api03-boundary-test-key-0000000000";
const identity = { name: "devs-bot[bot]", email: "9+devs-bot[bot]@users.noreply.github.com" };
const pool = `pb${runId()}`;
const log = pino({ level: "silent" });

describe.skipIf(!engine.ok)("publishing across the container boundary", () => {
  let docker: Docker;
  let runtime: ContainerRuntime;
  let image: string;
  let fake: FakeAnthropic | null = null;
  let widgets: BareRepo;
  let secret: BareRepo;
  let cache: RepoCache;
  const secretText = `TOP SECRET ${runId()}\n`;

  beforeAll(async () => {
    docker = (await requireDocker())!;
    image = (await ensureClaudeImage()).tag;
    runtime = new ContainerRuntime(docker, { network: "host", stopTimeoutSeconds: 1 });
    const remotes = tempDir("devs-pb-remotes-");
    widgets = bareRepo(remotes, "acme", "widgets", { "README.md": "# widgets\n" });
    secret = bareRepo(remotes, "acme", "secret", { "secret.txt": secretText });
    cache = new RepoCache(tempDir("devs-pb-cache-"));
    await cache.sync(ref("widgets", widgets), null);
    await cache.sync(ref("secret", secret), null);
  }, 15 * 60_000);

  afterEach(async () => {
    await fake?.close();
    fake = null;
  });

  afterAll(async () => {
    for (const name of ["a", "b", "c"]) await removePoolContainers(docker, `${pool}${name}`).catch(() => undefined);
  });

  const ref = (name: string, repo: BareRepo) => ({ owner: "acme", name, cloneUrl: `file://${repo.path}` });

  /** One agent task as the product runs it: checkout on the host, the CLI in the container, the bundle out. */
  async function agentTask(poolName: string, bashCommand: string) {
    fake = await startFakeAnthropic({
      kind: "script",
      turns: [
        { content: [{ type: "tool_use", name: "Bash", input: { command: bashCommand, description: "Work on the repository" } }] },
        { content: [{ type: "text", text: "Done." }] },
      ],
    });
    const task = makeTask("acme/widgets");
    const workspace = join(tempDir("devs-pb-ws-"), poolName);
    const checkout = await cache.checkout(ref("widgets", widgets), workspace, { kind: "branch", branch: "main" }, identity);
    const prepared = await containerAgent({
      docker,
      runtime,
      defaultImage: image,
      agentCommand: DEFAULT_AGENT_COMMAND,
      secrets: () => [API_KEY],
      identity,
      log,
    })({
      slot: poolName,
      task,
      workspace,
      env: { HTTP_PROXY: fake.url, HTTPS_PROXY: fake.url, NO_PROXY: "127.0.0.1,localhost" },
      signal: AbortSignal.timeout(120_000),
    });
    const outcome = await prepared.runAgent("Please do the work.", AbortSignal.timeout(120_000), { ANTHROPIC_BASE_URL: fake.url, ANTHROPIC_API_KEY: API_KEY });
    expect(outcome).toMatchObject({ ok: true });
    const scratch = join(tempDir("devs-pb-scratch-"), "publish.git");
    const bundle = `${scratch}.bundle`;
    const exported = await prepared.exportChanges(checkout.baseSha, bundle, AbortSignal.timeout(60_000));
    const collected = await collectChanges({ bundle, cache: cache.cachePath(ref("widgets", widgets)), scratch, baseSha: checkout.baseSha, identity, message: "Agent work" });
    return { workspace, checkout, exported, collected, scratch };
  }

  it("alternates, a symlinked refs/ and a nested .git pointing at another repository's cache publish only the agent's files", async () => {
    const secretCache = cache.cachePath(ref("secret", secret));
    const secretBlob = git(secret.path, "rev-parse", "main:secret.txt");
    const attack = [
      `echo '${secretCache}/objects' > .git/objects/info/alternates`,
      `mv .git/refs .git/refs.away && ln -s '${secretCache}/refs' .git/refs`,
      `mkdir -p nested && cd nested && git init -q && git -c user.name=x -c user.email=x@y commit -q --allow-empty -m n && rm -rf .git/objects && ln -s '${secretCache}/objects' .git/objects && cd ..`,
      `ln -s '${secretCache}' linked-cache`,
      "printf 'hello from the agent\\n' > hello.txt",
    ].join(" && ");
    const { collected, scratch, checkout } = await agentTask(`${pool}a`, attack);

    const tree = git(scratch, "ls-tree", "-r", "--name-only", collected.headSha).split("\n");
    expect(tree.sort()).toEqual(["README.md", "hello.txt", "linked-cache"]);
    // The symlink is published as a link (its target text), never as what it points at on the host.
    expect(git(scratch, "ls-tree", collected.headSha, "linked-cache")).toMatch(/^120000 /);
    expect(git(scratch, "show", `${collected.headSha}:hello.txt`)).toBe("hello from the agent");
    expect(git(scratch, "rev-parse", `${collected.headSha}^`)).toBe(checkout.baseSha);

    expect(await pushCommit(scratch, `file://${widgets.path}`, null, collected.headSha, "devs/issue-1-boundary")).toBe("pushed");
    expect(() => git(widgets.path, "cat-file", "-e", secretBlob)).toThrow();
    expect(git(widgets.path, "rev-list", "--objects", "--all")).not.toContain(secretBlob);
  });

  it("an agent that overwrites every object file of its workspace poisons nothing: the next checkout on another pool name is clean and publishes", async () => {
    const cachePath = cache.cachePath(ref("widgets", widgets));
    const before = git(cachePath, "rev-parse", "main");
    const poison = "find .git/objects -type f | while read -r f; do chmod u+w \"$f\"; printf garbage > \"$f\"; done; printf 'x\\n' > poisoned.txt";
    await agentTask(`${pool}b`, poison).catch(() => undefined);

    // The cache itself is intact.
    expect(() => git(cachePath, "fsck", "--strict", "--no-dangling")).not.toThrow();
    expect(git(cachePath, "rev-parse", "main")).toBe(before);

    const { workspace, collected, scratch } = await agentTask(`${pool}c`, "printf 'clean\\n' > clean.txt");
    expect(() => git(workspace, "fsck", "--strict", "--no-dangling")).not.toThrow();
    expect(readFileSync(join(workspace, "README.md"), "utf8")).toBe("# widgets\n");
    expect(existsSync(join(workspace, "poisoned.txt"))).toBe(false);
    expect(collected.files).toEqual(["clean.txt"]);
    expect(await pushCommit(scratch, `file://${widgets.path}`, null, collected.headSha, "devs/issue-2-clean")).toBe("pushed");
    expect(git(widgets.path, "show", "devs/issue-2-clean:clean.txt")).toBe("clean");
  });
});
