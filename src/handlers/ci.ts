// push, pull_request, check_run and check_suite: guard clauses in the order that keeps work
// smallest (owner allowlist, then the payload alone, then DEVS.yml, then permissions), then one
// Task handed to the sink; the CI reporter writes its check from then on (queued once the pool has
// placed it). The run itself is never awaited here. A pull request that may not run gets a
// completed check saying why instead of silence; a newer push to a pull request cancels its older
// runs that have not started.
import type { Context } from "probot";
import { deferredChild } from "../logging.js";
import { CiCheck, type CheckAction, type CiReportMode, type SupersedeRequest } from "../ci/checks.js";
import { blockedOutput, ciCause, configErrorOutput } from "../ci/report.js";
import { mayTrigger, type TriggerAccess } from "../github/permissions.js";
import { isOwnerAllowed } from "../policy/access.js";
import { applyCiAccess, applyCiConfig, preflightCi, runActionIdentifier, type CiCandidate, type CiConfig, type CiEvent } from "../policy/ci.js";
import { contentKey } from "../policy/dedupe.js";
import type { DeliveryMemory } from "../tasks/delivery-memory.js";
import type { TaskSink } from "../tasks/sink.js";
import type { DeliveryNotes } from "../webhooks/outcomes.js";
import { TASK_VERSION, type Task, type TaskRepo } from "../tasks/task.js";
import { ciTarget, extractCi, type CiPayload } from "./ci-payload.js";
import { repoOf } from "./agent-payload.js";

/** A DEVS.yml that cannot be used; `userMessage` names the file (with its URL), the key and the problem. */
export interface CiConfigProblem {
  userMessage: string;
  message?: string;
}
export type CiConfigResult = CiConfig | { error: CiConfigProblem };
/**
 * Reads ci_enabled, ci_branches and ci_test_command for the repository (default branch only).
 * `fresh: false`: the default branch's head may have been read a little while ago (a push to
 * another branch, decided on the delivery path); every other event reads it now.
 */
export type LoadCiConfig = (context: Context, repo: TaskRepo, options: { fresh: boolean }) => Promise<CiConfigResult>;

/** `authorizedUsers` is AUTHORIZED_CI_TRIGGER_USERS. */
export interface CiDeps extends TriggerAccess {
  allowedOwners: readonly string[];
  sink: TaskSink;
  memory: DeliveryMemory;
  /** Where the handler notes what it made of the delivery (the metrics count it once). */
  outcomes?: DeliveryNotes | undefined;
  loadCiConfig: LoadCiConfig;
  /**
   * Cancels the CI tasks of this pull request that are still queued (not `keepTaskId`) and returns
   * their ids; their checks say a newer commit replaced them (the CI reporter). Running tasks are
   * left to finish. Omitted: older runs are not cancelled.
   */
  supersede?: ((request: SupersedeRequest) => Promise<string[]>) | undefined;
  /** The check run's name (default `devs-ci`). */
  checkName: string;
  /** `checks` with a GitHub App; `statuses` in token mode (commit statuses). */
  report: CiReportMode;
  /** A page with the run's details, if the server has one (on the checks written here). */
  detailsUrl?: ((taskId: string) => string | null) | undefined;
  redact: (text: string) => string;
  now: () => Date;
  /**
   * Someone other than the bot pushed to a branch (of any push, CI or not): the CI fix loop on
   * that branch stops, since their commit wins.
   */
  branchPushed?: ((repo: string, branch: string, sender: string) => Promise<unknown>) | undefined;
}

export async function handleCi(context: Context, deps: CiDeps): Promise<void> {
  const event = context.name as CiEvent;
  const payload = context.payload as unknown as CiPayload;
  const repo = repoOf(payload);
  const log = deferredChild(context.log, { delivery: context.id, repo: repo.fullName, event: payload.action ? `${event}.${payload.action}` : event });

  if (!isOwnerAllowed(repo.owner, deps.allowedOwners)) {
    log.info("ignored: repository owner is not in ALLOWED_ORGS/ALLOWED_USERS");
    return;
  }
  const input = extractCi(event, payload);
  if (!input) {
    log.warn("ignored: payload lacks the fields this event needs");
    return;
  }
  if (input.push?.ref.startsWith("refs/heads/") && !input.push.deleted && deps.branchPushed && !deps.bot.isBot(input.sender)) {
    await deps.branchPushed(repo.fullName, input.push.ref.slice("refs/heads/".length), input.sender);
  }
  const preflight = preflightCi(input, deps.checkName);
  if (!preflight.relevant) {
    log.debug({ reason: preflight.reason }, "not a CI trigger");
    return;
  }
  const candidate = preflight.candidate;
  const taskId = `ci-${context.id}`;
  if (deps.memory.seenDelivery(taskId)) {
    deps.outcomes?.note(context.id, "duplicate");
    log.info("ignored: delivery already handled (redelivery)");
    return;
  }
  // One run per commit: a push and a pull_request event for the same head share it. A re-run
  // button always runs again.
  const key =
    candidate.trigger === "rerun"
      ? contentKey({ event: "ci-rerun", repo: repo.fullName, subjectId: 0, text: taskId })
      : contentKey({ event: "ci", repo: repo.fullName, subjectId: 0, text: `${deps.checkName}\u0000${candidate.headSha}` });
  if (deps.memory.seenContent(key)) {
    deps.outcomes?.note(context.id, "duplicate");
    log.info({ sha: candidate.headSha }, "ignored: this commit already has a run");
    return;
  }

  // A push to the default branch may be the change to DEVS.yml itself: it always reads afresh.
  const fresh = candidate.trigger !== "push" || candidate.branch === repo.defaultBranch;
  const config = await deps.loadCiConfig(context, repo, { fresh });
  // For the handler's own answers to this delivery (DEVS.yml invalid, approval needed); a task's
  // check is its reporter's.
  const check = new CiCheck(
    context.octokit,
    { owner: repo.owner, repo: repo.name, headSha: candidate.headSha },
    { mode: deps.report, name: deps.checkName, externalId: taskId, detailsUrl: deps.detailsUrl?.(taskId) ?? null, now: deps.now },
  );
  if ("error" in config) {
    await reportConfigError(context, deps, { repo, candidate, taskId, check, problem: config.error });
    return;
  }
  const byConfig = applyCiConfig(candidate, config);
  if (!byConfig.run) {
    log.debug({ reason: byConfig.reason }, "not a CI trigger");
    return;
  }
  const allowed = await accessAnswers(context, deps, repo, candidate.actors);
  const access = applyCiAccess(candidate, (login) => allowed.get(login.toLowerCase()) ?? false);
  if (access.kind === "skip") {
    log.info({ reason: access.reason }, "ignored: may not trigger CI");
    return;
  }
  if (!(await deps.memory.claim(taskId, key))) {
    deps.outcomes?.note(context.id, "duplicate");
    log.info("ignored: a concurrent delivery claimed the same commit");
    return;
  }

  if (access.kind === "blocked") {
    const buttons = deps.report === "checks";
    const actions: CheckAction[] = [
      { label: "Run tests", description: "Run CI on this commit", identifier: runActionIdentifier(candidate.pullRequest?.number ?? null) },
    ];
    try {
      await check.complete({
        conclusion: "action_required",
        output: blockedOutput({ reason: access.reason, headSha: candidate.headSha, buttons }),
        actions: buttons ? actions : undefined,
      });
    } catch (error) {
      deps.memory.release(taskId, key);
      throw error;
    }
    log.info({ login: access.login, sha: candidate.headSha }, "CI not run: approval needed (reported on the check)");
    return;
  }

  const target = ciTarget(payload, candidate.headSha, candidate.pullRequest?.number ?? null);
  const task: Task = {
    version: TASK_VERSION,
    id: taskId,
    kind: "ci",
    createdAt: deps.now().toISOString(),
    deliveryId: context.id,
    event,
    action: payload.action ?? "",
    installationId: payload.installation?.id ?? null,
    repo,
    target,
    trigger: {
      reason: "ci",
      subject: candidate.pullRequest ? { type: "pull_request", id: candidate.pullRequest.number } : { type: "issue", id: 0 },
      author: input.sender,
      body: "",
      url: target.url,
    },
    sender: input.sender,
    ci: {
      headSha: candidate.headSha,
      ref: candidate.ref,
      branch: candidate.branch,
      trigger: candidate.trigger,
      pullRequest: candidate.pullRequest,
      testCommand: config.ciTestCommand,
      fixAttempts: config.ciFixAttempts ?? null,
      checkName: deps.checkName,
      report: deps.report,
      // The CI reporter creates the check and finds it again by its external_id (the task id).
      checkRunId: null,
    },
  };
  try {
    await deps.sink.submit(task);
  } catch (error) {
    // Not queued: forget the claim so a redelivery can try again.
    deps.memory.release(taskId, key);
    throw error;
  }
  deps.outcomes?.note(context.id, "queued");
  log.info({ task: task.id, sha: candidate.headSha, cause: ciCause(candidate) }, "CI task queued");

  if (candidate.trigger === "pull_request" && candidate.pullRequest && deps.supersede) {
    await supersedeOlder(context, deps, { repo, prNumber: candidate.pullRequest.number, headSha: candidate.headSha, keepTaskId: task.id });
  }
}

/** Who may trigger: the configured list, or write access (which the App itself has) when it is empty. */
async function accessAnswers(context: Context, deps: CiDeps, repo: TaskRepo, logins: string[]): Promise<Map<string, boolean>> {
  const answers = new Map<string, boolean>();
  for (const login of logins) {
    answers.set(login.toLowerCase(), await mayTrigger(context.octokit, repo, login, deps));
  }
  return answers;
}

/**
 * An unusable DEVS.yml is shown where the user looks, never silently ignored: on pull requests,
 * re-runs and pushes to the default branch (other branches' pushes would repeat it endlessly).
 */
async function reportConfigError(
  context: Context,
  deps: CiDeps,
  input: { repo: TaskRepo; candidate: CiCandidate; taskId: string; check: CiCheck; problem: CiConfigProblem },
): Promise<void> {
  const { repo, candidate, taskId, check, problem } = input;
  const log = deferredChild(context.log, { delivery: context.id, repo: repo.fullName });
  log.warn({ problem: problem.message ?? problem.userMessage }, "DEVS.yml cannot be used for CI");
  if (candidate.trigger === "push" && candidate.branch !== repo.defaultBranch) return;
  // Once per delivery: after the file is fixed, the same commit may run.
  const key = contentKey({ event: "ci-config-error", repo: repo.fullName, subjectId: 0, text: taskId });
  if (!(await deps.memory.claim(taskId, key))) return;
  try {
    await check.complete({ conclusion: "failure", output: configErrorOutput(problem.userMessage, deps.redact) });
  } catch (error) {
    deps.memory.release(taskId, key);
    throw error;
  }
}

async function supersedeOlder(context: Context, deps: CiDeps, request: SupersedeRequest): Promise<void> {
  const log = deferredChild(context.log, { delivery: context.id, repo: request.repo.fullName, pr: request.prNumber });
  try {
    for (const task of await deps.supersede!(request)) log.info({ task, newer: request.keepTaskId }, "older run cancelled: superseded");
  } catch (error) {
    log.warn({ err: error }, "could not cancel older runs of this pull request");
  }
}
