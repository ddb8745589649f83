// store/directory.ts: making the directory a file goes in (the state file, init's output), kept
// apart from state.ts so a command that writes no state does not load SQLite for it.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * mkdir -p, one level at a time from the deepest directory that exists. Node's recursive mkdirSync
 * never returns where a parent exists but refuses children with ENOENT (procfs: `/proc/x/state.db`
 * hung start-up, and `init -o /proc/x/mcpwatch.yaml` spun at full CPU); one level at a time, that
 * ENOENT is the error.
 */
export function makeDirectory(dir: string): void {
  const missing: string[] = [];
  let d = dir;
  for (; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
  // The system's ENOTDIR names no path: which component is the file is what the user needs.
  if (!statSync(d).isDirectory()) throw Object.assign(new Error(`${d}, on its path, is a file, not a directory`), { code: 'ENOTDIR' });
  for (const level of missing) {
    try {
      mkdirSync(level);
    } catch (err) {
      // Another process (a second replica starting) made it meanwhile.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
