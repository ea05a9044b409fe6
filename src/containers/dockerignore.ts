// .dockerignore as Docker reads it: one pattern a line, `#` comments, `!` re-includes, `**` spans
// folders, and a pattern that matches a folder excludes everything below it. The last matching
// line wins. Pure: the caller reads the file.
import picomatch from "picomatch";

interface Rule {
  negate: boolean;
  match: (path: string) => boolean;
}

export interface DockerIgnore {
  /** True when the path (relative to the context, POSIX separators) is left out of the build. */
  ignores(path: string): boolean;
  /** True when some `!` line might re-include files below an ignored folder. */
  readonly hasExceptions: boolean;
}

export function parseDockerIgnore(text: string): DockerIgnore {
  const rules: Rule[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    let line = rawLine.trim();
    if (!line || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    if (negate) line = line.slice(1).trim();
    const pattern = cleanPath(line);
    if (!pattern) continue;
    rules.push({ negate, match: picomatch(pattern, { dot: true }) });
  }
  return {
    hasExceptions: rules.some((r) => r.negate),
    ignores(path: string): boolean {
      const clean = cleanPath(path);
      const prefixes = parents(clean);
      let ignored = false;
      for (const rule of rules) {
        if (prefixes.some((p) => rule.match(p))) ignored = !rule.negate;
      }
      return ignored;
    },
  };
}

/** Docker cleans both patterns and paths: no leading `/` or `./`, no trailing `/`, no `a/../`. */
function cleanPath(path: string): string {
  const parts: string[] = [];
  for (const part of path.replace(/\\/g, "/").split("/")) {
    if (!part || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/");
}

/** "a/b/c" → ["a", "a/b", "a/b/c"]: a pattern matching any of them matches the path. */
function parents(path: string): string[] {
  const parts = path.split("/");
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}
