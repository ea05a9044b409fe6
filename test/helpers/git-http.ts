// Git's smart HTTP protocol on loopback: `git http-backend` behind a small Node server, serving
// bare repositories under a root directory, optionally requiring a token the way GitHub does
// (Basic auth with any user name and the token as password).
import { spawn } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface GitHttpServer {
  url: string;
  /** Authorization headers seen, in order (to prove what was sent). */
  authHeaders: Array<string | undefined>;
  close(): Promise<void>;
}

/** The CGI bridge as a request handler, so other test servers (the GitHub stand-in) can mount it. */
export function gitHttpHandler(
  root: string,
  options: { token?: string; prefix?: string; authHeaders?: Array<string | undefined> } = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const authHeaders = options.authHeaders ?? [];
  const prefix = options.prefix ?? "";
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    authHeaders.push(req.headers.authorization);
    if (options.token) {
      const sent = req.headers.authorization ?? "";
      const password = sent.startsWith("Basic ") ? Buffer.from(sent.slice(6), "base64").toString().split(":").slice(1).join(":") : "";
      if (password !== options.token) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="git"' });
        res.end("unauthorised");
        return;
      }
    }
    if (!url.pathname.startsWith(prefix)) {
      res.writeHead(404);
      res.end();
      return;
    }
    const cgi = spawn("git", ["http-backend"], {
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: "1",
        PATH_INFO: url.pathname.slice(prefix.length),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? "GET",
        CONTENT_TYPE: req.headers["content-type"] ?? "",
        REMOTE_USER: "x-access-token",
        REMOTE_ADDR: "127.0.0.1",
        ...(req.headers["content-encoding"] ? { HTTP_CONTENT_ENCODING: req.headers["content-encoding"] } : {}),
        ...(req.headers["git-protocol"] ? { GIT_PROTOCOL: String(req.headers["git-protocol"]) } : {}),
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headerDone = false;
    cgi.stdout.on("data", (chunk: Buffer) => {
      if (headerDone) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      headerDone = true;
      let status = 200;
      for (const line of head.subarray(0, end).toString().split("\r\n")) {
        const [key, ...rest] = line.split(":");
        const value = rest.join(":").trim();
        if (key!.toLowerCase() === "status") status = Number(value.split(" ")[0]);
        else res.setHeader(key!, value);
      }
      res.writeHead(status);
      res.write(head.subarray(end + 4));
    });
    cgi.on("close", () => res.end());
  };
}

export async function startGitHttp(root: string, options: { token?: string; prefix?: string } = {}): Promise<GitHttpServer> {
  const authHeaders: Array<string | undefined> = [];
  const prefix = options.prefix ?? "";
  const server: Server = createServer(gitHttpHandler(root, { ...options, authHeaders }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    authHeaders,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
