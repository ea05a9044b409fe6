// Prepares the task's devcontainer and runs the agent in it: devcontainer.json → image →
// the long-lived container for this pool name and repository → leftovers of an interrupted task
// killed → the agent CLI, with every process it starts marked with the task's id.
import type Docker from "dockerode";
import type { Logger } from "pino";
import { readDevcontainer } from "../containers/devcontainer.js";
import type { ContainerRuntime } from "../containers/docker.js";
import { killTaskStrays, TASK_ID_VARIABLE } from "../containers/exec.js";
import { resolveImage } from "../containers/image.js";
import type { Task } from "../tasks/task.js";
import { runAgent, type AgentCredentials } from "./claude.js";
import type { PreparedContainer } from "./runner.js";

export interface ContainerAgentDeps {
  docker: Docker;
  runtime: ContainerRuntime;
  defaultImage: string;
  agentCommand: string;
  credentials: AgentCredentials;
  /** Values to keep out of anything posted (tokens, keys). */
  secrets: () => Iterable<string | null | undefined>;
  log: Logger;
}

export function containerAgent(deps: ContainerAgentDeps) {
  return async (input: { container: string; task: Task; workspace: string; env: Record<string, string>; signal: AbortSignal }): Promise<PreparedContainer> => {
    const { task } = input;
    const log = deps.log.child({ task: task.id, container: input.container });
    const { spec, notes } = await readDevcontainer(input.workspace, { repoName: task.repo.name, defaultImage: deps.defaultImage, localEnv: input.env });
    const image = await resolveImage(deps.docker, spec, input.workspace, {
      owner: task.repo.owner,
      repo: task.repo.name,
      signal: input.signal,
      onLine: (line) => log.debug({ line }, "image build"),
    });
    const container = await deps.runtime.ensure({
      pool: input.container,
      owner: task.repo.owner,
      repo: task.repo.name,
      workspaceDir: input.workspace,
      spec,
      image,
      env: input.env,
      signal: input.signal,
      onLine: (stream, line) => log.debug({ stream, line }, "lifecycle hook"),
      onProgress: (message) => log.info(message),
    });
    const strays = await killTaskStrays(deps.docker.getContainer(container.id));
    if (strays) log.warn({ strays }, "killed processes an interrupted task left in the container");
    return {
      workspaceFolder: spec.workspaceFolder,
      notes: notes.length ? [`Not applied from devcontainer.json: ${notes.join("; ")}.`] : [],
      runAgent: (prompt, signal) =>
        runAgent(
          {
            prompt,
            cwd: spec.workspaceFolder,
            command: deps.agentCommand,
            credentials: deps.credentials,
            env: { ...input.env, [TASK_ID_VARIABLE]: task.id },
            signal,
            secrets: deps.secrets(),
            onEvent: (event) => log.debug({ event: event.type }, "agent"),
          },
          (argv, options) => deps.runtime.exec(container, argv, options),
        ),
    };
  };
}
