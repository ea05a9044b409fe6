// `devs-webhook test-setup`: what must work on this host before tasks can run.
import { execFile } from "node:child_process";
import { accessSync, constants, mkdirSync } from "node:fs";
import { promisify } from "node:util";
import type { Settings } from "./settings.js";

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

const run = promisify(execFile);

export async function runSetupChecks(settings: Settings): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  results.push({
    name: "credentials",
    ok: settings.auth.kind !== "unconfigured" && settings.webhookSecret !== null,
    detail:
      settings.auth.kind === "unconfigured"
        ? "no App credentials and no GITHUB_TOKEN (npm start registers an App)"
        : settings.webhookSecret
          ? `${settings.auth.kind} mode, webhook secret set`
          : "WEBHOOK_SECRET is not set",
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
      results.push({ name, ok: false, detail: `${dir}: ${(error as Error).message}` });
    }
  }
  results.push(await tool("git", ["--version"]));
  results.push(await tool("docker", ["version", "--format", "engine {{.Server.Version}}"], settings.dockerHost));
  return results;
}

async function tool(name: string, args: string[], dockerHost?: string | null): Promise<CheckResult> {
  try {
    const env = dockerHost ? { ...process.env, DOCKER_HOST: dockerHost } : process.env;
    const { stdout } = await run(name, args, { timeout: 15_000, env });
    return { name, ok: true, detail: stdout.trim() };
  } catch (error) {
    return { name, ok: false, detail: (error as Error).message.split("\n")[0] ?? "failed" };
  }
}
