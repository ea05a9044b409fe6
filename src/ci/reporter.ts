// One check per CI task for its whole life in this process, with every write about it in order:
// the pool's listener ("queued again", "cancelled while queued") and the runner ("in progress",
// "completed") share it, so a late "in progress" can never land after "completed". Writes are
// registered synchronously and run one after another; the runner need not wait for GitHub's write
// throttle (about one write a second) before it starts the tests.
import type { Logger } from "pino";
import type { GitHubClient } from "../github/client.js";
import type { TaskGitHub } from "../github/probot.js";
import type { Task } from "../tasks/task.js";
import { ciCheckForTask, type CiCheck, type CompleteInput, type CompleteResult } from "./checks.js";

export interface CiReporterOptions {
  github: TaskGitHub;
  log: Logger;
  /** A page with the run's details, if the server has one. */
  detailsUrl?: ((taskId: string) => string | null) | undefined;
  maxAnnotations?: number | undefined;
  now?: (() => Date) | undefined;
}

interface Entry {
  client: Promise<{ octokit: GitHubClient; token: string }> | null;
  check: Promise<CiCheck> | null;
  chain: Promise<unknown>;
  /** GitHub accepted a completion: the check is not left running. */
  completed: boolean;
}

export class CiReporter {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: CiReporterOptions) {}

  /** The task's GitHub client and token (minted once per task). */
  client(task: Task): Promise<{ octokit: GitHubClient; token: string }> {
    return this.clientOf(task, this.entry(task));
  }

  /** Runs `write` after every write registered before it for this task; registered at once. */
  write<T>(task: Task, write: (check: CiCheck) => Promise<T>): Promise<T> {
    const entry = this.entry(task);
    const next = entry.chain.then(async () => write(await this.check(task, entry)));
    // A failed write does not stop the next one (a later "completed" matters most).
    entry.chain = next.catch(() => undefined);
    return next;
  }

  /** Completes the check (after every earlier write) and remembers that it is done. */
  complete(task: Task, input: CompleteInput): Promise<CompleteResult> {
    const entry = this.entry(task);
    return this.write(task, async (check) => {
      const result = await check.complete(input);
      entry.completed = true;
      return result;
    });
  }

  /** Resolves when every write registered so far for the task has settled. */
  async settled(task: Task): Promise<void> {
    await this.entry(task).chain;
  }

  /** Whether a completion of the task's check was accepted (in this process). */
  isCompleted(taskId: string): boolean {
    return this.entries.get(taskId)?.completed ?? false;
  }

  /** Drops the task's state once its writes have settled. */
  forget(taskId: string): void {
    const entry = this.entries.get(taskId);
    if (!entry) return;
    void entry.chain.then(() => {
      if (this.entries.get(taskId) === entry) this.entries.delete(taskId);
    });
  }

  /** Tasks with state held (tests: nothing leaks). */
  get size(): number {
    return this.entries.size;
  }

  private entry(task: Task): Entry {
    let entry = this.entries.get(task.id);
    if (!entry) {
      entry = { client: null, check: null, chain: Promise.resolve(), completed: false };
      this.entries.set(task.id, entry);
    }
    return entry;
  }

  private clientOf(task: Task, entry: Entry): Promise<{ octokit: GitHubClient; token: string }> {
    if (entry.client) return entry.client;
    const client = this.options.github(task);
    entry.client = client;
    // Whoever awaits it sees the error; the next caller asks again (a token could not be minted).
    client.catch(() => {
      if (entry.client === client) entry.client = null;
    });
    return client;
  }

  private check(task: Task, entry: Entry): Promise<CiCheck> {
    if (entry.check) return entry.check;
    const check = (async () => {
      const { octokit } = await this.clientOf(task, entry);
      const options = {
        detailsUrl: this.options.detailsUrl?.(task.id) ?? null,
        ...(this.options.maxAnnotations !== undefined ? { maxAnnotations: this.options.maxAnnotations } : {}),
        ...(this.options.now ? { now: this.options.now } : {}),
      };
      const ci = task.ci;
      if (ci && ci.report === "checks" && ci.checkRunId === null) {
        // The queued check could not be created when the event arrived; an earlier attempt (before
        // a restart) may have created it since. Reuse it rather than leave it running forever.
        const id = await this.findByExternalId(octokit, task).catch((error: unknown) => {
          this.options.log.warn({ err: error, task: task.id }, "could not look for the task's check run");
          return null;
        });
        if (id !== null) return ciCheckForTask(octokit, { ...task, ci: { ...ci, checkRunId: id } }, options);
      }
      return ciCheckForTask(octokit, task, options);
    })();
    entry.check = check;
    // No client, or the lookup failed in a way that threw: the next write tries again.
    check.catch(() => {
      if (entry.check === check) entry.check = null;
    });
    return check;
  }

  private async findByExternalId(octokit: GitHubClient, task: Task): Promise<number | null> {
    const ci = task.ci!;
    const { data } = await octokit.request("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", {
      owner: task.repo.owner,
      repo: task.repo.name,
      ref: ci.headSha,
      check_name: ci.checkName,
      filter: "all",
      per_page: 100,
    });
    const runs = (data as { check_runs?: Array<{ id: number; external_id?: string | null }> }).check_runs ?? [];
    return runs.find((run) => run.external_id === task.id)?.id ?? null;
  }
}
