// Forged deliveries cannot grow the server: `serve` in its own process receives fifty concurrent
// 25 MiB bodies that carry no signature or a wrong one, sent with a Content-Length and chunked.
// Each is refused with a 4xx and the process's resident memory (VmHWM, its peak, read from
// /proc) grows by less than the intake budget (32 MiB of unverified bodies at once) plus 64 MiB of
// sockets and garbage not yet collected: what fifty 25 MiB bodies would take unbounded is 1.25 GB.
// (Measured: 16 to 62 MB on an idle machine, 66 MB with the whole suite running beside it; the
// spread is the garbage collector, whose state at the "before" reading decides most of it.)
// A correctly signed delivery still works afterwards.
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deliver, startServe, type ServeProcess } from "../helpers/serve-process.js";
import { payload } from "../helpers/payloads.js";
import { tempDir } from "../helpers/settings.js";

const SECRET = "intake-memory-secret";
const MiB = 1024 * 1024;
const BODY_BYTES = 25 * MiB;
const CHUNK = Buffer.alloc(MiB, "a");
/** The server's MAX_BUFFERED_BODY_BYTES, and room for what is in flight besides the bodies. */
const GROWTH_LIMIT = 32 * MiB + 64 * MiB;

let serve: ServeProcess;
let pid: number;

beforeAll(async () => {
  serve = await startServe({
    GITHUB_TOKEN: "intake-token",
    WEBHOOK_SECRET: SECRET,
    GITHUB_MENTIONED_USER: "devs-bot",
    // No GitHub: the identity lookup fails at once and the mentioned user is used.
    GHE_HOST: "127.0.0.1:1",
    GHE_PROTOCOL: "http",
    DATA_DIR: tempDir("devs-intake-memory-"),
    CONTAINER_POOL: "intake-memory",
    LOG_LEVEL: "error",
  });
  pid = serve.child.pid!;
}, 60_000);

afterAll(async () => {
  serve?.child.kill("SIGTERM");
  await serve?.exited;
});

function status(field: "VmRSS" | "VmHWM"): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(`${field}:`));
  return Number(/(\d+) kB/.exec(line ?? "")?.[1]) * 1024;
}

type Framing = "content-length" | "chunked";

/** Streams BODY_BYTES of "a" and resolves with the status, or the error if no answer came. */
function send(framing: Framing, signature: string | null): Promise<number | string> {
  return new Promise((resolve) => {
    const url = new URL(`${serve.base}/webhook`);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-github-event": "issue_comment",
      "x-github-delivery": crypto.randomUUID(),
      ...(signature ? { "x-hub-signature-256": signature } : {}),
      ...(framing === "content-length" ? { "content-length": String(BODY_BYTES) } : {}),
    };
    let answered = false;
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers, agent: false }, (res) => {
      answered = true;
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    // The server closes the connection of a refused body; writes after that fail.
    // The answer may still be on its way when a write fails (EPIPE on a loaded machine): give it a
    // moment before counting the request as unanswered.
    req.on("error", (error) => {
      setTimeout(() => {
        if (!answered) resolve(`${error.message}`);
      }, 500);
    });
    let sent = 0;
    const pump = () => {
      while (sent < BODY_BYTES && !req.destroyed) {
        sent += CHUNK.length;
        if (!req.write(CHUNK)) return void req.once("drain", pump);
      }
      if (!req.destroyed) req.end();
    };
    pump();
  });
}

describe("fifty concurrent forged 25 MiB bodies", () => {
  it("are each refused with a 4xx while the server's memory grows by less than the intake budget and some slack (96 MiB)", async () => {
    // Warm up the paths the burst takes, so what is measured is the bodies, not code loading.
    const warm = JSON.stringify(payload("ping", undefined));
    expect((await deliver(serve.base, SECRET, "ping", JSON.parse(warm) as Record<string, unknown>)).status).toBe(200);
    expect(await send("chunked", `sha256=${"0".repeat(64)}`)).toBe(401);
    expect(await send("content-length", null)).toBe(400);

    await new Promise((r) => setTimeout(r, 200));
    const before = status("VmRSS");
    // "5" resets the peak (VmHWM) to the current RSS, so the peak read later is the burst's.
    writeFileSync(`/proc/${pid}/clear_refs`, "5");

    const bogus = `sha256=${"ab".repeat(32)}`;
    const kinds: Array<[Framing, string | null]> = [
      ["content-length", null],
      ["chunked", null],
      ["content-length", bogus],
      ["chunked", bogus],
    ];
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => send(...kinds[i % kinds.length]!)));
    const elapsed = Date.now() - started;
    const peak = status("VmHWM");
    const after = status("VmRSS");

    const byKind = new Map<string, Array<number | string>>();
    answers.forEach((answer, i) => {
      const [framing, signature] = kinds[i % kinds.length]!;
      const key = `${framing}, ${signature ? "wrong signature" : "no signature"}`;
      byKind.set(key, [...(byKind.get(key) ?? []), answer]);
    });
    console.log(
      `intake burst: ${elapsed} ms; RSS ${(before / MiB).toFixed(1)} MiB before, peak ${(peak / MiB).toFixed(1)} MiB, ${(after / MiB).toFixed(1)} MiB after`,
    );
    expect(Object.fromEntries(byKind)).toEqual({
      "content-length, no signature": Array(13).fill(400),
      "chunked, no signature": Array(13).fill(400),
      "content-length, wrong signature": Array(12).fill(401),
      "chunked, wrong signature": Array(12).fill(401),
    });
    expect(peak - before).toBeLessThan(GROWTH_LIMIT);

    // Still serving, and a genuine delivery still goes through.
    expect((await fetch(`${serve.base}/health`)).status).toBe(200);
    expect((await deliver(serve.base, SECRET, "ping", JSON.parse(warm) as Record<string, unknown>)).status).toBe(200);
  }, 60_000);
});
