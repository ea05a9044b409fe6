// JUnit XML reports into counts and check-run annotations. Pure. The common dialects: Ant/Maven
// surefire, pytest, jest-junit, vitest, mocha, PHPUnit, go-junit-report, Gradle: <testsuites> and
// nested <testsuite> around <testcase> with <failure>, <error> or <skipped>. Where a failure is in
// the code comes from the testcase's file/line attributes or from `path:line` in its message or
// stack trace. The XML reader is small and forgiving (reports are often written by hand-rolled
// code): it never throws, and what it cannot read is reported as a problem, not a crash.
import type { CheckAnnotation } from "./checks.js";
import type { FailureLine, JUnitCounts } from "./report.js";

// ---------------------------------------------------------------------------------------------
// A tolerant XML reader: elements, attributes, text, CDATA, comments, PIs, DOCTYPE, entities.

export interface XmlElement {
  /** Local name (any namespace prefix removed). */
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text directly inside the element (CDATA included), entities decoded. */
  text: string;
}

const NAME = /[^\s/>=]+/y;
const ATTR = /\s*([^\s/>=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/y;

export function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: "#document", attrs: {}, children: [], text: "" };
  const stack: XmlElement[] = [root];
  const src = xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml;
  let i = 0;
  const top = () => stack[stack.length - 1]!;
  while (i < src.length) {
    const lt = src.indexOf("<", i);
    if (lt === -1) {
      top().text += decodeEntities(src.slice(i));
      break;
    }
    if (lt > i) top().text += decodeEntities(src.slice(i, lt));
    if (src.startsWith("<!--", lt)) {
      const end = src.indexOf("-->", lt + 4);
      i = end === -1 ? src.length : end + 3;
    } else if (src.startsWith("<![CDATA[", lt)) {
      const end = src.indexOf("]]>", lt + 9);
      top().text += src.slice(lt + 9, end === -1 ? src.length : end);
      i = end === -1 ? src.length : end + 3;
    } else if (src.startsWith("<?", lt)) {
      const end = src.indexOf("?>", lt + 2);
      i = end === -1 ? src.length : end + 2;
    } else if (src.startsWith("<!", lt)) {
      i = skipDeclaration(src, lt);
    } else if (src[lt + 1] === "/") {
      const end = src.indexOf(">", lt);
      const name = localName(src.slice(lt + 2, end === -1 ? src.length : end).trim());
      // Close the nearest open element of that name; a stray end tag is ignored.
      const at = stack.map((e) => e.name).lastIndexOf(name);
      if (at > 0) stack.length = at;
      i = end === -1 ? src.length : end + 1;
    } else {
      NAME.lastIndex = lt + 1;
      const nameMatch = NAME.exec(src);
      if (!nameMatch) {
        // A lone "<" in text.
        top().text += "<";
        i = lt + 1;
        continue;
      }
      const element: XmlElement = { name: localName(nameMatch[0]), attrs: {}, children: [], text: "" };
      let j = NAME.lastIndex;
      for (;;) {
        ATTR.lastIndex = j;
        const attr = ATTR.exec(src);
        if (!attr || attr[0].trim() === "") break;
        const value = attr[2] ?? attr[3] ?? attr[4] ?? "";
        element.attrs[localName(attr[1]!)] = decodeEntities(value);
        j = ATTR.lastIndex;
      }
      const close = src.indexOf(">", j);
      // A tag cut off by the end of the file (a report written half-way) is not an element.
      if (close === -1) break;
      const selfClosing = src[close - 1] === "/";
      top().children.push(element);
      if (!selfClosing) stack.push(element);
      i = close + 1;
    }
  }
  return root;
}

function skipDeclaration(src: string, from: number): number {
  let depth = 0;
  for (let k = from + 2; k < src.length; k++) {
    const c = src[k];
    if (c === "[") depth++;
    else if (c === "]") depth--;
    else if (c === ">" && depth <= 0) return k + 1;
  }
  return src.length;
}

function localName(name: string): string {
  const colon = name.indexOf(":");
  return colon === -1 ? name : name.slice(colon + 1);
}

const NAMED_ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'", nbsp: "\u00a0" };

export function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, body: string) => {
    if (body[0] === "#") {
      const code = body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED_ENTITIES[body.toLowerCase()] ?? whole;
  });
}

// ---------------------------------------------------------------------------------------------
// JUnit

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

export function parseJUnit(xml: string, source = "report"): JUnitReport {
  const report = emptyReport();
  const doc = parseXml(xml);
  const roots = doc.children.filter((e) => e.name === "testsuites" || e.name === "testsuite");
  if (roots.length === 0) {
    report.problems.push(`${source}: not a JUnit report (no <testsuites> or <testsuite> element)`);
    return report;
  }
  for (const root of roots) walk(root, null, null, report);
  if (report.cases.length === 0) addSuiteCounts(roots, report);
  return report;
}

function walk(element: XmlElement, suite: string | null, suiteFile: string | null, report: JUnitReport): void {
  for (const child of element.children) {
    if (child.name === "testsuite" || child.name === "testsuites") {
      walk(child, child.attrs.name ?? suite, child.attrs.file ?? child.attrs.filepath ?? suiteFile, report);
    } else if (child.name === "testcase") {
      addCase(readCase(child, suite, suiteFile), report);
    }
  }
}

function readCase(element: XmlElement, suite: string | null, suiteFile: string | null): JUnitCase {
  const a = element.attrs;
  const failure = element.children.find((c) => c.name === "failure");
  const error = element.children.find((c) => c.name === "error");
  const skipped = element.children.find((c) => c.name === "skipped" || c.name === "skip");
  const problem = failure ?? error;
  const status: CaseStatus = failure ? "failed" : error ? "error" : skipped || a.status === "skipped" || a.status === "notrun" ? "skipped" : "passed";
  const problems = element.children.filter((c) => c.name === "failure" || c.name === "error");
  const details = problems
    .map((p) => p.text.trim())
    .filter(Boolean)
    .join("\n\n");
  const line = a.line !== undefined && /^\d+$/.test(a.line.trim()) ? Number(a.line) : null;
  const time = a.time !== undefined ? Number(a.time.replace(/,/g, "")) : NaN;
  return {
    suite,
    classname: a.classname ?? a.class ?? null,
    name: a.name ?? "(unnamed test)",
    file: a.file ?? a.filepath ?? suiteFile,
    line,
    status,
    message: problem?.attrs.message?.trim() || (skipped?.attrs.message?.trim() ?? null) || null,
    type: problem?.attrs.type ?? null,
    details: details || null,
    timeSeconds: Number.isFinite(time) ? time : null,
  };
}

function addCase(c: JUnitCase, report: JUnitReport): void {
  report.cases.push(c);
  report.total++;
  if (c.status === "passed") report.passed++;
  else if (c.status === "failed") report.failed++;
  else if (c.status === "error") report.errored++;
  else report.skipped++;
}

/** Reports that give only counts (no testcase elements): the innermost suites' attributes. */
function addSuiteCounts(roots: XmlElement[], report: JUnitReport): void {
  const leaves: XmlElement[] = [];
  const collect = (e: XmlElement) => {
    const nested = e.children.filter((c) => c.name === "testsuite" || c.name === "testsuites");
    if (nested.length === 0) leaves.push(e);
    else nested.forEach(collect);
  };
  roots.forEach(collect);
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : 0);
  for (const leaf of leaves) {
    const total = num(leaf.attrs.tests);
    const failed = num(leaf.attrs.failures);
    const errored = num(leaf.attrs.errors);
    const skipped = num(leaf.attrs.skipped) || num(leaf.attrs.skip) || num(leaf.attrs.disabled);
    report.total += total;
    report.failed += failed;
    report.errored += errored;
    report.skipped += skipped;
    report.passed += Math.max(0, total - failed - errored - skipped);
  }
}

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
