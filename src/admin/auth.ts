// HTTP Basic auth for the admin routes. No password configured means closed, except in
// DEV_MODE (an empty password is never a valid password). GET /metrics also takes a bearer token
// (METRICS_TOKEN), so a scraper need not hold the admin password.
import { timingSafeEqual, createHash } from "node:crypto";

export type AdminAuthResult = "ok" | "missing" | "wrong" | "disabled";

export interface AdminCredentials {
  username: string;
  password: string | null;
  devMode: boolean;
}

const digest = (s: string) => createHash("sha256").update(s).digest();

export function checkAdminAuth(authorization: string | undefined, creds: AdminCredentials): AdminAuthResult {
  if (!creds.password && !creds.devMode) return "disabled";
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? "");
  if (!match) return "missing";
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return "wrong";
  if (!creds.password) return "ok"; // DEV_MODE without a password: any credentials, header still required.
  // Compare digests so neither length nor content leaks through timing.
  const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), digest(creds.username));
  const passOk = timingSafeEqual(digest(decoded.slice(colon + 1)), digest(creds.password));
  return userOk && passOk ? "ok" : "wrong";
}

/** `Authorization: Bearer <token>` with the configured token; never true without one. */
export function checkBearerToken(authorization: string | undefined, token: string | null): boolean {
  if (!token) return false;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  if (!match) return false;
  return timingSafeEqual(digest(match[1]!), digest(token));
}
