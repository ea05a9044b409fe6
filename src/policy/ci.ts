// When does an event run CI, and for whom? Pure: the handler reduces a payload to a CiInput, reads
// DEVS.yml and asks GitHub about permissions; these functions only decide. Three stages, so the
// handler does the least work for the most common answer ("not CI"):
//   1. preflightCi: event, action, ref, draft, check name. No config, no GitHub.
//   2. applyCiConfig: ci_enabled and the ci_branches globs.
//   3. applyCiAccess: AUTHORIZED_CI_TRIGGER_USERS, with forks held back and explained.
import picomatch from "picomatch";

export type CiEvent = "push" | "pull_request" | "check_run" | "check_suite";

/** Pull request actions that run CI; `ready_for_review` so a draft runs once it is ready. */
const CI_PULL_REQUEST_ACTIONS: readonly string[] = ["opened", "synchronize", "reopened", "ready_for_review"];

/** The identifier of the "Run tests" button on a check that did not run; may carry `:<pr>`. */
const RUN_CI_ACTION = "run-ci";

export interface CiPullRequestInput {
  number: number;
  draft: boolean;
  author: string;
  headSha: string;
  headRef: string;
  /** owner/name of the head repository; null when the fork was deleted. */
  headRepoFullName: string | null;
  baseRef: string;
  fromFork: boolean;
}

/** A pull request as check_run / check_suite payloads list it (same repository only). */
export interface CiLinkedPullRequest {
  number: number;
  headRef: string | null;
  baseRef: string | null;
  fromFork: boolean;
}

export interface CiInput {
  event: CiEvent;
  action: string | null;
  sender: string;
  push?: { ref: string; after: string; deleted: boolean } | undefined;
  pullRequest?: CiPullRequestInput | undefined;
  checkRun?:
    | {
        name: string;
        headSha: string;
        headBranch: string | null;
        pullRequests: CiLinkedPullRequest[];
        /** `requested_action` only: the button's identifier. */
        requestedAction: string | null;
      }
    | undefined;
  checkSuite?: { headSha: string; headBranch: string | null; pullRequests: CiLinkedPullRequest[] } | undefined;
}

/** What a relevant event asks for, before config and access are known. */
export interface CiCandidate {
  trigger: "push" | "pull_request" | "rerun";
  headSha: string;
  /** A ref holding headSha (see CiSnapshot.ref). */
  ref: string | null;
  branch: string | null;
  pullRequest: { number: number; baseRef: string | null; fromFork: boolean } | null;
  /** Logins that must all be allowed to trigger CI; the first is the one named when refused. */
  actors: string[];
  /** Code from someone else's fork: refused runs are reported on the PR instead of skipped. */
  fromFork: boolean;
}

export type CiPreflight = { relevant: true; candidate: CiCandidate } | { relevant: false; reason: string };

const skip = (reason: string) => ({ relevant: false as const, reason });
const unique = (logins: string[]) => [...new Map(logins.map((l) => [l.toLowerCase(), l])).values()];
const ZERO_SHA = /^0+$/;

export function preflightCi(input: CiInput, checkName: string): CiPreflight {
  switch (input.event) {
    case "push": {
      const push = input.push;
      if (!push) return skip("push without ref");
      if (push.deleted || ZERO_SHA.test(push.after)) return skip("branch or tag deleted");
      if (!push.ref.startsWith("refs/heads/")) return skip(`${push.ref} is not a branch`);
      const branch = push.ref.slice("refs/heads/".length);
      return {
        relevant: true,
        candidate: { trigger: "push", headSha: push.after, ref: push.ref, branch, pullRequest: null, actors: [input.sender], fromFork: false },
      };
    }
    case "pull_request": {
      const pr = input.pullRequest;
      if (!pr) return skip("pull request missing");
      if (!input.action || !CI_PULL_REQUEST_ACTIONS.includes(input.action)) return skip(`pull request ${input.action ?? "?"} does not run CI`);
      if (pr.draft) return skip("draft pull request");
      return {
        relevant: true,
        candidate: {
          trigger: "pull_request",
          headSha: pr.headSha,
          ref: `refs/pull/${pr.number}/head`,
          branch: pr.headRef,
          pullRequest: { number: pr.number, baseRef: pr.baseRef, fromFork: pr.fromFork },
          // Fork code is trusted only when its author may trigger CI, whoever sent the event.
          actors: pr.fromFork ? unique([pr.author, input.sender]) : [input.sender],
          fromFork: pr.fromFork,
        },
      };
    }
    case "check_run": {
      const run = input.checkRun;
      if (!run) return skip("check run missing");
      if (run.name !== checkName) return skip(`check run ${run.name} is not ours`);
      const button = input.action === "requested_action" ? parseRunAction(run.requestedAction) : null;
      if (input.action !== "rerequested" && !button) return skip(`check_run ${input.action ?? "?"} does not run CI`);
      return { relevant: true, candidate: rerun(input.sender, run.headSha, run.headBranch, run.pullRequests, button?.pullRequest ?? null) };
    }
    case "check_suite": {
      const suite = input.checkSuite;
      if (!suite) return skip("check suite missing");
      if (input.action !== "rerequested") return skip(`check_suite ${input.action ?? "?"} does not run CI`);
      return { relevant: true, candidate: rerun(input.sender, suite.headSha, suite.headBranch, suite.pullRequests, null) };
    }
  }
}

/**
 * A re-run tests the commit the check was on (not a newer head), on behalf of whoever pressed the
 * button: GitHub offers re-runs to people with write access, and this is how a maintainer lets a
 * fork's pull request run. Check payloads list only same-repository pull requests; for a fork the
 * button's identifier carries the number.
 */
function rerun(sender: string, headSha: string, headBranch: string | null, linked: CiLinkedPullRequest[], fromButton: number | null): CiCandidate {
  const pr = linked[0] ?? null;
  const number = pr?.number ?? fromButton;
  return {
    trigger: "rerun",
    headSha,
    ref: number !== null ? `refs/pull/${number}/head` : headBranch ? `refs/heads/${headBranch}` : null,
    branch: pr?.headRef ?? headBranch,
    pullRequest: number !== null ? { number, baseRef: pr?.baseRef ?? null, fromFork: pr?.fromFork ?? (fromButton !== null) } : null,
    actors: [sender],
    fromFork: false,
  };
}

/** `run-ci` or `run-ci:<pr number>`; null for any other identifier. */
export function parseRunAction(identifier: string | null | undefined): { pullRequest: number | null } | null {
  const match = /^run-ci(?::(\d{1,12}))?$/.exec(identifier ?? "");
  if (!match) return null;
  return { pullRequest: match[1] ? Number(match[1]) : null };
}

/** The identifier for a "Run tests" button (≤ 20 characters, as GitHub requires). */
export function runActionIdentifier(pullRequest: number | null): string {
  return pullRequest !== null && String(pullRequest).length <= 12 ? `${RUN_CI_ACTION}:${pullRequest}` : RUN_CI_ACTION;
}

/** The events the CI handler listens to. */
export const CI_EVENTS = ["push", "pull_request", "check_run", "check_suite"] as const;

export interface CiConfig {
  ciEnabled: boolean;
  ciBranches: readonly string[];
  ciTestCommand: string;
  /** DEVS.yml ci_fix_attempts (null: the default; omitted by older loaders). */
  ciFixAttempts?: number | null | undefined;
}

export type CiConfigDecision = { run: true } | { run: false; reason: string };

export function applyCiConfig(candidate: CiCandidate, config: CiConfig): CiConfigDecision {
  if (!config.ciEnabled) return { run: false, reason: "ci_enabled is not true in DEVS.yml" };
  if (candidate.trigger === "push" && !branchMatches(candidate.branch ?? "", config.ciBranches)) {
    return { run: false, reason: `branch ${candidate.branch ?? "?"} is not in ci_branches` };
  }
  return { run: true };
}

/**
 * `ci_branches` patterns in order, as GitHub Actions reads `branches`: globs (`release/*` stays in
 * one path segment, `release/**` spans them), and `!pattern` takes back what an earlier one added.
 * A branch runs when the last pattern that matches it is not negated.
 */
export function branchMatches(branch: string, patterns: readonly string[]): boolean {
  let included = false;
  for (const raw of patterns) {
    const pattern = raw.trim();
    if (!pattern) continue;
    const negated = pattern.startsWith("!");
    const glob = negated ? pattern.slice(1) : pattern;
    if (glob && picomatch.isMatch(branch, glob, { dot: true })) included = !negated;
  }
  return included;
}

export type CiAccessDecision =
  | { kind: "run" }
  /** Not run, and the pull request is told why: a completed check with this explanation. */
  | { kind: "blocked"; login: string; reason: string }
  /** Not run, silently (a push or a re-run by someone who may not trigger CI). */
  | { kind: "skip"; reason: string };

/**
 * `allowed(login)` answers AUTHORIZED_CI_TRIGGER_USERS (or write access when it is empty). Pull
 * requests that may not run are reported (forks above all: an outsider's code never runs on our
 * machines until someone who may trigger CI starts it); pushes and re-runs are only logged.
 */
export function applyCiAccess(candidate: CiCandidate, allowed: (login: string) => boolean): CiAccessDecision {
  const refused = candidate.actors.find((login) => !allowed(login));
  if (refused === undefined) return { kind: "run" };
  if (candidate.trigger === "pull_request") {
    const reason = candidate.fromFork
      ? `This pull request comes from a fork, and @${refused} may not trigger CI in this repository.`
      : `@${refused} may not trigger CI in this repository.`;
    return { kind: "blocked", login: refused, reason };
  }
  return { kind: "skip", reason: `@${refused} may not trigger CI` };
}
