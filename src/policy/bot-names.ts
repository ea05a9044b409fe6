// Who the bot is, for every "is this the bot?" question (the loop guard, who may trigger, the
// agent's conversation): the handle people mention and the login GitHub shows on the bot's own
// comments, pushes and pull requests. The two differ when GITHUB_MENTIONED_USER is not the App's
// `<slug>[bot]` or the token's user. Pure.

export interface BotNames {
  /** What `@` mentions address (GITHUB_MENTIONED_USER, or the login when it is not set). */
  handle: string;
  /** The bot in any spelling of either name: `name`, `Name`, `name[bot]`. */
  isBot(login: string | null | undefined): boolean;
}

const bare = (login: string) => login.toLowerCase().replace(/\[bot\]$/, "");

/** `login` is null when GitHub could not be asked at start-up: then the handle alone names the bot. */
export function botNames(identity: { handle: string; login: string | null }): BotNames {
  const names = new Set([identity.handle, identity.login ?? identity.handle].map(bare));
  return { handle: identity.handle, isBot: (login) => !!login && names.has(bare(login)) };
}
