// The AGENT_COMMAND setting: the argv of the coding agent, with one word standing for the prompt.
// Pure, so the settings can check it at start-up and the agent can fill it in at run time.

const PROMPT_PLACEHOLDER = "{prompt}";

export const DEFAULT_AGENT_COMMAND = `claude -p ${PROMPT_PLACEHOLDER} --output-format stream-json --verbose --dangerously-skip-permissions`;

export class AgentCommandError extends Error {
  override name = "AgentCommandError";
}

/**
 * Splits the command setting into argv: words separated by spaces, '…' and "…" quoting (no
 * escapes, no shell), and exactly one word that is the `{prompt}` placeholder.
 */
export function parseAgentCommand(command: string): string[] {
  const words: string[] = [];
  const pattern = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const match of command.matchAll(pattern)) {
    if (match[3] !== undefined && /["']/.test(match[3])) {
      throw new AgentCommandError(`unbalanced quote in the agent command near ${JSON.stringify(match[3])}`);
    }
    words.push(match[1] ?? match[2] ?? match[3] ?? "");
  }
  if (words.length === 0) throw new AgentCommandError("the agent command is empty");
  const placeholders = words.filter((w) => w === PROMPT_PLACEHOLDER).length;
  if (placeholders !== 1) {
    throw new AgentCommandError(`the agent command must contain ${PROMPT_PLACEHOLDER} exactly once, as a word of its own`);
  }
  return words;
}

/** The program word that means Claude Code: the server's own build when it brings one (AGENT_CLI=bundled). */
const CLAUDE_WORD = "claude";

/** Does the command run Claude Code by its plain name (so the server's build can stand in for it)? */
export function runsClaude(command: string): boolean {
  return parseAgentCommand(command)[0] === CLAUDE_WORD;
}

/**
 * The argv for one run: the prompt is one argument, so no shell ever reads it. With `claudePath`,
 * a command whose program is plain `claude` runs that path instead (the bundled CLI's launcher).
 */
export function agentArgv(command: string, prompt: string, claudePath?: string): string[] {
  return parseAgentCommand(command).map((w, i) => (w === PROMPT_PLACEHOLDER ? prompt : i === 0 && claudePath && w === CLAUDE_WORD ? claudePath : w));
}

