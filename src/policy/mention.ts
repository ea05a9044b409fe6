// Does a piece of Markdown address the bot? Pure functions, no I/O.
//
// GitHub links (and notifies) a mention only in the author's own prose, not in code, links or raw
// HTML. The Markdown is parsed as GitHub parses it (CommonMark with GFM), and only the text of
// paragraphs, headings, list items, table cells and emphasis counts.
import { fromMarkdown } from "mdast-util-from-markdown";
import { gfmFromMarkdown } from "mdast-util-gfm";
import { gfm } from "micromark-extension-gfm";

/** The part of an mdast node this module reads (no dependency on the mdast types package). */
interface MarkdownNode {
  type: string;
  value?: string;
  children?: MarkdownNode[];
  position?: { start: { offset?: number | undefined }; end: { offset?: number | undefined } } | undefined;
}

const PARSE_OPTIONS = { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] };

// Containers whose text is someone else's words, or not words: quoted replies, links (their text
// and URL, autolinks, `mailto:`), code, raw HTML and the link definitions at the bottom of a text.
const NOT_PROSE = new Set(["blockquote", "link", "linkReference", "image", "imageReference", "code", "inlineCode", "html", "definition"]);

// Raw HTML elements whose content GitHub does not link mentions in (its mention filter skips
// text under `pre`, `code`, `a`, `style` and `script`).
const UNLINKED_ELEMENTS = new Set(["code", "pre", "a", "style", "script"]);
const HTML_TAG = /^<(\/?)([A-Za-z][A-Za-z0-9-]*)(?:\s[^>]*)?(\/?)>$/;

// A backslash escape as CommonMark defines it: `\` before ASCII punctuation.
const ESCAPE = /\\([!-/:-@[-`{-~])/g;
// Stands for an escaped `@` (`\@bot`): GitHub shows the `@` but does not link the mention.
const ESCAPED_AT = "\u{FFFC}";

/**
 * The author's own prose in a piece of Markdown, as one string per text run. Each run is the
 * text's source with backslash escapes resolved, an escaped `@` replaced so that it cannot start a
 * mention. Character references (`&#64;`) are left as written: GitHub does not link them either.
 */
export function proseRuns(markdown: string): string[] {
  const runs: string[] = [];
  const tree = fromMarkdown(markdown, PARSE_OPTIONS) as unknown as MarkdownNode;
  collect(tree, markdown, runs);
  return runs;
}

function collect(node: MarkdownNode, source: string, runs: string[]): void {
  if (node.type === "text") {
    runs.push(sourceOf(node, source));
    return;
  }
  if (NOT_PROSE.has(node.type) || !node.children) return;
  // `<code>…</code>` inside a paragraph: the tags are separate html nodes around their content.
  const open = new Map<string, number>();
  for (const child of node.children) {
    if (child.type === "html") {
      noteTag(child.value ?? "", open);
      continue;
    }
    if (open.size === 0) collect(child, source, runs);
  }
}

function noteTag(html: string, open: Map<string, number>): void {
  const tag = HTML_TAG.exec(html.trim());
  if (!tag || tag[3]) return;
  const name = tag[2]!.toLowerCase();
  if (!UNLINKED_ELEMENTS.has(name)) return;
  const depth = (open.get(name) ?? 0) + (tag[1] ? -1 : 1);
  if (depth > 0) open.set(name, depth);
  else open.delete(name);
}

/** The text as written (so an escaped `@` can be told from a real one), escapes resolved. */
function sourceOf(node: MarkdownNode, source: string): string {
  const start = node.position?.start.offset;
  const end = node.position?.end.offset;
  if (start === undefined || end === undefined) return node.value ?? "";
  return source.slice(start, end).replace(ESCAPE, (_whole, char: string) => (char === "@" ? ESCAPED_AT : char));
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

/** `@handle` anywhere, whatever is around it: the cheap test before parsing. */
function namesHandle(markdown: string, handle: string): boolean {
  return markdown.toLowerCase().includes(`@${handle.replace(/\[bot\]$/i, "").toLowerCase()}`);
}

export function mentions(markdown: string | null | undefined, handle: string): boolean {
  if (!markdown) return false;
  // Most texts never name the bot: they are answered without parsing.
  if (!namesHandle(markdown, handle)) return false;
  const pattern = mentionPattern(handle);
  return proseRuns(markdown).some((run) => pattern.test(run));
}

/** On `edited`, only a mention that the previous text did not already have counts. */
export function newlyMentions(
  current: string | null | undefined,
  previous: string | null | undefined,
  handle: string,
): boolean {
  return mentions(current, handle) && !mentions(previous, handle);
}

/** `@bot stop` (or `cancel`) as the whole of a comment's prose: cancel the bot's work on this thread. */
export function isStopCommand(markdown: string | null | undefined, handle: string): boolean {
  if (!markdown || !namesHandle(markdown, handle)) return false;
  const text = proseRuns(markdown).join(" ").trim();
  const name = escapeRegExp(handle.replace(/\[bot\]$/i, ""));
  return new RegExp(`^@${name}(?:\\[bot\\])?[,:]?\\s+(?:please\\s+)?(?:stop|cancel)\\s*[.!]*$`, "i").test(text);
}
