// `serve`: the Probot app behind our own HTTP server, so that both webhook paths, /health and the
// admin routes share one port, and a bad delivery can never take the process down.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ApplicationFunction, Probot } from "probot";
import type { Logger } from "pino";
import { LiveStreams } from "./admin/live.js";
import { handleAdminRoute, sendJson, type AdminOperations } from "./admin/routes.js";
import type { BotIdentity } from "./github/identity.js";
import { SettingsError, type Settings } from "./settings.js";
import { BodyBudget, readSignedBody } from "./webhooks/body.js";
import type { DeliveryOutcomes } from "./webhooks/outcomes.js";
import { BAD_SIGNATURE, checkDeliveryHeaders, MAX_BODY_BYTES, parseDelivery, SignatureCheck, tooLarge, type RejectedDelivery } from "./webhooks/delivery.js";

/** Probot's path and the seed's path both receive deliveries. */
export const WEBHOOK_PATHS = ["/api/github/webhooks", "/webhook"] as const;
/**
 * Bytes of unverified bodies held at once, across all requests: one delivery of the largest size
 * GitHub sends fits, fifty forged ones do not add up.
 */
const MAX_BUFFERED_BODY_BYTES = 32 * 1024 * 1024;
/**
 * A sender that trickles its body holds a share of the budget. GitHub gives up on a delivery after
 * 10 s, so a request still arriving after this long is not GitHub's.
 */
const REQUEST_TIMEOUT_MS = 20_000;
/**
 * After a refusal the rest of the body is read and thrown away for this long at most, so the
 * sender sees the answer instead of a reset connection; then the connection is cut.
 */
const LINGER_MS = 5_000;
/** GitHub gives up after 10 s; answer 202 before that and let the handler finish. */
const ACK_TIMEOUT_MS = 9_000;

/** What the server serves: the composition root's app and admin operations (see wiring/services.ts). */
export interface ServerDeps {
  log: Logger;
  probot: Probot;
  identity: BotIdentity;
  /** The Probot app function that turns deliveries into tasks. */
  app: ApplicationFunction;
  /** What the admin routes report and control. */
  operations: AdminOperations;
  /** Counts what became of each delivery (the metrics); handlers note their decisions in it. */
  deliveries?: DeliveryOutcomes | undefined;
  /**
   * False for a worker (`serve --source sqs`): it takes its tasks from SQS, so the webhook paths
   * answer 404 instead of running deliveries past the queue.
   */
  receivesDeliveries?: boolean;
  /** Intake limits; the defaults follow GitHub's 25 MB cap. */
  intake?: { maxBodyBytes?: number; maxBufferedBytes?: number };
}

export interface RunningServer {
  url: string;
  port: number;
  botHandle: string;
  identity: BotIdentity;
  probot: Probot;
  close(): Promise<void>;
}

export async function startServer(settings: Settings, deps: ServerDeps): Promise<RunningServer> {
  const { log } = deps;
  const secret = settings.webhookSecret;
  if (settings.auth.kind === "unconfigured" || !secret) {
    throw new SettingsError("WEBHOOK_SECRET", "serve needs App credentials or GITHUB_TOKEN, and a webhook secret");
  }
  const { probot, identity } = deps;
  const botHandle = identity.handle;
  await probot.load(deps.app);
  // The dashboard's event streams stay open; a shutdown ends them instead of waiting for them.
  const live = new LiveStreams({ onError: (error) => log.warn({ err: error }, "dashboard snapshot failed") });
  const routeDeps = {
    credentials: { username: settings.adminUsername, password: settings.adminPassword, devMode: settings.devMode },
    metricsToken: settings.metricsToken,
    startedAt: Date.now(),
    operations: deps.operations,
    live,
  };
  const outcomes = deps.deliveries;

  const handle = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => {
    route(req, res, expectsContinue).catch((error: unknown) => {
      log.error({ err: error }, "request failed");
      if (!res.headersSent) sendJson(res, 500, { error: "internal error" });
      else res.destroy();
    });
  };
  const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS }, (req, res) => handle(req, res, false));
  // `Expect: 100-continue`: a delivery whose headers fail is refused before its body is sent.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));

  async function route(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    // Probot's manifest registration points the App's webhook at the site root.
    if ((WEBHOOK_PATHS as readonly string[]).includes(path) || (path === "/" && req.method === "POST")) {
      if (deps.receivesDeliveries === false) {
        return refuse(req, res, { ok: false, status: 404, error: "this process is a worker (TASK_SOURCE=sqs); send deliveries to the ingress" });
      }
      return receiveDelivery(req, res, expectsContinue);
    }
    if (expectsContinue) res.writeContinue();
    if (await handleAdminRoute(req, res, url, routeDeps)) return;
    sendJson(res, 404, { error: `no route ${req.method} ${path}` });
  }

  const maxBodyBytes = deps.intake?.maxBodyBytes ?? MAX_BODY_BYTES;
  const budget = new BodyBudget(deps.intake?.maxBufferedBytes ?? MAX_BUFFERED_BODY_BYTES);

  /**
   * Everything that needs no body is checked first, and a request that fails it is answered
   * without reading its body. The signature is computed as the bytes arrive, and the body is
   * parsed only once it matched.
   */
  async function receiveDelivery(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    if (req.method !== "POST") return refuse(req, res, { ok: false, status: 405, error: "deliveries are POSTed" });
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    // The header's value only names a label the outcomes know (eventLabel): it is not verified yet.
    const reject = (rejection: RejectedDelivery, id?: string) => {
      outcomes?.refused(header("x-github-event"), rejection.status === 401 ? "bad_signature" : "refused");
      refuse(req, res, rejection, id);
    };
    const checked = checkDeliveryHeaders(header, maxBodyBytes);
    if (!checked.ok) return reject(checked);
    const { headers } = checked;
    if (expectsContinue) res.writeContinue();
    const read = await readSignedBody(req, headers.contentLength, new SignatureCheck(secret!, headers.signature), { maxBytes: maxBodyBytes, budget });
    if (read.kind === "too-large") return reject(tooLarge(maxBodyBytes), headers.id);
    if (read.kind === "bad-signature") return reject(BAD_SIGNATURE, headers.id);
    if (read.kind === "incomplete") return reject({ ok: false, status: 400, error: "body ended early" }, headers.id);
    if (read.kind === "no-room") {
      outcomes?.refused(headers.name, "refused");
      log.warn({ delivery: headers.id, in_flight_bytes: budget.inUse }, "delivery not kept: too many bodies in flight; redeliver it");
      return sendJson(res, 503, { error: "too many deliveries in flight; redeliver it" }, { "retry-after": "10" });
    }
    let delivery;
    try {
      delivery = parseDelivery(headers, read.body);
    } finally {
      read.release();
    }
    if (!delivery.ok) return reject(delivery, headers.id);
    const work = probot.receive({ id: delivery.id, name: delivery.name, payload: delivery.payload } as never);
    // Counted when the handlers are done, even after a 202.
    work.then(
      () => outcomes?.settle(delivery.id, delivery.name, false),
      () => outcomes?.settle(delivery.id, delivery.name, true),
    );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), ACK_TIMEOUT_MS);
    });
    try {
      const outcome = await Promise.race([work.then(() => "done" as const), timedOut]);
      if (outcome === "timeout") {
        work.catch((error: unknown) => log.error({ err: error, delivery: delivery.id }, "delivery failed after 202"));
        return sendJson(res, 202, { status: "processing", delivery_id: delivery.id });
      }
      sendJson(res, 200, { status: "accepted", delivery_id: delivery.id });
    } catch (error) {
      // The details stay in our log; GitHub (and whoever reads its delivery log) gets no internals.
      log.error({ err: error, delivery: delivery.id, event: delivery.name }, "delivery failed");
      sendJson(res, 500, { error: "delivery failed; redeliver it from the App's advanced settings", delivery_id: delivery.id });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Answers at once; what is left of the body is discarded unread (never kept), up to the body
   * limit and LINGER_MS, and then the connection is cut. The answer is written whole but ended
   * only then: closing straight away would reset a connection the sender is still writing to,
   * and it might never see the status.
   */
  function refuse(req: IncomingMessage, res: ServerResponse, rejection: RejectedDelivery, delivery?: string): void {
    // A GET on the webhook path is a browser or a probe, not a failed delivery.
    log[rejection.status === 405 ? "debug" : "warn"]({ status: rejection.status, delivery }, `delivery rejected: ${rejection.error}`);
    const text = JSON.stringify({ error: rejection.error });
    res.writeHead(rejection.status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    if (req.complete) return void res.end(text);
    res.write(text);
    let discarded = 0;
    const finish = () => {
      clearTimeout(timer);
      if (!res.writableEnded) res.end();
    };
    const cut = () => {
      finish();
      req.socket.destroy();
    };
    const timer = setTimeout(cut, LINGER_MS).unref();
    req.on("data", (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > maxBodyBytes) cut();
    });
    req.once("end", finish);
    req.once("close", finish);
    req.resume();
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(settings.port, settings.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = settings.host === "0.0.0.0" || settings.host === "::" ? "127.0.0.1" : settings.host;
  const url = `http://${shownHost.includes(":") ? `[${shownHost}]` : shownHost}:${port}`;
  const stopProxy = settings.webhookProxyUrl ? await startSmee(settings.webhookProxyUrl, `${url}${WEBHOOK_PATHS[0]}`, log) : null;
  log.info({ url, bot: botHandle, auth: settings.auth.kind }, `listening on ${url}${WEBHOOK_PATHS[0]} and ${url}${WEBHOOK_PATHS[1]}`);

  return {
    url,
    port,
    botHandle,
    identity,
    probot,
    close: async () => {
      stopProxy?.();
      await live.closeAll();
      await closeServer(server);
    },
  };
}

async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // In-flight requests get a moment to finish; then connections are cut.
  const grace = setTimeout(() => server.closeAllConnections(), 5_000);
  await closed;
  clearTimeout(grace);
}

/** smee.io forwarding for local development (smee-client is a dev dependency). */
async function startSmee(source: string, target: string, log: Logger): Promise<(() => void) | null> {
  try {
    const { default: SmeeClient } = (await import("smee-client")) as unknown as {
      default: new (o: { source: string; target: string; logger: Pick<Logger, "info" | "error"> }) => {
        start(): Promise<unknown> | unknown;
        stop(): Promise<unknown> | unknown;
      };
    };
    const smee = new SmeeClient({ source, target, logger: log.child({ name: "smee" }) });
    await smee.start();
    log.info({ source, target }, "forwarding deliveries from smee");
    return () => void smee.stop();
  } catch (error) {
    log.warn({ err: error }, "WEBHOOK_PROXY_URL is set but smee-client could not start (npm install --save-dev smee-client)");
    return null;
  }
}
