import { generateKeyPairSync } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkServeRequirements, describeSettings, loadSettings, SETTINGS, SettingsError, unusedOriginalSettings, type Env } from "../../src/settings.js";
import { tempDir } from "../helpers/settings.js";
import { readFileSync } from "node:fs";

const pem = generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const HOME = "/home/op";

function errorOf(env: Env): { variable: string; message: string } {
  try {
    checkServeRequirements(loadSettings(env, HOME));
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError);
    return { variable: (error as SettingsError).variable, message: (error as Error).message };
  }
  throw new Error("expected a SettingsError");
}

describe("defaults", () => {
  const s = loadSettings({}, HOME);
  it("match design.md", () => {
    expect(s).toMatchObject({
      auth: { kind: "unconfigured" },
      githubApiUrl: "https://api.github.com",
      containerPool: ["eamonn", "harry", "darren"],
      ciContainerPool: [],
      containerTimeoutMinutes: 30,
      maxConcurrentTasks: 3,
      repoCacheDir: `${HOME}/.devs-webhook/repos`,
      workspaceDir: `${HOME}/.devs-webhook/workspaces`,
      dataDir: `${HOME}/.devs-webhook`,
      devsEnvsDir: `${HOME}/.devs/envs`,
      containerNetwork: "bridge",
      host: "0.0.0.0",
      port: 8000,
      adminUsername: "admin",
      adminPassword: null,
      devMode: false,
      taskSource: "webhook",
      awsRegion: "us-east-1",
      s3ArtifactPrefix: "devs-artifacts",
      ciCheckName: "devs-ci",
      authorizedTriggerUsers: { kind: "write-access" },
      authorizedCiTriggerUsers: { kind: "write-access" },
      allowedOwners: [],
    });
  });
  it("without credentials outside production, serve goes to setup (no error)", () => {
    expect(() => checkServeRequirements(s)).not.toThrow();
  });
});

describe("auth modes", () => {
  it("token mode", () => expect(loadSettings({ GITHUB_TOKEN: "t" }, HOME).auth).toEqual({ kind: "token", token: "t" }));
  it("App mode with PEM content", () => {
    expect(loadSettings({ APP_ID: "12", PRIVATE_KEY: pem }, HOME).auth).toEqual({ kind: "app", appId: 12, privateKey: pem });
  });
  it("App mode with \\n-escaped PEM (as in .env files)", () => {
    const auth = loadSettings({ APP_ID: "12", PRIVATE_KEY: pem.replace(/\n/g, "\\n") }, HOME).auth;
    expect(auth.kind === "app" && auth.privateKey).toBe(pem);
  });
  it("App mode with base64 PEM", () => {
    const auth = loadSettings({ APP_ID: "12", PRIVATE_KEY: Buffer.from(pem).toString("base64") }, HOME).auth;
    expect(auth.kind === "app" && auth.privateKey).toBe(pem);
  });
  it("App mode with a key path (PRIVATE_KEY_PATH, or a path in GITHUB_APP_PRIVATE_KEY as the seed allowed)", () => {
    const file = join(tempDir(), "key.pem");
    writeFileSync(file, pem);
    for (const env of [{ PRIVATE_KEY_PATH: file }, { GITHUB_APP_PRIVATE_KEY: file }]) {
      const auth = loadSettings({ GITHUB_APP_ID: "7", ...env }, HOME).auth;
      expect(auth).toEqual({ kind: "app", appId: 7, privateKey: pem });
    }
  });
  it("App credentials win over a token", () => expect(loadSettings({ APP_ID: "1", PRIVATE_KEY: pem, GITHUB_TOKEN: "t" }, HOME).auth.kind).toBe("app"));
  it("GHE_HOST builds the API URL", () => {
    const s = loadSettings({ GHE_HOST: "127.0.0.1:9999", GHE_PROTOCOL: "http" }, HOME);
    expect(s.githubApiUrl).toBe("http://127.0.0.1:9999/api/v3");
    expect(s.githubWebUrl).toBe("http://127.0.0.1:9999");
  });
});

describe("aliases: the seed's and Probot's names", () => {
  const cases: Array<[Env, (s: ReturnType<typeof loadSettings>) => unknown, unknown]> = [
    [{ WEBHOOK_SECRET: "a" }, (s) => s.webhookSecret, "a"],
    [{ GITHUB_WEBHOOK_SECRET: "a" }, (s) => s.webhookSecret, "a"],
    [{ APP_ID: "5", PRIVATE_KEY: pem }, (s) => s.auth.kind === "app" && s.auth.appId, 5],
    [{ GITHUB_APP_ID: "5", GITHUB_APP_PRIVATE_KEY: pem }, (s) => s.auth.kind === "app" && s.auth.appId, 5],
    [{ CLAUDE_API_KEY: "k" }, (s) => s.claudeApiKey, "k"],
    [{ ANTHROPIC_API_KEY: "k" }, (s) => s.claudeApiKey, "k"],
    [{ WEBHOOK_HOST: "127.0.0.1" }, (s) => s.host, "127.0.0.1"],
    [{ HOST: "127.0.0.1" }, (s) => s.host, "127.0.0.1"],
    [{ WEBHOOK_PORT: "9000" }, (s) => s.port, 9000],
    [{ PORT: "9000" }, (s) => s.port, 9000],
  ];
  for (const [env, pick, expected] of cases) {
    it(Object.keys(env).join("+"), () => expect(pick(loadSettings(env, HOME))).toEqual(expected));
  }
  it("two aliases that disagree are an error naming both", () => {
    expect(errorOf({ WEBHOOK_PORT: "1", PORT: "2" }).message).toBe("PORT: disagrees with WEBHOOK_PORT; set only one of them");
  });
  it("two aliases that agree are fine", () => expect(loadSettings({ PORT: "9", WEBHOOK_PORT: "9" }, HOME).port).toBe(9));
});

describe("tasks on SQS", () => {
  it("a FIFO queue for the ingress and the worker, with the worker's timings", () => {
    const s = loadSettings({ TASK_SINK: "sqs", AWS_SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/1/tasks.fifo", SQS_VISIBILITY_TIMEOUT_SECONDS: "60" }, HOME);
    expect(s).toMatchObject({ taskSink: "sqs", taskSource: "webhook", sqsQueueUrl: "https://sqs.eu-west-1.amazonaws.com/1/tasks.fifo", sqsVisibilityTimeoutSeconds: 60, sqsWaitTimeSeconds: 20, sqsDlqUrl: null, s3TaskPrefix: "devs-tasks" });
  });
});

describe("missing required values stop start-up naming the variable", () => {
  it("APP_ID without a key", () => expect(errorOf({ APP_ID: "1" }).variable).toBe("PRIVATE_KEY"));
  it("a key without APP_ID", () => expect(errorOf({ PRIVATE_KEY: pem }).variable).toBe("APP_ID"));
  it("a token without a webhook secret", () => expect(errorOf({ GITHUB_TOKEN: "t" }).variable).toBe("WEBHOOK_SECRET"));
  it("App credentials without a webhook secret", () => expect(errorOf({ APP_ID: "1", PRIVATE_KEY: pem }).variable).toBe("WEBHOOK_SECRET"));
  it("production without credentials", () => expect(errorOf({ NODE_ENV: "production" }).variable).toBe("APP_ID"));
  it("TASK_SOURCE=sqs without a queue", () => expect(errorOf({ TASK_SOURCE: "sqs" }).variable).toBe("AWS_SQS_QUEUE_URL"));
  it("TASK_SINK=sqs without a queue", () => expect(errorOf({ TASK_SINK: "sqs" }).message).toBe("AWS_SQS_QUEUE_URL: required when TASK_SINK=sqs"));
  it("an empty CONTAINER_POOL", () => expect(errorOf({ CONTAINER_POOL: " , " }).variable).toBe("CONTAINER_POOL"));
});

describe("malformed values stop start-up naming the variable", () => {
  const cases: Array<[Env, string, RegExp]> = [
    [{ APP_ID: "abc", PRIVATE_KEY: pem }, "APP_ID", /whole number/],
    [{ GITHUB_APP_ID: "0", PRIVATE_KEY: pem }, "GITHUB_APP_ID", /between/],
    [{ APP_ID: "1", PRIVATE_KEY: "not a key" }, "PRIVATE_KEY", /neither a PEM/],
    [{ APP_ID: "1", PRIVATE_KEY_PATH: "/no/such/key.pem" }, "PRIVATE_KEY_PATH", /cannot read/],
    [{ PORT: "http" }, "PORT", /whole number/],
    [{ WEBHOOK_PORT: "70000" }, "WEBHOOK_PORT", /between 0 and 65535/],
    [{ CONTAINER_TIMEOUT_MINUTES: "-5" }, "CONTAINER_TIMEOUT_MINUTES", /whole number/],
    [{ MAX_CONCURRENT_TASKS: "0" }, "MAX_CONCURRENT_TASKS", /between 1/],
    [{ DEV_MODE: "maybe" }, "DEV_MODE", /true or false/],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL", /one of/],
    [{ LOG_FORMAT: "xml" }, "LOG_FORMAT", /one of/],
    [{ GHE_PROTOCOL: "ftp" }, "GHE_PROTOCOL", /one of http, https/],
    [{ GHE_HOST: "https://ghe.example.com" }, "GHE_HOST", /host name/],
    [{ TASK_SOURCE: "kafka" }, "TASK_SOURCE", /one of webhook, sqs/],
    [{ TASK_SINK: "lambda" }, "TASK_SINK", /one of pool, sqs/],
    [{ TASK_SINK: "sqs", AWS_SQS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/tasks" }, "AWS_SQS_QUEUE_URL", /must be an SQS FIFO queue \(its name ends in \.fifo\)/],
    [{ AWS_SQS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/tasks" }, "AWS_SQS_QUEUE_URL", /FIFO/],
    [{ AWS_SQS_DLQ_URL: "dlq" }, "AWS_SQS_DLQ_URL", /URL/],
    [{ SQS_VISIBILITY_TIMEOUT_SECONDS: "1" }, "SQS_VISIBILITY_TIMEOUT_SECONDS", /between 3/],
    [{ SQS_WAIT_TIME_SECONDS: "21" }, "SQS_WAIT_TIME_SECONDS", /between 0 and 20/],
    [{ AWS_SQS_QUEUE_URL: "queue" }, "AWS_SQS_QUEUE_URL", /URL/],
    [{ WEBHOOK_PROXY_URL: "smee" }, "WEBHOOK_PROXY_URL", /URL/],
    [{ CONTAINER_POOL: "eamonn,Harry Potter" }, "CONTAINER_POOL", /must be letters, digits/],
    [{ CONTAINER_POOL: "a,a" }, "CONTAINER_POOL", /twice/],
    [{ CI_CONTAINER_POOL: "ci/1" }, "CI_CONTAINER_POOL", /must be letters, digits/],
    [{ AUTHORIZED_TRIGGER_USERS: "alice,not a login" }, "AUTHORIZED_TRIGGER_USERS", /not a GitHub login/],
    [{ ALLOWED_ORGS: "acme/x" }, "ALLOWED_ORGS", /not a GitHub login/],
    [{ GITHUB_MENTIONED_USER: "@bot" }, "GITHUB_MENTIONED_USER", /not a GitHub login/],
    [{ CONTAINER_NETWORK: "a b" }, "CONTAINER_NETWORK", /network name/],
    [{ GITHUB_APP_INSTALLATION_ID: "x" }, "GITHUB_APP_INSTALLATION_ID", /whole number/],
    [{ AGENT_COMMAND: "claude -p" }, "AGENT_COMMAND", /\{prompt\} exactly once/],
    [{ AGENT_COMMAND: "claude 'unbalanced {prompt}" }, "AGENT_COMMAND", /quote/],
    [{ CI_CHECK_NAME: "tests\tci" }, "CI_CHECK_NAME", /one line/],
    [{ CI_CHECK_NAME: "x".repeat(101) }, "CI_CHECK_NAME", /at most 100/],
  ];
  for (const [env, variable, problem] of cases) {
    it(`${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ")}`, () => {
      const { variable: got, message } = errorOf({ GITHUB_TOKEN: "t", WEBHOOK_SECRET: "s", ...env });
      expect(got).toBe(variable);
      expect(message.startsWith(`${variable}: `)).toBe(true);
      expect(message).toMatch(problem);
      expect(message).not.toContain("\n");
    });
  }
});

describe("lists", () => {
  const s = loadSettings(
    { AUTHORIZED_TRIGGER_USERS: " Alice , bob ,", AUTHORIZED_CI_TRIGGER_USERS: "*", ALLOWED_ORGS: "Acme", ALLOWED_USERS: "Carol", GITHUB_MENTIONED_USER: "devs-bot[bot]" },
    HOME,
  );
  it("are trimmed and lower-cased", () => expect(s.authorizedTriggerUsers).toEqual({ kind: "users", users: ["alice", "bob"] }));
  it("* means everyone", () => expect(s.authorizedCiTriggerUsers).toEqual({ kind: "everyone" }));
  it("owners from both lists", () => expect(s.allowedOwners).toEqual(["acme", "carol"]));
  it("the mentioned user drops a [bot] suffix", () => expect(s.mentionedUser).toBe("devs-bot"));
});

describe("describeSettings (devs-webhook config)", () => {
  it("masks every secret and names where each value came from", () => {
    const env = { GITHUB_TOKEN: "ghp_supersecret", GITHUB_WEBHOOK_SECRET: "whsec", ADMIN_PASSWORD: "pw", ANTHROPIC_API_KEY: "sk-ant-x", PORT: "9000" };
    const rows = describeSettings(env, loadSettings(env, HOME));
    const text = JSON.stringify(rows);
    for (const secret of Object.values(env).filter((v) => v !== "9000")) expect(text).not.toContain(secret);
    expect(rows.find((r) => r.name === "WEBHOOK_SECRET")).toEqual({ name: "WEBHOOK_SECRET", value: "******** (set)", source: "GITHUB_WEBHOOK_SECRET" });
    expect(rows.find((r) => r.name === "WEBHOOK_PORT")).toEqual({ name: "WEBHOOK_PORT", value: "9000", source: "PORT" });
    expect(rows.find((r) => r.name === "CONTAINER_POOL")).toEqual({ name: "CONTAINER_POOL", value: "eamonn,harry,darren", source: "default" });
  });
});

describe(".env.example", () => {
  it("documents every setting", () => {
    const example = readFileSync(new URL("../../.env.example", import.meta.url), "utf8");
    for (const spec of Object.values(SETTINGS)) for (const name of spec.names) expect(example).toContain(name);
  });
});

describe("moving from the original", () => {
  it("accepts what the original accepted and whose meaning is clear", () => {
    const keyFile = join(tempDir("devs-key-home-"), "app.pem");
    writeFileSync(keyFile, pem);
    const home = keyFile.slice(0, keyFile.lastIndexOf("/"));
    const s = loadSettings({ CONTAINER_POOL: "Eamonn,HARRY", LOG_FORMAT: "console", APP_ID: "1", PRIVATE_KEY_PATH: "~/app.pem", DATA_DIR: "~/data" }, home);
    expect(s.containerPool).toEqual(["eamonn", "harry"]);
    expect(s.logFormat).toBe("pretty");
    expect(s.auth).toEqual({ kind: "app", appId: 1, privateKey: pem.trim() + "\n" });
    expect(s.dataDir).toBe(`${home}/data`);
    expect(loadSettings({ GITHUB_APP_PRIVATE_KEY: "~/app.pem", APP_ID: "1" }, home).auth.kind).toBe("app");
  });
  it("still refuses what it cannot read", () => {
    expect(() => loadSettings({ LOG_FORMAT: "xml" }, HOME)).toThrow(/^LOG_FORMAT: expected one of json, pretty/);
    expect(() => loadSettings({ CONTAINER_POOL: "Eamonn,eamonn" }, HOME)).toThrow('CONTAINER_POOL: "eamonn" is listed twice');
  });
  it("names the original's settings that have no effect here, with what replaces each", () => {
    expect(unusedOriginalSettings({ CONTAINER_MAX_AGE_HOURS: "10", CLAUDE_CONFIG_DIR: "/c", WEBHOOK_PATH: "", PORT: "1" })).toEqual([
      { name: "CONTAINER_MAX_AGE_HOURS", instead: expect.stringContaining("CONTAINER_IDLE_MINUTES") },
      { name: "CLAUDE_CONFIG_DIR", instead: expect.stringContaining("CLAUDE_CODE_OAUTH_TOKEN") },
    ]);
  });
  it("reads the original's container-log settings as the task logs' (no warning for them)", () => {
    expect(unusedOriginalSettings({ CONTAINER_LOGS_ENABLED: "false", CONTAINER_LOGS_DIR: "/l" })).toEqual([]);
    expect(loadSettings({}, HOME).taskLogDir).toBe(`${HOME}/.devs-webhook/task-logs`);
    expect(loadSettings({ CONTAINER_LOGS_DIR: "/l" }, HOME).taskLogDir).toBe("/l");
    expect(loadSettings({ CONTAINER_LOGS_ENABLED: "false", CONTAINER_LOGS_DIR: "/l" }, HOME).taskLogDir).toBeNull();
    expect(loadSettings({}, HOME).taskLogRetentionDays).toBe(14);
    expect(loadSettings({ PUBLIC_URL: "https://devs.example.com/" }, HOME).publicUrl).toBe("https://devs.example.com");
  });
});

describe("a Docker engine over TCP", () => {
  const certs = () => {
    const dir = tempDir("devs-docker-certs-");
    for (const file of ["ca.pem", "cert.pem", "key.pem"]) writeFileSync(join(dir, file), "x");
    return dir;
  };
  it("is refused in plaintext unless the operator says so", () => {
    expect(() => loadSettings({ DOCKER_HOST: "tcp://10.0.0.5:2375" }, HOME)).toThrow(
      "DOCKER_HOST: tcp://10.0.0.5:2375 is a plaintext engine: set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), or DOCKER_ALLOW_PLAINTEXT=true",
    );
    expect(loadSettings({ DOCKER_HOST: "tcp://10.0.0.5:2375", DOCKER_ALLOW_PLAINTEXT: "true" }, HOME).dockerTlsCertPath).toBeNull();
  });
  it("uses TLS with the client certificates in DOCKER_CERT_PATH, as the Docker CLI does", () => {
    const dir = certs();
    expect(loadSettings({ DOCKER_HOST: "tcp://10.0.0.5:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: dir }, HOME).dockerTlsCertPath).toBe(dir);
    expect(() => loadSettings({ DOCKER_HOST: "tcp://10.0.0.5:2376", DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: tempDir("devs-no-certs-") }, HOME)).toThrow(
      /^DOCKER_CERT_PATH: .* lacks ca\.pem, cert\.pem, key\.pem$/,
    );
  });
  it("a local socket needs neither", () => {
    expect(loadSettings({ DOCKER_HOST: "unix:///run/docker.sock" }, HOME).dockerTlsCertPath).toBeNull();
    expect(loadSettings({}, HOME).dockerTlsCertPath).toBeNull();
  });
});
