// Which processes in a container belong to no task, seen from the host.
//
// Everything a task runs is hostile, so the proof that a container holds nothing of an earlier
// task must not come from inside it: an in-container `ps`, `/bin/sh` or `/proc` scan can be
// replaced, and the environment marks an exec sets (DEVS_EXEC_ID, DEVS_TASK_ID) are dropped by
// `env -i` or forged by a process that wants to pass for a later task's. Docker's top API is
// computed by the engine outside the container: it lists the container's cgroup (which a process
// cannot leave without privileges) with host PIDs. With `lstart` as well, a PID that an attacker's
// process got by reuse never passes for the process that had it first.
//
// The baseline is what the container runs on its own, read right after it starts and before any
// exec (lifecycle hooks included, since hooks run the repository's code): its init and the
// entrypoint's tree. Descendants of the entrypoint are allowed too (the keep-alive loop's next
// `sleep`, a server's worker); descendants of the container's init are not, because every
// orphan — a double fork, `setsid`, a daemon — is re-parented to it.
import type Docker from "dockerode";

export interface ProcessRow {
  /** Host PID. */
  pid: number;
  ppid: number;
  /** ps STAT: Z is a zombie, already dead. */
  state: string;
  /** ps lstart: when it started, as the engine's ps prints it. */
  started: string;
}

export interface Baseline {
  /** State.StartedAt of the start it was taken after; another start makes it void. */
  startedAt: string;
  /** Host PID of the container's PID 1 (State.Pid). */
  initPid: number;
  /** `pid@started` of each process present then. */
  members: ReadonlySet<string>;
}

/** Columns Docker's top runs `ps` with. `lstart` is last: its value has spaces. */
export const TOP_PS_ARGS = "-eo pid,ppid,stat,lstart";

export class ProcessListError extends Error {
  override name = "ProcessListError";
}

export const processKey = (p: Pick<ProcessRow, "pid" | "started">): string => `${p.pid}@${p.started}`;

/** Reads Docker's top answer for TOP_PS_ARGS. */
export function parseTop(top: { Titles?: string[]; Processes?: string[][] }): ProcessRow[] {
  const titles = top.Titles ?? [];
  const col = (name: string) => {
    const i = titles.indexOf(name);
    if (i < 0) throw new ProcessListError(`the engine's process list has no ${name} column (columns: ${titles.join(", ")})`);
    return i;
  };
  const [pid, ppid, stat, started] = [col("PID"), col("PPID"), col("STAT"), col("STARTED")];
  return (top.Processes ?? []).map((row) => {
    const p = { pid: Number(row[pid]), ppid: Number(row[ppid]), state: row[stat] ?? "", started: row[started] ?? "" };
    if (!Number.isInteger(p.pid) || !Number.isInteger(p.ppid) || !p.started) throw new ProcessListError(`unreadable process row ${JSON.stringify(row)}`);
    return p;
  });
}

/** The container's processes, from the engine (never from inside the container). */
export async function hostProcesses(container: Docker.Container): Promise<ProcessRow[]> {
  let top: { Titles?: string[]; Processes?: string[][] };
  try {
    top = (await container.top({ ps_args: TOP_PS_ARGS })) as typeof top;
  } catch (error) {
    throw new ProcessListError(`the engine could not list the container's processes: ${(error as Error).message}`);
  }
  return parseTop(top);
}

/**
 * Live processes that are neither in the baseline nor descended from a baseline process other
 * than init (zombies are dead and hold nothing).
 */
export function strangers(rows: readonly ProcessRow[], baseline: Pick<Baseline, "initPid" | "members">): ProcessRow[] {
  const byPid = new Map(rows.map((r) => [r.pid, r]));
  const verdict = new Map<number, boolean>();
  const allowed = (row: ProcessRow, depth: number): boolean => {
    const known = verdict.get(row.pid);
    if (known !== undefined) return known;
    let ok = baseline.members.has(processKey(row));
    if (!ok && depth < 64) {
      const parent = byPid.get(row.ppid);
      ok = parent !== undefined && parent.pid !== baseline.initPid && parent.pid !== row.pid && allowed(parent, depth + 1);
    }
    verdict.set(row.pid, ok);
    return ok;
  };
  return rows.filter((r) => !r.state.startsWith("Z") && !allowed(r, 0));
}

/**
 * The baseline of a container that has just started: read until two readings agree, so an
 * entrypoint caught between fork and exec is not taken for a stranger later.
 */
export async function takeBaseline(container: Docker.Container, startedAt: string, initPid: number): Promise<Baseline> {
  let previous = "";
  let rows: ProcessRow[] = [];
  for (let attempt = 0; attempt < 20; attempt++) {
    rows = await hostProcesses(container);
    const now = rows.map(processKey).sort().join(" ");
    if (now === previous) break;
    previous = now;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { startedAt, initPid, members: new Set(rows.filter((r) => !r.state.startsWith("Z")).map(processKey)) };
}
