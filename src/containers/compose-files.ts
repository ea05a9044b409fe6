// Reads a Compose devcontainer's files from the tree the container is defined from, each opened
// so that a link cannot lead the host out of the repository, and plans them (compose.ts).
import { OutsideError, readInside } from "../workspace/inside.js";
import type { ComposeRef } from "./devcontainer.js";
import { ComposeError, planCompose, type ComposeFileText, type ComposeOptions, type ComposePlan } from "./compose.js";

/** At most this much YAML per file: a Compose file is a page or two. */
const MAX_COMPOSE_BYTES = 1024 * 1024;

export async function readCompose(setupDir: string, ref: ComposeRef, options: ComposeOptions): Promise<{ plan: ComposePlan; notes: string[] }> {
  const texts: ComposeFileText[] = [];
  for (const file of ref.files) {
    let text: string | null;
    try {
      text = await readInside(setupDir, file, MAX_COMPOSE_BYTES);
    } catch (error) {
      if (error instanceof OutsideError) throw new ComposeError(file, "is a link to a file outside the repository, or too large; it was not read");
      throw error;
    }
    if (text === null) throw new ComposeError(file, "does not exist (named by `dockerComposeFile` in devcontainer.json)");
    texts.push({ file, text });
  }
  return planCompose(texts, ref, options);
}
