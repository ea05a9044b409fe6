// Prepares a CI task's devcontainer and runs the test command in it: devcontainer.json → image →
// the long-lived container for this task's place (the same one agent tasks of that trust use, with
// the same environment, so it stays warm), holding no process of an earlier task → the bridge
// directory emptied → the command through `sh -c` in the workspace folder, every process it
// starts marked with the task's id so a timeout, a cancel or the next start can find them.
//
// The bridge is a plain directory inside the container, not a host folder: the host never reads
// a path the container wrote. What the run left there comes out through Docker's archive API,
// which resolves paths inside the container, once every process of the task is dead.
import type Docker from "dockerode";
import type { Logger } from "pino";
import { prepareTaskContainer } from "../containers/task-container.js";
import type { FeatureImages } from "../containers/feature-image.js";
import type { ContainerRuntime, DevContainer } from "../containers/docker.js";
import { execInContainer, TASK_ID_VARIABLE } from "../containers/exec.js";
import type { LineCallback } from "../containers/stream.js";
import { placeOf } from "../containers/naming.js";
import type { Task } from "../tasks/task.js";
import { taskLogger } from "../logging.js";

/** Where the test command writes reports and artifacts, inside the container (never mounted). */
export const BRIDGE_FOLDER = "/devs-bridge";

export interface CiContainerDeps {
  docker: Docker;
  runtime: ContainerRuntime;
  defaultImage: string;
  /** Builds images with devcontainer features. */
  features?: FeatureImages;
  /** The bridge's path inside the container (default BRIDGE_FOLDER). */
  bridgeFolder?: string;
  log: Logger;
}

export interface CiContainerInput {
  slot: string;
  task: Task;
  /** Host folder with the clean checkout, bind-mounted at the spec's workspaceFolder. */
  workspace: string;
  /** Host folder devcontainer.json and the build context come from, when not the workspace (a fork's task). */
  setupDir?: string | undefined;
  /** DEVS.yml env_vars for this slot (as agent tasks get them). */
  env: Record<string, string>;
  signal: AbortSignal;
}

export interface PreparedCiContainer {
  /** Docker's name for the container. */
  name: string;
  workspaceFolder: string;
  bridgeFolder: string;
  /** Devcontainer parts that were not applied, for the check's notes. */
  notes: string[];
  /** Removes everything in the bridge directory, whoever in the container wrote it. */
  emptyBridge(): Promise<void>;
  /**
   * Ends every process in the container through the engine (the container stays, stopped), so
   * nothing of the task can change the bridge while it is read.
   */
  stopTaskProcesses(): Promise<void>;
  /**
   * The bridge directory as a tar stream from Docker's archive API. Call it only once the task's
   * processes are dead; rejects with statusCode 404 when the directory is gone.
   */
  bridgeArchive(): Promise<NodeJS.ReadableStream>;
  /** `sh -c command` in the workspace folder; aborting kills what it started and rejects. */
  run(command: string, options: { env: Record<string, string>; onLine: LineCallback; signal: AbortSignal }): Promise<{ exitCode: number; durationMs: number }>;
}

export function ciContainer(deps: CiContainerDeps) {
  const bridgeFolder = deps.bridgeFolder ?? BRIDGE_FOLDER;
  return async (input: CiContainerInput): Promise<PreparedCiContainer> => {
    const { task } = input;
    const log = taskLogger(deps.log, { task: task.id, slot: input.slot });
    const { spec, notes, container } = await prepareTaskContainer(deps, input, log);
    const handle = deps.docker.getContainer(container.id);
    return {
      name: container.name,
      workspaceFolder: spec.workspaceFolder,
      bridgeFolder,
      notes: notes.length ? [`Not applied from devcontainer.json: ${notes.join("; ")}.`] : [],
      emptyBridge: () => asRoot(handle, container, EMPTY_BRIDGE, bridgeFolder, "empty the bridge directory"),
      stopTaskProcesses: async () => {
        await deps.runtime.halt(placeOf(input.slot, task));
      },
      bridgeArchive: () => handle.getArchive({ path: bridgeFolder }),
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
 * As root, because the previous run may have written as root: everything below the bridge goes
 * (dot files too); a link or file put in its place is removed and the directory made again,
 * writable by every user the test command might run as.
 */
const EMPTY_BRIDGE = `set -e; d="$1"; if [ -L "$d" ] || { [ -e "$d" ] && [ ! -d "$d" ]; }; then rm -f -- "$d"; fi; mkdir -p "$d"; rm -rf -- "$d"/..?* "$d"/.[!.]* "$d"/*; chmod 0777 "$d"; [ -z "$(ls -A "$d")" ]`;

async function asRoot(handle: Docker.Container, container: DevContainer, script: string, arg: string, what: string): Promise<void> {
  const errors: string[] = [];
  const result = await execInContainer(handle, ["/bin/sh", "-c", script, "devs-bridge", arg], {
    user: "0",
    onLine: (stream, line) => (stream === "stderr" ? errors.push(line) : undefined),
  });
  if (result.exitCode !== 0) throw new Error(`could not ${what} in ${container.name} (exit ${result.exitCode}): ${errors.slice(-3).join(" ")}`);
}
