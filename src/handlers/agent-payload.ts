// Reduces the payloads of the five mention events to what the policy and the Task need. Pure.
import type { ContentKeyInput } from "../policy/dedupe.js";
import type { AgentTriggerEvent, TriggerInput } from "../policy/trigger.js";
import { pullRequestSnapshot, type TargetSnapshot, type TaskRepo, type TaskTrigger } from "../tasks/task.js";

interface User {
  login: string;
}
interface Label {
  name?: string;
}
interface IssueLike {
  number: number;
  title: string;
  body?: string | null;
  user: User | null;
  state?: string;
  html_url: string;
  labels?: Label[];
  assignee?: User | null;
  assignees?: User[] | null;
  pull_request?: unknown;
  updated_at?: string;
}
interface PullRequestLike extends IssueLike {
  draft?: boolean;
  head: { ref: string; sha: string; repo: { full_name: string } | null };
  base: { ref: string; repo?: { full_name: string } };
}
interface CommentLike {
  id: number;
  /** Inline comments on a diff belong to a review, even a single one. */
  pull_request_review_id?: number | null;
  body: string;
  user: User | null;
  html_url: string;
  path?: string;
  line?: number | null;
  diff_hunk?: string;
}
interface RepositoryLike {
  name: string;
  full_name: string;
  owner: User;
  default_branch?: string;
  private?: boolean;
  clone_url?: string;
  html_url: string;
}
export interface AgentPayload {
  action: string;
  sender: User;
  repository: RepositoryLike;
  installation?: { id: number };
  issue?: IssueLike;
  pull_request?: PullRequestLike;
  comment?: CommentLike;
  review?: { id: number; body: string | null; user: User | null; html_url: string; state?: string };
  assignee?: User | null;
  changes?: { body?: { from?: string | null }; title?: { from?: string } };
}

export interface ExtractedTrigger {
  input: TriggerInput;
  /** A new review or one of its new inline comments: its deliveries make one task. */
  review?: number | undefined;
  target: TargetSnapshot;
  trigger: Omit<TaskTrigger, "reason">;
  content: ContentKeyInput;
}

export function repoOf(payload: Pick<AgentPayload, "repository">): TaskRepo {
  const r = payload.repository;
  return {
    owner: r.owner.login,
    name: r.name,
    fullName: r.full_name,
    defaultBranch: r.default_branch ?? "main",
    private: r.private ?? false,
    cloneUrl: r.clone_url ?? `${r.html_url}.git`,
    htmlUrl: r.html_url,
  };
}

/** A deleted account shows as GitHub shows it: `ghost`. */
export const login = (u: User | null | undefined): string => u?.login ?? "ghost";

/** Everyone assigned to an issue or pull request (`assignee` is the first of `assignees`). */
function assigneesOf(item: IssueLike): string[] {
  const all = [...(item.assignees ?? []), ...(item.assignee ? [item.assignee] : [])];
  return [...new Set(all.map((a) => a.login))];
}

function issueText(title: string, body: string | null | undefined): string {
  return `${title}\n\n${body ?? ""}`;
}

/** An issue or pull request as a task remembers it; `pr` carries the branches when it is a pull request. */
export function targetSnapshot(issue: IssueLike, pr: PullRequestLike | undefined, repoFullName: string): TargetSnapshot {
  const isPr = pr !== undefined || issue.pull_request !== undefined;
  return {
    type: isPr ? "pull_request" : "issue",
    number: issue.number,
    title: issue.title,
    body: issue.body ?? "",
    author: login(issue.user),
    state: issue.state ?? "open",
    url: issue.html_url,
    labels: (issue.labels ?? []).map((l) => l.name ?? "").filter(Boolean),
    pullRequest: pr ? pullRequestSnapshot(pr, repoFullName) : undefined,
  };
}

/** One key for a review and each of its new inline comments, so that the first to arrive stands for all. */
function reviewContent(repo: string, reviewId: number): ContentKeyInput {
  return { event: "pull_request_review", repo, subjectId: reviewId, text: "" };
}

/** Returns null when the payload lacks what the event needs (a malformed or foreign payload). */
export function extractAgentTrigger(event: AgentTriggerEvent, payload: AgentPayload): ExtractedTrigger | null {
  const repo = payload.repository.full_name;
  const base = { event, action: payload.action, sender: login(payload.sender) };
  switch (event) {
    case "issues":
    case "pull_request": {
      const item = event === "issues" ? payload.issue : payload.pull_request;
      if (!item) return null;
      const text = issueText(item.title, item.body);
      const previous =
        payload.changes && (payload.changes.body || payload.changes.title)
          ? issueText(payload.changes.title?.from ?? item.title, payload.changes.body ? payload.changes.body.from : item.body)
          : text;
      const assigned = payload.action === "assigned" ? login(payload.assignee) : "";
      return {
        input: {
          ...base,
          text,
          previousText: payload.action === "edited" ? previous : undefined,
          assignee: payload.assignee?.login ?? null,
          assignees: assigneesOf(item),
          pullRequestAuthor: event === "pull_request" ? login(item.user) : null,
        },
        target: targetSnapshot(item, payload.pull_request, repo),
        trigger: {
          subject: event === "issues" ? { type: "issue", id: item.number } : { type: "pull_request", id: item.number },
          author: payload.action === "assigned" ? base.sender : login(item.user),
          body: item.body ?? "",
          url: item.html_url,
        },
        content: {
          event,
          repo,
          subjectId: item.number,
          text: assigned ? `assigned:${assigned}` : text,
          revision: assigned ? item.updated_at : undefined,
        },
      };
    }
    case "issue_comment":
    case "pull_request_review_comment": {
      const comment = payload.comment;
      const item = event === "issue_comment" ? payload.issue : payload.pull_request;
      if (!comment || !item) return null;
      const target = targetSnapshot(item, payload.pull_request, repo);
      const review = event === "pull_request_review_comment" && payload.action === "created" ? (comment.pull_request_review_id ?? undefined) : undefined;
      return {
        review,
        input: {
          ...base,
          author: login(comment.user),
          text: comment.body,
          previousText: payload.action === "edited" ? (payload.changes?.body?.from ?? null) : undefined,
          assignees: assigneesOf(item),
          pullRequestAuthor: target.type === "pull_request" ? target.author : null,
        },
        target,
        trigger: {
          subject: { type: event, id: comment.id },
          author: login(comment.user),
          body: comment.body,
          url: comment.html_url,
          path: comment.path,
          line: comment.line,
          diffHunk: comment.diff_hunk,
          reviewId: review,
        },
        content: review ? reviewContent(repo, review) : { event, repo, subjectId: comment.id, text: comment.body },
      };
    }
    case "pull_request_review": {
      const review = payload.review;
      const pr = payload.pull_request;
      if (!review || !pr) return null;
      return {
        review: review.id,
        input: {
          ...base,
          author: login(review.user),
          text: review.body,
          assignees: assigneesOf(pr),
          pullRequestAuthor: login(pr.user),
        },
        target: targetSnapshot(pr, pr, repo),
        trigger: {
          subject: { type: "pull_request_review", id: review.id },
          author: login(review.user),
          body: review.body ?? "",
          url: review.html_url,
          reviewId: review.id,
        },
        content: reviewContent(repo, review.id),
      };
    }
  }
}
