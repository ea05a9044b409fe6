// Who the bot is: the handle people mention, the login GitHub shows on what the bot writes, and
// the name and e-mail its commits carry (GitHub shows `<slug>[bot]` commits with the App's avatar
// when the e-mail is the bot user's noreply one).
import type { Probot } from "probot";
import type { Logger } from "pino";
import { SettingsError, type Settings } from "../settings.js";
import type { Identity } from "../workspace/repo-cache.js";

export interface BotIdentity {
  handle: string;
  /**
   * The login GitHub shows on the bot's comments and pushes: `<slug>[bot]` for an App, the
   * token's user otherwise. Null when GitHub could not be asked at start-up.
   */
  login: string | null;
  commit: Identity;
}

export async function resolveBotIdentity(probot: Probot, settings: Settings, log: Logger): Promise<BotIdentity> {
  let handle = settings.mentionedUser;
  let login: string | null = null;
  try {
    const octokit = await probot.auth();
    if (settings.auth.kind === "app") {
      const { data } = await octokit.request("GET /app");
      const slug = data?.slug;
      if (slug) login = `${slug}[bot]`;
      handle ??= slug ?? null;
    } else {
      const { data } = await octokit.request("GET /user");
      login = data.login;
      handle ??= login;
    }
  } catch (error) {
    if (!handle) {
      throw new SettingsError(
        "GITHUB_MENTIONED_USER",
        `not set, and GitHub could not tell the bot's name (${(error as Error).message}); set it or check the credentials`,
      );
    }
    log.warn({ err: error }, "could not look the bot up on GitHub; commits use a generic identity, and only GITHUB_MENTIONED_USER is known as the bot");
  }
  if (!handle) throw new SettingsError("GITHUB_MENTIONED_USER", "not set, and GitHub returned no App slug; set it");
  const name = login ?? handle;
  let email = `${name}@users.noreply.github.com`;
  if (login) {
    try {
      const octokit = await userLookupClient(probot, settings);
      const { data } = await octokit.request("GET /users/{username}", { username: login });
      email = `${data.id}+${login}@users.noreply.github.com`;
    } catch (error) {
      log.debug({ err: error }, "bot user id not found; using a plain noreply address");
    }
  }
  return { handle, login, commit: { name, email } };
}

/**
 * A client that may read a user: the token's in token mode; in App mode an installation's, since
 * the App's own JWT opens only the App's routes (GitHub refuses it for /users).
 */
async function userLookupClient(probot: Probot, settings: Settings) {
  const client = await probot.auth();
  if (settings.auth.kind !== "app") return client;
  const installation = settings.installationId ?? (await client.request("GET /app/installations", { per_page: 1 })).data[0]?.id;
  if (!installation) throw new Error("the App has no installation yet");
  return probot.auth(installation);
}
