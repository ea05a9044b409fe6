// Reduces push, pull_request, check_run and check_suite payloads to what the CI policy and the
// Task need. Pure.
import type { CiEvent, CiInput, CiLinkedPullRequest } from "../policy/ci.js";
import type { TargetSnapshot } from "../tasks/task.js";
import { login, targetSnapshot, type AgentPayload } from "./agent-payload.js";

interface User {
  login: string;
}

interface LinkedPullRequestLike {
  number: number;
  head?: { ref?: string; repo?: { id?: number } | null };
  base?: { ref?: string; repo?: { id?: number } | null };
}

export interface CiPayload {
  action?: string;
  sender: User;
  repository: AgentPayload["repository"] & { id?: number };
  installation?: { id: number };
  // push
  ref?: string;
  after?: string;
  deleted?: boolean;
  compare?: string;
  head_commit?: { id: string; message: string; url?: string } | null;
  // pull_request
  number?: number;
  pull_request?: {
    number: number;
    title: string;
    body?: string | null;
    draft?: boolean;
    state?: string;
    html_url: string;
    user: User | null;
    labels?: Array<{ name?: string }>;
    head: { ref: string; sha: string; repo: { full_name: string } | null };
    base: { ref: string };
  };
  // check_run / check_suite
  check_run?: {
    id: number;
    name: string;
    head_sha: string;
    html_url?: string;
    check_suite?: { head_branch?: string | null } | null;
    pull_requests?: LinkedPullRequestLike[];
  };
  check_suite?: { id: number; head_sha: string; head_branch?: string | null; pull_requests?: LinkedPullRequestLike[] };
  requested_action?: { identifier?: string } | null;
}


function linked(prs: LinkedPullRequestLike[] | undefined, repoId: number | undefined): CiLinkedPullRequest[] {
  return (prs ?? []).map((pr) => {
    const headRepo = pr.head?.repo?.id;
    const baseRepo = pr.base?.repo?.id ?? repoId;
    return {
      number: pr.number,
      headRef: pr.head?.ref ?? null,
      baseRef: pr.base?.ref ?? null,
      fromFork: headRepo !== undefined && baseRepo !== undefined && headRepo !== baseRepo,
    };
  });
}

/** Null when the payload lacks what the event needs. */
export function extractCi(event: CiEvent, payload: CiPayload): CiInput | null {
  const base = { event, action: payload.action ?? null, sender: login(payload.sender) };
  switch (event) {
    case "push":
      if (typeof payload.ref !== "string" || typeof payload.after !== "string") return null;
      return { ...base, push: { ref: payload.ref, after: payload.after, deleted: payload.deleted === true } };
    case "pull_request": {
      const pr = payload.pull_request;
      if (!pr) return null;
      const head = pr.head.repo?.full_name ?? null;
      return {
        ...base,
        pullRequest: {
          number: pr.number,
          draft: pr.draft === true,
          author: login(pr.user),
          headSha: pr.head.sha,
          headRef: pr.head.ref,
          headRepoFullName: head,
          baseRef: pr.base.ref,
          // A deleted fork (head repo null) is still someone else's code.
          fromFork: head === null || head.toLowerCase() !== payload.repository.full_name.toLowerCase(),
        },
      };
    }
    case "check_run": {
      const run = payload.check_run;
      if (!run) return null;
      return {
        ...base,
        checkRun: {
          name: run.name,
          headSha: run.head_sha,
          headBranch: run.check_suite?.head_branch ?? null,
          pullRequests: linked(run.pull_requests, payload.repository.id),
          requestedAction: payload.requested_action?.identifier ?? null,
        },
      };
    }
    case "check_suite": {
      const suite = payload.check_suite;
      if (!suite) return null;
      return {
        ...base,
        checkSuite: { headSha: suite.head_sha, headBranch: suite.head_branch ?? null, pullRequests: linked(suite.pull_requests, payload.repository.id) },
      };
    }
  }
}

/** What a CI task is about, for journals and dashboards: the pull request, or the commit. */
export function ciTarget(payload: CiPayload, headSha: string, prNumber: number | null): TargetSnapshot {
  const pr = payload.pull_request;
  const repoUrl = payload.repository.html_url;
  if (pr && pr.number === prNumber) return targetSnapshot(pr, pr, payload.repository.full_name);
  if (prNumber !== null) {
    return { type: "pull_request", number: prNumber, title: "", body: "", author: login(payload.sender), state: "open", url: `${repoUrl}/pull/${prNumber}`, labels: [] };
  }
  const message = payload.head_commit?.id === headSha ? payload.head_commit.message : "";
  return {
    type: "commit",
    number: 0,
    title: message.split("\n")[0] ?? "",
    body: message,
    author: login(payload.sender),
    state: "",
    url: `${repoUrl}/commit/${headSha}`,
    labels: [],
  };
}
