// JUnit XML reports into counts and check-run annotations. The common dialects: Ant/Maven
// surefire, pytest, jest-junit, vitest, mocha, PHPUnit, go-junit-report, Gradle: <testsuites> and
// nested <testsuite> around <testcase> with <failure>, <error> or <skipped>. Where a failure is in
// the code comes from the testcase's file/line attributes or from `path:line` in its message or
// stack trace. Counting follows Jenkins' JUnit plugin: `status="disabled"` is skipped, and an
// <error> or <failure> directly inside a <testsuite> is one errored case.
//
// Reports are written by the code under test, so they are hostile input. They are read with a
// streaming XML parser (saxes) in linear time and bounded memory: depth, elements, test cases and
// bytes are capped, and a report over a cap is left out whole (a partial count would be a wrong
// count) with a problem saying it was too large. `parseJUnitStream` yields to the event loop
// between small slices, so a huge report never holds up webhooks. Hand-written reports are often
// not well-formed: parsing never throws, and what it cannot read is reported as a problem.
import { setImmediate as nextTurn } from "node:timers/promises";
import { StringDecoder } from "node:string_decoder";
import { SaxesParser, type SaxesTagPlain } from "saxes";
import type { CheckAnnotation } from "./checks.js";
import type { FailureLine, JUnitCounts } from "./report.js";

export type CaseStatus = "passed" | "failed" | "error" | "skipped";

export interface JUnitCase {
  /** The enclosing testsuite's name. */
  suite: string | null;
  classname: string | null;
  name: string;
  /** The `file` attribute of the testcase (or its suite), as written. */
  file: string | null;
  line: number | null;
  status: CaseStatus;
  /** The failure's or error's `message` attribute. */
  message: string | null;
  /** Its `type` attribute (AssertionError, …). */
  type: string | null;
  /** The element's text: usually the stack trace or assertion output. */
  details: string | null;
  timeSeconds: number | null;
}

export interface JUnitReport extends JUnitCounts {
  cases: JUnitCase[];
  /** Files (or parts) that could not be read as JUnit, for the log and the summary. */
  problems: string[];
}

export const emptyReport = (): JUnitReport => ({ total: 0, passed: 0, failed: 0, errored: 0, skipped: 0, cases: [], problems: [] });

export interface JUnitParseLimits {
  /** Bytes of XML read at most (default 20 MiB). */
  maxBytes?: number | undefined;
  /** Elements open at once (default 256). */
  maxDepth?: number | undefined;
  /** Elements in all (default 2,000,000). */
  maxElements?: number | undefined;
  /** Test cases (default 100,000). */
  maxCases?: number | undefined;
}

export const DEFAULT_JUNIT_LIMITS = { maxBytes: 20 * 1024 * 1024, maxDepth: 256, maxElements: 2_000_000, maxCases: 100_000 } as const;

/** What one file turned out to be. */
export interface ParsedJUnit {
  report: JUnitReport;
  /** A <testsuite> or <testsuites> is the (or a) root element. */
  isJUnit: boolean;
  /** A <testsuite> or <testsuites> element appears anywhere (a report wrapped in something else). */
  mentionsTestSuite: boolean;
  /** The cap that stopped the parser, if one did; the report is then empty apart from its problem. */
  tooLarge: string | null;
}

/** Characters handed to the XML parser between two yields to the event loop. */
const SLICE = 16 * 1024;
/** Text kept per failure or error element; stack traces longer than this are cut. */
const MAX_TEXT = 64 * 1024;
/** Failure and error elements kept per test case (their texts make its details). */
const MAX_PROBLEMS_PER_CASE = 10;
/** Attribute values kept (names, messages, paths). */
const MAX_ATTR = 8 * 1024;

/** Parses a whole report held in memory (tests, small inputs); the same rules as the stream. */
export function parseJUnit(xml: string, source = "report", limits: JUnitParseLimits = {}): JUnitReport {
  const parser = new JUnitStreamParser(source, limits);
  parser.write(xml, Buffer.byteLength(xml));
  return parser.end().report;
}

/**
 * Parses a report as it arrives, yielding to the event loop between slices of at most 16 K
 * characters. Stops reading at the first cap it meets; the caller drains what is left.
 */
export async function parseJUnitStream(chunks: AsyncIterable<Buffer | string>, source: string, limits: JUnitParseLimits = {}): Promise<ParsedJUnit> {
  const parser = new JUnitStreamParser(source, limits);
  for await (const chunk of chunks) {
    await parser.feed(chunk);
    if (parser.stopped) break;
  }
  return parser.end();
}

/** Raised inside saxes' callbacks to stop it at a cap. */
class Stop extends Error {}

type Frame =
  | { kind: "suite"; name: string | null; file: string | null; attrs: Record<string, string>; nestedSuite: boolean; suiteProblem: boolean }
  | { kind: "case"; suite: string | null; suiteFile: string | null; attrs: Record<string, string>; problems: ProblemElement[]; skipped: Record<string, string> | null }
  | { kind: "problem"; element: ProblemElement }
  | { kind: "suite-problem"; suite: Frame & { kind: "suite" }; element: ProblemElement }
  | { kind: "other" };

interface ProblemElement {
  name: "failure" | "error";
  attrs: Record<string, string>;
  text: string;
}

/** A JUnit report fed in pieces. `write` never throws; `end` gives the result. */
export class JUnitStreamParser {
  private readonly limits: Required<{ [K in keyof JUnitParseLimits]-?: number }>;
  private readonly sax = new SaxesParser({ xmlns: false, position: false });
  private readonly escape = new AmpersandEscaper();
  private readonly decoder = new StringDecoder("utf8");
  private readonly report = emptyReport();
  private readonly stack: Frame[] = [];
  private readonly suiteCounts: JUnitCounts = { total: 0, passed: 0, failed: 0, errored: 0, skipped: 0 };
  private bytes = 0;
  private elements = 0;
  private isJUnit = false;
  private mentionsTestSuite = false;
  private tooLarge: string | null = null;
  private done = false;

  constructor(
    private readonly source: string,
    limits: JUnitParseLimits = {},
  ) {
    this.limits = {
      maxBytes: limits.maxBytes ?? DEFAULT_JUNIT_LIMITS.maxBytes,
      maxDepth: limits.maxDepth ?? DEFAULT_JUNIT_LIMITS.maxDepth,
      maxElements: limits.maxElements ?? DEFAULT_JUNIT_LIMITS.maxElements,
      maxCases: limits.maxCases ?? DEFAULT_JUNIT_LIMITS.maxCases,
    };
    // Malformed input is the norm for hand-written reports: note nothing, keep going.
    this.sax.on("error", () => undefined);
    this.sax.on("opentag", (tag) => this.open(tag));
    this.sax.on("closetag", () => this.close());
    this.sax.on("text", (text) => this.text(text));
    this.sax.on("cdata", (text) => this.text(text));
  }

  get stopped(): boolean {
    return this.tooLarge !== null || this.done;
  }

  /** Feeds raw bytes (or text) in slices, yielding to the event loop after each. */
  async feed(chunk: Buffer | string): Promise<void> {
    const bytes = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    const text = typeof chunk === "string" ? chunk : this.decoder.write(chunk);
    if (text.length === 0) return this.write("", bytes);
    for (let at = 0; at < text.length && !this.stopped; at += SLICE) {
      this.write(text.slice(at, at + SLICE), at === 0 ? bytes : 0);
      await nextTurn();
    }
  }

  /** Feeds `text`, which was `bytes` bytes of the file (for the byte cap). */
  write(text: string, bytes: number): void {
    if (this.stopped) return;
    this.bytes += bytes;
    this.guard(() => {
      if (this.bytes > this.limits.maxBytes) this.stop(`larger than ${formatBytes(this.limits.maxBytes)}`);
      this.sax.write(this.escape.push(text));
    });
  }

  /** The report; further writes are ignored. */
  end(): ParsedJUnit {
    this.guard(() => {
      this.sax.write(this.escape.push(this.decoder.end()));
      this.sax.write(this.escape.end());
      this.sax.close();
      // What a report cut off mid-write left open still counts.
      while (this.stack.length) this.close();
    });
    this.done = true;
    if (this.tooLarge !== null) return tooLargeReport(this.source, this.tooLarge);
    const report = this.report;
    if (!this.isJUnit) report.problems.push(`${this.source}: not a JUnit report (no <testsuites> or <testsuite> element)`);
    else if (report.cases.length === 0) Object.assign(report, this.suiteCounts);
    return { report, isJUnit: this.isJUnit, mentionsTestSuite: this.mentionsTestSuite || this.isJUnit, tooLarge: null };
  }

  /** Runs `work` unless a cap has stopped the parser; a cap met inside it ends it quietly. */
  private guard(work: () => void): void {
    if (this.stopped) return;
    try {
      work();
    } catch (error) {
      if (!(error instanceof Stop)) throw error;
    }
  }

  private stop(why: string): never {
    this.tooLarge ??= why;
    this.stack.length = 0;
    throw new Stop(why);
  }

  private open(tag: SaxesTagPlain): void {
    if (++this.elements > this.limits.maxElements) this.stop(`more than ${count(this.limits.maxElements)} elements`);
    if (this.stack.length >= this.limits.maxDepth) this.stop(`nested more than ${count(this.limits.maxDepth)} elements deep`);
    const name = localName(tag.name);
    const parent = this.stack[this.stack.length - 1];
    const isSuite = name === "testsuite" || name === "testsuites";
    if (isSuite) this.mentionsTestSuite = true;
    let frame: Frame = { kind: "other" };
    if (!parent) {
      if (isSuite) {
        this.isJUnit = true;
        frame = suiteFrame(tag, null, null);
      }
    } else if (parent.kind === "suite") {
      if (isSuite) {
        parent.nestedSuite = true;
        frame = suiteFrame(tag, parent.name, parent.file);
      } else if (name === "testcase") {
        frame = { kind: "case", suite: parent.name, suiteFile: parent.file, attrs: attributes(tag), problems: [], skipped: null };
      } else if ((name === "error" || name === "failure") && !parent.suiteProblem) {
        parent.suiteProblem = true;
        frame = { kind: "suite-problem", suite: parent, element: { name, attrs: attributes(tag), text: "" } };
      }
    } else if (parent.kind === "case") {
      if (name === "failure" || name === "error") {
        const element: ProblemElement = { name, attrs: attributes(tag), text: "" };
        if (parent.problems.length < MAX_PROBLEMS_PER_CASE) {
          parent.problems.push(element);
          frame = { kind: "problem", element };
        }
      } else if ((name === "skipped" || name === "skip") && !parent.skipped) {
        parent.skipped = attributes(tag);
      }
    }
    this.stack.push(frame);
  }

  private close(): void {
    const frame = this.stack.pop();
    if (!frame) return;
    if (frame.kind === "case") this.addCase(readCase(frame));
    else if (frame.kind === "suite-problem") this.addCase(suiteProblemCase(frame.suite, frame.element));
    else if (frame.kind === "suite" && !frame.nestedSuite) addSuiteCounts(frame.attrs, this.suiteCounts);
  }

  private text(text: string): void {
    const top = this.stack[this.stack.length - 1];
    if (!top || (top.kind !== "problem" && top.kind !== "suite-problem")) return;
    const element = top.element;
    if (element.text.length < MAX_TEXT) element.text += text.length + element.text.length > MAX_TEXT ? text.slice(0, MAX_TEXT - element.text.length) : text;
  }

  private addCase(c: JUnitCase): void {
    if (this.report.cases.length >= this.limits.maxCases) this.stop(`more than ${count(this.limits.maxCases)} test cases`);
    const report = this.report;
    report.cases.push(c);
    report.total++;
    if (c.status === "passed") report.passed++;
    else if (c.status === "failed") report.failed++;
    else if (c.status === "error") report.errored++;
    else report.skipped++;
  }
}

/** A report left out at a cap: empty, with the problem the check shows. */
export function tooLargeReport(source: string, why: string): ParsedJUnit {
  const report = emptyReport();
  report.problems.push(`${source}: the report was too large (${why}); none of it was counted`);
  return { report, isJUnit: true, mentionsTestSuite: true, tooLarge: why };
}

function suiteFrame(tag: SaxesTagPlain, parentName: string | null, parentFile: string | null): Frame & { kind: "suite" } {
  const attrs = attributes(tag);
  return { kind: "suite", name: attrs.name ?? parentName, file: attrs.file ?? attrs.filepath ?? parentFile, attrs, nestedSuite: false, suiteProblem: false };
}

function attributes(tag: SaxesTagPlain): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(tag.attributes)) out[localName(name)] = value.length > MAX_ATTR ? value.slice(0, MAX_ATTR) : value;
  return out;
}

function readCase(frame: Frame & { kind: "case" }): JUnitCase {
  const a = frame.attrs;
  const failure = frame.problems.find((p) => p.name === "failure");
  const error = frame.problems.find((p) => p.name === "error");
  const skipped = frame.skipped;
  const problem = failure ?? error;
  const notRun = a.status === "skipped" || a.status === "notrun" || a.status === "disabled";
  const status: CaseStatus = failure ? "failed" : error ? "error" : skipped || notRun ? "skipped" : "passed";
  const details = frame.problems
    .map((p) => p.text.trim())
    .filter(Boolean)
    .join("\n\n");
  const line = a.line !== undefined && /^\d+$/.test(a.line.trim()) ? Number(a.line) : null;
  const time = a.time !== undefined ? Number(a.time.replace(/,/g, "")) : NaN;
  return {
    suite: frame.suite,
    classname: a.classname ?? a.class ?? null,
    name: a.name ?? "(unnamed test)",
    file: a.file ?? a.filepath ?? frame.suiteFile,
    line,
    status,
    message: problem?.attrs.message?.trim() || (skipped?.message?.trim() ?? null) || null,
    type: problem?.attrs.type ?? null,
    details: details || null,
    timeSeconds: Number.isFinite(time) ? time : null,
  };
}

/** Jenkins: an <error> or <failure> of the suite itself (setup, a class that would not load) is one errored case. */
function suiteProblemCase(suite: Frame & { kind: "suite" }, element: ProblemElement): JUnitCase {
  const text = element.text.trim();
  return {
    suite: suite.name,
    classname: suite.name,
    name: "(test suite)",
    file: suite.file,
    line: null,
    status: "error",
    message: element.attrs.message?.trim() || null,
    type: element.attrs.type ?? null,
    details: text || null,
    timeSeconds: null,
  };
}

/** Reports that give only counts (no testcase elements): the innermost suites' attributes. */
function addSuiteCounts(attrs: Record<string, string>, into: JUnitCounts): void {
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : 0);
  const total = num(attrs.tests);
  const failed = num(attrs.failures);
  const errored = num(attrs.errors);
  const skipped = num(attrs.skipped) || num(attrs.skip) || num(attrs.disabled);
  into.total += total;
  into.failed += failed;
  into.errored += errored;
  into.skipped += skipped;
  into.passed += Math.max(0, total - failed - errored - skipped);
}

function localName(name: string): string {
  const colon = name.indexOf(":");
  return colon === -1 ? name : name.slice(colon + 1);
}

const count = (n: number) => n.toLocaleString("en-US");

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / 1024 / 1024} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${count(n)} bytes`;
}

/**
 * Escapes every `&` that does not start a character reference or one of XML's five entities, so a
 * bare `&` in a hand-written report (`a && b`) stays text instead of swallowing the rest of the
 * file up to the next `;`. `&nbsp;` (common in HTML-minded writers) becomes U+00A0. CDATA sections
 * and comments are passed through as they are. Linear: it holds back at most a few characters
 * between pieces.
 */
class AmpersandEscaper {
  private carry = "";
  private state: "text" | "cdata" | "comment" = "text";

  push(chunk: string): string {
    return this.run(this.carry + chunk, false);
  }

  end(): string {
    return this.run(this.carry, true);
  }

  private run(s: string, final: boolean): string {
    const out: string[] = [];
    let i = 0;
    this.carry = "";
    // Where the next `&` and `<!` are, found once each and reused: the scan stays linear.
    let amp = -2;
    let lt = -2;
    while (i < s.length) {
      if (this.state !== "text") {
        const closer = this.state === "cdata" ? "]]>" : "-->";
        const end = s.indexOf(closer, i);
        if (end === -1) {
          // Keep back what could be the start of the closer.
          const keep = final ? s.length : Math.max(i, s.length - (closer.length - 1));
          out.push(s.slice(i, keep));
          this.carry = s.slice(keep);
          return out.join("");
        }
        out.push(s.slice(i, end + closer.length));
        i = end + closer.length;
        this.state = "text";
        continue;
      }
      if (amp !== -1 && amp < i) amp = s.indexOf("&", i);
      if (lt !== -1 && lt < i) lt = s.indexOf("<!", i);
      const next = amp === -1 ? lt : lt === -1 ? amp : Math.min(amp, lt);
      if (next === -1) {
        // A `<` at the very end may begin `<!--` or `<![CDATA[` in the next piece.
        const keep = !final && s.endsWith("<") ? s.length - 1 : s.length;
        out.push(s.slice(i, keep));
        this.carry = s.slice(keep);
        return out.join("");
      }
      out.push(s.slice(i, next));
      const rest = s.length - next;
      if (next === lt) {
        if (s.startsWith("<![CDATA[", next)) {
          out.push("<![CDATA[");
          i = next + 9;
          this.state = "cdata";
        } else if (s.startsWith("<!--", next)) {
          out.push("<!--");
          i = next + 4;
          this.state = "comment";
        } else if (!final && rest < 9 && ("<![CDATA[".startsWith(s.slice(next)) || "<!--".startsWith(s.slice(next)))) {
          this.carry = s.slice(next);
          return out.join("");
        } else {
          out.push("<!");
          i = next + 2;
        }
        continue;
      }
      REFERENCE.lastIndex = next;
      const ref = REFERENCE.exec(s);
      if (ref) {
        out.push(ref[1] === "nbsp" ? "&#160;" : ref[0]);
        i = next + ref[0].length;
      } else if (!final && rest < MAX_REFERENCE && !/[^&#\w]/.test(s.slice(next + 1))) {
        this.carry = s.slice(next);
        return out.join("");
      } else {
        out.push("&amp;");
        i = next + 1;
      }
    }
    return out.join("");
  }
}

const REFERENCE = /&(?:#x[0-9a-fA-F]{1,8}|#[0-9]{1,10}|(lt|gt|amp|quot|apos|nbsp));/y;
const MAX_REFERENCE = 14;

export function mergeReports(reports: readonly JUnitReport[]): JUnitReport {
  const out = emptyReport();
  for (const r of reports) {
    out.total += r.total;
    out.passed += r.passed;
    out.failed += r.failed;
    out.errored += r.errored;
    out.skipped += r.skipped;
    out.cases.push(...r.cases);
    out.problems.push(...r.problems);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Where a failure is: repository-relative path and line.

export interface LocateOptions {
  /**
   * Maps a path as the report wrote it (absolute in the container, relative to some directory)
   * to a path relative to the repository root, or null when it is outside the repository. The
   * runner can check the workspace (and find a bare file name such as Go's `x_test.go`).
   * Default: `defaultRepoPath` with `roots`.
   */
  resolvePath?: ((path: string) => string | null) | undefined;
  /** Absolute directories where the repository is mounted (`/workspaces/widgets`). */
  roots?: readonly string[] | undefined;
}

export interface Location {
  path: string;
  line: number;
  column: number | null;
}

/** Frames from dependencies and runtimes never locate a failure in the user's code. */
const FOREIGN = /(^|\/)(node_modules|site-packages|dist-packages|vendor|\.venv|venv|\.pnpm|jdk|go\/src\/runtime|usr\/lib|usr\/local\/lib)\//;
const FRAME_PATTERNS = [
  // Python: File "tests/test_x.py", line 12, in test_y
  /File "([^"\n]+)", line (\d+)/g,
  // path:line[:col] — jest/vitest/mocha stacks, pytest/go/PHP output, Java (Foo.java:12).
  /(?:^|[\s(['"<❯@=])((?:file:\/\/)?(?:[A-Za-z]:)?[\w.~/\\@+-]*?[\w-]+\.[A-Za-z][A-Za-z0-9]{0,9}):(\d+)(?::(\d+))?/gm,
];

/** The repository-relative path for a path from a report, or null (outside, foreign, unsafe). */
export function defaultRepoPath(raw: string, roots: readonly string[] = []): string | null {
  let path = raw.trim().replace(/^file:\/\//, "").replace(/\\/g, "/");
  if (!path || FOREIGN.test(path) || /^(node:|internal\/|<)/.test(path)) return null;
  for (const root of [...roots].sort((a, b) => b.length - a.length)) {
    const r = root.replace(/\\/g, "/").replace(/\/+$/, "");
    if (r && (path === r || path.startsWith(`${r}/`))) {
      path = path.slice(r.length + 1);
      break;
    }
  }
  if (path.startsWith("/") || /^[A-Za-z]:\//.test(path)) return null;
  path = path.replace(/^(\.\/)+/, "");
  const parts = path.split("/");
  if (!path || parts.some((p) => p === ".." || p === "")) return null;
  return path;
}

/** Candidates `path:line` in a failure's message and details, in order of appearance. */
export function frameLocations(text: string): Array<{ path: string; line: number; column: number | null }> {
  const found: Array<{ at: number; path: string; line: number; column: number | null }> = [];
  for (const pattern of FRAME_PATTERNS) {
    pattern.lastIndex = 0;
    for (const m of text.matchAll(pattern)) {
      const line = Number(m[2]);
      if (!Number.isSafeInteger(line) || line < 1) continue;
      found.push({ at: m.index ?? 0, path: m[1]!, line, column: m[3] ? Number(m[3]) : null });
    }
  }
  return found.sort((a, b) => a.at - b.at).map(({ path, line, column }) => ({ path, line, column }));
}

export function locateCase(c: JUnitCase, options: LocateOptions = {}): Location | null {
  const resolve = options.resolvePath ?? ((p: string) => defaultRepoPath(p, options.roots ?? []));
  const declared = c.file ? resolve(c.file) : null;
  const text = [c.message, c.details].filter(Boolean).join("\n");
  const frames = frameLocations(text)
    .map((f) => ({ ...f, path: resolve(f.path) }))
    .filter((f): f is Location => f.path !== null);
  // The frame in the test's own file is the assertion; otherwise the first frame in the repository.
  const inDeclared = declared ? frames.find((f) => f.path === declared) : undefined;
  const frame = inDeclared ?? frames[0];
  if (frame) return frame;
  if (declared) return { path: declared, line: c.line && c.line > 0 ? c.line : 1, column: null };
  // vitest and some others put the file in classname.
  const fromClass = c.classname && /\.[A-Za-z]{1,10}$/.test(c.classname) && c.classname.includes("/") ? resolve(c.classname) : null;
  return fromClass ? { path: fromClass, line: 1, column: null } : null;
}

/** `Group › name`, without a group the name already starts with (jest-junit repeats it). */
export function caseTitle(c: JUnitCase): string {
  const adds = (group: string | null): group is string => !!group && group !== c.name && !c.name.startsWith(`${group} `);
  const group = adds(c.classname) ? c.classname : adds(c.suite) ? c.suite : null;
  return group ? `${group} › ${c.name}` : c.name;
}

export interface AnnotationOptions extends LocateOptions {
  redact: (text: string) => string;
  /** At most this many annotations (the rest are counted in `unannotated`). */
  max?: number | undefined;
}

export interface JUnitAnnotations {
  annotations: CheckAnnotation[];
  /** Failed tests without a place in the repository, or over `max`. */
  unannotated: number;
}

const MESSAGE_LINES = 20;

/** One `failure` annotation per failed or errored test that can be placed in the repository. */
export function junitAnnotations(report: JUnitReport, options: AnnotationOptions): JUnitAnnotations {
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const annotations: CheckAnnotation[] = [];
  let unannotated = 0;
  for (const c of report.cases) {
    if (c.status !== "failed" && c.status !== "error") continue;
    const where = annotations.length < max ? locateCase(c, options) : null;
    if (!where) {
      unannotated++;
      continue;
    }
    const details = c.details ? options.redact(c.details) : null;
    const head = c.message ? options.redact(c.message) : details ? details.split("\n").slice(0, MESSAGE_LINES).join("\n") : null;
    const message = [c.status === "error" ? "Error" : null, c.type, head].filter(Boolean).join(": ") || "Test failed";
    const annotation: CheckAnnotation = {
      path: where.path,
      start_line: where.line,
      end_line: where.line,
      annotation_level: "failure",
      title: options.redact(caseTitle(c)),
      message,
    };
    if (where.column !== null) annotation.start_column = where.column;
    if (details && details !== head) annotation.raw_details = details;
    annotations.push(annotation);
  }
  return { annotations, unannotated };
}

/** The failed tests as the summary lists them. */
export function failureLines(report: JUnitReport, options: LocateOptions = {}): FailureLine[] {
  return report.cases
    .filter((c) => c.status === "failed" || c.status === "error")
    .map((c) => {
      const where = locateCase(c, options);
      const firstLine = c.details?.split("\n").find((l) => l.trim()) ?? null;
      return { name: caseTitle(c), location: where ? `${where.path}:${where.line}` : null, message: c.message ?? firstLine };
    });
}
