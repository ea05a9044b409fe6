// The Probot instance for this process, and the installation client plus a short-lived token for
// a task (App mode), or the token client (token mode).
import { Probot, ProbotOctokit } from "probot";
import type { Logger } from "pino";
import { SettingsError, type Settings } from "../settings.js";
import type { Task } from "../tasks/task.js";
import type { GitHubClient } from "./client.js";

export function createProbot(settings: Settings, log: Logger, Octokit?: typeof ProbotOctokit): Probot {
  if (settings.auth.kind === "unconfigured") {
    throw new SettingsError("APP_ID", "needs App credentials (APP_ID and PRIVATE_KEY) or GITHUB_TOKEN");
  }
  return new Probot({
    Octokit: withAuthBaseUrl(Octokit ?? ProbotOctokit, settings.githubApiUrl),
    ...(settings.auth.kind === "app"
      ? { appId: settings.auth.appId, privateKey: settings.auth.privateKey }
      : { githubToken: settings.auth.token }),
    ...(settings.webhookSecret ? { secret: settings.webhookSecret } : {}),
    baseUrl: settings.githubApiUrl,
    log: log.child({ name: "probot" }),
  });
}

/**
 * Probot gives the App's auth strategy a `request` without the base URL, so a token asked for
 * outright (`octokit.auth({ type: "installation" })`, as tasks do) goes to api.github.com whatever
 * GHE_HOST says, unless a request through the client happened to cache one first. Tokens minted by
 * the request hook use the client's own base URL and were never affected.
 */
function withAuthBaseUrl(Octokit: typeof ProbotOctokit, baseUrl: string): typeof ProbotOctokit {
  type Request = { defaults(options: { baseUrl: string }): Request };
  return Octokit.defaults((options: { auth?: { request?: Request } & Record<string, unknown> } & Record<string, unknown>) => {
    const request = options.auth?.request;
    return request ? { ...options, auth: { ...options.auth, request: request.defaults({ baseUrl }) } } : options;
  }) as typeof ProbotOctokit;
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
