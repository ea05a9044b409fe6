// GitHub does not retry a failed delivery, and a delivery that a proxy (smee) accepted while this
// server was down looks delivered to GitHub. In App mode the sweep lists the App's recent
// deliveries and asks GitHub to redeliver each one that failed or never reached us, once per
// delivery. Redelivering is safe: a delivery that did arrive is recognised by its id (delivery
// memory) and does nothing, so a wrong guess costs one request, never a second task.
import type { Logger } from "pino";
import type { GitHubClient } from "./client.js";

/** The fields of `GET /app/hook/deliveries` items the sweep reads. */
interface HookDelivery {
  id: number | bigint;
  guid: string;
  delivered_at: string;
  status_code: number;
  event: string;
}

export interface RedeliveryMemory {
  wasReceived(deliveryId: string): boolean;
  markRedeliveryAsked(guid: string): boolean;
  servingSince(): number;
}

export interface RedeliveryOptions {
  /** An App-authenticated client (JWT): the hook's deliveries are the App's, not an installation's. */
  appClient(): Promise<GitHubClient>;
  memory: RedeliveryMemory;
  log: Logger;
  now?: () => number;
}

/** GitHub keeps deliveries, and allows redelivering them, for three days. */
const RETENTION_MS = 3 * 24 * 60 * 60 * 1000;
/** A delivery this recent may still be on its way through the intake. */
const SETTLE_MS = 60_000;
const PAGE_SIZE = 100;
/** A bound on one sweep, whatever the App's volume: ten thousand deliveries. */
const MAX_PAGES = 100;

function shouldRedeliver(d: HookDelivery, received: boolean): boolean {
  const ok = d.status_code >= 200 && d.status_code < 300;
  return !ok || !received;
}

export class RedeliverySweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;
  private readonly now: () => number;

  constructor(private readonly options: RedeliveryOptions) {
    this.now = options.now ?? Date.now;
  }

  /** One pass: the deliveries GitHub lists within its window and ours, newest first. Returns the guids asked for. */
  async sweep(): Promise<string[]> {
    const { memory, log } = this.options;
    const octokit = await this.options.appClient();
    const now = this.now();
    const from = Math.max(now - RETENTION_MS, memory.servingSince());
    const until = now - SETTLE_MS;
    const asked: string[] = [];
    const seen = new Set<string>();
    let cursor: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const response: { data: HookDelivery[]; headers: { link?: string } } = await octokit.request("GET /app/hook/deliveries", {
        per_page: PAGE_SIZE,
        ...(cursor ? { cursor } : {}),
      });
      let older = false;
      for (const d of response.data) {
        const at = Date.parse(d.delivered_at);
        if (at < from) {
          older = true;
          break;
        }
        // Attempts of one delivery share its guid; the newest attempt (listed first) decides.
        if (at > until || seen.has(d.guid)) continue;
        seen.add(d.guid);
        if (!shouldRedeliver(d, memory.wasReceived(d.guid))) continue;
        if (!memory.markRedeliveryAsked(d.guid)) continue;
        try {
          await octokit.request("POST /app/hook/deliveries/{delivery_id}/attempts", { delivery_id: Number(d.id) });
          asked.push(d.guid);
          log.info({ delivery: d.guid, event: d.event, status: d.status_code }, "asked GitHub to redeliver a missed delivery");
        } catch (error) {
          log.warn({ err: error, delivery: d.guid }, "could not ask GitHub to redeliver a delivery");
        }
      }
      cursor = older ? null : nextCursor(response.headers.link);
      if (!cursor) break;
    }
    return asked;
  }

  /** Sweeps now and then every `intervalMs`; a failed sweep is logged and the next one tries again. */
  start(intervalMs: number): void {
    const run = () => {
      if (this.running) return;
      this.running = this.sweep()
        .catch((error: unknown) => this.options.log.warn({ err: error }, "the redelivery sweep failed; it runs again later"))
        .finally(() => (this.running = null));
    };
    run();
    this.timer = setInterval(run, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }
}

/** The `cursor` of the Link header's `rel="next"` URL (GitHub pages hook deliveries by cursor). */
export function nextCursor(link: string | undefined): string | null {
  const next = link?.split(",").find((part) => /rel="next"/.test(part));
  const url = next ? /<([^>]+)>/.exec(next)?.[1] : undefined;
  if (!url) return null;
  try {
    return new URL(url).searchParams.get("cursor");
  } catch {
    return null;
  }
}
