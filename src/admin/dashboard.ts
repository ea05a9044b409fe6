// The dashboard at GET /: the pool's slots and the newest tasks, rendered on the server with every
// piece of user text escaped (titles and repository names come from GitHub users), under a
// Content-Security-Policy that runs only the page's own script. The event stream sends the same
// fragments again, so the page never has a second renderer.
import { randomBytes } from "node:crypto";
import type { Task } from "../tasks/task.js";

/** One task as the dashboard and GET /tasks list it (the journal's row, with its links). */
export interface TaskSummary {
  id: string;
  kind: Task["kind"];
  repo: string;
  /** The issue or pull request number; 0 for a CI run of a pushed commit. */
  target: number;
  title: string;
  /** The issue, pull request or commit on GitHub. */
  url: string;
  /** Where the task reports: the check run's page (CI), or the issue or pull request of its progress comment (agent). */
  report_url: string;
  state: string;
  slot: string | null;
  container: string | null;
  attempts: number;
  detail: string | null;
  cost_usd: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** Seconds per phase once it finished (tasks/phases.ts), else null. */
  phases: Record<string, number> | null;
}

/** A task the pool holds, as a slot shows it. */
export interface SlotTask {
  id: string;
  kind: Task["kind"];
  repo: string;
  target: number;
  title: string;
  url: string;
}

export interface SlotView {
  name: string;
  /** `main` (CONTAINER_POOL), `ci` (CI_CONTAINER_POOL) or both. */
  pools: Array<"main" | "ci">;
  queued: SlotTask[];
  running: (SlotTask & { started_at: number }) | null;
  /** Repositories (with their trust) whose container runs in the slot; null when unknown here. */
  warm: string[] | null;
}

export interface PoolView {
  slots: SlotView[];
  running: number;
  max_concurrent_tasks: number;
}

export interface DashboardView {
  now: number;
  pool: PoolView;
  tasks: TaskSummary[];
}

/** The pieces of the page the event stream replaces. */
export interface DashboardFragments {
  /** The server's clock when they were made, for the page's ticking ages. */
  now: number;
  summary: string;
  pool: string;
  tasks: string;
}

/** How a task is listed: the URL of what it works on, and of where it reports. */
export function taskLinks(task: Task): { url: string; report_url: string } {
  const url = task.target.url;
  if (task.kind === "ci" && task.ci) {
    const commit = `${task.repo.htmlUrl}/commit/${task.ci.headSha}`;
    // A check run's own URL is not kept; the commit's checks page lists it under its name.
    return { url, report_url: task.ci.report === "checks" ? `${commit}/checks` : commit };
  }
  // The progress comment's id is not kept either: it is on this issue or pull request.
  return { url, report_url: url };
}

const HTML_ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** Only web addresses become links: a `javascript:` URL in a payload stays text. */
function link(url: string, text: string): string {
  if (!/^https?:\/\//i.test(url)) return escapeHtml(text);
  return `<a href="${escapeHtml(url)}" rel="noreferrer noopener" target="_blank">${escapeHtml(text)}</a>`;
}

function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** A time still running: the page's script moves it on every second between snapshots. */
function since(start: number, now: number): string {
  return `<span data-since="${start}">${duration(now - start)}</span>`;
}

/** `2026-12-02 03:04:05`, UTC, as the journal keeps it. */
function utc(iso: string): string {
  return iso.replace("T", " ").replace(/(\.\d+)?Z$/, "");
}

/** Today's times as `03:04:05`, older ones with their date; the whole time on hover. */
function time(iso: string | null, now: number): string {
  if (!iso) return "—";
  const full = utc(iso);
  const shown = full.slice(0, 10) === utc(new Date(now).toISOString()).slice(0, 10) ? full.slice(11) : full;
  return `<time datetime="${escapeHtml(iso)}" title="${escapeHtml(full)} UTC">${escapeHtml(shown)}</time>`;
}

const ACTIVE = new Set(["queued", "running"]);

/** Queued tasks listed per slot; the count covers them all. */
const QUEUE_SHOWN = 25;

function targetText(t: { kind: string; target: number; url: string }): string {
  if (t.target) return `#${t.target}`;
  return t.kind === "ci" ? "commit" : "—";
}

function renderSlotTask(t: SlotTask): string {
  return `${escapeHtml(t.repo)} ${link(t.url, targetText(t))} <span class="kind">${escapeHtml(t.kind)}</span> <span class="title">${escapeHtml(t.title)}</span>`;
}

function renderSlot(slot: SlotView, now: number): string {
  const warm =
    slot.warm === null
      ? `<span class="warm unknown">container: not known here</span>`
      : slot.warm.length
        ? `<span class="warm on">warm: ${slot.warm.map(escapeHtml).join(", ")}</span>`
        : `<span class="warm off">no container running</span>`;
  const running = slot.running
    ? `<p class="running">running ${renderSlotTask(slot.running)} <span class="age">for ${since(slot.running.started_at, now)}</span></p>`
    : `<p class="idle">idle</p>`;
  // The next few of a long queue: a backlog of thousands must not make every refresh a megabyte.
  const shown = slot.queued.slice(0, QUEUE_SHOWN);
  const more = slot.queued.length - shown.length;
  const queued = slot.queued.length
    ? `<ol class="queue">${shown.map((t) => `<li>${renderSlotTask(t)}</li>`).join("")}</ol>${more ? `<p class="more">and ${more} more</p>` : ""}`
    : "";
  return (
    `<section class="slot" data-slot="${escapeHtml(slot.name)}"><h3>${escapeHtml(slot.name)} <small>${slot.pools.join(" + ")}</small></h3>` +
    `${warm}${running}<p class="queued">queue: ${slot.queued.length}</p>${queued}</section>`
  );
}

function renderTask(t: TaskSummary, now: number): string {
  const started = t.started_at ? Date.parse(t.started_at) : null;
  const ended = t.finished_at ? Date.parse(t.finished_at) : null;
  const took = started === null ? "—" : ended === null ? since(started, now) : duration(ended - started);
  const report = t.kind === "ci" ? link(t.report_url, "check run") : link(t.report_url, "progress comment");
  // Same origin and the same Basic auth as this page; the log is served as plain text.
  const log = t.finished_at ? `<a href="/tasks/${escapeHtml(encodeURIComponent(t.id))}/log" rel="noreferrer">log</a>` : "—";
  const cancel = ACTIVE.has(t.state) ? `<button type="button" data-cancel="${escapeHtml(t.id)}">cancel</button>` : "";
  return (
    `<tr data-task="${escapeHtml(t.id)}" data-state="${escapeHtml(t.state)}">` +
    `<td class="state ${escapeHtml(t.state)}">${escapeHtml(t.state)}</td>` +
    `<td>${escapeHtml(t.kind)}</td>` +
    `<td class="task">${escapeHtml(t.repo)} ${link(t.url, targetText(t))}<div class="title">${escapeHtml(t.title)}</div>` +
    (t.detail ? `<div class="detail">${escapeHtml(t.detail)}</div>` : "") +
    `</td><td>${escapeHtml(t.slot ?? "—")}</td>` +
    `<td>${time(t.created_at, now)}</td><td>${time(t.started_at, now)}</td><td>${time(t.finished_at, now)}</td><td>${took}</td>` +
    `<td>${t.cost_usd ? `$${t.cost_usd.toFixed(4)}` : "—"}</td><td>${report}</td><td>${log}</td><td>${cancel}</td></tr>`
  );
}

export function renderFragments(view: DashboardView): DashboardFragments {
  const { pool, tasks, now } = view;
  const queued = pool.slots.reduce((n, s) => n + s.queued.length, 0);
  const summary = `${pool.running} of ${pool.max_concurrent_tasks} running · ${queued} queued · updated ${utc(new Date(now).toISOString())} UTC`;
  const rows = tasks.length
    ? tasks.map((t) => renderTask(t, now)).join("")
    : `<tr><td colspan="12" class="empty">no tasks yet</td></tr>`;
  return {
    now,
    summary: escapeHtml(summary),
    pool: pool.slots.map((s) => renderSlot(s, now)).join(""),
    tasks:
      `<table><thead><tr><th>state</th><th>kind</th><th>task</th><th>slot</th><th>created</th><th>started</th><th>finished</th>` +
      `<th>duration</th><th>cost</th><th>report</th><th>log</th><th></th></tr></thead><tbody>${rows}</tbody></table>`,
  };
}

/** A fresh nonce for each page: the page's one script runs, anything injected would not. */
export function newNonce(): string {
  return randomBytes(16).toString("base64");
}

/** Nothing from elsewhere: closed networks, and no way for injected markup to load or send anything. */
function dashboardCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "connect-src 'self'",
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Headers of the page: the policy, no caching of what admins see, no sniffing, no referrer to GitHub. */
export function dashboardHeaders(nonce: string, length: number): Record<string, string | number> {
  return {
    "content-type": "text/html; charset=utf-8",
    "content-length": length,
    "content-security-policy": dashboardCsp(nonce),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1f2328;background:#f6f8fa}
h1{font-size:1.3rem;margin:0 0 .3rem}h2{font-size:1.05rem;margin:1.2rem 0 .5rem}h3{margin:0 0 .3rem;font-size:1rem}
small,.kind,.detail,.age{color:#59636e}.title{color:#1f2328}.detail{font-size:12px}
#summary{color:#59636e}#conn{font-weight:600;margin-left:.5rem}#conn.live{color:#1a7f37}#conn.down{color:#cf222e}
#pool{display:flex;flex-wrap:wrap;gap:.8rem}
.slot{background:#fff;border:1px solid #d1d9e0;border-radius:6px;padding:.7rem .9rem;flex:1 1 18rem;max-width:30rem}
.slot p{margin:.25rem 0}.queue{margin:.2rem 0;padding-left:1.3rem}
.warm{font-size:12px;border-radius:1rem;padding:0 .5rem}.warm.on{background:#dafbe1}.warm.off,.warm.unknown{background:#eff2f5}
table{border-collapse:collapse;background:#fff;width:100%}th,td{border:1px solid #d1d9e0;padding:.3rem .5rem;text-align:left;vertical-align:top}
td{white-space:nowrap}td.task{white-space:normal;width:40%}th{background:#eff2f5;font-weight:600}.state{font-weight:600}.done{color:#1a7f37}.failed,.timed_out{color:#cf222e}
.running{color:#9a6700}.cancelled{color:#59636e}.queued{color:#0969da}.empty{color:#59636e;text-align:center}
button{cursor:pointer}#last{color:#59636e;font-size:12px}`;

/**
 * The page's only script: it follows /events and swaps in the fragments each snapshot brings,
 * and its cancel buttons POST with the header a cross-site form cannot send.
 */
const SCRIPT = `
(() => {
  const $ = (id) => document.getElementById(id);
  const conn = $("conn");
  const say = (text) => { $("last").textContent = text; };
  // Ages tick between snapshots, on the server's clock (the browser's may be off).
  let skew = 0;
  const duration = (ms) => {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + "s";
    const m = Math.floor(s / 60);
    return m < 60 ? m + "m " + (s % 60) + "s" : Math.floor(m / 60) + "h " + (m % 60) + "m";
  };
  const tick = () => {
    for (const el of document.querySelectorAll("[data-since]")) el.textContent = duration(Date.now() + skew - Number(el.dataset.since));
  };
  const apply = (f) => {
    skew = f.now - Date.now();
    for (const k of ["summary", "pool", "tasks"]) $(k).innerHTML = f[k];
  };
  setInterval(tick, 1000);
  const events = new EventSource("/events");
  events.addEventListener("snapshot", (e) => apply(JSON.parse(e.data)));
  for (const type of ["queued", "started", "suspended", "finished", "cancelled"]) {
    events.addEventListener(type, (e) => { const d = JSON.parse(e.data); say(type + " " + d.task + (d.slot ? " (" + d.slot + ")" : "")); });
  }
  events.onopen = () => { conn.textContent = "live"; conn.className = "live"; };
  events.onerror = () => { conn.textContent = "reconnecting…"; conn.className = "down"; };
  document.addEventListener("click", async (e) => {
    const button = e.target instanceof Element ? e.target.closest("button[data-cancel]") : null;
    if (!button) return;
    const id = button.dataset.cancel;
    button.disabled = true;
    button.textContent = "cancelling…";
    try {
      const res = await fetch("/tasks/" + encodeURIComponent(id) + "/cancel", { method: "POST", headers: { "X-Requested-With": "devs-dashboard" } });
      const body = await res.json().catch(() => ({}));
      say(res.ok ? "cancelled " + id : "could not cancel " + id + ": " + (body.error || res.status));
    } catch (error) {
      say("could not cancel " + id + ": " + error);
    }
  });
})();`;

export function renderPage(view: DashboardView, nonce: string, version: string): string {
  const f = renderFragments(view);
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>devs-webhook</title><style nonce="${nonce}">${STYLE}</style></head><body>` +
    `<h1>devs-webhook <small>${escapeHtml(version)}</small><span id="conn">connecting…</span></h1>` +
    `<p id="summary">${f.summary}</p><p id="last"></p>` +
    `<h2>Slots</h2><div id="pool">${f.pool}</div>` +
    `<h2>Recent tasks</h2><div id="tasks">${f.tasks}</div>` +
    `<script nonce="${nonce}">${SCRIPT}</script></body></html>`
  );
}
