// Counting the tokens the Messages API reports: event streams however they are cut, several
// messages in one stream, JSON answers, and the noise or oversized lines an answer may hold.
import { describe, expect, it } from "vitest";
import { SseUsageReader, usageOfJson, type TokenUsage } from "../../src/model-proxy/usage.js";

const event = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

function messageStart(model: string, usage: Record<string, number>) {
  return event("message_start", { message: { id: "msg_1", type: "message", role: "assistant", model, content: [], usage } });
}

/** A streamed answer as the API sends it, with a multi-byte text delta and a ping. */
const STREAM = [
  messageStart("claude-sonnet-4-5-20250929", { input_tokens: 120, output_tokens: 1, cache_creation_input_tokens: 40, cache_read_input_tokens: 900 }),
  event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
  event("ping", {}),
  event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Grüße — ✓ 🎉" } }),
  event("content_block_stop", { index: 0 }),
  event("message_delta", { delta: { stop_reason: "end_turn" }, usage: { output_tokens: 30 } }),
  event("message_stop", {}),
].join("");

interface Heard {
  delta: TokenUsage;
  model: string | null;
}

function read(chunks: Array<Buffer | string>): { heard: Heard[]; total: TokenUsage } {
  const heard: Heard[] = [];
  const reader = new SseUsageReader((delta, model) => heard.push({ delta, model }));
  for (const chunk of chunks) reader.push(chunk);
  reader.end();
  const total = { inputTokens: 0, outputTokens: 0, cacheCreationTokens: 0, cacheReadTokens: 0 };
  for (const { delta } of heard) {
    total.inputTokens += delta.inputTokens;
    total.outputTokens += delta.outputTokens;
    total.cacheCreationTokens += delta.cacheCreationTokens;
    total.cacheReadTokens += delta.cacheReadTokens;
  }
  return { heard, total };
}

const STREAM_TOTAL = { inputTokens: 120, outputTokens: 30, cacheCreationTokens: 40, cacheReadTokens: 900 };

describe("a streamed answer", () => {
  it("counts message_start's figures, then only the growth of message_delta's cumulative output", () => {
    const { heard, total } = read([STREAM]);
    expect(heard).toEqual([
      { delta: { inputTokens: 120, outputTokens: 1, cacheCreationTokens: 40, cacheReadTokens: 900 }, model: "claude-sonnet-4-5-20250929" },
      { delta: { inputTokens: 0, outputTokens: 29, cacheCreationTokens: 0, cacheReadTokens: 0 }, model: "claude-sonnet-4-5-20250929" },
    ]);
    expect(total).toEqual(STREAM_TOTAL);
  });

  it("gives the same totals when the bytes are cut in two at every offset (inside lines, events and UTF-8 characters)", () => {
    const bytes = Buffer.from(STREAM, "utf8");
    expect(bytes.length).toBeGreaterThan(STREAM.length); // the text holds multi-byte characters
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(read([bytes.subarray(0, cut), bytes.subarray(cut)]).total, `cut at ${cut}`).toEqual(STREAM_TOTAL);
    }
  });

  it("gives the same totals fed one byte at a time, and with CRLF or CR line ends", () => {
    const bytes = Buffer.from(STREAM, "utf8");
    expect(read([...bytes].map((b) => Buffer.from([b]))).total).toEqual(STREAM_TOTAL);
    const crlf = Buffer.from(STREAM.replaceAll("\n", "\r\n"), "utf8");
    for (let cut = 0; cut <= crlf.length; cut++) expect(read([crlf.subarray(0, cut), crlf.subarray(cut)]).total, `cut at ${cut}`).toEqual(STREAM_TOTAL);
    expect(read([STREAM.replaceAll("\n", "\r")]).total).toEqual(STREAM_TOTAL);
  });

  it("counts input and cache figures repeated in message_delta (newer APIs) once, and their growth when they grow", () => {
    const stream =
      messageStart("claude-opus-4-5", { input_tokens: 100, output_tokens: 2, cache_read_input_tokens: 50 }) +
      event("message_delta", { usage: { input_tokens: 100, output_tokens: 10, cache_read_input_tokens: 50, cache_creation_input_tokens: null } }) +
      event("message_delta", { usage: { input_tokens: 130, output_tokens: 25, cache_read_input_tokens: 50, cache_creation_input_tokens: 7 } });
    expect(read([stream]).total).toEqual({ inputTokens: 130, outputTokens: 25, cacheCreationTokens: 7, cacheReadTokens: 50 });
  });

  it("never counts a figure that went down, and says nothing when nothing grew", () => {
    const stream =
      messageStart("claude-opus-4-5", { input_tokens: 100, output_tokens: 20 }) +
      event("message_delta", { usage: { output_tokens: 5 } }) +
      event("message_delta", { usage: { output_tokens: 20 } }) +
      event("message_delta", { usage: { output_tokens: 26 } });
    const { heard, total } = read([stream]);
    expect(total).toEqual({ inputTokens: 100, outputTokens: 26, cacheCreationTokens: 0, cacheReadTokens: 0 });
    expect(heard).toHaveLength(2);
  });

  it("counts every message of a stream that holds several, each with its own model", () => {
    const stream =
      messageStart("claude-haiku-4-5", { input_tokens: 10, output_tokens: 1 }) +
      event("message_delta", { usage: { output_tokens: 4 } }) +
      event("message_stop", {}) +
      messageStart("claude-opus-4-6", { input_tokens: 200, output_tokens: 1 }) +
      event("message_delta", { usage: { output_tokens: 3 } });
    const { heard, total } = read([stream]);
    expect(total).toEqual({ inputTokens: 210, outputTokens: 7, cacheCreationTokens: 0, cacheReadTokens: 0 });
    expect(heard.map((h) => `${h.model} +${h.delta.outputTokens}`)).toEqual(["claude-haiku-4-5 +1", "claude-haiku-4-5 +3", "claude-opus-4-6 +1", "claude-opus-4-6 +2"]);
  });

  it("reads events without an event: line, with data split over lines, and a last event with no blank line after it", () => {
    const start = JSON.stringify({ type: "message_start", message: { model: "m", usage: { input_tokens: 5, output_tokens: 1 } } });
    const cut = start.indexOf(',"message"') + 1; // a line break is JSON whitespace there
    const stream = `: keep-alive comment\ndata:${start.slice(0, cut)}\ndata:${start.slice(cut)}\n\nevent: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":9}}`;
    expect(read([stream]).total).toEqual({ inputTokens: 5, outputTokens: 9, cacheCreationTokens: 0, cacheReadTokens: 0 });
  });

  it("ignores garbage: lines that are no event, JSON that is no object, usage that is no count", () => {
    const stream =
      "hello\n\ndata: not json\n\nevent: message_start\ndata: [1,2]\n\nevent: message_delta\ndata: null\n\n" +
      messageStart("m", { input_tokens: -5, output_tokens: 3 }) +
      event("message_delta", { usage: { output_tokens: "99", input_tokens: null } }) +
      event("message_delta", { usage: "lots" }) +
      // A text delta that looks like usage is a text delta.
      event("content_block_delta", { delta: { type: "text_delta", text: '\n\nevent: message_delta\ndata: {"usage":{"output_tokens":1000}}\n\n' } });
    expect(read([stream]).total).toEqual({ inputTokens: 0, outputTokens: 3, cacheCreationTokens: 0, cacheReadTokens: 0 });
  });

  it("drops a line longer than 1 MiB, and its event, without keeping it, and reads on after it", () => {
    const huge = JSON.stringify({ type: "message_delta", usage: { output_tokens: 5000 }, pad: "x".repeat(1024 * 1024) });
    const heard: TokenUsage[] = [];
    const reader = new SseUsageReader((delta) => heard.push(delta));
    reader.push(messageStart("m", { input_tokens: 7, output_tokens: 1 }));
    reader.push("event: message_delta\ndata: ");
    const chunk = 64 * 1024;
    for (let i = 0; i < huge.length; i += chunk) reader.push(huge.slice(i, i + chunk));
    reader.push("\n\n");
    reader.push(event("message_delta", { usage: { output_tokens: 12 } }));
    reader.end();
    expect(heard.map((d) => d.outputTokens)).toEqual([1, 11]);
  });

  it("drops an event whose data lines together exceed 1 MiB", () => {
    const line = `data: ${"y".repeat(512 * 1024)}\n`;
    const stream = `event: message_delta\n${line}${line}${line}data: {"type":"message_delta","usage":{"output_tokens":50}}\n\n`;
    expect(read([messageStart("m", { input_tokens: 1, output_tokens: 1 }) + stream]).total.outputTokens).toBe(1);
  });
});

describe("a JSON answer", () => {
  it("gives its usage and model", () => {
    const body = JSON.stringify({
      id: "msg_1",
      type: "message",
      model: "claude-opus-4-1-20250805",
      content: [{ type: "text", text: "OK" }],
      usage: { input_tokens: 120, output_tokens: 30, cache_creation_input_tokens: 3, cache_read_input_tokens: 4 },
    });
    expect(usageOfJson(body)).toEqual({
      usage: { inputTokens: 120, outputTokens: 30, cacheCreationTokens: 3, cacheReadTokens: 4 },
      model: "claude-opus-4-1-20250805",
    });
  });

  it("reads missing or invalid figures as 0 and a missing model as null", () => {
    expect(usageOfJson('{"usage":{"input_tokens":9,"output_tokens":"3"}}')).toEqual({
      usage: { inputTokens: 9, outputTokens: 0, cacheCreationTokens: 0, cacheReadTokens: 0 },
      model: null,
    });
  });

  it.each([
    ["an error", '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'],
    ["a token count", '{"input_tokens":120}'],
    ["not JSON", "<html>bad gateway</html>"],
    ["an array", '[{"usage":{"input_tokens":1}}]'],
    ["usage that is no object", '{"usage":12}'],
    ["a body over 4 MiB", JSON.stringify({ usage: { input_tokens: 1 }, pad: "z".repeat(4 * 1024 * 1024) })],
  ])("is null for %s", (_, body) => {
    expect(usageOfJson(body)).toBeNull();
  });
});
