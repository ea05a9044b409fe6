import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connectDocker, containerName, DockerHostError } from "../../src/containers/docker.js";
import { parseDockerIgnore } from "../../src/containers/dockerignore.js";
import { parseEnvList, toEnvList } from "../../src/containers/exec.js";
import { stableStringify, valueHash } from "../../src/containers/hash.js";
import { buildContext, imageRepository } from "../../src/containers/image.js";
import { FrameDemuxer, LineSplitter, StreamFormatError } from "../../src/containers/stream.js";
import type { BuildSpec } from "../../src/containers/devcontainer.js";
import { placeName, placeOf, trustOf, type PlaceKey, type Trust } from "../../src/containers/naming.js";
import { containerSetupSource, type ContainerSetupSource } from "../../src/containers/setup-source.js";
import type { Task } from "../../src/tasks/task.js";
import { agentTask, agentTaskFromFork, agentTaskOnPullRequest, ciTask, ciTaskFromFork, ciTaskOnPullRequest } from "../helpers/tasks.js";

describe("place names", () => {
  const m = "maintainers" as const;
  const place = (slot: string, owner: string, repo: string, trust: Trust = m) => ({ slot, owner, repo, trust });
  const table: Array<[PlaceKey, RegExp]> = [
    [place("eamonn", "Acme", "Widgets"), /^eamonn-acme-widgets-[0-9a-f]{12}$/],
    [place("Harry", "some-org", "repo.name_x"), /^harry-some-org-repo\.name_x-[0-9a-f]{12}$/],
    [place("p", "o", "we ird/na me"), /^p-o-we-ird-na-me-[0-9a-f]{12}$/],
    [place("p", "O", "ÄÖ"), /^p-o---[0-9a-f]{12}$/],
    [place("p", "acme", "app", "fork"), /^p-acme-app-fork-[0-9a-f]{12}$/],
  ];
  for (const [key, want] of table) {
    it(`${key.slot} ${key.owner}/${key.repo} ${key.trust}`, () => {
      expect(placeName(key)).toMatch(want);
      expect(containerName(key)).toBe(`devs-${placeName(key)}`);
      // Docker's grammar for a container name, and one path segment.
      expect(containerName(key)).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/);
    });
  }

  it("never gives two places the same name, however their parts read once made safe", () => {
    const places = [
      place("p", "acme", "big-app"),
      place("p", "acme-big", "app"),
      place("p-acme", "big", "app"),
      place("p", "acme", "big-app", "fork"),
      place("p", "acme", "big-app-fork"),
      place("P", "acme", "big-app"),
    ];
    const names = places.map(placeName);
    expect(new Set(names).size).toBe(places.length);
  });

  it("is one name for an owner or repository spelled in other case (GitHub's names are not case-sensitive)", () => {
    expect(placeName(place("p", "Acme", "Big-App"))).toBe(placeName(place("p", "acme", "big-app")));
  });

  it("keeps long names within a path segment's limit", () => {
    const name = containerName(place("pool", "o".repeat(39), "r".repeat(100)));
    expect(name.length).toBeLessThanOrEqual(200);
    expect(name).toMatch(/-[0-9a-f]{12}$/);
  });

  it("gives a fork's pull request its own place: CI and agent tasks alike", () => {
    expect(trustOf(ciTaskFromFork({ repo: "acme/app" }))).toBe("fork");
    expect(trustOf(ciTaskOnPullRequest({ repo: "acme/app" }))).toBe("maintainers");
    expect(trustOf(agentTask({ repo: "acme/app" }))).toBe("maintainers");
    const agent = agentTaskFromFork({ repo: "acme/app" });
    expect(trustOf(agent)).toBe("fork");
    expect(placeName(placeOf("p", agent))).not.toBe(placeName(placeOf("p", agentTask({ repo: "acme/app" }))));
  });
});

describe("which tree defines a task's container", () => {
  const table: Array<[string, Task, ContainerSetupSource]> = [
    ["an agent task on an issue", agentTask(), "workspace"],
    ["an agent task on a pull request from a branch of the repository", agentTaskOnPullRequest(), "workspace"],
    ["an agent task on a fork's pull request", agentTaskFromFork(), "base-default-branch"],
    ["a CI run of a push", ciTask(), "workspace"],
    ["a CI run of a pull request from a branch of the repository", ciTaskOnPullRequest(), "workspace"],
    ["a CI run of a fork's pull request", ciTaskFromFork(), "base-default-branch"],
  ];
  for (const [name, task, want] of table) {
    it(`${name}: ${want}`, () => expect(containerSetupSource(task)).toBe(want));
  }
});

describe("imageRepository", () => {
  const table: Array<[[string, string], string]> = [
    [["Acme", "Widgets"], "devs-img-acme-widgets"],
    [["a", "my..repo__x"], "devs-img-a-my-repo-x"],
    [["a", ".github"], "devs-img-a-github"],
    [["a", "___"], "devs-img-a-x"],
  ];
  for (const [[owner, repo], want] of table) {
    it(`${owner}/${repo}`, () => {
      const name = imageRepository(owner, repo);
      expect(name).toBe(want);
      // Docker's grammar for a repository path component.
      expect(name).toMatch(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/);
    });
  }
});

describe("connectDocker", () => {
  const modem = (host: string) => (connectDocker(host) as unknown as { modem: { socketPath?: string; host?: string; port?: number; protocol?: string } }).modem;
  it("uses the local socket by default", () => expect(modem("").socketPath).toBe("/var/run/docker.sock"));
  it("takes unix:// paths", () => expect(modem("unix:///run/user/1000/docker.sock").socketPath).toBe("/run/user/1000/docker.sock"));
  it("takes tcp://host:port", () => expect(modem("tcp://127.0.0.1:2375")).toMatchObject({ host: "127.0.0.1", port: 2375, protocol: "http" }));
  it("takes tcp://host:port with TLS client certificates", () => {
    const dir = mkdtempSync(join(tmpdir(), "devs-docker-tls-"));
    for (const file of ["ca.pem", "cert.pem", "key.pem"]) writeFileSync(join(dir, file), `${file} contents`);
    const tls = (connectDocker("tcp://10.0.0.5:2376", dir) as unknown as { modem: { protocol: string; ca: Buffer; cert: Buffer; key: Buffer } }).modem;
    expect(tls.protocol).toBe("https");
    expect([tls.ca, tls.cert, tls.key].map(String)).toEqual(["ca.pem contents", "cert.pem contents", "key.pem contents"]);
  });
  it("refuses what it cannot honour", () => {
    expect(() => connectDocker("ssh://me@host")).toThrow(DockerHostError);
    expect(() => connectDocker("tcp://nohost")).toThrow(/DOCKER_HOST=tcp:\/\/nohost is not supported/);
  });
});

describe("LineSplitter", () => {
  const split = (chunks: Array<string | Buffer>, max?: number) => {
    const lines: string[] = [];
    const s = new LineSplitter((l) => lines.push(l), max);
    chunks.forEach((c) => s.push(c));
    s.end();
    return lines;
  };
  const euro = Buffer.from("€\n");
  const table: Array<[string, Array<string | Buffer>, string[], number?]> = [
    ["one line", ["a\n"], ["a"]],
    ["lines across chunks", ["ab", "c\nd", "e\n"], ["abc", "de"]],
    ["CRLF", ["a\r\nb\r\n"], ["a", "b"]],
    ["last line without newline", ["a\nb"], ["a", "b"]],
    ["empty lines kept", ["\n\n"], ["", ""]],
    ["UTF-8 cut inside a character", [euro.subarray(0, 1), euro.subarray(1)], ["€"]],
    ["over-long line in pieces", ["abcdefg"], ["abc", "def", "g"], 3],
  ];
  for (const [name, chunks, want, max] of table) it(name, () => expect(split(chunks, max)).toEqual(want));
});

describe("FrameDemuxer", () => {
  const frame = (kind: number, text: string) => {
    const payload = Buffer.from(text);
    const header = Buffer.alloc(8);
    header[0] = kind;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  };
  const run = (chunks: Buffer[]) => {
    const got: string[] = [];
    const d = new FrameDemuxer((s, l) => got.push(`${s}:${l}`));
    chunks.forEach((c) => d.push(c));
    d.end();
    return got;
  };

  it("delivers each stream's lines in order", () => {
    const all = Buffer.concat([frame(1, "a\nb"), frame(2, "err\n"), frame(1, "c\n")]);
    expect(run([all])).toEqual(["stdout:a", "stderr:err", "stdout:bc"]);
  });

  it("reassembles frames split at any byte", () => {
    const all = Buffer.concat([frame(1, "hello\n"), frame(2, "world\n"), frame(1, "€uro\n")]);
    for (let cut = 1; cut < all.length; cut++) {
      expect(run([all.subarray(0, cut), all.subarray(cut)])).toEqual(["stdout:hello", "stderr:world", "stdout:€uro"]);
    }
  });

  it("refuses a stream that is not multiplexed", () => {
    const d = new FrameDemuxer(() => {});
    expect(() => d.push(Buffer.from("plain text output"))).toThrow(StreamFormatError);
  });

  it("refuses output cut inside a frame", () => {
    const d = new FrameDemuxer(() => {});
    d.push(frame(1, "abc\n").subarray(0, 10));
    expect(() => d.end()).toThrow(/ended inside a frame/);
  });
});

describe("parseDockerIgnore", () => {
  const ignore = parseDockerIgnore(["# comment", "node_modules", "*.log", "/build/", "docs/**/*.md", "!docs/keep.md", "**/.cache", "!important.log", ""].join("\n"));
  const table: Array<[string, boolean]> = [
    ["node_modules", true],
    ["node_modules/x/index.js", true],
    ["src/node_modules", false],
    ["a.log", true],
    ["important.log", false],
    ["src/a.log", false],
    ["build/out.js", true],
    ["docs/a/b/c.md", true],
    ["docs/c.md", true],
    ["docs/keep.md", false],
    ["x/y/.cache/z", true],
    ["src/index.ts", false],
  ];
  for (const [path, want] of table) it(`${path} → ${want ? "ignored" : "kept"}`, () => expect(ignore.ignores(path)).toBe(want));
  it("knows when exceptions exist", () => {
    expect(ignore.hasExceptions).toBe(true);
    expect(parseDockerIgnore("a\nb").hasExceptions).toBe(false);
  });
});

describe("stableStringify / valueHash", () => {
  it("sorts keys at every level and drops undefined", () => {
    expect(stableStringify({ b: 1, a: { d: [2, { y: 1, x: 0 }], c: undefined } })).toBe('{"a":{"d":[2,{"x":0,"y":1}]},"b":1}');
  });
  it("hashes equal values equally", () => expect(valueHash({ a: 1, b: 2 })).toBe(valueHash({ b: 2, a: 1 })));
  it("hashes different values differently", () => expect(valueHash({ a: 1 })).not.toBe(valueHash({ a: 2 })));
});

describe("env lists", () => {
  it("round-trips", () => expect(parseEnvList(toEnvList({ A: "1", B: "x=y", C: "" }))).toEqual({ A: "1", B: "x=y", C: "" }));
  it("refuses names Docker would misread", () => {
    expect(() => toEnvList({ "A=B": "1" })).toThrow(/invalid environment variable name/);
    expect(() => toEnvList({ "": "1" })).toThrow(/invalid environment variable name/);
    expect(() => toEnvList({ A: "a\0b" })).toThrow(/NUL/);
  });
});

describe("buildContext hash", () => {
  const build: BuildSpec = { dockerfile: ".devcontainer/Dockerfile", context: ".", args: {}, target: null };
  const made: string[] = [];
  afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const make = () => {
    const dir = mkdtempSync(join(tmpdir(), "devs-ctx-"));
    made.push(dir);
    mkdirSync(join(dir, ".devcontainer"));
    mkdirSync(join(dir, "src"));
    mkdirSync(join(dir, ".git"));
    writeFileSync(join(dir, ".devcontainer/Dockerfile"), "FROM scratch\n");
    writeFileSync(join(dir, "src/a.sh"), "echo a\n");
    writeFileSync(join(dir, ".git/HEAD"), "ref: refs/heads/main\n");
    writeFileSync(join(dir, ".dockerignore"), ".git\n*.tmp\n");
    return dir;
  };

  it("lists what is sent, with .dockerignore applied", async () => {
    const dir = make();
    writeFileSync(join(dir, "x.tmp"), "t");
    mkdirSync(join(dir, "empty"));
    symlinkSync("src/a.sh", join(dir, "link"));
    const ctx = await buildContext(dir, build);
    expect(ctx.files).toEqual([".devcontainer/Dockerfile", ".dockerignore", "empty", "link", "src/a.sh"]);
  });

  const changes: Array<[string, (dir: string) => void, BuildSpec | null, boolean]> = [
    ["nothing", () => {}, null, false],
    ["an ignored file", (d) => writeFileSync(join(d, ".git/HEAD"), "other"), null, false],
    ["the Dockerfile", (d) => writeFileSync(join(d, ".devcontainer/Dockerfile"), "FROM scratch\nENV A=1\n"), null, true],
    ["a context file", (d) => writeFileSync(join(d, "src/a.sh"), "echo b\n"), null, true],
    ["a file's mode", (d) => chmodSync(join(d, "src/a.sh"), 0o755), null, true],
    ["a new file", (d) => writeFileSync(join(d, "src/b.sh"), ""), null, true],
    ["a build arg", () => {}, { ...build, args: { V: "2" } }, true],
    ["the target", () => {}, { ...build, target: "dev" }, true],
    [".dockerignore itself", (d) => writeFileSync(join(d, ".dockerignore"), ".git\n"), null, true],
  ];
  for (const [name, change, otherBuild, differs] of changes) {
    it(`${differs ? "changes" : "keeps"} the hash when ${name} changes`, async () => {
      const dir = make();
      const before = (await buildContext(dir, build)).hash;
      change(dir);
      const after = (await buildContext(dir, otherBuild ?? build)).hash;
      expect(after !== before).toBe(differs);
    });
  }

  it("is the same for two identical trees", async () => {
    expect((await buildContext(make(), build)).hash).toBe((await buildContext(make(), build)).hash);
  });

  it("says which Dockerfile is missing", async () => {
    await expect(buildContext(make(), { ...build, dockerfile: ".devcontainer/Nope" })).rejects.toThrow(/\.devcontainer\/Nope does not exist/);
  });
});
