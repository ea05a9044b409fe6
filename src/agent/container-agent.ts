// Prepares the task's devcontainer and runs the agent in it: devcontainer.json → image →
// the long-lived container for this task's place, holding no process of an earlier task (ensure
// sees to that) → the agent CLI, with every process it starts marked with the task's id.
import type Docker from "dockerode";
import type { Logger } from "pino";
import { prepareTaskContainer, type TaskContainerInput } from "../containers/task-container.js";
import type { ContainerRuntime } from "../containers/docker.js";
import type { FeatureImages } from "../containers/feature-image.js";
import { TASK_ID_VARIABLE } from "../containers/exec.js";
import { exportChanges } from "../publish/export-changes.js";
import type { Identity } from "../workspace/repo-cache.js";
import { runAgent } from "./claude.js";
import type { PreparedContainer } from "./runner.js";
import { taskLogger } from "../logging.js";

export interface ContainerAgentDeps {
  docker: Docker;
  runtime: ContainerRuntime;
  defaultImage: string;
  /** Builds images with devcontainer features. */
  features?: FeatureImages;
  agentCommand: string;
  /** The server's Claude Code in the container (bundled-cli.ts), for the command's `claude`; unset: the image's. */
  claudePath?: string | undefined;
  /** Values to keep out of anything posted (tokens, keys). */
  secrets: () => Iterable<string | null | undefined>;
  /** Who the collected commit says made it (re-committed on the host as the bot anyway). */
  identity: Identity;
  log: Logger;
}

export function containerAgent(deps: ContainerAgentDeps) {
  return async (input: TaskContainerInput): Promise<PreparedContainer> => {
    const { task } = input;
    const log = taskLogger(deps.log, { task: task.id, slot: input.slot });
    const { spec, notes, container } = await prepareTaskContainer(deps, input, log);
    return {
      workspaceFolder: spec.workspaceFolder,
      notes: notes.length ? [`Not applied from devcontainer.json: ${notes.join("; ")}.`] : [],
      runAgent: (prompt, signal, modelEnv) =>
        runAgent(
          {
            prompt,
            cwd: spec.workspaceFolder,
            command: deps.agentCommand,
            ...(deps.claudePath ? { claudePath: deps.claudePath } : {}),
            modelEnv,
            env: { ...input.env, [TASK_ID_VARIABLE]: task.id },
            signal,
            secrets: deps.secrets(),
            onEvent: (event) => log.debug({ event: event.type }, "agent"),
          },
          (argv, options) => deps.runtime.exec(container, argv, options),
        ),
      exportChanges: (baseSha, target, signal) =>
        exportChanges(
          (argv, options) =>
            deps.runtime.exec(container, argv, {
              env: options.env,
              cwd: spec.workspaceFolder,
              onStdoutBytes: options.onStdout,
              onLine: (_stream, line) => options.onStderr(line),
              signal: options.signal,
            }),
          { baseSha, identity: deps.identity, target, signal },
        ),
    };
  };
}
