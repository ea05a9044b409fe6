// describeTaskFailure: each kind of error a task can die of becomes one line a user can act on;
// what the error itself says (host paths, sockets, tokens, a programming mistake) never appears.
import nock from "nock";
import { afterEach, describe, expect, it } from "vitest";
import { AgentCommandError } from "../../src/policy/agent-command.js";
import { RepositoryUnavailableError } from "../../src/config/errors.js";
import { DevcontainerError } from "../../src/containers/devcontainer.js";
import { ContainerError, DockerHostError } from "../../src/containers/docker.js";
import { ExecError } from "../../src/containers/exec.js";
import { ImageBuildError, ImageUnavailableError } from "../../src/containers/image.js";
import { FeatureBuildError } from "../../src/containers/feature-image.js";
import { ExportError } from "../../src/publish/export-changes.js";
import { describeTaskFailure } from "../../src/agent/task-failure.js";
import { TestOctokit } from "../helpers/probot.js";

const ID = "t-42";
const LOG = "an operator can find the details in the server log under task `t-42`.";
const RETRY = `Trigger the task again; if it keeps failing, ${LOG}`;

afterEach(() => nock.cleanAll());

const systemError = (message: string, fields: Record<string, unknown>) => Object.assign(new Error(message), fields);

describe("describeTaskFailure", () => {
  it.each([
    [
      "the agent's change too large to take out of the container; the git output stays in the log",
      new ExportError("the change is larger than 256 MiB", ["fatal: /var/lib/secret-path"]),
      "git",
      "the agent's changes could not be taken out of its container: the change is larger than 256 MiB.",
    ],
    [
      "an image build whose problem names the host's build context",
      new ImageBuildError("devs-img-acme-widgets", "the build context /home/devs/.devs-webhook/workspaces/eamonn/acme/widgets/../.. leads outside", ["Step 3/9"]),
      "image_build",
      `the task's container image could not be built. Check the Dockerfile and devcontainer.json on the default branch; ${LOG}`,
    ],
    [
      "a feature whose install script failed, named; the build's output stays in the log",
      new FeatureBuildError("./marker", "install", "Command failed: docker build -f /home/devs/.devs-webhook/features/x/Dockerfile", ["exit 3"]),
      "image_build",
      `the devcontainer feature \`./marker\` failed to install (its install script failed), so the container image could not be built. Check the feature and its options in devcontainer.json on the default branch; ${LOG}`,
    ],
    [
      "an OCI feature the server cannot download",
      new FeatureBuildError("ghcr.io/devcontainers/features/node:1", "fetch", "getaddrinfo ENOTFOUND ghcr.io"),
      "image_build",
      `the devcontainer feature \`ghcr.io/devcontainers/features/node:1\` could not be downloaded: this server could not reach its registry, or the reference is wrong; ${LOG}`,
    ],
    [
      "a feature name that is not one is not repeated",
      new FeatureBuildError("x`](https://evil.example)", "install", "no"),
      "image_build",
      `a devcontainer feature failed to install (its install script failed), so the container image could not be built. Check the feature and its options in devcontainer.json on the default branch; ${LOG}`,
    ],
    [
      "an image that is not there",
      new ImageUnavailableError("ghcr.io/acme/dev:1", "connect ECONNREFUSED /var/run/docker.sock"),
      "image_missing",
      `the container image \`ghcr.io/acme/dev:1\` is not on this server and could not be pulled. Check the image named in devcontainer.json; ${LOG}`,
    ],
    [
      "an image reference that is not one is not repeated",
      new ImageUnavailableError("x`](https://evil.example)", "no"),
      "image_missing",
      `the container image is not on this server and could not be pulled. Check the image named in devcontainer.json; ${LOG}`,
    ],
    [
      "the repository's devcontainer.json, with its line",
      new DevcontainerError(".devcontainer/devcontainer.json", "invalid JSON (InvalidSymbol).", 3, 7),
      "devcontainer",
      "`.devcontainer/devcontainer.json` (line 3) cannot be used: invalid JSON (InvalidSymbol). Fix it on the default branch, then trigger the task again.",
    ],
    [
      "a devcontainer problem that names a host path",
      new DevcontainerError("/home/devs/ws/.devcontainer.json", "cannot read /home/devs/ws/.devcontainer.json"),
      "devcontainer",
      "the devcontainer configuration cannot be used: cannot read <path>. Fix it on the default branch, then trigger the task again.",
    ],
    ["DOCKER_HOST unusable", new DockerHostError("DOCKER_HOST=ssh://root@10.0.0.5 is not supported"), "docker_unreachable", `the server could not reach its Docker engine, so the task's container could not start; ${LOG}`],
    [
      "Docker's TCP port refusing",
      systemError("connect ECONNREFUSED 10.0.0.5:2375", { code: "ECONNREFUSED", syscall: "connect", address: "10.0.0.5", port: 2375 }),
      "docker_unreachable",
      `the server could not reach its Docker engine, so the task's container could not start; ${LOG}`,
    ],
    ["a container error", new ContainerError("devs-eamonn-acme-widgets", "could not be started: OCI runtime create failed: /proc/self/fd/3"), "container", `the task's container could not be started or used. ${RETRY}`],
    ["an exec error", new ExecError("Docker did not report an exit code for exec 3f2a"), "container", `the task's container could not be started or used. ${RETRY}`],
    [
      "the Docker engine answering with an error (dockerode)",
      Object.assign(new Error("(HTTP code 500) server error - mount denied: /etc/shadow"), { statusCode: 500, reason: "server error", json: { message: "mount denied" } }),
      "container",
      `the task's container could not be started or used. ${RETRY}`,
    ],
    ["the agent command setting", new AgentCommandError("the agent command must contain {prompt} exactly once"), "agent_command", `the server's agent command setting is invalid, so no agent could run; ${LOG}`],
    ["the repository gone", new RepositoryUnavailableError("acme/widgets"), "repository_unavailable", `this app can no longer read the repository (was it moved, or the app removed from it?); ${LOG}`],
    ["a network error", systemError("getaddrinfo ENOTFOUND api.github.com", { code: "ENOTFOUND", syscall: "getaddrinfo" }), "network", `a network connection from the server failed. ${RETRY}`],
    ["a file the server could not open", systemError("ENOENT: no such file or directory, open '/srv/keys/app.pem'", { code: "ENOENT", syscall: "open", path: "/srv/keys/app.pem" }), "internal", `the task stopped because of an error on the server; ${LOG}`],
    ["a RangeError", new RangeError("Invalid array length"), "internal", `the task stopped because of an error on the server; ${LOG}`],
    ["a thrown string", "ghp_abcdefghijklmnopqrstuvwxyz0123456789 at /root/x", "internal", `the task stopped because of an error on the server; ${LOG}`],
    ["nothing at all", undefined, "internal", `the task stopped because of an error on the server; ${LOG}`],
  ])("%s", (_name, error, kind, reason) => {
    expect(describeTaskFailure(error, ID)).toEqual({ kind, reason });
  });

  it.each([
    [403, "the app may lack a permission on this repository"],
    [422, "GitHub refused the request"],
    [502, "a GitHub error, usually temporary"],
  ])("GitHub answering %i (Octokit's RequestError): the status, never the URL or the token", async (status, what) => {
    nock("https://api.github.com").post("/repos/acme/widgets/pulls").reply(status, { message: "Resource not accessible by integration" });
    const error = await new TestOctokit({ auth: "ghs_secret_installation_token" })
      .request("POST /repos/{owner}/{repo}/pulls", { owner: "acme", repo: "widgets", head: "h", base: "main" })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(describeTaskFailure(error, ID)).toEqual({ kind: "github", reason: `a request to GitHub failed (HTTP ${status}: ${what}). ${RETRY}` });
  });
});
