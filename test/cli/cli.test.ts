// The CLI as an operator runs it: a real process, real HTTP, and a local GitHub stand-in.
import { spawn, type ChildProcess } from "node:child_process";
import { sign } from "@octokit/webhooks-methods";
import { afterEach, describe, expect, it } from "vitest";
import { ensureBaseImage } from "../helpers/claude-image.js";
import { ensureBusyboxImage, requireDocker } from "../helpers/docker.js";
import { GitHubStandIn } from "../helpers/github-standin.js";
import { payload } from "../helpers/payloads.js";
import { tempDir } from "../helpers/settings.js";
import { until } from "../helpers/until.js";

const ROOT = new URL("../..", import.meta.url).pathname;
/** tsx by absolute URL: the CLI runs from other working directories. */
const TSX = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
const children: ChildProcess[] = [];

/** A clean environment: nothing from the developer's shell leaks into the settings. */
function baseEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tempDir("devs-home-"), NO_SMEE_SETUP: "true", ...extra };
}

function cli(args: string[], env: Record<string, string>, cwd = tempDir("devs-cwd-")) {
  const child = spawn(process.execPath, ["--import", TSX, `${ROOT}src/cli.ts`, ...args], {
    cwd,
    env: baseEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d));
  child.stderr!.on("data", (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

async function run(args: string[], env: Record<string, string> = {}) {
  const p = cli(args, env);
  const code = await p.exited;
  return { code, stdout: p.out(), stderr: p.err() };
}

async function freePort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

describe("devs-webhook CLI", () => {
  it("--help lists the commands", async () => {
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    for (const command of ["serve", "config", "status", "test-setup"]) expect(stdout).toContain(command);
  });

  it("a missing setting stops serve with one line naming it (exit 2)", async () => {
    const { code, stderr } = await run(["serve"], { GITHUB_TOKEN: "t" });
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toMatch(/^devs-webhook: WEBHOOK_SECRET: required/);
  });

  it("a malformed setting stops any command with one line naming it (exit 2)", async () => {
    const { code, stderr } = await run(["config"], { WEBHOOK_PORT: "eighty" });
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('devs-webhook: WEBHOOK_PORT: expected a whole number, got "eighty"');
  });

  it("an unknown command is a usage error (exit 2)", async () => {
    const { code, stderr } = await run(["frobnicate"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown command "frobnicate"/);
  });

  it("config prints the effective settings with secrets masked", async () => {
    const { code, stdout } = await run(["config"], { GITHUB_TOKEN: "ghp_topsecretvalue", GITHUB_WEBHOOK_SECRET: "hooksecret", PORT: "9100" });
    expect(code).toBe(0);
    expect(stdout).not.toMatch(/topsecretvalue|hooksecret/);
    expect(stdout).toMatch(/GITHUB_TOKEN\s+\*+ \(set\)/);
    expect(stdout).toMatch(/WEBHOOK_PORT\s+9100\s+\[PORT\]/);
    expect(stdout).toMatch(/\(auth mode\)\s+token/);
  });

  it("serve with a token and a secret answers /health, reacts once to a signed mention, and stops on SIGTERM", async () => {
    const github = await new GitHubStandIn()
      .on("GET", /^\/user$/, () => ({ status: 200, body: { login: "devs-bot", id: 4242 } }))
      .on("GET", /^\/users\/devs-bot$/, () => ({ status: 200, body: { login: "devs-bot", id: 4242 } }))
      .on("POST", /\/reactions$/, () => ({ status: 201, body: { id: 1, content: "eyes" } }))
      .start();
    try {
      const port = await freePort();
      const server = cli(["serve", "--host", "127.0.0.1", "--port", String(port)], {
        GITHUB_TOKEN: "test-token",
        WEBHOOK_SECRET: "s3cret",
        GHE_HOST: github.host,
        GHE_PROTOCOL: "http",
        AUTHORIZED_TRIGGER_USERS: "*",
        LOG_LEVEL: "warn",
        // The task really runs after the 👀: keep everything it reaches on loopback (a pull from
        // 127.0.0.1:9 is refused at once; the stand-in has no git repository, so the fetch fails).
        DEFAULT_IMAGE: "127.0.0.1:9/none:latest",
      });
      const base = `http://127.0.0.1:${port}`;
      const health = await until(
        async () => {
          const res = await fetch(`${base}/health`).catch(() => null);
          return res?.ok ? ((await res.json()) as unknown) : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 100, what: "the server's /health" },
      );
      expect(health).toMatchObject({ status: "healthy" });
      // The bot's name and commit identity came from the token's user.
      expect(github.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["GET /user", "GET /users/devs-bot"]);

      const body = JSON.stringify(
        payload("issue_comment", "created", {
          comment: { body: "@devs-bot fix the typo" },
          repository: { clone_url: `http://${github.host}/Codertocat/Hello-World.git`, html_url: `http://${github.host}/Codertocat/Hello-World` },
        }),
      );
      const res = await fetch(`${base}/webhook`, {
        method: "POST",
        body,
        headers: {
          "content-type": "application/json",
          "x-github-event": "issue_comment",
          "x-github-delivery": crypto.randomUUID(),
          "x-hub-signature-256": await sign("s3cret", body),
        },
      });
      expect(res.status).toBe(200);
      const id = (JSON.parse(body).comment as { id: number }).id;
      // Exactly one 👀, on the comment, written once the delivery is answered (the throttle must not hold GitHub's delivery).
      await until(() => github.requests.some((r) => r.path.endsWith("/reactions")), { what: "the 👀" });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const reactions = github.requests.filter((r) => r.path.endsWith("/reactions"));
      expect(reactions.map((r) => ({ method: r.method, path: r.path, body: r.body }))).toEqual([
        { method: "POST", path: `/repos/Codertocat/Hello-World/issues/comments/${id}/reactions`, body: { content: "eyes" } },
      ]);
      expect(reactions[0]!.headers.authorization).toBe("token test-token");

      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    } finally {
      await github.stop();
    }
  });

  it("serve without credentials leads a new user through the App registration", async () => {
    const port = await freePort();
    const setup = spawn(process.execPath, ["--import", TSX, `${ROOT}src/cli.ts`, "serve", "--port", String(port), "--host", "127.0.0.1"], {
      cwd: ROOT, // app.yml is read from the working directory
      env: baseEnv({ LOG_LEVEL: "warn" }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(setup);
    let stderr = "";
    setup.stderr!.on("data", (d: Buffer) => (stderr += d));
    const page = await until(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/probot`).catch(() => null);
        return res?.ok ? res.text() : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 100, what: "the setup page" },
    );
    expect(page).toContain("devs-webhook");
    expect(page).toMatch(/Register GitHub App/i);
    // The manifest posted to GitHub is whole JSON carrying app.yml's least permissions and events.
    const manifest = JSON.parse(/name="manifest" id="manifest" value='([^']*)'/.exec(page)![1]!);
    expect(manifest.default_permissions).toEqual({ contents: "write", issues: "write", pull_requests: "write", checks: "write", metadata: "read" });
    expect(manifest.default_events).toEqual([
      "issues",
      "issue_comment",
      "pull_request",
      "pull_request_review",
      "pull_request_review_comment",
      "push",
      "check_run",
      "check_suite",
    ]);
    expect(manifest.public).toBe(false);
    expect(stderr).toMatch(/no GitHub App credentials/);
    setup.kill("SIGINT");
  });
});

describe("devs-webhook config --repo", () => {
  it("prints the merged DEVS.yml of a repository with the layer of each value, secrets masked", async () => {
    const { GitHubSim } = await import("../helpers/github-sim.js");
    const { bareRepo } = await import("../helpers/git-repo.js");
    const { mkdirSync, writeFileSync } = await import("node:fs");
    const root = tempDir("devs-repos-");
    bareRepo(root, "acme", "widgets", { "DEVS.yml": "ci_enabled: true\nci_branches: [main, release/*]\nenv_vars:\n  default:\n    API_TOKEN: repo-secret-value\n" });
    const envs = tempDir("devs-envs-");
    mkdirSync(`${envs}/default`);
    writeFileSync(`${envs}/default/DEVS.yml`, "prompt_extra: Be brief.\n");
    const sim = await new GitHubSim(root, "test-token").start();
    try {
      const { code, stdout, stderr } = await run(["config", "--repo", "acme/widgets"], {
        GITHUB_TOKEN: "test-token",
        GHE_HOST: sim.host,
        GHE_PROTOCOL: "http",
        DEVS_ENVS_DIR: envs,
      });
      expect(stderr).toBe("");
      expect(code).toBe(0);
      expect(stdout).toMatch(/ci_enabled: true.*DEVS\.yml/);
      expect(stdout).toMatch(/release\/\*/);
      expect(stdout).toMatch(/prompt_extra: Be brief\..*default/);
      expect(stdout).not.toContain("repo-secret-value");
    } finally {
      await sim.stop();
    }
  });

  it("a malformed --repo is a usage error (exit 2)", async () => {
    const { code, stderr } = await run(["config", "--repo", "not-a-repo"], { GITHUB_TOKEN: "t" });
    expect(code).toBe(2);
    expect(stderr).toMatch(/owner\/name/);
  });
});

describe("devs-webhook test-setup", () => {
  it("one line per check: passes for what works, and a failure says what to do (exit 1)", async () => {
    const docker = await requireDocker();
    if (!docker) return;
    const image = await ensureBusyboxImage(docker);
    const github = await new GitHubStandIn()
      .on("GET", /^\/user$/, (req) => (req.headers.authorization === "token good-token" ? { status: 200, body: { login: "devs-bot", id: 7 } } : { status: 401, body: { message: "Bad credentials" } }))
      .start();
    try {
      const env = {
        WEBHOOK_SECRET: "s",
        GHE_HOST: github.host,
        GHE_PROTOCOL: "http",
        CLAUDE_API_KEY: "sk-ant-test-setup",
        DATA_DIR: tempDir("devs-setup-data-"),
        REPO_CACHE_DIR: tempDir("devs-setup-cache-"),
        WORKSPACE_DIR: tempDir("devs-setup-ws-"),
        DEFAULT_IMAGE: image,
        ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
      };
      const good = await run(["test-setup"], { ...env, GITHUB_TOKEN: "good-token" });
      const lines = good.stdout.trim().split("\n");
      expect(lines.map((l) => l.slice(0, 4).trim() + " " + l.slice(6).split(":")[0])).toEqual([
        "ok credentials",
        "ok GitHub connection",
        "ok model credential",
        "ok DATA_DIR",
        "ok REPO_CACHE_DIR",
        "ok WORKSPACE_DIR",
        "ok git",
        "ok docker",
        "ok DEFAULT_IMAGE",
        "FAIL agent CLI",
      ]);
      expect(good.stdout).toContain(`GitHub connection: http://${github.host}/api/v3 answers as @devs-bot`);
      // busybox alone has no C library for the server's Claude Code to run on.
      expect(good.stdout).toMatch(new RegExp(`FAIL  agent CLI: the server's Claude Code does not run in ${image}: devs-webhook: this image has neither glibc .* set AGENT_CLI=image\\.`));
      expect(good.code).toBe(1);
      const imageCli = await run(["test-setup"], { ...env, GITHUB_TOKEN: "good-token", AGENT_CLI: "image" });
      expect(imageCli.stdout).toContain(`FAIL  agent CLI: no claude command in ${image} (install the Claude Code CLI in the image`);
      // An image with bash, git and glibc, and no Claude Code: the server's runs there.
      const base = await ensureBaseImage();
      const bundled = await run(["test-setup"], { ...env, GITHUB_TOKEN: "good-token", DEFAULT_IMAGE: base.tag });
      expect(bundled.stdout).toMatch(new RegExp(`ok    agent CLI: the server's Claude Code \\(glibc[^)]*\\) runs in ${base.tag}: 2\\.1\\.332 \\(Claude Code\\)`));
      expect(bundled.code).toBe(0);
      expect(good.stdout).not.toContain("sk-ant-test-setup");

      const bad = await run(["test-setup"], { ...env, GITHUB_TOKEN: "stale-token", CLAUDE_API_KEY: "", DEFAULT_IMAGE: "devs-no-such-image:1" });
      expect(bad.stdout).toContain(`FAIL  GitHub connection: http://${github.host}/api/v3: HTTP 401 (the credentials were refused: check APP_ID and PRIVATE_KEY, or GITHUB_TOKEN)`);
      expect(bad.stdout).toContain("FAIL  model credential: neither CLAUDE_API_KEY nor CLAUDE_CODE_OAUTH_TOKEN is set");
      expect(bad.stdout).toContain("FAIL  DEFAULT_IMAGE: devs-no-such-image:1 is not on this host (docker pull devs-no-such-image:1");
      expect(bad.stdout).not.toContain("stale-token");
      expect(bad.code).toBe(1);
    } finally {
      await github.stop();
    }
  }, 120_000);
});

describe("devs-webhook status and stop-container, against a running server", () => {
  it("show the server's status and stop a slot with the admin credentials, and say so plainly without them", async () => {
    const github = await new GitHubStandIn()
      .on("GET", /^\/user$/, () => ({ status: 200, body: { login: "devs-bot", id: 4242 } }))
      .on("GET", /^\/users\/devs-bot$/, () => ({ status: 200, body: { login: "devs-bot", id: 4242 } }))
      .start();
    try {
      const port = await freePort();
      const common = { GITHUB_TOKEN: "test-token", WEBHOOK_SECRET: "s3cret", GHE_HOST: github.host, GHE_PROTOCOL: "http", ADMIN_PASSWORD: "admin-pw" };
      const server = cli(["serve", "--host", "127.0.0.1", "--port", String(port)], { ...common, CONTAINER_POOL: "eamonn,harry", LOG_LEVEL: "warn" });
      const base = `http://127.0.0.1:${port}`;
      await until(async () => (await fetch(`${base}/health`).catch(() => null))?.ok || undefined, { timeoutMs: 15_000, intervalMs: 100, what: "the server's /health" });

      const status = await run(["status", "--url", base], common);
      expect(status.stderr).toBe("");
      expect(status.code).toBe(0);
      expect(JSON.parse(status.stdout)).toMatchObject({ mentioned_user: "devs-bot", auth_mode: "token", container_pool: ["eamonn", "harry"], pool: { slots: { eamonn: { queued: 0, running: null } } } });
      expect(status.stdout).not.toContain("admin-pw");
      expect(status.stdout).not.toContain("test-token");

      const stopped = await run(["stop-container", "harry", "--url", base], common);
      expect([stopped.code, stopped.stdout.trim()]).toEqual([0, "stopped harry"]);

      const unknown = await run(["stop-container", "nobody", "--url", base], common);
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toMatch(/^devs-webhook: .*nobody/);

      const wrong = await run(["status", "--url", base], { ...common, ADMIN_PASSWORD: "guess" });
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain("/status answered 401");
      const refused = await run(["stop-container", "harry", "--url", base], { ...common, ADMIN_PASSWORD: "guess" });
      expect([refused.code, refused.stderr.trim()]).toEqual([1, "devs-webhook: not authorised (check ADMIN_USERNAME/ADMIN_PASSWORD)"]);

      server.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
    } finally {
      await github.stop();
    }
  }, 60_000);
});
