// A scripted Anthropic Messages API on loopback, so the real Claude Code CLI can run in tests: each
// agent request (`POST /v1/messages` carrying tools) takes the next turn of the script and gets it
// back as server-sent events, the way the real API streams. The CLI's side requests (token counts,
// short tool-less prompts such as titles or topic checks) are answered without consuming the
// script. Point HTTP(S)_PROXY at this server too: anything the CLI tries to reach elsewhere is
// refused and recorded as a `proxy` request instead of leaving the machine.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type ScriptedBlock =
  | { type: "text"; text: string }
  | { type: "tool_use"; name: string; input: Record<string, unknown> };

export interface ScriptedTurn {
  content: ScriptedBlock[];
  /** Defaults to `tool_use` when the turn holds a tool call, else `end_turn`. */
  stopReason?: "end_turn" | "tool_use" | "max_tokens";
  /** The usage figures this turn reports (default: a small request). */
  usage?: TurnUsage;
}

export interface TurnUsage {
  input_tokens: number;
  output_tokens: number;
}

export type FakeAnthropicMode =
  | { kind: "script"; turns: ScriptedTurn[] }
  /** Every agent request fails with this HTTP status and Anthropic's error body. */
  | { kind: "error"; status: number; errorType: string; message: string; shouldRetry?: boolean }
  /** Agent requests are accepted and never answered (for timeouts and cancellation). */
  | { kind: "hang" }
  /**
   * Each agent request picks its own turn (by its conversation so far, not by arrival order), so
   * several tasks can be scripted at once; `hang` leaves that request unanswered.
   */
  | { kind: "route"; pick: (request: RecordedRequest) => ScriptedTurn | "hang" };

export type RequestRole = "agent" | "side" | "count_tokens" | "proxy" | "other";

export interface RecordedRequest {
  role: RequestRole;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: MessagesBody | null;
}

/** The parts of a Messages request the fake looks at. */
export interface MessagesBody {
  model?: string;
  stream?: boolean;
  max_tokens?: number;
  system?: unknown;
  tools?: Array<{ name?: string }>;
  messages?: Array<{ role: string; content: string | Array<Record<string, unknown>> }>;
}

export interface FakeAnthropic {
  /** For ANTHROPIC_BASE_URL (and HTTP_PROXY/HTTPS_PROXY, to catch other traffic). */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Agent requests in arrival order; `agentRequests[n]` carries the tool results of turn n. */
  readonly agentRequests: RecordedRequest[];
  /** Turns the script has handed out. */
  readonly turnsServed: number;
  setMode(mode: FakeAnthropicMode): void;
  close(): Promise<void>;
}

const USAGE = { input_tokens: 120, output_tokens: 30 };

export async function startFakeAnthropic(initial: FakeAnthropicMode): Promise<FakeAnthropic> {
  let mode = initial;
  let turnsServed = 0;
  let messageSeq = 0;
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify(apiError("api_error", `fake-anthropic: ${String(error)}`)));
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  // HTTPS through a proxy starts with CONNECT host:port: refuse, and remember who it wanted.
  server.on("connect", (req: IncomingMessage, socket: Socket) => {
    requests.push({ role: "proxy", method: "CONNECT", path: req.url ?? "", headers: req.headers, body: null });
    socket.on("error", () => undefined); // the client may hang up first; that is its business
    socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = req.url ?? "/";
    if (/^https?:\/\//.test(url)) {
      // A plain-HTTP proxy request for some other host.
      requests.push({ role: "proxy", method: req.method ?? "", path: url, headers: req.headers, body: null });
      res.writeHead(403).end();
      return;
    }
    const path = url.split("?")[0]!;
    let body: MessagesBody | null = null;
    try {
      body = raw ? (JSON.parse(raw) as MessagesBody) : null;
    } catch {
      body = null;
    }
    const record = (role: RequestRole) => requests.push({ role, method: req.method ?? "", path, headers: req.headers, body });

    if (req.method === "POST" && path === "/v1/messages/count_tokens") {
      record("count_tokens");
      json(res, 200, { input_tokens: USAGE.input_tokens });
      return;
    }
    if (req.method !== "POST" || path !== "/v1/messages" || !body) {
      record("other");
      json(res, 404, apiError("not_found_error", `fake-anthropic has no ${req.method} ${path}`));
      return;
    }
    // The agent loop always sends its tool definitions; the CLI's side prompts send none.
    if (!body.tools?.length) {
      record("side");
      sendMessage(res, body, [{ type: "text", text: "OK" }], "end_turn");
      return;
    }
    record("agent");
    switch (mode.kind) {
      case "route": {
        const turn = mode.pick(requests.at(-1)!);
        if (turn === "hang") return; // as `hang`
        turnsServed += 1;
        sendMessage(res, body, turn.content, turn.stopReason ?? (turn.content.some((b) => b.type === "tool_use") ? "tool_use" : "end_turn"), turn.usage);
        return;
      }
      case "hang":
        return; // leave the response open; close() ends the socket
      case "error":
        res.writeHead(mode.status, {
          "content-type": "application/json",
          "request-id": `req_fake_${requests.length}`,
          // The CLI retries most errors ten times with back-off unless told not to.
          ...(mode.shouldRetry === undefined ? {} : { "x-should-retry": String(mode.shouldRetry) }),
        });
        res.end(JSON.stringify(apiError(mode.errorType, mode.message)));
        return;
      case "script": {
        const turn = mode.turns[turnsServed];
        if (!turn) {
          sendMessage(res, body, [{ type: "text", text: "fake-anthropic: the script has no more turns" }], "end_turn");
          return;
        }
        turnsServed += 1;
        const stop = turn.stopReason ?? (turn.content.some((b) => b.type === "tool_use") ? "tool_use" : "end_turn");
        sendMessage(res, body, turn.content, stop, turn.usage);
        return;
      }
    }
  }

  function sendMessage(res: ServerResponse, body: MessagesBody, content: ScriptedBlock[], stopReason: string, usage: TurnUsage = USAGE): void {
    messageSeq += 1;
    const id = `msg_fake_${messageSeq}`;
    const model = body.model ?? "claude-fake";
    const blocks = content.map((block, i) =>
      block.type === "text" ? { ...block } : { type: "tool_use" as const, id: `toolu_fake_${messageSeq}_${i}`, name: block.name, input: block.input },
    );
    if (!body.stream) {
      json(res, 200, {
        id,
        type: "message",
        role: "assistant",
        model,
        content: blocks,
        stop_reason: stopReason,
        stop_sequence: null,
        usage,
      });
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "request-id": `req_fake_${messageSeq}` });
    const event = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    event("message_start", {
      message: {
        id,
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.input_tokens, output_tokens: 1 },
      },
    });
    blocks.forEach((block, index) => {
      if (block.type === "text") {
        event("content_block_start", { index, content_block: { type: "text", text: "" } });
        // Two deltas, as the real API splits text: the CLI must join them.
        const half = Math.ceil(block.text.length / 2);
        for (const text of [block.text.slice(0, half), block.text.slice(half)]) {
          if (text) event("content_block_delta", { index, delta: { type: "text_delta", text } });
        }
      } else {
        event("content_block_start", { index, content_block: { type: "tool_use", id: block.id, name: block.name, input: {} } });
        const input = JSON.stringify(block.input);
        const half = Math.ceil(input.length / 2);
        for (const partial_json of [input.slice(0, half), input.slice(half)]) {
          event("content_block_delta", { index, delta: { type: "input_json_delta", partial_json } });
        }
      }
      event("content_block_stop", { index });
    });
    event("message_delta", { delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
    event("message_stop", {});
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    get agentRequests() {
      return requests.filter((r) => r.role === "agent");
    },
    get turnsServed() {
      return turnsServed;
    },
    setMode(next) {
      mode = next;
      turnsServed = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function apiError(type: string, message: string) {
  return { type: "error", error: { type, message } };
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

/** The text of a request's first user message: the task's prompt, whichever turn the request is. */
export function firstPrompt(request: RecordedRequest): string {
  const first = request.body?.messages?.[0];
  if (!first) return "";
  return typeof first.content === "string" ? first.content : first.content.map((block) => (block.type === "text" ? String(block.text ?? "") : "")).join("\n");
}

/** Which turn of its conversation a request asks for: the assistant messages it already holds. */
export function turnIndex(request: RecordedRequest): number {
  return (request.body?.messages ?? []).filter((m) => m.role === "assistant").length;
}

/** The tool_result blocks the CLI sent back in one request (what its tools really did). */
export function toolResults(request: RecordedRequest): Array<{ tool_use_id: string; is_error: boolean; text: string }> {
  const last = request.body?.messages?.at(-1);
  if (!last || typeof last.content === "string") return [];
  return last.content
    .filter((block) => block.type === "tool_result")
    .map((block) => ({
      tool_use_id: String(block.tool_use_id),
      is_error: block.is_error === true,
      text: contentText(block.content),
    }));
}

function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part: { type?: string; text?: string }) => (part.type === "text" ? (part.text ?? "") : "")).join("");
  }
  return "";
}
