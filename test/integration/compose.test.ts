// Compose devcontainers on a real engine: the task runs in the named service, and the file's other
// services run beside it, reachable by name, on a network of the place's own; the task's container
// also stays on CONTAINER_NETWORK (here a bridge network this file makes). A maintainers' place
// keeps its services warm between tasks; a fork's loses them, their network and their volumes
// with its container. A file that asks for the server is refused before anything starts.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerRuntime, containerName, type DevContainer } from "../../src/containers/docker.js";
import { placeOf } from "../../src/containers/naming.js";
import { Sidecars } from "../../src/containers/sidecars.js";
import { prepareTaskContainer, quiesceTaskContainer } from "../../src/containers/task-container.js";
import { BUSYBOX_IMAGE, ensureBusyboxImage, removeImages, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { agentTask, agentTaskFromFork } from "../helpers/tasks.js";

const docker = await requireDocker();
const id = runId();
const slot = `hcomp1${id}`;
const network = `devs-hcomp-net-${id}`;
const log = pino({ level: "silent" });

// A sidecar serving one page with busybox httpd, and a task's service that only waits.
const WEB = `["/bin/sh", "-c", "mkdir -p /www && echo \\"hello from $$NAME\\" > /www/index.html && exec httpd -f -p 8080 -h /www"]`;

describe.skipIf(!docker)("Compose devcontainers on a real Docker engine", () => {
  const d = docker!;
  const runtime = new ContainerRuntime(d, { network, stopTimeoutSeconds: 1 });
  const deps = { docker: d, runtime, defaultImage: BUSYBOX_IMAGE };
  const dirs: string[] = [];

  beforeAll(async () => {
    await ensureBusyboxImage(d);
    await d.createNetwork({ Name: network, Driver: "bridge" });
  });

  afterAll(async () => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    const leftovers = await d.listContainers({ all: true, filters: { label: [`devs.pool=${slot}`] } });
    await Promise.all(leftovers.map((c) => d.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    await removePoolContainers(d, slot);
    for (const n of await d.listNetworks({ filters: { label: [`devs.pool=${slot}`] } })) await d.getNetwork(n.Id).remove().catch(() => undefined);
    for (const v of (await d.listVolumes({ filters: { label: [`devs.pool=${slot}`] } })).Volumes ?? []) await d.getVolume(v.Name).remove().catch(() => undefined);
    await d.getNetwork(network).remove().catch(() => undefined);
    await removeImages(d, `devs-img-hcomp-${id}-`);
  });

  const workspace = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), "devs-hcomp-ws-"));
    dirs.push(dir);
    chmodSync(dir, 0o755);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  };

  const sh = async (c: DevContainer, script: string) => {
    const out: string[] = [];
    const result = await runtime.exec(c, ["/bin/sh", "-c", script], { onLine: (stream, line) => stream === "stdout" && out.push(line) });
    return { exitCode: result.exitCode, out };
  };

  /** A command run in a service's container (not the task's), its output. */
  const inService = async (containerId: string, script: string) => {
    const exec = await d.getContainer(containerId).exec({ Cmd: ["/bin/sh", "-c", script], AttachStdout: true, AttachStderr: true, Tty: true });
    const stream = await exec.start({ Tty: true });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString().replace(/\r/g, "");
  };

  const compose = (yaml: string, devcontainer = `{"dockerComposeFile":"docker-compose.yml","service":"app","workspaceFolder":"/workspaces/widgets"}`) =>
    workspace({ ".devcontainer/devcontainer.json": devcontainer, ".devcontainer/docker-compose.yml": yaml, "README": "the workspace\n" });

  const prepare = (task: ReturnType<typeof agentTask>, ws: string) =>
    prepareTaskContainer(deps, { slot, task, workspace: ws, env: {}, signal: new AbortController().signal }, log);

  it("runs the task in the named service and reaches the other service by its name", async () => {
    const task = agentTask({ repo: `hcomp-${id}/widgets` });
    const ws = compose(`
services:
  app:
    image: ${BUSYBOX_IMAGE}
    command: sleep 3600
    environment: { FROM_COMPOSE: "yes" }
    volumes: ["..:/workspaces/widgets:cached", "cache:/cache"]
    depends_on: [web]
  web:
    image: ${BUSYBOX_IMAGE}
    command: ${WEB}
    environment: { NAME: web }
volumes: { cache: }
`);
    const { container, notes } = await prepare(task, ws);
    expect(notes.some((n) => /the server mounts the workspace itself/.test(n))).toBe(true);
    const seen = await sh(container, `cat README; echo "$FROM_COMPOSE"; wget -qO- http://web:8080/; touch /cache/kept`);
    expect(seen).toEqual({ exitCode: 0, out: ["the workspace", "yes", "hello from web"] });
    // The task's container is on CONTAINER_NETWORK too, where the model proxy listens.
    const info = await d.getContainer(container.id).inspect();
    expect(Object.keys(info.NetworkSettings.Networks).sort()).toEqual([network, Sidecars.networkName(container.name)].sort());
    const web = await d.getContainer(Sidecars.sidecarName(container.name, "web")).inspect();
    expect(web.HostConfig.Privileged).toBe(false);
    expect(web.HostConfig.PortBindings ?? {}).toEqual({});
    expect(web.Mounts.filter((m) => m.Type === "bind")).toEqual([]);
    expect(Object.keys(web.NetworkSettings.Networks)).toEqual([Sidecars.networkName(container.name)]);

    // The next task of this maintainers' place: the service is the same, still warm; the volume kept its file.
    await quiesceTaskContainer(runtime, { slot, task }, log);
    // Between tasks the place counts as running while its services do, so the pool's idle stop ends them.
    expect((await runtime.list({ slot })).filter((c) => c.repo === `hcomp-${id}/widgets`)).toMatchObject([{ name: container.name, running: true }]);
    const t0 = performance.now();
    const again = await prepare(task, ws);
    console.info(`warm Compose ensure: ${Math.round(performance.now() - t0)} ms`);
    expect((await d.getContainer(Sidecars.sidecarName(container.name, "web")).inspect()).Id).toBe(web.Id);
    expect(await sh(again.container, "ls /cache; wget -qO- http://web:8080/")).toEqual({ exitCode: 0, out: ["kept", "hello from web"] });

    // Stopping the place stops its services; removing it leaves nothing of them.
    expect(await runtime.stop(container.name)).toBe(true);
    expect((await d.getContainer(web.Id).inspect()).State.Running).toBe(false);
    expect(await runtime.remove(container.name)).toBe(true);
    expect(await d.listContainers({ all: true, filters: { label: [`devs.sidecar-of=${container.name}`] } })).toEqual([]);
    expect((await d.listVolumes({ filters: { label: [`devs.sidecar-of=${container.name}`] } })).Volumes ?? []).toEqual([]);
    await expect(d.getNetwork(Sidecars.networkName(container.name)).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  it("runs the task's service in another service's network (network_mode: service:db), which joins CONTAINER_NETWORK for it", async () => {
    const task = agentTask({ repo: `hcomp-${id}/netns` });
    const ws = compose(`
services:
  app:
    image: ${BUSYBOX_IMAGE}
    command: sleep 3600
    network_mode: service:db
  db:
    build: { context: ., dockerfile: db.Dockerfile, args: { GREETING: "built db" } }
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
`);
    // The service's image is built from the repository's Dockerfile, as a devcontainer's is.
    writeFileSync(join(ws, ".devcontainer/db.Dockerfile"), `FROM ${BUSYBOX_IMAGE}\nARG GREETING\nCOPY index.html /www/index.html\nENV GREETING=$GREETING\n`);
    writeFileSync(join(ws, ".devcontainer/index.html"), "hello from the built db\n");
    const { container } = await prepare(task, ws);
    expect(await sh(container, "wget -qO- http://localhost:8080/")).toEqual({ exitCode: 0, out: ["hello from the built db"] });
    const db = await d.getContainer(Sidecars.sidecarName(container.name, "db")).inspect();
    expect(db.Config.Env).toContain("GREETING=built db");
    expect(Object.keys(db.NetworkSettings.Networks).sort()).toEqual([network, Sidecars.networkName(container.name)].sort());
    await runtime.remove(container.name);
  });

  it("gives a fork's task fresh services: the old ones, their network and volumes go with its container", async () => {
    const task = agentTaskFromFork({ repo: `hcomp-${id}/forked` });
    const ws = compose(`
services:
  app: { image: ${BUSYBOX_IMAGE}, command: sleep 3600, depends_on: { web: { condition: service_healthy } } }
  web:
    image: ${BUSYBOX_IMAGE}
    command: ${WEB}
    environment: { NAME: web }
    volumes: ["state:/state"]
    healthcheck: { test: "wget -qO- http://localhost:8080/", interval: 200ms, retries: 20 }
volumes: { state: }
`);
    const { container } = await prepare(task, ws);
    const first = await d.getContainer(Sidecars.sidecarName(container.name, "web")).inspect();
    // The task's container started only once the service it waits for was healthy.
    expect((first.State as { Health?: { Status?: string } }).Health?.Status).toBe("healthy");
    expect(await inService(first.Id, "touch /state/planted && ls /state")).toBe("planted\n");
    await quiesceTaskContainer(runtime, { slot, task }, log);
    await expect(d.getContainer(first.Id).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect((await d.listVolumes({ filters: { label: [`devs.sidecar-of=${container.name}`] } })).Volumes ?? []).toEqual([]);

    const next = await prepare(task, ws);
    const web = await d.getContainer(Sidecars.sidecarName(next.container.name, "web")).inspect();
    expect(web.Id).not.toBe(first.Id);
    const listing = await sh(next.container, "wget -qO- http://web:8080/");
    expect(listing).toEqual({ exitCode: 0, out: ["hello from web"] });
    expect(await inService(web.Id, "ls -A /state && echo end")).toBe("end\n");
    await runtime.remove(next.container.name);
  });

  describe("a Compose file that asks for the server is refused, and nothing starts", () => {
    const attacks: Array<[string, string, RegExp]> = [
      ["a bind mount of /", `volumes: ["/:/host"]`, /refused: a bind mount of a folder of the server/],
      ["the Docker socket", `volumes: ["/var/run/docker.sock:/var/run/docker.sock"]`, /refused/],
      ["privileged", `privileged: true`, /never run privileged/],
      ["the host's network", `network_mode: host`, /network_mode: host` refused/],
      ["an env_file on the server", `env_file: /etc/passwd`, /env_file` refused/],
    ];
    for (const [name, line, pattern] of attacks) {
      it(name, async () => {
        const task = agentTask({ repo: `hcomp-${id}/attack` });
        const ws = compose(`services:\n  app:\n    image: ${BUSYBOX_IMAGE}\n    command: sleep 3600\n    depends_on: [evil]\n  evil:\n    image: ${BUSYBOX_IMAGE}\n    ${line}\n`);
        await expect(prepare(task, ws)).rejects.toThrow(pattern);
        const name = containerName(placeOf(slot, task));
        expect(await d.listContainers({ all: true, filters: { name: [name] } })).toEqual([]);
        await expect(d.getNetwork(Sidecars.networkName(name)).inspect()).rejects.toMatchObject({ statusCode: 404 });
      });
    }

    it("a service that never becomes healthy fails the task before the task's container starts", async () => {
      const task = agentTask({ repo: `hcomp-${id}/sick` });
      const ws = compose(`services:\n  app: { image: ${BUSYBOX_IMAGE}, command: sleep 3600, depends_on: { db: { condition: service_healthy } } }\n  db: { image: ${BUSYBOX_IMAGE}, command: sleep 3600, healthcheck: { test: "exit 1", interval: 100ms, retries: 2 } }\n`);
      await expect(prepare(task, ws)).rejects.toThrow(/service container .*-svc-db is unhealthy/);
      expect(await d.listContainers({ all: true, filters: { name: [`^/${containerName(placeOf(slot, task))}$`] } })).toEqual([]);
      // Removing the place removes the services that did start.
      await runtime.remove(containerName(placeOf(slot, task)));
      expect(await d.listContainers({ all: true, filters: { label: [`devs.repo=hcomp-${id}/sick`] } })).toEqual([]);
    });

    it("any Compose file, when CONTAINER_NETWORK=host (a container there can join no other network)", async () => {
      const onHost = new ContainerRuntime(d, { network: "host", stopTimeoutSeconds: 1 });
      const task = agentTask({ repo: `hcomp-${id}/onhost` });
      const ws = compose(`services:\n  app: { image: ${BUSYBOX_IMAGE}, command: sleep 3600, depends_on: [web] }\n  web: { image: ${BUSYBOX_IMAGE}, command: ${WEB} }\n`);
      await expect(prepareTaskContainer({ ...deps, runtime: onHost }, { slot, task, workspace: ws, env: {}, signal: new AbortController().signal }, log)).rejects.toThrow(/CONTAINER_NETWORK=host/);
      expect(await d.listContainers({ all: true, filters: { label: [`devs.repo=hcomp-${id}/onhost`] } })).toEqual([]);
    });

    it("a Compose file path out of the repository", async () => {
      const task = agentTask({ repo: `hcomp-${id}/attack` });
      const ws = compose("services: {}\n", `{"dockerComposeFile":"../../../../etc/compose.yml","service":"app"}`);
      await expect(prepare(task, ws)).rejects.toThrow(/leads outside the repository/);
      expect(await d.listContainers({ all: true, filters: { name: [containerName(placeOf(slot, task))] } })).toEqual([]);
    });
  });
});
