// The AWS Lambda ingress: GitHub's deliveries arrive through a function URL or API Gateway, run
// through the same checks, handlers and policy as `serve`, and the tasks they make go to a sink
// (the SQS FIFO queue) instead of a local pool. It only verifies, decides and enqueues, so GitHub
// has its answer long before its 10-second timeout; worker hosts run the tasks.
//
// @probot/adapter-aws-lambda-serverless is not used: its last release depends on Probot 13, and
// it skips what the server checks before Probot sees a delivery (content type, the shape of the
// delivery id that becomes a task id, one value per header).
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import type { ProbotOctokit } from "probot";
import { resolveBotIdentity } from "./github/identity.js";
import { createProbot } from "./github/probot.js";
import { createLogger } from "./logging.js";
import { loadSettings, SettingsError, type Env, type Settings } from "./settings.js";
import type { TaskSink } from "./tasks/sink.js";
import { verifyDelivery } from "./webhooks/delivery.js";
import { readLambdaEvent } from "./webhooks/lambda-event.js";
import { buildServices, type Services } from "./wiring/services.js";

/** What API Gateway (either payload format) and function URLs take as the answer. */
export interface LambdaResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface LambdaHandler {
  /** Takes the event of an API Gateway REST or HTTP API, or a function URL (`LambdaHttpEvent`). */
  (event: unknown): Promise<LambdaResult>;
  /** Closes the database of an instance that was set up (tests; Lambda just freezes it). */
  close(): Promise<void>;
}

export interface LambdaOptions {
  settings: Settings;
  /** Where handlers hand their tasks (default: the settings' TASK_SINK, the SQS queue in Lambda). */
  sink?: TaskSink | undefined;
  /** Default: the process logger from LOG_LEVEL and LOG_FORMAT (CloudWatch reads stdout). */
  log?: Logger;
  /** Default: Probot's client (tests turn retries and throttling off). */
  Octokit?: typeof ProbotOctokit;
}

interface Ingress {
  log: Logger;
  services: Services;
  secret: string;
}

/**
 * Starts setting up at once (the client, the bot's identity, the app loaded into Probot) and
 * answers each event once that is done, so an event arriving during a cold start waits for it
 * rather than meeting a half-built app. The setup runs once per instance; one that failed (GitHub
 * unreachable, say) is tried again by the next event.
 */
export function createLambdaHandler(options: LambdaOptions): LambdaHandler {
  let log = options.log ?? null;
  let ready: Promise<Ingress> | null = null;
  const setUp = () => {
    ready ??= (async () => {
      log ??= await createLogger(options.settings);
      return openIngress(options, log);
    })().catch((error: unknown) => {
      ready = null;
      throw error;
    });
    return ready;
  };
  // Failures are reported by the event that waits for the setup.
  setUp().catch(() => undefined);

  const handle = async (event: unknown): Promise<LambdaResult> => {
    let ingress: Ingress;
    try {
      ingress = await setUp();
    } catch (error) {
      if (log) log.error({ err: error }, "the ingress could not start");
      else console.error(`the ingress could not start: ${(error as Error).message}`);
      return answer(503, { error: "the app is not ready; redeliver it" });
    }
    return receive(ingress, event);
  };
  return Object.assign(handle, {
    close: async () => {
      const open = await ready?.catch(() => null);
      await open?.services.close();
    },
  });
}

async function openIngress(options: LambdaOptions, log: Logger): Promise<Ingress> {
  const { settings, sink } = options;
  const secret = settings.webhookSecret;
  if (settings.auth.kind === "unconfigured") {
    throw new SettingsError("APP_ID", "the Lambda ingress needs App credentials (APP_ID and PRIVATE_KEY) or GITHUB_TOKEN");
  }
  if (!secret) throw new SettingsError("WEBHOOK_SECRET", "required to verify deliveries (alias GITHUB_WEBHOOK_SECRET)");
  const probot = createProbot(settings, log, options.Octokit);
  const identity = await resolveBotIdentity(probot, settings, log);
  // No task kinds: this process runs nothing; every task goes to the sink.
  const services = buildServices(settings, { log, probot, identity }, { kinds: {}, ...(sink ? { sink } : {}) });
  await probot.load(services.app);
  log.info({ bot: identity.handle, auth: settings.auth.kind }, "Lambda ingress ready");
  return { log, services, secret };
}

/** The server's steps for a body already in memory: method, headers, signature, then Probot. */
async function receive(ingress: Ingress, event: unknown): Promise<LambdaResult> {
  const { log, services, secret } = ingress;
  const request = readLambdaEvent(event);
  if (!request.ok) return refuse(log, request.status, request.error);
  if (request.method !== "POST") return refuse(log, 405, "deliveries are POSTed");
  const delivery = verifyDelivery(request.header, request.body, secret);
  if (!delivery.ok) return refuse(log, delivery.status, delivery.error, request.header("x-github-delivery"));
  try {
    // Awaited whole, the 👀 included: Lambda freezes the instance once the answer is returned.
    await services.probot.receive({ id: delivery.id, name: delivery.name, payload: delivery.payload } as never);
    await services.acknowledgements.idle();
  } catch (error) {
    // The details stay in our log; GitHub (and whoever reads its delivery log) gets no internals.
    log.error({ err: error, delivery: delivery.id, event: delivery.name }, "delivery failed");
    return answer(500, { error: "delivery failed; redeliver it from the App's advanced settings", delivery_id: delivery.id });
  }
  return answer(200, { status: "accepted", delivery_id: delivery.id });
}

function refuse(log: Logger, status: number, error: string, delivery?: string): LambdaResult {
  log[status === 405 ? "debug" : "warn"]({ status, delivery }, `delivery rejected: ${error}`);
  return answer(status, { error });
}

function answer(statusCode: number, body: Record<string, unknown>): LambdaResult {
  return { statusCode, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}

/**
 * Settings in Lambda: only /tmp is writable there, so the delivery memory and the journal's
 * database (DATA_DIR) and every other `~` path live under it unless set.
 */
export function lambdaSettings(env: Env, scratch: string = tmpdir()): Settings {
  const dataDir = env.DATA_DIR?.trim() ? {} : { DATA_DIR: join(scratch, "devs-webhook") };
  // An ingress always: tasks go to the queue (TASK_SINK=sqs), which needs AWS_SQS_QUEUE_URL.
  const sink = env.TASK_SINK?.trim() ? {} : { TASK_SINK: "sqs" };
  return loadSettings({ ...env, ...dataDir, ...sink }, scratch);
}

let fromEnvironment: LambdaHandler | null = null;

/**
 * The function's handler (`dist/lambda.handler`). Built on the first event, from the environment:
 * a bad setting fails that event with 503 and one log line naming the variable.
 */
export const handler = (event: unknown): Promise<LambdaResult> => {
  if (!fromEnvironment) {
    let settings: Settings;
    try {
      settings = lambdaSettings(process.env);
    } catch (error) {
      console.error(error instanceof SettingsError ? error.message : error);
      return Promise.resolve(answer(503, { error: "the app is not configured; see its log" }));
    }
    fromEnvironment = createLambdaHandler({ settings });
  }
  return fromEnvironment(event);
};
