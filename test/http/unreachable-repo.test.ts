// Deliveries for a repository the App can no longer read (deleted, transferred, the App removed
// from it, the installation suspended): GitHub answers 404, 403 or 410 to the installation token
// or to the handlers' calls. A redelivery can never succeed, so each is answered 2xx with one
// warning line, never "delivery failed" at error level. What a redelivery can fix (the journal
// is unwritable) still gets a 5xx.
import { Writable } from "node:stream";
import nock from "nock";
import { sign } from "@octokit/webhooks-methods";
import { createRequire } from "node:module";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startServer, type RunningServer } from "../../src/server.js";
import { appPrivateKey } from "../helpers/serve-process.js";
import { testServices } from "../helpers/services.js";
import { testSettings } from "../helpers/settings.js";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples") as Array<{ name: string; examples: Array<Record<string, unknown>> }>;
const SECRET = "s3cret";
const KEY = appPrivateKey();

type Line = { level: number; msg: string; delivery?: string; id?: string };
let lines: Line[];
let server: RunningServer | undefined;
let closeRuntime: (() => Promise<void>) | undefined;
/** GitHub requests answered with an error so far. */
let asked: number;

beforeEach(() => {
  nock.disableNetConnect();
  nock.enableNetConnect((host) => host.startsWith("127.0.0.1"));
  lines = [];
  asked = 0;
});
afterEach(async () => {
  await server?.close();
  await closeRuntime?.();
  server = undefined;
  closeRuntime = undefined;
  nock.cleanAll();
  nock.enableNetConnect();
});

function capturingLog() {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString().split("\n")) if (text) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return pino({ level: "info" }, sink);
}

/** App mode with CI wired as `serve` wires it: the real DEVS.yml loader and the real journal. */
async function start(env: Record<string, string> = {}) {
  const settings = testSettings({ GITHUB_TOKEN: "", APP_ID: "42", PRIVATE_KEY: KEY, AUTHORIZED_TRIGGER_USERS: "", LOG_LEVEL: "info", CONTAINER_POOL: "unreach", ...env });
  const log = capturingLog();
  const services = testServices(settings, { log });
  closeRuntime = () => services.close();
  server = await startServer(settings, services);
  return services;
}

/** Every GitHub call, the installation token included, answered with `status` (or the token minted). */
function githubAnswers(status: number, options: { tokenMinted?: boolean; message?: string } = {}) {
  const scope = nock("https://api.github.com").persist();
  const reply = () => {
    asked++;
    return [status, { message: options.message ?? "Not Found" }] as [number, Record<string, string>];
  };
  if (options.tokenMinted) {
    scope.post(/\/app\/installations\/\d+\/access_tokens$/).reply(201, { token: "ghs_unreach", expires_at: "2099-01-01T00:00:00Z", permissions: {} });
  }
  for (const method of ["get", "post", "patch", "put", "delete"] as const) scope[method](/.*/).reply(reply);
}

async function post(event: string, body: Record<string, unknown>) {
  const text = JSON.stringify(body);
  const id = crypto.randomUUID();
  const res = await fetch(`${server!.url}/webhook`, {
    method: "POST",
    body: text,
    headers: { "content-type": "application/json", "x-github-event": event, "x-github-delivery": id, "x-hub-signature-256": await sign(SECRET, text) },
  });
  return { id, status: res.status };
}

/** The example payloads of an event; issue comments mention the bot, so that they are triggers. */
function payloadsOf(event: string): Array<Record<string, unknown>> {
  return examples
    .find((e) => e.name === event)!
    .examples.map((example) => {
      const copy = structuredClone(example);
      if (event === "issue_comment") (copy.comment as { body: string }).body = "@devs-bot please fix";
      return copy;
    });
}

const byLevel = (level: number) => lines.filter((l) => l.level === level);

const cases: Array<[string, number, { tokenMinted?: boolean; message?: string }]> = [
  ["the App was removed from the repository (the token is refused with 404)", 404, {}],
  ["the repository was deleted (every repository call is 404)", 404, { tokenMinted: true }],
  ["the installation is suspended (403)", 403, { message: "This installation has been suspended" }],
  ["the repository is gone for good (410)", 410, { tokenMinted: true, message: "Repository access blocked" }],
];

describe("deliveries for a repository the App cannot read", () => {
  for (const [what, status, options] of cases) {
    it(`${what}: every example pull_request, check_suite and issue_comment is a 2xx with at most one warning`, async () => {
      const runtime = await start();
      githubAnswers(status, options);
      const outcomes: Array<{ event: string; action: unknown; status: number; asked: number; warnings: number; errors: number }> = [];
      for (const event of ["pull_request", "check_suite", "issue_comment"]) {
        for (const body of payloadsOf(event)) {
          const askedBefore = asked;
          const linesBefore = lines.length;
          const res = await post(event, body);
          const mine = lines.slice(linesBefore);
          outcomes.push({
            event,
            action: body.action,
            status: res.status,
            asked: asked - askedBefore,
            warnings: mine.filter((l) => l.level === 40).length,
            errors: mine.filter((l) => l.level >= 50).length,
          });
        }
      }
      expect(outcomes.filter((o) => o.status >= 300 || o.errors > 0 || o.warnings > 1)).toEqual([]);
      expect(byLevel(50)).toEqual([]);
      // CI asks GitHub for the examples that would run it (12 today: pull requests opened,
      // reopened, ready or pushed to; suites re-requested), and each says in one warning what
      // happened.
      const ci = outcomes.filter((o) => o.event !== "issue_comment" && o.asked > 0);
      expect(ci.length).toBeGreaterThanOrEqual(12);
      expect(ci.filter((o) => o.warnings !== 1)).toEqual([]);
      const unreadable = byLevel(40).filter((l) => /cannot read the repository/.test(l.msg));
      expect(unreadable.length).toBeGreaterThanOrEqual(ci.length);
      for (const line of unreadable) expect(line).toMatchObject({ status, repo: "Codertocat/Hello-World" });
      // A mention is never queued for such a repository (its sender's access cannot be confirmed).
      expect(runtime.journal.recent(100)).toEqual([]);
    }, 60_000);
  }

  it("a rate limit (403 with no requests left) is still a 5xx: a redelivery later can succeed", async () => {
    await start();
    nock("https://api.github.com")
      .persist()
      .get(/.*/)
      .reply(403, { message: "API rate limit exceeded for installation ID 1." }, { "x-ratelimit-remaining": "0", "x-ratelimit-reset": "9999999999" })
      .post(/\/app\/installations\/\d+\/access_tokens$/)
      .reply(201, { token: "ghs_unreach", expires_at: "2099-01-01T00:00:00Z", permissions: {} });
    const opened = payloadsOf("pull_request").find((p) => p.action === "opened" && p.installation)!;
    expect((await post("pull_request", opened)).status).toBe(500);
  });

  it("an unwritable journal is a 5xx, so GitHub's redelivery can queue the task later", async () => {
    const runtime = await start({ AUTHORIZED_TRIGGER_USERS: "*" });
    githubAnswers(201, { tokenMinted: true });
    // The database refuses every write from now on, as a full or read-only disk would.
    runtime.db.pragma("query_only = ON");
    const mention = payloadsOf("issue_comment").find((p) => p.action === "created" && p.installation)!;
    const res = await post("issue_comment", mention);
    expect(res.status).toBe(500);
    expect(lines.some((l) => l.level >= 50 && /delivery failed/.test(l.msg))).toBe(true);
  });
});
