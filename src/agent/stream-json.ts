// Reads Claude Code's `--output-format stream-json --verbose` output: one JSON object a line
// (system init, assistant and user messages, API retries, and a final `result`). Pure: lines in,
// typed events and a summary out. Lines that are not such objects (a shell rc printing to stdout,
// a stream cut mid-line) are counted and skipped, never fatal; what matters is the result line.

export type AgentEvent =
  | { type: "init"; sessionId: string | null; model: string | null; cwd: string | null; version: string | null }
  | { type: "text"; text: string }
  | { type: "tool_use"; id: string; name: string; input: unknown }
  | { type: "tool_result"; toolUseId: string; isError: boolean }
  /** The CLI is about to retry a failed API call. */
  | { type: "api_retry"; attempt: number; maxRetries: number | null; status: number | null; error: string | null }
  /** The CLI gave up on the API and says why (its synthetic assistant message). */
  | { type: "api_error"; status: number | null; error: string | null; text: string }
  | { type: "result"; result: AgentResult };

/** The final `{"type":"result"}` object, with the fields we use checked and typed. */
export interface AgentResult {
  /** `success`, `error_max_turns`, `error_during_execution`, `error_max_budget_usd`, … */
  subtype: string;
  isError: boolean;
  /** The agent's final answer (absent on error subtypes). */
  text: string | null;
  /** Error subtypes list what went wrong here. */
  errors: string[];
  costUsd: number | null;
  turns: number | null;
  durationMs: number | null;
  sessionId: string | null;
  /** Set when the run ended on an API error: the HTTP status, when there was one. */
  apiErrorStatus: number | null;
  /** e.g. `completed`, `api_error`, `max_turns`. */
  terminalReason: string | null;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** The events one line carries: none for lines that are not stream-json objects. */
export function parseStreamLine(line: string): AgentEvent[] | null {
  const trimmed = line.trim();
  if (!trimmed.startsWith("{")) return null;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return null;
  }
  if (!isObject(value) || typeof value.type !== "string") return null;
  switch (value.type) {
    case "system":
      return parseSystem(value);
    case "assistant":
      return parseAssistant(value);
    case "user":
      return parseUser(value);
    case "result":
      return [{ type: "result", result: parseResult(value) }];
    default:
      return [];
  }
}

function parseSystem(value: Json): AgentEvent[] {
  if (value.subtype === "init") {
    return [
      {
        type: "init",
        sessionId: str(value.session_id),
        model: str(value.model),
        cwd: str(value.cwd),
        version: str(value.claude_code_version),
      },
    ];
  }
  if (value.subtype === "api_retry") {
    return [
      {
        type: "api_retry",
        attempt: num(value.attempt) ?? 0,
        maxRetries: num(value.max_retries),
        status: num(value.error_status),
        error: str(value.error),
      },
    ];
  }
  return [];
}

function contentBlocks(value: Json): Json[] {
  const message = value.message;
  if (!isObject(message) || !Array.isArray(message.content)) return [];
  return message.content.filter(isObject);
}

function parseAssistant(value: Json): AgentEvent[] {
  const blocks = contentBlocks(value);
  if (value.is_api_error_message === true) {
    const text = blocks.map((b) => str(b.text) ?? "").join("\n");
    // `api_error` is the finer code (connection_failed, …); `error` the category.
    return [{ type: "api_error", status: num(value.api_error_status), error: str(value.api_error) ?? str(value.error), text }];
  }
  const events: AgentEvent[] = [];
  for (const block of blocks) {
    if (block.type === "text" && typeof block.text === "string" && block.text !== "") {
      events.push({ type: "text", text: block.text });
    } else if (block.type === "tool_use" && typeof block.name === "string") {
      events.push({ type: "tool_use", id: str(block.id) ?? "", name: block.name, input: block.input });
    }
  }
  return events;
}

function parseUser(value: Json): AgentEvent[] {
  return contentBlocks(value)
    .filter((b) => b.type === "tool_result")
    .map((b) => ({ type: "tool_result" as const, toolUseId: str(b.tool_use_id) ?? "", isError: b.is_error === true }));
}

function parseResult(value: Json): AgentResult {
  const subtype = str(value.subtype) ?? "unknown";
  return {
    subtype,
    // An error subtype is an error even if a build forgot the flag.
    isError: value.is_error === true || subtype.startsWith("error"),
    text: str(value.result),
    errors: Array.isArray(value.errors) ? value.errors.filter((e): e is string => typeof e === "string") : [],
    costUsd: num(value.total_cost_usd),
    turns: num(value.num_turns),
    durationMs: num(value.duration_ms),
    sessionId: str(value.session_id),
    apiErrorStatus: num(value.api_error_status),
    terminalReason: str(value.terminal_reason),
  };
}

/** What a whole stream amounted to, gathered line by line. */
export interface StreamSummary {
  result: AgentResult | null;
  sessionId: string | null;
  /** The last API failure the CLI reported, if any (it precedes an api_error result). */
  apiError: Extract<AgentEvent, { type: "api_error" }> | null;
  /** The last assistant text, for when the stream ends without a result. */
  lastText: string | null;
  toolCalls: number;
  apiRetries: number;
  /** Lines that were not stream-json objects. */
  ignoredLines: number;
}

export class StreamJsonReader {
  private readonly summary: StreamSummary = {
    result: null,
    sessionId: null,
    apiError: null,
    lastText: null,
    toolCalls: 0,
    apiRetries: 0,
    ignoredLines: 0,
  };

  constructor(private readonly onEvent: (event: AgentEvent) => void = () => {}) {}

  push(line: string): void {
    const events = parseStreamLine(line);
    if (events === null) {
      if (line.trim() !== "") this.summary.ignoredLines += 1;
      return;
    }
    for (const event of events) {
      this.record(event);
      this.onEvent(event);
    }
  }

  get state(): Readonly<StreamSummary> {
    return this.summary;
  }

  private record(event: AgentEvent): void {
    const s = this.summary;
    switch (event.type) {
      case "init":
        s.sessionId ??= event.sessionId;
        break;
      case "text":
        s.lastText = event.text;
        break;
      case "tool_use":
        s.toolCalls += 1;
        break;
      case "api_retry":
        s.apiRetries += 1;
        break;
      case "api_error":
        s.apiError = event;
        break;
      case "result":
        // Only the last result counts (one per prompt; `-p` sends one prompt).
        s.result = event.result;
        s.sessionId = event.result.sessionId ?? s.sessionId;
        break;
      case "tool_result":
        break;
    }
  }
}

/** Convenience for tests and one-shot callers: the summary of a complete output. */
export function readStream(text: string): StreamSummary {
  const reader = new StreamJsonReader();
  for (const line of text.split("\n")) reader.push(line);
  return { ...reader.state };
}
