// The bridge directory leaves the container only through Docker's archive API, on a real Docker
// engine with a busybox devcontainer. The attacker's move: a test process that is still running
// while the host collects keeps swapping bridge files for symbolic links — to a "private key" on
// the host, to a file that exists in the container, and to a host-looking absolute path that the
// container also has (with other content). The old reader (lstat, then open a host path) lost
// this race within a few dozen tries; here no archive ever holds the host's file.
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import type Docker from "dockerode";
import { pino } from "pino";
import * as tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveError, packBridgeArchive } from "../../src/ci/bridge-archive.js";
import { collectJUnit } from "../../src/ci/collect.js";
import { BRIDGE_FOLDER, ciContainer, type PreparedCiContainer } from "../../src/ci/container.js";
import { ContainerRuntime } from "../../src/containers/docker.js";
import { BUSYBOX_IMAGE, ensureBusyboxImage, removePoolContainers, requireDocker, runId } from "../helpers/docker.js";
import { tempDir } from "../helpers/settings.js";
import { makeTask } from "../helpers/tasks.js";

const POOL = `race${runId()}`;
const log = pino({ level: "silent" });
const docker: Docker | null = await requireDocker();

beforeAll(async () => {
  if (docker) await ensureBusyboxImage(docker);
});
afterAll(async () => {
  if (docker) await removePoolContainers(docker, POOL);
});

async function prepare(repo: string): Promise<PreparedCiContainer> {
  const runtime = new ContainerRuntime(docker!, { network: "none", stopTimeoutSeconds: 1 });
  const prepared = await ciContainer({ docker: docker!, runtime, defaultImage: BUSYBOX_IMAGE, log })({
    slot: POOL,
    task: makeTask(`acme/${repo}`, "ci"),
    workspace: tempDir("devs-race-ws-"),
    env: {},
    signal: new AbortController().signal,
  });
  await prepared.emptyBridge();
  return prepared;
}

interface Entry {
  name: string;
  type: string;
  linkname: string | null;
  content: Buffer;
}

async function entriesOf(tarBytes: Buffer): Promise<Entry[]> {
  const extract = tar.extract();
  extract.end(tarBytes);
  const out: Entry[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    out.push({ name: entry.header.name, type: entry.header.type, linkname: entry.header.linkname ?? null, content: Buffer.concat(chunks) });
  }
  return out;
}

describe.skipIf(!docker)("the bridge directory reaches the host only through Docker's archive API", () => {
  it("attacker: a running process swaps bridge files for links to a host key, 50 collections in a row: no archive and no report ever holds the host's file", async () => {
    const marker = `devs-canary-${randomBytes(12).toString("hex")}`;
    const secret = `-----BEGIN PRIVATE KEY-----\n${marker}\n-----END PRIVATE KEY-----\n`;
    // A key on the host, at a path the container does not have.
    const hostKey = join(tempDir("devs-host-secret-"), "app-private-key.pem");
    writeFileSync(hostKey, secret, { mode: 0o600 });
    // A second host key whose path the container has too, holding something else.
    const lookalike = join(tempDir("devs-host-secret-"), "key.pem");
    writeFileSync(lookalike, secret, { mode: 0o600 });

    const prepared = await prepare("race");
    const stop = new AbortController();
    const racer = prepared
      .run(
        [
          `mkdir -p "$(dirname '${lookalike}')" && echo "the container's own file" > '${lookalike}'`,
          `cd ${BRIDGE_FOLDER}`,
          `echo '<testsuite name="steady"><testcase name="t"/></testsuite>' > steady.xml`,
          "while :; do",
          `  ln -sfn '${hostKey}' report.xml; rm -f report.xml; echo '<testsuite name="r"><testcase name="t"/></testsuite>' > report.xml`,
          `  ln -sfn /etc/passwd passwd.txt; rm -f passwd.txt; echo plain > passwd.txt`,
          `  ln -sfn '${lookalike}' key.pem; rm -f key.pem; echo plain > key.pem`,
          `  ln -sfn '${join(hostKey, "..")}' dir; rm -f dir; mkdir -p dir; echo inside > dir/f.txt; rm -rf dir`,
          "done",
        ].join("\n"),
        { env: {}, onLine: () => undefined, signal: stop.signal },
      )
      .catch(() => undefined);

    const out = tempDir("devs-race-out-");
    let links = 0;
    let cutShort = 0;
    try {
      // Let the loop get going.
      await new Promise((r) => setTimeout(r, 300));
      for (let round = 0; round < 50; round++) {
        // Docker may cut an archive short when a file changes while it packs it: what came
        // before still counts, and the archive never holds the host's file either way.
        const collected = await collectJUnit(await prepared.bridgeArchive());
        expect(JSON.stringify(collected)).not.toContain(marker);
        if (!collected.archive.truncated) expect(collected.report.cases.map((c) => c.suite)).toContain("steady");

        const target = join(out, `round-${round}.tar.gz`);
        const packed = await packBridgeArchive(await prepared.bridgeArchive(), target, { rootName: "artifacts" }).catch((error: unknown) => {
          if (!(error instanceof ArchiveError)) throw error;
          return null;
        });
        if (!packed) {
          cutShort++;
          continue;
        }
        const bytes = gunzipSync(readFileSync(target));
        expect(bytes.includes(marker)).toBe(false);
        for (const entry of await entriesOf(bytes)) {
          expect(entry.content.includes(marker), entry.name).toBe(false);
          if (entry.type === "symlink") {
            links++;
            // Stored as the link it was, never resolved.
            expect([hostKey, "/etc/passwd", lookalike, join(hostKey, "..")]).toContain(entry.linkname);
            expect(entry.content.length).toBe(0);
          }
        }
      }
    } finally {
      stop.abort();
      await racer;
      await prepared.stopTaskProcesses();
    }
    // The race was live: the archive caught files in their link state.
    expect(links).toBeGreaterThan(0);
    expect(cutShort, "rounds whose archive Docker cut short").toBeLessThan(50);
  }, 180_000);

  it("the bridge's archive holds exactly what the run wrote: nested files, links as links, a FIFO left out of the artifacts", async () => {
    const prepared = await prepare("contents");
    await prepared.run(
      [
        `cd ${BRIDGE_FOLDER}`,
        "mkdir -p junit/unit && echo '<testsuite name=\"u\"><testcase name=\"a\"><failure message=\"no\"/></testcase></testsuite>' > junit/unit/r.xml",
        "echo '<coverage/>' > coverage.xml",
        "ln -s /etc/shadow shadow-link",
        "mkfifo pipe",
        "chmod 0600 junit/unit/r.xml",
      ].join("\n"),
      { env: {}, onLine: () => undefined, signal: new AbortController().signal },
    );
    const collected = await collectJUnit(await prepared.bridgeArchive());
    expect(collected.files).toEqual(["junit/unit/r.xml"]);
    expect(collected.report.failed).toBe(1);

    const target = join(tempDir("devs-bridge-out-"), "a.tar.gz");
    const summary = await packBridgeArchive(await prepared.bridgeArchive(), target, { rootName: "run-1", extraFiles: [{ name: "devs-ci.log", content: "log\n" }] });
    expect(summary.skipped).toEqual(["run-1/pipe: not a regular file, directory or link"]);
    const entries = await entriesOf(gunzipSync(readFileSync(target)));
    expect(entries.map((e) => [e.name, e.type, e.linkname ?? null]).sort()).toEqual(
      [
        ["run-1/", "directory", null],
        ["run-1/devs-ci.log", "file", null],
        ["run-1/coverage.xml", "file", null],
        ["run-1/junit/", "directory", null],
        ["run-1/junit/unit/", "directory", null],
        ["run-1/junit/unit/r.xml", "file", null],
        ["run-1/shadow-link", "symlink", "/etc/shadow"],
      ].sort(),
    );
  }, 120_000);
});
