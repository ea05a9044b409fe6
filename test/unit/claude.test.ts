// The agent runner: the command setting, the environment, how a run is judged, and whole runs of
// real processes (a `sh` stand-in that replays recorded Claude Code output) through a local exec.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { agentEnv, apiErrorReason, judgeRun, MAX_PROMPT_BYTES, runAgent, type AgentExec, type AgentOutcome } from "../../src/agent/claude.js";
import { AgentCommandError, agentArgv, DEFAULT_AGENT_COMMAND, parseAgentCommand } from "../../src/policy/agent-command.js";
import { readStream, type AgentEvent } from "../../src/agent/stream-json.js";
import { localExec } from "../helpers/local-exec.js";

const fixturePath = (name: string) => new URL(`../fixtures/claude-stream/${name}`, import.meta.url).pathname;
const fixture = (name: string) => readFileSync(fixturePath(name), "utf8");

describe("the agent command setting", () => {
  it("defaults to Claude Code in stream-json mode", () => {
    expect(agentArgv(DEFAULT_AGENT_COMMAND, "fix it")).toEqual([
      "claude",
      "-p",
      "fix it",
      "--output-format",
      "stream-json",
      "--verbose",
      "--dangerously-skip-permissions",
    ]);
  });

  it("hands the prompt over as one argument, whatever it contains", () => {
    const prompt = `Fix "this" and 'that'\n$(rm -rf /) ; \`id\` {prompt} --verbose`;
    const argv = agentArgv("agent --task {prompt} --flag", prompt);
    expect(argv).toEqual(["agent", "--task", prompt, "--flag"]);
  });

  it.each([
    [`sh -c 'echo "$1"' x {prompt}`, ["sh", "-c", 'echo "$1"', "x", "{prompt}"]],
    [`run "two words" {prompt}`, ["run", "two words", "{prompt}"]],
    [`  claude   -p   {prompt}  `, ["claude", "-p", "{prompt}"]],
  ])("splits %s", (command, expected) => {
    expect(parseAgentCommand(command)).toEqual(expected);
  });

  it.each([
    ["", /empty/],
    ["claude -p", /must contain \{prompt\} exactly once/],
    ["claude -p {prompt} {prompt}", /exactly once/],
    ["claude -p x{prompt}", /as a word of its own/],
    [`claude "unbalanced {prompt}`, /unbalanced quote/],
  ])("refuses %j", (command, message) => {
    expect(() => parseAgentCommand(command)).toThrow(AgentCommandError);
    expect(() => parseAgentCommand(command)).toThrow(message);
  });
});

describe("the agent's environment", () => {
  it("marks the container as the sandbox and turns off non-essential traffic", () => {
    expect(agentEnv({})).toEqual({ IS_SANDBOX: "1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1" });
  });

  it("carries the model session's address and task token, and no credential of the server's", () => {
    const env = agentEnv({ ANTHROPIC_BASE_URL: "http://127.0.0.1:4100", ANTHROPIC_API_KEY: "devs-task-abc" });
    expect(env).toEqual({
      IS_SANDBOX: "1",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      ANTHROPIC_BASE_URL: "http://127.0.0.1:4100",
      ANTHROPIC_API_KEY: "devs-task-abc",
    });
  });

  it("lets DEVS.yml env_vars add and override defaults, but never redirect the model or bring a credential", () => {
    const env = agentEnv(
      { ANTHROPIC_BASE_URL: "http://127.0.0.1:4100", ANTHROPIC_API_KEY: "devs-task-abc" },
      { IS_SANDBOX: "0", FOO: "bar", anthropic_base_url: "http://attacker.invalid", ANTHROPIC_AUTH_TOKEN: "repo", CLAUDE_CODE_OAUTH_TOKEN: "repo-oat" },
    );
    expect(env).toEqual({
      IS_SANDBOX: "0",
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      FOO: "bar",
      ANTHROPIC_BASE_URL: "http://127.0.0.1:4100",
      ANTHROPIC_API_KEY: "devs-task-abc",
    });
  });
});

describe("judging a finished run", () => {
  const judge = (name: string | null, exitCode: number | null, extra: Partial<Parameters<typeof judgeRun>[0]> = {}) =>
    judgeRun({ summary: readStream(name ? fixture(name) : ""), exitCode, wallMs: 1234, ...extra });

  it("a result with exit 0 is a success with the CLI's figures", () => {
    expect(judge("success.jsonl", 0)).toEqual({
      ok: true,
      text: "Done: added hello.txt",
      turns: 3,
      costUsd: 0.00324,
      durationMs: 689,
      sessionId: "34fde951-4279-4f69-bbf3-6d623cd98ae1",
      exitCode: 0,
    });
  });

  type Row = [string, string | null, number | null, Partial<Parameters<typeof judgeRun>[0]>, string, RegExp];
  it.each<Row>([
    ["API 401", "api-error-401.jsonl", 1, {}, "api_error", /^The Claude API returned an error \(HTTP 401\): authentication failed/],
    ["API 500 after a retry", "api-error-500-after-retry.jsonl", 1, {}, "api_error", /HTTP 500\): a server-side problem, usually temporary/],
    ["no connection", "connection-refused.jsonl", 1, {}, "api_error", /could not be used: it could not be reached from the container/],
    ["no credentials", "not-logged-in.jsonl", 1, {}, "api_error", /authentication failed/],
    ["the turn limit", "max-turns.jsonl", 1, {}, "max_turns", /^The agent reached its turn limit after 2 turns/],
    ["a result but a non-zero exit", "success.jsonl", 2, {}, "exit_code", /exited with code 2/],
    ["no result and a non-zero exit", null, 1, {}, "exit_code", /exited with code 1 before reporting a result/],
    ["command not found", null, 127, {}, "exit_code", /not found in the container \(exit 127\): install the Claude Code CLI/],
    ["killed", null, 137, {}, "exit_code", /killed \(exit 137\)/],
    ["no result and exit 0", null, 0, {}, "no_result", /ended without a final result/],
    ["a time-out", "success.jsonl", null, { abortReason: new DOMException("t", "TimeoutError") }, "timed_out", /within the time limit/],
    ["a cancel", null, null, { abortReason: "stop requested" }, "aborted", /stopped before it finished/],
    ["an exec that failed", null, null, { execError: new Error("container devs-eamonn is not running") }, "exec_failed", /could not be run in the container: container devs-eamonn is not running/],
  ])("%s", (_name, name, exitCode, extra, kind, reason) => {
    const outcome = judge(name, exitCode, extra);
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.kind).toBe(kind);
    expect(outcome.reason).toMatch(reason);
    expect(outcome.exitCode).toBe(exitCode);
  });

  it("keeps the gateway address and /login advice out of the reason, in the detail for the log", () => {
    const outcome = judge("api-error-500-after-retry.jsonl", 1);
    if (outcome.ok) throw new Error("expected a failure");
    expect(outcome.reason).not.toMatch(/127\.0\.0\.1|gateway/);
    expect(outcome.detail).toMatch(/inference gateway/);
    const notLoggedIn = judge("not-logged-in.jsonl", 1);
    if (notLoggedIn.ok) throw new Error("expected a failure");
    expect(notLoggedIn.reason).not.toMatch(/\/login/);
  });

  it("an error result of another kind quotes the agent's own (sanitised) words", () => {
    const line = JSON.stringify({
      type: "result",
      subtype: "error_during_execution",
      is_error: true,
      errors: ["Tool crashed reading /root/.config/secret.json with key sk-ant-api03-abcdefghijkl"],
      num_turns: 4,
    });
    const outcome = judgeRun({ summary: readStream(line), exitCode: 1, wallMs: 10 });
    expect(outcome).toMatchObject({
      ok: false,
      kind: "agent_error",
      reason: "The agent stopped with an error: Tool crashed reading <path> with key [redacted]",
      turns: 4,
      durationMs: 10,
    });
  });

  it("uses wall-clock time and the init session id when there is no result", () => {
    const lines = fixture("success.jsonl").split("\n").slice(0, 3).join("\n");
    expect(judgeRun({ summary: readStream(lines), exitCode: 0, wallMs: 777 })).toMatchObject({
      ok: false,
      kind: "no_result",
      durationMs: 777,
      sessionId: "34fde951-4279-4f69-bbf3-6d623cd98ae1",
    });
  });

  it.each([
    [429, null, /rate limit/],
    [529, null, /overloaded/],
    [400, null, /rejected/],
    [403, null, /authentication failed/],
    [418, null, /^The Claude API returned an error \(HTTP 418\)\.$/],
    [null, "connection_failed", /could not be reached/],
  ])("API error reason for HTTP %s / %s", (status, code, reason) => {
    expect(apiErrorReason(status, code, "")).toMatch(reason);
  });
});

// A stand-in agent: replays a recorded stream, prints to stderr, exits with a chosen code. The
// command goes through parseAgentCommand like an operator's would.
const REPLAY = `sh -c 'printf "%s" "$1" > "$ARGS_OUT"; echo "key=$ANTHROPIC_API_KEY sandbox=$IS_SANDBOX" >&2; cat "$FIXTURE"; exit "$CODE"' agent {prompt}`;

async function replay(name: string, code: number, extra: { prompt?: string; onEvent?: (e: AgentEvent) => void; exec?: AgentExec } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "devs-agent-"));
  const argsOut = join(dir, "args");
  const calls: Array<{ argv: string[]; env: Record<string, string> }> = [];
  const exec = extra.exec ?? localExec();
  const outcome = await runAgent(
    {
      prompt: extra.prompt ?? "please fix #1",
      cwd: dir,
      command: REPLAY,
      modelEnv: { ANTHROPIC_BASE_URL: "http://127.0.0.1:9", ANTHROPIC_API_KEY: "sk-ant-api03-unit-test-key" },
      env: { FIXTURE: name.startsWith("/") ? name : fixturePath(name), CODE: String(code), ARGS_OUT: argsOut },
      ...(extra.onEvent ? { onEvent: extra.onEvent } : {}),
    },
    (argv, options) => {
      calls.push({ argv, env: options.env });
      return exec(argv, options);
    },
  );
  return { outcome, calls, promptSeen: readFileSync(argsOut, "utf8") };
}

describe("running an agent process", () => {
  it("succeeds on a recorded successful stream, reporting progress as it goes", async () => {
    const seen: string[] = [];
    const { outcome, calls, promptSeen } = await replay("success.jsonl", 0, {
      prompt: "fix 'it' \"now\" $(whoami)",
      onEvent: (e) => seen.push(e.type === "tool_use" ? `tool_use:${e.name}` : e.type),
    });
    expect(outcome).toMatchObject({ ok: true, text: "Done: added hello.txt", turns: 3, exitCode: 0 });
    expect(promptSeen).toBe("fix 'it' \"now\" $(whoami)");
    expect(seen).toEqual(["init", "text", "tool_use:Write", "tool_result", "tool_use:Bash", "tool_result", "text", "result"]);
    // The key travels in the environment only.
    expect(calls[0]!.env.ANTHROPIC_API_KEY).toBe("sk-ant-api03-unit-test-key");
    expect(calls[0]!.argv.join(" ")).not.toContain("sk-ant-api03-unit-test-key");
  });

  it("fails with a clear reason on an API error stream, and redacts the key the agent printed", async () => {
    const { outcome } = await replay("api-error-401.jsonl", 1);
    expect(outcome).toMatchObject({ ok: false, kind: "api_error", exitCode: 1 });
    if (outcome.ok) return;
    expect(outcome.detail).toContain("key=[redacted] sandbox=1");
    expect(JSON.stringify(outcome)).not.toContain("sk-ant-api03-unit-test-key");
  });

  it("fails when the stream is cut off before the result", async () => {
    const dir = mkdtempSync(join(tmpdir(), "devs-cut-"));
    const text = fixture("success.jsonl");
    const cut = join(dir, "cut.jsonl");
    writeFileSync(cut, text.slice(0, text.lastIndexOf('{"duration_api_ms"') + 40));
    const { outcome } = await replay(cut, 0);
    expect(outcome).toMatchObject({ ok: false, kind: "no_result", exitCode: 0, sessionId: "34fde951-4279-4f69-bbf3-6d623cd98ae1" });
  });

  it("fails on a non-zero exit without output", async () => {
    const { outcome } = await replay("/dev/null", 3);
    expect(outcome).toMatchObject({ ok: false, kind: "exit_code", exitCode: 3 });
  });

  it("reports a command that does not exist", async () => {
    const outcome = await runAgent({ prompt: "x", cwd: tmpdir(), command: "devs-no-such-agent-binary {prompt}", modelEnv: {} }, localExec());
    expect(outcome).toMatchObject({ ok: false, kind: "exec_failed" });
    if (!outcome.ok) expect(outcome.reason).toMatch(/could not be run in the container/);
  });

  it("keeps going when the progress callback throws", async () => {
    const { outcome } = await replay("success.jsonl", 0, {
      onEvent: () => {
        throw new Error("GitHub said no");
      },
    });
    expect(outcome.ok).toBe(true);
  });

  it("refuses a prompt too long for one argument before starting anything", async () => {
    let started = false;
    const outcome = await runAgent({ prompt: "x".repeat(MAX_PROMPT_BYTES + 1), cwd: tmpdir(), modelEnv: {} }, async () => {
      started = true;
      return { exitCode: 0 };
    });
    expect(started).toBe(false);
    expect(outcome).toMatchObject({ ok: false, kind: "prompt_too_long" });
  });

  it("stops a hanging agent and its children when aborted, and says it timed out", async () => {
    const signal = AbortSignal.timeout(300);
    const began = Date.now();
    const outcome: AgentOutcome = await runAgent(
      {
        prompt: "x",
        cwd: tmpdir(),
        command: `sh -c 'echo "{\\"type\\":\\"system\\",\\"subtype\\":\\"init\\",\\"session_id\\":\\"s-1\\"}"; sleep 30 & wait' agent {prompt}`,
        modelEnv: {},
        signal,
      },
      localExec(),
    );
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(outcome).toMatchObject({ ok: false, kind: "timed_out", sessionId: "s-1" });
  });
});
