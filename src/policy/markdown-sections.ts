// Cuts Markdown where no block can reach across, so that only the parts that matter are parsed
// (parsing is the costly step, and a comment may be 64 KiB). Pure.
//
// After a blank line, a line that starts in the first column ends every paragraph, list item,
// block quote and indented code block before it (CommonMark has no lazy continuation after a
// blank line, and list items need indented lines). Only a fenced code block or an HTML block of
// types 1-5 (`<pre>`, `<script>`, `<style>`, `<textarea>`, comments, `<?`, `<!X`, CDATA) can go
// on, so a section that may open one is checked by parsing it (`endStillAhead` in mention.ts).

/** Sections, each ending with the blank lines before the next one; joined they are the text. */
export function splitSections(markdown: string): string[] {
  const sections: string[] = [];
  const boundary = /\n[ \t]*\n(?=[^\s])/g;
  let start = 0;
  for (const match of markdown.matchAll(boundary)) {
    const end = match.index + match[0].length;
    sections.push(markdown.slice(start, end));
    start = end;
  }
  sections.push(markdown.slice(start));
  return sections;
}

const MAY_OPEN_FENCE = /^ {0,3}(?:`{3,}|~{3,})/m;
const MAY_OPEN_LONG_HTML = /^ {0,3}<(?:(?:pre|script|style|textarea)(?:[\s>]|$)|!--|\?|![A-Za-z]|!\[CDATA\[)/im;

/** Could a block opened in this section go on past its end? (False means it certainly ends.) */
export function mayReachPast(section: string): boolean {
  return MAY_OPEN_FENCE.test(section) || MAY_OPEN_LONG_HTML.test(section);
}

// `[label]:` at the start of a line: a link or footnote definition, which applies to the whole
// document, wherever it stands.
const DEFINITION = /^ {0,3}\[((?:[^[\]\\\n]|\\.){1,999})\]:/gm;

/**
 * One stand-in definition per label the text defines (or may define: one in a code block counts
 * too, which can only turn brackets into links, never the reverse), to put before a section
 * parsed apart from the rest. The stand-ins carry no text of their own.
 */
export function definitionStandIns(markdown: string): string {
  const labels = new Set<string>();
  for (const match of markdown.matchAll(DEFINITION)) labels.add(match[1]!);
  if (labels.size === 0) return "";
  return `${[...labels].map((label) => `[${label}]: #`).join("\n")}\n\n`;
}
