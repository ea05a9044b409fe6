// issues, issue_comment, pull_request, pull_request_review, pull_request_review_comment:
// guard clauses in the order that keeps work smallest (allowlist before anything), then one
// Task handed to the sink and 👀 on what triggered. The work itself is never awaited here.
import type { Context } from "probot";
import { deferredChild } from "../logging.js";
import { mayTrigger, type TriggerAccess } from "../github/permissions.js";
import { isOwnerAllowed } from "../policy/access.js";
import { contentKey } from "../policy/dedupe.js";
import { isStopCommand } from "../policy/mention.js";
import { decideAgentTrigger, type AgentTriggerEvent } from "../policy/trigger.js";
import type { Acknowledgements } from "../publish/acknowledgements.js";
import { addReaction } from "../publish/reactions.js";
import type { DeliveryMemory } from "../tasks/delivery-memory.js";
import type { TaskSink } from "../tasks/sink.js";
import type { DeliveryNotes } from "../webhooks/outcomes.js";
import { TASK_VERSION, type Task } from "../tasks/task.js";
import { extractAgentTrigger, repoOf, type AgentPayload } from "./agent-payload.js";

export interface AgentTriggerDeps extends TriggerAccess {
  allowedOwners: readonly string[];
  sink: TaskSink;
  memory: DeliveryMemory;
  /** Where the handler notes what it made of the delivery (the metrics count it once). */
  outcomes?: DeliveryNotes | undefined;
  now: () => Date;
  /** Cancels the queued or running agent tasks of an issue or PR; returns how many (`@bot stop`). */
  cancelTasks?: (repo: string, targetNumber: number, by: string) => number | Promise<number>;
  /** Where 👀 is asked for, after the delivery is answered (publish/acknowledgements.ts). */
  acknowledgements: Acknowledgements;
  /** A new request was queued on the thread: a CI fix loop there gives way to it. */
  requestArrived?: ((repo: string, targetNumber: number, by: string) => Promise<unknown>) | undefined;
}

export async function handleAgentTrigger(context: Context, deps: AgentTriggerDeps): Promise<void> {
  const event = context.name as AgentTriggerEvent;
  const payload = context.payload as unknown as AgentPayload;
  const repo = repoOf(payload);
  const log = deferredChild(context.log, { delivery: context.id, repo: repo.fullName, event: `${event}.${payload.action}` });

  if (!isOwnerAllowed(repo.owner, deps.allowedOwners)) {
    log.info("ignored: repository owner is not in ALLOWED_ORGS/ALLOWED_USERS");
    return;
  }
  const extracted = extractAgentTrigger(event, payload);
  if (!extracted) {
    log.warn("ignored: payload lacks the fields this event needs");
    return;
  }
  const decision = decideAgentTrigger(extracted.input, deps.bot);
  if (!decision.trigger) {
    log.debug({ reason: decision.reason }, "not a trigger");
    return;
  }
  if (decision.reason === "mention" && deps.cancelTasks && isStopCommand(extracted.input.text, deps.bot.handle)) {
    return handleStop(context, deps, extracted, repo, log);
  }
  const taskId = `agent-${context.id}`;
  if (deps.memory.seenDelivery(taskId)) {
    deps.outcomes?.note(context.id, "duplicate");
    log.info("ignored: delivery already handled (redelivery)");
    return;
  }
  const key = contentKey(extracted.content);
  if (deps.memory.seenContent(key)) {
    deps.outcomes?.note(context.id, "duplicate");
    if (extracted.review === undefined) {
      log.info("ignored: the same trigger already arrived in another delivery");
      return;
    }
    // Another delivery of the same review made the task, which reads all of its comments.
    log.info({ review: extracted.review }, "joined the task of its review");
    deps.acknowledgements.eyes(context.octokit, { owner: repo.owner, repo: repo.name, targetNumber: extracted.target.number, subject: extracted.trigger.subject }, log);
    return;
  }
  const sender = extracted.input.sender;
  if (!(await mayTrigger(context.octokit, repo, sender, deps))) {
    log.info({ sender }, "ignored: sender may not trigger the agent");
    return;
  }

  const task: Task = {
    version: TASK_VERSION,
    id: taskId,
    kind: "agent",
    createdAt: deps.now().toISOString(),
    deliveryId: context.id,
    event,
    action: payload.action,
    installationId: payload.installation?.id ?? null,
    repo,
    target: extracted.target,
    trigger: { ...extracted.trigger, reason: decision.reason },
    sender,
  };
  if (!(await deps.memory.claim(taskId, key))) {
    deps.outcomes?.note(context.id, "duplicate");
    log.info("ignored: a concurrent delivery claimed the same trigger");
    return;
  }
  try {
    await deps.sink.submit(task);
  } catch (error) {
    // Not queued: forget the claim so GitHub's redelivery can try again, and fail the delivery.
    deps.memory.release(taskId, key);
    throw error;
  }
  deps.outcomes?.note(context.id, "queued");
  log.info({ task: task.id, reason: decision.reason, target: task.target.number }, "task queued");
  await deps.requestArrived?.(repo.fullName, task.target.number, sender).catch((error: unknown) =>
    log.warn({ err: error }, "could not stop the CI fix loop the new request replaces"),
  );
  deps.acknowledgements.eyes(context.octokit, { owner: repo.owner, repo: repo.name, targetNumber: task.target.number, subject: task.trigger.subject }, log);
}

/** `@bot stop`: cancels this thread's agent tasks instead of starting one. */
async function handleStop(
  context: Context,
  deps: AgentTriggerDeps,
  extracted: NonNullable<ReturnType<typeof extractAgentTrigger>>,
  repo: ReturnType<typeof repoOf>,
  log: Context["log"],
): Promise<void> {
  const key = contentKey({ ...extracted.content, event: `${extracted.content.event}:stop` });
  const id = `stop-${context.id}`;
  if (deps.memory.seenDelivery(id) || deps.memory.seenContent(key)) return;
  const sender = extracted.input.sender;
  if (!(await mayTrigger(context.octokit, repo, sender, deps))) {
    log.info({ sender }, "ignored: sender may not stop the agent");
    return;
  }
  if (!(await deps.memory.claim(id, key))) return;
  const cancelled = await deps.cancelTasks!(repo.fullName, extracted.target.number, `@${sender}`);
  log.info({ cancelled, target: extracted.target.number }, "stop requested");
  await addReaction(context.octokit, repo.owner, repo.name, extracted.target.number, extracted.trigger.subject, cancelled ? "+1" : "confused").catch(
    (error: unknown) => log.warn({ err: error }, "could not react to the stop request"),
  );
}
