// What the model proxy adds to a Messages request: a small streamed answer from an upstream on
// loopback, fetched directly and through the proxy, in rounds that alternate (and swap which
// goes first), each round a run of sequential requests, keep-alive on both sides.
//   node --import tsx bench/model-proxy.bench.ts [requests-per-round] [rounds]
// Target (issue 11): under 5 ms added at the median; exits 1 when missed.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { DEFAULT_PRICES } from "../src/model-proxy/prices.js";
import { ModelProxy } from "../src/model-proxy/proxy.js";

const PER_ROUND = Math.max(200, Number(process.argv[2]) || 200);
const ROUNDS = Math.max(5, Number(process.argv[3]) || 6);
const WARM_UP = 50;
const TARGET_MS = 5;
const MODEL = "claude-sonnet-4-5-20250929";

const sse = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
/** A short answer, one write per event, as the API streams it. */
const EVENTS = [
  sse("message_start", { message: { id: "msg_b", type: "message", role: "assistant", model: MODEL, content: [], usage: { input_tokens: 120, output_tokens: 1 } } }),
  sse("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
  sse("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Nothing to " } }),
  sse("content_block_delta", { index: 0, delta: { type: "text_delta", text: "change." } }),
  sse("content_block_stop", { index: 0 }),
  sse("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 30 } }),
  sse("message_stop", {}),
];
const BODY = JSON.stringify({ model: MODEL, max_tokens: 1024, stream: true, messages: [{ role: "user", content: "hello" }] });

const upstream = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "request-id": "req_bench" });
    for (const event of EVENTS.slice(0, -1)) res.write(event);
    res.end(EVENTS.at(-1));
  });
});
await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", () => resolve()));
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

const proxy = new ModelProxy({ upstream: upstreamUrl, credentials: { apiKey: "sk-ant-bench" }, prices: DEFAULT_PRICES, log: pino({ level: "warn" }), host: "127.0.0.1" });
await proxy.listen();
const lease = proxy.lease({ taskId: "bench", admit: () => null });

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const headers = { "content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": lease.token, "content-length": Buffer.byteLength(BODY) };
const expectedLength = Buffer.byteLength(EVENTS.join(""));

/** One request, from its start to the last byte of the answer, in ms. */
function once(base: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(`${base}/v1/messages?beta=true`, { method: "POST", headers, agent }, (res) => {
      let length = 0;
      res.on("data", (chunk: Buffer) => (length += chunk.length));
      res.on("end", () => {
        if (res.statusCode !== 200 || length !== expectedLength) reject(new Error(`answer ${res.statusCode}, ${length} bytes`));
        else resolve(performance.now() - t0);
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(BODY);
  });
}

async function run(base: string, times: number, into?: number[]): Promise<void> {
  for (let i = 0; i < times; i++) {
    const ms = await once(base);
    into?.push(ms);
  }
}

await run(upstreamUrl, WARM_UP);
await run(proxy.url, WARM_UP);
const direct: number[] = [];
const proxied: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const order: Array<[string, number[]]> = [
    [upstreamUrl, direct],
    [proxy.url, proxied],
  ];
  if (round % 2 === 1) order.reverse();
  for (const [base, into] of order) await run(base, PER_ROUND, into);
}

const usage = lease.usage();
agent.destroy();
await proxy.close();
await new Promise<void>((resolve) => upstream.close(() => resolve()));

const requests = WARM_UP + ROUNDS * PER_ROUND;
if (usage.requests !== requests || usage.inputTokens !== 120 * requests || usage.outputTokens !== 30 * requests) {
  console.error(`the proxy counted ${JSON.stringify(usage)} for ${requests} requests`);
  process.exit(1);
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const ms = (x: number) => `${x.toFixed(3).padStart(8)}ms`;
const difference = pct(proxied, 50) - pct(direct, 50);
console.log(`\nmodel proxy benchmark — ${ROUNDS} alternating rounds × ${PER_ROUND} sequential streamed requests, keep-alive, loopback`);
console.log(`${"".padEnd(16)} ${"p50".padStart(10)} ${"p95".padStart(10)}`);
console.log(`${"direct".padEnd(16)} ${ms(pct(direct, 50))} ${ms(pct(direct, 95))}`);
console.log(`${"through proxy".padEnd(16)} ${ms(pct(proxied, 50))} ${ms(pct(proxied, 95))}`);
console.log(`${"p50 difference".padEnd(16)} ${ms(difference)}   < ${TARGET_MS} ms  ${difference < TARGET_MS ? "ok" : "MISSED"}`);
console.log(`usage counted: ${usage.requests} requests, ${usage.inputTokens} in, ${usage.outputTokens} out, $${usage.costUsd.toFixed(4)}`);
if (difference >= TARGET_MS) process.exit(1);
