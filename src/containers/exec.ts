// Runs one command in a container with Docker's exec API: output demultiplexed and delivered line
// by line in order, the exit code returned, and — on abort — every process the command started
// killed inside the container, not just the promise abandoned.
//
// How the kill finds them: the command runs under a tiny `sh` wrapper whose $0 is a marker
// (`devs-exec:<id>`), visible to anyone in /proc/<pid>/cmdline, and whose children inherit
// DEVS_EXEC_ID=<id> in their environment. Docker makes every exec process a session and process
// group leader, so killing the wrapper's group takes the whole tree; the environment scan then
// catches what left the group (setsid, daemons). The kill itself is a second exec.
//
// All of this runs inside the container, with its /bin/sh, tr and grep, and trusts marks that
// `env -i` drops and any process can forge: it is the quick, usual way to stop a command, never
// the proof that nothing is left. Between tasks the whole container is killed through the engine
// instead (ContainerRuntime.quiesce).
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import type Docker from "dockerode";
import { FrameDemuxer, type LineCallback } from "./stream.js";

export interface ExecOptions {
  /** Added to the container's environment for this command only. */
  env?: Readonly<Record<string, string>>;
  cwd?: string;
  /** User name or uid[:gid]; the image's user when unset. */
  user?: string;
  onLine?: LineCallback;
  /** Standard output as raw bytes (for binary output such as a git bundle); onLine then sees stderr only. */
  onStdoutBytes?: (chunk: Buffer) => void;
  /** Aborting kills the command's processes in the container, then rejects with ExecAbortedError. */
  signal?: AbortSignal;
  /** Written to the command's standard input, which is then closed. */
  stdin?: string | Buffer;
}

export interface ExecResult {
  exitCode: number;
  durationMs: number;
}

export class ExecAbortedError extends Error {
  override name = "ExecAbortedError";
  constructor(
    /** The signal's reason (a TimeoutError for AbortSignal.timeout, or what the canceller gave). */
    readonly reason: unknown,
    /** Processes killed inside the container. */
    readonly killed: number,
  ) {
    super(`command aborted (${describeReason(reason)}); ${killed} process${killed === 1 ? "" : "es"} killed in the container`);
  }
}

export class ExecError extends Error {
  override name = "ExecError";
}

const EXEC_ID_VARIABLE = "DEVS_EXEC_ID";

/** `"$@"` is not the last command, so no shell replaces itself with it and the marker stays. */
const WRAPPER = '"$@"; exit $?';

/**
 * Kills every process of exec $1 and prints how many it killed: the members of each marked
 * wrapper's process group, and anything else carrying the marker in its environment. Rounds
 * repeat while processes are found (a fork can race a scan); zombies are already dead. The
 * patterns are written so that grep's own command line does not match them.
 */
const KILL_SCRIPT = `
id="$1"; self=$$; total=0
for round in 1 2 3 4 5; do
  groups=" "
  for p in /proc/[0-9]*; do
    if tr '\\0' '\\n' 2>/dev/null < "$p/cmdline" | grep -qx "devs-exec[:]$id"; then groups="$groups\${p#/proc/} "; fi
  done
  found=0
  for p in /proc/[0-9]*; do
    pid=\${p#/proc/}
    [ "$pid" = "$self" ] && continue
    read -r stat 2>/dev/null < "$p/stat" || continue
    set -- \${stat##*) }
    [ "$1" = Z ] && continue
    hit=
    case "$groups" in *" $3 "*) hit=1 ;; esac
    if [ -z "$hit" ] && tr '\\0' '\\n' 2>/dev/null < "$p/environ" | grep -qx "${EXEC_ID_VARIABLE}[=]$id"; then hit=1; fi
    if [ -n "$hit" ] && kill -KILL "$pid" 2>/dev/null; then found=$((found + 1)); fi
  done
  total=$((total + found))
  [ "$found" = 0 ] && break
  sleep 0.05 2>/dev/null || sleep 1
done
echo "$total"
`;

function newExecId(): string {
  return randomBytes(8).toString("hex");
}

/** Runs `cmd` (an argv, no shell) in a running container. */
export async function execInContainer(
  container: Docker.Container,
  cmd: readonly string[],
  options: ExecOptions = {},
): Promise<ExecResult> {
  if (cmd.length === 0) throw new ExecError("exec needs a command");
  const { signal } = options;
  if (signal?.aborted) throw new ExecAbortedError(signal.reason, 0);
  const started = Date.now();
  const id = newExecId();
  const env = { ...options.env, [EXEC_ID_VARIABLE]: id };
  const exec = await container.exec({
    Cmd: ["/bin/sh", "-c", WRAPPER, `devs-exec:${id}`, ...cmd],
    Env: toEnvList(env),
    ...(options.cwd ? { WorkingDir: options.cwd } : {}),
    ...(options.user ? { User: options.user } : {}),
    AttachStdin: options.stdin !== undefined,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
  });

  if (signal?.aborted) throw new ExecAbortedError(signal.reason, 0);
  const stream = (await exec.start({ hijack: true, stdin: options.stdin !== undefined })) as unknown as Duplex;
  const ended = pump(stream, options.onLine, options.stdin, options.onStdoutBytes);

  let killing: Promise<number> | null = null;
  const onAbort = () => {
    killing ??= killUntilEnded(container, id, options.user, ended, stream);
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  if (signal?.aborted) onAbort();
  try {
    await ended;
  } catch (error) {
    if (killing) throw new ExecAbortedError(signal?.reason, await killing);
    // The output was abandoned (a broken connection, or onLine threw): leave nothing running.
    await killMarked(container, id, options.user).catch(() => 0);
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  if (killing) throw new ExecAbortedError(signal?.reason, await killing);
  return { exitCode: await exitCode(exec), durationMs: Date.now() - started };
}

/** Feeds Docker's multiplexed stream through the demuxer; resolves when the command's output ends. */
function pump(stream: Duplex, onLine: LineCallback | undefined, stdin: string | Buffer | undefined, onStdoutBytes?: (chunk: Buffer) => void): Promise<void> {
  const demux = new FrameDemuxer(onLine ?? (() => {}), undefined, onStdoutBytes);
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (error?: unknown) => {
      if (done) return;
      done = true;
      stream.destroy();
      try {
        demux.end();
      } catch (endError) {
        error ??= endError;
      }
      if (error) reject(error);
      else resolve();
    };
    stream.on("data", (chunk: Buffer) => {
      try {
        demux.push(chunk);
      } catch (error) {
        finish(error);
      }
    });
    stream.on("end", () => finish());
    stream.on("close", () => finish());
    stream.on("error", (error) => finish(error));
    if (stdin !== undefined) stream.end(stdin);
  });
}

/**
 * Kills the exec's processes until its output ends — the wrapper's death ends it. Repeating
 * covers an abort that lands while the command is still starting.
 */
async function killUntilEnded(
  container: Docker.Container,
  id: string,
  user: string | undefined,
  ended: Promise<void>,
  stream: Duplex,
): Promise<number> {
  let over = false;
  const settled = ended.then(
    () => void (over = true),
    () => void (over = true),
  );
  const deadline = Date.now() + 10_000;
  let killed = 0;
  do {
    killed += await killMarked(container, id, user);
    if (over) break;
    await Promise.race([settled, new Promise((r) => setTimeout(r, 200))]);
  } while (!over && Date.now() < deadline);
  // A connection that outlives every process is not worth waiting for.
  if (!over) stream.destroy();
  return killed;
}

/** Docker may report the exit code a moment after the output ends. */
async function exitCode(exec: Docker.Exec): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return info.ExitCode;
    if (attempt >= 50) throw new ExecError(`Docker did not report an exit code for exec ${exec.id}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Kills the processes of exec `id`: first as the exec's user, who can read its own processes'
 * environments (root cannot without CAP_SYS_PTRACE) and so finds those that left the group;
 * then as root, for anything that changed user. A survivor holding the exec's output open
 * would otherwise make Docker wait 2 s before closing it, and hold up the container's other execs.
 */
async function killMarked(container: Docker.Container, id: string, user?: string): Promise<number> {
  let killed = 0;
  const users = [...(user && user !== "0" && user !== "root" ? [user] : []), "0"];
  for (const as of users) {
    let out = "";
    try {
      const exec = await container.exec({
        Cmd: ["/bin/sh", "-c", KILL_SCRIPT, "devs-kill", id],
        User: as,
        AttachStdout: true,
        AttachStderr: true,
        Tty: false,
      });
      const stream = (await exec.start({ hijack: true, stdin: false })) as unknown as Duplex;
      await pump(stream, (s, line) => (s === "stdout" ? (out = line) : undefined), undefined);
    } catch {
      // The container may have stopped, which ends the command as surely as the kill would.
      continue;
    }
    killed += Number.parseInt(out, 10) || 0;
  }
  return killed;
}

export function toEnvList(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env).map(([key, value]) => {
    if (!key || key.includes("=") || key.includes("\0")) throw new ExecError(`invalid environment variable name ${JSON.stringify(key)}`);
    if (value.includes("\0")) throw new ExecError(`environment variable ${key} contains a NUL character`);
    return `${key}=${value}`;
  });
}

export function parseEnvList(list: readonly string[] | null | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of list ?? []) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

function describeReason(reason: unknown): string {
  if (reason instanceof Error) return reason.name === "TimeoutError" ? "timed out" : reason.message || reason.name;
  return reason === undefined ? "aborted" : String(reason);
}

/**
 * Set on every process a task starts, for whoever looks inside the container (ps, /proc).
 * Nothing relies on it: a process can drop or forge it.
 */
export const TASK_ID_VARIABLE = "DEVS_TASK_ID";
