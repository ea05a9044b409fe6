// The Probot instance for this process, and the installation client plus a short-lived token for
// a task (App mode), or the token client (token mode).
import { Probot, type ProbotOctokit } from "probot";
import type { Logger } from "pino";
import { SettingsError, type Settings } from "../settings.js";
import type { Task } from "../tasks/task.js";
import type { GitHubClient } from "./client.js";

export function createProbot(settings: Settings, log: Logger, Octokit?: typeof ProbotOctokit): Probot {
  if (settings.auth.kind === "unconfigured") {
    throw new SettingsError("APP_ID", "needs App credentials (APP_ID and PRIVATE_KEY) or GITHUB_TOKEN");
  }
  return new Probot({
    ...(settings.auth.kind === "app"
      ? { appId: settings.auth.appId, privateKey: settings.auth.privateKey }
      : { githubToken: settings.auth.token }),
    ...(settings.webhookSecret ? { secret: settings.webhookSecret } : {}),
    baseUrl: settings.githubApiUrl,
    log: log.child({ name: "probot" }),
    ...(Octokit ? { Octokit } : {}),
  });
}

export type TaskGitHub = (task: Task) => Promise<{ octokit: GitHubClient; token: string }>;

/**
 * App mode: an installation client for the task's installation and its token (valid an hour,
 * minted fresh per task, used on the host only). Token mode: the configured token.
 */
export function taskGitHub(probot: Probot, settings: Settings): TaskGitHub {
  return async (task) => {
    if (settings.auth.kind === "token") return { octokit: await probot.auth(), token: settings.auth.token };
    const installationId = task.installationId ?? settings.installationId;
    if (!installationId) throw new Error("the delivery named no installation and GITHUB_APP_INSTALLATION_ID is not set");
    const octokit = await probot.auth(installationId);
    const auth = (await octokit.auth({ type: "installation" })) as { token: string };
    return { octokit, token: auth.token };
  };
}
