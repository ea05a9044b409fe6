// Prepares a CI task's devcontainer and runs the test command in it: devcontainer.json → image →
// the long-lived container for this task's place (the same one agent tasks of that trust use, with
// the same environment, so it stays warm), holding no process of an earlier task → the bridge
// directory emptied (W30) → the command through `sh -c` in the workspace folder, every process it
// starts marked with the task's id so a timeout, a cancel or the next start can find them.
import type Docker from "dockerode";
import type { Logger } from "pino";
import { prepareTaskContainer } from "../containers/task-container.js";
import type { ContainerRuntime, DevContainer } from "../containers/docker.js";
import { execInContainer, TASK_ID_VARIABLE } from "../containers/exec.js";
import type { LineCallback } from "../containers/stream.js";
import type { Task } from "../tasks/task.js";

/** Where every task container sees its bridge directory (RuntimeOptions.mounts puts it there). */
export const BRIDGE_FOLDER = "/devs-bridge";

export interface CiContainerDeps {
  docker: Docker;
  runtime: ContainerRuntime;
  defaultImage: string;
  /** The bridge's path inside the container (default BRIDGE_FOLDER). */
  bridgeFolder?: string;
  log: Logger;
}

export interface CiContainerInput {
  container: string;
  task: Task;
  /** Host folder with the clean checkout, bind-mounted at the spec's workspaceFolder. */
  workspace: string;
  /** DEVS.yml env_vars for this container name (as agent tasks get them). */
  env: Record<string, string>;
  signal: AbortSignal;
}

export interface PreparedCiContainer {
  /** Docker's name for the container. */
  name: string;
  workspaceFolder: string;
  bridgeFolder: string;
  /** The host folder mounted at `bridgeFolder`, where the runner reads reports and artifacts. */
  bridgeHostDir: string;
  /** Devcontainer parts that were not applied, for the check's notes. */
  notes: string[];
  /** Removes everything in the bridge directory, whoever in the container wrote it. */
  emptyBridge(): Promise<void>;
  /** Lets the host read what the run wrote into the bridge (files the container's root made 0600). */
  openBridge(): Promise<void>;
  /** `sh -c command` in the workspace folder; aborting kills what it started and rejects. */
  run(command: string, options: { env: Record<string, string>; onLine: LineCallback; signal: AbortSignal }): Promise<{ exitCode: number; durationMs: number }>;
}

export function ciContainer(deps: CiContainerDeps) {
  const bridgeFolder = deps.bridgeFolder ?? BRIDGE_FOLDER;
  return async (input: CiContainerInput): Promise<PreparedCiContainer> => {
    const { task } = input;
    const log = deps.log.child({ task: task.id, container: input.container });
    const { spec, notes, container } = await prepareTaskContainer(deps, input, log);
    const handle = deps.docker.getContainer(container.id);
    // The container says where its bridge is on the host: one source of truth (RuntimeOptions.mounts).
    const mounts = (await handle.inspect()).Mounts ?? [];
    const bridge = mounts.find((m) => m.Destination === bridgeFolder && m.Type === "bind");
    if (!bridge) throw new Error(`container ${container.name} has no bridge directory mounted at ${bridgeFolder}`);
    return {
      name: container.name,
      workspaceFolder: spec.workspaceFolder,
      bridgeFolder,
      bridgeHostDir: bridge.Source,
      notes: notes.length ? [`Not applied from devcontainer.json: ${notes.join("; ")}.`] : [],
      emptyBridge: () => asRoot(handle, container, EMPTY_BRIDGE, bridgeFolder, "empty the bridge directory"),
      openBridge: () => asRoot(handle, container, OPEN_BRIDGE, bridgeFolder, "open the bridge directory to the host"),
      run: (command, options) =>
        deps.runtime.exec(container, ["/bin/sh", "-c", command], {
          env: { ...options.env, [TASK_ID_VARIABLE]: task.id },
          cwd: spec.workspaceFolder,
          onLine: options.onLine,
          signal: options.signal,
        }),
    };
  };
}

/**
 * As root, because the previous run may have written as root, or as another user than the host
 * process: everything below the bridge goes (dot files too); the folder stays, writable by every
 * user the test command might run as.
 */
const EMPTY_BRIDGE = `set -e; d="$1"; mkdir -p "$d"; rm -rf -- "$d"/..?* "$d"/.[!.]* "$d"/*; chmod 0777 "$d"; [ -z "$(ls -A "$d")" ]`;
const OPEN_BRIDGE = `chmod -R a+rX -- "$1" 2>/dev/null; true`;

async function asRoot(handle: Docker.Container, container: DevContainer, script: string, arg: string, what: string): Promise<void> {
  const errors: string[] = [];
  const result = await execInContainer(handle, ["/bin/sh", "-c", script, "devs-bridge", arg], {
    user: "0",
    onLine: (stream, line) => (stream === "stderr" ? errors.push(line) : undefined),
  });
  if (result.exitCode !== 0) throw new Error(`could not ${what} in ${container.name} (exit ${result.exitCode}): ${errors.slice(-3).join(" ")}`);
}
