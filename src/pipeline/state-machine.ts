import type { Thresholds } from '../config/schema.js';
import type { ProbeError } from '../probe/prober.js';
import type { AlertEvent, AlertEventName, Severity } from './events.js';
import { fmtMs, type ServerStatus } from './status.js';

/** One check of one server as the state machine sees it. Times are epoch milliseconds. */
export interface CheckResult {
  at: number;
  /** The server answered (the check may still be partial). */
  ok: boolean;
  latencyMs: number | null;
  error: ProbeError | null;
  /** A failure that needs no confirmation: the stdio process is gone. */
  definitive?: boolean;
  /** Answered, but part of the check failed (e.g. tools/list errored on a live session). */
  partial?: boolean;
  /** The SSE stream was open but silent for this long: the server is stale, not down. */
  staleMs?: number;
  /** The server forgot the session (404/400) during this check; reported even if re-initialize worked. */
  sessionExpired?: boolean;
}

export interface StatePolicy {
  failuresBeforeDown: number;
  thresholds: Thresholds;
  /** Latency samples the p95 is taken over. */
  latencyWindow: number;
}

/** An event before the agent adds server, transport, tags and the timestamp (times still epoch ms). */
export type EventDraft = Omit<AlertEvent, 'server' | 'transport' | 'tags' | 'timestamp' | 'incident_started_at'> & {
  incident_started_at: number | null;
};

export interface Transition {
  from: ServerStatus;
  to: ServerStatus;
  at: number;
  cause: string;
  errorType: string | null;
}

export interface StepResult {
  transition: Transition | null;
  events: EventDraft[];
}

type LatencyLevel = 'ok' | 'warning' | 'critical';

/** Samples above a threshold needed before latency alone changes the state: one slow answer is not a trend. */
const MIN_SLOW_SAMPLES = 2;

/**
 * The per-server state machine: unknown → up / degraded / down / stale. Pure: the caller supplies
 * times, so tests drive it without a clock. `down` needs `failuresBeforeDown` failures in a row (a
 * dead process needs one); `degraded` needs the p95 over the window above a threshold with at least
 * two slow samples.
 */
export class ServerStateMachine {
  status: ServerStatus = 'unknown';
  consecutiveFailures = 0;
  /** When the server stopped being up (first failure of the streak, or entering stale/degraded). */
  notUpSince: number | null = null;
  private firstFailureAt: number | null = null;
  private latencies: number[] = [];
  private level: LatencyLevel = 'ok';
  lastError: ProbeError | null = null;

  constructor(private policy: StatePolicy) {}

  setPolicy(policy: StatePolicy): void {
    this.policy = policy;
    this.latencies = this.latencies.slice(-policy.latencyWindow);
  }

  /** True while a failure streak or an unhealthy state is unresolved: the scheduler re-checks fast. */
  get unsettled(): boolean {
    return this.consecutiveFailures > 0 || this.status === 'down' || this.status === 'stale' || this.status === 'unknown';
  }

  p95(): number | null {
    if (this.latencies.length === 0) return null;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
  }

  apply(r: CheckResult): StepResult {
    const events: EventDraft[] = [];
    const prev = this.status;
    let next: ServerStatus = prev;
    let cause = '';
    let errorType: string | null = null;

    if (r.staleMs !== undefined) {
      next = 'stale';
      cause = `no events in ${fmtMs(r.staleMs)}`;
      this.notUpSince ??= r.at;
      if (prev !== 'stale') events.push(this.draft('stale', 'warning', cause, { silent_ms: r.staleMs }, prev, next));
    } else if (!r.ok) {
      this.consecutiveFailures++;
      this.firstFailureAt ??= r.at;
      this.lastError = r.error;
      if (r.definitive || this.consecutiveFailures >= this.policy.failuresBeforeDown) {
        next = 'down';
        cause = r.error?.message ?? 'check failed';
        errorType = r.error?.type ?? null;
        if (prev !== 'down') {
          this.notUpSince = Math.min(this.notUpSince ?? this.firstFailureAt, this.firstFailureAt);
          const details = {
            error_type: r.error?.type ?? null,
            error_category: r.error?.category ?? null,
            phase: r.error?.phase ?? null,
            consecutive_failures: this.consecutiveFailures,
          };
          events.push(this.draft('down', 'critical', cause, details, prev, next));
        }
      }
    } else {
      this.consecutiveFailures = 0;
      this.firstFailureAt = null;
      if (r.latencyMs !== null) {
        this.latencies.push(r.latencyMs);
        if (this.latencies.length > this.policy.latencyWindow) this.latencies.shift();
      }
      const level = this.latencyLevel();
      next = level !== 'ok' || r.partial ? 'degraded' : 'up';
      const p95 = this.p95();
      if (prev === 'down' || prev === 'stale') {
        const downtime = this.notUpSince !== null ? Math.max(0, (r.at - this.notUpSince) / 1000) : null;
        events.push({ ...this.draft('recovered', 'info', `recovered after ${fmtDuration(downtime ?? 0)} ${prev}`, { from: prev }, prev, next), downtime_seconds: downtime });
      }
      if (next === 'degraded') {
        cause = r.partial ? (r.error?.message ?? 'answered, but part of the check failed') : `p95 latency ${fmtMs(p95 ?? 0)} over ${level} threshold ${fmtMs(this.threshold(level)!)}`;
        errorType = r.partial ? (r.error?.type ?? null) : null;
        const details = { p95_ms: p95, latency_ms: r.latencyMs, threshold_ms: this.threshold(level), level, partial: Boolean(r.partial), error_type: r.error?.type ?? null };
        if (prev !== 'degraded') {
          this.notUpSince = prev === 'down' || prev === 'stale' ? r.at : (this.notUpSince ?? r.at);
          events.push(this.draft(level === 'critical' ? 'latency_spike' : 'degraded', level === 'critical' ? 'critical' : 'warning', cause, details, prev, next));
        } else if (level === 'critical' && this.level !== 'critical') {
          events.push(this.draft('latency_spike', 'critical', cause, details, prev, next));
        }
      } else if (prev === 'degraded') {
        const degradedFor = this.notUpSince !== null ? (r.at - this.notUpSince) / 1000 : null;
        events.push(this.draft('recovered', 'info', `latency back to normal after ${fmtDuration(degradedFor ?? 0)} degraded`, { from: prev, p95_ms: p95 }, prev, next));
      }
      if (next === 'up') this.notUpSince = null;
      this.level = level;
    }

    if (r.sessionExpired) {
      events.push(this.draft('session_expired', 'warning', 'the server forgot the MCP session (restart or rolling deploy); re-initialized', { reinitialized: r.ok }, prev, next));
    }

    this.status = next;
    const transition = next !== prev ? { from: prev, to: next, at: r.at, cause: cause || next, errorType } : null;
    return { transition, events };
  }

  private threshold(level: LatencyLevel): number | undefined {
    return level === 'critical' ? this.policy.thresholds.latency_critical : level === 'warning' ? this.policy.thresholds.latency_warning : undefined;
  }

  private latencyLevel(): LatencyLevel {
    const p95 = this.p95();
    if (p95 === null) return 'ok';
    const over = (limit: number | undefined): boolean =>
      limit !== undefined && p95 > limit && this.latencies.filter((l) => l > limit).length >= Math.min(MIN_SLOW_SAMPLES, this.policy.latencyWindow);
    if (over(this.policy.thresholds.latency_critical)) return 'critical';
    if (over(this.policy.thresholds.latency_warning)) return 'warning';
    return 'ok';
  }

  private draft(event: AlertEventName, severity: Severity, message: string, details: Record<string, unknown>, prev: ServerStatus, next: ServerStatus): EventDraft {
    return { event, severity, message, details, previous_state: prev, current_state: next, incident_started_at: this.notUpSince, downtime_seconds: null };
  }
}

export function fmtDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h ? `${h}h ${m}m ${r}s` : m ? `${m}m ${r}s` : `${r}s`;
}
