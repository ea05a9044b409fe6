// GET /health (open) and the Basic-auth admin routes.
import type { IncomingMessage, ServerResponse } from "node:http";
import { VERSION } from "../version.js";
import { checkAdminAuth, type AdminCredentials } from "./auth.js";

export interface AdminRoutesDeps {
  credentials: AdminCredentials;
  startedAt: number;
  /** What GET /status reports; gathered on each call. */
  status: () => Record<string, unknown>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Returns true when it answered the request. */
export function handleAdminRoute(req: IncomingMessage, res: ServerResponse, path: string, deps: AdminRoutesDeps): boolean {
  if (path === "/health" || path === "/") {
    if (req.method !== "GET" && req.method !== "HEAD") return methodNotAllowed(res);
    sendJson(res, 200, {
      status: "healthy",
      service: "devs-webhook",
      version: VERSION,
      uptime_seconds: Math.round((Date.now() - deps.startedAt) / 1000),
    });
    return true;
  }
  if (path === "/status") {
    if (req.method !== "GET") return methodNotAllowed(res);
    if (!authorized(req, res, deps)) return true;
    sendJson(res, 200, { version: VERSION, ...deps.status() });
    return true;
  }
  return false;
}

function methodNotAllowed(res: ServerResponse): true {
  sendJson(res, 405, { error: "method not allowed" });
  return true;
}

function authorized(req: IncomingMessage, res: ServerResponse, deps: AdminRoutesDeps): boolean {
  const result = checkAdminAuth(req.headers.authorization, deps.credentials);
  if (result === "ok") return true;
  if (result === "disabled") {
    sendJson(res, 503, { error: "admin API disabled: set ADMIN_PASSWORD (or DEV_MODE=true for development)" });
  } else {
    sendJson(res, 401, { error: "authentication required" }, { "www-authenticate": 'Basic realm="devs-webhook"' });
  }
  return false;
}
