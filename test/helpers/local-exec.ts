// An AgentExec that runs argv on this machine with node:child_process: the same contract as the
// container layer's exec (env, cwd, output line by line, abort kills the whole process group and
// rejects), so the agent runner is tested against real processes without Docker.
import { spawn } from "node:child_process";
import { constants } from "node:os";
import { createInterface } from "node:readline";
import type { AgentExec } from "../../src/agent/claude.js";
import type { ExportExec } from "../../src/publish/export-changes.js";

export class LocalExecAbortedError extends Error {
  override name = "LocalExecAbortedError";
}

/** `baseEnv` is what the process sees besides the run's own env (PATH by default). */
export function localExec(baseEnv: Record<string, string | undefined> = { PATH: process.env.PATH }): AgentExec {
  return (argv, { env, cwd, onLine, signal }) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new LocalExecAbortedError("aborted before start"));
      const child = spawn(argv[0]!, argv.slice(1), {
        cwd,
        env: { ...baseEnv, ...env },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true, // its own process group, so an abort reaches its children too
      });
      const closed = [child.stdout, child.stderr].map(
        (stream, i) =>
          new Promise<void>((done) => {
            const lines = createInterface({ input: stream, crlfDelay: Infinity });
            lines.on("line", (line) => onLine(i === 0 ? "stdout" : "stderr", line));
            lines.on("close", done);
          }),
      );
      const onAbort = () => {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      child.on("error", (error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      });
      child.on("close", (code, sig) => {
        signal?.removeEventListener("abort", onAbort);
        void Promise.all(closed).then(() => {
          if (signal?.aborted) reject(new LocalExecAbortedError(`aborted (${sig ?? code})`));
          else resolve({ exitCode: code ?? 128 + (sig ? constants.signals[sig] : 0) });
        });
      });
    });
}

/**
 * An ExportExec that runs on this machine in `cwd`, standing in for the container side of
 * exportChanges (the script and its git are the container's; here they are the test's own).
 */
export function localExportExec(cwd: string): ExportExec {
  return (argv, { env, onStdout, onStderr, signal }) =>
    new Promise((resolve, reject) => {
      const child = spawn(argv[0]!, argv.slice(1), { cwd, env: { PATH: process.env.PATH, HOME: cwd, ...env }, stdio: ["ignore", "pipe", "pipe"], signal });
      child.stdout.on("data", (chunk: Buffer) => onStdout(chunk));
      createInterface({ input: child.stderr, crlfDelay: Infinity }).on("line", onStderr);
      child.on("error", reject);
      child.on("close", (code) => resolve({ exitCode: code ?? -1 }));
    });
}
