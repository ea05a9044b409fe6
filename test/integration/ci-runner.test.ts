// CI end to end inside one process: what `serve` builds from its settings (wiring/services.ts, App
// mode) receives a push or pull_request delivery: the handler reads DEVS.yml through a local GitHub
// backed by real bare repositories, then the journal, the pool, the CI runner and its reporter, a
// busybox devcontainer on a real Docker engine (--network none), git over smart HTTP, and S3 on
// fauxqs. Every check-run write is recorded by the GitHub stand-in and asserted as GitHub would
// receive it. The attacker's moves are tried here too: a test command that plants commands in the
// workspace's .git for host git to run, and a JUnit bomb while the server must keep answering.
import { CreateBucketCommand, GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { buildApp } from "fauxqs";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type Docker from "dockerode";
import type { ContainerInspectInfo } from "dockerode";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { BRIDGE_FOLDER } from "../../src/ci/container.js";
import type { CiReport } from "../../src/ci/reporter.js";
import { defaultSpec } from "../../src/containers/devcontainer.js";
import { ContainerRuntime } from "../../src/containers/docker.js";
import type { Trust } from "../../src/containers/naming.js";
import { execInContainer } from "../../src/containers/exec.js";
import { resolveImage } from "../../src/containers/image.js";
import type { Env } from "../../src/settings.js";
import { buildServices, type Services } from "../../src/wiring/services.js";
import { AGENT_CLI_DIR_IN_CONTAINER } from "../../src/agent/claude-builds.js";
import { bundledCliMount, stageBundledCli } from "../../src/agent/bundled-cli.js";
import { placeDirs } from "../../src/wiring/task-kinds.js";
import { ChecksSim, serveAppAuth } from "../helpers/ci-github.js";
import { archiveListing, BUSYBOX_IMAGE, ensureBusyboxImage, hostProcesses, imageId, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { bareRepo, git, type BareRepo } from "../helpers/git-repo.js";
import { GitHubSim } from "../helpers/github-sim.js";
import { payload } from "../helpers/payloads.js";
import { appPrivateKey } from "../helpers/serve-process.js";
import { testGitHub } from "../helpers/services.js";
import { tempDir, testSettings } from "../helpers/settings.js";

/** What every container of `serve`'s runtime has besides its workspace: the server's Claude Code, read-only. */
const BUNDLED_CLI_MOUNT = [AGENT_CLI_DIR_IN_CONTAINER, expect.stringMatching(/\/agent-cli\/[^/]+$/), false];
// Docker lists a container's mounts in no fixed order.
const mountsOf = (info: ContainerInspectInfo) => info.Mounts.map((m) => [m.Destination, m.Source, m.RW]).sort((a, b) => String(a[0]).localeCompare(String(b[0])));

const TOKEN = "ghs_ciRunnerTestToken000000000000000";
const OWNER = "acme";
const POOL = `ci${runId()}`;
const NOW = "2026-11-29T12:00:00Z";
const SECRET = "hunter2-operator-secret";
const KEY = appPrivateKey();
const INSTALLATION = 7;

const docker: Docker | null = await requireDocker();
let sim: GitHubSim;
let checks: ChecksSim;
const reposRoot = tempDir("devs-ci-remotes-");

beforeAll(async () => {
  if (docker) await ensureBusyboxImage(docker);
  sim = new GitHubSim(reposRoot, TOKEN);
  checks = new ChecksSim(sim.standIn, TOKEN);
  serveAppAuth(sim.standIn, { slug: "devs-bot", id: 1, token: TOKEN });
  await sim.start();
});
afterAll(async () => {
  for (const services of opened) await services.close();
  if (docker) await removePoolContainers(docker, POOL);
  await sim?.stop();
});

interface Setup {
  services: Services;
  /** An observer of the pool's containers, with the options `serve` gives its own. */
  runtime: ContainerRuntime;
  /** Runs a shell script as root in the repository's container (to look at its bridge directory). */
  inContainer: (repo: string, script: string) => Promise<{ exitCode: number; out: string[] }>;
  /** Entries directly in a folder of the repository's container, read through the archive API. */
  listing: (repo: string, path: string) => Promise<string[] | null>;
  bridgeListing: (repo: string) => Promise<string[] | null>;
  workspaceFor: (repo: string, trust?: Trust) => string;
}

const opened: Services[] = [];

/** What `serve` builds from these settings, in App mode against the stand-in and dockerd. */
async function setup(options: { env?: Env; taskTimeoutMs?: number } = {}): Promise<Setup> {
  const dataDir = tempDir("devs-ci-data-");
  const settings = testSettings({
    GITHUB_TOKEN: undefined,
    APP_ID: "1",
    PRIVATE_KEY: KEY,
    GHE_HOST: sim.host,
    GHE_PROTOCOL: "http",
    AUTHORIZED_CI_TRIGGER_USERS: "*",
    CONTAINER_POOL: POOL,
    MAX_CONCURRENT_TASKS: "1",
    CONTAINER_TIMEOUT_MINUTES: "1",
    // Containers stay up between runs, so the tests can look into them.
    STOP_CONTAINER_AFTER_TASK: "false",
    CONTAINER_NETWORK: "none",
    DEFAULT_IMAGE: BUSYBOX_IMAGE,
    DATA_DIR: dataDir,
    WORKSPACE_DIR: tempDir("devs-ci-ws-"),
    REPO_CACHE_DIR: tempDir("devs-ci-cache-"),
    DEVS_ENVS_DIR: tempDir("devs-ci-envs-"),
    // A secret of the operator's: redacted from everything posted.
    ADMIN_PASSWORD: SECRET,
    ...options.env,
  });
  const services = buildServices(settings, testGitHub(settings), { now: () => new Date(NOW), taskTimeoutMs: options.taskTimeoutMs });
  opened.push(services);
  await services.probot.load(services.app);
  const workspaceFor = (repo: string, trust: Trust = "maintainers") => placeDirs(settings, { slot: POOL, owner: OWNER, repo, trust }).workspace;
  // As serve's runtime makes them (task-kinds.ts): with the server's Claude Code mounted.
  const agentCli = bundledCliMount(stageBundledCli({ dataDir }));
  const runtime = new ContainerRuntime(docker!, { network: "none", mounts: () => [agentCli] });
  const containerOf = async (name: string) => (await runtime.list({ slot: POOL })).find((c) => c.repo === `${OWNER}/${name}`.toLowerCase());
  const inContainer = async (name: string, script: string) => {
    const container = await containerOf(name);
    if (!container) return { exitCode: -1, out: [] };
    const out: string[] = [];
    // A container still being made (or restarted) cannot exec yet.
    const exitCode = await execInContainer(docker!.getContainer(container.id), ["/bin/sh", "-c", script], { user: "0", onLine: (_s, line) => out.push(line) }).then(
      (r) => r.exitCode,
      () => -1,
    );
    return { exitCode, out };
  };
  const listing = async (name: string, path: string) => {
    const container = await containerOf(name);
    return container ? archiveListing(docker!, container.id, path) : null;
  };
  const bridgeListing = (name: string) => listing(name, BRIDGE_FOLDER);
  return { services, runtime, inContainer, listing, bridgeListing, workspaceFor };
}

const DEVS_YML = (command: string, extra = "") => `ci_enabled: true\nci_test_command: ${JSON.stringify(command)}\n${extra}`;

function repo(name: string, files: Record<string, string>): BareRepo {
  return bareRepo(reposRoot, OWNER, name, files);
}

function repository(name: string) {
  return { name, full_name: `${OWNER}/${name}`, owner: { login: OWNER }, default_branch: "main", private: false, clone_url: sim.cloneUrl(OWNER, name), html_url: sim.htmlUrl(OWNER, name) };
}

async function push(s: Setup, name: string, sha: string, branch = "main"): Promise<string> {
  const id = crypto.randomUUID();
  const body = payload("push", undefined, { ref: `refs/heads/${branch}`, after: sha, deleted: false, created: false, head_commit: null, repository: repository(name), sender: { login: "alice" }, installation: { id: INSTALLATION } });
  await s.services.probot.receive({ id, name: "push", payload: body } as never);
  return `ci-${id}`;
}

/** As on GitHub, the pull request's head is also `refs/pull/<n>/head` in the base repository. */
async function pullRequest(s: Setup, r: BareRepo, number: number, sha: string, action = "synchronize", fork = false): Promise<string> {
  const name = r.path.split("/").pop()!.replace(/\.git$/, "");
  git(r.work, "push", "--quiet", "--force", "origin", `${sha}:refs/pull/${number}/head`);
  const id = crypto.randomUUID();
  const body = payload("pull_request", action, {
    number,
    repository: repository(name),
    sender: { login: "alice" },
    installation: { id: INSTALLATION },
    pull_request: {
      number,
      draft: false,
      title: "Change",
      body: "",
      user: { login: "alice" },
      html_url: `${sim.htmlUrl(OWNER, name)}/pull/${number}`,
      head: { ref: "feature", sha, repo: { full_name: fork ? `alice/${name}` : `${OWNER}/${name}` } },
      base: { ref: "main" },
    },
  });
  await s.services.probot.receive({ id, name: "pull_request", payload: body } as never);
  return `ci-${id}`;
}

/**
 * Resolves once the task waits in a slot's queue: its check says queued. Before that the pool
 * still reads DEVS.yml to route it, and cannot cancel it yet.
 */
const inQueue = (taskId: string) => checks.until(() => (checks.forTask(taskId) ? true : undefined), 30_000, `the check of ${taskId} to be queued`);

const completed = (taskId: string, timeoutMs = 60_000) =>
  checks.until(() => {
    const run = checks.forTask(taskId);
    return run?.status === "completed" ? run : undefined;
  }, timeoutMs, `the check of ${taskId} to complete`);

/** The CI reports of the tasks that finish from now on, by task id (judged or not). */
function reportsOf(s: Setup): Map<string, { judged: unknown }> {
  const reports = new Map<string, { judged: unknown }>();
  s.services.pool.observe((event) => {
    if (event.type === "finished" && event.ran?.report) reports.set(event.task.id, { judged: (event.ran.report as CiReport).judged ?? false });
  });
  return reports;
}

/** Resolves once `path` exists inside the repository's container. */
async function existsInContainer(s: Setup, name: string, path: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await s.inContainer(name, `test -e '${path}'`)).exitCode !== 0) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${path} to exist in the container`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The summary with its time-dependent lines made stable: the duration, and each phase's time (its name stays). */
const stable = (summary: string | undefined) =>
  (summary ?? "")
    .replace(/(\*\*Duration:\*\* )[^\n]+/, "$1<d>")
    .replace(/(\*\*Time:\*\* )([^\n]+)/, (_, head: string, phases: string) => head + phases.split(" · ").map((p) => `${p.split(" ")[0]} <t>`).join(" · "));

describe.skipIf(!docker)("CI runs on a real Docker engine", () => {
  it("a passing command: queued, in progress in the container, completed success with the command, exit code, container and log", async () => {
    const s = await setup();
    const r = repo("pass", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": 'echo "ran in $PWD"\necho "CI=$CI bridge=$BRIDGE_DIR results=$TEST_RESULTS_FOLDER"\necho "all 3 tests passed"\n' });
    const sha = git(r.work, "rev-parse", "HEAD");
    const taskId = await push(s, "pass", sha);
    const run = await completed(taskId);
    await s.services.pool.idle();

    expect(run.writes.map((w) => ({ method: w.method, body: { ...w.body, output: { ...(w.body.output as object), summary: stable((w.body.output as { summary: string }).summary) } } }))).toEqual([
      {
        method: "POST",
        body: {
          name: "devs-ci",
          head_sha: sha,
          external_id: taskId,
          status: "queued",
          output: { title: "Queued", summary: `Waiting for a container to run \`sh runtests.sh\` on \`${sha.slice(0, 7)}\`, for the push to \`main\` by @alice.` },
        },
      },
      {
        method: "PATCH",
        body: { status: "in_progress", started_at: NOW, output: { title: `Running in ${POOL}`, summary: `Running \`sh runtests.sh\` in container \`${POOL}\`.` } },
      },
      {
        method: "PATCH",
        body: {
          status: "completed",
          conclusion: "success",
          completed_at: NOW,
          output: {
            title: "Tests passed",
            summary: `- **Command:** \`sh runtests.sh\`\n- **Exit code:** 0\n- **Duration:** <d>\n- **Time:** queue <t> · container <t> · checkout <t> · tests <t> · publish <t>\n- **Container:** \`${POOL}\`\n- **Commit:** \`${sha.slice(0, 7)}\``,
            text: "```text\nran in /workspaces/pass\nCI=true bridge=/devs-bridge results=/devs-bridge\nall 3 tests passed\n```",
          },
        },
      },
    ]);
    expect(s.services.journal.get(taskId)).toMatchObject({ state: "done", detail: "success (exit code 0)" });
    // The journal keeps where the time went (ms), the test command's own time among them.
    const phases = s.services.journal.get(taskId)!.phases!;
    expect(Object.keys(phases).sort()).toEqual(["checkout", "container", "publish", "queue", "tests"]);
    expect(phases.tests).toBeGreaterThan(0);
  }, 90_000);

  it("a failing command: failure with its exit code in the title and the log's tail, secrets from DEVS.yml env_vars redacted", async () => {
    const s = await setup();
    const r = repo("fail", {
      "DEVS.yml": DEVS_YML("sh runtests.sh", "env_vars:\n  default:\n    SERVICE_API_KEY: k3y-from-devs-yml\n    GREETING: hello\n"),
      "runtests.sh": 'echo "$GREETING: 1 passed"\necho "using $SERVICE_API_KEY" >&2\necho "FAIL calc: expected 2, got 3"\nexit 3\n',
    });
    const taskId = await push(s, "fail", git(r.work, "rev-parse", "HEAD"));
    const run = await completed(taskId);
    expect(run.conclusion).toBe("failure");
    expect(run.output?.title).toBe("Tests failed (exit code 3)");
    expect(run.output?.summary).toContain("- **Exit code:** 3\n");
    // stdout and stderr reach Docker through separate pipes: their lines interleave in any order.
    const text = run.output?.text ?? "";
    expect(text.startsWith("```text\n") && text.endsWith("\n```")).toBe(true);
    expect(text.slice(8, -4).split("\n").sort()).toEqual(["FAIL calc: expected 2, got 3", "hello: 1 passed", "using [redacted]"]);
    expect(JSON.stringify(run.writes)).not.toContain("k3y-from-devs-yml");
    await s.services.pool.idle();
    expect(s.services.journal.get(taskId)).toMatchObject({ state: "done", detail: "failure (exit code 3)" });
  }, 90_000);

  it("JUnit files written to $TEST_RESULTS_FOLDER become annotations and counts; a swallowed exit code does not hide a failure", async () => {
    const s = await setup();
    const junit = `<?xml version="1.0"?>
<testsuites>
  <testsuite name="calc" tests="4" failures="2" skipped="1">
    <testcase classname="calc" name="adds" file="test/calc_test.sh" line="3"/>
    <testcase classname="calc" name="divides" file="/workspaces/junit/test/calc_test.sh" line="7"><failure message="expected 2, got 3">assertion at test/calc_test.sh:9</failure></testcase>
    <testcase classname="calc" name="in a vendored file"><failure message="boom">at /usr/lib/node/helper.js:3</failure></testcase>
    <testcase classname="calc" name="later"><skipped/></testcase>
  </testsuite>
</testsuites>
`;
    const r = repo("junit", {
      "DEVS.yml": DEVS_YML("sh runtests.sh"),
      "runtests.sh": 'mkdir -p "$TEST_RESULTS_FOLDER/junit"\ncp fixtures/report.xml "$TEST_RESULTS_FOLDER/junit/report.xml"\necho "<coverage/>" > "$TEST_RESULTS_FOLDER/coverage.xml"\necho done\nexit 0\n',
      "fixtures/report.xml": junit,
      "test/calc_test.sh": "# line 1\n".repeat(12),
    });
    const reports = reportsOf(s);
    const taskId = await push(s, "junit", git(r.work, "rev-parse", "HEAD"));
    const run = await completed(taskId);
    expect(run.conclusion).toBe("failure");
    expect(run.output?.title).toBe("Tests failed: 2 failed, 1 passed, 1 skipped");
    // What a CI fix of the agent's would be told: the failed tests and the log's end.
    await s.services.pool.idle();
    expect(reports.get(taskId)?.judged).toEqual({
      exitCode: 0,
      failed: 2,
      failures: ["calc › divides (test/calc_test.sh:9): expected 2, got 3", "calc › in a vendored file: boom"],
      failingNames: ["calc › divides", "calc › in a vendored file"],
      logTail: "done\n",
    });
    expect(run.output?.summary).toContain("- **Tests:** 2 failed, 1 passed, 1 skipped (JUnit reports)");
    expect(run.output?.summary).toContain("### Failed tests\n\n- calc › divides (`test/calc_test.sh:9`): expected 2, got 3\n- calc › in a vendored file: boom");
    // Only the failure that lies in a file of this commit is annotated.
    expect(run.annotations).toEqual([
      {
        path: "test/calc_test.sh",
        start_line: 9,
        end_line: 9,
        annotation_level: "failure",
        title: "calc › divides",
        message: "expected 2, got 3",
        raw_details: "assertion at test/calc_test.sh:9",
      },
    ]);
  }, 90_000);

  it("attacker: a test command plants commands for host git in the workspace's .git (fsmonitor, hooks, a filter driver); none runs on the host, and the annotation still lands on the file", async () => {
    const s = await setup();
    // Each planted command would create a file here, on the host.
    const canary = tempDir("devs-ci-canary-");
    const plant = (what: string) => `touch ${canary}/${what}`;
    const hooks = ["post-checkout", "pre-commit", "post-commit", "post-index-change", "reference-transaction", "pre-auto-gc", "post-merge"];
    const script = [
      "set -e",
      `cat >> .git/config <<'EOF'`,
      "[core]",
      `\tfsmonitor = ${plant("fsmonitor")}; false`,
      "\thooksPath = .git/planted-hooks",
      `\tpager = ${plant("pager")}; cat`,
      `[filter "evil"]`,
      `\tclean = ${plant("filter-clean")}; cat`,
      `\tsmudge = ${plant("filter-smudge")}; cat`,
      `\tprocess = ${plant("filter-process")}`,
      "\trequired = true",
      "[diff]",
      `\texternal = ${plant("diff-external")}`,
      "EOF",
      `echo '* filter=evil' > .gitattributes`,
      `echo '* filter=evil' > .git/info/attributes`,
      "mkdir -p .git/planted-hooks .git/hooks",
      ...hooks.flatMap((h) => [`printf '#!/bin/sh\\n${plant(`hook-${h}`)}\\n' > .git/planted-hooks/${h}`, `cp .git/planted-hooks/${h} .git/hooks/${h}`]),
      "chmod +x .git/planted-hooks/* .git/hooks/*",
      `echo "untracked" > not-in-commit.txt`,
      `cat > "$TEST_RESULTS_FOLDER/report.xml" <<'EOF'`,
      `<testsuite name="calc" tests="2" failures="1"><testcase name="adds" file="test/calc_test.sh"/><testcase name="divides" file="test/calc_test.sh" line="4"><failure message="expected 2, got 3"/></testcase><testcase name="elsewhere" file="not-in-commit.txt"><failure message="x"/></testcase></testsuite>`,
      "EOF",
    ].join("\n");
    const r = repo("hooks", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": `${script}\n`, "test/calc_test.sh": "# t\n".repeat(8) });
    const run = await completed(await push(s, "hooks", git(r.work, "rev-parse", "HEAD")));
    expect(run.output?.title).toBe("Tests failed: 2 failed, 1 passed");
    // Only the file of the commit under test is annotated: the listing came from the host's cache.
    expect(run.annotations.map((a) => [a.path, a.start_line, a.title])).toEqual([["test/calc_test.sh", 4, "calc › divides"]]);
    expect(readdirSync(canary)).toEqual([]);

    // The planted configuration is live: host git run the old way, inside the workspace, runs it.
    try {
      execFileSync("git", ["status", "--porcelain"], { cwd: s.workspaceFor("hooks"), stdio: "ignore" });
    } catch {
      // The planted filter is `required` and fails; what matters is that it ran.
    }
    expect(readdirSync(canary)).toContain("fsmonitor");
  }, 90_000);

  it("attacker: a JUnit bomb (10^6 test cases, 100,000 nested elements, 10^6 other elements): /health keeps answering within 200 ms, memory stays bounded, the check says the reports were too large", async () => {
    const s = await setup();
    const health = createServer((req, res) => res.writeHead(req.url === "/health" ? 200 : 404).end("ok"));
    await new Promise<void>((resolve) => health.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(health.address() as { port: number }).port}/health`;
    const script = [
      `{ echo '<testsuites><testsuite name="bomb">'; yes '<testcase/>' | head -n 1000000; echo '</testsuite></testsuites>'; } > "$BRIDGE_DIR/bomb.xml"`,
      // Stray end tags deep down: what made the old reader scan its whole stack at every one.
      `{ echo '<testsuite>'; yes '<x>' | head -n 100000; yes '</y>' | head -n 100000; } > "$BRIDGE_DIR/deep.xml"`,
      // Within every cap, and a lot of work: parsed to the end while the server answers.
      `{ echo '<testsuite name="wide"><properties>'; yes '<p/>' | head -n 1000000; echo '</properties><testcase name="real" file="runtests.sh"><failure message="found"/></testcase></testsuite>'; } > "$BRIDGE_DIR/wide.xml"`,
      `ls -l "$BRIDGE_DIR"`,
    ].join("\n");
    const r = repo("bomb", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": `${script}\n` });
    global.gc?.();
    const before = process.memoryUsage();
    let peakHeap = before.heapUsed;
    let peakRss = before.rss;
    let worst = 0;
    let polls = 0;
    let done = false;
    const polling = (async () => {
      while (!done) {
        const started = performance.now();
        const response = await fetch(url);
        await response.text();
        worst = Math.max(worst, performance.now() - started);
        polls++;
        const now = process.memoryUsage();
        peakHeap = Math.max(peakHeap, now.heapUsed);
        peakRss = Math.max(peakRss, now.rss);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      const run = await completed(await push(s, "bomb", git(r.work, "rev-parse", "HEAD")), 120_000);
      done = true;
      await polling;
      expect(run.output?.title, run.output?.summary).toBe("Tests failed: 1 failed");
      const summary = run.output?.summary ?? "";
      expect(summary).toContain("JUnit: bomb.xml: the report was too large (more than 100,000 test cases); none of it was counted");
      expect(summary).toContain("JUnit: deep.xml: the report was too large (nested more than 256 elements deep); none of it was counted");
      expect(polls).toBeGreaterThan(20);
      expect(worst, `/health took ${worst.toFixed(0)} ms at worst over ${polls} polls`).toBeLessThan(200);
      expect((peakHeap - before.heapUsed) / 1024 / 1024, "heap growth in MB").toBeLessThan(100);
      expect((peakRss - before.rss) / 1024 / 1024, "RSS growth in MB").toBeLessThan(100);
    } finally {
      done = true;
      await polling.catch(() => undefined);
      health.close();
    }
  }, 180_000);

  it("attacker: a bridge directory of 25,000 entries is read up to the bound, with a note on the check, not a crash", async () => {
    const s = await setup();
    const script = [`cd "$BRIDGE_DIR"`, "seq 25000 | sed 's/^/f/' | xargs touch"].join("\n");
    const r = repo("many", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": `${script}\n` });
    const run = await completed(await push(s, "many", git(r.work, "rev-parse", "HEAD")));
    expect(run.conclusion).toBe("success");
    expect(run.output?.summary).toContain("> JUnit: the bridge directory holds more than 20,000 entries; only the first 20,000 were read");
  }, 90_000);

  it("the bridge directory is emptied before each run: a stale report and file from the last run are gone", async () => {
    const s = await setup();
    const failing = `<testsuite tests="1" failures="1"><testcase name="old" file="runtests.sh"><failure message="stale failure"/></testcase></testsuite>`;
    const r = repo("bridge", {
      "DEVS.yml": DEVS_YML("sh runtests.sh"),
      "runtests.sh": `echo "before: $(ls -A "$BRIDGE_DIR" | tr '\\n' ' ')"\necho '${failing}' > "$BRIDGE_DIR/old-report.xml"\nmkdir -p "$BRIDGE_DIR/.cache/deep" && echo x > "$BRIDGE_DIR/.cache/deep/stale.txt"\nexit 0\n`,
    });
    const first = await push(s, "bridge", git(r.work, "rev-parse", "HEAD"));
    const one = await completed(first);
    // The first run reads its own report.
    expect(one.output?.title).toBe("Tests failed: 1 failed");
    // The container is halted once a run ends; the bridge is still there to read through the engine.
    expect(await s.bridgeListing("bridge")).toEqual([".cache", "old-report.xml"]);

    // A new commit whose tests write nothing: the earlier report must not leak into its result.
    const second = r.commit({ "runtests.sh": 'echo "before: [$(ls -A "$BRIDGE_DIR")]"\n' }, "write nothing");
    const two = await completed(await push(s, "bridge", second));
    expect(two.conclusion).toBe("success");
    expect(two.output?.text).toBe("```text\nbefore: []\n```");
    expect(await s.bridgeListing("bridge")).toEqual([]);

    // A run that replaces the bridge with a link: the next run gets a real, empty directory again.
    const third = r.commit({ "runtests.sh": `rm -rf "$BRIDGE_DIR" && ln -s /etc "$BRIDGE_DIR"\n` }, "replace the bridge");
    expect((await completed(await push(s, "bridge", third))).conclusion).toBe("success");
    const fourth = r.commit({ "runtests.sh": `[ -d "$BRIDGE_DIR" ] && [ ! -L "$BRIDGE_DIR" ] && echo "real: [$(ls -A "$BRIDGE_DIR")]"\n` }, "look");
    const four = await completed(await push(s, "bridge", fourth));
    expect(four.output?.text).toBe("```text\nreal: []\n```");
    expect(await s.listing("bridge", "/etc")).toContain("passwd");
  }, 90_000);

  it("tests exactly the head SHA: an older push after the branch moved on, and a fork's commit only reachable as refs/pull/N/head", async () => {
    const s = await setup();
    const r = repo("exact", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": "cat version.txt\n", "version.txt": "v1\n" });
    const v1 = git(r.work, "rev-parse", "HEAD");
    r.commit({ "version.txt": "v2\n" }, "v2");
    const old = await completed(await push(s, "exact", v1));
    expect(old.output?.text).toBe("```text\nv1\n```");
    expect(old.head_sha).toBe(v1);

    // A fork's commit exists on GitHub only under refs/pull/7/head.
    git(r.work, "checkout", "--quiet", "-b", "fork-work");
    writeFileSync(join(r.work, "version.txt"), "from the fork\n");
    git(r.work, "commit", "--quiet", "-am", "fork change");
    const forkSha = git(r.work, "rev-parse", "HEAD");
    const fork = await completed(await pullRequest(s, r, 7, forkSha, "opened", true));
    expect(execFileSync("git", ["branch", "--contains", forkSha], { cwd: r.path, encoding: "utf8" }).trim()).toBe("");
    expect(fork.conclusion).toBe("success");
    expect(fork.output?.text).toBe("```text\nfrom the fork\n```");
  }, 90_000);

  it("a command that overruns the time limit ends timed_out and its processes are gone from the container", async () => {
    const s = await setup({ taskTimeoutMs: 5_000 });
    const reports = reportsOf(s);
    const r = repo("slow", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": 'echo "starting the slow suite"\nsleep 600 &\nsleep 601\n' });
    const taskId = await push(s, "slow", git(r.work, "rev-parse", "HEAD"));
    const started = Date.now();
    const run = await completed(taskId);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(run.conclusion).toBe("timed_out");
    expect(run.output?.title).toMatch(/^Timed out after \d/);
    expect(run.output?.summary).toMatch(/^The run reached its time limit of 1 minute \(CONTAINER_TIMEOUT_MINUTES\) while the tests ran; every process they started in the container was killed\.\n/);
    expect(run.output?.summary).toContain("- **Exit code:** none (the command did not finish)");
    expect(run.output?.text).toBe("```text\nstarting the slow suite\n```");
    await s.services.pool.idle();
    expect(s.services.journal.get(taskId)!.state).toBe("timed_out");
    // Nothing in a run that timed out says the code is wrong: it is not judged, so no fix starts.
    expect(reports.get(taskId)?.judged).toBe(false);
    const [container] = (await s.runtime.list({ slot: POOL })).filter((c) => c.repo === `${OWNER}/slow`);
    const ps = await hostProcesses(docker!, container!.id);
    expect(ps.filter((line) => /sleep 60[01]/.test(line))).toEqual([]);
  }, 90_000);

  it("cancel: a running run ends cancelled (processes killed), a queued one is completed cancelled without running", async () => {
    const s = await setup();
    const r = repo("cancel", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": 'echo "long suite"\necho up > "$BRIDGE_DIR/started"\nsleep 300\n' });
    const running = await push(s, "cancel", git(r.work, "rev-parse", "HEAD"));
    await checks.until(() => (checks.forTask(running)?.status === "in_progress" ? true : undefined));
    const queuedSha = r.commit({ "README.md": "queued\n" }, "queued");
    const queued = await push(s, "cancel", queuedSha);
    await inQueue(queued);
    expect(s.services.journal.get(queued)!.state).toBe("queued");
    expect(s.services.pool.cancel(queued, { by: "an operator" })).toBe(true);
    const q = await completed(queued);
    expect(q.conclusion).toBe("cancelled");
    expect(q.output).toEqual({ title: "Cancelled", summary: "The run ended before it could report: cancelled while queued by an operator." });

    // The cancel lands while the command runs.
    await existsInContainer(s, "cancel", `${BRIDGE_FOLDER}/started`);
    expect(s.services.pool.cancel(running, { by: "an operator" })).toBe(true);
    const c = await completed(running);
    expect(c.conclusion).toBe("cancelled");
    expect(c.output?.title).toBe("Cancelled");
    expect(c.output?.summary).toMatch(/^The run was cancelled by an operator while the tests ran/);
    await s.services.pool.idle();
    expect(s.services.journal.get(running)!.state).toBe("cancelled");
    const [container] = (await s.runtime.list({ slot: POOL })).filter((x) => x.repo === `${OWNER}/cancel`);
    expect((await hostProcesses(docker!, container!.id)).filter((l) => l.includes("sleep 300"))).toEqual([]);
  }, 90_000);

  it("a newer push to a pull request cancels its older queued run; the check names the newer commit, once", async () => {
    const s = await setup();
    const r = repo("supersede", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": 'case "$(cat gate.txt)" in slow) sleep 4;; esac\necho ok\n', "gate.txt": "slow\n" });
    // Something runs in the only container, so the pull request's runs wait.
    const busy = await push(s, "supersede", git(r.work, "rev-parse", "HEAD"));
    const older = r.commit({ "gate.txt": "fast\n" }, "pr v1", "feature");
    const newer = r.commit({ "gate.txt": "fast\n", "x.txt": "2\n" }, "pr v2", "feature");
    const olderTask = await pullRequest(s, r, 12, older);
    await inQueue(olderTask);
    const newerTask = await pullRequest(s, r, 12, newer);
    const o = await completed(olderTask);
    expect(o.conclusion).toBe("cancelled");
    expect(o.output).toEqual({
      title: "Cancelled: a newer commit was pushed",
      summary: `A newer commit (\`${newer.slice(0, 7)}\`) was pushed to this pull request before this run started; its run replaces this one.`,
    });
    expect((await completed(newerTask)).conclusion).toBe("success");
    expect((await completed(busy)).conclusion).toBe("success");
    await s.services.pool.idle();
    // One completion only, by the reporter.
    expect(o.writes.filter((w) => w.body.status === "completed")).toHaveLength(1);
    expect(s.services.journal.get(olderTask)!.state).toBe("cancelled");
  }, 90_000);

  it("what breaks before the tests run is a failure saying why: a broken devcontainer.json, an invalid DEVS.yml", async () => {
    const s = await setup();
    const broken = repo("broken", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": "echo hi\n", ".devcontainer/devcontainer.json": '{ "image": 42 }' });
    const run = await completed(await push(s, "broken", git(broken.work, "rev-parse", "HEAD")));
    expect(run.conclusion).toBe("failure");
    expect(run.output?.title).toBe("Could not run the tests");
    expect(run.output?.summary).toMatch(/^The tests could not be run: \.devcontainer\/devcontainer\.json.*image/);
    expect(run.output?.summary).toContain("- **Command:** `sh runtests.sh` (not run)");

    // DEVS.yml turns invalid while the run waits behind another (the handler read a valid one).
    const invalid = repo("invalid", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": 'echo up > "$BRIDGE_DIR/started"\nsleep 2\n' });
    const busy = await push(s, "invalid", git(invalid.work, "rev-parse", "HEAD"));
    await existsInContainer(s, "invalid", `${BRIDGE_FOLDER}/started`);
    const waiting = await push(s, "invalid", invalid.commit({ "README.md": "second\n" }, "second"));
    expect(s.services.journal.get(waiting)!.state).toBe("queued");
    invalid.commit({ "DEVS.yml": "ci_enabled: true\nenv_vars: [1, 2]\n" }, "break config", "main");
    expect((await completed(busy)).conclusion).toBe("success");
    const bad = await completed(waiting);
    expect(bad.conclusion).toBe("failure");
    expect(bad.output?.title).toBe("DEVS.yml is invalid");
    expect(bad.output?.summary).toContain("env_vars");
  }, 90_000);

  it("S3 artifacts (fauxqs): the bridge directory and the log as .tar.gz under {prefix}/{owner-repo}/tests/{token}/{timestamp}.tar.gz, linked from the check", async () => {
    const app = buildApp({ logger: false });
    const endpoint = (await app.listen({ port: 0, host: "127.0.0.1" })).replace("localhost", "127.0.0.1");
    const credentials = { accessKeyId: "test", secretAccessKey: "test" };
    const s3 = new S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials });
    // The AWS SDK takes credentials from the environment, as in production.
    vi.stubEnv("AWS_ACCESS_KEY_ID", credentials.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", credentials.secretAccessKey);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: "ci-artifacts" }));
      const s = await setup({
        env: {
          AWS_S3_ARTIFACT_BUCKET: "ci-artifacts",
          AWS_S3_ARTIFACT_PREFIX: "devs-artifacts",
          AWS_S3_ARTIFACT_BASE_URL: "https://artifacts.example.com",
          AWS_REGION: "us-east-1",
          AWS_ENDPOINT_URL: endpoint,
        },
      });
      const r = repo("Artifacts", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": `echo "<h1>coverage</h1>" > "$BRIDGE_DIR/coverage.html"\necho "log line with ${SECRET}"\n` });
      const run = await completed(await push(s, "Artifacts", git(r.work, "rev-parse", "HEAD")));
      expect(run.conclusion).toBe("success");
      const key = /\(https:\/\/artifacts\.example\.com\/([^)]+)\)/.exec(run.output?.summary ?? "")?.[1];
      expect(key).toMatch(/^devs-artifacts\/acme-artifacts\/tests\/[A-Za-z0-9_-]{43}\/\d{8}-\d{6}\.tar\.gz$/);
      expect(run.details_url).toBe(`https://artifacts.example.com/${key}`);
      expect(run.output?.text).toBe("```text\nlog line with [redacted]\n```");

      const object = await s3.send(new GetObjectCommand({ Bucket: "ci-artifacts", Key: key! }));
      const archive = join(mkdtempSync(join(tmpdir(), "devs-ci-art-")), "a.tar.gz");
      writeFileSync(archive, Buffer.from(await object.Body!.transformToByteArray()));
      const out = mkdtempSync(join(tmpdir(), "devs-ci-untar-"));
      execFileSync("tar", ["-xzf", archive, "-C", out]);
      const root = join(out, readdirSync(out)[0]!);
      expect(readdirSync(out)).toEqual([`Artifacts-${run.head_sha.slice(0, 7)}`]);
      expect(readdirSync(root).sort()).toEqual(["coverage.html", "devs-ci.log"]);
      expect(execFileSync("cat", [join(root, "devs-ci.log")], { encoding: "utf8" })).toBe("log line with [redacted]\n");
    } finally {
      vi.unstubAllEnvs();
      s3.destroy();
      await app.close();
    }
  }, 90_000);

  it("agent and CI tasks of a pool name share one warm container; only the workspace is mounted, the bridge is no host folder", async () => {
    const s = await setup();
    const r = repo("shared", { "DEVS.yml": DEVS_YML("sh runtests.sh"), "runtests.sh": "echo ok\n" });
    await completed(await push(s, "shared", git(r.work, "rev-parse", "HEAD")));
    const [container] = (await s.runtime.list({ slot: POOL })).filter((c) => c.repo === `${OWNER}/shared`);
    const info = await docker!.getContainer(container!.id).inspect();
    // Besides the workspace, only the server's Claude Code, read-only (AGENT_CLI=bundled).
    expect(mountsOf(info)).toEqual([BUNDLED_CLI_MOUNT, ["/workspaces/shared", s.workspaceFor("shared"), true]]);
    // What the agent asks for (container-agent.ts: the same spec, image, workspace and env_vars).
    const spec = defaultSpec({ repoName: "shared", defaultImage: BUSYBOX_IMAGE });
    const image = await resolveImage(docker!, spec, s.workspaceFor("shared"), { owner: OWNER, repo: "shared" });
    const agent = await s.runtime.ensure({ slot: POOL, owner: OWNER, repo: "shared", trust: "maintainers", workspaceDir: s.workspaceFor("shared"), spec, image, env: {} });
    // The same container, not a new one; restarted, so nothing of the CI run runs on in it.
    expect({ action: agent.action, recreatedBecause: agent.recreatedBecause, id: agent.id }).toEqual({ action: "started", recreatedBecause: null, id: container!.id });
  }, 90_000);
});

describe.skipIf(!docker)("a fork's pull request cannot choose its container", () => {
  // An image of its own (not busybox under another name), so the container's image id tells which was used.
  const OTHER_IMAGE = `devs-hfork-other-${runId()}:latest`;
  let busyboxId: string;
  let otherId: string;
  beforeAll(async () => {
    busyboxId = (await imageId(docker!, BUSYBOX_IMAGE))!;
    const context = tempDir("devs-hfork-image-");
    writeFileSync(join(context, "Dockerfile"), `FROM ${BUSYBOX_IMAGE}\nLABEL devs-hfork.chosen-by=pull-request\n`);
    const stream = await docker!.buildImage({ context, src: ["Dockerfile"] }, { t: OTHER_IMAGE, networkmode: "none" });
    await new Promise<void>((resolve, reject) =>
      docker!.modem.followProgress(stream, (error: Error | null, out: Array<{ error?: string }>) => {
        const failed = out?.find((o) => o.error);
        if (error || failed) reject(error ?? new Error(failed?.error));
        else resolve();
      }),
    );
    otherId = (await imageId(docker!, OTHER_IMAGE))!;
    expect(otherId).not.toBe(busyboxId);
  });
  afterAll(async () => {
    // The containers first: an image a container uses cannot be removed.
    await removePoolContainers(docker!, POOL);
    await docker!.getImage(OTHER_IMAGE).remove({ force: true }).catch(() => undefined);
  });

  /**
   * What the tests print: the version file, any canary a lifecycle hook left, and an env var the
   * devcontainer sets. Then they wait for the test to look at the container while it runs (a
   * fork's container is removed once its task ends).
   */
  const RUNTESTS = [
    "cat version.txt",
    'for f in /tmp/canary-create /tmp/canary-start "$PWD/canary-create" "$PWD/canary-start"; do if [ -e "$f" ]; then echo "found ${f#$PWD/}"; fi; done',
    'echo "env=[${CHOSEN_BY:-}]"',
    "mkdir -p /gate && touch /gate/waiting",
    "i=0; while [ ! -e /gate/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done",
  ].join("\n");
  const baseFiles = (name: string) => ({
    "DEVS.yml": DEVS_YML("sh runtests.sh"),
    "runtests.sh": `${RUNTESTS}\n`,
    "version.txt": "v1\n",
    ".devcontainer/devcontainer.json": JSON.stringify({ image: BUSYBOX_IMAGE, workspaceFolder: `/workspaces/${name}` }),
  });
  /** A pull request's devcontainer.json: another image, its own environment, and hooks that leave canaries in the workspace and /tmp. */
  const prFiles = (name: string) => ({
    "version.txt": "from the pull request\n",
    ".devcontainer/devcontainer.json": JSON.stringify({
      image: OTHER_IMAGE,
      workspaceFolder: `/workspaces/${name}`,
      containerEnv: { CHOSEN_BY: "pull-request" },
      postCreateCommand: `echo pwned > /tmp/canary-create; echo pwned > /workspaces/${name}/canary-create`,
      postStartCommand: `echo pwned > /tmp/canary-start; echo pwned > /workspaces/${name}/canary-start`,
    }),
  });

  /** The container's inspection and its /tmp, taken while the test command waits; then the command may end. */
  async function whileRunning(s: Setup, name: string, trust: Trust) {
    await existsInContainer(s, name, "/gate/waiting");
    const container = (await s.runtime.list({ slot: POOL })).find((c) => c.repo === `${OWNER}/${name}` && c.trust === trust);
    const info = await docker!.getContainer(container!.id).inspect();
    const tmp = await s.listing(name, "/tmp");
    await s.inContainer(name, "touch /gate/go");
    return { info, tmp };
  }

  it("a fork's devcontainer.json naming another image with hooks: the container runs the base branch's image, no hook of the fork runs, the fork's files are in the workspace", async () => {
    const s = await setup();
    const name = "forkpr";
    const r = repo(name, baseFiles(name));
    // The fork: its own repository, whose head GitHub serves as refs/pull/7/head of the base.
    const forkBare = join(reposRoot, "alice", `${name}.git`);
    execFileSync("git", ["init", "--quiet", "--bare", forkBare]);
    const forkWork = tempDir("devs-hfork-fork-");
    git(forkWork, "clone", "--quiet", r.path, ".");
    for (const [file, content] of Object.entries(prFiles(name))) writeFileSync(join(forkWork, file), content);
    git(forkWork, "commit", "--quiet", "-am", "the fork's change");
    git(forkWork, "push", "--quiet", forkBare, "HEAD:main");
    const forkSha = git(forkWork, "rev-parse", "HEAD");
    git(r.work, "fetch", "--quiet", forkBare, "main");

    const taskId = await pullRequest(s, r, 7, forkSha, "opened", true);
    const { info, tmp } = await whileRunning(s, name, "fork");
    const run = await completed(taskId);
    expect(run.conclusion).toBe("success");
    expect(run.head_sha).toBe(forkSha);
    expect(run.output?.text).toBe("```text\nfrom the pull request\nenv=[]\n```");
    expect(run.output?.summary).toContain(
      "> This pull request comes from a fork, so its container is built from acme/forkpr's default branch (`main`); changes to `.devcontainer` in the pull request are not used.",
    );

    // Containers are created from the image's id.
    expect({ image: info.Image, ref: info.Config.Image }).toEqual({ image: busyboxId, ref: busyboxId });
    expect(info.Config.Env).not.toContain("CHOSEN_BY=pull-request");
    // Only the workspace is mounted, never the tree the container was defined from.
    const workspace = s.workspaceFor(name, "fork");
    expect(mountsOf(info)).toEqual([BUNDLED_CLI_MOUNT, [`/workspaces/${name}`, workspace, true]]);
    expect(tmp).toEqual([]);
    expect(readFileSync(join(workspace, "version.txt"), "utf8")).toBe("from the pull request\n");
    expect(readFileSync(join(workspace, ".devcontainer/devcontainer.json"), "utf8")).toContain(OTHER_IMAGE);
    expect(existsSync(join(workspace, "canary-create")) || existsSync(join(workspace, "canary-start"))).toBe(false);
  }, 120_000);

  it("sibling: the same devcontainer.json on a pull request from a branch of the repository is used: its image, its environment, its hooks", async () => {
    const s = await setup();
    const name = "samepr";
    const r = repo(name, baseFiles(name));
    const sha = r.commit(prFiles(name), "a maintainer's change", "feature");

    const taskId = await pullRequest(s, r, 8, sha, "opened", false);
    const { info, tmp } = await whileRunning(s, name, "maintainers");
    const run = await completed(taskId);
    expect(run.conclusion).toBe("success");
    expect(run.output?.text).toBe(
      "```text\nfrom the pull request\nfound /tmp/canary-create\nfound /tmp/canary-start\nfound canary-create\nfound canary-start\nenv=[pull-request]\n```",
    );
    expect(run.output?.summary).not.toContain("comes from a fork");

    expect({ image: info.Image, ref: info.Config.Image }).toEqual({ image: otherId, ref: otherId });
    expect(info.Config.Env).toContain("CHOSEN_BY=pull-request");
    expect(tmp).toEqual(["canary-create", "canary-start"]);
    expect(existsSync(join(s.workspaceFor(name), "canary-create"))).toBe(true);
  }, 120_000);
});

