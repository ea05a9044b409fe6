// Opening a file of a workspace, a tree that repository content (and, between tasks, a container)
// shaped. A path is checked and then opened in one step that cannot be raced: the last component
// is opened with O_NOFOLLOW, and the kernel's own record of what the descriptor refers to
// (/proc/self/fd) must lie inside the root. A directory swapped for a symlink after a check, or a
// link planted anywhere on the path, can therefore never make the host read one of its own files.
import { constants, type Stats } from "node:fs";
import { open, readlink, realpath, type FileHandle } from "node:fs/promises";
import { join, sep } from "node:path";

export class OutsideError extends Error {
  override name = "OutsideError";
}

export interface InsideFile {
  handle: FileHandle;
  stat: Stats;
}

/**
 * The regular file `rel` below `root`, open for reading; null when it does not exist or is not a
 * regular file. Links that stay inside `root` are followed; OutsideError when the file opened
 * lies outside it.
 */
export async function openInside(root: string, rel: string): Promise<InsideFile | null> {
  const base = await realpath(root);
  let handle: FileHandle;
  try {
    // realpath resolves links as they are now; the open refuses a link swapped in since, and the
    // check below catches any other change on the way.
    handle = await open(await realpath(join(base, rel)), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR" || code === "EISDIR") return null;
    throw error;
  }
  try {
    const actual = await readlink(`/proc/self/fd/${handle.fd}`);
    if (actual !== base && !actual.startsWith(base + sep)) throw new OutsideError(`${rel} leads outside ${root}`);
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      return null;
    }
    return { handle, stat };
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
}

/** The whole file as text (at most `maxBytes`), or null as openInside says. */
export async function readInside(root: string, rel: string, maxBytes = 16 * 1024 * 1024): Promise<string | null> {
  const file = await openInside(root, rel);
  if (!file) return null;
  try {
    if (file.stat.size > maxBytes) throw new OutsideError(`${rel} is larger than ${maxBytes} bytes`);
    const buffer = Buffer.alloc(file.stat.size);
    const { bytesRead } = await file.handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead).toString("utf8");
  } finally {
    await file.handle.close();
  }
}
