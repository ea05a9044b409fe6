import { describe, expect, it } from "vitest";
import { artifactKey, artifactLink, randomToken } from "../../src/ci/artifacts.js";

const at = new Date("2026-01-02T03:04:05.678Z");

describe("artifact keys", () => {
  const table: Array<[string, Parameters<typeof artifactKey>[0], string]> = [
    ["the layout", { prefix: "devs-artifacts", repo: "Acme/Widgets", kind: "tests", token: "TOKEN", at }, "devs-artifacts/acme-widgets/tests/TOKEN/20260102-030405.tar.gz"],
    ["a nested prefix with stray slashes", { prefix: "/ci//runs/", repo: "a/b", kind: "tests", token: "t", at }, "ci/runs/a-b/tests/t/20260102-030405.tar.gz"],
    ["no prefix", { prefix: "", repo: "a/b", kind: "tests", token: "t", at }, "a-b/tests/t/20260102-030405.tar.gz"],
    ["unsafe characters become dashes", { prefix: "x y", repo: "we!rd/re po", kind: "te sts", token: "t", at }, "x-y/we-rd-re-po/te-sts/t/20260102-030405.tar.gz"],
    ["no way out of the prefix", { prefix: "..", repo: "../..", kind: "..", token: "t", at }, "x/x/x/t/20260102-030405.tar.gz"],
  ];
  for (const [name, input, expected] of table) it(name, () => expect(artifactKey(input)).toBe(expected));

  it("tokens are 43 URL-safe characters and differ", () => {
    const a = randomToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(randomToken()).not.toBe(a);
  });

  it("what the check run shows", () => {
    expect(artifactLink(null)).toBeNull();
    expect(artifactLink({ kind: "failed", note: "the artifacts could not be uploaded (x)" })).toEqual({ note: "the artifacts could not be uploaded (x)" });
    expect(artifactLink({ kind: "empty", note: "the run left no artifacts" })).toEqual({ note: "the run left no artifacts" });
    expect(artifactLink({ kind: "uploaded", key: "p/r/tests/t/1.tar.gz", s3Uri: "s3://b/p/r/tests/t/1.tar.gz", url: "https://x/p/r/tests/t/1.tar.gz", bytes: 3 * 1024 * 1024, files: 1, skipped: [] })).toEqual({
      url: "https://x/p/r/tests/t/1.tar.gz",
      label: "1.tar.gz (3.0 MiB)",
    });
  });
});
