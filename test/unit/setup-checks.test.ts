import { describe, expect, it } from "vitest";
import { gitHasSecurityFixes } from "../../src/setup-checks.js";

describe("git with the 2024 fixes for hooks and lazy fetches", () => {
  it.each([
    ["git version 2.45.1", true],
    ["git version 2.47.0", true],
    ["git version 3.0.0", true],
    ["git version 2.39.5", true],
    ["git version 2.39.4 (Apple Git-154)", true],
    ["git version 2.39.3", false],
    ["git version 2.43.0", false],
    ["git version 2.44.1.windows.1", true],
    ["git version 2.45.0", false],
    ["git version 2.34.1", false],
    ["git version 1.9.9", false],
  ] as const)("%s → %s", (text, ok) => expect(gitHasSecurityFixes(text)).toBe(ok));
  it("an unreadable version is not a verdict", () => expect(gitHasSecurityFixes("git")).toBeNull());
});
