// A restart during a CI run leaves no check `in_progress`: the real `devs-webhook serve` process in
// GitHub App mode against a local GitHub (check runs, DEVS.yml and git over smart HTTP from real
// bare repositories), real dockerd (--network none). The server is killed with SIGKILL while the
// test command runs; after a restart the run is queued again, runs again (the first attempt's
// processes killed) and completes. Killed during both attempts, it is given up and completed.
import { join } from "node:path";
import type Docker from "dockerode";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { execInContainer } from "../../src/containers/exec.js";
import { ChecksSim, serveAppAuth, type SimCheckRun } from "../helpers/ci-github.js";
import { BUSYBOX_IMAGE, ensureBusyboxImage, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { bareRepo, git } from "../helpers/git-repo.js";
import { GitHubSim } from "../helpers/github-sim.js";
import { payload } from "../helpers/payloads.js";
import { appPrivateKey, deliver, startServe, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/settings.js";

const TOKEN = "ghs_restartTestInstallationToken00000";
const SECRET = "restart-secret";
const POOL = `rs${runId()}`;
const docker: Docker | null = await requireDocker();
const reposRoot = tempDir("devs-restart-remotes-");
let sim: GitHubSim;
let checks: ChecksSim;
const key = appPrivateKey();
const servers: ServeProcess[] = [];

beforeAll(async () => {
  if (docker) await ensureBusyboxImage(docker);
  sim = new GitHubSim(reposRoot, TOKEN);
  checks = new ChecksSim(sim.standIn, TOKEN);
  serveAppAuth(sim.standIn, { slug: "devs-bot", id: 1, token: TOKEN });
  await sim.start();
});
afterEach(() => {
  for (const s of servers.splice(0)) if (s.child.exitCode === null) s.child.kill("SIGKILL");
});
afterAll(async () => {
  if (docker) await removePoolContainers(docker, POOL);
  await sim?.stop();
});

function serverEnv(dataDir: string): Record<string, string> {
  return {
    APP_ID: "1",
    PRIVATE_KEY: key,
    WEBHOOK_SECRET: SECRET,
    GHE_HOST: sim.host,
    GHE_PROTOCOL: "http",
    AUTHORIZED_CI_TRIGGER_USERS: "*",
    CONTAINER_POOL: POOL,
    CONTAINER_NETWORK: "none",
    STOP_CONTAINER_AFTER_TASK: "false",
    DEFAULT_IMAGE: BUSYBOX_IMAGE,
    DATA_DIR: dataDir,
    REPO_CACHE_DIR: join(dataDir, "repos"),
    WORKSPACE_DIR: join(dataDir, "workspaces"),
    DEVS_ENVS_DIR: join(dataDir, "envs"),
    LOG_LEVEL: "info",
  };
}

async function serve(dataDir: string): Promise<ServeProcess> {
  const s = await startServe(serverEnv(dataDir));
  servers.push(s);
  return s;
}

async function kill(s: ServeProcess): Promise<void> {
  s.child.kill("SIGKILL");
  await s.exited;
}

function pushBody(name: string, sha: string) {
  return payload("push", undefined, {
    ref: "refs/heads/main",
    after: sha,
    deleted: false,
    created: false,
    head_commit: null,
    installation: { id: 7 },
    sender: { login: "alice" },
    repository: { name, full_name: `acme/${name}`, owner: { login: "acme" }, default_branch: "main", private: false, clone_url: sim.cloneUrl("acme", name), html_url: sim.htmlUrl("acme", name) },
  });
}

/** A shell script run as root in the repository's container; its exit code (-1: no container yet). */
async function inContainer(name: string, script: string): Promise<number> {
  const [container] = await docker!.listContainers({ filters: { label: [`devs.pool=${POOL}`, `devs.repo=acme/${name}`] } });
  if (!container) return -1;
  // A container still being made (or restarted) cannot exec yet.
  return execInContainer(docker!.getContainer(container.Id), ["/bin/sh", "-c", script], { user: "0" }).then(
    (r) => r.exitCode,
    () => -1,
  );
}

/** The bridge is a directory inside the container: the test command's marker is looked for there. */
async function untilStarted(name: string, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while ((await inContainer(name, "test -e /devs-bridge/started")) !== 0) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const check = (sha: string) => checks.runs.find((r) => r.head_sha === sha);
const summaries = (run: SimCheckRun) => run.writes.map((w) => [w.body.status ?? "", (w.body.output as { title?: string } | undefined)?.title ?? ""]);

describe.skipIf(!docker)("CI across restarts (serve, App mode, real dockerd)", () => {
  it("SIGKILL while the tests run: after a restart the check says queued again, the run repeats from the start and completes", async () => {
    const name = "restart";
    const r = bareRepo(reposRoot, "acme", name, {
      "DEVS.yml": 'ci_enabled: true\nci_test_command: "sh runtests.sh"\n',
      "runtests.sh": 'echo "attempt" > "$BRIDGE_DIR/started"\nsleep 3\necho "suite passed"\n',
    });
    const sha = git(r.work, "rev-parse", "HEAD");
    const dataDir = tempDir("devs-restart-data-");

    const first = await serve(dataDir);
    expect((await deliver(first.base, SECRET, "push", pushBody(name, sha))).status).toBe(200);
    await untilStarted(name, "the test command to start");
    // The reporter's writes do not hold the run up: "in progress" lands within GitHub's write throttle.
    await checks.until(() => (check(sha)?.status === "in_progress" ? true : undefined), 10_000, "the check to say in progress");
    await kill(first);
    // The dead server's check still says "running"; its command still runs in the container.
    await inContainer(name, "rm -f /devs-bridge/started");

    const second = await serve(dataDir);
    const run = await checks.until(() => (check(sha)?.status === "completed" ? check(sha) : undefined), 60_000, "the check to complete after the restart");
    expect(run.conclusion).toBe("success");
    expect(run.output?.title).toBe("Tests passed");
    expect(run.output?.text).toBe("```text\nsuite passed\n```");
    expect(summaries(run)).toEqual([
      ["queued", "Queued"],
      ["in_progress", `Running in ${POOL}`],
      ["queued", "Queued again"],
      ["in_progress", `Running in ${POOL}`],
      ["completed", "Tests passed"],
    ]);
    expect((run.writes[3]!.body.output as { summary: string }).summary).toBe(
      `Running \`sh runtests.sh\` in container \`${POOL}\` (again, after a restart interrupted the first attempt).`,
    );
    // Every write went through the installation token.
    const checkRequests = sim.requests.filter((q) => q.path.includes("/check-runs"));
    expect(new Set(checkRequests.map((q) => q.headers.authorization))).toEqual(new Set([`token ${TOKEN}`]));
    // Nothing of either attempt runs on: the container was killed through the engine when the run
    // ended (and before the second attempt started, whose server knew nothing of the first).
    const state = async () => (await docker!.listContainers({ all: true, filters: { label: [`devs.pool=${POOL}`, `devs.repo=acme/${name}`] } }))[0]?.State;
    for (const end = Date.now() + 15_000; (await state()) !== "exited"; ) {
      if (Date.now() > end) throw new Error(`the container is still ${await state()} 15 s after the run`);
      await new Promise((r) => setTimeout(r, 100));
    }
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  }, 180_000);

  it("killed during both attempts: on the next start the run is given up and its check completed, not left running", async () => {
    const name = "twice";
    const r = bareRepo(reposRoot, "acme", name, {
      "DEVS.yml": 'ci_enabled: true\nci_test_command: "sh runtests.sh"\n',
      "runtests.sh": 'echo "attempt" > "$BRIDGE_DIR/started"\nsleep 30\n',
    });
    const sha = git(r.work, "rev-parse", "HEAD");
    const dataDir = tempDir("devs-twice-data-");

    const first = await serve(dataDir);
    expect((await deliver(first.base, SECRET, "push", pushBody(name, sha))).status).toBe(200);
    await untilStarted(name, "the first attempt to start");
    await checks.until(() => (check(sha)?.status === "in_progress" ? true : undefined), 10_000, "the check to say in progress");
    await kill(first);
    await inContainer(name, "rm -f /devs-bridge/started");

    const second = await serve(dataDir);
    await untilStarted(name, "the second attempt to start");
    await kill(second);

    const third = await serve(dataDir);
    const run = await checks.until(() => (check(sha)?.status === "completed" ? check(sha) : undefined), 30_000, "the abandoned run's check to complete");
    expect(run.conclusion).toBe("failure");
    expect(run.output).toEqual({ title: "Not completed", summary: "The run ended before it could report: interrupted by a restart twice." });
    // (The second server may die before GitHub's write throttle lets its own updates out.)
    const states = summaries(run).map(([status]) => status);
    expect(states.slice(0, 2)).toEqual(["queued", "in_progress"]);
    expect(states.at(-1)).toBe("completed");
    expect(states.filter((st) => st === "completed")).toHaveLength(1);
    third.child.kill("SIGTERM");
    expect(await third.exited).toBe(0);
  }, 180_000);
});
