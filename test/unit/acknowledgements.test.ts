// The 👀 after the delivery is answered: asking returns at once whatever GitHub's throttle does, a
// 👀 already on its way is not asked for again, a failure is logged and stops nothing, and idle()
// waits for what was asked.
import { describe, expect, it } from "vitest";
import type { GitHubClient } from "../../src/github/client.js";
import { Acknowledgements } from "../../src/publish/acknowledgements.js";

/** An Octokit whose writes wait until the test lets them through. */
function heldOctokit() {
  const requests: string[] = [];
  const held: Array<() => void> = [];
  let fail = false;
  const octokit = {
    request: (route: string) => {
      requests.push(route);
      return new Promise<void>((resolve, reject) => held.push(() => (fail ? reject(new Error("403 secondary rate limit")) : resolve())));
    },
  } as unknown as GitHubClient;
  return { octokit, requests, release: () => held.splice(0).forEach((go) => go()), failNext: () => void (fail = true) };
}

const warnings: unknown[] = [];
const log = { warn: (...args: unknown[]) => void warnings.push(args) };
const onComment = (id: number) => ({ owner: "acme", repo: "widgets", targetNumber: 1, subject: { type: "issue_comment" as const, id } });

describe("Acknowledgements", () => {
  it("returns before GitHub has answered, and idle() waits for the write", async () => {
    const gh = heldOctokit();
    const acks = new Acknowledgements();
    acks.eyes(gh.octokit, onComment(7), log);
    expect(gh.requests).toEqual(["POST /repos/acme/widgets/issues/comments/7/reactions"]);
    let settled = false;
    const idle = acks.idle().then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false);
    gh.release();
    await idle;
    expect(acks.pending).toBe(0);
  });

  it("the same subject's 👀 on its way is asked for once; another subject's is its own", async () => {
    const gh = heldOctokit();
    const acks = new Acknowledgements();
    acks.eyes(gh.octokit, onComment(7), log);
    acks.eyes(gh.octokit, onComment(7), log);
    acks.eyes(gh.octokit, { ...onComment(7), repo: "Widgets" }, log);
    acks.eyes(gh.octokit, onComment(8), log);
    expect(gh.requests).toHaveLength(2);
    gh.release();
    await acks.idle();
    // Written: a later delivery of the same subject may ask again (GitHub keeps one 👀 per user).
    acks.eyes(gh.octokit, onComment(7), log);
    expect(gh.requests).toHaveLength(3);
    gh.release();
    await acks.idle();
  });

  it("a refused write is logged and leaves nothing pending", async () => {
    const gh = heldOctokit();
    const acks = new Acknowledgements();
    warnings.length = 0;
    gh.failNext();
    acks.eyes(gh.octokit, onComment(9), log);
    gh.release();
    await acks.idle();
    expect(warnings).toHaveLength(1);
    expect(acks.pending).toBe(0);
  });
});
