// Does a piece of Markdown address the bot? Pure functions, no I/O.

/**
 * Removes what is not the author's own prose: fenced code, inline code, block quotes (quoted
 * replies) and HTML comments (issue templates), so that `@bot` there does not count.
 */
export function stripNonProse(markdown: string): string {
  let text = markdown.replace(/\r\n?/g, "\n");
  text = text.replace(/<!--[\s\S]*?(?:-->|$)/g, " ");
  text = stripFencedCode(text);
  text = text
    .split("\n")
    .filter((line) => !/^ {0,3}>/.test(line))
    .join("\n");
  // Inline code: a run of N backticks up to the next run of exactly N backticks.
  text = text.replace(/(`+)(?!`)[\s\S]*?(?<!`)\1(?!`)/g, " ");
  return text;
}

function stripFencedCode(text: string): string {
  const out: string[] = [];
  let fence: { char: string; length: number } | null = null;
  for (const line of text.split("\n")) {
    const m = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (m && m[1]![0] === fence.char && m[1]!.length >= fence.length && line.trim() === m[1]) fence = null;
      continue;
    }
    if (m) {
      fence = { char: m[1]![0]!, length: m[1]!.length };
      continue;
    }
    out.push(line);
  }
  return out.join("\n");
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * `@handle` as a whole GitHub handle: not inside an e-mail address or another word (`x@bot`),
 * not a longer handle (`@bot-helper`, `@botname`), not a team (`@bot/team`). Case-insensitive.
 * Trailing sentence punctuation is fine (`thanks @bot.`).
 */
function mentionPattern(handle: string): RegExp {
  const name = escapeRegExp(handle.replace(/\[bot\]$/i, ""));
  return new RegExp(`(?<![\\w@./+-])@${name}(?:\\[bot\\])?(?![\\w-]|[./]\\w)`, "i");
}

export function mentions(markdown: string | null | undefined, handle: string): boolean {
  if (!markdown) return false;
  return mentionPattern(handle).test(stripNonProse(markdown));
}

/** On `edited`, only a mention that the previous text did not already have counts. */
export function newlyMentions(
  current: string | null | undefined,
  previous: string | null | undefined,
  handle: string,
): boolean {
  return mentions(current, handle) && !mentions(previous, handle);
}

/** `@bot stop` (or `cancel`) as the whole of a comment: cancel the bot's work on this thread. */
export function isStopCommand(markdown: string | null | undefined, handle: string): boolean {
  if (!markdown) return false;
  const text = stripNonProse(markdown).trim();
  const name = handle.replace(/\[bot\]$/i, "").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`^@${name}(?:\\[bot\\])?[,:]?\\s+(?:please\\s+)?(?:stop|cancel)\\s*[.!]*$`, "i").test(text);
}
