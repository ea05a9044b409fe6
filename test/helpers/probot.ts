// A Probot for handler tests: token auth, no throttling or retries (function form, as measured in
// probot-notes), silent logs, and the app wired with the given deps.
import { Probot, ProbotOctokit } from "probot";
import { pino } from "pino";
import { createApp, type AppDeps } from "../../src/index.js";
import { PermissionCache } from "../../src/github/permissions.js";
import { Acknowledgements } from "../../src/publish/acknowledgements.js";
import { botNames } from "../../src/policy/bot-names.js";
import { openDatabase } from "../../src/tasks/database.js";
import { SqliteDeliveryMemory } from "../../src/tasks/delivery-memory.js";
import { MemoryTaskSink } from "../../src/tasks/sink.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const TestOctokit = ProbotOctokit.defaults((options: Record<string, unknown>) => ({
  ...options,
  retry: { enabled: false },
  throttle: { enabled: false },
}));

export const BOT = "devs-bot";

export function testDeps(overrides: Partial<AppDeps> = {}): AppDeps & { sink: MemoryTaskSink; memory: SqliteDeliveryMemory } {
  const dir = mkdtempSync(join(tmpdir(), "devs-handler-"));
  return {
    bot: botNames({ handle: BOT, login: `${BOT}[bot]` }),
    allowedOwners: [],
    authorizedUsers: { kind: "everyone" },
    sink: new MemoryTaskSink(),
    memory: new SqliteDeliveryMemory(openDatabase(dir)),
    permissions: new PermissionCache(),
    acknowledgements: new Acknowledgements(),
    now: () => new Date("2026-11-29T12:00:00Z"),
    ...overrides,
  } as AppDeps & { sink: MemoryTaskSink; memory: SqliteDeliveryMemory };
}

export async function testProbot(deps: AppDeps): Promise<Probot> {
  const probot = new Probot({
    githubToken: "test-token",
    Octokit: TestOctokit,
    log: pino({ level: "silent" }),
  });
  await probot.load(createApp(deps));
  return settledReactions(probot, deps);
}

/**
 * The Probot with `receive` resolving once the 👀 the delivery asked for is written too: the
 * handler answers GitHub first (publish/acknowledgements.ts), and tests assert on both.
 */
export function settledReactions(probot: Probot, deps: Pick<AppDeps, "acknowledgements">): Probot {
  const receive = probot.receive.bind(probot);
  probot.receive = async (event) => {
    await receive(event);
    await deps.acknowledgements.idle();
  };
  return probot;
}
