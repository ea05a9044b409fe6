// Devcontainer features against a real Docker engine, built by the real devcontainer CLI on the
// classic builder: a local feature's tool and environment reach commands in the container, the
// image is built once per configuration (concurrent tasks share the build), and the attacker's
// moves fail: a feature folder or file that links out of the repository, an option that asks the
// CLI for the server's environment, a feature that asks to be privileged, a bind mount.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerRuntime } from "../../src/containers/docker.js";
import { FeatureBuildError, FeatureImages } from "../../src/containers/feature-image.js";
import { prepareTaskContainer } from "../../src/containers/task-container.js";
import { describeTaskFailure } from "../../src/agent/task-failure.js";
import { BUSYBOX_IMAGE, ensureBusyboxImage, removeImages, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { agentTask, agentTaskFromFork } from "../helpers/tasks.js";

const docker = await requireDocker();
const id = runId();
const pool = `hfeat${id}`;
const owner = `devs-hfeat-${id}`;

/** A local feature that installs `devs-marker`, which prints its option, and adds to PATH. */
const MARKER_FEATURE = {
  "devcontainer-feature.json": JSON.stringify({
    id: "marker",
    version: "1.0.0",
    name: "Marker",
    options: { greeting: { type: "string", default: "hello" } },
    containerEnv: { PATH: "/opt/marker/bin:${PATH}", MARKER_HOME: "/opt/marker" },
    privileged: true,
    capAdd: ["SYS_ADMIN"],
    postCreateCommand: "echo feature-post-create > /tmp/feature-hook",
  }),
  "install.sh": `#!/bin/sh\nset -e\nmkdir -p /opt/marker/bin\nprintf '#!/bin/sh\\necho "marker says %s"\\n' "$GREETING" > /opt/marker/bin/devs-marker\nchmod +x /opt/marker/bin/devs-marker\n`,
};

describe.skipIf(!docker)("devcontainer features on a real Docker engine", () => {
  const d = docker!;
  const runtime = new ContainerRuntime(d, { network: "none", stopTimeoutSeconds: 2 });
  const work = mkdtempSync(join(tmpdir(), "devs-hfeat-work-"));
  const features = new FeatureImages(d, { workDir: work });
  const made: string[] = [work];
  const lines: string[] = [];
  const log = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) });

  beforeAll(async () => {
    await ensureBusyboxImage(d);
  });

  afterAll(async () => {
    for (const dir of made) rmSync(dir, { recursive: true, force: true });
    await removePoolContainers(d, pool);
    await removeImages(d, `devs-img-${owner}-`);
    for (const volume of (await d.listVolumes()).Volumes ?? []) {
      if (volume.Name.includes(pool)) await d.getVolume(volume.Name).remove().catch(() => undefined);
    }
  });

  const repository = (config: object, files: Record<string, string> = {}) => {
    const dir = mkdtempSync(join(tmpdir(), "devs-hfeat-repo-"));
    made.push(dir);
    mkdirSync(join(dir, ".devcontainer"));
    writeFileSync(join(dir, ".devcontainer", "devcontainer.json"), JSON.stringify(config));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), text, { mode: path.endsWith(".sh") ? 0o755 : 0o644 });
    }
    return dir;
  };
  const withMarker = (extra: object = {}, options: object = { greeting: "hi" }) =>
    repository({ image: BUSYBOX_IMAGE, features: { "./marker": options }, ...extra }, prefixed(".devcontainer/marker/", MARKER_FEATURE));

  const prepare = (repo: string, dir: string, trust: "maintainers" | "fork" = "maintainers", setupDir?: string, images = features) =>
    prepareTaskContainer(
      { docker: d, runtime, defaultImage: BUSYBOX_IMAGE, features: images },
      {
        slot: pool,
        task: (trust === "fork" ? agentTaskFromFork : agentTask)({ repo: `${owner}/${repo}` }),
        workspace: dir,
        setupDir,
        env: {},
        signal: new AbortController().signal,
      },
      log,
    );
  const sh = async (container: Awaited<ReturnType<typeof prepare>>["container"], script: string) => {
    const out: string[] = [];
    const result = await runtime.exec(container, ["/bin/sh", "-c", script], { onLine: (_s, line) => out.push(line) });
    return { exitCode: result.exitCode, out };
  };

  it("installs a local feature: its tool is on PATH in the container, its containerEnv is set, its postCreateCommand ran", async () => {
    const { container, notes } = await prepare("marker", withMarker());
    const run = await sh(container, "devs-marker; echo \"home=$MARKER_HOME\"; cat /tmp/feature-hook");
    expect(run).toEqual({ exitCode: 0, out: ["marker says hi", "home=/opt/marker", "feature-post-create"] });
    // What the feature asked for and never gets is said, not granted.
    expect(notes).toContain("feature `./marker` asks for `privileged`, not applied: containers never run privileged.");
    expect(notes).toContain("feature `./marker` asks for `capAdd`, not applied: capabilities are never added.");
    const info = await d.getContainer(container.id).inspect();
    expect(info.HostConfig.Privileged).toBe(false);
    expect(info.HostConfig.CapAdd ?? []).toEqual([]);
  }, 120_000);

  it("installs features on top of the image built from the repository's Dockerfile", async () => {
    const dir = repository(
      { build: { dockerfile: "Dockerfile" }, features: { "./marker": { greeting: "on a build" } } },
      { ".devcontainer/Dockerfile": `FROM ${BUSYBOX_IMAGE}\nRUN echo from-the-dockerfile > /etc/built\n`, ...prefixed(".devcontainer/marker/", MARKER_FEATURE) },
    );
    const { container } = await prepare("build", dir);
    expect((await sh(container, "cat /etc/built; devs-marker")).out).toEqual(["from-the-dockerfile", "marker says on a build"]);
  }, 120_000);

  it("takes a fork's features from the base's default branch: the fork's own feature folder is not used", async () => {
    const baseBranch = withMarker({}, { greeting: "from the base" });
    const forkHead = withMarker({}, { greeting: "from the base" });
    writeFileSync(join(forkHead, ".devcontainer/marker/install.sh"), "#!/bin/sh\nmkdir -p /opt/marker/bin\nprintf '#!/bin/sh\\necho forked\\n' > /opt/marker/bin/devs-marker\nchmod +x /opt/marker/bin/devs-marker\n");
    const { container } = await prepare("forked", forkHead, "fork", baseBranch);
    expect((await sh(container, "devs-marker")).out).toEqual(["marker says from the base"]);
  }, 120_000);

  it("builds a configuration once: the next task and concurrent tasks reuse the image without running the CLI again", async () => {
    const dir = withMarker({}, { greeting: "again" });
    const built: string[] = [];
    const onLine = (line: string) => built.push(line);
    const base = { ref: BUSYBOX_IMAGE, id: (await d.getImage(BUSYBOX_IMAGE).inspect()).Id, origin: "local" as const };
    const set = { entries: [{ ref: "./marker", source: { kind: "local" as const, path: ".devcontainer/marker" }, value: { greeting: "again" } }], installOrder: [] };
    const request = { owner, repo: "cached", onLine };
    const [first, second] = await Promise.all([features.resolve(set, base, dir, request), features.resolve(set, base, dir, request)]);
    expect(first.image.id).toBe(second.image.id);
    expect([first.image.origin, second.image.origin]).toEqual(["built", "built"]);
    expect(built.filter((l) => l.startsWith(`Successfully tagged ${first.image.ref}`))).toHaveLength(1);
    built.length = 0;
    const third = await features.resolve(set, base, dir, request);
    expect(third.image).toEqual({ ref: first.image.ref, id: first.image.id, origin: "build-cached" });
    expect(built).toEqual([]);
    // A changed feature file is a different image.
    writeFileSync(join(dir, ".devcontainer/marker/install.sh"), MARKER_FEATURE["install.sh"] + "echo changed\n", { mode: 0o755 });
    const changed = await features.resolve(set, base, dir, request);
    expect(changed.image.origin).toBe("built");
    expect(changed.image.ref).not.toBe(first.image.ref);
  }, 180_000);

  it("builds two configurations at once, even from two servers, each with its own features (the CLI's content image has one name on the engine)", async () => {
    // Two FeatureImages: two servers on one engine, held apart by the engine-wide lock.
    const otherServer = new FeatureImages(d, { workDir: work });
    const [left, right] = await Promise.all([
      prepare("left", withMarker({}, { greeting: "left" })),
      prepare("right", withMarker({}, { greeting: "right" }), "maintainers", undefined, otherServer),
    ]);
    expect((await sh(left.container, "devs-marker")).out).toEqual(["marker says left"]);
    expect((await sh(right.container, "devs-marker")).out).toEqual(["marker says right"]);
  }, 180_000);

  it("mounts a named volume per place; it keeps its files across tasks of the place, and a fork's place gets none", async () => {
    const config = { image: BUSYBOX_IMAGE, mounts: ["source=cache,target=/cache,type=volume", "source=/etc,target=/host-etc,type=bind"] };
    const first = await prepare("volumes", repository(config));
    expect(first.notes).toContain("mount `source=/etc,target=/host-etc,type=bind` not applied: host folders are never mounted into task containers (only the workspace is).");
    expect((await sh(first.container, "echo kept > /cache/file; ls /host-etc 2>&1 | head -1")).out[0]).toMatch(/No such file/);
    const info = await d.getContainer(first.container.id).inspect();
    expect(info.Mounts.filter((m) => m.Type === "volume").map((m) => [m.Name, m.Destination])).toEqual([[`${first.container.name}-cache`, "/cache"]]);
    expect(info.Mounts.some((m) => m.Type === "bind" && m.Source === "/etc")).toBe(false);
    const again = await prepare("volumes", repository(config));
    expect((await sh(again.container, "cat /cache/file")).out).toEqual(["kept"]);

    const fork = await prepare("volumes", repository(config), "fork");
    expect(fork.notes.some((n) => /volumes not applied: a fork's pull request/.test(n))).toBe(true);
    expect((await d.getContainer(fork.container.id).inspect()).Mounts.filter((m) => m.Type === "volume")).toEqual([]);
  }, 120_000);

  it("refuses a local feature folder that is a link out of the repository", async () => {
    const outside = mkdtempSync(join(tmpdir(), "devs-hfeat-outside-"));
    made.push(outside);
    for (const [name, text] of Object.entries(MARKER_FEATURE)) writeFileSync(join(outside, name), text, { mode: 0o755 });
    const dir = repository({ image: BUSYBOX_IMAGE, features: { "./marker": {} } });
    symlinkSync(outside, join(dir, ".devcontainer", "marker"));
    const error = await prepare("link-folder", dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FeatureBuildError);
    expect(error).toMatchObject({ feature: "./marker", stage: "fetch" });
    expect((error as Error).message).toMatch(/link to a folder outside the repository/);
    expect(describeTaskFailure(error, "t1").reason).toMatch(/^the devcontainer feature `\.\/marker` could not be read: its folder must be inside \.devcontainer\//);
  }, 60_000);

  it("refuses a file of a local feature that links out of the repository (the host's files never reach the build)", async () => {
    const dir = withMarker();
    const secret = join(mkdtempSync(join(tmpdir(), "devs-hfeat-secret-")), "key");
    made.push(join(secret, ".."));
    writeFileSync(secret, "host secret\n");
    symlinkSync(secret, join(dir, ".devcontainer", "marker", "stolen"));
    const error = await prepare("link-file", dir).catch((e: unknown) => e);
    expect(error).toMatchObject({ feature: "./marker", stage: "fetch" });
    expect((error as Error).message).toMatch(/stolen is a link to a file outside the repository/);
  }, 60_000);

  it("never lets the CLI read the server's environment: `${localEnv:…}` in an option stays empty", async () => {
    process.env.DEVS_HFEAT_SECRET = "server-secret-value";
    try {
      const { container } = await prepare("localenv", withMarker({}, { greeting: "[${localEnv:DEVS_HFEAT_SECRET}]" }));
      expect((await sh(container, "devs-marker")).out).toEqual(["marker says []"]);
    } finally {
      delete process.env.DEVS_HFEAT_SECRET;
    }
  }, 120_000);

  it("a failing install script names the feature", async () => {
    const dir = repository(
      { image: BUSYBOX_IMAGE, features: { "./broken": {} } },
      { ".devcontainer/broken/devcontainer-feature.json": JSON.stringify({ id: "broken", version: "1.0.0" }), ".devcontainer/broken/install.sh": "#!/bin/sh\necho cannot >&2\nexit 3\n" },
    );
    const error = await prepare("broken", dir).catch((e: unknown) => e);
    expect(error).toMatchObject({ feature: "./broken", stage: "install" });
    expect(describeTaskFailure(error, "t1").reason).toMatch(/^the devcontainer feature `\.\/broken` failed to install/);
    // The build's output is kept for the operator, without the server's folders.
    const { lastLines } = error as FeatureBuildError;
    expect(lastLines.length).toBeGreaterThan(0);
    expect(JSON.stringify([lastLines, (error as Error).message])).not.toContain(work);
  }, 120_000);

  it("an OCI feature that cannot be reached fails fast, naming the feature", async () => {
    const started = Date.now();
    const error = await prepare("oci", repository({ image: BUSYBOX_IMAGE, features: { "ghcr.io/devcontainers/features/node:1": {} } })).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(error).toMatchObject({ feature: "ghcr.io/devcontainers/features/node:1", stage: "fetch" });
    expect(describeTaskFailure(error, "t1").reason).toMatch(/^the devcontainer feature `ghcr\.io\/devcontainers\/features\/node:1` could not be downloaded/);
  }, 60_000);
});

function prefixed(prefix: string, files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([name, text]) => [`${prefix}${name}`, text]));
}
