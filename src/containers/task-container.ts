// The container a task runs in, ready: devcontainer.json → image → the long-lived container for
// this pool name and repository. Shared by agent and CI tasks.
import type Docker from "dockerode";
import type { Logger } from "pino";
import type { Task } from "../tasks/task.js";
import { readDevcontainer, type DevcontainerSpec } from "./devcontainer.js";
import type { ContainerRuntime, DevContainer } from "./docker.js";
import { resolveImage } from "./image.js";

export interface TaskContainerInput {
  container: string;
  task: Task;
  workspace: string;
  env: Record<string, string>;
  signal: AbortSignal;
}

export async function prepareTaskContainer(
  deps: { docker: Docker; runtime: ContainerRuntime; defaultImage: string },
  input: TaskContainerInput,
  log: Logger,
): Promise<{ spec: DevcontainerSpec; notes: string[]; container: DevContainer }> {
  const { task } = input;
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
  return { spec, notes, container };
}
