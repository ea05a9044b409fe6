// Turns a raw HTTP delivery into a verified webhook event, or a status and a reason. Transport-
// neutral: the HTTP server uses it now, a Lambda ingress can use it later.
import { verify } from "@octokit/webhooks-methods";

export type HeaderGetter = (name: string) => string | undefined;

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

const JSON_TYPE = /^\s*application\/json\s*(?:;|$)/i;

export async function verifyDelivery(
  header: HeaderGetter,
  rawBody: string,
  secret: string,
): Promise<VerifiedDelivery | RejectedDelivery> {
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
  // Verify before parsing: nothing unauthenticated is ever interpreted.
  let valid = false;
  try {
    valid = await verify(secret, rawBody, signature!);
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, status: 401, error: "signature does not match (check WEBHOOK_SECRET)" };
  let payload: unknown;
  try {
    payload = JSON.parse(rawBody);
  } catch {
    return { ok: false, status: 400, error: "body is not valid JSON" };
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    return { ok: false, status: 400, error: "body is not a JSON object" };
  }
  return { ok: true, id: id!, name: name!, payload: payload as Record<string, unknown> };
}
