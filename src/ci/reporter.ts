// The CI kind's reporter: the only writer to GitHub about a CI task. One check run (or commit
// status, in token mode) per task, told what the pool says of it — queued, running, queued again
// after a shutdown or a restart, completed with the runner's report or, when there is none, with
// what ended the task (cancelled while queued, superseded by a newer push, given up after restarts,
// a runner that threw). Writes are registered synchronously and run one after another, so a late
// "in progress" can never land after "completed", and the tests never wait for GitHub's write
// throttle (about one write a second).
import type { Logger } from "pino";
import type { GitHubClient } from "../github/client.js";
import type { TaskGitHub } from "../github/probot.js";
import { safeErrorSummary, type Redactor } from "../publish/redact.js";
import type { TaskEnd, TaskReporter } from "../tasks/execution.js";
import type { Task } from "../tasks/task.js";
import { ciCheckForTask, conclusionForPoolState, type CiCheck, type CiConclusion, type CompleteInput } from "./checks.js";
import { ciCause, endedEarlyOutput, queuedOutput, runningOutput, supersededOutput } from "./report.js";

/** What the CI runner hands its reporter: the check's completion, judged and rendered. */
export type CiReport = Pick<CompleteInput, "conclusion" | "output" | "annotations" | "detailsUrl">;

export interface CiReporterOptions {
  github: TaskGitHub;
  /** The settings' secrets: nothing the reporter renders may show them. */
  redact: Redactor;
  log: Logger;
  /** A page with the run's details, if the server has one. */
  detailsUrl?: ((taskId: string) => string | null) | undefined;
  maxAnnotations?: number | undefined;
  now?: (() => Date) | undefined;
}

/** The task's check, and whether it existed before this process wrote to it. */
interface KnownCheck {
  check: CiCheck;
  /** Created by an earlier process (its id in the snapshot, or found by external_id). */
  existed: boolean;
}

interface Entry {
  client: Promise<GitHubClient> | null;
  check: Promise<KnownCheck> | null;
  chain: Promise<unknown>;
  /** Queued by a handler in this process: no earlier process can have made its check. */
  fresh: boolean;
}

export class CiReporter implements TaskReporter<CiReport> {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly options: CiReporterOptions) {}

  async queued(task: Task, info: { slot: string; position: number; interrupted: boolean; recovered: boolean }): Promise<void> {
    const ci = task.ci;
    if (!ci) return;
    if (!info.recovered) this.entry(task).fresh = true;
    await this.write(task, info.interrupted ? "could not mark the check run queued again" : "could not create the queued check run", async ({ check, existed }) => {
      if (info.interrupted) {
        await check.queued({
          title: "Queued again",
          summary: `A restart of the server interrupted this run; it runs again from the start when \`${info.slot}\` is free.`,
        });
      } else if (!existed) {
        await check.queued(queuedOutput({ command: ci.testCommand, headSha: ci.headSha, cause: ciCause(ci), sender: task.sender }, this.options.redact));
      }
      // An earlier process created it and it has said "queued" (or "queued again") since.
    });
  }

  async started(task: Task, info: { slot: string; interrupted: boolean }): Promise<void> {
    const ci = task.ci;
    if (!ci) return;
    const output = runningOutput({ container: info.slot, command: ci.testCommand, retry: info.interrupted }, this.options.redact);
    await this.write(task, "could not mark the check run in progress", ({ check }) => check.inProgress(info.slot, output));
  }

  async suspended(task: Task): Promise<void> {
    if (!task.ci) return;
    const entry = this.entry(task);
    await this.write(task, "could not mark the check run queued again", ({ check }) =>
      check.queued({ title: "Queued again", summary: "The server stopped while this run was in progress; it runs again when the server is back." }),
    );
    // The next start is another process: it finds the check again.
    this.drop(task.id, entry);
  }

  async finished(task: Task, end: TaskEnd<CiReport>): Promise<void> {
    if (!task.ci) return;
    const entry = this.entry(task);
    const log = this.log(task);
    const report = end.ran?.report;
    await this.write(task, "could not complete the check run of a task that ended", async ({ check }) => {
      if (report) {
        await this.completeWithReport(task, check, report, end);
      } else if (end.ran === null && end.cancellation?.supersededBy) {
        await check.complete({ conclusion: "cancelled", output: supersededOutput(end.cancellation.supersededBy) });
        log.info({ newer: end.cancellation.supersededBy }, "completed the check of a run a newer push superseded");
      } else if (end.state === "done") {
        log.warn("the run ended done without a report; the check is left as it is");
      } else {
        await this.completeEndedEarly(task, check, end.state, end.detail ?? (end.state === "cancelled" ? "it was cancelled" : "the task ended"));
      }
    });
    this.drop(task.id, entry);
  }

  /** Tasks with state held (tests: nothing leaks). */
  get size(): number {
    return this.entries.size;
  }

  private async completeWithReport(task: Task, check: CiCheck, report: CiReport, end: TaskEnd<CiReport>): Promise<void> {
    const log = this.log(task);
    let result;
    try {
      result = await check.complete(report);
    } catch (error) {
      // GitHub refused the report (or was out of reach): the check is not left running. A time
      // limit or a cancel says what ended it; otherwise the error does.
      log.error({ err: error }, "could not report the CI run");
      if (end.state === "timed_out" || end.state === "cancelled") await this.completeEndedEarly(task, check, end.state, end.detail ?? "the task ended");
      else await this.completeEndedEarly(task, check, "failed", safeErrorSummary(error, { redactor: this.options.redact }));
      return;
    }
    if (result.dropped || result.annotationError) {
      log.warn({ err: result.annotationError ?? undefined, sent: result.annotations, dropped: result.dropped }, "not every annotation reached the check run");
    }
    log.info({ conclusion: report.conclusion }, "CI run reported");
  }

  private async completeEndedEarly(task: Task, check: CiCheck, state: "failed" | "timed_out" | "cancelled", reason: string): Promise<void> {
    const conclusion: CiConclusion = conclusionForPoolState(state);
    await check.complete({ conclusion, output: endedEarlyOutput(conclusion, reason, this.options.redact) });
    this.log(task).info({ conclusion, reason }, "completed the check of a run that ended without its own report");
  }

  /** Runs `write` after every write registered before it for this task; registered at once. Never throws. */
  private write(task: Task, failure: string, write: (known: KnownCheck) => Promise<void>): Promise<void> {
    const entry = this.entry(task);
    const next = entry.chain.then(async () => write(await this.check(task, entry)));
    // A failed write does not stop the next one (a later "completed" matters most).
    const settled = next.catch((error: unknown) => this.log(task).warn({ err: error }, failure));
    entry.chain = settled;
    return settled;
  }

  private log(task: Task): Logger {
    return this.options.log.child({ task: task.id, repo: task.repo.fullName });
  }

  private entry(task: Task): Entry {
    let entry = this.entries.get(task.id);
    if (!entry) {
      entry = { client: null, check: null, chain: Promise.resolve(), fresh: false };
      this.entries.set(task.id, entry);
    }
    return entry;
  }

  /** Forgets the task once every write registered so far has settled. */
  private drop(taskId: string, entry: Entry): void {
    void entry.chain.then(() => {
      if (this.entries.get(taskId) === entry) this.entries.delete(taskId);
    });
  }

  private client(task: Task, entry: Entry): Promise<GitHubClient> {
    if (entry.client) return entry.client;
    const client = this.options.github(task).then(({ octokit }) => octokit);
    entry.client = client;
    // Whoever awaits it sees the error; the next write asks again (a token could not be minted).
    client.catch(() => {
      if (entry.client === client) entry.client = null;
    });
    return client;
  }

  private check(task: Task, entry: Entry): Promise<KnownCheck> {
    if (entry.check) return entry.check;
    const check = (async (): Promise<KnownCheck> => {
      const octokit = await this.client(task, entry);
      const options = {
        detailsUrl: this.options.detailsUrl?.(task.id) ?? null,
        ...(this.options.maxAnnotations !== undefined ? { maxAnnotations: this.options.maxAnnotations } : {}),
        ...(this.options.now ? { now: this.options.now } : {}),
      };
      const ci = task.ci!;
      // Tasks journaled by older builds carry the id of the check created at intake.
      if (ci.report !== "checks" || ci.checkRunId !== null || entry.fresh) return { check: ciCheckForTask(octokit, task, options), existed: ci.checkRunId !== null };
      // This process has not written to it: an earlier one (before a restart) may have created it.
      const id = await this.findByExternalId(octokit, task).catch((error: unknown) => {
        this.log(task).warn({ err: error }, "could not look for the task's check run");
        return null;
      });
      return { check: ciCheckForTask(octokit, { ...task, ci: { ...ci, checkRunId: id } }, options), existed: id !== null };
    })();
    entry.check = check;
    // No client: the next write tries again.
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
    const found = data.check_runs.find((run) => run.external_id === task.id);
    return found ? Number(found.id) : null;
  }
}
