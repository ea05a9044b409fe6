// Runs the coding agent (Claude Code by default) in the task's container and turns what it printed
// into an outcome: success with the agent's answer, turns, cost, duration and session id, or a
// failure with a reason a user can act on. The container layer supplies `exec`; this module only
// builds the command and environment and judges the stream. No model credential is ever handed
// over: the environment carries the server's model proxy and a token for this task alone
// (budget/model-access.ts), and every text that leaves here is redacted.
import { StreamJsonReader, type AgentEvent, type AgentResult, type StreamSummary } from "./stream-json.js";
import { createRedactor, safeErrorSummary, safeText, type Redactor } from "../publish/redact.js";
import { agentArgv, DEFAULT_AGENT_COMMAND } from "../policy/agent-command.js";

/**
 * Linux refuses a single argument longer than 32 pages (MAX_ARG_STRLEN, 128 KiB) with E2BIG; we
 * stop a little earlier with a clear reason instead.
 */
export const MAX_PROMPT_BYTES = 120 * 1024;

/** Environment every run gets (DEVS.yml env_vars may override it). */
const AGENT_BASE_ENV: Readonly<Record<string, string>> = {
  // The container is the sandbox; as root the CLI refuses --dangerously-skip-permissions without it.
  IS_SANDBOX: "1",
  // No telemetry, error reporting or update checks: the agent talks to its API and nothing else.
  CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
};

export type OutputStream = "stdout" | "stderr";

export interface AgentExecOptions {
  env: Record<string, string>;
  cwd: string;
  onLine: (stream: OutputStream, line: string) => void;
  signal?: AbortSignal;
}

/** Runs argv (no shell) where the agent lives; resolves with the exit code, rejects if it cannot. */
export type AgentExec = (argv: string[], options: AgentExecOptions) => Promise<{ exitCode: number }>;

export interface AgentRunRequest {
  prompt: string;
  /** Working directory inside the container (the task's workspace). */
  cwd: string;
  /** The agent command setting; DEFAULT_AGENT_COMMAND when unset. */
  command?: string;
  /**
   * The server's own Claude Code in the container (AGENT_CLI=bundled): the command's `claude`
   * word runs this path. Unset: `claude` is whatever the image has on its PATH.
   */
  claudePath?: string;
  /** The model session's variables (ANTHROPIC_BASE_URL, the task's token): above everything else. */
  modelEnv: Readonly<Record<string, string>>;
  /** Extra environment (DEVS.yml env_vars), below the model session's. */
  env?: Readonly<Record<string, string>>;
  /** Aborting stops the agent; a TimeoutError reason (AbortSignal.timeout) reads as a time-out. */
  signal?: AbortSignal;
  /**
   * Progress as it happens. Must be quick; an exception is kept, not rethrown. Events are raw
   * (tool inputs may hold anything): redact before publishing them.
   */
  onEvent?: (event: AgentEvent) => void;
  /** More secrets to keep out of reasons and details (the GitHub token, …). */
  secrets?: Iterable<string | null | undefined>;
}

export type AgentFailureKind =
  | "aborted"
  | "timed_out"
  | "prompt_too_long"
  | "exec_failed"
  | "exit_code"
  | "no_result"
  | "max_turns"
  | "max_budget"
  | "api_error"
  | "agent_error";

export interface AgentStats {
  turns: number | null;
  costUsd: number | null;
  /** The CLI's own figure when it reported one, else wall-clock time around the exec. */
  durationMs: number;
  sessionId: string | null;
  exitCode: number | null;
}

export type AgentOutcome =
  | ({ ok: true; text: string } & AgentStats)
  | ({
      ok: false;
      kind: AgentFailureKind;
      /** One line for the user: safe to post on GitHub. */
      reason: string;
      /** More for the operator's log (redacted, never posted): CLI text, stderr tail, errors. */
      detail: string;
    } & AgentStats);

/**
 * env_vars may not point the agent elsewhere: the model session's variables win, and a repository's
 * own model credential is dropped, since spending would then bypass the proxy's count and budgets.
 */
export function agentEnv(modelEnv: Readonly<Record<string, string>>, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = { ...AGENT_BASE_ENV };
  for (const [name, value] of Object.entries(extra)) if (!MODEL_VARIABLES.has(name.toUpperCase())) env[name] = value;
  return { ...env, ...modelEnv };
}

/** What decides where the agent's model requests go and what they authenticate with. */
const MODEL_VARIABLES = new Set(["ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "CLAUDE_API_KEY"]);

/** Kept for the log when a run fails: the last lines, each bounded. */
const STDERR_TAIL = 20;
const STDERR_LINE_MAX = 2000;

/**
 * Runs the agent once and judges its output. Failures of the run are outcomes, not exceptions;
 * only a malformed command setting throws (AgentCommandError).
 */
export async function runAgent(request: AgentRunRequest, exec: AgentExec): Promise<AgentOutcome> {
  const started = Date.now();
  const redactor = createRedactor([request.modelEnv.ANTHROPIC_API_KEY, ...(request.secrets ?? [])]);
  const argv = agentArgv(request.command ?? DEFAULT_AGENT_COMMAND, request.prompt, request.claudePath);
  const bundled = request.claudePath !== undefined && argv[0] === request.claudePath;

  const promptBytes = Buffer.byteLength(request.prompt, "utf8");
  if (promptBytes > MAX_PROMPT_BYTES) {
    return failure("prompt_too_long", `The task description is too long to hand to the agent (${Math.ceil(promptBytes / 1024)} KiB; the limit is ${MAX_PROMPT_BYTES / 1024} KiB).`, "", emptyStats(started));
  }

  let progressError: unknown = null;
  const reader = new StreamJsonReader((event) => {
    if (!request.onEvent || progressError) return;
    try {
      request.onEvent(event);
    } catch (error) {
      progressError = error; // progress is a courtesy: the run goes on without it
    }
  });
  const stderr: string[] = [];
  const onLine = (stream: OutputStream, line: string) => {
    if (stream === "stdout") reader.push(line);
    else if (line.trim()) {
      stderr.push(line.length > STDERR_LINE_MAX ? `${line.slice(0, STDERR_LINE_MAX)}…` : line);
      if (stderr.length > STDERR_TAIL) stderr.shift();
    }
  };

  let exitCode: number | null = null;
  let execError: unknown = null;
  try {
    ({ exitCode } = await exec(argv, {
      env: agentEnv(request.modelEnv, request.env),
      cwd: request.cwd,
      onLine,
      ...(request.signal ? { signal: request.signal } : {}),
    }));
  } catch (error) {
    execError = error;
  }

  const notes = [
    stderr.length ? `stderr (last ${stderr.length} lines):\n${stderr.join("\n")}` : "",
    execError ? `exec error: ${execError instanceof Error ? `${execError.name}: ${execError.message}` : String(execError)}` : "",
    progressError ? `progress callback failed: ${String(progressError)}` : "",
  ];
  return judgeRun({
    summary: reader.state,
    exitCode,
    execError,
    abortReason: request.signal?.aborted ? (request.signal.reason as unknown) ?? "aborted" : undefined,
    wallMs: Date.now() - started,
    notes: notes.filter(Boolean).join("\n"),
    redactor,
    bundled,
  });
}

export interface RunFacts {
  summary: Readonly<StreamSummary>;
  exitCode: number | null;
  execError?: unknown;
  /** Set when the run was aborted (the signal's reason). */
  abortReason?: unknown;
  wallMs: number;
  notes?: string;
  redactor?: Redactor;
  /** The server's own Claude Code ran (its launcher), not a program of the image's. */
  bundled?: boolean;
}

/** Decides the outcome of a finished run. Pure, so every branch is tested without a process. */
export function judgeRun(facts: RunFacts): AgentOutcome {
  const redactor = facts.redactor ?? createRedactor();
  const { summary, exitCode } = facts;
  const result = summary.result;
  const stats: AgentStats = {
    turns: result?.turns ?? null,
    costUsd: result?.costUsd ?? null,
    durationMs: result?.durationMs ?? facts.wallMs,
    sessionId: result?.sessionId ?? summary.sessionId,
    exitCode,
  };
  const detail = (extra: string) => redactor([extra, facts.notes ?? ""].filter(Boolean).join("\n"));
  const fail = (kind: AgentFailureKind, reason: string, extra = "") => failure(kind, redactor(reason), detail(extra), stats);

  if (facts.abortReason !== undefined) {
    const timedOut = facts.abortReason instanceof Error && facts.abortReason.name === "TimeoutError";
    return timedOut
      ? fail("timed_out", "The agent did not finish within the time limit and was stopped.")
      : fail("aborted", "The agent was stopped before it finished.");
  }
  if (facts.execError) {
    return fail("exec_failed", `The agent could not be run in the container: ${safeErrorSummary(facts.execError, { redactor })}`);
  }
  if (result?.isError) return judgeErrorResult(result, summary, fail, redactor);
  if (result && exitCode === 0) {
    return { ok: true, text: redactor(result.text ?? ""), ...stats };
  }
  if (exitCode !== 0) {
    const extra = result ? `the CLI reported ${result.subtype} but exited ${exitCode}` : "";
    return fail("exit_code", exitReason(exitCode, facts.bundled ?? false), extra);
  }
  const last = summary.lastText ? `last text: ${summary.lastText}` : "";
  return fail("no_result", "The agent's output ended without a final result (it was cut off or the agent crashed).", last);
}

type Fail = (kind: AgentFailureKind, reason: string, extra?: string) => AgentOutcome;

function judgeErrorResult(result: AgentResult, summary: Readonly<StreamSummary>, fail: Fail, redactor: Redactor): AgentOutcome {
  const said = [result.text, ...result.errors].filter(Boolean).join("\n");
  const extra = `result ${result.subtype}${result.terminalReason ? ` (${result.terminalReason})` : ""}: ${said}`;
  if (result.subtype === "error_max_turns" || result.terminalReason === "max_turns") {
    const turns = result.turns !== null ? ` after ${result.turns} turns` : "";
    return fail("max_turns", `The agent reached its turn limit${turns} before finishing.`, extra);
  }
  if (result.subtype.startsWith("error_max_budget")) {
    return fail("max_budget", "The agent reached its spending limit before finishing.", extra);
  }
  const apiError = summary.apiError;
  if (result.terminalReason === "api_error" || result.apiErrorStatus !== null || apiError) {
    const status = result.apiErrorStatus ?? apiError?.status ?? null;
    return fail("api_error", apiErrorReason(status, apiError?.error ?? null, said), extra);
  }
  const what = safeText(said, { redactor, maxLength: 200 });
  return fail("agent_error", what ? `The agent stopped with an error: ${what}` : `The agent stopped with an error (${result.subtype}).`, extra);
}

/**
 * The CLI's own API messages name the gateway address and suggest `/login`; users get the status
 * and what to do instead.
 */
export function apiErrorReason(status: number | null, code: string | null, text: string): string {
  const base = status !== null ? `The Claude API returned an error (HTTP ${status})` : "The Claude API could not be used";
  if (status === 401 || status === 403 || code === "authentication_failed" || /not logged in|invalid api key/i.test(text)) {
    return `${base}: authentication failed. The operator should check the Claude API key or OAuth token.`;
  }
  if (status === 429 || code === "rate_limit") return `${base}: rate limit or usage limit reached. Try again later.`;
  if (status === 529 || code === "overloaded") return `${base}: the API is overloaded. Try again in a few minutes.`;
  if (status !== null && status >= 500) return `${base}: a server-side problem, usually temporary. Try again later.`;
  if (status === 400 || status === 413 || code === "invalid_request") return `${base}: the request was rejected (it may be too large).`;
  if (status === null && /connect|ECONN|ENOTFOUND|ETIMEDOUT|network|socket/i.test(`${code ?? ""} ${text}`)) {
    return `${base}: it could not be reached from the container (network or proxy settings).`;
  }
  return `${base}.`;
}

function exitReason(exitCode: number | null, bundled: boolean): string {
  switch (exitCode) {
    case null:
      return "The agent's exit status is unknown.";
    case 126:
      return "The agent command could not be executed in the container (exit 126): check that it is executable.";
    case 127:
      // The bundled launcher's own line (on stderr, in the operator's log) names what the server lacks.
      return bundled
        ? "The agent could not start in this container (exit 127): the server has no Claude Code build for this image. The operator's log says what to install."
        : "The agent command was not found in the container (exit 127): install the Claude Code CLI in the devcontainer image.";
    case 137:
      return "The agent was killed (exit 137), often because the container ran out of memory.";
    default:
      return `The agent exited with code ${exitCode} before reporting a result.`;
  }
}

function failure(kind: AgentFailureKind, reason: string, detail: string, stats: AgentStats): AgentOutcome {
  return { ok: false, kind, reason, detail, ...stats };
}

function emptyStats(started: number): AgentStats {
  return { turns: null, costUsd: null, durationMs: Date.now() - started, sessionId: null, exitCode: null };
}
