// The redelivery sweep against the local GitHub stand-in, as the App (a JWT, not an installation
// token): a failed delivery, and one GitHub thinks delivered that never reached us, are asked for
// once; one that arrived is not; nothing from before this database began is; paging follows the
// Link header's cursor and stops at GitHub's three days.
import { generateKeyPairSync } from "node:crypto";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { RedeliverySweeper, nextCursor } from "../../src/github/redelivery.js";
import { createProbot } from "../../src/github/probot.js";
import { openDatabase } from "../../src/tasks/database.js";
import { SqliteDeliveryMemory } from "../../src/tasks/delivery-memory.js";
import { GitHubStandIn } from "../helpers/github-standin.js";
import { tempDir, testSettings } from "../helpers/settings.js";

const pem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const NOW = Date.parse("2026-12-02T12:00:00Z");
const minutesAgo = (m: number) => new Date(NOW - m * 60_000).toISOString();
const silent = pino({ level: "silent" });

let github: GitHubStandIn | null = null;
afterEach(async () => {
  await github?.stop();
  github = null;
});

/** GitHub's list, newest first, in two pages. */
const PAGE_1 = [
  { id: 11, guid: "failed-1", delivered_at: minutesAgo(5), status_code: 502, status: "Bad Gateway", event: "issue_comment" },
  { id: 12, guid: "handled-1", delivered_at: minutesAgo(6), status_code: 200, status: "OK", event: "issue_comment" },
  { id: 13, guid: "lost-1", delivered_at: minutesAgo(7), status_code: 200, status: "OK", event: "push" },
  // Too recent to judge: it may still be on its way through the intake.
  { id: 14, guid: "fresh-1", delivered_at: new Date(NOW - 10_000).toISOString(), status_code: 502, status: "Bad Gateway", event: "push" },
];
const PAGE_2 = [
  // An earlier attempt of a delivery whose newest attempt (above) already decided.
  { id: 9, guid: "failed-1", delivered_at: minutesAgo(50), status_code: 502, status: "Bad Gateway", event: "issue_comment" },
  { id: 8, guid: "failed-2", delivered_at: minutesAgo(55), status_code: 500, status: "Internal Server Error", event: "issues" },
  // Before this database began serving: never ours to miss.
  { id: 7, guid: "before-us", delivered_at: minutesAgo(120), status_code: 500, status: "Internal Server Error", event: "issues" },
];

async function setup() {
  github = await new GitHubStandIn()
    .on("GET", /^\/app\/hook\/deliveries$/, (req) =>
      req.path.includes("cursor=p2")
        ? { status: 200, body: PAGE_2 }
        : { status: 200, body: PAGE_1, headers: { link: `<http://${github!.host}/api/v3/app/hook/deliveries?per_page=100&cursor=p2>; rel="next"` } },
    )
    .on("POST", /^\/app\/hook\/deliveries\/\d+\/attempts$/, () => ({ status: 202, body: {} }))
    .start();
  const settings = testSettings({ GITHUB_TOKEN: "", APP_ID: "4242", PRIVATE_KEY: pem, GHE_HOST: github.host, GHE_PROTOCOL: "http" });
  const probot = createProbot(settings, silent);
  let clock = NOW - 90 * 60_000;
  const memory = new SqliteDeliveryMemory(openDatabase(tempDir("devs-redelivery-")), () => clock);
  memory.servingSince(); // this database began 90 minutes ago
  clock = NOW;
  memory.received("handled-1");
  const sweeper = new RedeliverySweeper({ appClient: () => probot.auth(), memory, log: silent, now: () => NOW });
  return { sweeper, memory };
}

const attempts = () => github!.requests.filter((r) => r.method === "POST").map((r) => r.path);

describe("the redelivery sweep", () => {
  it("asks once for a failed delivery and for one that never arrived, never for one that did", async () => {
    const { sweeper } = await setup();
    expect(await sweeper.sweep()).toEqual(["failed-1", "lost-1", "failed-2"]);
    expect(attempts()).toEqual(["/app/hook/deliveries/11/attempts", "/app/hook/deliveries/13/attempts", "/app/hook/deliveries/8/attempts"]);
    // As the App: a JWT bearer, not an installation token.
    const listing = github!.requests.find((r) => r.method === "GET")!;
    expect(listing.headers.authorization).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/i);
    expect(github!.requests.filter((r) => r.method === "GET").map((r) => r.path)).toEqual([
      "/app/hook/deliveries?per_page=100",
      "/app/hook/deliveries?per_page=100&cursor=p2",
    ]);
  });

  it("asks nothing twice: the next sweep finds the same list and sends no request", async () => {
    const { sweeper } = await setup();
    await sweeper.sweep();
    const before = attempts().length;
    expect(await sweeper.sweep()).toEqual([]);
    expect(attempts()).toHaveLength(before);
  });

  it("a delivery that arrives meanwhile is not asked for", async () => {
    const { sweeper, memory } = await setup();
    memory.received("lost-1");
    memory.received("failed-2"); // received, but GitHub saw a 500: asked for all the same
    expect(await sweeper.sweep()).toEqual(["failed-1", "failed-2"]);
  });
});

describe("the Link header's next cursor", () => {
  it("is read from rel=next only", () => {
    expect(nextCursor('<https://api.github.com/app/hook/deliveries?per_page=2&cursor=v1_9>; rel="next", <https://x/y?cursor=0>; rel="prev"')).toBe("v1_9");
    expect(nextCursor('<https://x/y?cursor=0>; rel="prev"')).toBeNull();
    expect(nextCursor(undefined)).toBeNull();
  });
});
