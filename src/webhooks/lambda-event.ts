// Turns the event AWS Lambda is invoked with for an HTTP request into the method, the headers and
// the raw body bytes: API Gateway REST APIs send "version 1.0" events, HTTP APIs and function URLs
// send "2.0" ones. What happens next (headers checked, signature verified, then parsed) is the same
// as for the HTTP server (see delivery.ts).
import type { HeaderGetter, RejectedDelivery } from "./delivery.js";

type HeaderMap = Record<string, string | undefined> | null | undefined;

/** API Gateway REST API (payload format 1.0). */
export interface RestApiEvent {
  httpMethod: string;
  headers?: HeaderMap;
  multiValueHeaders?: Record<string, string[] | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
}

/** API Gateway HTTP API (payload format 2.0) and Lambda function URLs: the same shape. */
export interface HttpApiEvent {
  version: "2.0";
  requestContext: { http: { method: string } };
  headers?: HeaderMap;
  body?: string | null;
  isBase64Encoded?: boolean;
}

export type LambdaHttpEvent = RestApiEvent | HttpApiEvent;

export interface LambdaRequest {
  ok: true;
  method: string;
  header: HeaderGetter;
  body: Buffer;
}

/**
 * The headers a delivery is judged by. Given twice with different values (say `X-Hub-Signature-256`
 * and `x-hub-signature-256`), which one counts would depend on the order of keys in JSON; a
 * sender that does that is refused rather than guessed at.
 */
const DELIVERY_HEADERS = ["content-type", "content-length", "x-github-event", "x-github-delivery", "x-hub-signature-256"];

export function readLambdaEvent(event: unknown): LambdaRequest | RejectedDelivery {
  const method = methodOf(event);
  if (!method) return { ok: false, status: 400, error: "not an HTTP event (API Gateway or a function URL)" };
  const http = event as { headers?: HeaderMap; multiValueHeaders?: RestApiEvent["multiValueHeaders"]; body?: unknown; isBase64Encoded?: unknown };
  const values = new Map<string, Set<string>>();
  const add = (name: string, value: string | undefined) => {
    if (value === undefined) return;
    const key = name.toLowerCase();
    if (!values.has(key)) values.set(key, new Set());
    values.get(key)!.add(value);
  };
  for (const [name, value] of Object.entries(http.headers ?? {})) add(name, value);
  for (const [name, list] of Object.entries(http.multiValueHeaders ?? {})) for (const value of list ?? []) add(name, value);
  for (const name of DELIVERY_HEADERS) {
    if ((values.get(name)?.size ?? 0) > 1) return { ok: false, status: 400, error: `header ${name} given more than once with different values` };
  }
  const header: HeaderGetter = (name) => {
    const found = values.get(name.toLowerCase());
    return found ? [...found][0] : undefined;
  };
  if (http.body !== undefined && http.body !== null && typeof http.body !== "string") {
    return { ok: false, status: 400, error: "event body is not a string" };
  }
  const text = http.body ?? "";
  const body = http.isBase64Encoded === true ? Buffer.from(text, "base64") : Buffer.from(text, "utf8");
  return { ok: true, method: method.toUpperCase(), header, body };
}

function methodOf(event: unknown): string | null {
  if (typeof event !== "object" || event === null) return null;
  const e = event as Partial<RestApiEvent> & { requestContext?: { http?: { method?: unknown } } };
  const v2 = e.requestContext?.http?.method;
  if (typeof v2 === "string" && v2) return v2;
  return typeof e.httpMethod === "string" && e.httpMethod ? e.httpMethod : null;
}
