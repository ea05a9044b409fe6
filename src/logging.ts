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

export async function createLogger(settings: Pick<Settings, "logLevel" | "logFormat">): Promise<Logger> {
  const options = { level: settings.logLevel, name: "devs-webhook", redact: { paths: REDACT, censor: "[redacted]" } };
  if (settings.logFormat === "json") return pino(options);
  const transform = await getTransformStream({ logFormat: "pretty" });
  transform.pipe(pino.destination(1) as unknown as NodeJS.WritableStream);
  return pino(options, transform);
}
