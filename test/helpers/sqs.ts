// SQS (and S3) for tests: fauxqs on 127.0.0.1 with a random port, a FIFO task queue with its
// dead-letter queue, and what is left on them, through the real AWS SDK v3.
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import { buildApp } from "fauxqs";

export const AWS_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };
/** The environment a child process needs to reach the emulator with the SDK's default chain. */
export const awsEnv = (endpoint: string) => ({
  AWS_ENDPOINT_URL: endpoint,
  AWS_REGION: "us-east-1",
  AWS_ACCESS_KEY_ID: AWS_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: AWS_CREDENTIALS.secretAccessKey,
});

export interface FakeSqs {
  endpoint: string;
  client: SQSClient;
  s3: S3Client;
  close(): Promise<void>;
}

export async function startFakeSqs(): Promise<FakeSqs> {
  const app = buildApp({ logger: false });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  const endpoint = address.replace("localhost", "127.0.0.1");
  if (new URL(endpoint).hostname !== "127.0.0.1") throw new Error(`fauxqs is not on loopback: ${endpoint}`);
  const client = new SQSClient({ region: "us-east-1", endpoint, credentials: AWS_CREDENTIALS });
  const s3 = new S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials: AWS_CREDENTIALS });
  return {
    endpoint,
    client,
    s3,
    close: async () => {
      client.destroy();
      s3.destroy();
      await app.close();
    },
  };
}

export interface TaskQueues {
  queueUrl: string;
  dlqUrl: string;
}

/** A FIFO task queue and its FIFO dead-letter queue (redrive after `maxReceiveCount` receives). */
export async function createTaskQueues(sqs: FakeSqs, name: string, options: { visibilityTimeoutSeconds?: number; maxReceiveCount?: number } = {}): Promise<TaskQueues> {
  const dlq = await sqs.client.send(new CreateQueueCommand({ QueueName: `${name}-dlq.fifo`, Attributes: { FifoQueue: "true" } }));
  const arn = (await sqs.client.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
  const queue = await sqs.client.send(
    new CreateQueueCommand({
      QueueName: `${name}.fifo`,
      Attributes: {
        FifoQueue: "true",
        VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 30),
        RedrivePolicy: JSON.stringify({ maxReceiveCount: options.maxReceiveCount ?? 5, deadLetterTargetArn: arn }),
      },
    }),
  );
  return { queueUrl: queue.QueueUrl!, dlqUrl: dlq.QueueUrl! };
}

export async function createBucket(sqs: FakeSqs, bucket: string): Promise<void> {
  await sqs.s3.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** Messages waiting (`visible`) and taken but not deleted (`inFlight`). */
export async function queueDepth(sqs: FakeSqs, queueUrl: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes } = await sqs.client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }),
  );
  return { visible: Number(Attributes?.ApproximateNumberOfMessages ?? 0), inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0) };
}

/** Takes (and keeps hidden) up to ten messages, with their group and deduplication ids. */
export async function takeMessages(sqs: FakeSqs, queueUrl: string, waitTimeSeconds = 0): Promise<Message[]> {
  const answer = await sqs.client.send(
    new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: waitTimeSeconds, MessageSystemAttributeNames: ["All"] }),
  );
  return answer.Messages ?? [];
}

/** A raw message, as something other than the ingress could send it. */
export async function sendRaw(sqs: FakeSqs, queueUrl: string, body: string, group = "raw", dedup: string = crypto.randomUUID()): Promise<void> {
  await sqs.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: dedup }));
}
