// The container a task runs in, ready: devcontainer.json → image → the long-lived container for
// this task's place (slot, repository, trust), holding no process of an earlier task. The
// workspace is always what is mounted; the container's definition may come from another tree.
// Shared by agent and CI tasks.
import type Docker from "dockerode";
import type { Logger } from "pino";
import type { Task } from "../tasks/task.js";
import { readDevcontainer, type DevcontainerSpec } from "./devcontainer.js";
import type { ContainerRuntime, DevContainer, QuiesceResult } from "./docker.js";
import { readCompose } from "./compose-files.js";
import { resolveImage, type ResolvedImage } from "./image.js";
import type { ComposeRun } from "./sidecars.js";
import { applyFeatureMetadata } from "./feature-metadata.js";
import type { FeatureImages } from "./feature-image.js";
import { placeOf } from "./naming.js";

export interface TaskContainerInput {
  /** The slot whose place in it the task uses. */
  slot: string;
  task: Task;
  workspace: string;
  /**
   * Where devcontainer.json and the build context come from when not the workspace: a fork's
   * task is set up from the base repository's default branch (setup-source.ts). Never mounted.
   */
  setupDir?: string | undefined;
  env: Record<string, string>;
  signal: AbortSignal;
}

/**
 * The step before the host touches a task's workspace: no process of an earlier task is left in
 * the task's container (a running one is killed through the engine). Runners call it before the
 * checkout; the pool calls it after every task; ensure() repeats it.
 */
export async function quiesceTaskContainer(
  runtime: Pick<ContainerRuntime, "quiesce">,
  input: { slot: string; task: Task },
  log: Logger,
): Promise<QuiesceResult> {
  return runtime.quiesce(placeOf(input.slot, input.task), (message) => log.info({ task: input.task.id, slot: input.slot }, message));
}

export async function prepareTaskContainer(
  deps: { docker: Docker; runtime: ContainerRuntime; defaultImage: string; features?: FeatureImages | undefined },
  input: TaskContainerInput,
  log: Logger,
): Promise<{ spec: DevcontainerSpec; notes: string[]; container: DevContainer }> {
  const { task } = input;
  const place = placeOf(input.slot, task);
  const setup = input.setupDir ?? input.workspace;
  const read = await readDevcontainer(setup, {
    repoName: task.repo.name,
    defaultImage: deps.defaultImage,
    localEnv: input.env,
    workspaceDir: input.workspace,
  });
  let { spec } = read;
  const notes = [...read.notes];
  const imageOptions = {
    owner: task.repo.owner,
    repo: task.repo.name,
    signal: input.signal,
    onLine: (line: string) => log.debug({ line }, "image build"),
  };
  let image: ResolvedImage;
  let compose: ComposeRun | undefined;
  if (spec.compose) {
    const planned = await readCompose(setup, spec.compose, { repoName: task.repo.name, localEnv: input.env, workspaceFolder: spec.workspaceFolder });
    notes.push(...planned.notes);
    if (!spec.compose.workspaceFolderGiven && planned.plan.workspaceFolder && planned.plan.workspaceFolder !== "/") spec.workspaceFolder = planned.plan.workspaceFolder;
    const images: Record<string, ResolvedImage> = {};
    for (const service of planned.plan.services) {
      images[service.name] = await resolveImage(deps.docker, { ...spec, image: service.image, build: service.build }, setup, imageOptions);
    }
    compose = { plan: planned.plan, images };
    image = images[planned.plan.service]!;
  } else {
    image = await resolveImage(deps.docker, spec, setup, imageOptions);
  }
  if (spec.features) {
    if (!deps.features) throw new Error("devcontainer features need a FeatureImages");
    // The features go on top of the image or the Dockerfile's build (the task's service's, with Compose).
    const withFeatures = await deps.features.resolve(spec.features, image, setup, { ...imageOptions, onLine: (line) => log.debug({ line }, "features build") });
    image = withFeatures.image;
    if (compose) compose = { ...compose, images: { ...compose.images, [compose.plan.service]: image } };
    log.info({ image: image.ref, origin: image.origin }, image.origin === "built" ? "features image built" : "features image reused");
    const applied = applyFeatureMetadata(spec, withFeatures.metadata);
    spec = applied.spec;
    notes.push(...applied.notes);
  }
  if (spec.volumes?.length && place.trust === "fork") {
    // A fork's container is new for every task; a volume would carry one outsider's files to the next.
    notes.push("`mounts` volumes not applied: a fork's pull request runs in a new container without volumes each time.");
    spec = { ...spec };
    delete spec.volumes;
  }
  const container = await deps.runtime.ensure({
    ...place,
    workspaceDir: input.workspace,
    spec,
    image,
    ...(compose ? { compose } : {}),
    env: input.env,
    signal: input.signal,
    onLine: (stream, line) => log.debug({ stream, line }, "lifecycle hook"),
    onProgress: (message) => log.info(message),
  });
  return { spec, notes, container };
}
