// Redaction of secrets from text headed for GitHub or the logs, and safe one-line error summaries.
import { describe, expect, it } from "vitest";
import { createRedactor, hidePaths, redact, REDACTED, safeErrorSummary, safeText } from "../../src/publish/redact.js";

// Built at run time so no scanner mistakes the fixtures for leaked credentials.
const GHP = `ghp_${"A1b2C3d4E5".repeat(4)}`;
const GHS = `ghs_${"Z9y8X7w6V5".repeat(4)}`;
const GHO = `gho_${"q".repeat(36)}`;
const PAT = `github_pat_11ABCDEFG0${"x".repeat(70)}`;
const ANT_KEY = `sk-ant-api03-${"k".repeat(40)}_AA-bb`;
const OAUTH = `sk-ant-oat01-${"o".repeat(60)}`;
const AKID = "AKIA" + "IOSFODNN7EXAMPLE";
const AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY";
const PEM = ["-----BEGIN RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA1234567890abcdef", "bm90IGEgcmVhbCBrZXk=", "-----END RSA PRIVATE KEY-----"].join("\n");

describe("patterns for secrets nobody told us about", () => {
  it.each([
    ["a classic GitHub token", `token is ${GHP} ok`, `token is ${REDACTED} ok`],
    ["an installation token", `GH_TOKEN=${GHS}`, `GH_TOKEN=${REDACTED}`],
    ["an OAuth token", `(${GHO})`, `(${REDACTED})`],
    ["a fine-grained PAT", `pat: ${PAT}.`, `pat: ${REDACTED}.`],
    [
      "x-access-token in a clone URL",
      `fatal: unable to access 'https://x-access-token:${GHS}@github.com/o/r.git/'`,
      `fatal: unable to access 'https://x-access-token:${REDACTED}@github.com/o/r.git/'`,
    ],
    ["x-access-token without a scheme", `x-access-token:abc123secret@github.com`, `x-access-token:${REDACTED}@github.com`],
    ["a password in any URL", "git clone http://alice:hunter22@git.example.com/r", `git clone http://alice:${REDACTED}@git.example.com/r`],
    ["a bare token as URL user", `https://${"t0ken".repeat(5)}@github.com/o/r`, `https://${REDACTED}@github.com/o/r`],
    ["an Anthropic API key", `ANTHROPIC_API_KEY=${ANT_KEY}`, `ANTHROPIC_API_KEY=${REDACTED}`],
    ["a Claude OAuth token", `"${OAUTH}"`, `"${REDACTED}"`],
    ["a Bearer header", "Authorization: Bearer abc.def.ghi-123", `Authorization: Bearer ${REDACTED}`],
    ["a token header", "authorization: token 0123456789abcdef", `authorization: token ${REDACTED}`],
    ["a Basic header (git extraheader)", "http.extraheader=AUTHORIZATION: basic eC1hY2Nlc3M6c2VjcmV0", `http.extraheader=AUTHORIZATION: basic ${REDACTED}`],
    ["an Authorization field in JSON", '{"authorization":"xyz-secret-value","a":1}', `{"authorization":"${REDACTED}","a":1}`],
    ["a lone Bearer credential", "sent Bearer eyJhbGciOiJIUzI1NiJ9.payload", `sent Bearer ${REDACTED}`],
    ["an AWS access key id", `key ${AKID} here`, `key ${REDACTED} here`],
    ["an AWS secret key", `aws_secret_access_key = ${AWS_SECRET}`, `aws_secret_access_key = ${REDACTED}`],
    ["an AWS secret key in env form", `AWS_SECRET_ACCESS_KEY=${AWS_SECRET}`, `AWS_SECRET_ACCESS_KEY=${REDACTED}`],
    ["a PEM private key", `key:\n${PEM}\nafter`, `key:\n-----BEGIN RSA PRIVATE KEY----- ${REDACTED} -----END RSA PRIVATE KEY-----\nafter`],
    ["a PEM block cut before its end", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B", `-----BEGIN PRIVATE KEY----- ${REDACTED} -----END PRIVATE KEY-----`],
  ])("%s", (_name, input, expected) => {
    expect(redact(input)).toBe(expected);
  });

  it.each([
    ["a commit SHA", "commit 5efd020a1b2c3d4e5f60718293a4b5c6d7e8f901"],
    ["a plain URL", "see https://github.com/owner/repo/pull/12"],
    ["prose about authorization", "authorization failed for this user"],
    ["a short ghp_ prefix", "ghp_short"],
    ["an SSH URL", "git@github.com:owner/repo.git"],
  ])("leaves %s alone", (_name, input) => {
    expect(redact(input)).toBe(input);
  });
});

describe("known secret values", () => {
  it("are replaced wherever they appear, also URL-encoded and base64-encoded", () => {
    const secret = "p@ss word/1";
    const r = createRedactor([secret, null, undefined, ""]);
    expect(r(`a ${secret} b`)).toBe(`a ${REDACTED} b`);
    expect(r(`u=${encodeURIComponent(secret)}`)).toBe(`u=${REDACTED}`);
    expect(r(`h=${Buffer.from(secret).toString("base64")}`)).toBe(`h=${REDACTED}`);
  });

  it("replace a longer secret whole when it contains a shorter one", () => {
    expect(redact("x supersecret-extended y", ["supersecret", "supersecret-extended"])).toBe(`x ${REDACTED} y`);
  });

  it("treat regular-expression characters literally", () => {
    expect(redact("v=a.b*c(d) and aXbbc", ["a.b*c(d)"])).toBe(`v=${REDACTED} and aXbbc`);
  });

  it("ignore values too short to redact safely", () => {
    expect(redact("a b c", ["a"])).toBe("a b c");
  });

  it("redact a test-mode token that matches no pattern", () => {
    expect(redact("GITHUB_TOKEN is test-token", ["test-token"])).toBe(`GITHUB_TOKEN is ${REDACTED}`);
  });
});

describe("safeErrorSummary", () => {
  it.each([
    ["an actionable message", new Error("Repository owner/repo was not found"), "Repository owner/repo was not found"],
    ["only the first line", new Error("clone failed\nstderr: lots\nmore"), "clone failed"],
    [
      "paths hidden",
      new Error("ENOENT: no such file or directory, open '/root/.devs-webhook/workspaces/x/file.txt'"),
      "ENOENT: no such file or directory, open '<path>'",
    ],
    ["secrets redacted", new Error(`push to https://x-access-token:${GHS}@github.com/o/r failed`), `push to https://x-access-token:${REDACTED}@github.com/o/r failed`],
    ["a string thrown", "quota exceeded", "quota exceeded"],
    ["a TypeError (a bug, not news for users)", new TypeError("Cannot read properties of undefined (reading 'x')"), "an internal error occurred (details are in the server log)"],
    ["a ReferenceError", new ReferenceError("foo is not defined"), "an internal error occurred (details are in the server log)"],
    ["a non-error value", { code: 1 }, "an internal error occurred (details are in the server log)"],
    ["undefined", undefined, "an internal error occurred (details are in the server log)"],
    ["an empty message", new Error(""), "an internal error occurred (details are in the server log)"],
  ])("%s", (_name, error, expected) => {
    expect(safeErrorSummary(error)).toBe(expected);
  });

  it("never includes the stack", () => {
    const error = new Error("boom");
    const summary = safeErrorSummary(error);
    expect(summary).toBe("boom");
    expect(error.stack).toContain("at ");
  });

  it("skips stack-frame lines that lead the text", () => {
    expect(safeText("    at Object.<anonymous> (/app/x.js:1:1)\nreal problem")).toBe("real problem");
  });

  it("uses known secrets and bounds the length", () => {
    const summary = safeErrorSummary(new Error(`bad key mysecretvalue ${"x".repeat(500)}`), { secrets: ["mysecretvalue"], maxLength: 50 });
    expect(summary).toHaveLength(50);
    expect(summary.startsWith(`bad key ${REDACTED}`)).toBe(true);
    expect(summary.endsWith("…")).toBe(true);
  });

  it("redacts a PEM block spread over lines before taking the first line", () => {
    expect(safeText(`${PEM}\nsecond`)).toBe(`-----BEGIN RSA PRIVATE KEY----- ${REDACTED} -----END RSA PRIVATE KEY-----`);
  });
});

describe("hidePaths", () => {
  it.each([
    ["cannot open /home/dev/.ssh/config now", "cannot open <path> now"],
    ["in /workspaces/repo-eamonn/src/a.ts:12", "in <path>:12"],
    ["C:\\Users\\me\\secret.txt missing", "<path> missing"],
    ["loaded file:///opt/app/dist/cli.js", "loaded <path>"],
    ["see https://github.com/owner/repo/issues/1", "see https://github.com/owner/repo/issues/1"],
    ["GET /health answered", "GET /health answered"],
    ["ratio 3/4 and and/or", "ratio 3/4 and and/or"],
  ])("%s", (input, expected) => {
    expect(hidePaths(input)).toBe(expected);
  });
});
