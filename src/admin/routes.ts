// GET /health (open) and the Basic-auth admin routes.
import type { IncomingMessage, ServerResponse } from "node:http";
import { VERSION } from "../version.js";
import { checkAdminAuth, checkBearerToken, type AdminCredentials } from "./auth.js";
import { crossSiteRefusal } from "./cross-site.js";
import { dashboardHeaders, newNonce, renderFragments, renderPage, type DashboardView, type PoolView, type TaskSummary } from "./dashboard.js";
import type { LiveEvent, LiveStreams } from "./live.js";

/** What the admin routes can ask of the running process; absent parts answer 501. */
export interface AdminOperations {
  status(): Record<string, unknown>;
  /** Per slot: tasks queued and the running task (GET /containers, its path from older builds). */
  slots?(): Record<string, unknown>;
  /** Stops a slot's containers (POST /container/{slot}/stop). */
  stopSlot?(slot: string): Promise<"stopped" | "busy" | "unknown">;
  cancelTask?(id: string): boolean;
  recentTasks?(limit: number): TaskSummary[];
  /** Prometheus text exposition, with its content type. */
  metrics?(): Promise<{ text: string; contentType: string }>;
  /** Each slot's queue, running task and warm containers (the dashboard). */
  poolView?(): Promise<PoolView>;
  /** A task's log (GET /tasks/{id}/log), or null when it has none. */
  taskLog?(id: string): Promise<string | null>;
  /** A task's log for its public link (GET /logs/{id}/{token}, PUBLIC_URL), or null when the token is wrong or there is none. */
  publicTaskLog?(id: string, token: string): Promise<string | null>;
  /** The pool's events until the returned function is called (GET /events). */
  subscribe?(listener: (event: LiveEvent) => void): () => void;
}

export interface AdminRoutesDeps {
  credentials: AdminCredentials;
  /** METRICS_TOKEN: GET /metrics also answers this bearer token. */
  metricsToken?: string | null | undefined;
  startedAt: number;
  operations: AdminOperations;
  /** The open event streams (GET /events); without it the route answers 501. */
  live?: LiveStreams;
}

/** Tasks the dashboard lists. */
const DASHBOARD_TASKS = 50;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

const DEFAULT_TASK_LIMIT = 50;
const MAX_TASK_LIMIT = 500;

/**
 * `?limit=` of GET /tasks: absent means 50; a whole number is capped at 500; anything else (0,
 * negative, fractions, words) is refused, since SQLite reads a negative LIMIT as "no limit".
 */
function parseTaskLimit(raw: string | null): number | null {
  if (raw === null) return DEFAULT_TASK_LIMIT;
  if (!/^\d+$/.test(raw)) return null;
  const limit = Number(raw);
  return limit >= 1 ? Math.min(limit, MAX_TASK_LIMIT) : null;
}

type Route = {
  method: string;
  /** Also open to the bearer token (GET /metrics). */
  bearer?: boolean;
  pattern: RegExp;
  handle: (res: ServerResponse, match: RegExpExecArray, url: URL) => Promise<void> | void;
};

/** A browser asking for a page; probes and scripts that read `/` as health ask for JSON or anything. */
function wantsPage(req: IncomingMessage): boolean {
  return (req.method === "GET" || req.method === "HEAD") && /\btext\/html\b/i.test(req.headers.accept ?? "");
}

/** Returns true when it answered the request. */
export async function handleAdminRoute(req: IncomingMessage, res: ServerResponse, url: URL, deps: AdminRoutesDeps): Promise<boolean> {
  const path = url.pathname.replace(/\/+$/, "") || "/";
  const ops = deps.operations;
  if (path === "/" && wantsPage(req)) {
    if (!authorized(req, res, deps)) return true;
    const view = await dashboardView(ops);
    if (!view) {
      notAvailable(res);
      return true;
    }
    const nonce = newNonce();
    const html = renderPage(view, nonce, VERSION);
    res.writeHead(200, dashboardHeaders(nonce, Buffer.byteLength(html)));
    res.end(req.method === "HEAD" ? undefined : html);
    return true;
  }
  // Browsers ask for it with every dashboard; no icon, and no 404 in their console.
  if (path === "/favicon.ico" && req.method === "GET") {
    res.writeHead(204, { "cache-control": "max-age=86400" });
    res.end();
    return true;
  }
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
  // The unguessable link in final comments: the token is the credential, and a wrong one looks missing.
  const publicLog = /^\/logs\/([^/]+)\/([^/]+)$/.exec(path);
  if (publicLog && ops.publicTaskLog) {
    if (req.method !== "GET") return methodNotAllowed(res);
    const id = decodeSegment(publicLog[1]!);
    sendLog(res, id === null ? null : await ops.publicTaskLog(id, publicLog[2]!));
    return true;
  }
  const routes: Route[] = [
    {
      method: "GET",
      pattern: /^\/events$/,
      handle: (r) => {
        const subscribe = ops.subscribe?.bind(ops);
        if (!subscribe || !deps.live || !ops.poolView || !ops.recentTasks) return notAvailable(r);
        deps.live.open(r, {
          subscribe,
          snapshot: async () => JSON.stringify(renderFragments((await dashboardView(ops))!)),
        });
      },
    },
    { method: "GET", pattern: /^\/status$/, handle: (r) => sendJson(r, 200, { version: VERSION, ...ops.status() }) },
    { method: "GET", pattern: /^\/containers$/, handle: (r) => (ops.slots ? sendJson(r, 200, ops.slots()) : notAvailable(r)) },
    {
      method: "POST",
      pattern: /^\/container\/([a-z\d_-]+)\/stop$/,
      handle: async (r, m) => {
        if (!ops.stopSlot) return notAvailable(r);
        const name = m[1]!;
        const result = await ops.stopSlot(name);
        // `container` is the older name of `slot`, kept for operators' scripts.
        if (result === "stopped") sendJson(r, 200, { status: "stopped", slot: name, container: name });
        else if (result === "busy") sendJson(r, 409, { error: `slot ${name} is running a task; cancel it first` });
        else sendJson(r, 404, { error: `no slot named ${name} in CONTAINER_POOL or CI_CONTAINER_POOL` });
      },
    },
    {
      method: "GET",
      pattern: /^\/tasks$/,
      handle: (r, _m, u) => {
        if (!ops.recentTasks) return notAvailable(r);
        const limit = parseTaskLimit(u.searchParams.get("limit"));
        if (limit === null) return sendJson(r, 400, { error: `limit must be a whole number of 1 or more (at most ${MAX_TASK_LIMIT} tasks are listed)` });
        sendJson(r, 200, { tasks: ops.recentTasks(limit) });
      },
    },
    {
      method: "GET",
      pattern: /^\/tasks\/([^/]+)\/log$/,
      handle: async (r, m) => {
        if (!ops.taskLog) return notAvailable(r);
        const id = decodeSegment(m[1]!);
        sendLog(r, id === null ? null : await ops.taskLog(id));
      },
    },
    {
      method: "POST",
      pattern: /^\/tasks?\/([\w.:-]+)\/cancel$/,
      handle: (r, m) => {
        if (!ops.cancelTask) return notAvailable(r);
        if (ops.cancelTask(m[1]!)) sendJson(r, 200, { status: "cancelled", task: m[1] });
        else sendJson(r, 404, { error: `no queued or running task ${m[1]}` });
      },
    },
    {
      method: "GET",
      pattern: /^\/metrics$/,
      bearer: true,
      handle: async (r) => {
        if (!ops.metrics) return notAvailable(r);
        const { text, contentType } = await ops.metrics();
        r.writeHead(200, { "content-type": contentType, "content-length": Buffer.byteLength(text) });
        r.end(text);
      },
    },
  ];
  for (const route of routes) {
    const match = route.pattern.exec(path);
    if (!match) continue;
    if (req.method !== route.method) return methodNotAllowed(res);
    const refusal = req.method === "POST" ? crossSiteRefusal((name) => first(req.headers[name])) : null;
    if (refusal) {
      sendJson(res, 403, { error: refusal });
      return true;
    }
    if (!(route.bearer && checkBearerToken(req.headers.authorization, deps.metricsToken ?? null)) && !authorized(req, res, deps)) return true;
    await route.handle(res, match, url);
    return true;
  }
  return false;
}

/** What the dashboard shows now, or null when this process has no pool to show. */
async function dashboardView(ops: AdminOperations): Promise<DashboardView | null> {
  if (!ops.poolView || !ops.recentTasks) return null;
  const pool = await ops.poolView();
  return { now: Date.now(), pool, tasks: ops.recentTasks(DASHBOARD_TASKS) };
}

function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** A task's log as plain text (never rendered: it holds what hostile code printed), or 404. */
function sendLog(res: ServerResponse, text: string | null): void {
  if (text === null) return sendJson(res, 404, { error: "no log for this task" });
  res.writeHead(200, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
  });
  res.end(text);
}

const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

function methodNotAllowed(res: ServerResponse): true {
  sendJson(res, 405, { error: "method not allowed" });
  return true;
}

function notAvailable(res: ServerResponse): void {
  sendJson(res, 501, { error: "not available in this mode" });
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
