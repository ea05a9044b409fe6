// `devs-webhook worker` and `serve --source sqs` as real processes against fauxqs on loopback. In
// burst mode their exit codes are what a cron job or an autoscaler reads: 0: at least one message
// processed (and its task ended); 42: the queue was empty; 1: SQS could not be reached — never
// mistaken for "empty". `serve --source sqs` keeps /health and the admin routes, not the webhooks.
import { spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/tasks/database.js";
import { TaskJournal } from "../../src/tasks/journal.js";
import { SqsTaskSink } from "../../src/tasks/sqs.js";
import { GitHubStandIn } from "../helpers/github-standin.js";
import { deliver, freePort, startServe } from "../helpers/serve-process.js";
import { until } from "../helpers/until.js";
import { tempDir } from "../helpers/settings.js";
import { awsEnv, createTaskQueues, queueDepth, startFakeSqs, type FakeSqs } from "../helpers/sqs.js";
import { agentTask } from "../helpers/tasks.js";
import { pino } from "pino";

const CLI = new URL("../../src/cli.ts", import.meta.url).pathname;
const TSX = new URL("../../node_modules/tsx/dist/loader.mjs", import.meta.url).href;
const SECRET = "burst-webhook-secret";
let sqs: FakeSqs;
let github: GitHubStandIn;

beforeAll(async () => {
  sqs = await startFakeSqs();
  // The worker learns who it is at start (token mode: GET /user); everything else answers 404.
  github = await new GitHubStandIn().on("GET", /^\/user$/, () => ({ status: 200, body: { login: "devs-bot", id: 4242 } })).start();
});
afterAll(async () => {
  await github?.stop();
  await sqs?.close();
});

function workerEnv(queueUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: tempDir("devs-burst-home-"),
    NO_SMEE_SETUP: "true",
    GITHUB_TOKEN: "ghs_burstTestToken",
    WEBHOOK_SECRET: SECRET,
    GHE_HOST: github.host,
    GHE_PROTOCOL: "http",
    AWS_SQS_QUEUE_URL: queueUrl,
    ...awsEnv(sqs.endpoint),
    CONTAINER_POOL: "hsqs1",
    CONTAINER_NETWORK: "host",
    DATA_DIR: tempDir("devs-burst-data-"),
    REPO_CACHE_DIR: tempDir("devs-burst-cache-"),
    WORKSPACE_DIR: tempDir("devs-burst-ws-"),
    LOG_LEVEL: "info",
    ...extra,
  };
}

async function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ["--import", TSX, CLI, ...args], { cwd: tempDir("devs-burst-cwd-"), env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d));
  child.stderr.on("data", (d: Buffer) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  return { code, stdout, stderr };
}

describe("workers from the command line", () => {
  it("42 when the queue is empty (worker --burst)", async () => {
    const { queueUrl } = await createTaskQueues(sqs, `burst-empty-${process.pid}`);
    const result = await run(["worker", "--burst"], workerEnv(queueUrl));
    expect(result.code, result.stderr).toBe(42);
    expect(result.stdout).toContain("burst: the queue was empty");
  }, 60_000);

  it("0 when it processed a message: the task ran to a final state here and its message is gone (serve --source sqs --burst)", async () => {
    const { queueUrl } = await createTaskQueues(sqs, `burst-one-${process.pid}`);
    // The repository cannot be fetched (nothing serves git here): the task fails quickly, which is a final state.
    const task = agentTask({ id: "agent-burst-1", repo: "acme/widgets" });
    task.repo.cloneUrl = `http://127.0.0.1:${await freePort()}/acme/widgets.git`;
    await new SqsTaskSink({ client: sqs.client, queueUrl, secret: SECRET, log: pino({ level: "silent" }) }).submit(task);
    const env = workerEnv(queueUrl);
    const result = await run(["serve", "--source", "sqs", "--burst"], env);
    expect(result.code, result.stderr + result.stdout.slice(-3000)).toBe(0);
    expect(result.stdout).toContain("burst done");
    expect(await queueDepth(sqs, queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    const journal = new TaskJournal(openDatabase(env.DATA_DIR!));
    expect(journal.get("agent-burst-1")?.state).toBe("failed");
  }, 60_000);

  it("1 when SQS cannot be reached, with the error on stderr", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const result = await run(["worker", "--burst"], workerEnv(`${closed}/000000000000/tasks.fifo`, { AWS_ENDPOINT_URL: closed }));
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^devs-webhook: cannot receive from http:\/\/127\.0\.0\.1:\d+\/000000000000\/tasks\.fifo: .*ECONNREFUSED/m);
  }, 60_000);

  it("serve --source sqs is a worker with /health and the admin routes; its webhook paths answer 404; SIGTERM ends it with 0", async () => {
    const { queueUrl } = await createTaskQueues(sqs, `serve-worker-${process.pid}`);
    const serve = await startServe({ ...workerEnv(queueUrl), TASK_SOURCE: "sqs", ADMIN_PASSWORD: "admin-pw" });
    try {
      await until(() => serve.logs.some((l) => l.msg === "worker taking tasks from SQS"), { timeoutMs: 10_000, what: "the worker to poll" });
      const status = await fetch(`${serve.base}/status`, { headers: { authorization: `Basic ${Buffer.from("admin:admin-pw").toString("base64")}` } });
      expect(status.status).toBe(200);
      const delivery = await deliver(serve.base, SECRET, "issues", { action: "opened" });
      expect(delivery.status).toBe(404);
      expect(await delivery.json()).toEqual({ error: "this process is a worker (TASK_SOURCE=sqs); send deliveries to the ingress" });
    } finally {
      serve.child.kill("SIGTERM");
    }
    expect(await serve.exited).toBe(0);
  }, 60_000);

  it("--help documents the worker and burst mode's exit codes", async () => {
    const { code, stdout } = await run(["--help"], workerEnv("https://sqs.us-east-1.amazonaws.com/1/tasks.fifo"));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ {2}worker \[--burst\] +Run the tasks of the SQS queue/m);
    expect(stdout).toMatch(/^ {2}serve --source sqs \[--burst\]/m);
    expect(stdout).toMatch(/0 ok \(--burst: at least one message processed\), 1 failure \(--burst: SQS could not be\nreached or answered an error\), 2 bad settings or usage, 42 --burst found the queue empty\./);
  }, 30_000);

  it("--burst without SQS as the source is a usage error (2)", async () => {
    const result = await run(["serve", "--burst"], workerEnv("https://sqs.us-east-1.amazonaws.com/1/tasks.fifo"));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--burst needs tasks from SQS");
  }, 30_000);
});
