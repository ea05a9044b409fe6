// The Checks API and commit statuses on a GitHub stand-in, with state: every check run's writes in
// order (with the time each arrived), its merged current state and its annotations. And the two
// routes a GitHub App needs (GET /app, installation tokens) so the app can run in App mode against
// the stand-in. Register before GitHubSim.start(): its routes are tried in order.
import type { GitHubStandIn, RecordedRequest } from "./github-standin.js";

export interface CheckWrite {
  method: "POST" | "PATCH";
  body: Record<string, unknown>;
  /** Date.now() when it arrived. */
  at: number;
}

export interface SimCheckRun {
  id: number;
  repo: string;
  name: string;
  head_sha: string;
  external_id: string | null;
  status: string;
  conclusion: string | null;
  output: { title?: string; summary?: string; text?: string } | null;
  details_url: string | null;
  annotations: Array<Record<string, unknown>>;
  writes: CheckWrite[];
}

export interface SimStatus {
  repo: string;
  sha: string;
  state: string;
  context: string;
  description: string;
  target_url?: string;
  at: number;
}

export class ChecksSim {
  readonly runs: SimCheckRun[] = [];
  readonly statuses: SimStatus[] = [];
  private nextId = 9001;

  /** `token`: requests must carry `Authorization: token <token>` (as GitHubSim's routes). */
  constructor(standIn: GitHubStandIn, token?: string) {
    const ok = (req: RecordedRequest) => !token || req.headers.authorization === `token ${token}`;
    const denied = { status: 401, body: { message: "Bad credentials" } };
    standIn.on("POST", /^\/repos\/[^/]+\/[^/]+\/check-runs$/, (req) => {
      if (!ok(req)) return denied;
      const body = req.body as Record<string, unknown>;
      const run: SimCheckRun = {
        id: this.nextId++,
        repo: repoOf(req.path),
        name: String(body.name),
        head_sha: String(body.head_sha),
        external_id: (body.external_id as string | undefined) ?? null,
        status: "queued",
        conclusion: null,
        output: null,
        details_url: null,
        annotations: [],
        writes: [],
      };
      this.runs.push(run);
      apply(run, "POST", body);
      return { status: 201, body: view(run) };
    });
    standIn.on("PATCH", /^\/repos\/[^/]+\/[^/]+\/check-runs\/\d+$/, (req) => {
      if (!ok(req)) return denied;
      const run = this.runs.find((r) => r.id === Number(req.path.split("/").pop()));
      if (!run) return { status: 404, body: { message: "Not Found" } };
      apply(run, "PATCH", req.body as Record<string, unknown>);
      return { status: 200, body: view(run) };
    });
    standIn.on("GET", /^\/repos\/[^/]+\/[^/]+\/commits\/[^/]+\/check-runs$/, (req) => {
      if (!ok(req)) return denied;
      const [path, query = ""] = req.path.split("?");
      const sha = path!.split("/")[5]!;
      const name = new URLSearchParams(query).get("check_name");
      const runs = this.runs.filter((r) => r.repo === repoOf(path!) && r.head_sha === sha && (!name || r.name === name));
      return { status: 200, body: { total_count: runs.length, check_runs: runs.map(view) } };
    });
    standIn.on("POST", /^\/repos\/[^/]+\/[^/]+\/statuses\/[0-9a-f]+$/, (req) => {
      if (!ok(req)) return denied;
      const body = req.body as Omit<SimStatus, "repo" | "sha" | "at">;
      this.statuses.push({ ...body, repo: repoOf(req.path), sha: req.path.split("/").pop()!, at: Date.now() });
      return { status: 201, body: { id: this.statuses.length, ...body } };
    });
  }

  /** The run a task created (external_id is the task id). */
  forTask(taskId: string): SimCheckRun | undefined {
    return this.runs.find((r) => r.external_id === taskId);
  }

  /** Polls until `probe` returns a value (not undefined). */
  async until<T>(probe: () => T | undefined, timeoutMs = 30_000, what = "the check runs to reach the expected state"): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; runs: ${JSON.stringify(this.runs.map(brief), null, 1)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** GET /app and installation tokens, for an App whose installation token is `token`. */
export function serveAppAuth(standIn: GitHubStandIn, app: { slug: string; id: number; token: string }): void {
  const jwt = (req: RecordedRequest) => /^bearer\s+\S+\.\S+\.\S+$/i.test(String(req.headers.authorization ?? ""));
  standIn.on("GET", /^\/app$/, (req) => (jwt(req) ? { status: 200, body: { id: app.id, slug: app.slug, name: app.slug } } : { status: 401, body: { message: "A JSON web token could not be decoded" } }));
  standIn.on("POST", /^\/app\/installations\/\d+\/access_tokens$/, (req) =>
    jwt(req)
      ? { status: 201, body: { token: app.token, expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: { checks: "write", contents: "write" }, repository_selection: "all" } }
      : { status: 401, body: { message: "A JSON web token could not be decoded" } },
  );
}

function repoOf(path: string): string {
  const [, , owner, repo] = path.split("?")[0]!.split("/");
  return `${owner}/${repo}`;
}

function apply(run: SimCheckRun, method: "POST" | "PATCH", body: Record<string, unknown>): void {
  run.writes.push({ method, body, at: Date.now() });
  if (typeof body.status === "string") run.status = body.status;
  if (typeof body.conclusion === "string") {
    run.conclusion = body.conclusion;
    run.status = "completed";
  }
  if (typeof body.details_url === "string") run.details_url = body.details_url;
  const output = body.output as (SimCheckRun["output"] & { annotations?: Array<Record<string, unknown>> }) | undefined;
  if (output) {
    const { annotations, ...rest } = output;
    run.output = rest;
    if (annotations) run.annotations.push(...annotations);
  }
}

function view(run: SimCheckRun) {
  return { id: run.id, name: run.name, head_sha: run.head_sha, external_id: run.external_id, status: run.status, conclusion: run.conclusion, output: run.output, details_url: run.details_url };
}

function brief(run: SimCheckRun) {
  return { id: run.id, external_id: run.external_id, status: run.status, conclusion: run.conclusion, title: run.output?.title, writes: run.writes.length };
}
