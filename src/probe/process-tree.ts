// Finding every process a stdio server started, including those that left its process group.
// Killing the group (kill(-pid)) ends `npx` and `sh -c` wrappers and their children, but a
// descendant that called setsid() (a daemon that double-forks) is in a group and session of its
// own, and once its parent exits it is re-parented to init: neither the group nor the parent chain
// leads to it. Two marks find it on Linux: the parent chain while it lasts, and a tag in the
// environment every process inherits from the server (MCPWATCH_SERVER_TAG), for those started after
// the server. What cannot be found: a descendant that has both left the chain and dropped the tag
// (env -i, a daemon that clears its environment), one running as another user (its environ cannot
// be read, nor could it be signalled), and anything on a system without /proc (only the group is
// killed there). See docs/configuration.md.
import { readdir, readFile } from 'node:fs/promises';

export const TAG_VARIABLE = 'MCPWATCH_SERVER_TAG';

/** A process as /proc/PID/stat describes it; `start` (clock ticks since boot) tells a reused pid apart. */
export interface ProcessEntry {
  pid: number;
  ppid: number;
  start: number;
}

/** Parses /proc/PID/stat: the command name may hold spaces and parentheses, so fields follow the last ')'. */
export function parseStat(text: string): ProcessEntry | undefined {
  const close = text.lastIndexOf(')');
  const pid = Number.parseInt(text, 10);
  if (close < 0 || !Number.isInteger(pid)) return undefined;
  // After ") ": state(3) ppid(4) pgrp(5) session(6) tty_nr(7) tpgid(8) flags(9) minflt(10) cminflt(11)
  // majflt(12) cmajflt(13) utime(14) stime(15) cutime(16) cstime(17) priority(18) nice(19)
  // num_threads(20) itrealvalue(21) starttime(22).
  const fields = text.slice(close + 2).split(' ');
  const ppid = Number(fields[1]);
  const start = Number(fields[19]);
  if (!Number.isFinite(ppid) || !Number.isFinite(start)) return undefined;
  return { pid, ppid, start };
}

async function readEntry(pid: string): Promise<ProcessEntry | undefined> {
  try {
    return parseStat(await readFile(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined; // gone since the listing, or no /proc
  }
}

let shared: { at: number; table: Promise<ProcessEntry[]> } | undefined;
/** Closes that happen together (the agent stopping 300 servers) share one reading of /proc. */
const SHARE_MS = 50;

/** Every process visible in /proc (none where there is no /proc). */
export function processTable(now = performance.now()): Promise<ProcessEntry[]> {
  if (shared && now - shared.at < SHARE_MS) return shared.table;
  const table = (async () => {
    let names: string[];
    try {
      names = await readdir('/proc');
    } catch {
      return [];
    }
    const entries = await Promise.all(names.filter((n) => /^\d+$/.test(n)).map(readEntry));
    return entries.filter((e): e is ProcessEntry => e !== undefined);
  })();
  shared = { at: now, table };
  return table;
}

async function hasTag(pid: number, tag: string): Promise<boolean> {
  try {
    const env = await readFile(`/proc/${pid}/environ`, 'latin1');
    return env.split('\0').includes(`${TAG_VARIABLE}=${tag}`);
  } catch {
    return false; // another user's process, or gone
  }
}

/**
 * The processes that belong to the server `root` (started at `rootStart`, tagged `tag`), root
 * excluded: its descendants by parent chain, and any process started since it that carries the tag.
 */
export async function serverProcesses(root: number, rootStart: number | undefined, tag: string): Promise<ProcessEntry[]> {
  const table = await processTable();
  const children = new Map<number, ProcessEntry[]>();
  for (const e of table) {
    const list = children.get(e.ppid);
    if (list) list.push(e);
    else children.set(e.ppid, [e]);
  }
  const found = new Map<number, ProcessEntry>();
  const queue = [root];
  while (queue.length > 0) {
    for (const c of children.get(queue.pop()!) ?? []) {
      if (found.has(c.pid)) continue;
      found.set(c.pid, c);
      queue.push(c.pid);
    }
  }
  if (rootStart !== undefined) {
    const self = process.pid;
    const candidates = table.filter((e) => e.start >= rootStart && e.pid !== root && e.pid !== self && !found.has(e.pid));
    const tagged = await Promise.all(candidates.map(async (e) => ((await hasTag(e.pid, tag)) ? e : undefined)));
    for (const e of tagged) if (e) found.set(e.pid, e);
  }
  return [...found.values()];
}

/** Start time of `pid` (clock ticks since boot), if it is running and /proc can say. */
export async function startOf(pid: number): Promise<number | undefined> {
  return (await readEntry(String(pid)))?.start;
}

/** Signals each process that is still the one found (same start time: a reused pid is left alone). */
export async function signalProcesses(entries: readonly ProcessEntry[], signal: NodeJS.Signals): Promise<void> {
  await Promise.all(
    entries.map(async (e) => {
      if ((await startOf(e.pid)) !== e.start) return;
      try {
        process.kill(e.pid, signal);
      } catch {
        // ESRCH / EPERM: gone, or not ours to end.
      }
    }),
  );
}
