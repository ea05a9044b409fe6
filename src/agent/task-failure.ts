// What a failed agent task tells the user, in one line: what happened in their terms and what they
// can do. An error's own message never reaches GitHub: it names host paths, the Docker socket, or
// a programming mistake (`connect ENOENT /var/run/docker.sock`, `Cannot read properties of
// undefined`), which helps no user and tells an attacker about the host. The runner logs the error
// itself under the task's id, and the line says so. Only what comes from the user's own files (a
// lifecycle hook's name and exit code, a devcontainer.json problem) is repeated. Pure.
import { AgentCommandError } from "../policy/agent-command.js";
import { RepositoryUnavailableError } from "../config/errors.js";
import { codeSpan } from "../config/schema.js";
import { DevcontainerError } from "../containers/devcontainer.js";
import { ContainerError, DockerHostError, LifecycleCommandError } from "../containers/docker.js";
import { ExecAbortedError, ExecError } from "../containers/exec.js";
import { ImageBuildError, ImageUnavailableError } from "../containers/image.js";
import { FeatureBuildError } from "../containers/feature-image.js";
import { StreamFormatError } from "../containers/stream.js";
import { GitError } from "../workspace/repo-cache.js";
import { ExportError } from "../publish/export-changes.js";
import { safeText } from "../publish/redact.js";

export type FailureKind =
  | "lifecycle_hook"
  | "devcontainer"
  | "image_build"
  | "image_missing"
  | "docker_unreachable"
  | "container"
  | "git"
  | "github"
  | "repository_unavailable"
  | "network"
  | "agent_command"
  | "agent_start"
  | "not_run"
  | "internal";

export interface TaskFailure {
  kind: FailureKind;
  /** One line for the comment ("❌ Failed: <reason>"). */
  reason: string;
}

/** How every line that hides details ends: where the operator finds them. */
const inTheLog = (taskId: string) => `an operator can find the details in the server log under task ${codeSpan(taskId)}.`;

const retryThenLog = (taskId: string) => `Trigger the task again; if it keeps failing, ${inTheLog(taskId)}`;

/** A Node system error (`connect ENOENT /var/run/docker.sock`): its code and where it went. */
interface SystemError {
  code?: unknown;
  syscall?: unknown;
  address?: unknown;
  port?: unknown;
}

/** Docker's address: a Unix socket (a path) or its usual TCP ports. */
function isDockerConnect(error: SystemError | null | undefined): boolean {
  if (typeof error !== "object" || error === null || error.syscall !== "connect") return false;
  const address = typeof error.address === "string" ? error.address : "";
  return address.startsWith("/") || /docker/i.test(address) || error.port === 2375 || error.port === 2376;
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);

/** An image reference is shown only when it looks like one (it comes from devcontainer.json or the operator). */
const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,199}$/;
/** A feature reference as devcontainer.json may write it: a local folder (./x), an OCI reference or an https URL. */
const FEATURE_REF = /^(\.\.?\/)*[A-Za-z0-9][A-Za-z0-9._/:@+~-]{0,199}$/;

export function describeTaskFailure(error: unknown, taskId: string): TaskFailure {
  if (error instanceof LifecycleCommandError) {
    // The repository's own hook: its name and exit code are the user's to act on.
    const entry = error.entry ? ` (${codeSpan(error.entry)})` : "";
    return {
      kind: "lifecycle_hook",
      reason:
        `the devcontainer's ${codeSpan(error.hook)}${entry} exited with code ${error.exitCode}, so the agent did not run. ` +
        "Fix the command in the devcontainer configuration on the default branch, then trigger the task again.",
    };
  }
  if (error instanceof DevcontainerError) {
    const where = error.line === undefined ? "" : ` (line ${error.line})`;
    const file = /^[\w.][\w./-]*$/.test(error.file) && !error.file.includes("..") ? codeSpan(error.file) : "the devcontainer configuration";
    const problem = safeText(error.problem, { maxLength: 200 }).replace(/[.\s]+$/, "");
    return { kind: "devcontainer", reason: `${file}${where} cannot be used: ${problem}. Fix it on the default branch, then trigger the task again.` };
  }
  if (error instanceof FeatureBuildError) return featureFailure(error, taskId);
  if (error instanceof ImageBuildError) {
    return {
      kind: "image_build",
      reason: `the task's container image could not be built. Check the Dockerfile and devcontainer.json on the default branch; ${inTheLog(taskId)}`,
    };
  }
  if (error instanceof ImageUnavailableError) {
    const image = IMAGE_REF.test(error.ref) ? ` ${codeSpan(error.ref)}` : "";
    return {
      kind: "image_missing",
      reason: `the container image${image} is not on this server and could not be pulled. Check the image named in devcontainer.json; ${inTheLog(taskId)}`,
    };
  }
  if (error instanceof DockerHostError || isDockerConnect(error as SystemError | null | undefined)) {
    return { kind: "docker_unreachable", reason: `the server could not reach its Docker engine, so the task's container could not start; ${inTheLog(taskId)}` };
  }
  if (error instanceof ContainerError || error instanceof ExecError || error instanceof ExecAbortedError || error instanceof StreamFormatError || isDockerApiError(error)) {
    return { kind: "container", reason: `the task's container could not be started or used. ${retryThenLog(taskId)}` };
  }
  if (error instanceof ExportError) {
    // Its message is written for users: the change was too large, or the image has no git.
    return { kind: "git", reason: `the agent's changes could not be taken out of its container: ${error.message}.` };
  }
  if (error instanceof GitError) {
    return { kind: "git", reason: `git on the server could not fetch, check out or publish the repository. ${retryThenLog(taskId)}` };
  }
  if (error instanceof RepositoryUnavailableError) {
    return { kind: "repository_unavailable", reason: `this app can no longer read the repository (was it moved, or the app removed from it?); ${inTheLog(taskId)}` };
  }
  if (error instanceof AgentCommandError) {
    return { kind: "agent_command", reason: `the server's agent command setting is invalid, so no agent could run; ${inTheLog(taskId)}` };
  }
  const status = httpStatus(error);
  if (status !== null) {
    const what = status >= 500 ? "a GitHub error, usually temporary" : status === 401 || status === 403 || status === 404 ? "the app may lack a permission on this repository" : "GitHub refused the request";
    return { kind: "github", reason: `a request to GitHub failed (HTTP ${status}: ${what}). ${retryThenLog(taskId)}` };
  }
  const code = (error as SystemError | null)?.code;
  if (typeof code === "string" && NETWORK_CODES.has(code)) {
    return { kind: "network", reason: `a network connection from the server failed. ${retryThenLog(taskId)}` };
  }
  return serverFailure(taskId);
}

/** A features build: which feature, and what the user can do about it. */
function featureFailure(error: FeatureBuildError, taskId: string): TaskFailure {
  // The feature's name comes from the user's devcontainer.json; the problem text is the CLI's or the host's, so it is not repeated.
  const feature = error.feature && FEATURE_REF.test(error.feature) ? `the devcontainer feature ${codeSpan(error.feature)}` : "a devcontainer feature";
  const local = error.feature?.startsWith("./") ?? false;
  const what =
    error.stage === "install"
      ? `${feature} failed to install (its install script failed), so the container image could not be built. Check the feature and its options in devcontainer.json on the default branch`
      : error.stage === "fetch"
        ? local
          ? `${feature} could not be read: its folder must be inside .devcontainer/, hold a devcontainer-feature.json and no link out of the repository`
          : `${feature} could not be downloaded: this server could not reach its registry, or the reference is wrong`
        : `the container image with the devcontainer's features could not be built`;
  return { kind: "image_build", reason: `${what}; ${inTheLog(taskId)}` };
}

/** An error nobody described, or none at all (the executor threw past its own handling). */
export function serverFailure(taskId: string): TaskFailure {
  return { kind: "internal", reason: `the task stopped because of an error on the server; ${inTheLog(taskId)}` };
}

/** The server gave the task up before it could run it (it could not be queued, or restarts kept cutting it short). */
export function notRunFailure(taskId: string): TaskFailure {
  return { kind: "not_run", reason: `the server could not run the task. ${retryThenLog(taskId)}` };
}

/** The agent's run could not even start (its exec failed): a server-side problem, not the agent's. */
export function agentStartFailure(taskId: string): TaskFailure {
  return { kind: "agent_start", reason: `the agent could not be started in the task's container. ${retryThenLog(taskId)}` };
}

/** dockerode's errors: `(HTTP code 500) server error - …`, with the engine's status. */
function isDockerApiError(error: unknown): boolean {
  const e = error as { statusCode?: unknown; json?: unknown; reason?: unknown } | null;
  return typeof e?.statusCode === "number" && ("json" in (e as object) || "reason" in (e as object));
}

/** Octokit's RequestError (name HttpError), which carries the response status. */
function httpStatus(error: unknown): number | null {
  const e = error as { name?: unknown; status?: unknown } | null;
  return e?.name === "HttpError" && typeof e.status === "number" ? e.status : null;
}
