// What a CI run leaves behind, gathered on the host: the command's output (bounded in memory),
// JUnit XML reports from the bridge directory's archive, and a way to place a report's paths in
// the commit. The reports arrive as a tar stream from Docker's archive API (bridge-archive.ts),
// taken after the command's processes are dead, and every one is parsed as a stream with caps.
// The list of the commit's files comes from the host's own bare cache: host git never runs in the
// workspace, whose .git the tests could have rewritten (core.fsmonitor, hooks, filters run
// commands).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { readBridgeArchive, type ArchiveLimits, type ArchiveSummary } from "./bridge-archive.js";
import { defaultRepoPath, DEFAULT_JUNIT_LIMITS, emptyReport, formatBytes, JUnitStreamParser, mergeReports, tooLargeReport, type JUnitReport, type ParsedJUnit } from "./junit.js";

const run = promisify(execFile);

/** The last `maxChars` of a command's output, line by line, counting what it had to let go. */
export class LogCollector {
  private readonly lines: string[] = [];
  private chars = 0;
  private droppedLines = 0;
  private droppedChars = 0;
  private total = 0;

  constructor(private readonly maxChars = 2 * 1024 * 1024) {}

  push(line: string): void {
    this.total++;
    // A single enormous line keeps only its end.
    const kept = line.length > this.maxChars ? line.slice(line.length - this.maxChars) : line;
    if (kept.length < line.length) this.droppedChars += line.length - kept.length;
    this.lines.push(kept);
    this.chars += kept.length + 1;
    while (this.chars > this.maxChars && this.lines.length > 1) {
      const gone = this.lines.shift()!;
      this.chars -= gone.length + 1;
      this.droppedLines++;
      this.droppedChars += gone.length + 1;
    }
  }

  /** The kept lines, newline-terminated. */
  text(): string {
    return this.lines.length ? `${this.lines.join("\n")}\n` : "";
  }

  /** Lines seen in all. */
  get lineCount(): number {
    return this.total;
  }

  /** What was let go at the start; null when everything is kept. */
  get dropped(): { lines: number; chars: number } | null {
    return this.droppedChars > 0 ? { lines: this.droppedLines, chars: this.droppedChars } : null;
  }
}

export interface JUnitLimits {
  /** Directory levels below the bridge that are searched (default 6). */
  maxDepth?: number;
  /** XML files read at most (default 200). */
  maxFiles?: number;
  /** A bigger report is left out with a note (default 20 MiB). */
  maxFileBytes?: number;
  /** Test cases in all reports together (default 200,000); each report has its own cap too. */
  maxCases?: number;
  /** Bounds on the archive as a whole. */
  archive?: ArchiveLimits;
}

export interface CollectedJUnit {
  report: JUnitReport;
  /** Reports read, relative to the bridge directory. */
  files: string[];
  /** What could not be read, for the check's notes. */
  problems: string[];
  archive: ArchiveSummary;
}

/**
 * Every `*.xml` file in the archive of the bridge directory that is a JUnit report (a
 * `<testsuite>` or `<testsuites>` root), merged in path order. Other XML (coverage reports and
 * the like) is left alone without a note; XML that wraps a test suite in something else is named.
 */
export async function collectJUnit(archive: NodeJS.ReadableStream, limits: JUnitLimits = {}): Promise<CollectedJUnit> {
  const maxDepth = limits.maxDepth ?? 6;
  const maxFiles = limits.maxFiles ?? 200;
  const maxFileBytes = limits.maxFileBytes ?? DEFAULT_JUNIT_LIMITS.maxBytes;
  let casesLeft = limits.maxCases ?? 200_000;
  const parsed: Array<{ path: string; result: ParsedJUnit }> = [];
  const problems: string[] = [];
  let seen = 0;

  const summary = await readBridgeArchive(
    archive,
    async (entry) => {
      if (entry.type !== "file" || !/\.xml$/i.test(entry.path) || entry.path.split("/").length - 1 > maxDepth) return;
      if (++seen > maxFiles) return;
      if (entry.size > maxFileBytes) {
        parsed.push({ path: entry.path, result: tooLargeReport(entry.path, `larger than ${formatBytes(maxFileBytes)}`) });
        return;
      }
      const perFile = Math.min(DEFAULT_JUNIT_LIMITS.maxCases, casesLeft);
      const parser = new JUnitStreamParser(entry.path, { maxBytes: maxFileBytes, maxCases: perFile });
      for await (const chunk of entry.body) if (!parser.stopped) await parser.feed(chunk);
      let result = parser.end();
      if (result.tooLarge && perFile < DEFAULT_JUNIT_LIMITS.maxCases && result.tooLarge.includes("test cases")) {
        result = tooLargeReport(entry.path, `the reports hold more than ${(limits.maxCases ?? 200_000).toLocaleString("en-US")} test cases in all`);
      }
      casesLeft -= result.report.cases.length;
      parsed.push({ path: entry.path, result });
    },
    limits.archive,
  );
  if (seen > maxFiles) problems.push(`only the first ${maxFiles} XML files in the bridge directory were read`);
  problems.push(...summary.notes);

  const reports: JUnitReport[] = [];
  const files: string[] = [];
  for (const { path, result } of parsed.sort((a, b) => comparePaths(a.path, b.path))) {
    problems.push(...(result.isJUnit || result.mentionsTestSuite ? result.report.problems : []));
    if (result.tooLarge || !(result.isJUnit || result.mentionsTestSuite)) continue;
    reports.push(result.report);
    files.push(path);
  }
  const report = reports.length ? mergeReports(reports) : emptyReport();
  report.problems = [];
  return { report, files, problems, archive: summary };
}

/** Component by component, as a sorted walk of the directory would list them. */
function comparePaths(a: string, b: string): number {
  const x = a.split("/");
  const y = b.split("/");
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length - y.length;
}

/**
 * Paths of the files in commit `sha`, read from the host's bare cache of the repository. Never
 * from the workspace: its .git was writable by the tests, and host git reading it could run
 * commands the tests planted there.
 */
export async function trackedFiles(cache: string, sha: string): Promise<Set<string>> {
  if (!/^[0-9a-f]{7,64}$/i.test(sha)) throw new Error(`not a commit id: ${JSON.stringify(sha)}`);
  const { stdout } = await run("git", ["--git-dir", cache, "ls-tree", "-r", "-z", "--name-only", "--full-tree", sha], {
    cwd: cache,
    maxBuffer: 256 * 1024 * 1024,
    encoding: "utf8",
    env: gitEnv(cache),
  });
  return new Set(stdout.split("\0").filter(Boolean));
}

/** The server's environment without any GIT_* variable that could point git elsewhere. */
function gitEnv(cache: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("GIT_")) env[key] = value;
  return { ...env, GIT_DIR: cache, GIT_CONFIG_NOSYSTEM: "1" };
}

/**
 * JUnit's `resolvePath`: a path from a report (absolute in the container, relative to the
 * repository or to some module below it, or a bare file name as Go writes) to a file of the
 * commit, or null when no single tracked file fits. Annotations on other paths would be refused.
 */
export function commitPathResolver(tracked: ReadonlySet<string>, roots: readonly string[]): (path: string) => string | null {
  let byName: Map<string, string[]> | null = null;
  return (raw) => {
    const rel = defaultRepoPath(raw, roots);
    if (rel === null) return null;
    if (tracked.has(rel)) return rel;
    // `src/x_test.go` written from a module directory, `calc_test.go` from a package: the
    // tracked file that ends with it, when exactly one does.
    if (!byName) {
      byName = new Map();
      for (const file of tracked) {
        const name = file.slice(file.lastIndexOf("/") + 1);
        const list = byName.get(name);
        if (list) list.push(file);
        else byName.set(name, [file]);
      }
    }
    const name = rel.slice(rel.lastIndexOf("/") + 1);
    const matches = (byName.get(name) ?? []).filter((file) => file === rel || file.endsWith(`/${rel}`));
    return matches.length === 1 ? matches[0]! : null;
  };
}
