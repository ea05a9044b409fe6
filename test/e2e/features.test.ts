// End to end, with real parts (as agent.test.ts): `devs-webhook serve` as a process, the local
// GitHub, a real dockerd, the real devcontainer CLI and the real Claude Code CLI against a scripted
// Messages API. A repository whose devcontainer.json uses a local feature that installs a tool:
// the agent's Bash step runs the tool and its output lands in the commit; a second task with the
// same configuration reuses the features image without building it again.
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerEngine, ensureClaudeImage } from "../helpers/claude-image.js";
import { removeImages, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { startFakeAnthropic, toolResults, type FakeAnthropic } from "../helpers/fake-anthropic.js";
import { bareRepo, git, type BareRepo } from "../helpers/git-repo.js";
import { GitHubSim } from "../helpers/github-sim.js";
import { payload } from "../helpers/payloads.js";
import { agentServeEnv, deliver, startServe, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/settings.js";
import { until } from "../helpers/until.js";

const TOKEN = "ghs_e2eInstallationToken0000000000000000";
const SECRET = "e2e-webhook-secret";
const id = runId();
const pool = `hfeat${id}`;
const owner = `devs-hfeat-${id}`;

const engine = await dockerEngine();
if (!engine.ok) {
  if (process.env.DEVS_REQUIRE_DOCKER === "1") throw new Error(`DEVS_REQUIRE_DOCKER=1 but no Docker engine answers (${engine.why}); run .ci/docker.sh`);
  console.warn(`skipping the end-to-end features tests: no Docker engine answers (${engine.why})`);
}

let docker: Docker | null = null;
let sim: GitHubSim;
let fake: FakeAnthropic;
let repo: BareRepo;
let server: ServeProcess | null = null;
const serverLog = () => server!.stdout() + server!.stderr();

const untilSeen = <T>(probe: () => T, timeoutMs: number, what: string) =>
  until(probe, { timeoutMs, what, intervalMs: 100, detail: () => `--- server log ---\n${serverLog().slice(-6000)}` });

beforeAll(async () => {
  if (!engine.ok) return;
  docker = await requireDocker();
  if (!docker) return;
  const image = await ensureClaudeImage();
  const reposRoot = tempDir("devs-hfeat-e2e-repos-");
  repo = bareRepo(reposRoot, owner, "widgets", {
    "README.md": "# widgets\n",
    ".devcontainer/devcontainer.json": JSON.stringify({ image: image.tag, features: { "./marker": { greeting: "from the feature" } } }),
    ".devcontainer/marker/devcontainer-feature.json": JSON.stringify({
      id: "marker",
      version: "1.0.0",
      options: { greeting: { type: "string", default: "hello" } },
      containerEnv: { PATH: "/opt/marker/bin:${PATH}" },
    }),
    ".devcontainer/marker/install.sh": `#!/bin/sh\nset -e\nmkdir -p /opt/marker/bin\nprintf '#!/bin/sh\\necho "marker says %s"\\n' "$GREETING" > /opt/marker/bin/devs-marker\nchmod +x /opt/marker/bin/devs-marker\n`,
  });
  sim = await new GitHubSim(reposRoot, TOKEN).start();
  fake = await startFakeAnthropic({ kind: "hang" });
  server = await startServe({
    ...agentServeEnv({ token: TOKEN, secret: SECRET, githubHost: sim.host, modelUrl: fake.url, pool, image: image.tag }),
    CONTAINER_TIMEOUT_MINUTES: "3",
    DEVS_ENVS_DIR: tempDir("devs-hfeat-e2e-envs-"),
  });
}, 15 * 60_000);

afterAll(async () => {
  server?.child.kill("SIGTERM");
  await fake?.close();
  await sim?.stop();
  if (docker) {
    await removePoolContainers(docker, pool);
    await removeImages(docker, `devs-img-${owner}-`);
  }
});

function mention(number: number, commentId: number): Promise<Response> {
  return deliver(
    server!.base,
    SECRET,
    "issue_comment",
    payload("issue_comment", "created", {
      repository: {
        name: "widgets",
        full_name: `${owner}/widgets`,
        owner: { login: owner },
        default_branch: "main",
        private: false,
        clone_url: sim.cloneUrl(owner, "widgets"),
        html_url: sim.htmlUrl(owner, "widgets"),
      },
      issue: { number, title: "Record the marker", body: "Run devs-marker.", user: { login: "alice" }, labels: [], assignees: [] },
      comment: { id: commentId, body: "@devs-bot please record what devs-marker says", user: { login: "alice" }, html_url: `${sim.htmlUrl(owner, "widgets")}/issues/${number}#issuecomment-${commentId}` },
      sender: { login: "alice" },
    }),
  );
}

/** The features image each task used, from the server's own log lines. */
const featureImageLines = () =>
  serverLog()
    .split("\n")
    .filter((line) => /features image (built|reused)/.test(line))
    .map((line) => JSON.parse(line) as { msg: string; image: string; origin: string });

describe.skipIf(!engine.ok)("devcontainer features end to end", () => {
  const runMarker = (issue: number) =>
    fake.setMode({
      kind: "script",
      turns: [
        { content: [{ type: "tool_use", name: "Bash", input: { command: "devs-marker | tee /workspaces/widgets/marker.txt", description: "Run the marker" } }] },
        { content: [{ type: "text", text: `Recorded the marker for #${issue}.` }] },
      ],
    });

  it("the agent's Bash step finds the feature's tool, and its output lands in the commit", async () => {
    runMarker(1);
    const before = fake.agentRequests.length;
    expect((await mention(1, 7001)).status).toBe(200);
    const done = await untilSeen(() => sim.comments.find((c) => c.issue === 1 && /✅|❌|⏱️/.test(c.body)), 400_000, "the final comment");
    expect(done.body).toContain("✅ Done");
    const printed = toolResults(fake.agentRequests.slice(before)[1]!).map((r) => r.text).join("\n");
    expect(printed).toContain("marker says from the feature");
    expect(git(repo.path, "show", "devs/issue-1-record-the-marker:marker.txt")).toBe("marker says from the feature");
    expect(featureImageLines()).toEqual([expect.objectContaining({ msg: "features image built", origin: "built" })]);
  }, 480_000);

  it("a second task with the same configuration reuses the image: same image, no build", async () => {
    const [first] = featureImageLines();
    const imageId = (await docker!.getImage(first!.image).inspect()).Id;
    runMarker(2);
    expect((await mention(2, 7002)).status).toBe(200);
    const done = await untilSeen(() => sim.comments.find((c) => c.issue === 2 && /✅|❌|⏱️/.test(c.body)), 300_000, "the final comment");
    expect(done.body).toContain("✅ Done");
    expect(git(repo.path, "show", "devs/issue-2-record-the-marker:marker.txt")).toBe("marker says from the feature");
    const lines = featureImageLines();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ msg: "features image reused", origin: "build-cached", image: first!.image });
    expect((await docker!.getImage(first!.image).inspect()).Id).toBe(imageId);
    // The container runs the features image.
    const containers = await docker!.listContainers({ all: true, filters: { label: [`devs.pool=${pool}`] } });
    expect(containers.map((c) => c.ImageID)).toEqual([imageId]);
  }, 360_000);
});
