import type { Thresholds } from '../config/schema.js';
import type { ProbeOutcome } from '../probe/prober.js';

export const STATUSES = ['unknown', 'up', 'degraded', 'down', 'stale'] as const;
export type ServerStatus = (typeof STATUSES)[number];

export interface ProbeVerdict {
  status: 'up' | 'degraded' | 'down';
  severity: 'ok' | 'warning' | 'critical';
  /** Why the server is not simply up, in words (empty when it is). */
  note: string;
}

/** The status of a single probe: `health` shows this; the agent feeds it to its state machine. */
export function probeVerdict(out: Pick<ProbeOutcome, 'error' | 'checks' | 'latencyMs' | 'warnings'>, thresholds: Thresholds): ProbeVerdict {
  if (out.error) return { status: 'down', severity: 'critical', note: out.error.message };
  // What the probe noticed besides (non-JSON stdout, a failed server/discover, a refused check) is
  // said after the reason for the status, not dropped by it: `--json` has it nowhere else.
  const refused = (out.checks ?? []).filter((c) => c.status === 'refused').map((c) => `check ${c.name} ${c.error?.message ?? 'not run'}`);
  const asides = [...out.warnings, ...refused];
  const withAsides = (reason: string): string => [reason, ...asides].join('; ');
  // A failing check: degraded, or down with `on_failure: down` (one-shot, so at its first failure).
  const failed = (out.checks ?? []).filter((c) => c.status === 'fail');
  if (failed.length) {
    const down = failed.some((c) => c.onFailure === 'down');
    const note = failed.map((c) => `check ${c.name} failed (${c.error?.type ?? 'unknown'}): ${c.error?.message ?? ''}`).join('; ');
    return { status: down ? 'down' : 'degraded', severity: down ? 'critical' : 'warning', note: withAsides(note) };
  }
  const latency = out.latencyMs ?? 0;
  if (thresholds.latency_critical !== undefined && latency > thresholds.latency_critical) {
    return { status: 'degraded', severity: 'critical', note: withAsides(`latency ${fmtMs(latency)} over critical threshold ${fmtMs(thresholds.latency_critical)}`) };
  }
  if (thresholds.latency_warning !== undefined && latency > thresholds.latency_warning) {
    return { status: 'degraded', severity: 'warning', note: withAsides(`latency ${fmtMs(latency)} over warning threshold ${fmtMs(thresholds.latency_warning)}`) };
  }
  return { status: 'up', severity: 'ok', note: asides.join('; ') };
}

export function fmtMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)}s`;
  return `${ms < 10 ? ms.toFixed(1) : Math.round(ms)}ms`;
}

const UNITS = [
  ['d', 86_400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
] as const;

/**
 * How long, as every message says it: `3725` → `1h 2m 5s`, zero units left out (`3600` → `1h`),
 * nothing at all `0s`. `units` keeps that many units from the largest, rounding the last kept one:
 * a finding over days reads `6d 22h`, not to the second.
 */
export function durationText(seconds: number, units: number = UNITS.length): string {
  const whole = Math.max(0, Math.round(Number.isFinite(seconds) ? seconds : 0));
  const top = UNITS.findIndex(([, size]) => whole >= size);
  if (top < 0) return '0s';
  const step = UNITS[Math.min(UNITS.length - 1, top + Math.max(1, units) - 1)]![1];
  let rest = Math.round(whole / step) * step;
  const parts: string[] = [];
  for (const [unit, size] of UNITS) {
    if (size < step) break;
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
  }
  return parts.join(' ');
}
