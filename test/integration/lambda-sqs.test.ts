// The Lambda ingress with its real sink: a signed mention becomes one message on a FIFO queue of
// fauxqs (an SQS emulator on 127.0.0.1), through the AWS SDK with the endpoint override.
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { sign } from "@octokit/webhooks-methods";
import { buildApp } from "fauxqs";
import nock from "nock";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLambdaHandler } from "../../src/lambda.js";
import { openTaskMessage } from "../../src/tasks/task-message.js";
import { strictNock } from "../helpers/nock.js";
import { payload } from "../helpers/payloads.js";
import { TestOctokit } from "../helpers/probot.js";
import { testSettings } from "../helpers/settings.js";

const API = "https://api.github.com";
const credentials = { accessKeyId: "test", secretAccessKey: "test" };
strictNock();

let app: ReturnType<typeof buildApp>;
let endpoint: string;
let sqs: SQSClient;

beforeAll(async () => {
  app = buildApp({ logger: false });
  endpoint = (await app.listen({ port: 0, host: "127.0.0.1" })).replace("localhost", "127.0.0.1");
  sqs = new SQSClient({ region: "us-east-1", endpoint, credentials });
});
afterAll(async () => {
  sqs?.destroy();
  await app?.close();
});

async function fifoQueue(name: string): Promise<string> {
  const created = await sqs.send(
    new CreateQueueCommand({ QueueName: `${name}.fifo`, Attributes: { FifoQueue: "true", ContentBasedDeduplication: "false" } }),
  );
  return created.QueueUrl!;
}

const sqsEnv = (queueUrl: string) => ({
  TASK_SINK: "sqs",
  AWS_SQS_QUEUE_URL: queueUrl,
  AWS_ENDPOINT_URL: endpoint,
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
});

describe("Lambda ingress → SQS FIFO queue (fauxqs)", () => {
  it("a mention is one message, its thread the group and the task id its deduplication id; GitHub's redelivery of it is no second message", async () => {
    const queueUrl = await fifoQueue("tasks-one");
    // The SDK takes its credentials from the environment, as in Lambda.
    for (const [k, v] of Object.entries(sqsEnv(queueUrl))) process.env[k] = v;
    const settings = testSettings(sqsEnv(queueUrl));
    const mention = payload("issue_comment", "created", { comment: { body: "@devs-bot please fix" } });
    const commentId = (mention.comment as { id: number }).id;
    // The sink reads DEVS.yml's single_queue (the message group); the repository has none.
    const github = nock(API)
      .get("/repos/Codertocat/Hello-World/commits/HEAD")
      .reply(404, { message: "Not Found" })
      .get("/user")
      .reply(200, { login: "devs-bot", id: 42 })
      .get("/users/devs-bot")
      .reply(200, { login: "devs-bot", id: 42 })
      .post(`/repos/Codertocat/Hello-World/issues/comments/${commentId}/reactions`, { content: "eyes" })
      .reply(201, {});
    const handle = createLambdaHandler({ settings, log: pino({ level: "silent" }), Octokit: TestOctokit });
    let other: ReturnType<typeof createLambdaHandler> | undefined;
    try {
      const body = JSON.stringify(mention);
      const delivery = crypto.randomUUID();
      const event = {
        version: "2.0",
        headers: { "content-type": "application/json", "x-github-event": "issue_comment", "x-github-delivery": delivery, "x-hub-signature-256": await sign("s3cret", body) },
        requestContext: { http: { method: "POST" } },
        body,
        isBase64Encoded: false,
      };
      const result = await handle(event);
      expect(result.statusCode).toBe(200);
      github.done();

      // GitHub redelivers it to another instance, whose /tmp (delivery memory) never saw it: the
      // queue drops the copy by its deduplication id.
      const otherSettings = testSettings(sqsEnv(queueUrl));
      const again = nock(API)
        .get("/repos/Codertocat/Hello-World/commits/HEAD")
        .reply(404, { message: "Not Found" })
        .get("/user")
        .reply(200, { login: "devs-bot", id: 42 })
        .get("/users/devs-bot")
        .reply(200, { login: "devs-bot", id: 42 })
        .post(`/repos/Codertocat/Hello-World/issues/comments/${commentId}/reactions`, { content: "eyes" })
        .reply(200, {});
      other = createLambdaHandler({ settings: otherSettings, log: pino({ level: "silent" }), Octokit: TestOctokit });
      expect((await other(event)).statusCode).toBe(200);
      again.done();

      const received = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, AttributeNames: ["All"] }),
      );
      const messages = received.Messages ?? [];
      expect(messages).toHaveLength(1);
      const message = messages[0]!;
      // The issue is the group: a second request on it waits for this one, whichever worker polls.
      expect(message.Attributes?.MessageGroupId).toBe(`Codertocat/Hello-World#${(mention.issue as { number: number }).number}`.toLowerCase());
      expect(message.Attributes?.MessageDeduplicationId).toBe(`agent-${delivery}`);
      // The signed envelope a worker checks before it runs anything.
      const opened = await openTaskMessage(message.Body, "s3cret", null);
      if (!opened.ok) throw new Error(`the message does not open: ${opened.reason}`);
      const task = opened.task;
      expect({ id: task.id, kind: task.kind, repo: task.repo.fullName, author: task.trigger.author }).toEqual({
        id: `agent-${delivery}`,
        kind: "agent",
        repo: "Codertocat/Hello-World",
        author: "Codertocat",
      });
    } finally {
      await handle.close();
      await other?.close();
      for (const k of Object.keys(sqsEnv(""))) delete process.env[k];
    }
  });

  it("a queue that is not FIFO is refused at start-up, naming the variable", () => {
    expect(() => testSettings({ TASK_SINK: "sqs", AWS_SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/tasks" })).toThrow(
      /^AWS_SQS_QUEUE_URL: must be an SQS FIFO queue/,
    );
    expect(() => testSettings({ TASK_SINK: "sqs" })).toThrow(/^AWS_SQS_QUEUE_URL: required when TASK_SINK=sqs/);
  });
});
