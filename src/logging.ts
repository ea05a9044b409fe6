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

/** Set on a logger whose task logs want debug lines: taskLogger's children are made at debug. */
const TASK_DEBUG = Symbol.for("devs-webhook.task-debug");

/**
 * The console logger at LOG_LEVEL; with `taskLog`, the task logs get every line at info or above,
 * and the debug lines of a task's own loggers (taskLogger), the console unchanged. Debug lines
 * about no task in particular (every delivery that is dropped says why at debug) are then not even
 * made at LOG_LEVEL=info: that is most of what a busy server would otherwise format and throw away.
 */
export async function createLogger(settings: Pick<Settings, "logLevel" | "logFormat">, taskLog?: NodeJS.WritableStream): Promise<Logger> {
  const options = { level: settings.logLevel, name: "devs-webhook", redact: { paths: REDACT, censor: "[redacted]" } };
  if (!taskLog && settings.logFormat === "json") return pino(options);
  const console = settings.logFormat === "json" ? pino.destination(1) : await prettyConsole();
  if (!taskLog) return pino(options, console);
  const streams: pino.StreamEntry[] = [{ level: "debug", stream: taskLog }];
  if (settings.logLevel !== "silent") streams.push({ level: settings.logLevel, stream: console });
  const root = settings.logLevel === "trace" || settings.logLevel === "debug" ? settings.logLevel : "info";
  const logger = pino({ ...options, level: root }, pino.multistream(streams));
  (logger as unknown as Record<symbol, boolean>)[TASK_DEBUG] = true;
  return logger;
}

/** A logger for one task's lines (`bindings` name the task): at debug when the task logs keep them. */
export function taskLogger(log: Logger, bindings: Record<string, unknown>): Logger {
  const wantsDebug = (log as unknown as Record<symbol, boolean | undefined>)[TASK_DEBUG] === true && log.levelVal > pino.levels.values.debug!;
  return wantsDebug ? log.child(bindings, { level: "debug" }) : log.child(bindings);
}

async function prettyConsole(): Promise<NodeJS.WritableStream> {
  const transform = await getTransformStream({ logFormat: "pretty" });
  transform.pipe(pino.destination(1) as unknown as NodeJS.WritableStream);
  return transform;
}

const LEVEL_METHODS = new Set(["trace", "debug", "info", "warn", "error", "fatal"]);

/**
 * `log.child(bindings)`, made only when a line at an enabled level is written: a child costs more
 * than most deliveries' whole handling, and nearly every delivery is dropped with no line above
 * debug.
 */
export function deferredChild(log: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | null = null;
  const made = () => (child ??= log.child(bindings));
  const noop = () => {};
  return new Proxy(log, {
    get(target, property) {
      if (!child && typeof property === "string" && LEVEL_METHODS.has(property) && !target.isLevelEnabled(property)) return noop;
      const value = Reflect.get(made(), property) as unknown;
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(made()) : value;
    },
  });
}
