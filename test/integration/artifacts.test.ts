// CI artifacts against fauxqs (an S3 emulator) on 127.0.0.1 with a random port, through the real
// AWS SDK v3 with the endpoint override and path-style addressing. The bridge directory comes in
// as a tar stream, as Docker's archive API sends it (here made by the system's `tar`); the archive
// is read back from the emulator and unpacked with the system's `tar`, an independent reader.
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { buildApp } from "fauxqs";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync, lstatSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { artifactLink, artifactStoreFromSettings, S3ArtifactStore, type ArtifactStoreOptions } from "../../src/ci/artifacts.js";
import { testSettings } from "../helpers/settings.js";

const credentials = { accessKeyId: "test", secretAccessKey: "test" };
const BUCKET = "ci-artifacts";
let app: ReturnType<typeof buildApp>;
let endpoint: string;
let s3: S3Client;

beforeAll(async () => {
  app = buildApp({ logger: false });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  endpoint = address.replace("localhost", "127.0.0.1");
  expect(new URL(endpoint).hostname).toBe("127.0.0.1");
  s3 = new S3Client({ region: "us-east-1", endpoint, forcePathStyle: true, credentials });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
});
afterAll(async () => {
  s3?.destroy();
  await app?.close();
});

function hasTar(): boolean {
  try {
    execFileSync("tar", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * What Docker's archive API sends for the directory: a tar whose first component is its name.
 * Piped at once: Node discards a child's unread output when the child exits.
 */
const archiveOf = (dir: string) => () => Promise.resolve(spawn("tar", ["--sort=name", "-C", dirname(dir), "-c", basename(dir)], { stdio: ["ignore", "pipe", "inherit"] }).stdout.pipe(new PassThrough()));

function bridgeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "devs-bridge-"));
  mkdirSync(join(dir, "test-results", "junit"), { recursive: true });
  mkdirSync(join(dir, "empty-dir"));
  writeFileSync(join(dir, "test-results", "junit", "report.xml"), '<testsuite tests="1"/>');
  writeFileSync(join(dir, "test-results", "report.md"), "# Report\n\nAll good ✓\n");
  writeFileSync(join(dir, "empty.txt"), "");
  // Bigger than one read chunk, and not a multiple of 512.
  writeFileSync(join(dir, "big.bin"), Buffer.from(Array.from({ length: 200_003 }, (_, i) => i % 251)));
  const deep = join(dir, "a".repeat(60), "b".repeat(60));
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, `${"c".repeat(90)}.log`), "deep file\n");
  writeFileSync(join(dir, "ünïcödé.txt"), "unicode name\n");
  // Written by the container: a link out of the directory is stored as a link, never followed.
  symlinkSync("/etc/passwd", join(dir, "escape"));
  symlinkSync(`../${"x".repeat(120)}/target`, join(dir, "long-link"));
  return dir;
}

function storeOptions(patch: Partial<ArtifactStoreOptions> = {}): ArtifactStoreOptions {
  return {
    bucket: BUCKET,
    prefix: "devs-artifacts",
    baseUrl: "https://artifacts.example.com/",
    region: "us-east-1",
    endpoint,
    credentials,
    now: () => new Date("2026-11-29T12:00:00.000Z"),
    ...patch,
  };
}

async function download(key: string): Promise<Buffer> {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return Buffer.from(await object.Body!.transformToByteArray());
}

describe("S3 artifacts (fauxqs)", () => {
  it("uploads the bridge directory as .tar.gz under {prefix}/{owner-repo}/{kind}/{token}/{timestamp}.tar.gz", async () => {
    expect(hasTar(), "the system tar is needed to check the archive independently").toBe(true);
    const dir = bridgeDir();
    const store = new S3ArtifactStore(storeOptions());
    const result = await store.upload({ archive: archiveOf(dir), repo: "Codertocat/Hello-World", kind: "tests", rootName: "devs-ci-d1", extraFiles: [{ name: "devs-ci.log", content: "full log\n" }] });
    if (result.kind !== "uploaded") throw new Error(`not uploaded: ${JSON.stringify(result)}`);

    expect(result.key).toMatch(/^devs-artifacts\/codertocat-hello-world\/tests\/[A-Za-z0-9_-]{43}\/20261129-120000\.tar\.gz$/);
    expect(result.url).toBe(`https://artifacts.example.com/${result.key}`);
    expect(result.s3Uri).toBe(`s3://${BUCKET}/${result.key}`);
    expect(result.files).toBe(7);
    expect(result.skipped).toEqual([]);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "devs-artifacts/codertocat-hello-world/tests/" }));
    expect(listed.Contents?.map((o) => o.Key)).toContain(result.key);

    const archive = await download(result.key);
    expect(archive.length).toBe(result.bytes);
    expect(archive.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    const out = mkdtempSync(join(tmpdir(), "devs-untar-"));
    writeFileSync(join(out, "a.tar.gz"), archive);
    execFileSync("tar", ["-xzf", "a.tar.gz"], { cwd: out });
    const root = join(out, "devs-ci-d1");
    expect(readFileSync(join(root, "devs-ci.log"), "utf8")).toBe("full log\n");
    expect(readFileSync(join(root, "test-results", "junit", "report.xml"), "utf8")).toBe('<testsuite tests="1"/>');
    expect(readFileSync(join(root, "test-results", "report.md"), "utf8")).toBe("# Report\n\nAll good ✓\n");
    expect(readFileSync(join(root, "empty.txt"), "utf8")).toBe("");
    expect(readFileSync(join(root, "big.bin")).equals(readFileSync(join(dir, "big.bin")))).toBe(true);
    expect(readFileSync(join(root, "a".repeat(60), "b".repeat(60), `${"c".repeat(90)}.log`), "utf8")).toBe("deep file\n");
    expect(readFileSync(join(root, "ünïcödé.txt"), "utf8")).toBe("unicode name\n");
    expect(statSync(join(root, "empty-dir")).isDirectory()).toBe(true);
    expect(lstatSync(join(root, "escape")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(root, "escape"))).toBe("/etc/passwd");
    expect(readlinkSync(join(root, "long-link"))).toBe(`../${"x".repeat(120)}/target`);
    // Nothing outside the root directory.
    const entries = execFileSync("tar", ["-tzf", "a.tar.gz"], { cwd: out, encoding: "utf8" }).trim().split("\n");
    expect(entries.every((e) => e.startsWith("devs-ci-d1/"))).toBe(true);
    expect(artifactLink(result)).toEqual({ url: result.url, label: `20261129-120000.tar.gz (${(result.bytes / 1024).toFixed(1)} KiB)` });
  });

  it("a FIFO is left out (named in skipped), and the byte budget is kept", async () => {
    const dir = mkdtempSync(join(tmpdir(), "devs-bridge-"));
    writeFileSync(join(dir, "a.txt"), "a".repeat(1000));
    writeFileSync(join(dir, "b.txt"), "b".repeat(1000));
    execFileSync("mkfifo", [join(dir, "pipe")]);
    const result = await new S3ArtifactStore(storeOptions({ maxBytes: 1500 })).upload({ archive: archiveOf(dir), repo: "acme/widgets", kind: "tests", rootName: basename(dir) });
    if (result.kind !== "uploaded") throw new Error(`not uploaded: ${JSON.stringify(result)}`);
    expect(result.files).toBe(1);
    const root = basename(dir);
    expect(result.skipped).toEqual([`${root}/b.txt: over the 1500-byte budget`, `${root}/pipe: not a regular file, directory or link`]);
    const out = mkdtempSync(join(tmpdir(), "devs-untar-"));
    writeFileSync(join(out, "a.tar.gz"), await download(result.key));
    execFileSync("tar", ["-xzf", "a.tar.gz"], { cwd: out });
    expect(readFileSync(join(out, root, "a.txt"), "utf8")).toBe("a".repeat(1000));
    expect(existsSync(join(out, root, "b.txt"))).toBe(false);
  });

  it("an archive over its bounds in entries or bytes is packed up to them with a note; a huge file is left out", async () => {
    const dir = mkdtempSync(join(tmpdir(), "devs-bridge-"));
    for (let i = 0; i < 40; i++) writeFileSync(join(dir, `f${String(i).padStart(2, "0")}.txt`), "x".repeat(100));
    const entries = await new S3ArtifactStore(storeOptions({ archiveLimits: { maxEntries: 25 } })).upload({ archive: archiveOf(dir), repo: "acme/widgets", kind: "tests", rootName: "r" });
    if (entries.kind !== "uploaded") throw new Error(`not uploaded: ${JSON.stringify(entries)}`);
    expect(entries.files).toBe(25);
    expect(entries.skipped).toEqual(["the bridge directory holds more than 25 entries; only the first 25 were read"]);

    writeFileSync(join(dir, "huge.bin"), Buffer.alloc(3 * 1024 * 1024));
    const bytes = await new S3ArtifactStore(storeOptions({ archiveLimits: { maxFileBytes: 1024 * 1024 } })).upload({ archive: archiveOf(dir), repo: "acme/widgets", kind: "tests", rootName: "r" });
    if (bytes.kind !== "uploaded") throw new Error(`not uploaded: ${JSON.stringify(bytes)}`);
    expect(bytes.files).toBe(40);
    expect(bytes.skipped).toEqual(["1 file larger than 1 MiB was left out"]);
    const total = await new S3ArtifactStore(storeOptions({ archiveLimits: { maxBytes: 2000 } })).upload({ archive: archiveOf(dir), repo: "acme/widgets", kind: "tests", rootName: "r" });
    if (total.kind !== "uploaded") throw new Error(`not uploaded: ${JSON.stringify(total)}`);
    expect(total.files).toBe(20);
    expect(total.skipped).toEqual(["the bridge directory holds more than 2,000 bytes of files; `f20.txt` and what follows were left out"]);
  });

  it("a stream that is not a tar is a note, never an exception", async () => {
    const { Readable } = await import("node:stream");
    const junk = () => Promise.resolve(Readable.from([Buffer.from("this is not a tar archive".repeat(100))]));
    const result = await new S3ArtifactStore(storeOptions()).upload({ archive: junk, repo: "acme/widgets", kind: "tests", rootName: "r" });
    expect(result.kind).toBe("failed");
  });

  it("from the settings: AWS_ENDPOINT_URL path-style, no base URL means an s3:// location", async () => {
    const settings = testSettings({ AWS_S3_ARTIFACT_BUCKET: BUCKET, AWS_S3_ARTIFACT_PREFIX: "ci/runs", AWS_ENDPOINT_URL: endpoint, AWS_REGION: "eu-west-1" });
    const store = artifactStoreFromSettings(settings, { credentials })!;
    const dir = bridgeDir();
    const result = await store.upload({ archive: archiveOf(dir), repo: "acme/Widgets", kind: "tests", rootName: "r" });
    if (result.kind !== "uploaded") throw new Error(`not uploaded: ${JSON.stringify(result)}`);
    expect(result.key).toMatch(/^ci\/runs\/acme-widgets\/tests\/[A-Za-z0-9_-]{43}\/\d{8}-\d{6}\.tar\.gz$/);
    expect(result.url).toBeNull();
    expect(artifactLink(result)).toEqual({ note: `uploaded to \`s3://${BUCKET}/${result.key}\`` });
    expect((await download(result.key)).length).toBe(result.bytes);
    expect(artifactStoreFromSettings(testSettings({}))).toBeNull();
  });

  it("each upload gets its own random token", async () => {
    const store = new S3ArtifactStore(storeOptions());
    const dir = bridgeDir();
    const [a, b] = await Promise.all([store.upload({ archive: archiveOf(dir), repo: "acme/widgets", kind: "tests", rootName: "r" }), store.upload({ archive: archiveOf(dir), repo: "acme/widgets", kind: "tests", rootName: "r" })]);
    if (a.kind !== "uploaded" || b.kind !== "uploaded") throw new Error("not uploaded");
    expect(a.key.split("/")[3]).not.toBe(b.key.split("/")[3]);
  });

  it("an empty or missing directory uploads nothing", async () => {
    const store = new S3ArtifactStore(storeOptions({ prefix: "empty-check" }));
    expect(await store.upload({ archive: archiveOf(mkdtempSync(join(tmpdir(), "devs-bridge-"))), repo: "acme/widgets", kind: "tests", rootName: "r" })).toEqual({ kind: "empty", note: "the run left no artifacts" });
    // Docker answers 404 for a path that does not exist in the container.
    const missing = () => Promise.reject(Object.assign(new Error("no such file"), { statusCode: 404 }));
    expect(await store.upload({ archive: missing, repo: "acme/widgets", kind: "tests", rootName: "r" })).toEqual({ kind: "empty", note: "the run left no artifacts" });
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: "empty-check/" }));
    expect(listed.Contents ?? []).toEqual([]);
  });

  it("a missing bucket is a note, never an exception", async () => {
    const result = await new S3ArtifactStore(storeOptions({ bucket: "no-such-bucket" })).upload({ archive: archiveOf(bridgeDir()), repo: "acme/widgets", kind: "tests", rootName: "r" });
    expect(result.kind).toBe("failed");
    expect(result.kind === "failed" && result.note).toMatch(/^the artifacts could not be uploaded \(NoSuchBucket/);
  });

  it("an unreachable endpoint is a note, never an exception", async () => {
    // A port that was just free on loopback.
    const probe = buildApp({ logger: false });
    const closed = await probe.listen({ port: 0, host: "127.0.0.1" });
    await probe.close();
    const result = await new S3ArtifactStore(storeOptions({ endpoint: closed, timeoutMs: 5_000 })).upload({ archive: archiveOf(bridgeDir()), repo: "acme/widgets", kind: "tests", rootName: "r" });
    expect(result.kind).toBe("failed");
    expect(result.kind === "failed" && result.note).toMatch(/^the artifacts could not be uploaded \(/);
  });
});
