// The sink an ingress (the Lambda entry) hands its tasks to: the FIFO queue of AWS_SQS_QUEUE_URL.
// One message per task. The task id is the deduplication id, so a delivery GitHub sends again
// within SQS's five-minute window is one message, and the message group, so no two workers hold
// the same task at once while the others' tasks are not held up behind it.
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { SettingsError, type Settings } from "../settings.js";
import type { TaskSink } from "./sink.js";
import { serializeTask } from "./task.js";

export function sqsSinkFromSettings(settings: Settings): TaskSink {
  const queueUrl = settings.sqsQueueUrl;
  if (!queueUrl) throw new SettingsError("AWS_SQS_QUEUE_URL", "required: the ingress puts every task on this FIFO queue");
  if (!new URL(queueUrl).pathname.endsWith(".fifo")) {
    throw new SettingsError("AWS_SQS_QUEUE_URL", "must be a FIFO queue (its name ends in .fifo): tasks are deduplicated by id");
  }
  const client = new SQSClient({ region: settings.awsRegion, ...(settings.awsEndpointUrl ? { endpoint: settings.awsEndpointUrl } : {}) });
  return {
    async submit(task) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: serializeTask(task),
          MessageGroupId: task.id,
          MessageDeduplicationId: task.id,
        }),
      );
      return {};
    },
  };
}
