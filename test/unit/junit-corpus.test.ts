// 282 JUnit reports collected from public projects (shared/corpus/junit, beside the repository),
// with the counts a reference reader gives for each in its manifest: every one must parse to
// exactly those counts, the broken ones without a crash. Counting follows Jenkins' JUnit plugin.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseJUnit, parseJUnitStream } from "../../src/ci/junit.js";

const CORPUS = [process.env.DEVS_JUNIT_CORPUS, join(import.meta.dirname, "..", "..", "..", "shared", "corpus", "junit")].find((d) => d && existsSync(join(d, "manifest.json")));
if (!CORPUS && process.env.CI) throw new Error("the JUnit corpus (shared/corpus/junit beside the repository, or DEVS_JUNIT_CORPUS) is missing");

interface Entry {
  id: string;
  file: string;
  expected: { total: number; passed: number; failed: number; errored: number; skipped: number; notJUnit?: boolean } | null;
}

describe.skipIf(!CORPUS)(`the JUnit corpus${CORPUS ? "" : " (skipped: shared/corpus/junit not found)"}`, () => {
  const manifest = CORPUS ? (JSON.parse(readFileSync(join(CORPUS, "manifest.json"), "utf8")) as Entry[]) : [];

  it("every report parses to the manifest's counts; a non-JUnit file is named as such", () => {
    const wrong: string[] = [];
    for (const entry of manifest) {
      const report = parseJUnit(readFileSync(join(CORPUS!, entry.file), "utf8"), entry.id);
      if (!entry.expected) continue;
      const { notJUnit, ...want } = entry.expected;
      const got = { total: report.total, passed: report.passed, failed: report.failed, errored: report.errored, skipped: report.skipped };
      const named = report.problems.some((p) => p.includes("not a JUnit report"));
      if (JSON.stringify(got) !== JSON.stringify(want) || named !== Boolean(notJUnit)) wrong.push(`${entry.id}: got ${JSON.stringify(got)}, want ${JSON.stringify(entry.expected)}`);
    }
    expect(manifest.length).toBeGreaterThan(250);
    expect(wrong).toEqual([]);
  });

  it("the stream parser, fed in pieces of 7 bytes that split characters, agrees with the whole-text parser", async () => {
    for (const entry of manifest.filter((e) => e.expected && !e.expected.notJUnit).slice(0, 60)) {
      const bytes = readFileSync(join(CORPUS!, entry.file));
      async function* pieces() {
        for (let i = 0; i < bytes.length; i += 7) yield bytes.subarray(i, i + 7);
      }
      const streamed = await parseJUnitStream(pieces(), entry.id);
      expect(streamed.report.cases).toEqual(parseJUnit(bytes.toString("utf8"), entry.id).cases);
    }
  });
});
