// The 👀 that tells a user their request was taken. It is written after the delivery is answered:
// Octokit's write throttle spaces an installation's writes about a second apart (GitHub's rule for
// content creation), so a storm of mentions would otherwise hold each delivery for seconds, and
// GitHub gives up on a delivery after 10 s. The task is journaled before the 👀 is asked for, so
// nothing but the reaction waits; the same subject's 👀 is asked for once while one is on its way.
import type { Logger } from "pino";
import type { GitHubClient } from "../github/client.js";
import type { TriggerSubject } from "../tasks/task.js";
import { addReaction } from "./reactions.js";

export interface Acknowledged {
  owner: string;
  repo: string;
  targetNumber: number;
  subject: TriggerSubject;
}

export class Acknowledgements {
  private readonly writing = new Map<string, Promise<void>>();

  /** Asks for 👀 on `what` and returns at once; a failure is logged, never thrown. */
  eyes(octokit: GitHubClient, what: Acknowledged, log: Pick<Logger, "warn">): void {
    const key = `${what.owner}/${what.repo}`.toLowerCase() + `#${what.targetNumber}:${what.subject.type}:${what.subject.id}`;
    if (this.writing.has(key)) return;
    const write = addReaction(octokit, what.owner, what.repo, what.targetNumber, what.subject, "eyes")
      .catch((error: unknown) => log.warn({ err: error }, "could not add the 👀 reaction"))
      .finally(() => this.writing.delete(key));
    this.writing.set(key, write);
  }

  /** Resolves once every 👀 asked for so far is written or has failed (a shutdown, tests). */
  async idle(): Promise<void> {
    while (this.writing.size) await Promise.all(this.writing.values());
  }

  get pending(): number {
    return this.writing.size;
  }
}
