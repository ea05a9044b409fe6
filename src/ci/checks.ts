// One helper for every GitHub write about a CI run, so each run has the same shape (the dcoapp
// pattern): created `queued` with the task, `in_progress` with the container when it starts,
// `completed` with a conclusion chosen with care, never left running. Annotations go 50 a request;
// further updates append them.
//
// Token mode (a plain repository webhook with GITHUB_TOKEN, no App) cannot use the Checks API, so
// the same calls become commit statuses (context = the check name). What is lost there: the queued
// vs. running distinction (both `pending`, told apart only by the description), the output (title,
// summary and log text shrink to a 140-character description), annotations, the "Re-run" and "Run
// tests" buttons (so a fork's pull request cannot be started by a maintainer), `timed_out` and
// `cancelled` (both `error`) and `neutral` (`success`), and `external_id`.
import type { GitHubClient } from "../github/client.js";
import type { Task, TaskRepo } from "../tasks/task.js";

export const DEFAULT_CHECK_NAME = "devs-ci";

/** GitHub's limits (probot-notes §4). */
const ANNOTATIONS_PER_REQUEST = 50;
export const MAX_OUTPUT_CHARS = 65_535;
const MAX_ANNOTATION_TITLE = 255;
const MAX_ANNOTATION_BYTES = 64 * 1024;
const MAX_STATUS_DESCRIPTION = 140;
/** More annotations cost one request per 50 (and throttling allows one write a second). */
export const DEFAULT_MAX_ANNOTATIONS = 500;

export type CiConclusion = "success" | "failure" | "timed_out" | "cancelled" | "action_required" | "neutral";
export type CiReportMode = "checks" | "statuses";
export type StatusState = "pending" | "success" | "failure" | "error";

/** A request to cancel a pull request's older CI runs once a newer commit is queued. */
export interface SupersedeRequest {
  repo: TaskRepo;
  prNumber: number;
  /** The newer commit, for the message on the older runs. */
  headSha: string;
  /** The task just queued for the newer commit: never cancelled. */
  keepTaskId: string;
}

export interface CheckAnnotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number | undefined;
  end_column?: number | undefined;
  annotation_level: "notice" | "warning" | "failure";
  message: string;
  title?: string | undefined;
  raw_details?: string | undefined;
}

export interface CheckOutput {
  title: string;
  summary: string;
  text?: string | undefined;
}

/** A button on the check (at most 3; label ≤ 20, description ≤ 40, identifier ≤ 20 characters). */
export interface CheckAction {
  label: string;
  description: string;
  identifier: string;
}

export interface CiCheckTarget {
  owner: string;
  repo: string;
  headSha: string;
}

export interface CiCheckOptions {
  mode: CiReportMode;
  /** The check run's name, or the status context. */
  name: string;
  /** Our id for the run: the task id. */
  externalId?: string | undefined;
  detailsUrl?: string | null | undefined;
  /** A check run that already exists (created when the task was queued). */
  checkRunId?: number | null | undefined;
  maxAnnotations?: number | undefined;
  now?: (() => Date) | undefined;
}

export interface CompleteInput {
  conclusion: CiConclusion;
  output: CheckOutput;
  annotations?: readonly CheckAnnotation[] | undefined;
  actions?: readonly CheckAction[] | undefined;
  /** Replaces the details link (for example with the artifacts). */
  detailsUrl?: string | null | undefined;
}

export interface CompleteResult {
  /** Annotations GitHub accepted. */
  annotations: number;
  /** Annotations not sent: over the limit, or after a failed batch. */
  dropped: number;
  /** A later annotation batch failed; the conclusion itself was recorded. */
  annotationError: unknown;
}

export class CiCheck {
  private checkRunId: number | null;
  private readonly now: () => Date;

  constructor(
    private readonly octokit: GitHubClient,
    private readonly target: CiCheckTarget,
    private readonly options: CiCheckOptions,
  ) {
    this.checkRunId = options.checkRunId ?? null;
    this.now = options.now ?? (() => new Date());
  }

  /** The check run's id; null in status mode or before one was created. */
  get id(): number | null {
    return this.checkRunId;
  }

  get mode(): CiReportMode {
    return this.options.mode;
  }

  /** Created when the task is queued, so the pull request shows it waiting. */
  async queued(output: CheckOutput): Promise<void> {
    if (this.options.mode === "statuses") return this.status("pending", output.title);
    if (this.checkRunId !== null) {
      await this.update({ status: "queued", output: clampOutput(output) });
      return;
    }
    await this.create({ status: "queued", output: clampOutput(output) });
  }

  /** The run started in `container`; the output should name it (see `runningOutput`). */
  async inProgress(container: string, output?: CheckOutput): Promise<void> {
    const shown = output ?? { title: `Running in ${container}`, summary: `Running in container \`${container}\`.` };
    if (this.options.mode === "statuses") return this.status("pending", shown.title);
    const body = { status: "in_progress", started_at: this.timestamp(), output: clampOutput(shown) };
    if (this.checkRunId === null) await this.create(body);
    else await this.update(body);
  }

  /** Completes the run (or creates it completed); annotations beyond the first 50 follow in updates. */
  async complete(input: CompleteInput): Promise<CompleteResult> {
    const limit = this.options.maxAnnotations ?? DEFAULT_MAX_ANNOTATIONS;
    const all = (input.annotations ?? []).map(clampAnnotation);
    const kept = all.slice(0, limit);
    const result: CompleteResult = { annotations: 0, dropped: all.length - kept.length, annotationError: null };
    if (this.options.mode === "statuses") {
      await this.status(statusState(input.conclusion), input.output.title, input.detailsUrl);
      result.dropped = all.length;
      return result;
    }
    const output = clampOutput(input.output);
    const batches = chunk(kept, ANNOTATIONS_PER_REQUEST);
    const body: Record<string, unknown> = {
      status: "completed",
      conclusion: input.conclusion,
      completed_at: this.timestamp(),
      output: batches[0] ? { ...output, annotations: batches[0] } : output,
    };
    if (input.actions?.length) body.actions = input.actions;
    if (input.detailsUrl) body.details_url = input.detailsUrl;
    if (this.checkRunId === null) await this.create(body);
    else await this.update(body);
    result.annotations = batches[0]?.length ?? 0;
    for (const batch of batches.slice(1)) {
      try {
        // Title and summary are required with an output; the text is sent again so it stays.
        await this.update({ output: { ...output, annotations: batch } });
        result.annotations += batch.length;
      } catch (error) {
        result.annotationError = error;
        result.dropped += kept.length - result.annotations;
        break;
      }
    }
    return result;
  }

  private async create(fields: Record<string, unknown>): Promise<void> {
    const { owner, repo, headSha } = this.target;
    const { data } = await this.octokit.request("POST /repos/{owner}/{repo}/check-runs", {
      owner,
      repo,
      name: this.options.name,
      head_sha: headSha,
      ...(this.options.externalId ? { external_id: this.options.externalId } : {}),
      ...(this.options.detailsUrl ? { details_url: this.options.detailsUrl } : {}),
      ...fields,
    });
    this.checkRunId = Number(data.id); // int64 in the OpenAPI types; JSON gives a number
  }

  private async update(fields: Record<string, unknown>): Promise<void> {
    const { owner, repo } = this.target;
    await this.octokit.request("PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}", {
      owner,
      repo,
      check_run_id: this.checkRunId!,
      ...fields,
    });
  }

  private async status(state: StatusState, description: string, targetUrl?: string | null): Promise<void> {
    const { owner, repo, headSha } = this.target;
    const url = targetUrl ?? this.options.detailsUrl;
    await this.octokit.request("POST /repos/{owner}/{repo}/statuses/{sha}", {
      owner,
      repo,
      sha: headSha,
      state,
      context: this.options.name,
      description: statusDescription(description),
      ...(url ? { target_url: url } : {}),
    });
  }

  private timestamp(): string {
    return this.now().toISOString().replace(/\.\d{3}Z$/, "Z");
  }
}

/** The check of a CI task, as its snapshot says (the id created when it was queued). */
export function ciCheckForTask(
  octokit: GitHubClient,
  task: Task,
  options: { detailsUrl?: string | null; maxAnnotations?: number; now?: () => Date } = {},
): CiCheck {
  const ci = task.ci;
  if (!ci) throw new Error(`task ${task.id} is not a CI task (no ci snapshot)`);
  return new CiCheck(
    octokit,
    { owner: task.repo.owner, repo: task.repo.name, headSha: ci.headSha },
    { mode: ci.report, name: ci.checkName, externalId: task.id, checkRunId: ci.checkRunId, ...options },
  );
}

/** A commit status can only say pending, success, failure or error. */
function statusState(conclusion: CiConclusion): StatusState {
  switch (conclusion) {
    case "success":
    case "neutral":
      return "success";
    case "failure":
    case "action_required":
      return "failure";
    case "timed_out":
    case "cancelled":
      return "error";
  }
}

/** How the pool's end states read as conclusions (a `done` run is judged by its exit code). */
export function conclusionForPoolState(state: "failed" | "timed_out" | "cancelled"): CiConclusion {
  return state === "failed" ? "failure" : state;
}

/** One line of at most 140 characters. */
export function statusDescription(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length <= MAX_STATUS_DESCRIPTION ? line : `${line.slice(0, MAX_STATUS_DESCRIPTION - 1).trimEnd()}…`;
}

function clampOutput(output: CheckOutput): CheckOutput {
  const out: CheckOutput = {
    title: clampChars(output.title.replace(/\s+/g, " ").trim() || "devs-ci", MAX_OUTPUT_CHARS),
    summary: clampChars(output.summary, MAX_OUTPUT_CHARS),
  };
  if (output.text !== undefined) out.text = clampChars(output.text, MAX_OUTPUT_CHARS);
  return out;
}

/** GitHub refuses the whole request for one bad annotation: fit each to the documented limits. */
export function clampAnnotation(annotation: CheckAnnotation): CheckAnnotation {
  const start = Math.max(1, Math.floor(annotation.start_line));
  const end = Math.max(start, Math.floor(annotation.end_line));
  const out: CheckAnnotation = {
    path: annotation.path,
    start_line: start,
    end_line: end,
    annotation_level: annotation.annotation_level,
    message: clampBytes(annotation.message || "(no message)", MAX_ANNOTATION_BYTES),
  };
  // Columns only on a single line.
  if (start === end && annotation.start_column !== undefined) {
    out.start_column = Math.max(1, Math.floor(annotation.start_column));
    if (annotation.end_column !== undefined) out.end_column = Math.max(out.start_column, Math.floor(annotation.end_column));
  }
  if (annotation.title) out.title = clampChars(annotation.title, MAX_ANNOTATION_TITLE);
  if (annotation.raw_details) out.raw_details = clampBytes(annotation.raw_details, MAX_ANNOTATION_BYTES);
  return out;
}

function clampChars(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** At most `max` UTF-8 bytes, cut on a character boundary. */
function clampBytes(text: string, max: number): string {
  if (Buffer.byteLength(text, "utf8") <= max) return text;
  const bytes = Buffer.from(text, "utf8").subarray(0, max - 3);
  // Drop a partial character at the end (the decoder would turn it into U+FFFD).
  return `${bytes.toString("utf8").replace(/\uFFFD$/, "")}…`;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
