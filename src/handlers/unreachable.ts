// A delivery for a repository the App can no longer read (deleted, transferred, the App removed
// from it, the installation suspended): GitHub answers 404, 403 or 410 to the installation token
// or to the handler's calls. No redelivery can succeed, so the delivery is not failed (that would
// be a 5xx and an error in the log for good); it is ignored with one warning. Everything else,
// such as a full disk or GitHub's rate limit, still fails the delivery so it can be redelivered.
import type { Context } from "probot";
import { RepositoryUnavailableError } from "../config/errors.js";

/** GitHub's status when `error` means the repository cannot be read by this App; null otherwise. */
function unreachableStatus(error: unknown): number | null {
  for (let cause = error, depth = 0; cause && depth < 5; cause = (cause as { cause?: unknown }).cause, depth++) {
    if (cause instanceof RepositoryUnavailableError) return 404;
    const { status, message, response } = cause as { status?: unknown; message?: unknown; response?: { headers?: Record<string, string | undefined> } };
    if (status === 404 || status === 410) return status;
    if (status === 403 && !isRateLimit(String(message ?? ""), response?.headers ?? {})) return 403;
  }
  return null;
}

/** A 403 that only means "not now": the primary or secondary rate limit. */
function isRateLimit(message: string, headers: Record<string, string | undefined>): boolean {
  return headers["x-ratelimit-remaining"] === "0" || headers["retry-after"] !== undefined || /rate limit|abuse/i.test(message);
}

/** Runs a handler; an unreachable repository ends the delivery with one warning instead of an error. */
export async function ignoringUnreachable(context: Context, handler: () => Promise<void>): Promise<void> {
  try {
    await handler();
  } catch (error) {
    const status = unreachableStatus(error);
    if (status === null) throw error;
    const repo = (context.payload as { repository?: { full_name?: string } }).repository?.full_name;
    const action = (context.payload as { action?: string }).action;
    context.log.warn(
      { delivery: context.id, repo, event: action ? `${context.name}.${action}` : context.name, status, reason: (error as Error).message },
      "ignored: this app cannot read the repository (deleted, transferred, or the app removed from it); a redelivery cannot succeed",
    );
  }
}
