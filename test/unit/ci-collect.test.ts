// What the CI runner gathers on the host: the bounded log, JUnit files from an untrusted bridge
// directory's archive (real files, links and FIFOs, packed as Docker would), and paths placed in
// the commit's files, listed from the host's bare cache.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import * as tar from "tar-stream";
import { readBridgeArchive } from "../../src/ci/bridge-archive.js";
import { collectJUnit, commitPathResolver, LogCollector, trackedFiles } from "../../src/ci/collect.js";
import { logText, renderCiReport } from "../../src/ci/report.js";
import { secretLooking } from "../../src/ci/runner.js";
import { tempDir } from "../helpers/settings.js";

const same = (s: string) => s;
const suite = (name: string, failures = 0) =>
  `<testsuite name="${name}" tests="${failures + 1}" failures="${failures}"><testcase name="${name} ok"/>${Array.from({ length: failures }, (_, i) => `<testcase name="${name} bad ${i}"><failure message="no"/></testcase>`).join("")}</testsuite>`;

function bareWithCommit(files: Record<string, string>): { bare: string; sha: string } {
  const work = tempDir("devs-work-");
  execFileSync("git", ["init", "--quiet", "-b", "main", work]);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(work, path)), { recursive: true });
    writeFileSync(join(work, path), content);
  }
  execFileSync("git", ["-C", work, "add", "-A"]);
  execFileSync("git", ["-C", work, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "--quiet", "-m", "c"]);
  const bare = join(tempDir("devs-cache-"), "r.git");
  execFileSync("git", ["clone", "--quiet", "--bare", work, bare]);
  return { bare, sha: execFileSync("git", ["-C", work, "rev-parse", "HEAD"], { encoding: "utf8" }).trim() };
}

describe("LogCollector", () => {
  it("keeps everything while it fits", () => {
    const log = new LogCollector(100);
    for (const line of ["one", "two", "three"]) log.push(line);
    expect(log.text()).toBe("one\ntwo\nthree\n");
    expect(log.dropped).toBeNull();
    expect(log.lineCount).toBe(3);
  });

  it("keeps the last part within its bound and counts what it let go", () => {
    const log = new LogCollector(20);
    for (let i = 0; i < 10; i++) log.push(`line ${i}`); // 7 characters + newline each
    expect(log.text()).toBe("line 8\nline 9\n");
    expect(log.dropped).toEqual({ lines: 8, chars: 56 });
    expect(log.lineCount).toBe(10);
  });

  it("keeps only the end of a single line longer than the bound", () => {
    const log = new LogCollector(10);
    log.push("x".repeat(15) + "0123456789");
    expect(log.text()).toBe("0123456789\n");
    expect(log.dropped).toEqual({ lines: 0, chars: 15 });
  });

  it("the check's note counts the lines the collector dropped with those the text leaves out", () => {
    const text = logText("kept 1\nkept 2\n", same, false, 65_535, { lines: 1200, chars: 50_000 });
    expect(text).toBe("_The first 1,200 lines (50,000 characters) of the log are not shown._\n\n```text\nkept 1\nkept 2\n```");
    const report = renderCiReport(
      { conclusion: "success", command: "t", exitCode: 0, durationMs: 1, container: "c", headSha: "abcdef0", log: "kept\n", logDropped: { lines: 1, chars: 5 } },
      same,
    );
    expect(report.text).toBe("_The first 1 line (5 characters) of the log are not shown._\n\n```text\nkept\n```");
  });
});

/**
 * The directory as Docker's archive API sends it: a tar whose first component is the directory.
 * Piped at once: Node discards a child's unread output when the child exits.
 */
function archiveOf(dir: string): NodeJS.ReadableStream {
  const child = spawn("tar", ["-C", dirname(dir), "-c", basename(dir)], { stdio: ["ignore", "pipe", "inherit"] });
  return child.stdout.pipe(new PassThrough());
}

describe("collectJUnit: reports from the bridge directory's archive, read without trust", () => {
  it("merges every JUnit report below it (nested, in path order), leaves other XML alone", async () => {
    const dir = tempDir("devs-bridge-");
    mkdirSync(join(dir, "junit", "unit"), { recursive: true });
    writeFileSync(join(dir, "junit", "unit", "a.xml"), suite("a", 1));
    writeFileSync(join(dir, "b.XML"), `<?xml version="1.0"?>\n<testsuites>${suite("b")}</testsuites>`);
    writeFileSync(join(dir, "coverage.xml"), `<coverage line-rate="0.9"/>`);
    writeFileSync(join(dir, "notes.txt"), suite("txt", 3));
    const { report, files, problems } = await collectJUnit(archiveOf(dir));
    expect(files).toEqual(["b.XML", "junit/unit/a.xml"]);
    expect({ total: report.total, passed: report.passed, failed: report.failed }).toEqual({ total: 3, passed: 2, failed: 1 });
    expect(problems).toEqual([]);
  });

  it("a link is an entry of the archive, never followed to what it names; FIFOs are skipped; size, count and depth are bounded", async () => {
    const outside = tempDir("devs-outside-");
    writeFileSync(join(outside, "secret.xml"), suite("outside", 5));
    const dir = tempDir("devs-bridge-");
    symlinkSync(join(outside, "secret.xml"), join(dir, "link.xml"));
    symlinkSync(outside, join(dir, "linked-dir"));
    execFileSync("mkfifo", [join(dir, "pipe.xml")]);
    writeFileSync(join(dir, "big.xml"), `<testsuite>${" ".repeat(2048)}</testsuite>`);
    mkdirSync(join(dir, "1", "2", "3"), { recursive: true });
    writeFileSync(join(dir, "1", "2", "3", "deep.xml"), suite("deep"));
    writeFileSync(join(dir, "1", "shallow.xml"), suite("shallow"));
    const { files, problems, report } = await collectJUnit(archiveOf(dir), { maxFileBytes: 1024, maxDepth: 2 });
    expect(files).toEqual(["1/shallow.xml"]);
    expect(report.cases.map((c) => c.suite)).toEqual(["shallow"]);
    expect(problems).toEqual(["big.xml: the report was too large (larger than 1 KiB); none of it was counted"]);

    const many = tempDir("devs-bridge-");
    for (let i = 0; i < 5; i++) writeFileSync(join(many, `r${i}.xml`), suite(`r${i}`));
    const limited = await collectJUnit(archiveOf(many), { maxFiles: 3 });
    expect(limited.files).toHaveLength(3);
    expect(limited.problems).toEqual(["only the first 3 XML files in the bridge directory were read"]);
  });

  it("the test cases of all reports together are capped: a report past the cap is left out and named", async () => {
    const dir = tempDir("devs-bridge-");
    writeFileSync(join(dir, "a.xml"), suite("a", 2));
    writeFileSync(join(dir, "b.xml"), suite("b", 2));
    const { files, problems, report } = await collectJUnit(archiveOf(dir), { maxCases: 4 });
    // Whichever comes first in the archive counts.
    expect(files).toHaveLength(1);
    expect(report.total).toBe(3);
    const other = files[0] === "a.xml" ? "b.xml" : "a.xml";
    expect(problems).toEqual([`${other}: the report was too large (the reports hold more than 4 test cases in all); none of it was counted`]);
  });

  it("an archive over its bounds in entries or bytes is read up to them, with a note, not a crash", async () => {
    const dir = tempDir("devs-bridge-");
    for (let i = 0; i < 30; i++) writeFileSync(join(dir, `f${String(i).padStart(2, "0")}.txt`), "x".repeat(1000));
    writeFileSync(join(dir, "report.xml"), suite("r", 1));
    const entries = await collectJUnit(archiveOf(dir), { archive: { maxEntries: 10 } });
    expect(entries.problems).toEqual(["the bridge directory holds more than 10 entries; only the first 10 were read"]);
    expect(entries.archive.entries).toBe(10);
    const bytes = await collectJUnit(archiveOf(dir), { archive: { maxBytes: 5000 } });
    expect(bytes.archive.bytes).toBeLessThanOrEqual(5000);
    expect(bytes.problems).toHaveLength(1);
    expect(bytes.problems[0]).toMatch(/^the bridge directory holds more than 5,000 bytes of files; `[^`]+` and what follows were left out$/);
  });

  it("an archive cut short (a file changed while Docker packed it): the reports before the cut count, with a note; garbage is an error", async () => {
    const dir = tempDir("devs-bridge-");
    writeFileSync(join(dir, "a.xml"), suite("a", 1));
    writeFileSync(join(dir, "b.bin"), Buffer.alloc(64 * 1024, 1));
    const whole = execFileSync("tar", ["--sort=name", "-C", dirname(dir), "-c", basename(dir)]);
    const cut = await collectJUnit(Readable.from([whole.subarray(0, 20 * 1024)]));
    expect(cut.files).toEqual(["a.xml"]);
    expect(cut.archive.truncated).toBe(true);
    expect(cut.problems).toEqual(["the bridge directory's archive ended early (Unexpected end of data); only what came before was read"]);
    await expect(collectJUnit(Readable.from([Buffer.alloc(4096, 7)]))).rejects.toThrow(/the archive could not be read/);
  });

  it("an empty bridge directory is no reports, not an error", async () => {
    const { report, files, problems } = await collectJUnit(archiveOf(tempDir("devs-bridge-")));
    expect(files).toEqual([]);
    expect(problems).toEqual([]);
    expect(report.total).toBe(0);
  });

  it("a file that mentions test suites but is not JUnit is named for the check", async () => {
    const dir = tempDir("devs-bridge-");
    writeFileSync(join(dir, "odd.xml"), `<results><testsuite name="x"/></results>`);
    const { problems, files } = await collectJUnit(archiveOf(dir));
    expect(files).toEqual(["odd.xml"]);
    expect(problems).toEqual(["odd.xml: not a JUnit report (no <testsuites> or <testsuite> element)"]);
  });
});

describe("readBridgeArchive: entries as data, whatever their names say", () => {
  it("names that climb out or are absolute are dropped; hard links and devices are named, never content", async () => {
    const pack = tar.pack();
    pack.entry({ name: "devs-bridge/", type: "directory" });
    pack.entry({ name: "devs-bridge/../../etc/cron.d/x.xml", size: 3 }, "bad");
    pack.entry({ name: "devs-bridge/ok.xml", size: 2 }, "ok");
    pack.entry({ name: "devs-bridge/hard", type: "link", linkname: "/etc/shadow" });
    pack.entry({ name: "devs-bridge/tty", type: "character-device", devmajor: 5, devminor: 0 });
    pack.entry({ name: "devs-bridge/key", type: "symlink", linkname: "/host/key.pem" });
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    const seen: string[] = [];
    const summary = await readBridgeArchive(Readable.from([Buffer.concat(chunks)]), async (entry) => {
      seen.push(`${entry.type} ${entry.path}${entry.type === "symlink" ? ` -> ${entry.linkname}` : entry.type === "other" ? ` (${entry.kind})` : ""}`);
    });
    expect(seen).toEqual(["file ok.xml", "other hard (link)", "other tty (character-device)", "symlink key -> /host/key.pem"]);
    expect(summary.entries).toBe(4);
  });
});

describe("trackedFiles: the commit's files from the host's bare cache", () => {
  it("lists the commit's files, and never runs what a workspace's .git config asks for", async () => {
    const { bare, sha } = bareWithCommit({ "src/a.ts": "a\n", "docs/b.md": "b\n" });
    // A workspace the tests rewrote: were git to run there, the canary would appear.
    const canary = join(tempDir("devs-canary-"), "ran");
    const workspace = tempDir("devs-ws-");
    execFileSync("git", ["clone", "--quiet", bare, workspace]);
    execFileSync("git", ["-C", workspace, "config", "core.fsmonitor", `touch ${canary}; echo`]);
    expect([...(await trackedFiles(bare, sha))].sort()).toEqual(["docs/b.md", "src/a.ts"]);
    expect(existsSync(canary)).toBe(false);
    await expect(trackedFiles(bare, "--output=/tmp/x")).rejects.toThrow(/not a commit id/);
  });
});

describe("commitPathResolver: a report's path to a file of the commit", () => {
  const tracked = new Set(["src/calc.ts", "test/calc_test.go", "pkg/a/util_test.go", "pkg/b/util_test.go", "module/src/test/java/FooTest.java"]);
  const resolve = commitPathResolver(tracked, ["/workspaces/widgets", "/home/runner/ws"]);
  const cases: Array<[string, string | null]> = [
    ["src/calc.ts", "src/calc.ts"],
    ["./src/calc.ts", "src/calc.ts"],
    ["/workspaces/widgets/src/calc.ts", "src/calc.ts"],
    ["/home/runner/ws/test/calc_test.go", "test/calc_test.go"],
    ["calc_test.go", "test/calc_test.go"],
    ["src/test/java/FooTest.java", "module/src/test/java/FooTest.java"],
    ["util_test.go", null], // two files of that name: no guess
    ["src/missing.ts", null],
    ["/etc/passwd", null],
    ["../outside.ts", null],
    ["node_modules/x/index.js", null],
  ];
  for (const [raw, want] of cases) it(`${raw} → ${want}`, () => expect(resolve(raw)).toBe(want));
});

describe("secretLooking: env_vars values kept out of the check", () => {
  it("by name, and only values long enough to be secrets", () => {
    expect(secretLooking({ NPM_TOKEN: "npm_abcdef", DB_PASSWORD: "hunter22", STRIPE_API_KEY: "sk_test_1", GREETING: "hello world", SHORT_TOKEN: "abc", AUTH_HEADER: "Bearer xyz123" })).toEqual([
      "npm_abcdef",
      "hunter22",
      "sk_test_1",
      "Bearer xyz123",
    ]);
  });
});
