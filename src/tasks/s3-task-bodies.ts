// Task bodies too large for an SQS message, in S3 (AWS_S3_ARTIFACT_BUCKET under AWS_S3_TASK_PREFIX).
// Objects are never deleted by the app: a late copy of a message may still name one. A lifecycle
// rule on the prefix (longer than the queue's retention, at most 14 days) clears them.
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { TaskBodyStore } from "./task-message.js";

export class S3TaskBodies implements TaskBodyStore {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async put(key: string, body: string): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: "application/json" }));
  }

  async get(bucket: string, key: string): Promise<string> {
    const object = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!object.Body) throw new Error("empty object");
    return object.Body.transformToString("utf8");
  }
}
