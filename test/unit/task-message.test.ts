// A Task as an SQS message: signed with the webhook secret over exactly the task's bytes, checked
// in constant time, and sent by reference when it would not fit in one message.
import { describe, expect, it } from "vitest";
import { MAX_MESSAGE_BYTES, openTaskMessage, signTaskBody, sqsId, taskMessageBody, TaskTooLargeError, type TaskBodyStore } from "../../src/tasks/task-message.js";
import { serializeTask } from "../../src/tasks/task.js";
import { agentTask } from "../helpers/tasks.js";

const SECRET = "webhook-secret";

/** An in-memory bucket that records what was put. */
function memoryBodies(bucket = "artifacts"): TaskBodyStore & { objects: Map<string, string> } {
  const objects = new Map<string, string>();
  return {
    bucket,
    objects,
    put: async (key, body) => void objects.set(key, body),
    get: async (b, key) => {
      const body = b === bucket ? objects.get(key) : undefined;
      if (body === undefined) throw Object.assign(new Error("no such key"), { name: "NoSuchKey" });
      return body;
    },
  };
}

/** GitHub allows 65,536 characters in an issue body and in a comment; a task copies both. */
const GITHUB_MAX_TEXT = 65_536;

describe("task messages", () => {
  it("carry the serialized task and the HMAC-SHA256 of exactly its bytes; the worker reads the same task back", async () => {
    const task = agentTask({ id: "agent-1", target: { body: "Bodies with “quotes”, \\ and\nnew lines" } });
    const text = await taskMessageBody(task, SECRET, null, "k");
    const envelope = JSON.parse(text) as { devs_task: number; signature: string; task: string };
    expect(envelope.task).toBe(serializeTask(task));
    expect(envelope.signature).toBe(signTaskBody(serializeTask(task), SECRET));
    expect(envelope.signature).toMatch(/^[0-9a-f]{64}$/);
    expect(await openTaskMessage(text, SECRET, null)).toEqual({ ok: true, task });
  });

  it("refuse a wrong, missing or malformed signature, another secret, and a task changed after signing", async () => {
    const task = agentTask({ id: "agent-2" });
    const good = JSON.parse(await taskMessageBody(task, SECRET, null, "k")) as Record<string, unknown>;
    const changed = { ...good, task: (good.task as string).replace("agent-2", "agent-3") };
    const cases: Array<[string | undefined, RegExp]> = [
      [JSON.stringify({ ...good, signature: "0".repeat(64) }), /signature does not match/],
      [JSON.stringify({ ...good, signature: undefined }), /no signature/],
      [JSON.stringify({ ...good, signature: "sha256=abc" }), /signature does not match/],
      [JSON.stringify(changed), /signature does not match/],
      [JSON.stringify({ headers: {}, payload: "{}" }), /not a task message/],
      ["not json", /not JSON/],
      [undefined, /empty/],
    ];
    for (const [text, reason] of cases) {
      const opened = await openTaskMessage(text, SECRET, null);
      expect(opened.ok).toBe(false);
      expect(!opened.ok && opened.reason).toMatch(reason);
    }
    const other = await openTaskMessage(JSON.stringify(good), "another-secret", null);
    expect(!other.ok && other.reason).toMatch(/signature does not match/);
  });

  it("a task can exceed one SQS message: an issue body and a comment at GitHub's limit are over 256 KiB", async () => {
    // Characters that JSON escapes (quotes, control characters) and the message's envelope escapes again.
    const text = "\u0001".repeat(GITHUB_MAX_TEXT);
    const task = agentTask({ id: "agent-big", target: { body: text }, trigger: { body: text } });
    await expect(taskMessageBody(task, SECRET, null, "k")).rejects.toThrow(TaskTooLargeError);
    await expect(taskMessageBody(task, SECRET, null, "k")).rejects.toThrow(/over SQS's 262144; set AWS_S3_ARTIFACT_BUCKET/);
    // Even plain multi-byte text gets there: 65,536 emoji are 262,144 bytes of UTF-8 in one field.
    const emoji = agentTask({ id: "agent-emoji", trigger: { body: "🙂".repeat(GITHUB_MAX_TEXT / 2) }, target: { body: "🙂".repeat(GITHUB_MAX_TEXT / 2) } });
    expect(Buffer.byteLength(serializeTask(emoji), "utf8")).toBeGreaterThan(MAX_MESSAGE_BYTES);
  });

  it("a task over the limit goes by reference: its bytes in the bucket, the message names them and signs them", async () => {
    const bodies = memoryBodies();
    const task = agentTask({ id: "agent-big", target: { body: "\u0001".repeat(GITHUB_MAX_TEXT) }, trigger: { body: "x".repeat(GITHUB_MAX_TEXT) } });
    const text = await taskMessageBody(task, SECRET, bodies, "devs-tasks/agent-big.json");
    expect(Buffer.byteLength(text)).toBeLessThan(1024);
    expect(JSON.parse(text)).toEqual({ devs_task: 1, signature: signTaskBody(serializeTask(task), SECRET), s3: { bucket: "artifacts", key: "devs-tasks/agent-big.json" } });
    expect(bodies.objects.get("devs-tasks/agent-big.json")).toBe(serializeTask(task));
    expect(await openTaskMessage(text, SECRET, bodies)).toEqual({ ok: true, task });

    // The object changed, or the reference points elsewhere: not run.
    bodies.objects.set("devs-tasks/agent-big.json", serializeTask({ ...task, sender: "mallory" }));
    expect(await openTaskMessage(text, SECRET, bodies)).toMatchObject({ ok: false, reason: expect.stringMatching(/signature does not match/) });
    const elsewhere = text.replace('"bucket":"artifacts"', '"bucket":"someone-elses"');
    expect(await openTaskMessage(elsewhere, SECRET, bodies)).toMatchObject({ ok: false, reason: expect.stringMatching(/another bucket/) });
    bodies.objects.clear();
    expect(await openTaskMessage(text, SECRET, bodies)).toMatchObject({ ok: false, reason: expect.stringMatching(/could not be read from S3 \(NoSuchKey\)/) });
  });

  it("a task that fits stays inline, whatever the store", async () => {
    const bodies = memoryBodies();
    const text = await taskMessageBody(agentTask({ id: "agent-small" }), SECRET, bodies, "k");
    expect(JSON.parse(text)).toHaveProperty("task");
    expect(bodies.objects.size).toBe(0);
  });

  it("SQS ids: task ids and repository names as they are; anything SQS would refuse becomes its hash", () => {
    expect(sqsId("agent-0f8fad5b-d9cb-469f-a165-70867728950e")).toBe("agent-0f8fad5b-d9cb-469f-a165-70867728950e");
    expect(sqsId("acme/widgets")).toBe("acme/widgets");
    expect(sqsId("agent-é")).toMatch(/^[0-9a-f]{64}$/);
    expect(sqsId("x".repeat(129))).toMatch(/^[0-9a-f]{64}$/);
    expect(sqsId("a b")).not.toBe(sqsId("a_b"));
  });
});
