// Turns a raw HTTP delivery into a verified webhook event, or a status and a reason. Transport-
// neutral: the HTTP server runs the steps apart (headers, then the signature over the body as it
// streams in, then parsing); a Lambda ingress, whose body is already in memory, can call
// `verifyDelivery`.
//
// Nothing a sender controls is trusted before its signature is checked, and what the signature
// does not cover (the headers) is accepted only in a shape that cannot be turned into a path,
// a log line or a query: the delivery id becomes a task id and a directory name under DATA_DIR.
import { createHmac, timingSafeEqual } from "node:crypto";

export type HeaderGetter = (name: string) => string | undefined;

/** GitHub caps payloads at 25 MB; anything larger is not from GitHub. */
export const MAX_BODY_BYTES = 25 * 1024 * 1024;

/** GitHub sends a UUID; letters, digits and dashes (no `/`, `.`, or spaces) are all a task id may hold. */
const DELIVERY_ID = /^[A-Za-z0-9-]{1,64}$/;
/** Event names are snake_case words (`issue_comment`, `check_suite`). */
const EVENT_NAME = /^[a-z][a-z_]{0,63}$/;
const SIGNATURE = /^sha256=([0-9a-f]{64})$/i;
const CONTENT_LENGTH = /^\d{1,16}$/;
const JSON_TYPE = /^\s*application\/json\s*(?:;|$)/i;

/** What the headers promise, checked before a byte of the body is read. */
export interface DeliveryHeaders {
  id: string;
  name: string;
  /** The 32 bytes of `X-Hub-Signature-256`. */
  signature: Buffer;
  /** Absent for a chunked body: the reader enforces the limit as bytes arrive. */
  contentLength: number | null;
}

export interface VerifiedDelivery {
  ok: true;
  id: string;
  name: string;
  payload: Record<string, unknown>;
}

export interface RejectedDelivery {
  ok: false;
  status: number;
  error: string;
}

/**
 * The checks that need no body: content type (415), the three GitHub headers present and well
 * formed (400), Content-Length within the limit (413).
 */
export function checkDeliveryHeaders(
  header: HeaderGetter,
  maxBodyBytes: number = MAX_BODY_BYTES,
): { ok: true; headers: DeliveryHeaders } | RejectedDelivery {
  const contentType = header("content-type");
  if (!contentType || !JSON_TYPE.test(contentType)) {
    return { ok: false, status: 415, error: 'Content-Type must be "application/json" (set it in the webhook settings)' };
  }
  const name = header("x-github-event");
  const id = header("x-github-delivery");
  const signature = header("x-hub-signature-256");
  const missing = [
    ["X-GitHub-Event", name],
    ["X-GitHub-Delivery", id],
    ["X-Hub-Signature-256", signature],
  ]
    .filter(([, value]) => !value)
    .map(([key]) => key);
  if (missing.length) return { ok: false, status: 400, error: `missing header(s): ${missing.join(", ")}` };
  if (!DELIVERY_ID.test(id!)) return { ok: false, status: 400, error: "X-GitHub-Delivery must be 1 to 64 letters, digits or dashes" };
  if (!EVENT_NAME.test(name!)) return { ok: false, status: 400, error: "X-GitHub-Event is not an event name" };
  const hex = SIGNATURE.exec(signature!)?.[1];
  if (!hex) return { ok: false, status: 400, error: "X-Hub-Signature-256 must be sha256= and 64 hex digits" };
  const length = header("content-length");
  let contentLength: number | null = null;
  if (length !== undefined) {
    if (!CONTENT_LENGTH.test(length)) return { ok: false, status: 400, error: "Content-Length is not a number" };
    contentLength = Number(length);
    if (contentLength > maxBodyBytes) return tooLarge(maxBodyBytes);
  }
  return { ok: true, headers: { id: id!, name: name!, signature: Buffer.from(hex, "hex"), contentLength } };
}

export function tooLarge(maxBodyBytes: number): RejectedDelivery {
  return { ok: false, status: 413, error: `payload larger than ${maxBodyBytes} bytes` };
}

export const BAD_SIGNATURE: RejectedDelivery = { ok: false, status: 401, error: "signature does not match (check WEBHOOK_SECRET)" };

/** HMAC-SHA256 of the body, fed chunk by chunk as it arrives, compared in constant time. */
export class SignatureCheck {
  private readonly hmac;

  constructor(
    secret: string,
    private readonly expected: Buffer,
  ) {
    this.hmac = createHmac("sha256", secret);
  }

  update(chunk: Buffer | string): void {
    this.hmac.update(chunk);
  }

  /** Call once, after the last chunk. */
  matches(): boolean {
    const actual = this.hmac.digest();
    return actual.length === this.expected.length && timingSafeEqual(actual, this.expected);
  }
}

/** Parses a body whose signature was verified. */
export function parseDelivery(headers: Pick<DeliveryHeaders, "id" | "name">, body: Buffer | string): VerifiedDelivery | RejectedDelivery {
  let payload: unknown;
  try {
    payload = JSON.parse(typeof body === "string" ? body : body.toString("utf8"));
  } catch {
    return { ok: false, status: 400, error: "body is not valid JSON" };
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    return { ok: false, status: 400, error: "body is not a JSON object" };
  }
  return { ok: true, id: headers.id, name: headers.name, payload: payload as Record<string, unknown> };
}

/** All steps at once, for a transport that already holds the whole body. */
export function verifyDelivery(header: HeaderGetter, rawBody: Buffer | string, secret: string, maxBodyBytes: number = MAX_BODY_BYTES): VerifiedDelivery | RejectedDelivery {
  const checked = checkDeliveryHeaders(header, maxBodyBytes);
  if (!checked.ok) return checked;
  if (Buffer.byteLength(rawBody) > maxBodyBytes) return tooLarge(maxBodyBytes);
  const signature = new SignatureCheck(secret, checked.headers.signature);
  signature.update(rawBody);
  // Verify before parsing: nothing unauthenticated is ever interpreted.
  if (!signature.matches()) return BAD_SIGNATURE;
  return parseDelivery(checked.headers, rawBody);
}
