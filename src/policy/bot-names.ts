// Who the bot is, for every "is this the bot?" question (the loop guard, who may trigger, the
// agent's conversation): the handle people mention and the login GitHub shows on the bot's own
// comments, pushes and pull requests. The two differ when GITHUB_MENTIONED_USER is not the App's
// `<slug>[bot]` or the token's user. Pure.

export interface BotNames {
  /** What `@` mentions address (GITHUB_MENTIONED_USER, or the login when it is not set). */
  handle: string;
  /** The handle in any spelling (`name`, `Name`, `name[bot]`), or exactly the login in any case. */
  isBot(login: string | null | undefined): boolean;
}

const bare = (login: string) => login.toLowerCase().replace(/\[bot\]$/, "");

/**
 * `login` is null when GitHub could not be asked at start-up: then the handle alone names the bot.
 * The login matches only whole: an account named like the App's slug, without `[bot]`, is someone
 * else, and must not pass for the bot (which may trigger without being asked about).
 */
export function botNames(identity: { handle: string; login: string | null }): BotNames {
  const handle = bare(identity.handle);
  const login = identity.login?.toLowerCase() ?? null;
  return {
    handle: identity.handle,
    isBot: (name) => !!name && (bare(name) === handle || name.toLowerCase() === login),
  };
}
