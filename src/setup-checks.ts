// `devs-webhook test-setup`: what must work on this host before tasks can run. Each check is one
// line, pass or fail, and a failure says what to do.
import { execFile } from "node:child_process";
import { accessSync, constants, mkdirSync } from "node:fs";
import { promisify } from "node:util";
import type { Logger } from "pino";
import { bundledCliMount, stageBundledCli, type StagedCli } from "./agent/bundled-cli.js";
import { BUNDLED_CLAUDE_PATH } from "./agent/claude-builds.js";
import { createProbot } from "./github/probot.js";
import { runsClaude } from "./policy/agent-command.js";
import type { Settings } from "./settings.js";

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  /** What to do about a failure. */
  hint?: string;
}

const run = promisify(execFile);

export async function runSetupChecks(settings: Settings, log: Logger): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  results.push({
    name: "credentials",
    ok: settings.auth.kind !== "unconfigured" && settings.webhookSecret !== null,
    detail:
      settings.auth.kind === "unconfigured"
        ? "no App credentials and no GITHUB_TOKEN"
        : settings.webhookSecret
          ? `${settings.auth.kind} mode, webhook secret set`
          : "WEBHOOK_SECRET is not set",
    hint: settings.auth.kind === "unconfigured" ? "npm start registers an App; or set GITHUB_TOKEN" : "set WEBHOOK_SECRET to the App's webhook secret",
  });
  results.push(await gitHubConnection(settings, log));
  results.push({
    name: "model credential",
    ok: Boolean(settings.claudeApiKey || settings.claudeOauthToken),
    detail: settings.claudeApiKey ? "API key set" : settings.claudeOauthToken ? "OAuth token set" : "neither CLAUDE_API_KEY nor CLAUDE_CODE_OAUTH_TOKEN is set",
    hint: "set CLAUDE_API_KEY, or CLAUDE_CODE_OAUTH_TOKEN from `claude setup-token`",
  });
  for (const [name, dir] of [
    ["DATA_DIR", settings.dataDir],
    ["REPO_CACHE_DIR", settings.repoCacheDir],
    ["WORKSPACE_DIR", settings.workspaceDir],
  ] as const) {
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      results.push({ name, ok: true, detail: dir });
    } catch (error) {
      results.push({ name, ok: false, detail: `${dir}: ${(error as Error).message}`, hint: `make ${dir} writable by this user, or point ${name} elsewhere` });
    }
  }
  results.push(await gitCheck());
  const docker = await tool("docker", ["version", "--format", "engine {{.Server.Version}}"], dockerEnv(settings));
  results.push({ ...docker, ...(docker.ok ? {} : { hint: "start the Docker engine, or set DOCKER_HOST; this user needs access to its socket" }) });
  if (docker.ok) results.push(...(await imageChecks(settings)));
  return results;
}

/** Who GitHub says the credentials are: the App (its slug) or the token's user. */
async function gitHubConnection(settings: Settings, log: Logger): Promise<CheckResult> {
  const name = "GitHub connection";
  if (settings.auth.kind === "unconfigured") return { name, ok: false, detail: "no credentials to try", hint: "see credentials above" };
  try {
    const octokit = await createProbot(settings, log).auth();
    const { data } = settings.auth.kind === "app" ? await octokit.request("GET /app") : await octokit.request("GET /user");
    const who = settings.auth.kind === "app" ? `the App ${(data as { slug?: string }).slug ?? "?"}` : `@${(data as { login: string }).login}`;
    return { name, ok: true, detail: `${settings.githubApiUrl} answers as ${who}` };
  } catch (error) {
    const status = (error as { status?: number }).status;
    return {
      name,
      ok: false,
      detail: `${settings.githubApiUrl}: ${status ? `HTTP ${status}` : (error as Error).message.split("\n")[0]}`,
      hint: status === 401 ? "the credentials were refused: check APP_ID and PRIVATE_KEY, or GITHUB_TOKEN" : "check the network, GHE_HOST and GHE_PROTOCOL",
    };
  }
}

/**
 * The git releases that carry the fixes for hooks run from cloned repositories and for lazy fetches
 * that run a repository's code (CVE-2024-32002, -32004, -32465 and their kin): 2.45.1, and the
 * maintenance releases of the older series that back-ported them.
 */
const GIT_FIXED: ReadonlyArray<readonly [number, number, number]> = [
  [2, 39, 4],
  [2, 40, 2],
  [2, 41, 1],
  [2, 42, 2],
  [2, 43, 4],
  [2, 44, 1],
  [2, 45, 1],
];

/** From `git --version` text; null when it cannot be read. */
export function gitHasSecurityFixes(versionText: string): boolean | null {
  const match = /(\d+)\.(\d+)\.(\d+)/.exec(versionText);
  if (!match) return null;
  const [major, minor, patch] = match.slice(1).map(Number) as [number, number, number];
  if (major !== 2) return major > 2;
  if (minor > 45) return true;
  const series = GIT_FIXED.find(([, m]) => m === minor);
  return series ? patch >= series[2] : false;
}

async function gitCheck(): Promise<CheckResult> {
  const found = await tool("git", ["--version"]);
  if (!found.ok) return { ...found, hint: "install git 2.45.1 or newer" };
  const fixed = gitHasSecurityFixes(found.detail);
  return fixed
    ? found
    : { name: "git", ok: false, detail: `${found.detail}: without the 2024 fixes for hooks and lazy fetches`, hint: "install git 2.45.1 or newer (or 2.39.4, 2.40.2, 2.41.1, 2.42.2, 2.43.4, 2.44.1)" };
}

/** DEFAULT_IMAGE is on this host, and the agent's CLI runs in it (the server's own, or the image's). */
async function imageChecks(settings: Settings): Promise<CheckResult[]> {
  const image = settings.defaultImage;
  const present = await tool("docker", ["image", "inspect", "--format", "{{.Id}}", image], dockerEnv(settings));
  if (!present.ok) {
    return [{ name: "DEFAULT_IMAGE", ok: false, detail: `${image} is not on this host`, hint: `docker pull ${image} (or build it), or set DEFAULT_IMAGE` }];
  }
  const found = { name: "DEFAULT_IMAGE", ok: true, detail: `${image} (${present.detail.slice(0, 19)})` };
  if (settings.agentCli === "bundled" && runsClaude(settings.agentCommand)) return [found, await bundledAgentCheck(settings, image)];
  const agent = await tool("docker", ["run", "--rm", "--network", "none", "--entrypoint", "sh", image, "-c", "command -v claude"], dockerEnv(settings));
  return [
    found,
    agent.ok
      ? { name: "agent CLI", ok: true, detail: `claude at ${agent.detail} in ${image}` }
      : { name: "agent CLI", ok: false, detail: `no claude command in ${image}`, hint: "install the Claude Code CLI in the image (npm install -g @anthropic-ai/claude-code), set DEFAULT_IMAGE, or AGENT_CLI=bundled" },
  ];
}

/** The server's Claude Code, mounted as a task container gets it, answers `--version` in the image. */
async function bundledAgentCheck(settings: Settings, image: string): Promise<CheckResult> {
  const name = "agent CLI";
  let staged: StagedCli;
  try {
    staged = stageBundledCli({ dataDir: settings.dataDir });
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message };
  }
  const mount = bundledCliMount(staged);
  const args = ["run", "--rm", "--network", "none", "--mount", `type=bind,source=${mount.source},target=${mount.target},readonly`, "--entrypoint", BUNDLED_CLAUDE_PATH, image, "--version"];
  try {
    const { stdout } = await run("docker", args, { timeout: 60_000, env: { ...process.env, ...dockerEnv(settings) } });
    return { name, ok: true, detail: `the server's Claude Code (${staged.installed.join(", ")}) runs in ${image}: ${stdout.trim()}` };
  } catch (error) {
    const said = ((error as { stderr?: string }).stderr ?? "").trim().split("\n").at(-1) || (error as Error).message.split("\n")[0];
    return { name, ok: false, detail: `the server's Claude Code does not run in ${image}: ${said}`, hint: "see the README's containers section (AGENT_CLI)" };
  }
}

/** The docker CLI reaches the engine the server uses, TLS included. */
function dockerEnv(settings: Settings): Record<string, string> {
  if (!settings.dockerHost) return {};
  return { DOCKER_HOST: settings.dockerHost, ...(settings.dockerTlsCertPath ? { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: settings.dockerTlsCertPath } : {}) };
}

async function tool(name: string, args: string[], extraEnv: Record<string, string> = {}): Promise<CheckResult> {
  try {
    const env = { ...process.env, ...extraEnv };
    const { stdout } = await run(name, args, { timeout: 60_000, env });
    return { name, ok: true, detail: stdout.trim() };
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message.split("\n")[0] ?? "failed" };
  }
}
