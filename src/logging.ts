// The process logger: pino (Probot's), structured, with secret-bearing fields removed.
import { pino, type Logger } from "pino";
import { getTransformStream } from "@probot/pino";
import type { Settings } from "./settings.js";

const REDACT = [
  "token",
  "*.token",
  "password",
  "*.password",
  "secret",
  "*.secret",
  "privateKey",
  "*.privateKey",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "*.headers.authorization",
  "request.headers.authorization",
];

/**
 * The console logger at LOG_LEVEL; with `taskLog`, every line at debug or above also goes there
 * (the task logs keep container output whatever the console shows), the console unchanged.
 */
export async function createLogger(settings: Pick<Settings, "logLevel" | "logFormat">, taskLog?: NodeJS.WritableStream): Promise<Logger> {
  const options = { level: settings.logLevel, name: "devs-webhook", redact: { paths: REDACT, censor: "[redacted]" } };
  if (!taskLog && settings.logFormat === "json") return pino(options);
  const console = settings.logFormat === "json" ? pino.destination(1) : await prettyConsole();
  if (!taskLog) return pino(options, console);
  const streams: pino.StreamEntry[] = [{ level: "debug", stream: taskLog }];
  if (settings.logLevel !== "silent") streams.push({ level: settings.logLevel, stream: console });
  const lowest = settings.logLevel === "trace" ? "trace" : "debug";
  return pino({ ...options, level: lowest }, pino.multistream(streams));
}

async function prettyConsole(): Promise<NodeJS.WritableStream> {
  const transform = await getTransformStream({ logFormat: "pretty" });
  transform.pipe(pino.destination(1) as unknown as NodeJS.WritableStream);
  return transform;
}
