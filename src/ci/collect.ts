// What a CI run leaves behind, gathered on the host: the command's output (bounded in memory),
// JUnit XML reports from the bridge directory, and a way to place a report's paths in the commit.
// The bridge directory is written by the container, so it is read without trust: symbolic links
// are never followed, and the number, depth and size of files read are bounded.
import { execFile } from "node:child_process";
import { constants } from "node:fs";
import { open, readdir } from "node:fs/promises";
import { join, posix } from "node:path";
import { promisify } from "node:util";
import { defaultRepoPath, emptyReport, mergeReports, parseJUnit, type JUnitReport } from "./junit.js";

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
  /** A bigger file is skipped with a note (default 20 MiB). */
  maxFileBytes?: number;
}

export interface CollectedJUnit {
  report: JUnitReport;
  /** Reports read, relative to the bridge directory. */
  files: string[];
  /** What could not be read, for the check's notes. */
  problems: string[];
}

/**
 * Every `*.xml` file below `dir` that is a JUnit report (has a `<testsuite` element), merged.
 * Other XML (coverage reports and the like) is left alone without a note.
 */
export async function collectJUnit(dir: string, limits: JUnitLimits = {}): Promise<CollectedJUnit> {
  const maxDepth = limits.maxDepth ?? 6;
  const maxFiles = limits.maxFiles ?? 200;
  const maxFileBytes = limits.maxFileBytes ?? 20 * 1024 * 1024;
  const candidates: string[] = [];
  const problems: string[] = [];
  let more = false;

  const walk = async (rel: string, depth: number): Promise<void> => {
    let entries;
    try {
      entries = await readdir(join(dir, rel), { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = rel ? posix.join(rel, entry.name) : entry.name;
      // Dirent types come from lstat: a symbolic link is neither a file nor a directory here.
      if (entry.isDirectory() && depth < maxDepth) await walk(path, depth + 1);
      else if (entry.isFile() && /\.xml$/i.test(entry.name)) {
        if (candidates.length >= maxFiles) more = true;
        else candidates.push(path);
      }
    }
  };
  await walk("", 0);
  if (more) problems.push(`only the first ${maxFiles} XML files in the bridge directory were read`);

  const reports: JUnitReport[] = [];
  const files: string[] = [];
  for (const rel of candidates) {
    const text = await readRegularFile(join(dir, rel), maxFileBytes);
    if (text === "too-big") {
      problems.push(`${rel} was not read: larger than ${Math.round(maxFileBytes / 1024 / 1024)} MiB`);
      continue;
    }
    if (text === null || !/<(?:[\w.-]+:)?testsuites?[\s>/]/.test(text)) continue;
    const report = parseJUnit(text, rel);
    reports.push(report);
    files.push(rel);
    problems.push(...report.problems);
  }
  const report = reports.length ? mergeReports(reports) : emptyReport();
  report.problems = [];
  return { report, files, problems };
}

/** The file's text, null when it is not a regular file (any more), "too-big" over the limit. */
async function readRegularFile(path: string, maxBytes: number): Promise<string | null | "too-big"> {
  let handle;
  try {
    // O_NOFOLLOW: a file swapped for a link after the listing is not followed either.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => null);
    if (!handle) return null;
    const info = await handle.stat();
    if (!info.isFile()) return null;
    if (info.size > maxBytes) return "too-big";
    const buffer = Buffer.alloc(info.size);
    const { bytesRead } = await handle.read(buffer, 0, info.size, 0);
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** Paths of the files in the commit checked out in `worktree` (`git ls-files`). */
export async function trackedFiles(worktree: string): Promise<Set<string>> {
  const { stdout } = await run("git", ["ls-files", "-z"], { cwd: worktree, maxBuffer: 256 * 1024 * 1024, encoding: "utf8" });
  return new Set(stdout.split("\0").filter(Boolean));
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
