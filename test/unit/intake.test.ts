// What a delivery's headers must look like before a byte of its body is read, and the streaming
// signature check with its shared byte budget.
import { createHmac } from "node:crypto";
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { BodyBudget, readSignedBody } from "../../src/webhooks/body.js";
import { checkDeliveryHeaders, SignatureCheck, verifyDelivery } from "../../src/webhooks/delivery.js";

const SECRET = "s3cret";
const UUID = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
const sign = (body: string | Buffer, secret = SECRET) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

function headers(overrides: Record<string, string | undefined> = {}) {
  const all: Record<string, string | undefined> = {
    "content-type": "application/json",
    "x-github-event": "issue_comment",
    "x-github-delivery": UUID,
    "x-hub-signature-256": sign("{}"),
    "content-length": "2",
    ...overrides,
  };
  return (name: string) => all[name];
}

describe("checkDeliveryHeaders", () => {
  it("accepts what GitHub sends", () => {
    const checked = checkDeliveryHeaders(headers());
    expect(checked).toMatchObject({ ok: true, headers: { id: UUID, name: "issue_comment", contentLength: 2 } });
  });

  it("accepts a chunked body (no Content-Length): the reader enforces the limit", () => {
    expect(checkDeliveryHeaders(headers({ "content-length": undefined }))).toMatchObject({ ok: true, headers: { contentLength: null } });
  });

  const refused: Array<[string, Record<string, string | undefined>, number, RegExp]> = [
    ["form encoding", { "content-type": "application/x-www-form-urlencoded" }, 415, /application\/json/],
    ["no content type", { "content-type": undefined }, 415, /application\/json/],
    ["no signature", { "x-hub-signature-256": undefined }, 400, /missing header\(s\): X-Hub-Signature-256/],
    ["no event and no delivery", { "x-github-event": undefined, "x-github-delivery": undefined }, 400, /X-GitHub-Event, X-GitHub-Delivery/],
    ["a delivery id that climbs out of a directory", { "x-github-delivery": "../../etc" }, 400, /X-GitHub-Delivery/],
    ["a delivery id with a slash", { "x-github-delivery": "abc/def" }, 400, /X-GitHub-Delivery/],
    ["a delivery id with a NUL", { "x-github-delivery": "abc\u0000" }, 400, /X-GitHub-Delivery/],
    ["a delivery id with spaces", { "x-github-delivery": "a b" }, 400, /X-GitHub-Delivery/],
    ["a delivery id of 65 characters", { "x-github-delivery": "a".repeat(65) }, 400, /X-GitHub-Delivery/],
    ["an event name with a path", { "x-github-event": "issues/../x" }, 400, /X-GitHub-Event/],
    ["the old SHA-1 signature", { "x-hub-signature-256": `sha1=${"a".repeat(40)}` }, 400, /sha256=/],
    ["a signature too short", { "x-hub-signature-256": `sha256=${"a".repeat(63)}` }, 400, /sha256=/],
    ["a signature that is not hex", { "x-hub-signature-256": `sha256=${"g".repeat(64)}` }, 400, /sha256=/],
    ["two signatures (a repeated header)", { "x-hub-signature-256": `${sign("{}")}, ${sign("{}")}` }, 400, /sha256=/],
    ["a Content-Length that is not a number", { "content-length": "12abc" }, 400, /Content-Length/],
    ["a body larger than GitHub sends", { "content-length": String(25 * 1024 * 1024 + 1) }, 413, /larger than/],
    ["an absurd Content-Length", { "content-length": "99999999999999999999" }, 400, /Content-Length/],
  ];
  for (const [what, override, status, error] of refused) {
    it(`refuses ${what} with ${status}`, () => {
      const checked = checkDeliveryHeaders(headers(override));
      expect(checked.ok).toBe(false);
      if (checked.ok) return;
      expect(checked.status).toBe(status);
      expect(checked.error).toMatch(error);
    });
  }

  it("a body of exactly the limit is allowed", () => {
    expect(checkDeliveryHeaders(headers({ "content-length": String(25 * 1024 * 1024) })).ok).toBe(true);
  });
});

describe("SignatureCheck", () => {
  it("matches the HMAC over the chunks together", () => {
    const check = new SignatureCheck(SECRET, Buffer.from(sign('{"a":1}').slice(7), "hex"));
    for (const part of ['{"a"', ":", "1}"]) check.update(part);
    expect(check.matches()).toBe(true);
  });

  it("does not match another secret or another body", () => {
    const expected = Buffer.from(sign('{"a":1}', "other").slice(7), "hex");
    const check = new SignatureCheck(SECRET, expected);
    check.update('{"a":1}');
    expect(check.matches()).toBe(false);
  });
});

describe("verifyDelivery (a transport holding the whole body)", () => {
  it("checks the signature before it parses: a forged body that is not JSON is a 401, not a 400", () => {
    const result = verifyDelivery(headers({ "x-hub-signature-256": sign("{}", "wrong") }), "{not json", SECRET);
    expect(result).toMatchObject({ ok: false, status: 401 });
  });

  it("parses a correctly signed body", () => {
    const body = '{"action":"created"}';
    expect(verifyDelivery(headers({ "x-hub-signature-256": sign(body) }), body, SECRET)).toEqual({
      ok: true,
      id: UUID,
      name: "issue_comment",
      payload: { action: "created" },
    });
  });
});

/** Feeds `parts` into a stream and reads it as a delivery body. */
async function read(parts: Buffer[], opts: { contentLength?: number | null; secret?: string; maxBytes?: number; budget?: BodyBudget } = {}) {
  const stream = new PassThrough();
  const whole = Buffer.concat(parts);
  const check = new SignatureCheck(SECRET, Buffer.from(sign(whole, opts.secret ?? SECRET).slice(7), "hex"));
  const budget = opts.budget ?? new BodyBudget(1024);
  const outcome = readSignedBody(stream, opts.contentLength === undefined ? whole.length : opts.contentLength, check, { maxBytes: opts.maxBytes ?? 1024, budget });
  for (const part of parts) stream.write(part);
  stream.end();
  return { outcome: await outcome, budget };
}

describe("readSignedBody", () => {
  const parts = [Buffer.from('{"hello":'), Buffer.from('"world"}')];

  for (const framing of ["content-length", "chunked"] as const) {
    const contentLength = framing === "chunked" ? null : undefined;
    it(`${framing}: keeps a correctly signed body and gives its bytes back to the budget when released`, async () => {
      const { outcome, budget } = await read(parts, { contentLength });
      expect(outcome.kind).toBe("body");
      if (outcome.kind !== "body") return;
      expect(outcome.body.toString()).toBe('{"hello":"world"}');
      expect(budget.inUse).toBe(17);
      outcome.release();
      expect(budget.inUse).toBe(0);
    });

    it(`${framing}: a wrong signature is refused and holds nothing`, async () => {
      const { outcome, budget } = await read(parts, { contentLength, secret: "forged" });
      expect(outcome.kind).toBe("bad-signature");
      expect(budget.inUse).toBe(0);
    });

    it(`${framing}: a body past the limit stops with too-large and holds nothing`, async () => {
      const { outcome, budget } = await read([Buffer.alloc(600), Buffer.alloc(600)], { contentLength, maxBytes: 1000, budget: new BodyBudget(10_000) });
      expect(outcome.kind).toBe("too-large");
      expect(budget.inUse).toBe(0);
    });

    it(`${framing}: when other bodies hold the budget, a good signature is "no-room" and a forged one still a 401`, async () => {
      const full = new BodyBudget(20);
      expect(full.take(15)).toBe(true);
      expect((await read(parts, { contentLength, budget: full })).outcome.kind).toBe("no-room");
      expect((await read(parts, { contentLength, budget: full, secret: "forged" })).outcome.kind).toBe("bad-signature");
      expect(full.inUse).toBe(15);
    });
  }

  it("more bytes than the Content-Length said is too-large; fewer is incomplete", async () => {
    expect((await read(parts, { contentLength: 10 })).outcome.kind).toBe("too-large");
    expect((await read(parts, { contentLength: 30 })).outcome.kind).toBe("incomplete");
  });

  it("a sender that goes away mid-body is incomplete and holds nothing", async () => {
    const stream = new PassThrough();
    const budget = new BodyBudget(1024);
    const outcome = readSignedBody(stream, null, new SignatureCheck(SECRET, Buffer.alloc(32)), { maxBytes: 1024, budget });
    stream.write(Buffer.from("partial"));
    await new Promise((r) => setImmediate(r));
    expect(budget.inUse).toBe(7);
    stream.destroy();
    expect((await outcome).kind).toBe("incomplete");
    expect(budget.inUse).toBe(0);
  });
});
