// The progress comment of a task (found again by its marker after a restart) and the reactions on
// what triggered it, through the installation client. Only the task's reporter writes them.
import type { GitHubClient } from "../github/client.js";
import type { Task } from "../tasks/task.js";
import { markerFor, renderProgress, type Progress } from "./progress.js";
import { addReaction, type Reaction } from "./reactions.js";
import type { LoopStep } from "../tasks/fix-loops.js";
import { withLoopParagraph } from "./loop-line.js";

export class TaskPublisher {
  private commentId: number | null = null;
  private lastBody: string | null = null;
  /** Progress writes run one at a time, in the order they were asked for. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly octokit: GitHubClient,
    private readonly task: Task,
    /** The task log's public link for the final comment (PUBLIC_URL), or null. */
    private readonly logUrl: string | null = null,
  ) {}

  private get repo() {
    return { owner: this.task.repo.owner, repo: this.task.repo.name };
  }

  /**
   * Creates the progress comment, or edits it; unchanged text is not sent again. `loop`: the CI
   * fix loop's steps so far, kept on the comment (a CI run may end before the task's last word).
   */
  progress(progress: Progress, loop: readonly LoopStep[] = []): Promise<void> {
    const next = this.chain.then(() => this.write(progress, loop));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async write(progress: Progress, loop: readonly LoopStep[]): Promise<void> {
    const body = withLoopParagraph(renderProgress(this.task.id, progress, this.logUrl), loop);
    if (body === this.lastBody) return;
    if (this.commentId === null) this.commentId = (await findProgressComment(this.octokit, this.task))?.id ?? null;
    if (this.commentId === null) {
      const { data } = await this.octokit.request("POST /repos/{owner}/{repo}/issues/{issue_number}/comments", {
        ...this.repo,
        issue_number: this.task.target.number,
        body,
      });
      this.commentId = Number(data.id);
    } else {
      await this.octokit.request("PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}", {
        ...this.repo,
        comment_id: this.commentId,
        body,
      });
    }
    this.lastBody = body;
  }

  async react(content: Reaction): Promise<void> {
    await addReaction(this.octokit, this.task.repo.owner, this.task.repo.name, this.task.target.number, this.task.trigger.subject, content);
  }
}

/** A task's progress comment, found by its marker (a retried task finds its first attempt's). Newest comments are searched first. */
export async function findProgressComment(octokit: GitHubClient, task: Task): Promise<{ id: number; body: string } | null> {
  const marker = markerFor(task.id);
  const { data } = await octokit.request("GET /repos/{owner}/{repo}/issues/{issue_number}/comments", {
    owner: task.repo.owner,
    repo: task.repo.name,
    issue_number: task.target.number,
    per_page: 100,
    since: task.createdAt,
  });
  const found = data.find((c) => c.body?.startsWith(marker));
  return found ? { id: Number(found.id), body: found.body ?? "" } : null;
}
