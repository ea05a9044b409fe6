// Branch names, commit messages and pull request text for published work. Pure.
import type { Task } from "../tasks/task.js";
import { safeName } from "../names/safe-name.js";
import { markerFor } from "./progress.js";

export function slugify(title: string, max = 40): string {
  // Accents dropped, not replaced: "Café" is "cafe", not "caf".
  const slug = safeName(title.normalize("NFKD").replace(/[\u0300-\u036f]/g, ""), "alnum");
  return slug.slice(0, max).replace(/-+$/, "") || "task";
}

/** `devs/issue-<n>-<slug>`; a suffix keeps a second task on the same issue off the first's branch. */
export function branchFor(task: Task, suffix?: string): string {
  const kind = task.target.type === "pull_request" ? "pr" : "issue";
  const base = `devs/${kind}-${task.target.number}-${slugify(task.target.title)}`;
  return suffix ? `${base}-${suffix}` : base;
}

export function commitMessage(task: Task): string {
  const what = task.target.type === "pull_request" ? "pull request" : "issue";
  return `${task.target.title.trim() || `Work on ${what} #${task.target.number}`}\n\nRequested by @${task.trigger.author} in ${task.trigger.url}`;
}

/**
 * `Refs #n`, never `Fixes #n`: merging must not close the issue behind the reviewer's back. The
 * body ends with the task's marker, so a repeated run of the task finds its pull request again.
 */
export function pullRequestText(task: Task, summary: string, note?: string): { title: string; body: string } {
  const title = task.target.type === "pull_request" ? `Follow-up to #${task.target.number}: ${task.target.title}` : task.target.title;
  const body = [
    `Refs #${task.target.number}`,
    "",
    `Requested by @${task.trigger.author} in ${task.trigger.url}.`,
    ...(note ? ["", `> ${note}`] : []),
    "",
    "## Summary",
    "",
    summary.trim() || "_The agent left no summary._",
  ].join("\n");
  return { title: title.slice(0, 250), body: `${body.slice(0, 60_000)}\n\n${markerFor(task.id)}` };
}
