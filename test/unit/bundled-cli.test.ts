// The server's own Claude Code for task containers: which builds a CPU has, what the launcher
// does for each image (run under the host's sh with its loader checks pointed at a fake root),
// how the builds are staged under DATA_DIR, and the `claude` word of the agent command.
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BundledCliError, bundledCliMount, stageBundledCli } from "../../src/agent/bundled-cli.js";
import { AGENT_CLI_DIR_IN_CONTAINER, BUNDLED_CLAUDE_PATH, claudeArch, claudeBuilds, launcherScript, type Libc } from "../../src/agent/claude-builds.js";
import { judgeRun } from "../../src/agent/claude.js";
import { readStream } from "../../src/agent/stream-json.js";
import { agentArgv, DEFAULT_AGENT_COMMAND, runsClaude } from "../../src/policy/agent-command.js";
import { tempDir, testSettings } from "../helpers/settings.js";

describe("Claude Code's builds per CPU", () => {
  it.each([
    ["x64", ["@anthropic-ai/claude-code-linux-x64", "/lib64/ld-linux-x86-64.so.2"], ["@anthropic-ai/claude-code-linux-x64-musl", "/lib/ld-musl-x86_64.so.1"]],
    ["arm64", ["@anthropic-ai/claude-code-linux-arm64", "/lib/ld-linux-aarch64.so.1"], ["@anthropic-ai/claude-code-linux-arm64-musl", "/lib/ld-musl-aarch64.so.1"]],
  ] as const)("%s: the glibc and the musl package, with their loaders", (arch, glibc, musl) => {
    expect(claudeBuilds(arch).map((b) => [b.libc, b.packageName, b.loader])).toEqual([
      ["glibc", ...glibc],
      ["musl", ...musl],
    ]);
  });

  it("has none for other CPUs", () => {
    expect(claudeArch("x64")).toBe("x64");
    expect(claudeArch("arm64")).toBe("arm64");
    expect(claudeArch("ia32")).toBeNull();
    expect(claudeArch("riscv64")).toBeNull();
  });
});

/**
 * The launcher with its absolute paths moved under `root`, run by the host's sh: the image's
 * loaders are files under root/lib…, the builds scripts that say which they are.
 */
function runLauncher(options: { installed: Libc[]; imageHas: Array<"glibc" | "musl">; arch?: "x64" | "arm64" }) {
  const arch = options.arch ?? "x64";
  const root = tempDir("devs-launcher-");
  const agentDir = join(root, AGENT_CLI_DIR_IN_CONTAINER);
  mkdirSync(agentDir, { recursive: true });
  for (const libc of options.installed) {
    mkdirSync(join(agentDir, libc));
    writeFileSync(join(agentDir, libc, "claude"), `#!/bin/sh\necho "${libc} build: $*"\n`);
    chmodSync(join(agentDir, libc, "claude"), 0o755);
  }
  for (const build of claudeBuilds(arch)) {
    if (!options.imageHas.includes(build.libc)) continue;
    mkdirSync(join(root, build.loader, ".."), { recursive: true });
    writeFileSync(join(root, build.loader), "");
  }
  const script = launcherScript(arch, "2.1.332", options.installed).replace(/(?<=[\s'(])\/(lib|lib64|opt)\//g, `${root}/$1/`);
  writeFileSync(join(agentDir, "claude"), script);
  chmodSync(join(agentDir, "claude"), 0o755);
  const result = spawnSync(join(agentDir, "claude"), ["-p", "fix it", "--verbose"], { encoding: "utf8", env: { PATH: "/usr/bin:/bin" } });
  return { status: result.status, stdout: result.stdout.trim(), stderr: result.stderr.trim() };
}

describe("the launcher", () => {
  it("runs the glibc build in a glibc image, with every argument as given", () => {
    expect(runLauncher({ installed: ["glibc", "musl"], imageHas: ["glibc"] })).toEqual({ status: 0, stdout: "glibc build: -p fix it --verbose", stderr: "" });
  });

  it("runs the musl build in a musl image (Alpine), also one with a glibc compatibility layer", () => {
    expect(runLauncher({ installed: ["glibc", "musl"], imageHas: ["musl"] }).stdout).toBe("musl build: -p fix it --verbose");
    expect(runLauncher({ installed: ["glibc", "musl"], imageHas: ["musl", "glibc"] }).stdout).toBe("musl build: -p fix it --verbose");
  });

  it("checks arm64's loaders on arm64", () => {
    expect(runLauncher({ installed: ["glibc"], imageHas: ["glibc"], arch: "arm64" }).stdout).toBe("glibc build: -p fix it --verbose");
  });

  it("says in one line which build the server lacks, and how to add it, with exit 127", () => {
    const run = runLauncher({ installed: ["glibc"], imageHas: ["musl"] });
    expect(run.status).toBe(127);
    expect(run.stdout).toBe("");
    expect(run.stderr.split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("this image uses musl, but the server has no musl build of Claude Code 2.1.332");
    expect(run.stderr).toContain("npm install --no-save --os=linux --cpu=x64 --libc=musl @anthropic-ai/claude-code-linux-x64-musl@2.1.332");
    expect(run.stderr).toContain("AGENT_CLI=image");
  });

  it("refuses an image with neither C library, with exit 127", () => {
    const run = runLauncher({ installed: ["glibc", "musl"], imageHas: [] });
    expect(run.status).toBe(127);
    expect(run.stderr).toMatch(/^devs-webhook: this image has neither glibc .* nor musl .*set AGENT_CLI=image\.$/);
  });

  it("is POSIX sh (dash reads it)", () => {
    const sh = existsSync("/bin/dash") ? "/bin/dash" : "/bin/sh";
    expect(() => execFileSync(sh, ["-n", "-c", launcherScript("x64", "2.1.332", ["glibc"])])).not.toThrow();
  });
});

/** Fake platform packages: a folder per package with a package.json and a `claude` file. */
function fakePackages(builds: Partial<Record<Libc, string>>, version = "2.1.332"): (name: string) => string | null {
  const root = tempDir("devs-packages-");
  return (name) => {
    const libc: Libc = name.endsWith("-musl") ? "musl" : "glibc";
    const content = builds[libc];
    if (content === undefined) return null;
    const dir = join(root, name);
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name, version }));
      writeFileSync(join(dir, "claude"), content);
      chmodSync(join(dir, "claude"), 0o755);
    }
    return dir;
  };
}

describe("staging the builds under DATA_DIR", () => {
  it("puts the launcher and each installed build in a folder named by version, readable by any user", () => {
    const dataDir = tempDir();
    const staged = stageBundledCli({ dataDir, arch: "x64", packageDir: fakePackages({ glibc: "GLIBC", musl: "MUSL" }) });
    expect(staged).toMatchObject({ version: "2.1.332", installed: ["glibc", "musl"] });
    expect(staged.dir).toMatch(new RegExp(`^${dataDir}/agent-cli/2\\.1\\.332-[0-9a-f]{12}$`));
    expect(readFileSync(join(staged.dir, "claude"), "utf8")).toBe(launcherScript("x64", "2.1.332", ["glibc", "musl"]));
    expect(readFileSync(join(staged.dir, "glibc", "claude"), "utf8")).toBe("GLIBC");
    expect(readFileSync(join(staged.dir, "musl", "claude"), "utf8")).toBe("MUSL");
    for (const path of ["", "claude", "glibc", "glibc/claude"]) expect(statSync(join(staged.dir, path)).mode & 0o755, path).toBe(0o755);
    expect(bundledCliMount(staged)).toEqual({ source: staged.dir, target: AGENT_CLI_DIR_IN_CONTAINER, readOnly: true });
  });

  it("reuses a staged folder, and a new version gets a new one while the old one goes", () => {
    const dataDir = tempDir();
    const installed = fakePackages({ glibc: "one" });
    const first = stageBundledCli({ dataDir, arch: "x64", packageDir: installed });
    expect(stageBundledCli({ dataDir, arch: "x64", packageDir: installed }).dir).toBe(first.dir);
    const upgraded = stageBundledCli({ dataDir, arch: "x64", packageDir: fakePackages({ glibc: "two!" }, "2.2.0") });
    expect(upgraded.dir).not.toBe(first.dir);
    expect(readdirSync(join(dataDir, "agent-cli"))).toEqual([upgraded.dir.split("/").at(-1)]);
  });

  it("stages again when the staged copy no longer matches what is installed", () => {
    const dataDir = tempDir();
    const packages = fakePackages({ glibc: "GLIBC" });
    const staged = stageBundledCli({ dataDir, arch: "x64", packageDir: packages });
    // Replaced, not written through: the staged file may be a hard link to the installed one.
    rmSync(join(staged.dir, "glibc", "claude"));
    writeFileSync(join(staged.dir, "glibc", "claude"), "truncated");
    const again = stageBundledCli({ dataDir, arch: "x64", packageDir: packages });
    expect(readFileSync(join(again.dir, "glibc", "claude"), "utf8")).toBe("GLIBC");
  });

  it("with only one build, the launcher knows the other is missing", () => {
    const staged = stageBundledCli({ dataDir: tempDir(), arch: "x64", packageDir: fakePackages({ musl: "MUSL" }) });
    expect(staged.installed).toEqual(["musl"]);
    expect(readFileSync(join(staged.dir, "claude"), "utf8")).toContain("the server has no glibc build");
  });

  it("without any build, or on a CPU Claude Code has none for, says what to do", () => {
    expect(() => stageBundledCli({ dataDir: tempDir(), arch: "x64", packageDir: () => null })).toThrow(BundledCliError);
    expect(() => stageBundledCli({ dataDir: tempDir(), arch: "x64", packageDir: () => null })).toThrow(
      /neither @anthropic-ai\/claude-code-linux-x64 nor @anthropic-ai\/claude-code-linux-x64-musl is installed.*npm install.*AGENT_CLI=image/,
    );
    expect(() => stageBundledCli({ dataDir: tempDir(), arch: "ia32" })).toThrow(/no Linux build for this CPU \(ia32\).*AGENT_CLI=image/);
  });

  it("finds the build npm installed for this host by package resolution", () => {
    if (process.platform !== "linux" || !claudeArch(process.arch)) return;
    const staged = stageBundledCli({ dataDir: tempDir() });
    expect(staged.version).toBe(JSON.parse(readFileSync(new URL("../../node_modules/@anthropic-ai/claude-code/package.json", import.meta.url), "utf8")).version);
    expect(staged.installed.length).toBeGreaterThan(0);
  });
});

describe("the command's claude word", () => {
  it("runs the server's launcher when it brings Claude Code, the image's claude otherwise", () => {
    expect(agentArgv(DEFAULT_AGENT_COMMAND, "fix it", BUNDLED_CLAUDE_PATH)[0]).toBe("/opt/devs-webhook/agent/claude");
    expect(agentArgv(DEFAULT_AGENT_COMMAND, "fix it")[0]).toBe("claude");
  });

  it("stands in only for the program, never for the prompt or another word, nor for another program", () => {
    expect(agentArgv("claude -p {prompt} --append claude", "claude", BUNDLED_CLAUDE_PATH)).toEqual([BUNDLED_CLAUDE_PATH, "-p", "claude", "--append", "claude"]);
    expect(agentArgv("/usr/local/bin/claude -p {prompt}", "x", BUNDLED_CLAUDE_PATH)[0]).toBe("/usr/local/bin/claude");
    expect(agentArgv("aider --message {prompt}", "x", BUNDLED_CLAUDE_PATH)[0]).toBe("aider");
  });

  it("tells which commands run Claude Code by its plain name", () => {
    expect(runsClaude(DEFAULT_AGENT_COMMAND)).toBe(true);
    expect(runsClaude("claude -p {prompt} --model opus")).toBe(true);
    expect(runsClaude("/usr/local/bin/claude -p {prompt}")).toBe(false);
    expect(runsClaude("aider --message {prompt}")).toBe(false);
  });

  it("exit 127 of the server's build tells the user it was the server's, not the image's", () => {
    const facts = { summary: readStream(""), exitCode: 127, wallMs: 5 };
    const bundled = judgeRun({ ...facts, bundled: true });
    expect(bundled).toMatchObject({ ok: false, kind: "exit_code" });
    expect(bundled.ok ? "" : bundled.reason).toBe("The agent could not start in this container (exit 127): the server has no Claude Code build for this image. The operator's log says what to install.");
    const image = judgeRun(facts);
    expect(image.ok ? "" : image.reason).toMatch(/install the Claude Code CLI in the devcontainer image/);
  });
});

describe("AGENT_CLI", () => {
  it("defaults to bundled, takes image, and refuses anything else naming the variable", () => {
    expect(testSettings().agentCli).toBe("bundled");
    expect(testSettings({ AGENT_CLI: "image" }).agentCli).toBe("image");
    expect(testSettings({ AGENT_CLI: "Bundled" }).agentCli).toBe("bundled");
    expect(() => testSettings({ AGENT_CLI: "npm" })).toThrow(/^AGENT_CLI: expected one of bundled, image, got "npm"$/);
  });
});
