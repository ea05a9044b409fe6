// A local stand-in for GitHub's REST API, reached by the app through GHE_HOST=127.0.0.1:<port> and
// GHE_PROTOCOL=http (so every path starts with /api/v3). It records every request and answers
// from a route table; unknown routes are 404 and recorded, so tests can assert nothing else ran.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gitHttpHandler } from "./git-http.js";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
  body: unknown;
}

/** `contentType` set: `body` (a string) is sent as it is; otherwise as JSON. */
export type Route = (req: RecordedRequest) => { status: number; body?: unknown; contentType?: string; headers?: Record<string, string> } | undefined;

export class GitHubStandIn {
  readonly requests: RecordedRequest[] = [];
  private readonly routes: Array<{ method: string; pattern: RegExp; handle: Route }> = [];
  private server: Server | null = null;
  private git: ReturnType<typeof gitHttpHandler> | null = null;
  /** Authorization headers of git requests, in order. */
  readonly gitAuth: Array<string | undefined> = [];
  port = 0;

  /** Serves the bare repositories under `root` (as `root/<owner>/<repo>.git`) over git's smart HTTP, requiring `token`. */
  serveGit(root: string, token?: string): this {
    this.git = gitHttpHandler(root, { ...(token ? { token } : {}), authHeaders: this.gitAuth });
    return this;
  }

  on(method: string, pattern: RegExp, handle: Route): this {
    this.routes.push({ method, pattern, handle });
    return this;
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      if (this.git && !(req.url ?? "").startsWith("/api/v3/")) return this.git(req, res);
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : null;
        } catch {
          /* keep the raw text */
        }
        const path = (req.url ?? "/").replace(/^\/api\/v3/, "");
        const recorded = { method: req.method ?? "GET", path, headers: req.headers, body };
        this.requests.push(recorded);
        const route = this.routes.find((r) => r.method === recorded.method && r.pattern.test(path.split("?")[0]!));
        const answer = route?.handle(recorded) ?? { status: 404, body: { message: "Not Found" } };
        if (answer.contentType) {
          res.writeHead(answer.status, { "content-type": answer.contentType });
          res.end(String(answer.body ?? ""));
          return;
        }
        res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8", ...answer.headers });
        res.end(answer.body === undefined ? "" : JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
