// Keys that recognise the same trigger arriving twice under different delivery ids (for example
// from both a repository webhook and the App). Pure.
import { createHash } from "node:crypto";

export interface ContentKeyInput {
  event: string;
  repo: string;
  /** The comment or review id, or the issue/PR number for issue and PR events. */
  subjectId: number;
  /** The text that triggered, or the assignee for assignments. */
  text: string;
  /** Distinguishes repeated assignments of the same issue (its updated_at). */
  revision?: string | undefined;
}

export function contentKey(input: ContentKeyInput): string {
  const hash = createHash("sha256");
  hash.update([input.event, input.repo.toLowerCase(), String(input.subjectId), input.revision ?? "", input.text].join("\u0000"));
  return hash.digest("hex").slice(0, 32);
}
