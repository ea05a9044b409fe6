// A Task as an SQS message: the serialized Task and an HMAC-SHA256 of exactly those bytes, keyed
// with the webhook secret, so a worker runs only what an ingress holding the secret wrote. A Task
// too large for a message (bodies and comments of 65,536 characters each, several copied into it)
// travels by reference: its bytes in S3, the message naming the object and carrying their
// signature. Pure, apart from the injected store.
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { parseTask, serializeTask, type Task } from "./task.js";

/** SQS's limit for one message (body and attributes; we send no attributes). */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/** What a message body holds: the task inline, or where its bytes are. */
interface Envelope {
  devs_task: 1;
  /** HMAC-SHA256 (hex) of the task's UTF-8 bytes. */
  signature: string;
  task?: string;
  s3?: { bucket: string; key: string };
}

/** Where large task bodies go and come back from (S3 in production). */
export interface TaskBodyStore {
  readonly bucket: string;
  put(key: string, body: string): Promise<void>;
  get(bucket: string, key: string): Promise<string>;
}

export class TaskTooLargeError extends Error {
  override name = "TaskTooLargeError";
}

export function signTaskBody(body: string, secret: string): string {
  return createHmac("sha256", secret).update(body, "utf8").digest("hex");
}

/** Constant-time comparison of a hex signature with the body's. */
function signatureMatches(body: string, signature: string, secret: string): boolean {
  if (!/^[0-9a-f]{64}$/i.test(signature)) return false;
  const expected = createHmac("sha256", secret).update(body, "utf8").digest();
  return timingSafeEqual(expected, Buffer.from(signature, "hex"));
}

/**
 * The message body for a task: inline when it fits in MAX_MESSAGE_BYTES, else its bytes under
 * `key` in the store. Without a store an oversize task is refused with a clear error.
 */
export async function taskMessageBody(task: Task, secret: string, bodies: TaskBodyStore | null, key: string): Promise<string> {
  const body = serializeTask(task);
  const signature = signTaskBody(body, secret);
  const inline = JSON.stringify({ devs_task: 1, signature, task: body } satisfies Envelope);
  if (Buffer.byteLength(inline, "utf8") <= MAX_MESSAGE_BYTES) return inline;
  if (!bodies) {
    throw new TaskTooLargeError(
      `task ${task.id} is ${Buffer.byteLength(inline, "utf8")} bytes as a message, over SQS's ${MAX_MESSAGE_BYTES}; set AWS_S3_ARTIFACT_BUCKET so large tasks go by reference`,
    );
  }
  await bodies.put(key, body);
  return JSON.stringify({ devs_task: 1, signature, s3: { bucket: bodies.bucket, key } } satisfies Envelope);
}

export type OpenedMessage = { ok: true; task: Task } | { ok: false; reason: string };

/** The largest task body read back from the store. */
const MAX_STORED_BYTES = 16 * 1024 * 1024;

/** Reads a message body back into a Task, refusing anything whose signature is not the secret's. */
export async function openTaskMessage(text: string | undefined, secret: string, bodies: TaskBodyStore | null): Promise<OpenedMessage> {
  if (!text) return { ok: false, reason: "empty message" };
  let envelope: Partial<Envelope>;
  try {
    envelope = JSON.parse(text) as Partial<Envelope>;
  } catch {
    return { ok: false, reason: "not a task message (not JSON)" };
  }
  if (typeof envelope !== "object" || envelope === null || envelope.devs_task !== 1) return { ok: false, reason: "not a task message" };
  if (typeof envelope.signature !== "string" || envelope.signature === "") return { ok: false, reason: "no signature" };
  let body: string;
  if (typeof envelope.task === "string") body = envelope.task;
  else if (envelope.s3 && typeof envelope.s3.bucket === "string" && typeof envelope.s3.key === "string") {
    // Only the bucket this deployment writes: a forged reference must not make workers read elsewhere.
    if (!bodies || envelope.s3.bucket !== bodies.bucket) return { ok: false, reason: "the task's reference names another bucket" };
    try {
      body = await bodies.get(envelope.s3.bucket, envelope.s3.key);
    } catch (error) {
      return { ok: false, reason: `the task's body could not be read from S3 (${(error as Error).name})` };
    }
    if (Buffer.byteLength(body, "utf8") > MAX_STORED_BYTES) return { ok: false, reason: "the task's body in S3 is too large" };
  } else return { ok: false, reason: "the message holds no task" };
  if (!signatureMatches(body, envelope.signature, secret)) return { ok: false, reason: "the signature does not match" };
  try {
    return { ok: true, task: parseTask(body) };
  } catch (error) {
    return { ok: false, reason: `signed, but not a task this build reads: ${(error as Error).message}` };
  }
}

/**
 * SQS ids (group and deduplication) allow at most 128 of these characters; a task id or a
 * repository name that does not fit is replaced by its hash, which is as unique.
 */
export function sqsId(value: string): string {
  if (/^[\x21-\x7e]{1,128}$/.test(value)) return value;
  return createHash("sha256").update(value).digest("hex");
}
