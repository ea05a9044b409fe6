// What became of each delivery, counted once: refused at the door (bad headers, bad signature),
// failed in a handler (`error`, so GitHub may redeliver), or handled. A delivery may reach more
// than one handler (a pull_request is both an agent trigger and a CI event); each notes what it
// decided and the strongest decision counts: queued, then duplicate, then ignored (the default,
// also for events no handler listens to).

import { CI_EVENTS } from "../policy/ci.js";
import { AGENT_TRIGGER_EVENTS } from "../policy/trigger.js";

export type DeliveryOutcome = "queued" | "duplicate" | "ignored" | "refused" | "bad_signature" | "error";

/** What a handler may note; anything else it does not note is `ignored`. */
export type HandlerOutcome = Extract<DeliveryOutcome, "queued" | "duplicate">;

/** A handler's way to say what it made of a delivery (by its id). */
export interface DeliveryNotes {
  note(deliveryId: string, outcome: HandlerOutcome): void;
}

/**
 * The events the handlers take and GitHub's own `ping` and installation events; any other name
 * is `other`, so a forged X-GitHub-Event header cannot grow the label set.
 */
const KNOWN_EVENTS = new Set<string>([...AGENT_TRIGGER_EVENTS, ...CI_EVENTS, "ping", "installation", "installation_repositories"]);

function eventLabel(name: string | undefined): string {
  return name && KNOWN_EVENTS.has(name) ? name : "other";
}

const RANK: Record<HandlerOutcome, number> = { duplicate: 1, queued: 2 };

/** Notes of deliveries never settled (a transport that does not count) are forgotten past this many. */
const MAX_PENDING = 1000;

export class DeliveryOutcomes implements DeliveryNotes {
  private readonly pending = new Map<string, HandlerOutcome>();

  constructor(private readonly count: (event: string, outcome: DeliveryOutcome) => void) {}

  note(deliveryId: string, outcome: HandlerOutcome): void {
    const before = this.pending.get(deliveryId);
    if (before && RANK[before] >= RANK[outcome]) return;
    this.pending.set(deliveryId, outcome);
    if (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value!);
  }

  /** The handlers are done with a verified delivery: counted with their strongest note, or `error` when one threw. */
  settle(deliveryId: string, event: string, failed: boolean): void {
    const noted = this.pending.get(deliveryId);
    this.pending.delete(deliveryId);
    this.count(eventLabel(event), failed ? "error" : (noted ?? "ignored"));
  }

  /** Refused before any handler saw it. */
  refused(event: string | undefined, outcome: Extract<DeliveryOutcome, "refused" | "bad_signature">): void {
    this.count(eventLabel(event), outcome);
  }
}
