// `devs-webhook config --repo owner/name`: the merged DEVS.yml of a repository as YAML, each value
// followed by the file it came from. Secret-looking env values are masked, and variables that
// would be withheld from containers are marked.
import { Document, isMap, isPair, isScalar, isSeq, type Node } from "yaml";
import { DevsConfigLoader, type ConfigOctokit } from "./devs-yml.js";
import { isDevsConfigError, RepositoryUnavailableError } from "./errors.js";
import { isServerSecretName } from "./env-vars.js";
import type { ConfigSource, LoadedDevsConfig } from "./layers.js";
import { DEFAULT_DIR, legacyDirName, legacyDirReadings, OPERATOR_FILE_NAME } from "./operator-files.js";
import type { RepoId } from "./repository-files.js";

export class RepoArgumentError extends Error {
  override name = "RepoArgumentError";
}

/** `owner/name` (a GitHub URL or a trailing `.git` is accepted too). */
export function parseRepoArgument(value: string): RepoId {
  const cleaned = value
    .trim()
    .replace(/^https?:\/\/[^/]+\//, "")
    .replace(/\.git$/, "")
    .replace(/\/+$/, "");
  const match = /^([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)\/([A-Za-z0-9._-]+)$/.exec(cleaned);
  if (!match) throw new RepoArgumentError(`--repo: expected owner/name, got "${value}"`);
  return { owner: match[1]!, repo: match[2]! };
}

const SECRET_LOOKING = /TOKEN|SECRET|PASSW(OR)?D|KEY|CREDENTIAL|AUTH|COOKIE|SESSION/i;
export const MASK = "********";

const label = (source: ConfigSource) => source.file;

/** The merged configuration as commented YAML. */
export function describeConfig(loaded: LoadedDevsConfig): string {
  const doc = new Document(loaded.config);
  const byPath = new Map(loaded.provenance.map((e) => [e.path.join("\u0000"), e]));
  const annotate = (node: unknown, path: string[]): void => {
    if (!isMap(node)) return;
    for (const pair of node.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const childPath = [...path, String(pair.key.value)];
      const value = pair.value as Node | null;
      const entry = byPath.get(childPath.join("\u0000"));
      if (isMap(value) && value.items.length > 0) {
        annotate(value, childPath);
        continue;
      }
      if (!entry || !value) continue;
      const notes = [label(entry.source)];
      const isEnv = childPath[0] === "env_vars" && childPath.length === 3;
      if (isEnv && isScalar(value)) {
        const name = childPath[2]!;
        if (SECRET_LOOKING.test(name) || isServerSecretName(name)) {
          value.value = MASK;
          notes.push("value hidden");
        }
        if (isServerSecretName(name)) notes.push("withheld from containers: it names one of the server's secrets");
      }
      if (isMap(value) || isSeq(value)) value.flow = true;
      value.comment = ` ${notes.join("; ")}`;
    }
  };
  annotate(doc.contents, []);
  return doc.toString({ lineWidth: 0 });
}

/** The comment block above the YAML: which files took part, and where operator files are looked for. */
export function describeLayers(loaded: LoadedDevsConfig, envsDir: string): string {
  const [owner = "", repo = ""] = loaded.repo.split("/");
  const lines = [
    `# DEVS.yml for ${loaded.repo}${loaded.sha ? ` (default branch at ${loaded.sha})` : " (empty repository)"}`,
    "# Layers, highest first; each value comes from the highest layer that sets it:",
  ];
  const width = Math.max(...loaded.sources.map((s) => s.layer.length));
  for (const source of loaded.sources) {
    const where = source.url && source.url !== source.file ? `  ${source.url}` : "";
    lines.push(`#   ${source.layer.padEnd(width)}  ${source.file}${where}`);
  }
  for (const skipped of loaded.ignored) lines.push(`# Not used: ${skipped.keyPath} of ${skipped.source.file} (${skipped.reason}).`);
  lines.push(...operatorLookup(owner, repo, envsDir).map((line) => `# ${line}`));
  return lines.join("\n");
}

/** Where the operator's files for a repository are looked for, and whether the seed's name still counts. */
export function operatorLookup(owner: string, repo: string, envsDir: string): string[] {
  const at = (...dirs: string[]) => [envsDir, ...dirs, OPERATOR_FILE_NAME].join("/");
  const legacy = legacyDirName(owner, repo);
  const others = legacyDirReadings(legacy)
    .map((r) => `${r.owner}/${r.repo}`)
    .filter((name) => name.toLowerCase() !== `${owner}/${repo}`.toLowerCase());
  return [
    `Operator files are looked for as ${at(owner, repo)}, then ${at(DEFAULT_DIR)} (directory names in any case).`,
    others.length
      ? `The older ${at(legacy)} is refused for this repository, since the name could also mean ${others.join(" or ")}: move such a file to ${at(owner, repo)}.`
      : `The older ${at(legacy)} is used too when ${at(owner, repo)} does not exist.`,
  ];
}

export interface PrintRepoConfigInput {
  /** The installation client for a repository (App mode), or the token client (token mode). */
  octokitForRepo: (owner: string, repo: string) => Promise<ConfigOctokit>;
  /** settings.devsEnvsDir */
  envsDir: string;
  /** owner/name as typed on the command line. */
  repo: string;
  out: { write(text: string): unknown };
  /** settings.githubWebUrl, for links. */
  webUrl?: string;
}

/**
 * Prints the merged DEVS.yml with its layers and returns the exit code: 0, or 1 when a file is
 * invalid (the problems are printed instead, with operator paths, for the operator to fix).
 * Throws RepoArgumentError for a malformed --repo, RepositoryUnavailableError when the App is not
 * installed on the repository (or it does not exist), and other GitHub errors as they come.
 */
export async function printRepoConfig(input: PrintRepoConfigInput): Promise<number> {
  const id = parseRepoArgument(input.repo);
  const octokit = await input.octokitForRepo(id.owner, id.repo);
  const loader = new DevsConfigLoader({ envsDir: input.envsDir, ...(input.webUrl ? { webUrl: input.webUrl } : {}) });
  try {
    const loaded = await loader.load(octokit, id);
    input.out.write(`${describeLayers(loaded, input.envsDir)}\n${describeConfig(loaded)}`);
    return 0;
  } catch (error) {
    if (!isDevsConfigError(error)) throw error;
    const lines = error.problems.map((p) => `  ${p.file}${p.url && p.url !== p.file ? ` (${p.url})` : ""}${p.keyPath ? ` ${p.keyPath}` : ""}: ${p.problem}`);
    input.out.write(`DEVS.yml for ${error.repo} is invalid; tasks for it will not run:\n${lines.join("\n")}\n`);
    return 1;
  }
}

type AuthFn = (installationId?: number) => Promise<ConfigOctokit>;

/**
 * App mode: the App's client finds the repository's installation
 * (`GET /repos/{owner}/{repo}/installation`, or GITHUB_APP_INSTALLATION_ID when set), then
 * `probot.auth(id)` gives that installation's client. Pass `(id) => probot.auth(id)`.
 */
export function appOctokitForRepo(auth: AuthFn, fixedInstallationId: number | null = null): PrintRepoConfigInput["octokitForRepo"] {
  return async (owner, repo) => {
    if (fixedInstallationId !== null) return auth(fixedInstallationId);
    const app = await auth();
    let id: number;
    try {
      const { data } = await app.request("GET /repos/{owner}/{repo}/installation", { owner, repo });
      id = data.id;
    } catch (error) {
      if ((error as { status?: number }).status === 404) throw new RepositoryUnavailableError(`${owner}/${repo}`);
      throw error;
    }
    return auth(id);
  };
}

/** Token mode: the one token client reads every repository. */
export function tokenOctokitForRepo(octokit: ConfigOctokit): PrintRepoConfigInput["octokitForRepo"] {
  return async () => octokit;
}
