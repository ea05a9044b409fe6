import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSettings, type Env, type Settings } from "../../src/settings.js";

export function tempDir(prefix = "devs-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Settings for a server in token mode on a random loopback port, with its own DATA_DIR. */
export function testSettings(env: Env = {}): Settings {
  return loadSettings({
    GITHUB_TOKEN: "test-token",
    WEBHOOK_SECRET: "s3cret",
    GITHUB_MENTIONED_USER: "devs-bot",
    AUTHORIZED_TRIGGER_USERS: "*",
    WEBHOOK_HOST: "127.0.0.1",
    WEBHOOK_PORT: "0",
    DATA_DIR: tempDir(),
    LOG_LEVEL: "silent",
    ...env,
  });
}
