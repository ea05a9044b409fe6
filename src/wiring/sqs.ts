// The SQS parts of a process, from Settings: the client, the sink an ingress hands tasks to, and
// the worker that feeds a local pool from the queue.
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import type { Logger } from "pino";
import { SettingsError, type Settings } from "../settings.js";
import type { TaskJournal } from "../tasks/journal.js";
import { S3TaskBodies } from "../tasks/s3-task-bodies.js";
import { SqsTaskSink, SqsWorker, type WorkerPool } from "../tasks/sqs.js";
import type { Task } from "../tasks/task.js";

type AwsSettings = Pick<Settings, "awsRegion" | "awsEndpointUrl">;

function sqsClient(settings: AwsSettings): SQSClient {
  // The SDK's default credential chain; the endpoint override is for local emulators.
  return new SQSClient({ region: settings.awsRegion, ...(settings.awsEndpointUrl ? { endpoint: settings.awsEndpointUrl } : {}) });
}

/** Where tasks too large for a message go: the artifact bucket, when there is one. */
function taskBodies(settings: AwsSettings & Pick<Settings, "s3ArtifactBucket">): S3TaskBodies | null {
  if (!settings.s3ArtifactBucket) return null;
  const client = new S3Client({ region: settings.awsRegion, ...(settings.awsEndpointUrl ? { endpoint: settings.awsEndpointUrl, forcePathStyle: true } : {}) });
  return new S3TaskBodies(client, settings.s3ArtifactBucket);
}

function queueSettings(settings: Settings): { queueUrl: string; secret: string } {
  if (!settings.sqsQueueUrl) throw new SettingsError("AWS_SQS_QUEUE_URL", "required for tasks on SQS");
  if (!settings.webhookSecret) throw new SettingsError("WEBHOOK_SECRET", "required for tasks on SQS: messages are signed with it");
  return { queueUrl: settings.sqsQueueUrl, secret: settings.webhookSecret };
}

/** TASK_SINK=sqs: handlers' tasks go to the queue, grouped by repository where DEVS.yml says single_queue. */
export function sqsTaskSink(settings: Settings, parts: { log: Logger; singleQueue: (task: Task) => Promise<boolean> }): SqsTaskSink {
  return new SqsTaskSink({
    client: sqsClient(settings),
    ...queueSettings(settings),
    singleQueue: parts.singleQueue,
    bodies: taskBodies(settings),
    bodyPrefix: settings.s3TaskPrefix,
    log: parts.log.child({ name: "sqs" }),
  });
}

/** TASK_SOURCE=sqs: the worker that feeds `pool` (wire its events to `onPoolEvent`). */
export function sqsWorker(settings: Settings, parts: { log: Logger; journal: TaskJournal; pool: Pick<WorkerPool, "submit"> }): SqsWorker {
  const { journal, pool } = parts;
  const slots = new Set([...settings.containerPool, ...settings.ciContainerPool]).size;
  return new SqsWorker({
    client: sqsClient(settings),
    ...queueSettings(settings),
    dlqUrl: settings.sqsDlqUrl,
    bodies: taskBodies(settings),
    pool: { submit: (task) => pool.submit(task), known: (id) => journal.known(id) },
    capacity: Math.min(settings.maxConcurrentTasks, slots),
    visibilityTimeoutSeconds: settings.sqsVisibilityTimeoutSeconds,
    waitTimeSeconds: settings.sqsWaitTimeSeconds,
    log: parts.log.child({ name: "sqs" }),
  });
}
