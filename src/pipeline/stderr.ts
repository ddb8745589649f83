// pipeline/stderr.ts picks the stderr line that says why a stdio server ended. Servers print banners,
// progress bars and column-aligned logs; a message quoting "Server      started" after a kill -9
// explained nothing. Whitespace runs (and terminal colour codes) are collapsed, blank lines skipped,
// and the last line that reads like an error wins over the last line.

const ERRORISH = /error|exception|fatal|panic|missing|cannot|can't|failed|denied|not found|refused|invalid|required|traceback|killed|abort/i;
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;
const MAX_CHARS = 200;

/**
 * The line that says most about why a server ended, and whether it reads like an error: a banner
 * ("Server running on stdio") is the last thing a killed server said, not why it ended, and a message
 * must not put it where a cause goes.
 */
export function stderrPick(tail: readonly string[]): { line: string; errorish: boolean } | undefined {
  const lines = tail.map((l) => l.replace(ANSI, '').replace(/\s+/g, ' ').trim()).filter((l) => l !== '' && !/log of this run/i.test(l));
  let pick: string | undefined;
  for (let i = lines.length - 1; i >= 0 && pick === undefined; i--) if (ERRORISH.test(lines[i]!)) pick = lines[i];
  const errorish = pick !== undefined;
  pick ??= lines.at(-1);
  if (pick === undefined) return undefined;
  return { line: pick.length > MAX_CHARS ? `${pick.slice(0, MAX_CHARS)}…` : pick, errorish };
}
