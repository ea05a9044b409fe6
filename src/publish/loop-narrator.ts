// The one writer of the CI fix loop's line: it edits the root task's progress comment, whichever
// process wrote the rest of it, replacing only the loop's paragraph (publish/loop-line.ts). Writes
// for one loop run one after another, so a late step never lands before an earlier one.
import type { Logger } from "pino";
import type { GitHubClient } from "../github/client.js";
import type { Task } from "../tasks/task.js";
import { findProgressComment } from "./github.js";
import type { LoopStep } from "../tasks/fix-loops.js";
import { withLoopParagraph } from "./loop-line.js";

export class LoopNarrator {
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly options: {
      github(task: Task): Promise<{ octokit: GitHubClient }>;
      log: Logger;
    },
  ) {}

  /** Shows `steps` on the root task's comment; a failure is logged, never thrown. */
  tell(root: Task, steps: readonly LoopStep[]): Promise<void> {
    const previous = this.chains.get(root.id) ?? Promise.resolve();
    const next = previous.then(() => this.write(root, steps)).catch((error: unknown) =>
      this.options.log.warn({ err: error, task: root.id }, "could not show the CI fix loop on the task's comment"),
    );
    this.chains.set(root.id, next);
    void next.finally(() => {
      if (this.chains.get(root.id) === next) this.chains.delete(root.id);
    });
    return next;
  }

  private async write(root: Task, steps: readonly LoopStep[]): Promise<void> {
    const { octokit } = await this.options.github(root);
    const comment = await findProgressComment(octokit, root);
    if (!comment) {
      this.options.log.warn({ task: root.id }, "the task's progress comment is gone; the CI fix loop is not shown");
      return;
    }
    const body = withLoopParagraph(comment.body, steps);
    if (body === comment.body) return;
    await octokit.request("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", {
      owner: root.repo.owner,
      repo: root.repo.name,
      comment_id: comment.id,
      body,
    });
  }
}
