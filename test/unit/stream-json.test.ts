// Parsing Claude Code's stream-json output: real recorded streams (test/fixtures/claude-stream),
// and the same streams cut short, interleaved with noise, or failing.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseStreamLine, readStream, StreamJsonReader, type AgentEvent } from "../../src/agent/stream-json.js";

const fixture = (name: string) => readFileSync(new URL(`../fixtures/claude-stream/${name}`, import.meta.url), "utf8");

function events(text: string): AgentEvent[] {
  const seen: AgentEvent[] = [];
  const reader = new StreamJsonReader((e) => seen.push(e));
  for (const line of text.split("\n")) reader.push(line);
  return seen;
}

describe("a successful run", () => {
  const text = fixture("success.jsonl");

  it("yields the result with text, turns, cost, duration and session id", () => {
    const summary = readStream(text);
    expect(summary.result).toEqual({
      subtype: "success",
      isError: false,
      text: "Done: added hello.txt",
      errors: [],
      costUsd: 0.00324,
      turns: 3,
      durationMs: 689,
      sessionId: "34fde951-4279-4f69-bbf3-6d623cd98ae1",
      apiErrorStatus: null,
      terminalReason: "completed",
    });
    expect(summary.sessionId).toBe("34fde951-4279-4f69-bbf3-6d623cd98ae1");
    expect(summary.toolCalls).toBe(2);
    expect(summary.ignoredLines).toBe(0);
    expect(summary.apiError).toBeNull();
  });

  it("reports progress in order: init, text, tool calls and their results, final text", () => {
    const seen = events(text).map((e) => {
      switch (e.type) {
        case "init":
          return `init ${e.model} ${e.version}`;
        case "text":
          return `text ${e.text}`;
        case "tool_use":
          return `tool_use ${e.name}`;
        case "tool_result":
          return `tool_result ${e.isError ? "error" : "ok"}`;
        default:
          return e.type;
      }
    });
    expect(seen).toEqual([
      "init claude-opus-5-5 2.1.332",
      "text I'll write it.",
      "tool_use Write",
      "tool_result ok",
      "tool_use Bash",
      "tool_result ok",
      "text Done: added hello.txt",
      "result",
    ]);
  });

  it("gives tool calls their input", () => {
    const write = events(text).find((e) => e.type === "tool_use");
    expect(write).toMatchObject({ type: "tool_use", name: "Write", input: { file_path: "/tmp/exp/ws/hello.txt", content: "hi\n" } });
  });
});

describe("a stream cut short", () => {
  const lines = fixture("success.jsonl").trimEnd().split("\n");

  it("has no result when the result line is missing", () => {
    const summary = readStream(lines.slice(0, -1).join("\n"));
    expect(summary.result).toBeNull();
    expect(summary.lastText).toBe("Done: added hello.txt");
    expect(summary.sessionId).toBe("34fde951-4279-4f69-bbf3-6d623cd98ae1");
  });

  it("has no result when the result line is cut in the middle", () => {
    const last = lines.at(-1)!;
    const summary = readStream([...lines.slice(0, -1), last.slice(0, last.length / 2)].join("\n"));
    expect(summary.result).toBeNull();
    expect(summary.ignoredLines).toBe(1);
  });

  it("has nothing at all for empty output", () => {
    expect(readStream("")).toMatchObject({ result: null, sessionId: null, ignoredLines: 0, toolCalls: 0 });
  });
});

describe("noise between the lines", () => {
  const noise = [
    "Welcome to the devcontainer!",
    "\u001b[32mgreen text\u001b[0m",
    "{not json",
    "[1,2,3]",
    '"a string"',
    "{}",
    '{"type": 42}',
    '{"type":"stream_event","event":{"type":"content_block_delta"}}',
    '{"type":"system","subtype":"hook_response"}',
    "   ",
  ];

  it("is skipped and counted, and the result survives", () => {
    const lines = fixture("success.jsonl").trimEnd().split("\n");
    const mixed = lines.flatMap((line, i) => [noise[i % noise.length]!, line]);
    const summary = readStream(mixed.join("\r\n"));
    expect(summary.result).toMatchObject({ text: "Done: added hello.txt", turns: 3, isError: false });
    // Non-JSON, non-objects and objects without a string type: 7 of the noise lines; known-shape
    // objects of types we do not use are silently fine; blank lines are not counted.
    const expectedIgnored = mixed.filter((l) => noise.slice(0, 7).includes(l)).length;
    expect(summary.ignoredLines).toBe(expectedIgnored);
    expect(summary.toolCalls).toBe(2);
  });

  it.each([
    ["plain text", "hello"],
    ["broken JSON", '{"type":"result"'],
    ["a JSON array", "[]"],
    ["an object without a type", '{"result":"x"}'],
  ])("parseStreamLine returns null for %s", (_name, line) => {
    expect(parseStreamLine(line)).toBeNull();
  });

  it("takes the last result when a stream holds two", () => {
    const a = '{"type":"result","subtype":"success","is_error":false,"result":"first","num_turns":1}';
    const b = '{"type":"result","subtype":"success","is_error":false,"result":"second","num_turns":2}';
    expect(readStream(`${a}\n${b}`).result).toMatchObject({ text: "second", turns: 2 });
  });

  it("reads wrongly typed fields as absent rather than trusting them", () => {
    const line = '{"type":"result","subtype":"success","is_error":"no","result":42,"num_turns":"3","total_cost_usd":null}';
    expect(readStream(line).result).toMatchObject({ isError: false, text: null, turns: null, costUsd: null });
  });

  it("treats an error subtype as an error even without is_error", () => {
    expect(readStream('{"type":"result","subtype":"error_during_execution"}').result?.isError).toBe(true);
  });
});

describe("streams that end in an error", () => {
  it.each([
    ["api-error-401.jsonl", 401, "authentication_failed", /401/],
    ["api-error-500-after-retry.jsonl", 500, "server_error", /500/],
    ["connection-refused.jsonl", null, "connection_failed", /Connection refused/],
    ["not-logged-in.jsonl", null, "authentication_failed", /Not logged in/],
  ])("%s: an api_error event and an error result", (name, status, code, text) => {
    const summary = readStream(fixture(name));
    expect(summary.apiError).toMatchObject({ type: "api_error", status, error: code });
    expect(summary.apiError?.text).toMatch(text);
    expect(summary.result).toMatchObject({ isError: true, subtype: "success", terminalReason: "api_error", apiErrorStatus: status });
  });

  it("counts the CLI's API retries", () => {
    const seen = events(fixture("api-error-500-after-retry.jsonl")).filter((e) => e.type === "api_retry");
    expect(seen).toEqual([{ type: "api_retry", attempt: 1, maxRetries: 1, status: 500, error: "server_error" }]);
    expect(readStream(fixture("api-error-500-after-retry.jsonl")).apiRetries).toBe(1);
  });

  it("max turns: the error subtype with its errors list", () => {
    expect(readStream(fixture("max-turns.jsonl")).result).toMatchObject({
      subtype: "error_max_turns",
      isError: true,
      text: null,
      errors: ["Reached maximum number of turns (1)"],
      turns: 2,
      terminalReason: "max_turns",
    });
  });

  it("a tool that failed is a tool_result with isError", () => {
    const line = JSON.stringify({
      type: "user",
      message: { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", is_error: true, content: "Exit code 1" }] },
    });
    expect(parseStreamLine(line)).toEqual([{ type: "tool_result", toolUseId: "toolu_1", isError: true }]);
  });
});
