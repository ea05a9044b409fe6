import { describe, expect, it } from "vitest";
import { checkAllowList, isOwnerAllowed, permissionAllowsTrigger } from "../../src/policy/access.js";
import { contentKey } from "../../src/policy/dedupe.js";
import { checkAdminAuth } from "../../src/admin/auth.js";

describe("isOwnerAllowed", () => {
  it("allows everyone when both lists are empty", () => expect(isOwnerAllowed("Anyone", [])).toBe(true));
  it("matches case-insensitively", () => expect(isOwnerAllowed("AcMe", ["acme"])).toBe(true));
  it("rejects others", () => expect(isOwnerAllowed("evil", ["acme", "alice"])).toBe(false));
});

describe("checkAllowList", () => {
  it("* allows everyone", () => expect(checkAllowList("x", { kind: "everyone" })).toBe("allowed"));
  it("a list allows its members in any case", () => expect(checkAllowList("Alice", { kind: "users", users: ["alice"] })).toBe("allowed"));
  it("a list denies others", () => expect(checkAllowList("bob", { kind: "users", users: ["alice"] })).toBe("denied"));
  it("empty asks GitHub", () => expect(checkAllowList("bob", { kind: "write-access" })).toBe("ask-github"));
});

describe("permissionAllowsTrigger", () => {
  const table: Array<[string | null, string | null, boolean]> = [
    ["admin", "admin", true],
    ["write", "maintain", true],
    ["write", "write", true],
    ["read", "triage", false],
    ["read", "read", false],
    ["none", null, false],
    [null, null, false],
    ["read", "maintain", true],
  ];
  for (const [p, r, ok] of table) it(`${p}/${r} → ${ok}`, () => expect(permissionAllowsTrigger(p, r)).toBe(ok));
});

describe("contentKey", () => {
  const base = { event: "issue_comment", repo: "o/r", subjectId: 1, text: "@bot go" };
  it("is stable for the same content and case of repo", () => expect(contentKey(base)).toBe(contentKey({ ...base, repo: "O/R" })));
  it("differs by text, subject, event and revision", () => {
    const keys = new Set([
      contentKey(base),
      contentKey({ ...base, text: "@bot stop" }),
      contentKey({ ...base, subjectId: 2 }),
      contentKey({ ...base, event: "pull_request_review_comment" }),
      contentKey({ ...base, revision: "2026-01-01" }),
    ]);
    expect(keys.size).toBe(5);
  });
});

describe("checkAdminAuth", () => {
  const basic = (s: string) => `Basic ${Buffer.from(s).toString("base64")}`;
  const creds = { username: "admin", password: "pw", devMode: false };
  it("accepts the right pair", () => expect(checkAdminAuth(basic("admin:pw"), creds)).toBe("ok"));
  it("refuses a wrong password", () => expect(checkAdminAuth(basic("admin:px"), creds)).toBe("wrong"));
  it("refuses a wrong user", () => expect(checkAdminAuth(basic("root:pw"), creds)).toBe("wrong"));
  it("asks for credentials when none are sent", () => expect(checkAdminAuth(undefined, creds)).toBe("missing"));
  it("is disabled without a password outside dev mode", () =>
    expect(checkAdminAuth(basic("admin:"), { ...creds, password: null })).toBe("disabled"));
  it("dev mode without a password still needs a header", () => {
    expect(checkAdminAuth(undefined, { ...creds, password: null, devMode: true })).toBe("missing");
    expect(checkAdminAuth(basic("x:y"), { ...creds, password: null, devMode: true })).toBe("ok");
  });
});
