// The name someone most likely meant: a configured key or tool name with a typo, or written with
// `-` where the server writes `_`. Pure; shared by the configuration loader and the checks.

export function levenshtein(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

/** Case and the separators `-`, `_`, `.` and space do not tell two tool names apart for a reader. */
const normal = (s: string): string => s.toLowerCase().replace(/[-_. ]+/g, '_');

/**
 * The candidate closest to `name` (ties: the first listed), or undefined when none is close: the
 * same name but for case and separators, or at most 2 edits away (3 for names of 12 characters or more).
 */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const want = normal(name);
  const limit = want.length >= 12 ? 3 : 2;
  let best: { name: string; d: number } | undefined;
  for (const c of candidates) {
    if (c === name) continue;
    const d = levenshtein(want, normal(c));
    if (d <= limit && (!best || d < best.d)) best = { name: c, d };
  }
  return best?.name;
}
