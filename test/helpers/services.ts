// What `serve` builds (wiring/services.ts), for tests: the real composition root with a test
// GitHub client (throttling off), the bot's identity from GITHUB_MENTIONED_USER alone (as when
// GitHub could not be asked), and the test's own executors or sink where it wants them.
import { pino, type Logger } from "pino";
import { createProbot } from "../../src/github/probot.js";
import type { Settings } from "../../src/settings.js";
import { buildServices, type GitHubParts, type ServiceOptions, type Services } from "../../src/wiring/services.js";
import { TestOctokit } from "./probot.js";

export function testGitHub(settings: Settings, log: Logger = pino({ level: "silent" })): GitHubParts {
  const probot = createProbot(settings, log, TestOctokit);
  const handle = settings.mentionedUser ?? "devs-bot";
  return { log, probot, identity: { handle, login: null, commit: { name: handle, email: `${handle}@users.noreply.github.com` } } };
}

/** The composition root over `settings`; `kinds: {}` unless the test runs tasks. */
export function testServices(settings: Settings, options: ServiceOptions & { log?: Logger } = {}): Services {
  const { log, ...rest } = options;
  return buildServices(settings, testGitHub(settings, log), { kinds: {}, ...rest });
}
