// An agent task from start to answer: config, checkout, container, the agent, then publishing on
// the host. Each collaborator is injected, so this file holds only the order of things. What the
// user is told comes back as the task's report; the reporter (reporter.ts) writes it. The agent
// reaches the model only through the server's proxy, under the task's budgets (budget/).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "pino";
import type { GitHubClient } from "../github/client.js";
import type { RunContext, RunResult, TaskAbort, TaskExecutor } from "../tasks/execution.js";
import { collectChanges, discard, pushCommit, remoteBranchExists, replaceTaskBranch } from "../publish/git-publish.js";
import { findTaskPullRequest, openPullRequest, updatePullRequest } from "../publish/pull-request.js";
import { branchFor, commitMessage, pullRequestText } from "../publish/naming.js";
import type { ExportResult } from "../publish/export-changes.js";
import { PhaseClock } from "../tasks/phases.js";
import type { Task } from "../tasks/task.js";
import { prepareContainerSetup } from "../containers/setup-source.js";
import { GitError, type CheckoutTarget, type Identity, type RepoCache } from "../workspace/repo-cache.js";
import { agentStartFailure, describeTaskFailure } from "./task-failure.js";
import type { AgentOutcome } from "./claude.js";
import type { AgentConfig } from "../config/task-config.js";
import type { AgentReport } from "./report.js";
import type { ModelAccessAnswer, ModelSession } from "../budget/model-access.js";
import { budgetStopText, type BudgetStop } from "../policy/budget.js";
import { withPullRequestBranches, type BranchLookup } from "./pull-request-branches.js";
import { buildPrompt, overrideValues, whatFailed, type ConversationComment, type PublishMode } from "./prompt.js";
import { earlierLoopTasks, loopPushOf } from "../ci/fix-task.js";
import type { AgentPush } from "../policy/ci-fix.js";
import { taskLogger } from "../logging.js";

/** A configuration problem the user must fix; `markdown` names the file, key and problem. */
export interface UserFacingError extends Error {
  userMessage: string;
}

export interface PreparedContainer {
  /** Where the workspace is mounted inside the container. */
  workspaceFolder: string;
  /** Notes for the user, e.g. devcontainer.json parts that were not applied. */
  notes: string[];
  /**
   * Runs the agent in the container with the prompt and the model session's environment (the
   * proxy's address and the task's token); must stop its processes on abort.
   */
  runAgent(prompt: string, signal: AbortSignal, modelEnv: Readonly<Record<string, string>>): Promise<AgentOutcome>;
  /** Writes the agent's work since `baseSha` as a git bundle to the host file `target` (see export-changes.ts). */
  exportChanges(baseSha: string, target: string, signal: AbortSignal): Promise<ExportResult>;
}

export interface AgentRunnerDeps {
  botHandle: string;
  identity: Identity;
  repoCache: RepoCache;
  /** Stable per place (slot, repository, trust), so the container's bind mount holds. */
  workspaceFor(slot: string, task: Task): string;
  /** Per place too, never mounted: where a fork's container is defined from (containers/setup-source.ts). */
  setupDirFor(slot: string, task: Task): string;
  /** Before the checkout: no process of an earlier task is left in the task's container to race it. */
  quiesce(input: { slot: string; task: Task }): Promise<void>;
  scratchDir: string;
  github(task: Task): Promise<{ octokit: GitHubClient; token: string }>;
  loadConfig(task: Task, octokit: GitHubClient, slot: string): Promise<AgentConfig>;
  conversation(octokit: GitHubClient, task: Task): Promise<ConversationComment[]>;
  prepareContainer(input: { slot: string; task: Task; workspace: string; setupDir?: string | undefined; env: Record<string, string>; signal: AbortSignal }): Promise<PreparedContainer>;
  /**
   * The task's lease on the model proxy under its budgets, or the budget that is already spent.
   * `sharedWith`: earlier tasks whose spending counts against this one's limit (a fix loop's).
   */
  openModel(task: Task, maxCostUsd: number | null, sharedWith: readonly string[]): Promise<ModelAccessAnswer>;
  /** Each commit pushed to a pull request's branch, for the CI fix loop (tasks/fix-loops.ts). */
  recordPush?: ((push: AgentPush & { threadNumber: number }) => void) | undefined;
  redact(text: string): string;
  log: Logger;
  now?: () => number;
}

function isUserFacing(error: unknown): error is UserFacingError {
  return typeof (error as UserFacingError)?.userMessage === "string";
}

export function createAgentRunner(deps: AgentRunnerDeps): TaskExecutor<AgentReport> {
  return async (task, ctx) => {
    const clock = new PhaseClock(deps.now ?? Date.now);
    const result = await runAgentTask(deps, task, ctx, clock);
    return { ...result, phases: clock.timings() };
  };
}

type AgentResult = RunResult<AgentReport>;

async function runAgentTask(deps: AgentRunnerDeps, queued: Task, ctx: RunContext, clock: PhaseClock): Promise<AgentResult> {
  // Becomes the task with its pull request's branches once they are read (see below).
  let task = queued;
  const now = deps.now ?? Date.now;
  const started = now();
  const log = taskLogger(deps.log, { task: task.id, repo: task.repo.fullName, slot: ctx.slot });
  const { octokit, token } = await deps.github(task);
  const fail = (reason: string, costUsd?: number | null): AgentResult => {
    const safe = deps.redact(reason);
    return { state: "failed", detail: safe, report: { outcome: "failed", reason: safe, durationMs: now() - started, costUsd } };
  };

  // Every failure below tells the user one safe line (task-failure.ts); the error itself
  // goes to the log under the task's id, never to GitHub.
  const failWith = (error: unknown, what: string): AgentResult => {
    const failure = describeTaskFailure(error, task.id);
    log.error({ err: error, failure: failure.kind }, what);
    return fail(failure.reason);
  };
  let config: AgentConfig;
  try {
    config = await deps.loadConfig(task, octokit, ctx.slot);
  } catch (error) {
    if (isUserFacing(error)) return fail(error.userMessage);
    return failWith(error, "could not read the task's configuration");
  }

  // Before the checkout and the container: a spent budget stops the task before anything starts.
  // A fix loop is one piece of work: its attempts spend from the budget of the request that began it.
  const access = await deps.openModel(task, config.maxCostUsd, task.fix ? earlierLoopTasks(task.fix) : []);
  if (!access.ok) {
    log.info({ budget: access.stop.budget }, "not started: a budget is spent");
    return stoppedByBudget(access.stop, { ran: false, durationMs: now() - started, costUsd: null });
  }
  const model = access.session;
  const workspace = deps.workspaceFor(ctx.slot, task);
  // A task journaled by an older build may carry any delivery id: only a plain name becomes a path.
  const scratch = join(deps.scratchDir, task.id.replace(/[^A-Za-z0-9_-]/g, "_"));
  try {
    // Fetched while the checkout and the container get ready.
    const conversationP = deps.conversation(octokit, task);
    conversationP.catch(() => undefined);
    const lookup = await clock.time("checkout", () => withPullRequestBranches(octokit, queued));
    task = lookup.task;
    const branchNote = pullRequestNote(task, lookup.found, config);
    const plan = planCheckout(task, config);
    await clock.time("checkout", () => deps.repoCache.sync(repoRef(task), token, plan.extraRefs));
    await clock.time("container", () => deps.quiesce({ slot: ctx.slot, task }));
    const { checkout, setup } = await clock.time("checkout", async () => {
      const checkout = await deps.repoCache.checkout(repoRef(task), workspace, plan.target, deps.identity);
      const setup = await prepareContainerSetup(deps.repoCache, task, { dir: deps.setupDirFor(ctx.slot, task), headSha: checkout.baseSha, identity: deps.identity });
      return { checkout, setup };
    });
    const container = await clock.time("container", () =>
      deps.prepareContainer({ slot: ctx.slot, task, workspace, setupDir: setup.setupDir, env: config.env, signal: ctx.signal }),
    );
    const conversation = await conversationP;
    const prompt = renderPrompt(deps, task, config, plan.publish, container.workspaceFolder, conversation);
    log.info({ chars: prompt.length }, "starting the agent");
    const outcome = await clock.time("agent", () => container.runAgent(prompt, AbortSignal.any([ctx.signal, model.signal]), model.env));
    if (ctx.signal.aborted) return aborted(ctx);
    const costUsd = countedCost(model);
    const stop = model.stopped();
    if (stop) {
      log.warn({ budget: stop.budget, spentUsd: stop.spentUsd }, "the agent was stopped by a budget");
      const kept = await clock.time("publish", () => keepUnfinished(deps, { task, ctx, container, checkout, scratch, config, plan, stop }));
      return stoppedByBudget(stop, { ran: true, durationMs: now() - started, costUsd, ...kept });
    }
    if (!outcome.ok) {
      log.warn({ kind: outcome.kind, detail: outcome.detail, exitCode: outcome.exitCode }, `the agent did not finish: ${outcome.reason}`);
      // The exec error behind exec_failed is the server's (Docker), not something the agent did.
      const reason = outcome.kind === "exec_failed" ? agentStartFailure(task.id).reason : `the agent did not finish: ${outcome.reason}`;
      return fail(reason, costUsd);
    }

    const { exported, collected } = await clock.time("publish", () => takeChanges(deps, { task, ctx, container, baseSha: checkout.baseSha, scratch }));
    const summary = deps.redact(outcome.text);
    const leftOut = [...new Set([...exported.nestedRepositories, ...collected.droppedGitlinks])];
    const gitlinkNote = leftOut.length
      ? `Left out ${leftOut.map((p) => `\`${p.replace(/`/g, "")}\``).join(", ")}: nested repositories are not part of this one (only submodules of the base commit are).`
      : undefined;
    const done = { outcome: "done" as const, durationMs: now() - started, costUsd, turns: outcome.turns, summary };
    if (!collected.changed) {
      const note = [setup.note, ...container.notes, gitlinkNote].filter(Boolean).join(" ");
      return { state: "done", detail: "no changes", report: { ...done, note: note || undefined } };
    }
    // A fresh client and token: the run may have outlived the ones minted at the start (they last an hour).
    const published = await clock.time("publish", async () =>
      publish(await deps.github(task), task, config, plan.publish, scratch, collected.headSha, summary),
    );
    if (published.landed) recordLanded(deps, task, ctx.slot, published.landed, collected.headSha);
    const note = [published.note, branchNote, setup.note, gitlinkNote].filter(Boolean).join(" ");
    return {
      state: "done",
      detail: published.pullRequest ? `opened #${published.pullRequest.number}` : `pushed ${published.pushed?.branch ?? ""}`,
      report: { ...done, pullRequest: published.pullRequest, pushed: published.pushed, ...(published.branchMoved ? { branchMoved: true as const } : {}), ...(note ? { note } : {}) },
    };
  } catch (error) {
    if (ctx.signal.aborted) return aborted(ctx);
    if (isUserFacing(error)) return fail(error.userMessage);
    return failWith(error, "agent task failed");
  } finally {
    model.close();
    await discard(scratch).catch(() => undefined);
    await discard(`${scratch}.bundle`).catch(() => undefined);
  }
}

/** Tells the CI fix loop which commit landed on which pull request's branch, and for which loop. */
function recordLanded(deps: AgentRunnerDeps, task: Task, slot: string, landed: NonNullable<Published["landed"]>, sha: string): void {
  const push = loopPushOf(task, { slot, sha, ...landed });
  if (!push) return;
  try {
    deps.recordPush?.(push);
  } catch (error) {
    // The answer is published either way; only the loop on its CI is lost.
    deps.log.warn({ err: error, task: task.id }, "could not record the push for the CI fix loop");
  }
}

/** Why the change of a comment on a pull request is not on that pull request's branch. */
function pullRequestNote(task: Task, found: BranchLookup["found"], config: Pick<AgentConfig, "defaultBranch">): string | undefined {
  const base = `\`${config.defaultBranch ?? task.repo.defaultBranch}\``;
  if (found === "fork") return `#${task.target.number} comes from a fork that this app cannot push to, so the agent worked from ${base} and offers its change as a new pull request.`;
  if (found === "closed") return `#${task.target.number} is closed, so the agent worked from ${base} and offers its change as a new pull request.`;
  return undefined;
}

/** No report: the pool's final state (timed out, cancelled, or suspended by a shutdown) says it all. */
function aborted(ctx: RunContext): AgentResult {
  const reason = (ctx.signal.reason as TaskAbort | undefined)?.reason;
  return { state: "failed", detail: `aborted (${reason ?? "unknown"})` };
}

/** The proxy's count, not the agent's claim; null when the agent never asked the model (a custom AGENT_COMMAND). */
function countedCost(model: ModelSession): number | null {
  const usage = model.usage();
  return usage.requests > 0 || usage.costUsd > 0 ? usage.costUsd : null;
}

function stoppedByBudget(
  stop: BudgetStop,
  facts: { ran: boolean; durationMs: number; costUsd: number | null; pullRequest?: { number: number; url: string } | undefined; note?: string | undefined },
): AgentResult {
  const budget = budgetStopText(stop);
  return {
    state: "failed",
    detail: `stopped by the ${stop.budget} budget${facts.pullRequest ? `; unfinished work in #${facts.pullRequest.number}` : ""}`,
    report: { outcome: "stopped", budget, ...facts },
  };
}

interface RunInProgress {
  task: Task;
  ctx: RunContext;
  container: PreparedContainer;
  scratch: string;
}

/** The work leaves the container as a bundle; the host never reads the workspace's .git. */
async function takeChanges(deps: AgentRunnerDeps, run: RunInProgress & { baseSha: string }) {
  const bundle = `${run.scratch}.bundle`;
  await mkdir(deps.scratchDir, { recursive: true, mode: 0o700 });
  const exported = await run.container.exportChanges(run.baseSha, bundle, AbortSignal.any([run.ctx.signal, AbortSignal.timeout(EXPORT_TIMEOUT_MS)]));
  const collected = await collectChanges({
    bundle,
    cache: deps.repoCache.cachePath(repoRef(run.task)),
    scratch: run.scratch,
    baseSha: run.baseSha,
    identity: deps.identity,
    message: commitMessage(run.task),
  });
  return { exported, collected };
}

/**
 * A budget stopped the agent: what it had done so far is kept as a draft pull request from a new
 * branch, titled unfinished, and never pushed to an existing branch (a half-done change must not
 * land on the default branch or on someone's pull request). Nothing changed: nothing published.
 */
async function keepUnfinished(
  deps: AgentRunnerDeps,
  run: RunInProgress & { checkout: { baseSha: string }; config: AgentConfig; plan: CheckoutPlan; stop: BudgetStop },
): Promise<{ pullRequest?: { number: number; url: string }; note?: string }> {
  // A fix's half-done work would replace the pull request it fixes: the loop just ends (ci/fix-loop.ts).
  if (run.task.fix) return { note: "The fix was stopped before it was done, so nothing of it was pushed." };
  const { collected } = await takeChanges(deps, { ...run, baseSha: run.checkout.baseSha });
  if (!collected.changed) return { note: "The agent had changed nothing yet, so nothing was published." };
  const fresh = await deps.github(run.task);
  const base = publishBase(run.task, run.plan.publish);
  const why = `Unfinished: the agent was stopped because ${budgetStopText(run.stop)} This is the work it had done so far.`;
  const { number, url } = await openPullRequestFor(fresh, run.task, run.scratch, collected.headSha, { base, summary: "", note: why, draft: true, unfinished: true });
  return { pullRequest: { number, url } };
}

/** Packaging the agent's work in the container is quick; a hung git there must not hold the slot. */
const EXPORT_TIMEOUT_MS = 5 * 60_000;

const repoRef = (task: Task) => ({ owner: task.repo.owner, name: task.repo.name, cloneUrl: task.repo.cloneUrl });

interface CheckoutPlan {
  target: CheckoutTarget;
  extraRefs: string[];
  publish: PublishMode;
}

/** Issue → the default branch (DEVS.yml's, else the repository's); PR → its head. */
function planCheckout(task: Task, config: Pick<AgentConfig, "defaultBranch" | "directCommit">): CheckoutPlan {
  // A fix works on the pull request's branch at exactly the commit whose tests failed.
  if (task.fix) {
    const { number, headRef, headSha } = task.fix.pullRequest;
    return { target: { kind: "pull", number, headRef, headSha, sameRepo: true }, extraRefs: [], publish: { kind: "push_to_pr", branch: headRef } };
  }
  const pr = task.target.pullRequest;
  if (task.target.type === "pull_request" && pr) {
    const target: CheckoutTarget = { kind: "pull", number: task.target.number, headRef: pr.headRef, headSha: pr.headSha, sameRepo: !pr.fromFork };
    return {
      target,
      extraRefs: pr.fromFork ? [`refs/pull/${task.target.number}/head`] : [],
      publish: pr.fromFork ? { kind: "fork_pr", number: task.target.number } : { kind: "push_to_pr", branch: pr.headRef },
    };
  }
  const base = config.defaultBranch ?? task.repo.defaultBranch;
  return {
    target: { kind: "branch", branch: base },
    extraRefs: [],
    publish: config.directCommit ? { kind: "direct_commit", branch: base } : { kind: "pull_request", branch: branchFor(task), baseBranch: base },
  };
}

function renderPrompt(
  deps: AgentRunnerDeps,
  task: Task,
  config: AgentConfig,
  publish: PublishMode,
  workspaceFolder: string,
  conversation: ConversationComment[],
): string {
  if (config.renderOverride) {
    const rendered = config.renderOverride(overrideValues(task, conversation, workspaceFolder, deps.botHandle));
    return task.fix ? `${rendered}\n\n${whatFailed(task.fix)}\n` : rendered;
  }
  return buildPrompt({ task, workspacePath: workspaceFolder, botHandle: deps.botHandle, publish, conversation, promptExtra: config.promptExtra });
}

type Published = {
  pullRequest?: { number: number; url: string };
  pushed?: { branch: string; url: string };
  note?: string;
  /** The pull request's branch the commit landed on, when it did: the CI fix loop follows it. */
  landed?: { branch: string; pullNumber: number };
  /** A fix dropped because its branch moved on. */
  branchMoved?: true;
};
type Fresh = { octokit: GitHubClient; token: string };

/** Where a pull request of this task's work goes: the branch it would have been pushed to. */
function publishBase(task: Task, mode: PublishMode): string {
  switch (mode.kind) {
    case "pull_request":
      return mode.baseBranch;
    case "direct_commit":
    case "push_to_pr":
      return mode.branch;
    case "fork_pr":
      return task.target.pullRequest?.baseRef ?? task.repo.defaultBranch;
  }
}

/** Keeps a second task on the same issue off the first's branch. */
const branchSuffix = (task: Task) => task.id.slice(-6).toLowerCase().replace(/[^a-z0-9]/g, "");

/** Pushes the commit to a new branch of the task's and opens a pull request from it (or updates the one it opened before). */
async function openPullRequestFor(
  { octokit, token }: Fresh,
  task: Task,
  scratch: string,
  sha: string,
  input: { base: string; summary: string; note?: string | undefined; draft: boolean; unfinished?: boolean },
): Promise<{ number: number; url: string; head: string }> {
  const url = task.repo.cloneUrl;
  const text = pullRequestText(task, input.summary, input.note);
  const title = input.unfinished ? `[unfinished] ${text.title}`.slice(0, 250) : text.title;
  const ownBranches = [branchFor(task), branchFor(task, branchSuffix(task))];
  // The task ran before (a worker died after publishing, or a late copy of its message): its own
  // pull request gets this run's commit instead of a second pull request being opened.
  const earlier = await findTaskPullRequest(octokit, task, ownBranches);
  if (earlier) {
    if ((await replaceTaskBranch(scratch, url, token, sha, earlier.head, earlier.headSha)) !== "pushed") {
      throw new GitError(`the branch ${earlier.head} moved on since this task's earlier run; it was left as it is`);
    }
    await updatePullRequest(octokit, task, earlier.number, { title, body: text.body });
    return { number: earlier.number, url: earlier.url, head: earlier.head };
  }
  let branch = ownBranches[0]!;
  if (await remoteBranchExists(scratch, url, token, branch)) branch = ownBranches[1]!;
  if ((await pushCommit(scratch, url, token, sha, branch)) !== "pushed") throw new GitError(`the branch ${branch} could not be pushed`);
  const opened = await openPullRequest(octokit, task, { head: branch, base: input.base, title, body: text.body, draft: input.draft });
  return { ...opened, head: branch };
}

async function publish(fresh: Fresh, task: Task, config: AgentConfig, mode: PublishMode, scratch: string, sha: string, summary: string): Promise<Published> {
  const { token } = fresh;
  const url = task.repo.cloneUrl;
  const branchUrl = (branch: string) => `${task.repo.htmlUrl}/tree/${branch}`;
  const openPr = async (note?: string): Promise<Published> => {
    const { head, ...pr } = await openPullRequestFor(fresh, task, scratch, sha, { base: publishBase(task, mode), summary, note, draft: config.draftPrs });
    return { pullRequest: pr, landed: { branch: head, pullNumber: pr.number }, ...(note ? { note } : {}) };
  };
  switch (mode.kind) {
    case "pull_request":
      return openPr();
    case "direct_commit": {
      if ((await pushCommit(scratch, url, token, sha, mode.branch)) === "pushed") return { pushed: { branch: mode.branch, url: branchUrl(mode.branch) } };
      return openPr(`\`${mode.branch}\` moved on while the agent worked, so the change is a pull request instead of a direct commit.`);
    }
    case "push_to_pr": {
      const pullNumber = task.fix?.pullRequest.number ?? task.target.number;
      if ((await pushCommit(scratch, url, token, sha, mode.branch)) === "pushed") {
        return { pushed: { branch: mode.branch, url: branchUrl(mode.branch) }, landed: { branch: mode.branch, pullNumber } };
      }
      // Someone pushed while a fix was made: their commit wins, and the fix is dropped.
      if (task.fix) return { note: `\`${mode.branch}\` moved on while the agent worked on the fix, so the fix was not pushed.`, branchMoved: true };
      return openPr(`\`${mode.branch}\` moved on while the agent worked, so the change is a pull request into it.`);
    }
    case "fork_pr":
      return openPr(`#${mode.number} comes from a fork that this app cannot push to, so the change is offered as a new pull request.`);
  }
}
