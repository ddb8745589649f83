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
