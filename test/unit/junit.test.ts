import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  caseTitle,
  defaultRepoPath,
  failureLines,
  frameLocations,
  junitAnnotations,
  locateCase,
  mergeReports,
  parseJUnit,
  parseJUnitStream,
  type JUnitCase,
} from "../../src/ci/junit.js";
import { createRedactor } from "../../src/publish/redact.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/junit/${name}`, import.meta.url), "utf8");
const redact = createRedactor([]);
const counts = (r: { total: number; passed: number; failed: number; errored: number; skipped: number }) => ({
  total: r.total,
  passed: r.passed,
  failed: r.failed,
  errored: r.errored,
  skipped: r.skipped,
});

describe("parseJUnit: reading hostile and hand-written XML", () => {
  it("attributes in both quotes, CDATA and entities, namespace prefixes, a DOCTYPE with an internal subset, a BOM", () => {
    const xml = `\ufeff<?xml version="1.0"?><!DOCTYPE x [ <!ENTITY e "v"> ]><!-- c --><j:testsuite xmlns:j="u" j:name="s&amp;t"><testcase name='a > b' file="x.py"><failure message="1 &lt; 2 &#x41;&#66;">t&lt;1<![CDATA[<raw>&amp; a && b]]></failure></testcase></j:testsuite>`;
    const r = parseJUnit(xml);
    expect(r.cases).toEqual([expect.objectContaining({ suite: "s&t", name: "a > b", status: "failed", message: "1 < 2 AB", details: "t<1<raw>&amp; a && b" })]);
  });
  it("a bare & in text or attributes stays text instead of swallowing what follows; &nbsp; and unknown entities as written", () => {
    const r = parseJUnit(`<testsuite><testcase name="a & b"><failure message="x&nbsp;y &bogus;">left & right</failure></testcase><testcase name="next"/></testsuite>`);
    expect(r.cases.map((c) => c.name)).toEqual(["a & b", "next"]);
    expect(r.cases[0]).toMatchObject({ message: "x\u00a0y &bogus;", details: "left & right" });
  });
  it("an external entity is never fetched nor expanded", () => {
    const r = parseJUnit(`<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><testsuite><testcase name="t"><failure message="&x;"/></testcase></testsuite>`);
    expect(r.cases[0]!.message).toBe("&x;");
  });
  it("never throws on broken input", () => {
    for (const text of ["<<<>>>&&&", `<testsuite b="unterminated`, `<testsuite><testcase name="a">x < y</c><d>`, "\u0000\u0001<testsuite>"]) {
      expect(() => parseJUnit(text)).not.toThrow();
    }
  });
  it("several root elements: each testsuite among them counts", () => {
    expect(counts(parseJUnit(`<testsuite><testcase name="a"/></testsuite><other/><testsuite><testcase name="b"><skipped/></testcase></testsuite>`))).toEqual({ total: 2, passed: 1, failed: 0, errored: 0, skipped: 1 });
  });
});

describe("parseJUnit: dialects", () => {
  it("jest-junit", () => {
    const r = parseJUnit(fixture("jest.xml"));
    expect(counts(r)).toEqual({ total: 3, passed: 1, failed: 1, errored: 0, skipped: 1 });
    expect(r.cases[1]).toMatchObject({ suite: "sum", name: "sum subtracts", status: "failed", message: null, timeSeconds: 0.003 });
    expect(r.cases[1]!.details).toContain("Expected: 2");
  });
  it("pytest (file and line attributes, error on setup, skipped with a message)", () => {
    const r = parseJUnit(fixture("pytest.xml"));
    expect(counts(r)).toEqual({ total: 4, passed: 1, failed: 1, errored: 1, skipped: 1 });
    expect(r.cases[1]).toMatchObject({ classname: "tests.test_calc", name: "test_bad", file: "tests/test_calc.py", line: 6, message: "assert 3 == 4\n +  where 3 = add(1, 2)" });
    expect(r.cases[2]).toMatchObject({ status: "error", message: 'failed on setup with "RuntimeError: db down"' });
    expect(r.cases[3]).toMatchObject({ status: "skipped", message: "not today" });
  });
  it("vitest", () => {
    const r = parseJUnit(fixture("vitest.xml"));
    expect(counts(r)).toEqual({ total: 2, passed: 1, failed: 1, errored: 0, skipped: 0 });
    expect(r.cases[1]).toMatchObject({ name: "math > divides", type: "AssertionError", message: "expected 2 to be 3 // Object.is equality" });
  });
  it("Maven surefire: CDATA, DOCTYPE, properties; a flaky failure that passed on rerun counts as passed", () => {
    const r = parseJUnit(fixture("surefire.xml"));
    expect(counts(r)).toEqual({ total: 3, passed: 2, failed: 1, errored: 0, skipped: 0 });
    expect(r.cases[1]!.details).toContain("at com.acme.CalcTest.divides(CalcTest.java:21)");
  });
  it("go-junit-report", () => {
    const r = parseJUnit(fixture("go.xml"));
    expect(counts(r)).toEqual({ total: 2, passed: 1, failed: 1, errored: 0, skipped: 0 });
  });
  it("PHPUnit: nested suites, the innermost suite names the cases", () => {
    const r = parseJUnit(fixture("phpunit.xml"));
    expect(counts(r)).toEqual({ total: 2, passed: 1, failed: 1, errored: 0, skipped: 0 });
    expect(r.cases[1]).toMatchObject({ suite: "Tests\\CalcTest", classname: "Tests.CalcTest", file: "/app/tests/CalcTest.php", line: 15 });
  });
  it("a report with counts but no testcase elements: the innermost suites' attributes", () => {
    const r = parseJUnit(`<testsuites tests="99"><testsuite name="a" tests="10" failures="2" errors="1" skipped="3"/><testsuite name="b" tests="4" skip="1"/></testsuites>`);
    expect(counts(r)).toEqual({ total: 14, passed: 7, failed: 2, errored: 1, skipped: 4 });
  });
  it("not JUnit: a problem, no counts", () => {
    for (const text of ["not xml at all", "<html><body>500</body></html>", ""]) {
      const r = parseJUnit(text, "junit.xml");
      expect(counts(r)).toEqual({ total: 0, passed: 0, failed: 0, errored: 0, skipped: 0 });
      expect(r.problems).toEqual(["junit.xml: not a JUnit report (no <testsuites> or <testsuite> element)"]);
    }
  });
  it("a report cut off mid-write still counts what it holds", () => {
    const whole = fixture("jest.xml");
    const r = parseJUnit(whole.slice(0, whole.indexOf("sum skipped")));
    expect(counts(r)).toMatchObject({ passed: 1, failed: 1 });
  });
  it("merges several files", () => {
    const r = mergeReports([parseJUnit(fixture("jest.xml")), parseJUnit(fixture("pytest.xml")), parseJUnit("junk", "x.xml")]);
    expect(counts(r)).toEqual({ total: 7, passed: 2, failed: 2, errored: 1, skipped: 2 });
    expect(r.cases).toHaveLength(7);
    expect(r.problems).toHaveLength(1);
  });
});

describe("where a failure is", () => {
  it("repository paths: roots stripped, foreign and escaping paths refused", () => {
    const roots = ["/workspaces/widgets", "/app"];
    const table: Array<[string, string | null]> = [
      ["src/a.ts", "src/a.ts"],
      ["./src/a.ts", "src/a.ts"],
      ["/workspaces/widgets/src/a.ts", "src/a.ts"],
      ["file:///app/tests/x.php", "tests/x.php"],
      ["C:\\build\\x.cs", null],
      ["/etc/passwd", null],
      ["../outside.ts", null],
      ["src/../../x.ts", null],
      ["/workspaces/widgets/node_modules/jest/x.js", null],
      ["/usr/lib/python3.11/unittest/case.py", null],
      ["node:internal/process/task_queues", null],
      ["", null],
    ];
    for (const [raw, expected] of table) expect([raw, defaultRepoPath(raw, roots)]).toEqual([raw, expected]);
  });
  it("frames in stack traces and test output", () => {
    expect(frameLocations("    at Object.toBe (/w/src/sum.test.js:9:23)\n ❯ test/m.test.ts:9:19\ntests/t.py:8: AssertionError\n  File \"tests/t.py\", line 12, in test_x\n\tat com.x.CalcTest.divides(CalcTest.java:21)")).toEqual([
      { path: "/w/src/sum.test.js", line: 9, column: 23 },
      { path: "test/m.test.ts", line: 9, column: 19 },
      { path: "tests/t.py", line: 8, column: null },
      { path: "tests/t.py", line: 12, column: null },
      { path: "CalcTest.java", line: 21, column: null },
    ]);
    expect(frameLocations("listening on localhost:8080 at 12:30:45, version 1.2")).toEqual([]);
  });
  const located = (file: string, options: Parameters<typeof locateCase>[1] = {}) =>
    parseJUnit(fixture(file))
      .cases.filter((c) => c.status === "failed" || c.status === "error")
      .map((c) => locateCase(c, options));
  it("jest: the first frame in the repository (not node_modules)", () => {
    expect(located("jest.xml", { roots: ["/workspaces/widgets"] })).toEqual([{ path: "src/sum.test.js", line: 9, column: 23 }]);
  });
  it("pytest: the assertion line from the text, not the 0-based line attribute; a setup error in conftest", () => {
    expect(located("pytest.xml")).toEqual([
      { path: "tests/test_calc.py", line: 8, column: null },
      { path: "tests/conftest.py", line: 5, column: null },
    ]);
  });
  it("vitest: the ❯ frame", () => {
    expect(located("vitest.xml")).toEqual([{ path: "test/math.test.ts", line: 9, column: 19 }]);
  });
  it("PHPUnit: the frame in the test's own file, with the mount root stripped", () => {
    expect(located("phpunit.xml", { roots: ["/app"] })).toEqual([{ path: "tests/CalcTest.php", line: 17, column: null }]);
  });
  it("Java and Go name bare files: a resolver that knows the repository finds them", () => {
    const files = ["src/test/java/com/acme/CalcTest.java", "calc/calc_test.go"];
    const resolvePath = (p: string) => files.find((f) => f === p || f.endsWith(`/${p}`)) ?? null;
    expect(located("surefire.xml", { resolvePath })).toEqual([{ path: "src/test/java/com/acme/CalcTest.java", line: 21, column: null }]);
    expect(located("go.xml", { resolvePath })).toEqual([{ path: "calc/calc_test.go", line: 14, column: null }]);
  });
  it("falls back to the file attribute, then a path-like classname, else nowhere", () => {
    const base: JUnitCase = { suite: null, classname: null, name: "t", file: null, line: null, status: "failed", message: "boom", type: null, details: null, timeSeconds: null };
    expect(locateCase({ ...base, file: "spec/a_spec.rb", line: 4 })).toEqual({ path: "spec/a_spec.rb", line: 4, column: null });
    expect(locateCase({ ...base, file: "spec/a_spec.rb", line: 0 })).toEqual({ path: "spec/a_spec.rb", line: 1, column: null });
    expect(locateCase({ ...base, classname: "test/a.test.ts" })).toEqual({ path: "test/a.test.ts", line: 1, column: null });
    expect(locateCase({ ...base, classname: "com.acme.CalcTest" })).toBeNull();
  });
});

describe("annotations", () => {
  it("one failure annotation per located failed test, with title, message and raw details", () => {
    const r = parseJUnit(fixture("pytest.xml"));
    const { annotations, unannotated } = junitAnnotations(r, { redact });
    expect(unannotated).toBe(0);
    expect(annotations).toEqual([
      {
        path: "tests/test_calc.py",
        start_line: 8,
        end_line: 8,
        annotation_level: "failure",
        title: "tests.test_calc › test_bad",
        message: "assert 3 == 4\n +  where 3 = add(1, 2)",
        raw_details: r.cases[1]!.details,
      },
      {
        path: "tests/conftest.py",
        start_line: 5,
        end_line: 5,
        annotation_level: "failure",
        title: "tests.test_calc › test_fixture",
        message: 'Error: failed on setup with "RuntimeError: db down"',
        raw_details: r.cases[2]!.details,
      },
    ]);
  });
  it("columns, the type in the message, and no raw details when they add nothing", () => {
    const { annotations } = junitAnnotations(parseJUnit(fixture("vitest.xml")), { redact });
    expect(annotations[0]).toMatchObject({ path: "test/math.test.ts", start_line: 9, start_column: 19, title: "test/math.test.ts › math > divides", message: "AssertionError: expected 2 to be 3 // Object.is equality" });
    const jest = junitAnnotations(parseJUnit(fixture("jest.xml")), { redact, roots: ["/workspaces/widgets"] }).annotations[0]!;
    // No message attribute: the first lines of the stack are the message, and raw details would repeat them.
    expect(jest.message.startsWith("Error: expect(received).toBe(expected)")).toBe(true);
    expect(jest.raw_details).toBeUndefined();
    expect(jest.title).toBe("sum subtracts");
  });
  it("secrets in failure text are redacted", () => {
    const xml = `<testsuite><testcase name="t" file="a.py"><failure message="token ghp_${"A".repeat(36)}">a.py:3: leaked sk-ant-api03-abcdefghijkl</failure></testcase></testsuite>`;
    const [a] = junitAnnotations(parseJUnit(xml), { redact }).annotations;
    expect(JSON.stringify(a)).not.toMatch(/ghp_A|sk-ant-api03-abcdef/);
    expect(a!.message).toBe("token [redacted]");
  });
  it("unplaceable failures and those over the limit are counted, not annotated", () => {
    const cases = Array.from({ length: 5 }, (_, i) => `<testcase name="t${i}" file="a.py" line="${i + 1}"><failure message="m"/></testcase>`).join("");
    const xml = `<testsuite>${cases}<testcase name="x" classname="Foo"><failure message="nowhere"/></testcase></testsuite>`;
    const { annotations, unannotated } = junitAnnotations(parseJUnit(xml), { redact, max: 3 });
    expect(annotations.map((a) => a.start_line)).toEqual([1, 2, 3]);
    expect(unannotated).toBe(3);
  });
  it("failure lines for the summary", () => {
    expect(failureLines(parseJUnit(fixture("jest.xml")), { roots: ["/workspaces/widgets"] })).toEqual([
      { name: "sum subtracts", location: "src/sum.test.js:9", message: "Error: expect(received).toBe(expected) // Object.is equality" },
    ]);
  });
  it("titles avoid repeating the class name", () => {
    const c: JUnitCase = { suite: "S", classname: "Foo", name: "Foo does x", file: null, line: null, status: "failed", message: null, type: null, details: null, timeSeconds: null };
    expect(caseTitle(c)).toBe("S › Foo does x");
    expect(caseTitle({ ...c, name: "bar" })).toBe("Foo › bar");
    expect(caseTitle({ ...c, classname: null, suite: null })).toBe("Foo does x");
  });
});

describe("parseJUnit: Jenkins' counting", () => {
  it('a testcase with status="disabled" is skipped; a failure inside it still fails it', () => {
    const r = parseJUnit(`<testsuite><testcase name="off" status="disabled"/><testcase name="off but failed" status="disabled"><failure message="no"/></testcase><testcase name="on" status="run"/></testsuite>`);
    expect(counts(r)).toEqual({ total: 3, passed: 1, failed: 1, errored: 0, skipped: 1 });
  });
  it("an <error> or <failure> directly inside a <testsuite> is one errored case of that suite, located like any other", () => {
    const r = parseJUnit(`<testsuites>
      <testsuite name="loads" file="tests/test_db.py"><error message="ImportError: no module db" type="ImportError">tests/test_db.py:3: ImportError</error><error message="second"/></testsuite>
      <testsuite name="setup"><failure message="fixture broke"/><testcase name="ran"/></testsuite>
    </testsuites>`);
    expect(counts(r)).toEqual({ total: 3, passed: 1, failed: 0, errored: 2, skipped: 0 });
    expect(r.cases[0]).toMatchObject({ suite: "loads", name: "(test suite)", status: "error", message: "ImportError: no module db", type: "ImportError", file: "tests/test_db.py" });
    expect(junitAnnotations(r, { redact }).annotations[0]).toMatchObject({ path: "tests/test_db.py", start_line: 3, title: "loads › (test suite)", message: "Error: ImportError: ImportError: no module db" });
  });
  it("an <error> inside a testcase's <system-out> or <properties> is not a suite error", () => {
    expect(counts(parseJUnit(`<testsuite><properties><error/></properties><testcase name="a"><system-out><failure/></system-out></testcase></testsuite>`))).toEqual({ total: 1, passed: 1, failed: 0, errored: 0, skipped: 0 });
  });
});

describe("parseJUnit: caps", () => {
  const cases = (n: number) => `<testsuite>${Array.from({ length: n }, (_, i) => `<testcase name="t${i}"${i === 0 ? "><failure/></testcase>" : "/>"}`).join("")}</testsuite>`;
  it("within every cap the report counts in full", () => {
    expect(counts(parseJUnit(cases(10), "r.xml", { maxCases: 10, maxBytes: cases(10).length, maxDepth: 3, maxElements: 12 }))).toMatchObject({ total: 10, failed: 1 });
  });
  it("over a cap the report is left out whole (a partial count would be wrong) with a problem naming the file and the cap", () => {
    const table: Array<[Parameters<typeof parseJUnit>[2], string]> = [
      [{ maxCases: 9 }, "more than 9 test cases"],
      [{ maxBytes: 100 }, "larger than 100 bytes"],
      [{ maxBytes: 1024 }, "larger than 1 KiB"],
      [{ maxElements: 5 }, "more than 5 elements"],
    ];
    for (const [limits, why] of table) {
      const r = parseJUnit(cases(10) + " ".repeat(1024), "big.xml", limits);
      expect(counts(r)).toEqual({ total: 0, passed: 0, failed: 0, errored: 0, skipped: 0 });
      expect(r.cases).toEqual([]);
      expect(r.problems).toEqual([`big.xml: the report was too large (${why}); none of it was counted`]);
    }
    const deep = `<testsuite>${"<x>".repeat(300)}${"</x>".repeat(300)}<testcase name="t"/></testsuite>`;
    expect(parseJUnit(deep, "deep.xml").problems).toEqual(["deep.xml: the report was too large (nested more than 256 elements deep); none of it was counted"]);
  });
  it("a failure's text and a huge attribute are kept only in part", () => {
    const r = parseJUnit(`<testsuite><testcase name="${"n".repeat(20_000)}"><failure>${"x".repeat(200_000)}</failure></testcase></testsuite>`);
    expect(r.cases[0]!.name.length).toBe(8 * 1024);
    expect(r.cases[0]!.details!.length).toBe(64 * 1024);
  });
});

describe("parseJUnitStream: pieces split anywhere", () => {
  it("one byte at a time: entities, CDATA, comments and multi-byte characters split across pieces read as a whole", async () => {
    const xml = `<testsuite name="s &amp; t"><!-- a && b --><testcase name="ünï &lt;x&gt; & more"><failure message="&#x41;&nbsp;B"><![CDATA[if (a && b) { x(); } ]] > ]]>tail & end</failure></testcase></testsuite>`;
    const bytes = Buffer.from(xml);
    async function* pieces() {
      for (let i = 0; i < bytes.length; i++) yield bytes.subarray(i, i + 1);
    }
    const streamed = await parseJUnitStream(pieces(), "r.xml");
    expect(streamed.report.cases).toEqual(parseJUnit(xml).cases);
    expect(streamed.report.cases[0]).toMatchObject({ suite: "s & t", name: "ünï <x> & more", message: "A\u00a0B", details: "if (a && b) { x(); } ]] > tail & end" });
  });
});

describe("parseJUnitStream: the event loop stays free", () => {
  it("a 6 MB report of 200,000 cases, streamed, never holds the loop for more than 150 ms (a machine under load included), and stops at the cap", async () => {
    const one = Buffer.from(`<testcase classname="c" name="a fairly ordinary test name"/>`);
    async function* report() {
      yield Buffer.from("<testsuites><testsuite>");
      const chunk = Buffer.concat(Array.from({ length: 1000 }, () => one));
      for (let i = 0; i < 200; i++) yield chunk;
      yield Buffer.from("</testsuite></testsuites>");
    }
    let last = performance.now();
    let worst = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }, 1);
    const parsed = await parseJUnitStream(report(), "huge.xml", { maxCases: 150_000 });
    clearInterval(timer);
    expect(parsed.tooLarge).toBe("more than 150,000 test cases");
    expect(parsed.report.problems).toEqual(["huge.xml: the report was too large (more than 150,000 test cases); none of it was counted"]);
    expect(worst, `the loop was held for ${worst.toFixed(0)} ms`).toBeLessThan(150);
    const whole = await parseJUnitStream(report(), "huge.xml", { maxBytes: 64 * 1024 * 1024, maxCases: 200_000 });
    expect(whole.report.total).toBe(200_000);
  }, 60_000);
});
