// The container layer against a real Docker engine. Containers use --network none; every name
// carries this run's id, and everything made here is removed at the end.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultSpec, readDevcontainer, type DevcontainerSpec } from "../../src/containers/devcontainer.js";
import { ContainerError, ContainerRuntime, LABELS, LifecycleCommandError, containerName, type DevContainer, type EnsureRequest } from "../../src/containers/docker.js";
import { ExecAbortedError } from "../../src/containers/exec.js";
import { ImageBuildError, ImageUnavailableError, resolveImage, type ResolvedImage } from "../../src/containers/image.js";
import type { OutputStream } from "../../src/containers/stream.js";
import { BUSYBOX_IMAGE, ensureBusyboxImage, psLines, removeImages, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";

const docker = await requireDocker();
const id = runId();
const pool = `it${id}`;
const owner = `it-${id}`;

describe.skipIf(!docker)("containers on a real Docker engine", () => {
  const d = docker!;
  const runtime = new ContainerRuntime(d, { network: "none", stopTimeoutSeconds: 2 });
  let busybox: ResolvedImage;
  const foreign: string[] = [];

  beforeAll(async () => {
    await ensureBusyboxImage(d);
    busybox = await resolveImage(d, defaultSpec({ repoName: "x", defaultImage: BUSYBOX_IMAGE }), tmpdir(), { owner, repo: "x" });
  });

  const made: string[] = [];

  afterAll(async () => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
    await removePoolContainers(d, pool);
    for (const name of foreign) await d.getContainer(name).remove({ force: true }).catch(() => undefined);
    await removeImages(d, `devs-img-${owner}-`);
  });

  const workspace = (files: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), "devs-it-ws-"));
    made.push(dir);
    // The workspace's owner differs from the container's users; let them read it, as a clone would.
    chmodSync(dir, 0o755);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  };

  const spec = (overrides: Partial<DevcontainerSpec> = {}): DevcontainerSpec => ({
    ...defaultSpec({ repoName: "widgets", defaultImage: BUSYBOX_IMAGE }),
    ...overrides,
  });

  const ensure = (repo: string, over: Partial<EnsureRequest> = {}) =>
    runtime.ensure({ slot: pool, owner, repo, trust: "maintainers", workspaceDir: over.workspaceDir ?? workspace(), spec: spec(), image: busybox, ...over });

  /** Runs a shell command and returns its stdout lines. */
  const sh = async (c: DevContainer, script: string, options: Parameters<ContainerRuntime["exec"]>[2] = {}) => {
    const out: string[] = [];
    const result = await runtime.exec(c, ["sh", "-c", script], { ...options, onLine: (s, l) => (s === "stdout" ? out.push(l) : undefined) });
    return { out, exitCode: result.exitCode };
  };

  describe("images", () => {
    const dockerfile = (extra = "") => `FROM ${BUSYBOX_IMAGE}\nARG GREETING\nRUN echo "$GREETING" > /greeting\n${extra}`;
    const repoFiles = (df: string) => ({
      ".devcontainer/devcontainer.json": `{ // built from a Dockerfile\n "build": { "dockerfile": "Dockerfile", "context": "..", "args": { "GREETING": "hello" } } }`,
      ".devcontainer/Dockerfile": df,
      "src/app.sh": "echo app\n",
    });

    it("builds from a Dockerfile once, reuses the build, and rebuilds after the Dockerfile changes", async () => {
      const ws = workspace(repoFiles(dockerfile()));
      const { spec: built } = await readDevcontainer(ws, { repoName: "imgs", defaultImage: BUSYBOX_IMAGE });
      const lines: string[] = [];
      const first = await resolveImage(d, built, ws, { owner, repo: "imgs", network: "none", onLine: (l) => lines.push(l) });
      expect(first.origin).toBe("built");
      expect(first.ref).toMatch(new RegExp(`^devs-img-${owner}-imgs:[0-9a-f]{16}$`));
      expect(lines.some((l) => /Step 1\/\d+ : FROM devs-test-busybox/.test(l))).toBe(true);

      const second = await resolveImage(d, built, ws, { owner, repo: "imgs", network: "none", onLine: (l) => lines.push(`again: ${l}`) });
      expect(second).toEqual({ ...first, origin: "build-cached" });
      expect(lines.some((l) => l.startsWith("again:"))).toBe(false);

      writeFileSync(join(ws, ".devcontainer/Dockerfile"), dockerfile("ENV CHANGED=1\n"));
      const third = await resolveImage(d, built, ws, { owner, repo: "imgs", network: "none" });
      expect(third.origin).toBe("built");
      expect(third.ref).not.toBe(first.ref);
      expect(third.id).not.toBe(first.id);

      const c = await ensure("imgs", { workspaceDir: ws, spec: built, image: third });
      expect((await sh(c, "cat /greeting; echo $CHANGED; cat app.sh 2>/dev/null || cat src/app.sh")).out).toEqual(["hello", "1", "echo app"]);
    });

    it("surfaces a failed build with its last lines", async () => {
      const ws = workspace(repoFiles(`FROM ${BUSYBOX_IMAGE}\nRUN echo about to fail && exit 3\n`));
      const { spec: broken } = await readDevcontainer(ws, { repoName: "broken", defaultImage: BUSYBOX_IMAGE });
      const error = await resolveImage(d, broken, ws, { owner, repo: "broken", network: "none" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageBuildError);
      expect((error as ImageBuildError).problem).toMatch(/returned a non-zero code: 3/);
      expect((error as ImageBuildError).lastLines).toContain("about to fail");
    });

    it("uses a local image as it is, and fails clearly when an image is absent and cannot be pulled", async () => {
      expect(busybox.origin).toBe("local");
      // A registry on a closed loopback port: the pull fails without leaving the machine.
      const absent = spec({ image: `127.0.0.1:9/devs-absent-${id}:latest` });
      const error = await resolveImage(d, absent, tmpdir(), { owner, repo: "absent" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImageUnavailableError);
      expect((error as Error).message).toMatch(/is not present on this Docker host and could not be pulled: .*connection refused/);
    });
  });

  describe("lifecycle", () => {
    it("creates a labelled, unprivileged container without a network, then gives the next task the same one, restarted", async () => {
      const ws = workspace({ "README.md": "hi\n" });
      const first = await ensure("Warm-Repo", { workspaceDir: ws });
      expect(first).toMatchObject({ name: containerName({ slot: pool, owner, repo: "Warm-Repo", trust: "maintainers" }), action: "created", recreatedBecause: null, repo: `${owner}/warm-repo` });
      expect(first.name).toBe(first.name.toLowerCase());

      const info = await d.getContainer(first.id).inspect();
      expect(info.HostConfig.NetworkMode).toBe("none");
      expect(info.HostConfig.Privileged).toBe(false);
      expect(info.Config.Labels).toMatchObject({ [LABELS.managed]: "true", [LABELS.slot]: pool, [LABELS.repo]: `${owner}/warm-repo`, [LABELS.imageId]: busybox.id });
      expect(info.Config.Labels[LABELS.configHash]).toMatch(/^[0-9a-f]{16}$/);
      expect(info.Mounts).toEqual([expect.objectContaining({ Type: "bind", Source: ws, Destination: "/workspaces/widgets" })]);

      const second = await ensure("Warm-Repo", { workspaceDir: ws });
      expect(second).toMatchObject({ id: first.id, action: "started", recreatedBecause: null });
      expect((await runtime.list({ slot: pool })).filter((c) => c.repo === `${owner}/warm-repo`)).toHaveLength(1);
      expect((await sh(second, "cat README.md")).out).toEqual(["hi"]);
    });

    it("runs postCreate once per container and postStart on every start, and every task gets a start", async () => {
      const hooks = spec({
        remoteUser: "dev",
        postCreateCommand: { kind: "shell", command: "echo created >> /tmp/created.log; echo post-create-output" },
        postStartCommand: { kind: "parallel", commands: { a: { kind: "shell", command: "echo start >> /tmp/started.log" }, b: { kind: "argv", argv: ["true"] } } },
      });
      const ws = workspace();
      const output: string[] = [];
      const request = { workspaceDir: ws, spec: hooks, onLine: (_s: OutputStream, l: string) => output.push(l) };
      const counts = async (c: DevContainer) => (await sh(c, "wc -l < /tmp/created.log; wc -l < /tmp/started.log")).out.map((n) => Number(n.trim()));

      const c1 = await ensure("hooks", request);
      expect(output).toContain("post-create-output");
      expect(await counts(c1)).toEqual([1, 1]);

      // The next task: the same container, restarted, so postStart runs again and postCreate not.
      const c2 = await ensure("hooks", request);
      expect(c2).toMatchObject({ id: c1.id, action: "started" });
      expect(await counts(c2)).toEqual([1, 2]);

      expect(await runtime.stop(c1.name)).toBe(true);
      expect(await runtime.isRunning(c1.name)).toBe(false);
      const c3 = await ensure("hooks", request);
      expect(c3).toMatchObject({ id: c1.id, action: "started" });
      expect(await counts(c3)).toEqual([1, 3]);

      // A new process (empty memory) finds postCreate's mark in the container: it does not re-run.
      const restarted = new ContainerRuntime(d, { network: "none", stopTimeoutSeconds: 2 });
      const c4 = await restarted.ensure({ slot: pool, owner, repo: "hooks", trust: "maintainers", image: busybox, ...request });
      expect(c4).toMatchObject({ id: c1.id, action: "started" });
      expect(await counts(c4)).toEqual([1, 4]);

      // Restarted behind the app's back: postStart runs once, for the start ensure makes.
      await d.getContainer(c1.id).restart({ t: 1 });
      const c5 = await ensure("hooks", request);
      expect(c5.action).toBe("started");
      expect(await counts(c5)).toEqual([1, 5]);
    });

    it("reports a failing lifecycle command with its exit code and last lines, and retries it next time", async () => {
      // Fails the first time only.
      const flaky = spec({ postCreateCommand: { kind: "shell", command: "echo setting up; [ -e /tmp/tried ] && exit 0; touch /tmp/tried; echo broken >&2; exit 4" } });
      const ws = workspace();
      const error = await ensure("failing-hook", { spec: flaky, workspaceDir: ws }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LifecycleCommandError);
      expect(error).toMatchObject({ hook: "postCreateCommand", exitCode: 4 });
      expect((error as LifecycleCommandError).lastLines).toEqual(expect.arrayContaining(["setting up", "broken"]));

      const output: string[] = [];
      const retried = await ensure("failing-hook", { spec: flaky, workspaceDir: ws, onLine: (_s, l) => output.push(l) });
      expect(retried.action).toBe("started");
      expect(output).toEqual(["setting up"]);
    });

    it("recreates the container when its devcontainer config, environment or image changes", async () => {
      const ws = workspace();
      const base = await ensure("recreate", { workspaceDir: ws, spec: spec({ containerEnv: { V: "1" } }) });

      const changedSpec = await ensure("recreate", { workspaceDir: ws, spec: spec({ containerEnv: { V: "2" } }) });
      expect(changedSpec).toMatchObject({ action: "created", recreatedBecause: "the devcontainer configuration changed" });
      expect(changedSpec.id).not.toBe(base.id);
      await expect(d.getContainer(base.id).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect((await sh(changedSpec, "echo $V")).out).toEqual(["2"]);

      const changedEnv = await ensure("recreate", { workspaceDir: ws, spec: spec({ containerEnv: { V: "2" } }), env: { FROM_DEVS_YML: "x" } });
      expect(changedEnv.recreatedBecause).toBe("its environment changed");

      const retagged = `devs-img-${owner}-retag:v1`;
      await d.getImage(BUSYBOX_IMAGE).tag({ repo: `devs-img-${owner}-retag`, tag: "v1" });
      const otherImage = await d.getImage(retagged).inspect();
      // Same content under another tag is the same image: no recreation.
      expect(otherImage.Id).toBe(busybox.id);
      const sameImage = await ensure("recreate", {
        workspaceDir: ws,
        spec: spec({ containerEnv: { V: "2" } }),
        env: { FROM_DEVS_YML: "x" },
        image: { ref: retagged, id: otherImage.Id, origin: "local" },
      });
      expect(sameImage).toMatchObject({ id: changedEnv.id, action: "started", recreatedBecause: null });

      const built = await resolveImage(
        d,
        { ...spec(), image: null, build: { dockerfile: "Dockerfile", context: ".", args: {}, target: null } },
        workspace({ Dockerfile: `FROM ${BUSYBOX_IMAGE}\nENV FROM_IMAGE=yes\n` }),
        { owner, repo: "recreate", network: "none" },
      );
      const changedImage = await ensure("recreate", { workspaceDir: ws, spec: spec({ containerEnv: { V: "2" } }), env: { FROM_DEVS_YML: "x" }, image: built });
      expect(changedImage.recreatedBecause).toBe("its image changed");
      expect((await sh(changedImage, "echo $FROM_IMAGE $FROM_DEVS_YML")).out).toEqual(["yes x"]);
    });

    it("gives owner-a/b and owner/a-b different containers, and steps aside from a container it did not make", async () => {
      const a = await runtime.ensure({ slot: pool, owner: `${owner}-a`, repo: "b", trust: "maintainers", workspaceDir: workspace(), spec: spec(), image: busybox });
      const b = await runtime.ensure({ slot: pool, owner, repo: "a-b", trust: "maintainers", workspaceDir: workspace(), spec: spec(), image: busybox });
      expect(a.name).toBe(containerName({ slot: pool, owner: `${owner}-a`, repo: "b", trust: "maintainers" }));
      expect(b.name).toBe(containerName({ slot: pool, owner, repo: "a-b", trust: "maintainers" }));
      expect(b.name).not.toBe(a.name);
      expect(b.id).not.toBe(a.id);

      const squatted = { slot: pool, owner, repo: "squat", trust: "maintainers" as const };
      foreign.push(containerName(squatted));
      await d.createContainer({ name: containerName(squatted), Image: BUSYBOX_IMAGE, Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
      const c = await runtime.ensure({ ...squatted, workspaceDir: workspace(), spec: spec(), image: busybox });
      expect(c.name).toMatch(new RegExp(`^${containerName(squatted)}-[0-9a-f]{8}$`));
    });

    it("lists, stops and removes only containers it manages", async () => {
      const c = await ensure("manage");
      const listed = (await runtime.list({ slot: pool })).find((x) => x.name === c.name);
      expect(listed).toMatchObject({ id: c.id, slot: pool, repo: `${owner}/manage`, running: true, imageId: busybox.id });

      const name = `devs-${pool}-foreign`;
      foreign.push(name);
      await d.createContainer({ name, Image: BUSYBOX_IMAGE, Cmd: ["true"], HostConfig: { NetworkMode: "none" } });
      await expect(runtime.stop(name)).rejects.toThrow(ContainerError);
      await expect(runtime.remove(name)).rejects.toThrow(/was not created by devs-webhook/);

      expect(await runtime.stop(c.name)).toBe(true);
      expect(await runtime.stop(c.name)).toBe(false);
      expect(await runtime.remove(c.name)).toBe(true);
      expect(await runtime.remove(c.name)).toBe(false);
      expect(await runtime.isRunning(c.name)).toBe(false);
    });
  });

  describe("exec", () => {
    let c: DevContainer;
    beforeAll(async () => {
      c = await ensure("exec", {
        workspaceDir: workspace({ "data.txt": "from the workspace\n" }),
        spec: spec({
          remoteUser: "dev",
          containerEnv: { LAYER_A: "container", LAYER_B: "container", LAYER_C: "container" },
          remoteEnv: { LAYER_B: "remote", LAYER_C: "remote", WITH_PATH: "${containerEnv:PATH}:/extra" },
        }),
        env: { FROM_SETTINGS: "devs-yml" },
      });
    });

    it("streams lines in order and returns the exit code", async () => {
      const got: Array<[OutputStream, string]> = [];
      const script = "i=1; while [ $i -le 500 ]; do echo line$i; i=$((i+1)); done; echo oops >&2; printf 'no newline'; exit 7";
      const result = await runtime.exec(c, ["sh", "-c", script], { onLine: (s, l) => got.push([s, l]) });
      expect(result.exitCode).toBe(7);
      const stdout = got.filter(([s]) => s === "stdout").map(([, l]) => l);
      expect(stdout).toEqual([...Array.from({ length: 500 }, (_, i) => `line${i + 1}`), "no newline"]);
      expect(got.filter(([s]) => s === "stderr")).toEqual([["stderr", "oops"]]);
    });

    it("delivers lines as they are printed, not at the end", async () => {
      const seen: number[] = [];
      const started = Date.now();
      await runtime.exec(c, ["sh", "-c", "echo first; sleep 1; echo second"], { onLine: () => seen.push(Date.now() - started) });
      expect(seen).toHaveLength(2);
      expect(seen[1]! - seen[0]!).toBeGreaterThanOrEqual(800);
    });

    it("returns exit codes of commands that fail to start", async () => {
      expect((await runtime.exec(c, ["no-such-command"])).exitCode).toBe(127);
      expect((await runtime.exec(c, ["false"])).exitCode).toBe(1);
    });

    it("layers the environment: container env, then remoteEnv, then the caller's, and nothing from the server", async () => {
      process.env.DEVS_IT_SERVER_SECRET = "must-not-leak";
      try {
        const { out } = await sh(c, "echo A=$LAYER_A B=$LAYER_B C=$LAYER_C S=$FROM_SETTINGS; echo $WITH_PATH; env | grep -c DEVS_IT_SERVER_SECRET || true", {
          env: { LAYER_C: "caller" },
        });
        expect(out).toEqual(["A=container B=remote C=caller S=devs-yml", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin:/extra", "0"]);
      } finally {
        delete process.env.DEVS_IT_SERVER_SECRET;
      }
    });

    it("runs as remoteUser in the workspace folder by default, and as asked otherwise", async () => {
      expect((await sh(c, "id -u; pwd; cat data.txt")).out).toEqual(["1000", "/workspaces/widgets", "from the workspace"]);
      expect((await sh(c, "id -u; pwd", { user: "0", cwd: "/tmp" })).out).toEqual(["0", "/tmp"]);
    });

    it("passes standard input", async () => {
      const out: string[] = [];
      const result = await runtime.exec(c, ["sh", "-c", "wc -l; cat /dev/null"], { stdin: "a\nb\nc\n", onLine: (_s, l) => out.push(l.trim()) });
      expect(result.exitCode).toBe(0);
      expect(out).toEqual(["3"]);
    });

    /** `ps` lines of processes that are a `sleep 60x` themselves (not shells that mention one). */
    const sleepers = async () => (await psLines(d, c.id)).filter((l) => /^\s*\d+\s+\S+\s+sleep 60\d$/.test(l));

    it("kills what a command started inside the container when aborted", async () => {
      const controller = new AbortController();
      const started = new Promise<void>((resolve) => {
        void runtime
          .exec(c, ["sh", "-c", "setsid sleep 601 & sleep 602 & echo ready; sleep 600"], {
            signal: controller.signal,
            onLine: (_s, l) => (l === "ready" ? resolve() : undefined),
          })
          .catch((e: unknown) => aborted.push(e));
      });
      const aborted: unknown[] = [];
      await started;
      await new Promise((r) => setTimeout(r, 200));
      expect(await sleepers()).toHaveLength(3);

      const at = Date.now();
      controller.abort(new Error("cancelled by test"));
      await expect.poll(() => aborted.length, { timeout: 5_000, interval: 20 }).toBe(1);
      expect(Date.now() - at).toBeLessThan(3_000);
      expect(aborted[0]).toBeInstanceOf(ExecAbortedError);
      expect((aborted[0] as ExecAbortedError).killed).toBeGreaterThanOrEqual(3);
      expect((aborted[0] as Error).message).toMatch(/cancelled by test/);
      expect(await sleepers()).toEqual([]);
    });

    it("kills a `sleep 600` within a few seconds of a timeout", async () => {
      const at = Date.now();
      const error = await runtime.exec(c, ["sleep", "600"], { signal: AbortSignal.timeout(500) }).catch((e: unknown) => e);
      const took = Date.now() - at;
      expect(error).toBeInstanceOf(ExecAbortedError);
      expect((error as Error).message).toMatch(/timed out/);
      expect(took).toBeGreaterThanOrEqual(500);
      expect(took).toBeLessThan(3_500);
      expect(await sleepers()).toEqual([]);
    });

    it("does not start a command whose signal is already aborted", async () => {
      const error = await runtime.exec(c, ["sh", "-c", "echo ran > /tmp/should-not-exist"], { signal: AbortSignal.abort("too late") }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExecAbortedError);
      expect((await sh(c, "ls /tmp/should-not-exist 2>/dev/null | wc -l")).out).toEqual(["0"]);
    });
  });
});
