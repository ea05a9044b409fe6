// The slice of Octokit this app uses, so modules can take a real ProbotOctokit or a test double.
import type { ProbotOctokit } from "probot";

export type GitHubClient = Pick<InstanceType<typeof ProbotOctokit>, "request">;
