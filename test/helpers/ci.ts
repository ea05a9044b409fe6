// CI handler tests: a Probot wired with only the CI handler (src/index.ts is the lead's), deps with
// an injected DEVS.yml reader, and nock body matchers that fail fast with the diff.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { Probot } from "probot";
import { afterEach, beforeEach, expect } from "vitest";
import { strictNock } from "./nock.js";
import { pino } from "pino";
import { DEFAULT_CHECK_NAME } from "../../src/ci/checks.js";
import { PermissionCache } from "../../src/github/permissions.js";
import { botNames } from "../../src/policy/bot-names.js";
import { handleCi, type CiConfigResult, type CiDeps } from "../../src/handlers/ci.js";
import { CI_EVENTS } from "../../src/policy/ci.js";
import { createRedactor } from "../../src/publish/redact.js";
import { openDatabase } from "../../src/tasks/database.js";
import { SqliteDeliveryMemory } from "../../src/tasks/delivery-memory.js";
import { MemoryTaskSink } from "../../src/tasks/sink.js";
import type { TaskRepo } from "../../src/tasks/task.js";
import { BOT, TestOctokit } from "./probot.js";

export const CI_ENABLED: CiConfigResult = { ciEnabled: true, ciBranches: ["main", "master", "release/*"], ciTestCommand: "./runtests.sh" };

export type TestCiDeps = CiDeps & { sink: MemoryTaskSink; configReads: TaskRepo[] };

export function ciDeps(overrides: Partial<CiDeps> & { config?: CiConfigResult } = {}): TestCiDeps {
  const { config = CI_ENABLED, ...rest } = overrides;
  const configReads: TaskRepo[] = [];
  return {
    bot: botNames({ handle: BOT, login: `${BOT}[bot]` }),
    allowedOwners: [],
    authorizedUsers: { kind: "everyone" },
    sink: new MemoryTaskSink(),
    memory: new SqliteDeliveryMemory(openDatabase(mkdtempSync(join(tmpdir(), "devs-ci-handler-")))),
    permissions: new PermissionCache(),
    loadCiConfig: async (_context, repo) => {
      configReads.push(repo);
      return config;
    },
    checkName: DEFAULT_CHECK_NAME,
    report: "checks",
    redact: createRedactor(["hunter2-secret-value"]),
    now: () => new Date("2026-11-29T12:00:00.000Z"),
    configReads,
    ...rest,
  } as TestCiDeps;
}

export async function ciProbot(deps: CiDeps, auth: { githubToken: string } | { appId: number; privateKey: string } = { githubToken: "test-token" }): Promise<Probot> {
  const probot = new Probot({ ...auth, Octokit: TestOctokit, log: pino({ level: "silent" }) });
  await probot.load((app) => {
    app.on([...CI_EVENTS], async (context) => handleCi(context, deps));
  });
  return probot;
}

/**
 * A nock body matcher that compares exactly and, on a mismatch, records the difference and answers
 * "no match" (so the request fails at once instead of hanging); `mismatches` is checked after each test.
 */
export const mismatches: Array<{ expected: unknown; actual: unknown }> = [];

/** strictNock, and no exactBody mismatch left: call once at the top of a CI test file. */
export function strictCiNock(): void {
  strictNock();
  beforeEach(() => void (mismatches.length = 0));
  afterEach(() => expect(mismatches, "request bodies that differed from the expected ones").toEqual([]));
}
export function exactBody(expected: unknown) {
  return (actual: unknown): boolean => {
    if (isDeepStrictEqual(actual, expected)) return true;
    mismatches.push({ expected, actual });
    return false;
  };
}
