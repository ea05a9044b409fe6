// The Compose subset: corpus-like files planned into services, files merged as Compose merges
// them, and every key that would hand the server to a repository refused with its file and key.
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ComposeError, parseDuration, planCompose, splitCommand, type ComposeFileText } from "../../src/containers/compose.js";
import { readCompose } from "../../src/containers/compose-files.js";
import { DevcontainerError, parseDevcontainer, type ComposeRef } from "../../src/containers/devcontainer.js";

const REF: ComposeRef = { files: [".devcontainer/docker-compose.yml"], service: "app", runServices: null, workspaceFolderGiven: true };
const OPTIONS = { repoName: "widgets", workspaceFolder: "/workspaces/widgets" };

function plan(yaml: string | string[], ref: Partial<ComposeRef> = {}, localEnv: Record<string, string> = {}) {
  const texts: ComposeFileText[] = (Array.isArray(yaml) ? yaml : [yaml]).map((text, i) => ({ file: i === 0 ? ".devcontainer/docker-compose.yml" : `.devcontainer/docker-compose.${i}.yml`, text }));
  return planCompose(texts, { ...REF, ...ref, files: texts.map((t) => t.file) }, { ...OPTIONS, localEnv });
}

// The devcontainers/templates postgres template, as most Compose devcontainers in the corpus look.
const POSTGRES_TEMPLATE = `
version: '3.8'
services:
  app:
    build:
      context: ..
      dockerfile: .devcontainer/Dockerfile
    volumes:
      - ../..:/workspaces:cached
    command: sleep infinity
    network_mode: service:db
  db:
    image: postgres:latest
    restart: unless-stopped
    volumes:
      - postgres-data:/var/lib/postgresql/data
    environment:
      POSTGRES_USER: postgres
      POSTGRES_PASSWORD: postgres
volumes:
  postgres-data:
`;

describe("planCompose: the corpus's shapes", () => {
  it("plans the postgres template: db first, the task's service in db's network, the workspace bind left to the server", () => {
    const { plan: p, notes } = plan(POSTGRES_TEMPLATE, { workspaceFolderGiven: false });
    expect(p.services.map((s) => s.name)).toEqual(["db", "app"]);
    const [db, app] = p.services;
    expect(db).toMatchObject({ image: "postgres:latest", build: null, env: { POSTGRES_USER: "postgres", POSTGRES_PASSWORD: "postgres" }, volumes: [{ volume: "postgres-data", target: "/var/lib/postgresql/data", readOnly: false }], networkOf: null });
    expect(app).toMatchObject({ image: null, build: { context: ".", dockerfile: ".devcontainer/Dockerfile", args: {}, target: null }, command: ["sleep", "infinity"], networkOf: "db", volumes: [] });
    expect(p.volumes).toEqual(["postgres-data"]);
    // `../..:/workspaces` from .devcontainer is the folder above the repository: the repository is at /workspaces/widgets.
    expect(p.workspaceFolder).toBe("/workspaces/widgets");
    expect(notes.some((n) => /services\.app\.volumes.*not applied: the server mounts the workspace itself/.test(n))).toBe(true);
    expect(notes.some((n) => /services\.db\.restart.*not applied/.test(n))).toBe(true);
  });

  it("takes the rails shape: depends_on orders the start, runServices limits it, and the rest is named", () => {
    const yaml = `
services:
  rails:
    build: { context: .., dockerfile: .devcontainer/Dockerfile, args: [RUBY=3.3], target: dev }
    volumes: ["..:/workspace:cached"]
    command: sleep infinity
    depends_on: [postgres, redis]
  postgres: { image: "postgres:16", environment: ["POSTGRES_PASSWORD=postgres"] }
  redis: { image: "valkey/valkey:8", command: ["-m", "1024"] }
  memcached: { image: memcached }
`;
    const { plan: p, notes } = plan(yaml, { service: "rails", runServices: ["rails"], workspaceFolderGiven: false });
    expect(p.services.map((s) => s.name)).toEqual(["postgres", "redis", "rails"]);
    expect(p.services[2]).toMatchObject({ build: { context: ".", dockerfile: ".devcontainer/Dockerfile", args: { RUBY: "3.3" }, target: "dev" }, waitFor: [{ service: "postgres", healthy: false }, { service: "redis", healthy: false }] });
    expect(p.services[1]!.command).toEqual(["-m", "1024"]);
    expect(p.workspaceFolder).toBe("/workspace");
    expect(notes).toContain("Compose services not started (not in `runServices`): memcached.");
  });

  it("merges later files over earlier ones as Compose does", () => {
    const base = `
services:
  app:
    image: base:1
    environment: { A: "1", B: "1" }
    volumes: ["cache:/cache", "data:/data"]
    depends_on: [db]
  db: { image: postgres }
volumes: { cache: {}, data: {} }
`;
    const override = `
services:
  app:
    image: base:2
    environment: ["B=2", "C=3"]
    volumes: ["other:/data"]
    command: ["run", "it"]
volumes: { other: }
`;
    const { plan: p } = plan([base, override]);
    const app = p.services.find((s) => s.name === "app")!;
    expect(app).toMatchObject({ image: "base:2", env: { A: "1", B: "2", C: "3" }, command: ["run", "it"], waitFor: [{ service: "db", healthy: false }] });
    expect(app.volumes).toEqual([
      { volume: "cache", target: "/cache", readOnly: false },
      { volume: "other", target: "/data", readOnly: false },
    ]);
  });

  it("maps a health check and waits for it where depends_on asks", () => {
    const { plan: p } = plan(`
services:
  app: { image: a, depends_on: { db: { condition: service_healthy } } }
  db:
    image: postgres
    healthcheck: { test: ["CMD-SHELL", "pg_isready"], interval: 1s, timeout: 500ms, retries: 5, start_period: 1m30s }
`);
    expect(p.services[0]!.healthcheck).toEqual({ Test: ["CMD-SHELL", "pg_isready"], Interval: 1e9, Timeout: 5e8, Retries: 5, StartPeriod: 90e9 });
    expect(p.services[1]!.waitFor).toEqual([{ service: "db", healthy: true }]);
  });

  it("substitutes variables only from DEVS.yml env_vars, with Compose's defaults", () => {
    process.env.DEVS_TEST_COMPOSE_SECRET = "leaked";
    try {
      const { plan: p, notes } = plan(
        `services:\n  app:\n    image: "node:\${NODE:-22}"\n    environment:\n      S: "\${DEVS_TEST_COMPOSE_SECRET}"\n      T: "\${TOKEN}"\n      D: "$$HOME"\n`,
        {},
        { TOKEN: "t" },
      );
      expect(p.services[0]).toMatchObject({ image: "node:22", env: { S: "", T: "t", D: "$HOME" } });
      expect(notes.some((n) => /DEVS_TEST_COMPOSE_SECRET.*never read/.test(n))).toBe(true);
    } finally {
      delete process.env.DEVS_TEST_COMPOSE_SECRET;
    }
  });

  it("splits a command string as a shell would, without one", () => {
    expect(splitCommand("f", "c", `sh -c 'echo "a b"' x\\ y ""`)).toEqual(["sh", "-c", 'echo "a b"', "x y", ""]);
    expect(() => splitCommand("f", "c", "echo 'open")).toThrow(/unclosed quote/);
    expect(parseDuration("1m30s")).toBe(90e9);
    expect(parseDuration("soon")).toBeNull();
  });

  it("refuses a service that names no image and a dependency cycle", () => {
    expect(() => plan(`services:\n  app: { command: x }\n`)).toThrow(/services\.app\.image` is missing/);
    expect(() => plan(`services:\n  app: { image: a, depends_on: [b] }\n  b: { image: b, depends_on: [app] }\n`)).toThrow(/cycle \(app → b → app\)/);
    expect(() => plan(`services:\n  db: { image: a }\n`)).toThrow(/names `app`, which no Compose file defines/);
  });
});

describe("planCompose: what would give the server away is refused, naming the file and the key", () => {
  const FILE = ".devcontainer/docker-compose.yml";
  const table: Array<[string, string, RegExp]> = [
    ["a bind mount of /", `services:\n  app: { image: a, volumes: ["/:/host"] }`, /services\.app\.volumes` `\/:\/host` refused: a bind mount of a folder of the server/],
    ["the Docker socket", `services:\n  app: { image: a, volumes: ["/var/run/docker.sock:/var/run/docker.sock"] }`, /docker\.sock.* refused/],
    ["a long-form bind out of the repository", `services:\n  app: { image: a, volumes: [{ type: bind, source: ../../.., target: /x }] }`, /refused: a bind mount of a folder of the server/],
    ["privileged", `services:\n  app: { image: a, privileged: true }`, /services\.app\.privileged` refused: containers never run privileged/],
    ["the host's network", `services:\n  app: { image: a, network_mode: host }`, /network_mode: host` refused/],
    ["another container's network", `services:\n  app: { image: a, network_mode: "container:devs-other" }`, /network_mode: container:devs-other` refused/],
    ["the host's PID namespace", `services:\n  app: { image: a, pid: host }`, /services\.app\.pid` refused/],
    ["devices", `services:\n  app: { image: a, devices: ["/dev/sda:/dev/sda"] }`, /services\.app\.devices` refused/],
    ["cap_add", `services:\n  app: { image: a, cap_add: [SYS_ADMIN] }`, /services\.app\.cap_add` refused/],
    ["an env_file on the server", `services:\n  app: { image: a, env_file: /etc/passwd }`, /services\.app\.env_file` refused: `\/etc\/passwd` is outside the repository/],
    ["an env_file above the repository", `services:\n  app: { image: a, env_file: ../../.env }`, /env_file` refused/],
    ["extends of a host file", `services:\n  app: { image: a, extends: { file: /etc/compose.yml, service: x } }`, /services\.app\.extends` refused/],
    ["include", `include: [/etc/other.yml]\nservices:\n  app: { image: a }`, /`include` refused/],
    ["a build context outside", `services:\n  app: { build: { context: ../.. } }`, /build\.context` refused: `\.\.\/\.\.` is outside the repository/],
    ["a remote build context", `services:\n  app: { build: "https://example.com/x.git" }`, /build\.context` refused: only folders of the repository/],
    ["a volume whose driver binds a host folder", `services:\n  app: { image: a, volumes: ["v:/v"] }\nvolumes:\n  v: { driver_opts: { type: none, o: bind, device: / } }`, /volumes\.v\.driver_opts refused/],
    ["an external volume", `services:\n  app: { image: a, volumes: ["v:/v"] }\nvolumes:\n  v: { external: true }`, /volumes\.v\.external refused/],
    ["a service in the task's service's network, which every task restarts", `services:\n  app: { image: a, depends_on: [db] }\n  db: { image: b, network_mode: "service:app" }`, /services\.db\.network_mode: service:app` refused/],
    ["a sidecar's refused key", `services:\n  app: { image: a, depends_on: [db] }\n  db: { image: b, privileged: true }`, /services\.db\.privileged` refused/],
  ];
  for (const [name, yaml, pattern] of table) {
    it(name, () => {
      let error: unknown;
      try {
        plan(yaml);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ComposeError);
      expect((error as ComposeError).file).toBe(FILE);
      expect((error as Error).message).toMatch(pattern);
    });
  }

  it("leaves out, with a note, what it does not apply", () => {
    const { plan: p, notes } = plan(`
services:
  app:
    image: a
    ports: ["5432:5432"]
    container_name: mine
    networks: [front]
    volumes: ["./data:/data", "/tmp"]
    env_file: .env
    environment: [FROM_HOST]
networks: { front: {} }
`);
    expect(p.services[0]!.volumes).toEqual([{ volume: null, target: "/tmp", readOnly: false }]);
    expect(p.services[0]!.env).toEqual({});
    for (const pattern of [/ports.*no ports are published/, /container_name.*named by the server/, /`\.\/data:\/data` not applied/, /env_file` not applied/, /FROM_HOST` not applied: the server's environment is never passed through/]) {
      expect(notes.some((n) => pattern.test(n)), `${pattern}: ${JSON.stringify(notes)}`).toBe(true);
    }
  });
});

describe("devcontainer.json with dockerComposeFile", () => {
  it("reads the files, the service and runServices, relative to its folder; the service keeps its command", () => {
    const { spec, notes } = parseDevcontainer(
      `{"dockerComposeFile":["docker-compose.yml","../compose.extra.yml"],"service":"app","runServices":["app","db"]}`,
      ".devcontainer/devcontainer.json",
      { repoName: "widgets", defaultImage: "d" },
    );
    expect(spec.compose).toEqual({ files: [".devcontainer/docker-compose.yml", "compose.extra.yml"], service: "app", runServices: ["app", "db"], workspaceFolderGiven: false });
    expect(spec.overrideCommand).toBe(false);
    expect(notes).toEqual([]);
  });

  it("takes `workspaceFolder: /` (the spec's Compose default) as unset: the file's workspace bind decides", () => {
    const { spec, notes } = parseDevcontainer(`{"dockerComposeFile":"dc.yml","service":"app","workspaceFolder":"/"}`, ".devcontainer/devcontainer.json", { repoName: "w", defaultImage: "d" });
    expect(spec.compose?.workspaceFolderGiven).toBe(false);
    expect(spec.workspaceFolder).toBe("/workspaces/w");
    expect(notes).toEqual(["`workspaceFolder: /` not applied: the workspace is mounted where the Compose file's workspace bind puts it."]);
    expect(() => parseDevcontainer(`{"image":"x","workspaceFolder":"/"}`, ".devcontainer/devcontainer.json", { repoName: "w", defaultImage: "d" })).toThrow(/cannot be mounted at \//);
  });

  it("refuses a Compose file outside the repository, and a config without service", () => {
    const parse = (json: string) => () => parseDevcontainer(json, ".devcontainer/devcontainer.json", { repoName: "w", defaultImage: "d" });
    expect(parse(`{"dockerComposeFile":"../../../etc/compose.yml","service":"app"}`)).toThrow(/leads outside the repository/);
    expect(parse(`{"dockerComposeFile":"/etc/compose.yml","service":"app"}`)).toThrow(/must be a relative path/);
    expect(parse(`{"dockerComposeFile":"docker-compose.yml"}`)).toThrow(/needs `service`/);
  });

  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a Compose file that is a link out of the repository, and reads one inside", async () => {
    const outside = mkdtempSync(join(tmpdir(), "devs-compose-outside-"));
    const repo = mkdtempSync(join(tmpdir(), "devs-compose-repo-"));
    dirs.push(outside, repo);
    writeFileSync(join(outside, "compose.yml"), "services:\n  app: { image: secret }\n");
    mkdirSync(join(repo, ".devcontainer"));
    symlinkSync(join(outside, "compose.yml"), join(repo, ".devcontainer/docker-compose.yml"));
    writeFileSync(join(repo, ".devcontainer/inside.yml"), "services:\n  app: { image: fine }\n");
    const read = (file: string) => readCompose(repo, { ...REF, files: [file] }, OPTIONS);
    await expect(read(".devcontainer/docker-compose.yml")).rejects.toThrow(/docker-compose\.yml: is a link to a file outside the repository/);
    await expect(read(".devcontainer/missing.yml")).rejects.toThrow(DevcontainerError);
    expect((await read(".devcontainer/inside.yml")).plan.services[0]!.image).toBe("fine");
  });
});
