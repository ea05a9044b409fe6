// A CI task from start to check run: the check goes `in_progress` with the container's name, a
// clean clone at exactly the head SHA, the devcontainer, an empty bridge directory, the
// test command, then JUnit reports, artifacts and the conclusion, and the check is completed. Every
// way out completes the check — a time limit (`timed_out`, the processes killed), a cancel
// (`cancelled`), an error (`failure` with one safe line) — except a shutdown, after which the task
// runs again and its check says it is queued. Each collaborator is injected, so this file holds
// only the order of things and what the user is told at each step.
import type { Logger } from "pino";
import { isDevsConfigError } from "../config/errors.js";
import type { GitHubClient } from "../github/client.js";
import type { RunContext, RunResult, TaskAbort, TaskExecutor } from "../tasks/execution.js";
import { renderConfigProblems } from "../config/problem-text.js";
import { createRedactor, safeErrorSummary, type Redactor } from "../publish/redact.js";
import type { Task } from "../tasks/task.js";
import type { Identity, RepoCache, RepoRef } from "../workspace/repo-cache.js";
import { artifactLink, type ArtifactResult, type ArtifactStore } from "./artifacts.js";
import { DEFAULT_MAX_ANNOTATIONS, type CheckAnnotation, type CiConclusion } from "./checks.js";
import { collectJUnit, commitPathResolver, LogCollector, trackedFiles } from "./collect.js";
import type { CiContainerInput, PreparedCiContainer } from "./container.js";
import { failureLines, junitAnnotations, type JUnitReport } from "./junit.js";
import type { CiReporter } from "./reporter.js";
import { configErrorOutput, countsText, decideConclusion, errorOutput, renderCiReport, runningOutput, type FailureLine } from "./report.js";

export interface CiRunnerDeps {
  repoCache: RepoCache;
  identity: Identity;
  /** Stable per container name and repository (the agent's too), so the container's bind mount holds. */
  workspaceFor(container: string, task: Task): string;
  /** Before the checkout: no process of an earlier task is left in the task's container to race it. */
  quiesce(input: { container: string; task: Task }): Promise<void>;
  /** The task's check, with writes in order (shared with the pool's listener). */
  reporter: CiReporter;
  /** DEVS.yml env_vars for this container name; a DevsConfigError is shown on the check. */
  loadEnv(task: Task, octokit: GitHubClient, container: string): Promise<Record<string, string>>;
  prepareContainer(input: CiContainerInput): Promise<PreparedCiContainer>;
  /** S3 for the bridge directory; null when AWS_S3_ARTIFACT_BUCKET is not set. */
  artifacts: ArtifactStore | null;
  /** Values never to show (the settings' secrets). */
  secrets: () => Iterable<string | null | undefined>;
  /** CONTAINER_TIMEOUT_MINUTES, for the timed-out message. */
  timeoutMinutes: number;
  maxAnnotations?: number | undefined;
  /** How long an upload may take once the run was stopped (default 20 s; the pool's grace is 30 s). */
  abortedUploadMs?: number | undefined;
  log: Logger;
  now?: () => number;
}

export function createCiRunner(deps: CiRunnerDeps): TaskExecutor {
  return (task, ctx) => runCiTask(deps, task, ctx);
}

/** What the run got to; the report is made from it whichever way the run ended. */
interface Progress {
  prepared: PreparedCiContainer | null;
  commandStarted: number | null;
  commandEnded: number | null;
  exitCode: number | null;
  output: LogCollector;
  notes: string[];
  redact: Redactor;
}

async function runCiTask(deps: CiRunnerDeps, task: Task, ctx: RunContext): Promise<RunResult> {
  const ci = task.ci;
  if (!ci) return { state: "failed", detail: "not a CI task (it has no ci snapshot)" };
  const now = deps.now ?? Date.now;
  const started = now();
  const log = deps.log.child({ task: task.id, repo: task.repo.fullName, container: ctx.slot });
  const progress: Progress = {
    prepared: null,
    commandStarted: null,
    commandEnded: null,
    exitCode: null,
    output: new LogCollector(),
    notes: [],
    redact: createRedactor(deps.secrets()),
  };

  // Not awaited: the reporter keeps the writes in order, and the tests need not wait for GitHub's
  // write throttle.
  deps.reporter
    .write(task, (check) => check.inProgress(ctx.slot, runningOutput({ container: ctx.slot, command: ci.testCommand, retry: ctx.interrupted }, progress.redact)))
    .catch((error: unknown) => log.warn({ err: error }, "could not mark the check run in progress"));

  let failure: unknown = null;
  try {
    const { octokit, token } = await deps.reporter.client(task);
    progress.redact = createRedactor([...deps.secrets(), token]);
    const env = await deps.loadEnv(task, octokit, ctx.slot);
    // Values a repository hands its tests as secrets stay out of the check too.
    progress.redact = createRedactor([...deps.secrets(), token, ...secretLooking(env)]);

    const repo = repoRef(task);
    // refs/pull/N/head reaches a fork's commits; a branch push is among the branches already.
    const pullRef = ci.ref?.startsWith("refs/pull/") ? [ci.ref] : [];
    try {
      await deps.repoCache.sync(repo, token, pullRef);
    } catch (error) {
      if (!pullRef.length) throw error;
      // Without the pull request's ref the commit may still be on a branch; the checkout says if not.
      log.warn({ err: error, ref: ci.ref }, "could not fetch the pull request's ref; trying the branches");
      await deps.repoCache.sync(repo, token);
    }
    ctx.signal.throwIfAborted();
    const workspace = deps.workspaceFor(ctx.slot, task);
    await deps.quiesce({ container: ctx.slot, task });
    await deps.repoCache.checkout(repo, workspace, { kind: "sha", sha: ci.headSha }, deps.identity);
    ctx.signal.throwIfAborted();

    const prepared = await deps.prepareContainer({ container: ctx.slot, task, workspace, env, signal: ctx.signal });
    progress.prepared = prepared;
    progress.notes.push(...prepared.notes);
    await prepared.emptyBridge();
    ctx.signal.throwIfAborted();

    log.info({ command: ci.testCommand, sha: ci.headSha }, "running the test command");
    progress.commandStarted = now();
    const result = await prepared.run(ci.testCommand, {
      env: { ...env, CI: "true", BRIDGE_DIR: prepared.bridgeFolder, TEST_RESULTS_FOLDER: prepared.bridgeFolder },
      onLine: (_stream, line) => progress.output.push(line),
      signal: ctx.signal,
    });
    progress.commandEnded = now();
    progress.exitCode = result.exitCode;
    log.info({ exitCode: result.exitCode, ms: progress.commandEnded - progress.commandStarted }, "test command finished");
  } catch (error) {
    failure = error;
  }
  if (progress.commandStarted !== null && progress.commandEnded === null) progress.commandEnded = now();

  const abort = ctx.signal.aborted ? (ctx.signal.reason as TaskAbort | undefined) : undefined;
  if (abort?.reason === "shutdown") {
    // The pool queues it again for the next start; the check says so instead of "running".
    await deps.reporter
      .write(task, (check) =>
        check.queued({ title: "Queued again", summary: "The server stopped while this run was in progress; it runs again when the server is back." }),
      )
      .catch((error: unknown) => log.warn({ err: error }, "could not mark the check run queued again"));
    return { state: "failed", detail: "interrupted by shutdown" };
  }
  const ended = abort?.reason === "timeout" ? "timed_out" : abort?.reason === "cancelled" ? "cancelled" : null;

  try {
    if (!ended && failure !== null && progress.exitCode === null) return await reportError(deps, task, ctx, progress, failure, now() - started, log);
    return await reportRun(deps, task, ctx, progress, { ended, by: abort?.by, durationMs: now() - started }, log);
  } catch (error) {
    // Not even the report could be made or sent: the pool's listener completes the check from the
    // task's end state, so it is not left running.
    log.error({ err: error }, "could not report the CI run");
    return { state: "failed", detail: safeErrorSummary(error, { redactor: progress.redact }) };
  }
}

/** The command ran (or was stopped while it ran, or before it started): judged and reported. */
async function reportRun(
  deps: CiRunnerDeps,
  task: Task,
  ctx: RunContext,
  progress: Progress,
  end: { ended: "timed_out" | "cancelled" | null; by: string | undefined; durationMs: number },
  log: Logger,
): Promise<RunResult> {
  const ci = task.ci!;
  const { redact, prepared } = progress;
  const ran = progress.commandStarted !== null;
  let junit: JUnitReport | null = null;
  let annotations: CheckAnnotation[] = [];
  let failures: FailureLine[] = [];
  let artifacts: ArtifactResult | null = null;

  if (prepared && ran) {
    // What the run left is taken only once nothing of the task runs: no process can change the
    // bridge while it is read.
    await prepared.stopTaskProcesses().catch((error: unknown) => log.warn({ err: error }, "could not stop the task's processes before collecting"));
    const collected = await prepared
      .bridgeArchive()
      .then((archive) => collectJUnit(archive))
      .catch((error: unknown) => {
        if ((error as { statusCode?: unknown }).statusCode !== 404) log.warn({ err: error }, "could not read the bridge directory");
        return null;
      });
    if (!collected) progress.notes.push("JUnit: the bridge directory could not be read; no reports were counted.");
    progress.notes.push(...(collected?.problems ?? []).slice(0, 5).map((p) => `JUnit: ${p}`));
    if (collected?.files.length) {
      junit = collected.report;
      const workspace = deps.workspaceFor(ctx.slot, task);
      // The commit's files from the host's own cache: the workspace's .git is the tests' to write.
      const tracked = await (async () => trackedFiles(deps.repoCache.cachePath(repoRef(task)), ci.headSha))().catch((error: unknown) => {
        log.warn({ err: error }, "could not list the commit's files; failures are not annotated");
        return new Set<string>();
      });
      const resolvePath = commitPathResolver(tracked, [prepared.workspaceFolder, workspace]);
      const placed = junitAnnotations(junit, { redact, resolvePath, max: deps.maxAnnotations ?? DEFAULT_MAX_ANNOTATIONS });
      annotations = placed.annotations;
      failures = failureLines(junit, { resolvePath });
      log.info({ reports: collected.files.length, ...countsOf(junit), annotations: annotations.length }, "JUnit reports read");
    }
    artifacts = await upload(deps, task, prepared, progress, end.ended !== null, log);
  }

  const conclusion: CiConclusion = decideConclusion({ exitCode: progress.exitCode, junit, ended: end.ended });
  const commandMs = ran ? progress.commandEnded! - progress.commandStarted! : 0;
  const reason =
    end.ended === "timed_out"
      ? `The run reached its time limit of ${minutes(deps.timeoutMinutes)} (CONTAINER_TIMEOUT_MINUTES)${ran ? " while the tests ran; every process they started in the container was killed" : " before the tests started"}.`
      : end.ended === "cancelled"
        ? `The run was cancelled${end.by ? ` by ${end.by}` : ""}${ran ? " while the tests ran; every process they started in the container was killed" : " before the tests started"}.`
        : null;
  const output = renderCiReport(
    {
      conclusion,
      command: ci.testCommand,
      exitCode: progress.exitCode,
      // A time limit counts from the task's start; otherwise the command's own time is what matters.
      durationMs: end.ended === "timed_out" || !ran ? end.durationMs : commandMs,
      container: ctx.slot,
      headSha: ci.headSha,
      log: progress.output.text(),
      logDropped: progress.output.dropped,
      junit,
      failures,
      artifacts: artifactLink(artifacts),
      reason,
      notes: progress.notes,
    },
    redact,
  );
  const detailsUrl = artifacts?.kind === "uploaded" ? artifacts.url : null;
  const result = await deps.reporter.complete(task, { conclusion, output, annotations, detailsUrl });
  if (result.dropped || result.annotationError) {
    log.warn({ err: result.annotationError ?? undefined, sent: result.annotations, dropped: result.dropped }, "not every annotation reached the check run");
  }
  log.info({ conclusion, exitCode: progress.exitCode, ...(junit ? countsOf(junit) : {}) }, "CI run reported");
  if (end.ended) return { state: "failed", detail: `aborted (${end.ended})` };
  return { state: "done", detail: junit && junit.total > 0 ? `${conclusion}: ${countsText(junit)}` : `${conclusion} (exit code ${progress.exitCode ?? "none"})` };
}

/** The run broke before its tests could be judged: `failure`, with a line the user can act on. */
async function reportError(deps: CiRunnerDeps, task: Task, ctx: RunContext, progress: Progress, error: unknown, durationMs: number, log: Logger): Promise<RunResult> {
  const ci = task.ci!;
  const { redact } = progress;
  let output;
  let detail: string;
  if (isDevsConfigError(error)) {
    output = configErrorOutput(renderConfigProblems(error, null), redact);
    detail = "DEVS.yml cannot be used";
  } else {
    log.error({ err: error }, "CI run failed before its tests could be judged");
    detail = safeErrorSummary(error, { redactor: redact, maxLength: 1000 });
    const lastLines = (error as { lastLines?: unknown }).lastLines;
    output = errorOutput(
      {
        reason: `The tests could not be run: ${detail}`,
        command: ci.testCommand,
        container: ctx.slot,
        headSha: ci.headSha,
        durationMs,
        details: Array.isArray(lastLines) ? lastLines.join("\n") : null,
        notes: progress.notes,
      },
      redact,
    );
  }
  await deps.reporter.complete(task, { conclusion: "failure", output });
  return { state: "failed", detail };
}

/** The bridge directory and the full (redacted) log, when S3 is configured. Never decides the conclusion. */
async function upload(deps: CiRunnerDeps, task: Task, prepared: PreparedCiContainer, progress: Progress, aborted: boolean, log: Logger): Promise<ArtifactResult | null> {
  if (!deps.artifacts) return null;
  const work = deps.artifacts.upload({
    archive: () => prepared.bridgeArchive(),
    repo: task.repo.fullName,
    kind: "tests",
    rootName: `${task.repo.name}-${task.ci!.headSha.slice(0, 7)}`,
    extraFiles: [{ name: "devs-ci.log", content: progress.redact(progress.output.text()) }],
  });
  // A stopped run has little time left before the pool moves on (and the next run empties the bridge).
  const limit = aborted ? (deps.abortedUploadMs ?? 20_000) : null;
  let timer: NodeJS.Timeout | undefined;
  const result = await (limit === null
    ? work
    : Promise.race([
        work,
        new Promise<ArtifactResult>((resolve) => {
          timer = setTimeout(() => resolve({ kind: "failed", note: "the artifacts were not uploaded: the run was stopped and the upload took too long" }), limit);
        }),
      ]));
  clearTimeout(timer);
  if (result.kind === "uploaded") {
    log.info({ key: result.key, bytes: result.bytes, files: result.files, skipped: result.skipped.length }, "artifacts uploaded");
    if (result.skipped.length) progress.notes.push(`Artifacts: ${result.skipped.length} left out of the archive, the first: ${result.skipped[0]}.`);
  }
  else log.warn({ note: result.note }, "artifacts not uploaded");
  return result;
}

const repoRef = (task: Task): RepoRef => ({ owner: task.repo.owner, name: task.repo.name, cloneUrl: task.repo.cloneUrl });

const minutes = (n: number) => `${n} minute${n === 1 ? "" : "s"}`;

const countsOf = (r: JUnitReport) => ({ total: r.total, passed: r.passed, failed: r.failed, errored: r.errored, skipped: r.skipped });

/** env_vars values whose names say they are secret (tokens, keys, passwords). */
export function secretLooking(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env)
    .filter(([name, value]) => /token|secret|passw(or)?d|api[_-]?key|private[_-]?key|credential|auth/i.test(name) && value.length >= 6)
    .map(([, value]) => value);
}
