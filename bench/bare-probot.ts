// A bare Probot 14 server, the ceiling of our stack for bench/ingest.bench.ts: one empty
// `app.onAny` handler behind Probot's own webhook middleware (signature check, parse, receive) on a
// plain node:http server, on loopback. It never talks to GitHub (token mode, no handler work).
//   PORT=<port> WEBHOOK_SECRET=<secret> [LOG_LEVEL=info] node --import tsx bench/bare-probot.ts
// It answers POST /webhook (as `serve` does) and GET /health.
import { createServer } from "node:http";
import { createNodeMiddleware, Probot } from "probot";

const port = Number(process.env.PORT);
const secret = process.env.WEBHOOK_SECRET;
if (!port || !secret) {
  console.error("bare-probot: set PORT and WEBHOOK_SECRET");
  process.exit(2);
}
const logLevel = (process.env.LOG_LEVEL ?? "info") as "info";
const probot = new Probot({ githubToken: "bare-probot-token", secret, logLevel });
const middleware = await createNodeMiddleware(
  (app) => {
    app.onAny(async () => undefined);
  },
  { probot, webhooksPath: "/webhook" },
);
const server = createServer((req, res) => {
  if (req.method === "GET" && req.url === "/health") {
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"status":"healthy"}');
    return;
  }
  void middleware(req, res, () => {
    res.writeHead(404);
    res.end();
  });
});
server.listen(port, "127.0.0.1");
process.once("SIGTERM", () => server.close(() => process.exit(0)));
