// Which folders under src/ may import which, checked by dependency-cruiser.
// Run it with `npm run depcheck`; `npm test` runs it after lint and typecheck.
//
// Type-only imports count too: a type taken from an I/O module still ties the two folders
// together, and moving the type is cheap.

/** Folders under src/ whose modules do I/O or drive it (Docker, git, GitHub, disk, SQLite, HTTP). */
const IO_FOLDERS =
  "^src/(containers|workspace|github|admin|ci|agent|publish|pool|webhooks|config|wiring|budget)/";
/** tasks/task.ts is the Task type and its signing; the rest of tasks/ is SQLite, sinks and memory. */
const IO_TASKS = "^src/tasks/(?!task\\.ts$)";
/** model-proxy/ is pure (usage, prices) but for the proxy's HTTP server. */
const IO_MODEL_PROXY = "^src/model-proxy/proxy\\.ts$";
/** Top-level modules other than settings.ts: the server, the CLI, the app function. */
const IO_TOP = "^src/(?!settings\\.ts$)[^/]+\\.ts$";

/** Node built-ins that reach the outside world (resolved names carry no `node:` prefix). */
const NODE_IO =
  "^(fs|fs/promises|child_process|net|http|https|http2|dgram|dns|tls|worker_threads|cluster)$";
/** A package under node_modules, by name. */
const pkg = (names) => `(^|/)node_modules/(${names})(/|$)`;
const DOCKER_GIT = pkg("dockerode|simple-git");
const GITHUB_PACKAGES = pkg("probot|@probot/[^/]+|@octokit/[^/]+|smee-client");
const IO_PACKAGES = pkg(
  "dockerode|simple-git|probot|@probot/[^/]+|@octokit/[^/]+|smee-client|better-sqlite3|@aws-sdk/[^/]+|tar-stream|pino",
);

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "No import cycles between modules.",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "no-circular-folders",
      severity: "error",
      comment:
        "No import cycles between folders under src/ (a.ts in one folder importing b.ts in another, and back by any path).",
      scope: "folder",
      from: { path: "^src/[^/]+" },
      to: { circular: true },
    },
    {
      name: "settings-imports-only-policy",
      severity: "error",
      comment:
        "settings.ts is read by every folder, so it imports none of them (the folder-cycle rule cannot see top-level files), " +
        "except src/policy/: pure checks such as the AGENT_COMMAND parser, which import at most types from settings.",
      from: { path: "^src/settings\\.ts$" },
      to: { path: "^src/[^/]+/", pathNot: "^src/policy/" },
    },
    {
      name: "policy-no-io-modules",
      severity: "error",
      comment: "src/policy/ holds pure decisions: no Node I/O modules, no Docker, git, GitHub, SQLite, S3 or logger packages.",
      from: { path: "^src/policy/" },
      to: { path: [NODE_IO, IO_PACKAGES] },
    },
    {
      name: "policy-no-io-folders",
      severity: "error",
      comment: "src/policy/ imports no module that does I/O: not the I/O folders, not the wiring or the server.",
      from: { path: "^src/policy/" },
      to: { path: [IO_FOLDERS, IO_TASKS, IO_MODEL_PROXY, IO_TOP] },
    },
    {
      name: "policy-settings-types-only",
      severity: "error",
      comment: "src/policy/ may name a settings type (AllowList), never load settings.ts, which reads the environment and files.",
      from: { path: "^src/policy/" },
      to: { path: "^src/settings\\.ts$", dependencyTypesNot: ["type-only"] },
    },
    {
      name: "handlers-no-containers-or-git",
      severity: "error",
      comment: "src/handlers/ stay thin: they turn an event into a task and never reach containers or git.",
      from: { path: "^src/handlers/" },
      to: { path: ["^src/(containers|workspace)/", DOCKER_GIT, "^child_process$"] },
    },
    {
      name: "composition-root-at-the-top",
      severity: "error",
      comment:
        "src/wiring/ is the composition root: it builds every collaborator, so only the entry points (cli.ts, lambda.ts) use it; " +
        "a module that reached into it would depend on everything.",
      from: { path: "^src/", pathNot: ["^src/wiring/", "^src/cli\\.ts$", "^src/lambda\\.ts$"] },
      to: { path: "^src/wiring/" },
    },
    {
      name: "task-contract-is-a-leaf",
      severity: "error",
      comment: "tasks/execution.ts is what pool/, agent/ and ci/ agree on; it imports nothing but the Task type and the phases' names (tasks/phases.ts, itself a leaf).",
      from: { path: "^src/tasks/(execution|phases)\\.ts$" },
      to: { path: "^src/", pathNot: "^src/tasks/(task|phases)\\.ts$" },
    },
    {
      name: "containers-no-github",
      severity: "error",
      comment: "src/containers/ knows nothing of GitHub: no GitHub client, no handlers, no publishing.",
      from: { path: "^src/containers/" },
      to: { path: ["^src/(github|handlers|publish|webhooks)/", GITHUB_PACKAGES] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    // node_modules is a symlink in some worktrees; report packages as node_modules/<name>.
    preserveSymlinks: true,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".json"],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
