// The deployment recipes under deploy/ against the code they deploy: the SAM template's queues and
// the function's environment and permissions, and the systemd units, so neither can drift from
// the settings and entry points they name.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, type Tags, type YAMLSeq } from "yaml";
import { describe, expect, it } from "vitest";
import { handler } from "../../src/lambda.js";
import { SETTINGS } from "../../src/settings.js";

const root = join(import.meta.dirname, "..", "..");
const read = (path: string) => readFileSync(join(root, path), "utf8");

const listFunction = (tag: string, name: string) => ({ tag, collection: "seq" as const, resolve: (list: YAMLSeq) => ({ [name]: list.toJSON() }) });
/** CloudFormation's short-form functions, read as their long forms. */
const cloudFormationTags: Tags = [
  { tag: "!Ref", resolve: (value: string) => ({ Ref: value }) },
  { tag: "!Sub", resolve: (value: string) => ({ "Fn::Sub": value }) },
  { tag: "!GetAtt", resolve: (value: string) => ({ "Fn::GetAtt": value.split(".") }) },
  listFunction("!If", "Fn::If"),
  listFunction("!Not", "Fn::Not"),
  listFunction("!Equals", "Fn::Equals"),
];

interface Resource {
  Type: string;
  Properties: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
}
const template = parse(read("deploy/sam/template.yaml"), { customTags: cloudFormationTags }) as {
  Transform: string;
  Parameters: Record<string, unknown>;
  Conditions: Record<string, unknown>;
  Resources: Record<string, Resource>;
  Outputs: Record<string, { Value: unknown }>;
};
const resources = template.Resources;

const settingNames = new Set(Object.values(SETTINGS).flatMap((spec) => spec.names as readonly string[]));
/** The name of every resource of a type. */
const ofType = (type: string) => Object.keys(resources).filter((name) => resources[name]!.Type === type);

describe("deploy/sam/template.yaml", () => {
  const [functionName, ...otherFunctions] = ofType("AWS::Serverless::Function");
  const fn = resources[functionName!]!.Properties as {
    Handler: string;
    Runtime: string;
    Timeout: number;
    Environment: { Variables: Record<string, unknown> };
    Policies: Array<{ Statement: Array<{ Effect: string; Action: string | string[]; Resource: unknown }> }>;
    FunctionUrlConfig?: { AuthType: string };
  };
  const queueUrl = fn.Environment.Variables.AWS_SQS_QUEUE_URL as { Ref: string };
  const queue = resources[queueUrl.Ref]!;

  it("is one SAM function, the Lambda ingress, behind a function URL", async () => {
    expect(template.Transform).toBe("AWS::Serverless-2016-10-31");
    expect(otherFunctions).toEqual([]);
    // dist/lambda.js is src/lambda.ts built; `handler` is what the runtime calls.
    expect(fn.Handler).toBe("dist/lambda.handler");
    expect(typeof handler).toBe("function");
    expect(fn.Runtime).toMatch(/^nodejs(2[2-9]|[3-9]\d)\.x$/);
    expect(fn.Timeout).toBeLessThanOrEqual(10);
    expect(fn.FunctionUrlConfig?.AuthType).toBe("NONE");
    expect(template.Outputs.WebhookUrl?.Value).toEqual({ "Fn::GetAtt": [`${functionName}Url`, "FunctionUrl"] });
  });

  it("builds with the Makefile target of the function's name at the code's root", () => {
    expect(resources[functionName!]!.Metadata?.BuildMethod).toBe("makefile");
    expect((fn as unknown as { CodeUri: string }).CodeUri).toBe("../../");
    expect(read("Makefile")).toMatch(new RegExp(`^build-${functionName}:`, "m"));
  });

  it("the function's environment names only real settings, and never AWS_REGION (Lambda sets it)", () => {
    const names = Object.keys(fn.Environment.Variables);
    expect(names.filter((name) => !settingNames.has(name))).toEqual([]);
    expect(names).not.toContain("AWS_REGION");
    for (const required of ["APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "AWS_SQS_QUEUE_URL"]) expect(names).toContain(required);
  });

  it("secrets come from Secrets Manager, not from parameters or the template", () => {
    for (const name of ["PRIVATE_KEY", "WEBHOOK_SECRET"]) {
      expect(fn.Environment.Variables[name]).toEqual({ "Fn::Sub": `{{resolve:secretsmanager:\${SecretName}:SecretString:${name}}}` });
    }
  });

  it("the task queue is FIFO without content-based deduplication, and redrives to a FIFO dead-letter queue", () => {
    expect(queue.Type).toBe("AWS::SQS::Queue");
    expect(queue.Properties).toMatchObject({ FifoQueue: true, ContentBasedDeduplication: false });
    expect((queue.Properties.QueueName as { "Fn::Sub": string })["Fn::Sub"]).toMatch(/\.fifo$/);
    const redrive = queue.Properties.RedrivePolicy as { deadLetterTargetArn: { "Fn::GetAtt": string[] }; maxReceiveCount: number };
    expect(redrive.maxReceiveCount).toBe(3);
    const [dlqName, attribute] = redrive.deadLetterTargetArn["Fn::GetAtt"];
    expect(attribute).toBe("Arn");
    const dlq = resources[dlqName!]!;
    expect(dlq.Type).toBe("AWS::SQS::Queue");
    expect(dlq.Properties.FifoQueue).toBe(true);
    expect((dlq.Properties.QueueName as { "Fn::Sub": string })["Fn::Sub"]).toMatch(/\.fifo$/);
  });

  const taskBodies = { "Fn::Sub": "arn:${AWS::Partition}:s3:::${ArtifactBucket}/devs-tasks/*" };
  /** A statement that is there only with an artifact bucket. */
  const withBucket = (statement: Record<string, unknown>) => ({ "Fn::If": ["HasArtifactBucket", statement, { Ref: "AWS::NoValue" }] });

  it("the function may send to the task queue, and put large tasks in the bucket's task prefix when there is one; nothing else", () => {
    const statements = fn.Policies.flatMap((policy) => policy.Statement);
    expect(statements).toEqual([
      { Effect: "Allow", Action: "sqs:SendMessage", Resource: { "Fn::GetAtt": [queueUrl.Ref, "Arn"] } },
      withBucket({ Effect: "Allow", Action: "s3:PutObject", Resource: taskBodies }),
    ]);
    expect(fn.Environment.Variables.AWS_S3_ARTIFACT_BUCKET).toEqual({ Ref: "ArtifactBucket" });
    expect(template.Conditions).toEqual({
      HasArtifactBucket: { "Fn::Not": [{ "Fn::Equals": [{ Ref: "ArtifactBucket" }, ""] }] },
    });
  });

  it("the workers' policy reaches only the two queues and the large tasks", () => {
    const [policyName] = ofType("AWS::IAM::ManagedPolicy");
    const document = resources[policyName!]!.Properties.PolicyDocument as { Statement: unknown[] };
    const dlqArn = (queue.Properties.RedrivePolicy as { deadLetterTargetArn: unknown }).deadLetterTargetArn;
    expect(document.Statement).toEqual([
      {
        Effect: "Allow",
        Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
        Resource: { "Fn::GetAtt": [queueUrl.Ref, "Arn"] },
      },
      { Effect: "Allow", Action: "sqs:SendMessage", Resource: dlqArn },
      withBucket({ Effect: "Allow", Action: "s3:GetObject", Resource: taskBodies }),
    ]);
  });
});

/** A unit file's `Key=value` lines by section; repeated keys keep every value. */
function unitFile(text: string): Record<string, Record<string, string[]>> {
  const sections: Record<string, Record<string, string[]>> = {};
  let current: Record<string, string[]> | null = null;
  for (const line of text.split("\n").map((l) => l.trim())) {
    if (!line || line.startsWith("#")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) current = sections[header[1]!] = {};
    else {
      const at = line.indexOf("=");
      const key = line.slice(0, at);
      (current![key] ??= []).push(line.slice(at + 1));
    }
  }
  return sections;
}

describe("deploy/systemd", () => {
  for (const [file, command, envFile] of [
    ["devs-webhook-worker.service", "worker", "worker.env"],
    ["devs-webhook.service", "serve", "devs-webhook.env"],
  ] as const) {
    it(`${file} runs \`devs-webhook ${command}\` as its own user after Docker, restarting on failure`, () => {
      const unit = unitFile(read(`deploy/systemd/${file}`));
      expect(unit.Service!.ExecStart).toEqual([`/usr/local/bin/devs-webhook ${command}`]);
      expect(unit.Service!.Restart).toEqual(["on-failure"]);
      expect(unit.Service!.User).toEqual(["devs-webhook"]);
      expect(unit.Service!.EnvironmentFile).toEqual([`/etc/devs-webhook/${envFile}`]);
      expect(unit.Unit!.After!.join(" ").split(" ")).toContain("docker.service");
      expect(unit.Unit!.Requires).toEqual(["docker.service"]);
      expect(unit.Install!.WantedBy).toEqual(["multi-user.target"]);
    });

    it(`${envFile}.example names only real settings`, () => {
      const names = read(`deploy/systemd/${envFile}.example`)
        .split("\n")
        .map((line) => /^#?\s*([A-Z][A-Z0-9_]*)=/.exec(line)?.[1])
        .filter((name): name is string => Boolean(name));
      expect(names.length).toBeGreaterThan(5);
      expect(names.filter((name) => !settingNames.has(name))).toEqual([]);
    });
  }
});

describe("the one-host container recipe", () => {
  const compose = parse(read("docker-compose.yml")) as { services: Record<string, { build: string; env_file: string; network_mode: string; volumes: string[] }> };
  const app = compose.services["devs-webhook"]!;
  const dockerfile = read("Dockerfile");
  const env = Object.fromEntries(
    [...dockerfile.matchAll(/^\s*(?:ENV\s+)?([A-Z_]+)=(\S+?)(?:\s*\\)?$/gm)].map((m) => [m[1]!, m[2]!]),
  );

  it("drives the host's engine through its socket, and keeps the data directory at the same path inside and out", () => {
    expect(app.volumes).toContain("/var/run/docker.sock:/var/run/docker.sock");
    expect(app.volumes).toContain(`${env.DATA_DIR}:${env.DATA_DIR}`);
    // Workspaces are bind-mounted into task containers by the host's engine: their path must be the host's.
    expect(env.WORKSPACE_DIR!.startsWith(`${env.DATA_DIR}/`)).toBe(true);
    expect(dockerfile).toMatch(/^VOLUME \/var\/lib\/devs-webhook$/m);
  });
  it("names only real settings, and starts serve", () => {
    for (const name of Object.keys(env)) if (name !== "NODE_ENV") expect(settingNames.has(name), name).toBe(true);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "dist\/cli\.js"\]$/m);
    expect(dockerfile).toMatch(/^CMD \["serve"\]$/m);
    expect(`:${env.WEBHOOK_PORT}`).toBe(":8000");
    expect(app.network_mode).toBe("host");
  });
  it("copies what the build needs and what serve reads at run time", () => {
    for (const path of ["package.json", "package-lock.json", "tsconfig.build.json", "src", "app.yml", "devs-yml.schema.json"]) {
      expect(dockerfile).toContain(path);
    }
  });
});
