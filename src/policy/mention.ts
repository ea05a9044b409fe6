// Does a piece of Markdown address the bot? Pure functions, no I/O.
//
// GitHub links (and notifies) a mention only in the author's own prose, not in code, links or raw
// HTML. The Markdown is parsed as GitHub parses it (CommonMark with GFM), and only the text of
// paragraphs, headings, list items, table cells and emphasis counts.
import { fromMarkdown } from "mdast-util-from-markdown";
import { gfmFromMarkdown } from "mdast-util-gfm";
import { gfm } from "micromark-extension-gfm";
import { definitionStandIns, mayReachPast, splitSections } from "./markdown-sections.js";

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
const UNLINKED_BLOCK_TAG = /^ {0,3}<\/?(?:code|pre|a|style|script)(?:[\s/>]|$)/im;
const HTML_TAG = /^<(\/?)([A-Za-z][A-Za-z0-9-]*)(?:\s[^>]*)?(\/?)>$/;

// A backslash escape as CommonMark defines it: `\` before ASCII punctuation.
const ESCAPE = /\\([!-/:-@[-`{-~])/g;
// Stands for an escaped `@` (`\@bot`): GitHub shows the `@` but does not link the mention.
const ESCAPED_AT = "\u{FFFC}";

/**
 * What may make a text more than plain paragraphs, to the parser: markup characters (code,
 * HTML, links, escapes, character references, emphasis, headings, tables), autolink literals,
 * and what may start a line (indented code, lists, setext underlines, breaks). A text without
 * any is parsed into paragraphs whose text runs say exactly what it says, line endings aside.
 */
const MARKUP = /[`<>[\]\\&~*_#|=+]|:\/\/|www\.|mailto:|xmpp:|^[ \t]|^\d+[.)]|^-/im;

/**
 * The author's own prose in a piece of Markdown, as one string per text run. Each run is the
 * text's source with backslash escapes resolved, an escaped `@` replaced so that it cannot start a
 * mention. Character references (`&#64;`) are left as written: GitHub does not link them either.
 * `wanted` picks the sections worth parsing (the others' prose is left out).
 */
export function* proseRuns(markdown: string, wanted: (section: string) => boolean = () => true): Generator<string> {
  // Most comments are a sentence or two of plain text: their prose is the text itself, and a
  // storm of mentions is answered without parsing each one.
  if (!MARKUP.test(markdown)) {
    yield markdown;
    return;
  }
  const standIns = definitionStandIns(markdown);
  // Tags such as `<a href>` alone on a line are blocks of their own around the paragraphs they
  // hold: they are kept, and what they opened stays open from one batch to the next.
  const openAtTop = new Map<string, number>();
  for (const batch of batches(blocks(markdown).filter((block) => wanted(block) || UNLINKED_BLOCK_TAG.test(block)))) {
    const source = standIns + batch;
    // Parsed as they are asked for: finding a mention stops at the first.
    const runs: string[] = [];
    collect(parse(source), source, runs, openAtTop);
    yield* runs;
  }
}

const parse = (markdown: string) => fromMarkdown(markdown, PARSE_OPTIONS) as unknown as MarkdownNode;

/** Sections joined until none has a block going on into the next: each can be parsed alone. */
function blocks(markdown: string): string[] {
  const sections = splitSections(markdown);
  const out: string[] = [];
  for (let i = 0; i < sections.length; i++) {
    let block = sections[i]!;
    for (let end = mayReachPast(block) ? endStillAhead(block) : null; end && i + 1 < sections.length; end = endStillAhead(block)) {
      // Take the sections up to the one that ends the block, then look again: it may open another.
      do block += sections[++i]!;
      while (!end.test(sections[i]!) && i + 1 < sections.length);
    }
    out.push(block);
  }
  return out;
}

// The parser's cost grows faster than the text in long documents: parse a few KiB at a time.
const BATCH_CHARS = 2048;

function batches(blocks: string[]): string[] {
  const out: string[] = [];
  let current = "";
  for (const block of blocks) {
    if (current && current.length + block.length > BATCH_CHARS) {
      out.push(current);
      current = "";
    }
    current += block;
  }
  if (current) out.push(current);
  return out;
}

/**
 * When the last block of `markdown` is a fenced code or long HTML block without its end, what
 * ends it (a line of the text that follows); null when every block has ended.
 */
function endStillAhead(markdown: string): RegExp | null {
  const last = parse(markdown).children?.at(-1);
  const start = last?.position?.start.offset;
  const end = last?.position?.end.offset;
  if (!last || start === undefined || end === undefined) return null;
  const text = markdown.slice(start, end);
  if (last.type === "code") return fenceEnd(text);
  if (last.type === "html") return htmlBlockEnd(text);
  return null;
}

function fenceEnd(code: string): RegExp | null {
  const open = /^ {0,3}(`{3,}|~{3,})/.exec(code);
  if (!open) return null; // indented code ends at the first line that is not indented
  const fence = open[1]!;
  const lines = code.split("\n");
  const close = lines.length > 1 ? /^ {0,3}(`+|~+)[ \t\r]*$/.exec(lines.at(-1)!) : null;
  if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) return null;
  return new RegExp(`^ {0,3}${fence[0] === "`" ? "`" : "~"}{${fence.length},}[ \\t\\r]*$`, "m");
}

// The HTML blocks that blank lines do not end (CommonMark's types 1-5): how each starts, what
// ends it, and where in its first line the end may be.
const LONG_HTML_BLOCKS: Array<[start: RegExp, end: RegExp, from: number]> = [
  [/^ {0,3}<(?:pre|script|style|textarea)(?:[\s>]|$)/i, /<\/(?:pre|script|style|textarea)>/i, 0],
  [/^ {0,3}<!--/, /-->/, 4],
  [/^ {0,3}<\?/, /\?>/, 2],
  [/^ {0,3}<!\[CDATA\[/, /\]\]>/, 9],
  [/^ {0,3}<![A-Za-z]/, />/, 2],
];

function htmlBlockEnd(html: string): RegExp | null {
  const kind = LONG_HTML_BLOCKS.find(([start]) => start.test(html));
  if (!kind) return null;
  const [, end, from] = kind;
  return end.test(html.trimStart().slice(from)) ? null : end;
}

function collect(node: MarkdownNode, source: string, runs: string[], open = new Map<string, number>()): void {
  if (node.type === "text") {
    runs.push(sourceOf(node, source));
    return;
  }
  if (NOT_PROSE.has(node.type) || !node.children) return;
  // `<code>…</code>` inside a paragraph: the tags are separate html nodes around their content.
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

/**
 * Does a block name the handle on a line that is not quoted? Outside fenced code and long HTML
 * blocks, a line that starts with `>` always belongs to a block quote, so only those need a look.
 */
function namesHandleOutsideQuotes(block: string, handle: string): boolean {
  if (mayReachPast(block)) return namesHandle(block, handle);
  return block.split("\n").some((line) => !/^ {0,3}>/.test(line) && namesHandle(line, handle));
}

export function mentions(markdown: string | null | undefined, handle: string): boolean {
  if (!markdown) return false;
  // Most texts never name the bot: they are answered without parsing.
  if (!namesHandle(markdown, handle)) return false;
  const pattern = mentionPattern(handle);
  for (const run of proseRuns(markdown, (block) => namesHandleOutsideQuotes(block, handle))) if (pattern.test(run)) return true;
  return false;
}

/** On `edited`, only a mention that the previous text did not already have counts. */
export function newlyMentions(
  current: string | null | undefined,
  previous: string | null | undefined,
  handle: string,
): boolean {
  return mentions(current, handle) && !mentions(previous, handle);
}

const STOP_WORD = /stop|cancel/i;

/** `@bot stop` (or `cancel`) as the whole of a comment's prose: cancel the bot's work on this thread. */
export function isStopCommand(markdown: string | null | undefined, handle: string): boolean {
  // Letters are never escaped, so a text without either word as written is no stop: most
  // mentions are answered without parsing them a second time.
  if (!markdown || !STOP_WORD.test(markdown) || !namesHandle(markdown, handle)) return false;
  const text = [...proseRuns(markdown)].join(" ").trim();
  const name = escapeRegExp(handle.replace(/\[bot\]$/i, ""));
  return new RegExp(`^@${name}(?:\\[bot\\])?[,:]?\\s+(?:please\\s+)?(?:stop|cancel)\\s*[.!]*$`, "i").test(text);
}
