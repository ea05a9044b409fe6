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
import { TaskWrites } from "../publish/task-writes.js";
import { ciCheckForTask, conclusionForPoolState, type CiCheck, type CiConclusion, type CompleteInput } from "./checks.js";
import { ciCause, endedEarlyOutput, queuedOutput, runningOutput, supersededOutput } from "./report.js";
import { taskLogger } from "../logging.js";

/** What the CI runner hands its reporter: the check's completion, judged and rendered. */
export type CiReport = Pick<CompleteInput, "conclusion" | "output" | "annotations" | "detailsUrl"> & {
  /** Set only when the tests ran to a verdict (not timed out, cancelled, or broken before they ran). */
  judged?: JudgedRun | undefined;
};

/** What the CI fix loop hands the agent of a run that failed, already redacted. */
export interface JudgedRun {
  exitCode: number | null;
  /** Failed and errored JUnit tests; null without JUnit reports. */
  failed: number | null;
  /** One line per failed test: `name (file:line): message`. */
  failures: string[];
  /** The tests' names, for the loop's line. */
  failingNames: string[];
  /** The end of the command's output. */
  logTail: string;
}

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


export class CiReporter implements TaskReporter<CiReport> {
  private readonly writes: TaskWrites<KnownCheck>;
  /** Tasks a handler queued in this process: no earlier process can have made their check. */
  private readonly fresh = new Set<string>();

  constructor(private readonly options: CiReporterOptions) {
    this.writes = new TaskWrites((task) => this.check(task));
  }

  async queued(task: Task, info: { slot: string; position: number; interrupted: boolean; recovered: boolean }): Promise<void> {
    const ci = task.ci;
    if (!ci) return;
    if (!info.recovered) this.fresh.add(task.id);
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
    await this.write(task, "could not mark the check run queued again", ({ check }) =>
      check.queued({ title: "Queued again", summary: "The server stopped while this run was in progress; it runs again when the server is back." }),
    );
    // The next start is another process: it finds the check again.
    await this.forget(task.id);
  }

  async finished(task: Task, end: TaskEnd<CiReport>): Promise<void> {
    if (!task.ci) return;
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
    await this.forget(task.id);
  }

  /** Tasks with state held (tests: nothing leaks). */
  get size(): number {
    return this.writes.size;
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

  /** Runs `write` after every write registered before it for this task (task-writes.ts); a failure is logged, never thrown. */
  private write(task: Task, failure: string, write: (known: KnownCheck) => Promise<void>): Promise<void> {
    return this.writes.write(task, write).catch((error: unknown) => this.log(task).warn({ err: error }, failure));
  }

  private async forget(taskId: string): Promise<void> {
    await this.writes.forget(taskId);
    this.fresh.delete(taskId);
  }

  private log(task: Task): Logger {
    return taskLogger(this.options.log, { task: task.id, repo: task.repo.fullName });
  }

  /** The task's check, with whether an earlier process made it; made again by the next write if no client could be had. */
  private async check(task: Task): Promise<KnownCheck> {
    const { octokit } = await this.options.github(task);
    const options = {
      detailsUrl: this.options.detailsUrl?.(task.id) ?? null,
      ...(this.options.maxAnnotations !== undefined ? { maxAnnotations: this.options.maxAnnotations } : {}),
      ...(this.options.now ? { now: this.options.now } : {}),
    };
    const ci = task.ci!;
    // Tasks journaled by older builds carry the id of the check created at intake.
    if (ci.report !== "checks" || ci.checkRunId !== null || this.fresh.has(task.id)) return { check: ciCheckForTask(octokit, task, options), existed: ci.checkRunId !== null };
    // This process has not written to it: an earlier one (before a restart) may have created it.
    const id = await this.findByExternalId(octokit, task).catch((error: unknown) => {
      this.log(task).warn({ err: error }, "could not look for the task's check run");
      return null;
    });
    return { check: ciCheckForTask(octokit, { ...task, ci: { ...ci, checkRunId: id } }, options), existed: id !== null };
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
