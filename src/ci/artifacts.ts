// CI artifacts: the run's bridge directory, as Docker's archive API sends it, re-packed as .tar.gz
// (bounded, links kept as links, special files left out) and put in S3 (AWS SDK v3) under
// `{prefix}/{owner-repo}/{kind}/{random token}/{timestamp}.tar.gz`. Nothing is read from a host
// path the container wrote: the archive is data from Docker, and the .tar.gz is written to a new
// 0600 file in a fresh host directory. The random token keeps links unguessable for buckets served
// publicly through AWS_S3_ARTIFACT_BASE_URL. An upload never decides a test's conclusion: every
// failure comes back as a note for the check run.
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Settings } from "../settings.js";
import { packBridgeArchive, type ArchiveLimits } from "./bridge-archive.js";
import type { ArtifactLink } from "./report.js";
import { safeName } from "../names/safe-name.js";

export interface ArtifactStoreOptions {
  bucket: string;
  /** Key prefix (AWS_S3_ARTIFACT_PREFIX); empty for none. */
  prefix: string;
  /** Public base URL for links (AWS_S3_ARTIFACT_BASE_URL); null: links are s3:// only. */
  baseUrl: string | null;
  region: string;
  /** AWS_ENDPOINT_URL: an S3-compatible endpoint, addressed path-style. */
  endpoint: string | null;
  /** Explicit credentials; otherwise the SDK's default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** A ready client (tests, or a shared one). */
  client?: S3Client | undefined;
  /** Give up on an upload after this long (default 5 minutes). */
  timeoutMs?: number | undefined;
  /** Bytes of file content archived at most (default 1 GiB). */
  maxBytes?: number | undefined;
  /** Bounds on reading the bridge directory's archive (entries, bytes, depth). */
  archiveLimits?: ArchiveLimits | undefined;
  /** Where the archive is written before upload (default the OS temp directory). */
  scratchDir?: string | undefined;
  now?: (() => Date) | undefined;
  token?: (() => string) | undefined;
}

export interface UploadInput {
  /**
   * Opens the bridge directory's tar stream (Docker's archive API). A rejection with status 404
   * (the directory is gone) is no artifacts.
   */
  archive: () => Promise<NodeJS.ReadableStream>;
  /** owner/name. */
  repo: string;
  /** `tests` for CI runs. */
  kind: string;
  /** Top directory inside the archive. */
  rootName: string;
  /** Files added at the archive's root, such as the full (redacted) log. */
  extraFiles?: ReadonlyArray<{ name: string; content: string | Buffer }> | undefined;
}

export type ArtifactResult =
  | {
      kind: "uploaded";
      key: string;
      s3Uri: string;
      /** The public link, when AWS_S3_ARTIFACT_BASE_URL is set. */
      url: string | null;
      /** Size of the .tar.gz. */
      bytes: number;
      files: number;
      /** Entries left out of the archive, if any. */
      skipped: string[];
    }
  | { kind: "empty"; note: string }
  | { kind: "failed"; note: string };

export interface ArtifactStore {
  upload(input: UploadInput): Promise<ArtifactResult>;
}

/** The store the settings describe, or null when AWS_S3_ARTIFACT_BUCKET is not set. */
export function artifactStoreFromSettings(
  settings: Pick<Settings, "s3ArtifactBucket" | "s3ArtifactPrefix" | "s3ArtifactBaseUrl" | "awsRegion" | "awsEndpointUrl">,
  extra: Partial<ArtifactStoreOptions> = {},
): ArtifactStore | null {
  if (!settings.s3ArtifactBucket) return null;
  return new S3ArtifactStore({
    bucket: settings.s3ArtifactBucket,
    prefix: settings.s3ArtifactPrefix,
    baseUrl: settings.s3ArtifactBaseUrl,
    region: settings.awsRegion,
    endpoint: settings.awsEndpointUrl,
    ...extra,
  });
}

export class S3ArtifactStore implements ArtifactStore {
  private readonly client: S3Client;

  constructor(private readonly options: ArtifactStoreOptions) {
    this.client =
      options.client ??
      new S3Client({
        region: options.region,
        ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
  }

  async upload(input: UploadInput): Promise<ArtifactResult> {
    const key = artifactKey({
      prefix: this.options.prefix,
      repo: input.repo,
      kind: input.kind,
      token: this.options.token?.() ?? randomToken(),
      at: this.options.now?.() ?? new Date(),
    });
    let scratch: string | null = null;
    try {
      const source = await input.archive().catch((error: unknown) => {
        if ((error as { statusCode?: unknown }).statusCode === 404) return null;
        throw error;
      });
      scratch = await mkdtemp(join(this.options.scratchDir ?? tmpdir(), "devs-artifact-"));
      const archive = join(scratch, "artifacts.tar.gz");
      const summary = await packBridgeArchive(source, archive, {
        rootName: input.rootName,
        extraFiles: input.extraFiles,
        maxBytes: this.options.maxBytes,
        limits: this.options.archiveLimits,
      });
      // Only the root directory: the run left nothing.
      if (summary.files + summary.symlinks + summary.directories <= 1 && !summary.skipped.length) return { kind: "empty", note: "the run left no artifacts" };
      const { size } = await stat(archive);
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.options.bucket,
          Key: key,
          Body: createReadStream(archive),
          ContentLength: size,
          ContentType: "application/gzip",
        }),
        { abortSignal: AbortSignal.timeout(this.options.timeoutMs ?? 5 * 60_000) },
      );
      return {
        kind: "uploaded",
        key,
        s3Uri: `s3://${this.options.bucket}/${key}`,
        url: this.options.baseUrl ? `${this.options.baseUrl.replace(/\/+$/, "")}/${key}` : null,
        bytes: size,
        files: summary.files,
        skipped: summary.skipped,
      };
    } catch (error) {
      return { kind: "failed", note: `the artifacts could not be uploaded (${describeError(error)})` };
    } finally {
      if (scratch) await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

/** `{prefix}/{owner-repo}/{kind}/{token}/{yyyymmdd-HHMMSS}.tar.gz`, every segment URL-safe. */
export function artifactKey(input: { prefix: string; repo: string; kind: string; token: string; at: Date }): string {
  const segment = (s: string) => safeName(s, "url") || "x";
  const prefix = input.prefix
    .split("/")
    .map((p) => p.trim())
    .filter(Boolean)
    .map(segment);
  const stamp = input.at.toISOString().replace(/[-:]/g, "").replace("T", "-").replace(/\.\d+Z$/, "");
  return [...prefix, segment(input.repo.replace("/", "-")), segment(input.kind), input.token, `${stamp}.tar.gz`].join("/");
}

/** 32 random bytes, base64url (43 characters), as the original's token_urlsafe(32). */
export function randomToken(): string {
  return randomBytes(32).toString("base64url");
}

/** What the check run shows for an upload: a link, the s3:// location, or why there is none. */
export function artifactLink(result: ArtifactResult | null): ArtifactLink | null {
  if (!result) return null;
  switch (result.kind) {
    case "uploaded":
      return result.url ? { url: result.url, label: `${result.key.split("/").pop()} (${formatBytes(result.bytes)})` } : { note: `uploaded to \`${result.s3Uri}\`` };
    case "empty":
    case "failed":
      return { note: result.note };
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return "unknown error";
  const line = (error.message.split("\n")[0] ?? "").trim().slice(0, 200);
  const name = error.name && error.name !== "Error" ? error.name : "";
  return [name, line].filter(Boolean).join(": ") || "unknown error";
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}
