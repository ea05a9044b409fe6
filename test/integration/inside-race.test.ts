// Reading a tree that something hostile may still be changing: a process keeps swapping a file,
// and a directory, for links to a host secret while the host hashes and packs the build context
// and reads files through openInside. The secret never comes out, however the race falls.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import tar from "tar-stream";
import { afterEach, describe, expect, it } from "vitest";
import { buildContext, packContext } from "../../src/containers/image.js";
import { OutsideError, openInside, readInside } from "../../src/workspace/inside.js";
import { tempDir } from "../helpers/settings.js";

const SECRET = "-----BEGIN PRIVATE KEY----- host secret";

let swapper: ChildProcess | null = null;
afterEach(() => {
  swapper?.kill("SIGKILL");
  swapper = null;
});

function hostSecret(): { file: string; dir: string } {
  const dir = tempDir("devs-host-secret-");
  writeFileSync(join(dir, "key.pem"), SECRET);
  writeFileSync(join(dir, "data.txt"), SECRET);
  return { file: join(dir, "key.pem"), dir };
}

async function tarContents(stream: NodeJS.ReadableStream): Promise<string> {
  const extract = tar.extract();
  let all = "";
  extract.on("entry", (header, body, next) => {
    all += `${header.name} ${header.type} ${header.linkname ?? ""}\n`;
    body.on("data", (chunk: unknown) => (all += (chunk as Buffer).toString("utf8")));
    body.on("end", next);
    body.resume();
  });
  const done = new Promise<void>((resolve, reject) => {
    extract.on("finish", resolve);
    extract.on("error", reject);
    stream.on("error", reject);
  });
  stream.pipe(extract as unknown as NodeJS.WritableStream);
  await done;
  return all;
}

describe("openInside", () => {
  it("reads files and links that stay inside; refuses a link that leads outside", async () => {
    const root = tempDir("devs-inside-");
    const secret = hostSecret();
    mkdirSync(join(root, "sub"));
    writeFileSync(join(root, "sub", "a.txt"), "inside\n");
    symlinkSync("sub/a.txt", join(root, "inner-link"));
    symlinkSync(secret.file, join(root, "outer-link"));
    symlinkSync(secret.dir, join(root, "outer-dir"));
    expect(await readInside(root, "sub/a.txt")).toBe("inside\n");
    expect(await readInside(root, "inner-link")).toBe("inside\n");
    expect(await readInside(root, "missing")).toBeNull();
    expect(await readInside(root, "sub")).toBeNull();
    await expect(readInside(root, "outer-link")).rejects.toThrow(OutsideError);
    await expect(readInside(root, "outer-dir/key.pem")).rejects.toThrow(OutsideError);
  });

  it("a file and a folder swapped for links to a host secret while the host reads: the secret never comes out", async () => {
    const root = tempDir("devs-inside-race-");
    const secret = hostSecret();
    mkdirSync(join(root, "d"));
    writeFileSync(join(root, "f"), "plain\n");
    writeFileSync(join(root, "d", "data.txt"), "plain\n");
    writeFileSync(join(root, "Dockerfile"), "FROM scratch\n");
    // Swaps in and out as fast as a shell can, the way a test process left running would.
    swapper = spawn(
      "sh",
      [
        "-c",
        `cd "$1"; while :; do ln -sfn "$2" f.new; mv -fT f.new f; echo plain > f.new; mv -fT f.new f; ` +
          `ln -sfn "$3" d.new; mv -fT d.new d; mkdir -p d.real; echo plain > d.real/data.txt; mv -fT d.real d 2>/dev/null || rm -rf d.real; done`,
        "swapper",
        root,
        secret.file,
        secret.dir,
      ],
      { stdio: "ignore" },
    );
    let outsideRefused = 0;
    for (let i = 0; i < 300; i++) {
      for (const rel of ["f", "d/data.txt"]) {
        const text = await readInside(root, rel).catch((error: unknown) => {
          if (!(error instanceof OutsideError)) throw error;
          outsideRefused++;
          return null;
        });
        expect(text ?? "").not.toContain("host secret");
      }
      const file = await openInside(root, "f").catch(() => null);
      await file?.handle.close();
    }
    for (let i = 0; i < 40; i++) {
      const context = await buildContext(root, { dockerfile: "Dockerfile", context: ".", args: {}, target: null }).catch(() => null);
      if (!context) continue;
      const contents = await tarContents(packContext(context)).catch(() => "");
      expect(contents).not.toContain("host secret");
    }
    // The swapper really raced us: some reads found a link that leads outside.
    expect(outsideRefused).toBeGreaterThan(0);
  }, 60_000);
});
