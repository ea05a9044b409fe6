import { describe, expect, it } from "vitest";
import { isStopCommand, mentions, newlyMentions, proseRuns } from "../../src/policy/mention.js";

describe("mentions(@devs-bot): the handle", () => {
  const table: Array<[string, boolean]> = [
    ["@devs-bot fix it", true],
    ["hey @devs-bot, fix it", true],
    ["@DEVS-BOT please", true],
    ["thanks @devs-bot.", true],
    ["(@devs-bot)", true],
    ["@devs-bot: go", true],
    ["line one\n@devs-bot", true],
    ["@devs-bot[bot] do it", true],
    ["mail x@devs-bot now", false],
    ["@devs-bot-helper do it", false],
    ["@devs-botname do it", false],
    ["@devs-bot/team", false],
    ["@devs-bot.js is a file", false],
    ["devs-bot without at", false],
    ["", false],
  ];
  for (const [text, expected] of table) {
    it(`${JSON.stringify(text)} → ${expected}`, () => expect(mentions(text, "devs-bot")).toBe(expected));
  }
  it("null and undefined are no mention", () => {
    expect(mentions(null, "devs-bot")).toBe(false);
    expect(mentions(undefined, "devs-bot")).toBe(false);
  });
  it("a handle with regex characters is matched literally", () => {
    expect(mentions("@a.b go", "a.b")).toBe(true);
    expect(mentions("@axb go", "a.b")).toBe(false);
  });
});

// Cases taken from the CommonMark spec (0.31) and the GFM spec, by section, with the example's
// text replaced by a mention. GitHub links a mention only where the row says true.
describe("mentions(@devs-bot): where Markdown puts it (CommonMark and GFM spec sections)", () => {
  const table: Array<[markdown: string, expected: boolean, section: string]> = [
    ["\t@devs-bot", false, "Tabs: a tab indents a code block"],
    ["    @devs-bot fix", false, "Indented code blocks"],
    ["- foo\n\n      @devs-bot", false, "Indented code blocks: inside a list item"],
    ["Foo\n    @devs-bot", true, "Indented code blocks: cannot interrupt a paragraph"],
    ["    code\n@devs-bot", true, "Indented code blocks: ends at a line that is not indented"],
    ["```\n@devs-bot\n```", false, "Fenced code blocks: backticks"],
    ["~~~md\n@devs-bot\n~~~\n", false, "Fenced code blocks: tildes"],
    ["````\n```\n@devs-bot\n````", false, "Fenced code blocks: the closing fence is at least as long"],
    ["```\nunclosed fence @devs-bot", false, "Fenced code blocks: unclosed runs to the end of the document"],
    ["   ```\n   @devs-bot\n   ```", false, "Fenced code blocks: indented fence"],
    ["``` @devs-bot\nfoo\n```", false, "Fenced code blocks: the info string"],
    ["``` ```\n@devs-bot", true, "Fenced code blocks: a backtick info string cannot contain backticks (a code span)"],
    ["```\ncode\n```\n@devs-bot after code", true, "Fenced code blocks: after the closing fence"],
    ["<div>\n@devs-bot\n</div>", false, "HTML blocks: type 6 runs to a blank line"],
    ["<div>\n\n@devs-bot\n\n</div>", true, "HTML blocks: Markdown between blank lines is Markdown"],
    ["<details>\n<summary>Logs</summary>\n\n@devs-bot please look\n\n</details>", true, "HTML blocks: a details element around Markdown"],
    ["<pre>\n\n@devs-bot\n</pre>", false, "HTML blocks: type 1 (pre) runs to its end tag, over blank lines"],
    ["<!-- @devs-bot -->", false, "HTML blocks: comment (type 2)"],
    ["<!--\n\n@devs-bot\n-->", false, "HTML blocks: a comment runs over blank lines"],
    ["<!-- multi\nline @devs-bot\n-->after", false, "HTML blocks: the line that ends a comment is part of it"],
    ['<a href="x">\n\n@devs-bot\n\n</a>', false, "HTML blocks: type 7 tags around a paragraph (a link)"],
    ["[x]: https://x.test \"@devs-bot\"", false, "Link reference definitions: the title"],
    ["> @devs-bot quoted\nreply", false, "Block quotes"],
    ["   > nested quote @devs-bot", false, "Block quotes: indented marker"],
    ["> quote\n@devs-bot", false, "Block quotes: laziness (a lazy continuation line)"],
    ["> - a\n@devs-bot", false, "Block quotes: laziness inside a list in a quote"],
    [">     code\n    @devs-bot", false, "Block quotes: no laziness for code (an indented code block)"],
    ["> ```\nfoo\n```\n@devs-bot", false, "Block quotes: a fence in a quote ends with it; the next fence opens"],
    ["> ```\n@devs-bot", true, "Block quotes: a fence in a quote ends with it"],
    ["> quote\n\n@devs-bot after quote", true, "Block quotes: a blank line ends the quote"],
    ["# @devs-bot fix", true, "ATX headings"],
    ["@devs-bot\n===", true, "Setext headings"],
    ["- @devs-bot", true, "List items"],
    ["1. @devs-bot", true, "List items: ordered"],
    ["- a\n\n  @devs-bot", true, "List items: a second paragraph"],
    ["`@devs-bot` inline", false, "Code spans"],
    ["``code with ` and @devs-bot``", false, "Code spans: two backticks around one"],
    ["` `` @devs-bot `` `", false, "Code spans: backticks inside"],
    ["`foo``@devs-bot``", false, "Code spans: runs of equal length match"],
    ["``@devs-bot`", true, "Code spans: unmatched backticks are text"],
    ["\\@devs-bot fix", false, "Backslash escapes: an escaped @"],
    ["\\\\@devs-bot fix", true, "Backslash escapes: an escaped backslash before a real @"],
    ["\\`@devs-bot\\`", true, "Backslash escapes: escaped backticks make no code span"],
    ["`\\@devs-bot`", false, "Backslash escapes: none in code spans"],
    ["@devs-bot\\-helper", false, "Backslash escapes: an escaped hyphen is still part of the handle"],
    ["&#64;devs-bot", false, "Entity and numeric character references: kept as written"],
    ["*@devs-bot*", true, "Emphasis and strong emphasis"],
    ["_@devs-bot_ go", true, "Emphasis and strong emphasis: underscores"],
    ["**@devs-bot** go", true, "Emphasis and strong emphasis: strong"],
    ["[@devs-bot](https://x.test)", false, "Links: the link text"],
    ["[x](https://x.test/@devs-bot)", false, "Links: the destination"],
    ['[x](https://x.test "@devs-bot")', false, "Links: the title"],
    ["[@devs-bot][ref]\n\n[ref]: https://x.test", false, "Links: a full reference link"],
    ["[@devs-bot]\n\n[@devs-bot]: https://x.test", false, "Links: a shortcut reference link"],
    ["[@devs-bot] without a definition", true, "Links: brackets without a definition are text"],
    ["[x](y) @devs-bot", true, "Links: after the link"],
    ["![@devs-bot](a.png)", false, "Images: the description"],
    ["<https://x.test/@devs-bot>", false, "Autolinks"],
    ["<mailto:@devs-bot>", false, "Autolinks: mailto"],
    ["<devs-bot@x.test>", false, "Autolinks: e-mail"],
    ["<code>@devs-bot</code>", false, "Raw HTML: text between code tags"],
    ["a <code>x @devs-bot</code> b", false, "Raw HTML: text between code tags in a sentence"],
    ["<code><code>x</code> @devs-bot</code>", false, "Raw HTML: nested code tags"],
    ["a <pre>x</pre> and <code>a</code> @devs-bot", true, "Raw HTML: after the closing tag"],
    ["<pre>x</pre> @devs-bot", false, "HTML blocks: type 1 at the start of a line takes the whole line"],
    ['<a href="#">@devs-bot</a>', false, "Raw HTML: text in an a element"],
    ["<b>@devs-bot</b>", true, "Raw HTML: text in other elements counts"],
    ['<span title="@devs-bot">x</span>', false, "Raw HTML: an attribute"],
    ["a <!-- @devs-bot --> b", false, "Raw HTML: an inline comment"],
    ["foo\\\n@devs-bot", true, "Hard line breaks"],
    ["| a |\n| - |\n| @devs-bot |", true, "Tables (extension)"],
    ["| a |\n| - |\n| `@devs-bot` |", false, "Tables (extension): code in a cell"],
    ["~~@devs-bot~~", true, "Strikethrough (extension)"],
    ["- [ ] @devs-bot", true, "Task list items (extension)"],
    ["www.x.test/@devs-bot", false, "Autolinks (extension): www"],
    ["https://x.test/@devs-bot", false, "Autolinks (extension): a URL"],
    ["text[^1]\n\n[^1]: @devs-bot", true, "Footnotes (extension): GitHub renders the definition as prose"],
  ];
  it.each(table)("%j → %s (%s)", (markdown, expected) => {
    expect(mentions(markdown, "devs-bot")).toBe(expected);
  });
});

// Long texts are parsed a section at a time, and only the sections that name the bot: blocks that
// go on over blank lines, and definitions far from their links, must read as in the whole text.
describe("mentions(@devs-bot) across sections", () => {
  const filler = Array.from({ length: 300 }, (_, i) => `Paragraph ${i} of filler text.\n\n> quoted ${i}\n\n- item ${i}`).join("\n\n");
  const table: Array<[name: string, markdown: string, expected: boolean]> = [
    ["a fence over blank lines", "```\n\ncode\n\n@devs-bot\n\n```", false],
    ["a fence holding the other fence character", "~~~\na\n\n```\n\n@devs-bot\n~~~\n\n" + filler, false],
    ["a fence closed by a longer one", "```\n\n``\n\n@devs-bot\n\n`````\n\n@devs-bot after", true],
    ["an unclosed fence far above", "```\n\n" + filler + "\n\n@devs-bot", false],
    ["a comment over blank lines", "<!--\n\nx\n\n@devs-bot\n\n-->\n\n" + filler, false],
    ["after a comment over blank lines", "<!--\n\nx\n\n-->\n\n" + filler + "\n\n@devs-bot", true],
    ["a pre block over blank lines", "<pre>\n\n@devs-bot\n\n</pre>", false],
    ["a link whose definition is far below", "[@devs-bot][r]\n\n" + filler + "\n\n[r]: https://x.test", false],
    ["an a element around paragraphs far apart", '<a href="x">\n\n' + filler + "\n\n@devs-bot\n\n</a>", false],
    ["a mention after a long text", filler + "\n\n@devs-bot please", true],
    ["a quoted mention in a long text", filler + "\n\n> @devs-bot please", false],
    ["a definition stand-in never adds text", "```\n[a[@devs-bot]: x\n```\n\n" + filler, false],
  ];
  it.each(table)("%s → %s", (_name, markdown, expected) => {
    expect(mentions(markdown, "devs-bot")).toBe(expected);
  });
});

describe("newlyMentions", () => {
  it("counts a mention the edit added", () => expect(newlyMentions("@devs-bot go", "go", "devs-bot")).toBe(true));
  it("ignores a mention that was already there", () => expect(newlyMentions("@devs-bot go now", "@devs-bot go", "devs-bot")).toBe(false));
  it("counts a mention moved out of a code block", () => expect(newlyMentions("@devs-bot go", "`@devs-bot` go", "devs-bot")).toBe(true));
  it("counts a mention whose escape was removed", () => expect(newlyMentions("@devs-bot go", "\\@devs-bot go", "devs-bot")).toBe(true));
  it("treats an unknown previous text as empty", () => expect(newlyMentions("@devs-bot", null, "devs-bot")).toBe(true));
});

describe("proseRuns", () => {
  it("keeps prose and drops code, quotes, comments and links", () => {
    expect([...proseRuns("a `b` c\n> d\n\n<!-- e -->\n\nf [g](h)\n```\ni\n```\nj")].join("|")).toBe("a | c|f |j");
  });
});

describe("isStopCommand", () => {
  const table: Array<[string, boolean]> = [
    ["@devs-bot stop", true],
    ["@Devs-Bot cancel.", true],
    ["@devs-bot please stop!", true],
    ["@devs-bot: stop", true],
    ["  @devs-bot stop  ", true],
    ["**@devs-bot stop**", true],
    ["@devs-bot stop\n\n<!-- sent from my phone -->", true],
    ["@devs-bot stop and fix the tests", false],
    ["stop @devs-bot", false],
    ["> @devs-bot stop\nok", false],
    ["`@devs-bot stop`", false],
    ["\\@devs-bot stop", false],
    ["[@devs-bot](https://x.test) stop", false],
    ["@devs-bot-helper stop", false],
  ];
  for (const [text, expected] of table) it(`${JSON.stringify(text)} → ${expected}`, () => expect(isStopCommand(text, "devs-bot")).toBe(expected));
});

describe("plain text is answered without the parser, as the parser would answer it", () => {
  // A paragraph of inline code adds no prose, and makes the text go through the parser: for any
  // plain text, the answer with it must be the answer without it.
  const viaParser = (text: string) => `${text}\n\n\`x\``;
  const pieces = ["@devs-bot", "@DEVS-BOT", "@devs-bot[bot]", "@devs-bot-x", "@devs-botx", "x@devs-bot", "stop", "cancel", "please", "fix", "it", "a.b", "1.", "2)", "-", "--", ".", ",", ":", "!", "?", "(", ")", "/", "'", '"', "@", "@@devs-bot", "\n", "\r\n", "\n\n", " ", "  ", "\t", "é", "日本", "www.x.io/", "https://x.io/"];
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const texts = Array.from({ length: 3000 }, () => Array.from({ length: 1 + Math.floor(random() * 8) }, () => pieces[Math.floor(random() * pieces.length)]!).join(random() < 0.7 ? " " : ""));

  it("mentions: 3000 generated texts of words, handles, punctuation and line endings", () => {
    const differ = texts.filter((t) => mentions(t, "devs-bot") !== mentions(viaParser(t), "devs-bot"));
    expect(differ).toEqual([]);
    // The set is no trivial one: both answers occur.
    expect(new Set(texts.map((t) => mentions(t, "devs-bot")))).toEqual(new Set([true, false]));
  });

  it("isStopCommand: the same texts", () => {
    const differ = texts.filter((t) => isStopCommand(t, "devs-bot") !== isStopCommand(viaParser(t), "devs-bot"));
    expect(differ).toEqual([]);
    expect(texts.some((t) => isStopCommand(t, "devs-bot"))).toBe(true);
  });
});
