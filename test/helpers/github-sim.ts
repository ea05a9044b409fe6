// A stateful GitHub for end-to-end tests: the REST calls the app makes, backed by real bare
// repositories (commits, contents, branches come from git) and in-memory issues state
// (comments, reactions, pull requests), plus git's smart HTTP for clone, fetch and push.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { GitHubStandIn, type RecordedRequest } from "./github-standin.js";

export interface SimComment {
  id: number;
  issue: number;
  body: string;
  user: { login: string };
  created_at: string;
  updated_at: string;
  edits: string[];
}

export interface SimPullRequest {
  number: number;
  head: string;
  base: string;
  title: string;
  body: string;
  draft: boolean;
  html_url: string;
  /** Who opened it; the bot when the app did. */
  author?: string;
  /** Edits through PATCH (a task that ran again updates its pull request). */
  updates?: number;
}

export class GitHubSim {
  readonly standIn = new GitHubStandIn();
  readonly comments: SimComment[] = [];
  readonly pulls: SimPullRequest[] = [];
  readonly reactions: Array<{ path: string; content: string }> = [];
  private nextId = 5000;

  constructor(
    readonly reposRoot: string,
    readonly token: string,
    readonly bot: { login: string; id: number } = { login: "devs-bot", id: 4242 },
  ) {}

  get requests(): RecordedRequest[] {
    return this.standIn.requests;
  }

  get host(): string {
    return this.standIn.host;
  }

  cloneUrl(owner: string, repo: string): string {
    return `http://${this.host}/${owner}/${repo}.git`;
  }

  htmlUrl(owner: string, repo: string): string {
    return `http://${this.host}/${owner}/${repo}`;
  }

  private bare(owner: string, repo: string): string | null {
    const path = join(this.reposRoot, owner, `${repo}.git`);
    return existsSync(path) ? path : null;
  }

  private git(path: string, ...args: string[]): string | null {
    try {
      return execFileSync("git", args, { cwd: path, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      return null;
    }
  }

  private authorized(req: RecordedRequest): boolean {
    return req.headers.authorization === `token ${this.token}`;
  }

  async start(): Promise<this> {
    const s = this.standIn.serveGit(this.reposRoot, this.token);
    const now = () => new Date().toISOString();
    type Answer = { status: number; body?: unknown; contentType?: string } | undefined;
    const guard = (handler: (req: RecordedRequest, m: RegExpExecArray) => Answer, pattern: RegExp) => (req: RecordedRequest) => {
      if (!this.authorized(req)) return { status: 401, body: { message: "Bad credentials" } };
      return handler(req, pattern.exec(req.path.split("?")[0]!)!);
    };
    const route = (method: string, pattern: RegExp, handler: (req: RecordedRequest, m: RegExpExecArray) => Answer) =>
      s.on(method, pattern, guard(handler, pattern));

    route("GET", /^\/user$/, () => ({ status: 200, body: this.bot }));
    route("GET", /^\/users\/([^/]+)$/, (_r, m) => ({ status: 200, body: { login: decodeURIComponent(m[1]!), id: this.bot.id } }));
    route("GET", /^\/repos\/([^/]+)\/([^/]+)\/collaborators\/([^/]+)\/permission$/, () => ({ status: 200, body: { permission: "write", role_name: "write" } }));
    route("GET", /^\/repos\/([^/]+)\/([^/]+)$/, (_r, m) => {
      const bare = this.bare(m[1]!, m[2]!);
      return bare ? { status: 200, body: { name: m[2], full_name: `${m[1]}/${m[2]}`, default_branch: "main", owner: { login: m[1] } } } : { status: 404, body: { message: "Not Found" } };
    });
    route("GET", /^\/repos\/([^/]+)\/([^/]+)\/commits\/(.+)$/, (req, m) => {
      const bare = this.bare(m[1]!, m[2]!);
      const sha = bare && this.git(bare, "rev-parse", "--verify", "--quiet", `${decodeURIComponent(m[3]!)}^{commit}`)?.trim();
      if (!sha) return { status: 404, body: { message: "No commit found" } };
      return String(req.headers.accept).includes("sha") ? { status: 200, body: sha, contentType: "text/plain; charset=utf-8" } : { status: 200, body: { sha } };
    });
    route("GET", /^\/repos\/([^/]+)\/([^/]+)\/contents\/(.+)$/, (req, m) => {
      const bare = this.bare(m[1]!, m[2]!);
      const query = new URLSearchParams(req.path.split("?")[1] ?? "");
      const ref = query.get("ref") ?? "main";
      const path = decodeURIComponent(m[3]!);
      const text = bare && this.git(bare, "show", `${ref}:${path}`);
      if (text === null || text === undefined || text === "") return { status: 404, body: { message: "Not Found" } };
      if (String(req.headers.accept).includes("raw")) return { status: 200, body: text, contentType: "text/plain; charset=utf-8" };
      return { status: 200, body: { type: "file", path, content: Buffer.from(text).toString("base64"), encoding: "base64" } };
    });
    route("POST", /^\/repos\/([^/]+)\/([^/]+)\/(issues\/comments\/\d+|issues\/\d+|pulls\/comments\/\d+)\/reactions$/, (req) => {
      this.reactions.push({ path: req.path, content: (req.body as { content: string }).content });
      return { status: 201, body: { id: this.nextId++, content: (req.body as { content: string }).content } };
    });
    route("GET", /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/, (_r, m) => ({
      status: 200,
      body: this.comments.filter((c) => c.issue === Number(m[3])),
    }));
    route("POST", /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/, (req, m) => {
      const c: SimComment = { id: this.nextId++, issue: Number(m[3]), body: (req.body as { body: string }).body, user: { login: `${this.bot.login}[bot]` }, created_at: now(), updated_at: now(), edits: [] };
      c.edits.push(c.body);
      this.comments.push(c);
      return { status: 201, body: c };
    });
    route("GET", /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/, (_req, m) => {
      const c = this.comments.find((x) => x.id === Number(m[3]));
      return c ? { status: 200, body: c } : { status: 404, body: { message: "Not Found" } };
    });
    route("PATCH", /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/, (req, m) => {
      const c = this.comments.find((x) => x.id === Number(m[3]));
      if (!c) return { status: 404, body: { message: "Not Found" } };
      c.body = (req.body as { body: string }).body;
      c.updated_at = now();
      c.edits.push(c.body);
      return { status: 200, body: c };
    });
    route("POST", /^\/repos\/([^/]+)\/([^/]+)\/pulls$/, (req, m) => {
      const b = req.body as { head: string; base: string; title: string; body: string; draft?: boolean };
      const bare = this.bare(m[1]!, m[2]!);
      if (!bare || !this.git(bare, "rev-parse", "--verify", "--quiet", `refs/heads/${b.head}`)) {
        return { status: 422, body: { message: "Validation Failed", errors: [{ field: "head", code: "invalid" }] } };
      }
      const number = 100 + this.pulls.length + 1;
      const pr: SimPullRequest = { number, head: b.head, base: b.base, title: b.title, body: b.body, draft: b.draft ?? false, html_url: `${this.htmlUrl(m[1]!, m[2]!)}/pull/${number}` };
      this.pulls.push(pr);
      return { status: 201, body: pr };
    });
    route("GET", /^\/repos\/([^/]+)\/([^/]+)\/pulls$/, (req, m) => {
      const query = new URLSearchParams(req.path.split("?")[1] ?? "");
      const head = query.get("head");
      const bare = this.bare(m[1]!, m[2]!);
      // All of them are open here; `head` is owner:branch, as GitHub takes it.
      const found = this.pulls.filter((pr) => !head || `${m[1]}:${pr.head}` === head);
      const sha = (branch: string) => (bare && this.git(bare, "rev-parse", "--verify", "--quiet", `refs/heads/${branch}`)?.trim()) || null;
      return { status: 200, body: found.map((pr) => ({ ...pr, state: "open", head: { ref: pr.head, sha: sha(pr.head) }, base: { ref: pr.base } })) };
    });
    route("GET", /^\/repos\/([^/]+)\/([^/]+)\/pulls\/(\d+)$/, (_req, m) => {
      const pr = this.pulls.find((p) => p.number === Number(m[3]));
      if (!pr) return { status: 404, body: { message: "Not Found" } };
      const bare = this.bare(m[1]!, m[2]!);
      const sha = (bare && this.git(bare, "rev-parse", "--verify", "--quiet", `refs/heads/${pr.head}`)?.trim()) || null;
      const repo = { full_name: `${m[1]}/${m[2]}` };
      return { status: 200, body: { ...pr, state: "open", user: { login: pr.author ?? `${this.bot.login}[bot]` }, head: { ref: pr.head, sha, repo }, base: { ref: pr.base, repo } } };
    });
    route("PATCH", /^\/repos\/([^/]+)\/([^/]+)\/pulls\/(\d+)$/, (req, m) => {
      const pr = this.pulls.find((p) => p.number === Number(m[3]));
      if (!pr) return { status: 404, body: { message: "Not Found" } };
      const b = req.body as { title?: string; body?: string };
      if (b.title !== undefined) pr.title = b.title;
      if (b.body !== undefined) pr.body = b.body;
      pr.updates = (pr.updates ?? 0) + 1;
      return { status: 200, body: pr };
    });
    await this.standIn.start();
    return this;
  }

  stop(): Promise<void> {
    return this.standIn.stop();
  }
}
