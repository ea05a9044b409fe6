// A CI task from start to report: a clean clone at exactly the head SHA, the devcontainer, an
// empty bridge directory, the test command, then JUnit reports, artifacts and the conclusion. Every
// way out makes the check's completion for the CI reporter — a time limit (`timed_out`, the
// processes killed), a cancel (`cancelled`), an error (`failure` with one safe line) — except a
// shutdown, after which the task runs again. Nothing here writes to GitHub about the task. Each
// collaborator is injected, so this file holds only the order of things and what the user is told.
import type { Logger } from "pino";
import { isDevsConfigError } from "../config/errors.js";
import type { GitHubClient } from "../github/client.js";
import type { TaskGitHub } from "../github/probot.js";
import type { RunContext, RunResult, TaskAbort, TaskExecutor } from "../tasks/execution.js";
import { renderConfigProblems } from "../config/problem-text.js";
import { createRedactor, safeErrorSummary, type Redactor } from "../publish/redact.js";
import { PhaseClock, withQueue } from "../tasks/phases.js";
import type { Task } from "../tasks/task.js";
import { prepareContainerSetup } from "../containers/setup-source.js";
import type { Identity, RepoCache, RepoRef } from "../workspace/repo-cache.js";
import { artifactLink, type ArtifactResult, type ArtifactStore } from "./artifacts.js";
import { DEFAULT_MAX_ANNOTATIONS, type CheckAnnotation, type CiConclusion } from "./checks.js";
import { collectJUnit, commitPathResolver, LogCollector, trackedFiles } from "./collect.js";
import type { CiContainerInput, PreparedCiContainer } from "./container.js";
import { failureLines, junitAnnotations, type JUnitReport } from "./junit.js";
import type { CiReport, JudgedRun } from "./reporter.js";
import { configErrorOutput, countsText, decideConclusion, errorOutput, renderCiReport, type FailureLine } from "./report.js";
import { taskLogger } from "../logging.js";

export interface CiRunnerDeps {
  repoCache: RepoCache;
  identity: Identity;
  /** Stable per place (slot, repository, trust; the agent's too), so the container's bind mount holds. */
  workspaceFor(slot: string, task: Task): string;
  /** Per place too, never mounted: where a fork's container is defined from (containers/setup-source.ts). */
  setupDirFor(slot: string, task: Task): string;
  /** Before the checkout: no process of an earlier task is left in the task's container to race it. */
  quiesce(input: { slot: string; task: Task }): Promise<void>;
  /** The task's installation client and token (App mode), or the token client. */
  github: TaskGitHub;
  /** DEVS.yml env_vars for this slot; a DevsConfigError is shown on the check. */
  loadEnv(task: Task, octokit: GitHubClient, slot: string): Promise<Record<string, string>>;
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
  /** The public link of a task's log (PUBLIC_URL), put in the check run's summary. */
  logUrl?: ((task: Task) => string | null) | undefined;
}

export function createCiRunner(deps: CiRunnerDeps): TaskExecutor<CiReport> {
  return async (task, ctx) => {
    const clock = new PhaseClock(deps.now ?? Date.now);
    const result = await runCiTask(deps, task, ctx, clock);
    return { ...result, phases: clock.timings() };
  };
}

/** What the run got to; the report is made from it whichever way the run ended. */
interface RunState {
  prepared: PreparedCiContainer | null;
  commandStarted: number | null;
  commandEnded: number | null;
  exitCode: number | null;
  output: LogCollector;
  notes: string[];
  redact: Redactor;
  /** Where the run's time went so far. */
  clock: PhaseClock;
}

async function runCiTask(deps: CiRunnerDeps, task: Task, ctx: RunContext, clock: PhaseClock): Promise<RunResult<CiReport>> {
  const ci = task.ci;
  if (!ci) return { state: "failed", detail: "not a CI task (it has no ci snapshot)" };
  const now = deps.now ?? Date.now;
  const started = now();
  const log = taskLogger(deps.log, { task: task.id, repo: task.repo.fullName, slot: ctx.slot });
  const run: RunState = {
    prepared: null,
    commandStarted: null,
    commandEnded: null,
    exitCode: null,
    output: new LogCollector(),
    notes: [],
    redact: createRedactor(deps.secrets()),
    clock,
  };

  let failure: unknown = null;
  try {
    const { octokit, token } = await deps.github(task);
    run.redact = createRedactor([...deps.secrets(), token]);
    const env = await deps.loadEnv(task, octokit, ctx.slot);
    // Values a repository hands its tests as secrets stay out of the check too.
    run.redact = createRedactor([...deps.secrets(), token, ...secretLooking(env)]);

    const repo = repoRef(task);
    // refs/pull/N/head reaches a fork's commits; a branch push is among the branches already.
    const pullRef = ci.ref?.startsWith("refs/pull/") ? [ci.ref] : [];
    await clock.time("checkout", async () => {
      try {
        await deps.repoCache.sync(repo, token, pullRef);
      } catch (error) {
        if (!pullRef.length) throw error;
        // Without the pull request's ref the commit may still be on a branch; the checkout says if not.
        log.warn({ err: error, ref: ci.ref }, "could not fetch the pull request's ref; trying the branches");
        await deps.repoCache.sync(repo, token);
      }
    });
    ctx.signal.throwIfAborted();
    const workspace = deps.workspaceFor(ctx.slot, task);
    await clock.time("container", () => deps.quiesce({ slot: ctx.slot, task }));
    const setup = await clock.time("checkout", async () => {
      await deps.repoCache.checkout(repo, workspace, { kind: "sha", sha: ci.headSha }, deps.identity);
      return prepareContainerSetup(deps.repoCache, task, { dir: deps.setupDirFor(ctx.slot, task), headSha: ci.headSha, identity: deps.identity });
    });
    if (setup.note) run.notes.push(setup.note);
    ctx.signal.throwIfAborted();

    const prepared = await clock.time("container", async () => {
      const prepared = await deps.prepareContainer({ slot: ctx.slot, task, workspace, setupDir: setup.setupDir, env, signal: ctx.signal });
      run.prepared = prepared;
      run.notes.push(...prepared.notes);
      await prepared.emptyBridge();
      return prepared;
    });
    ctx.signal.throwIfAborted();

    log.info({ command: ci.testCommand, sha: ci.headSha }, "running the test command");
    run.commandStarted = now();
    const result = await prepared.run(ci.testCommand, {
      env: { ...env, CI: "true", BRIDGE_DIR: prepared.bridgeFolder, TEST_RESULTS_FOLDER: prepared.bridgeFolder },
      onLine: (_stream, line) => run.output.push(line),
      signal: ctx.signal,
    });
    run.commandEnded = now();
    run.exitCode = result.exitCode;
    log.info({ exitCode: result.exitCode, ms: run.commandEnded - run.commandStarted }, "test command finished");
  } catch (error) {
    failure = error;
  }
  if (run.commandStarted !== null && run.commandEnded === null) run.commandEnded = now();
  if (run.commandStarted !== null) clock.add("tests", run.commandEnded! - run.commandStarted);

  const abort = ctx.signal.aborted ? (ctx.signal.reason as TaskAbort | undefined) : undefined;
  // The pool queues it again for the next start, and its reporter says so.
  if (abort?.reason === "shutdown") return { state: "failed", detail: "interrupted by shutdown" };
  const ended = abort?.reason === "timeout" ? "timed_out" : abort?.reason === "cancelled" ? "cancelled" : null;

  try {
    if (!ended && failure !== null && run.exitCode === null) return await reportError(deps, task, ctx, run, failure, now() - started, log);
    return await reportRun(deps, task, ctx, run, { ended, by: abort?.by, durationMs: now() - started }, log);
  } catch (error) {
    // Not even the report could be made: the reporter completes the check from the task's end
    // state, so it is not left running.
    log.error({ err: error }, "could not make the CI run's report");
    return { state: "failed", detail: safeErrorSummary(error, { redactor: run.redact }) };
  }
}

/** The command ran (or was stopped while it ran, or before it started): judged and reported. */
async function reportRun(
  deps: CiRunnerDeps,
  task: Task,
  ctx: RunContext,
  run: RunState,
  end: { ended: "timed_out" | "cancelled" | null; by: string | undefined; durationMs: number },
  log: Logger,
): Promise<RunResult<CiReport>> {
  const ci = task.ci!;
  const { redact, prepared } = run;
  const ran = run.commandStarted !== null;
  let junit: JUnitReport | null = null;
  let annotations: CheckAnnotation[] = [];
  let failures: FailureLine[] = [];
  let artifacts: ArtifactResult | null = null;

  const collecting = deps.now?.() ?? Date.now();
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
    if (!collected) run.notes.push("JUnit: the bridge directory could not be read; no reports were counted.");
    run.notes.push(...(collected?.problems ?? []).slice(0, 5).map((p) => `JUnit: ${p}`));
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
    artifacts = await upload(deps, task, prepared, run, end.ended !== null, log);
    run.clock.add("publish", (deps.now?.() ?? Date.now()) - collecting);
  }

  const conclusion: CiConclusion = decideConclusion({ exitCode: run.exitCode, junit, ended: end.ended });
  const commandMs = ran ? run.commandEnded! - run.commandStarted! : 0;
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
      exitCode: run.exitCode,
      // A time limit counts from the task's start; otherwise the command's own time is what matters.
      durationMs: end.ended === "timed_out" || !ran ? end.durationMs : commandMs,
      container: ctx.slot,
      headSha: ci.headSha,
      log: run.output.text(),
      logDropped: run.output.dropped,
      junit,
      failures,
      artifacts: artifactLink(artifacts),
      reason,
      notes: run.notes,
      phases: withQueue(ctx.queuedMs, run.clock.timings()),
      logUrl: deps.logUrl?.(task) ?? null,
    },
    redact,
  );
  const judged = ran && !end.ended && run.exitCode !== null ? judgedRun(run, junit, failures) : undefined;
  const report: CiReport = { conclusion, output, annotations, detailsUrl: artifacts?.kind === "uploaded" ? artifacts.url : null, judged };
  log.info({ conclusion, exitCode: run.exitCode, ...(junit ? countsOf(junit) : {}) }, "CI run judged");
  if (end.ended) return { state: "failed", detail: `aborted (${end.ended})`, report };
  return { state: "done", detail: junit && junit.total > 0 ? `${conclusion}: ${countsText(junit)}` : `${conclusion} (exit code ${run.exitCode ?? "none"})`, report };
}

/** The run broke before its tests could be judged: `failure`, with a line the user can act on. */
async function reportError(deps: CiRunnerDeps, task: Task, ctx: RunContext, run: RunState, error: unknown, durationMs: number, log: Logger): Promise<RunResult<CiReport>> {
  const ci = task.ci!;
  const { redact } = run;
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
        notes: run.notes,
        phases: withQueue(ctx.queuedMs, run.clock.timings()),
        logUrl: deps.logUrl?.(task) ?? null,
      },
      redact,
    );
  }
  return { state: "failed", detail, report: { conclusion: "failure", output } };
}

/** The bridge directory and the full (redacted) log, when S3 is configured. Never decides the conclusion. */
async function upload(deps: CiRunnerDeps, task: Task, prepared: PreparedCiContainer, run: RunState, aborted: boolean, log: Logger): Promise<ArtifactResult | null> {
  if (!deps.artifacts) return null;
  const work = deps.artifacts.upload({
    archive: () => prepared.bridgeArchive(),
    repo: task.repo.fullName,
    kind: "tests",
    rootName: `${task.repo.name}-${task.ci!.headSha.slice(0, 7)}`,
    extraFiles: [{ name: "devs-ci.log", content: run.redact(run.output.text()) }],
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
    if (result.skipped.length) run.notes.push(`Artifacts: ${result.skipped.length} left out of the archive, the first: ${result.skipped[0]}.`);
  }
  else log.warn({ note: result.note }, "artifacts not uploaded");
  return result;
}

/** How much of the log a fix task's prompt gets: its end, where the failure usually is. */
const LOG_TAIL_CHARS = 6_000;
const MAX_FAILURES = 30;

function judgedRun(run: RunState, junit: JUnitReport | null, failures: readonly FailureLine[]): JudgedRun {
  const log = run.output.text();
  const tail = log.length > LOG_TAIL_CHARS ? log.slice(log.length - LOG_TAIL_CHARS) : log;
  const counted = junit && junit.total > 0 ? junit.failed + junit.errored : null;
  return {
    exitCode: run.exitCode,
    failed: counted,
    failures: failures.slice(0, MAX_FAILURES).map((f) => run.redact(`${f.name}${f.location ? ` (${f.location})` : ""}${f.message ? `: ${f.message.slice(0, 500)}` : ""}`)),
    failingNames: failures.slice(0, MAX_FAILURES).map((f) => run.redact(f.name)),
    logTail: run.redact(tail),
  };
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
