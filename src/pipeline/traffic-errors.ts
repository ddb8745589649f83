// pipeline/traffic-errors.ts judges a server by the tool calls its real callers make: the error rate
// over a sliding window, against a threshold. It counts in a fixed number of time buckets (never one
// entry per call), so a server's memory does not grow with its call rate. Pure: the caller hands
// in the time; agent/ records calls and applies the verdict (pipeline/state-machine.ts traffic()).
import { ERROR_TYPES, type ErrorType } from './error-types.js';

/** How one server's traffic is judged (`servers[].traffic`, defaults in `monitoring.traffic`). */
export interface TrafficErrorPolicy {
  /** Share of failed calls (0–1) at or above which the server is degraded; null: never. */
  errorRate: number | null;
  windowMs: number;
  /** Fewer calls than this in the window are too few to judge. */
  minCalls: number;
}

/** `monitoring.traffic`'s defaults: 20 % over 5 minutes, with at least 20 calls. */
export const DEFAULT_TRAFFIC_POLICY: TrafficErrorPolicy = { errorRate: 0.2, windowMs: 300_000, minCalls: 20 };

/** Buckets per window: the window slides in steps of 1/BUCKETS of its length. */
export const BUCKETS = 30;

const TYPES = Object.keys(ERROR_TYPES) as ErrorType[];
const TYPE_INDEX: ReadonlyMap<string, number> = new Map(TYPES.map((t, i) => [t, i]));

/** Calls and failures (by error type) in the window ending now. */
export interface WindowTotals {
  calls: number;
  errors: number;
  byType: Partial<Record<ErrorType, number>>;
}

/** One window's counts: per slot, which bucket (time / bucketMs) it holds (-1: none), calls, failures by type. */
interface Buckets {
  readonly epochs: Float64Array;
  readonly calls: Uint32Array;
  readonly errors: Uint32Array;
  readonly byType: Uint32Array;
}

const NO_CALLS: WindowTotals = Object.freeze({ calls: 0, errors: 0, byType: Object.freeze({}) });

/**
 * A window's counts as the state file keeps them (ErrorRateWindow.counts): the bucket width, and each
 * bucket that holds calls as [bucket (time / bucketMs), calls, failures by type].
 */
export interface WindowCounts {
  bucketMs: number;
  buckets: Array<[epoch: number, calls: number, byType: Partial<Record<ErrorType, number>>]>;
}

/**
 * Tool-call outcomes over the last `windowMs`, in BUCKETS buckets of windowMs/BUCKETS each: a call
 * counts while its bucket is one of the last BUCKETS, so the window spans between (BUCKETS-1)/BUCKETS
 * and all of `windowMs`. Memory: BUCKETS × (2 + error types) integers, whatever the traffic, and
 * nothing until the first call: every configured server has a window, and most never see a traced
 * call (docs/benchmarks.md, "Memory per kept server").
 */
export class ErrorRateWindow {
  readonly bucketMs: number;
  private buckets: Buckets | undefined;

  constructor(readonly windowMs: number) {
    this.bucketMs = Math.max(1, Math.ceil(windowMs / BUCKETS));
  }

  /** One call at `at` (epoch ms): a success when `errorType` is undefined. */
  record(at: number, errorType: ErrorType | undefined): void {
    const b = (this.buckets ??= emptyBuckets());
    const epoch = Math.floor(at / this.bucketMs);
    const slot = epoch % BUCKETS;
    const held = b.epochs[slot]!;
    // A slot holding a later bucket means this call is already older than the window (a clock that
    // stepped back): it is dropped rather than wiping newer counts.
    if (held > epoch) return;
    if (held < epoch) clear(b, slot, epoch);
    b.calls[slot]!++;
    if (errorType === undefined) return;
    b.errors[slot]!++;
    b.byType[slot * TYPES.length + TYPE_INDEX.get(errorType)!]!++;
  }

  /** Every bucket holding calls, for the state file; null when there are none. */
  counts(): WindowCounts | null {
    const b = this.buckets;
    if (!b) return null;
    const buckets: WindowCounts['buckets'] = [];
    for (let slot = 0; slot < BUCKETS; slot++) {
      if (b.epochs[slot]! < 0 || b.calls[slot] === 0) continue;
      const byType: Partial<Record<ErrorType, number>> = {};
      for (let t = 0; t < TYPES.length; t++) {
        const n = b.byType[slot * TYPES.length + t]!;
        if (n > 0) byType[TYPES[t]!] = n;
      }
      buckets.push([b.epochs[slot]!, b.calls[slot]!, byType]);
    }
    return buckets.length > 0 ? { bucketMs: this.bucketMs, buckets } : null;
  }

  /**
   * Takes up counts() of an earlier run (a restart), into a window that has counted nothing yet.
   * Buckets of another width (the window's length changed) are not taken: as a reload with a new
   * length, the counts start over. False when nothing was taken.
   */
  load(counts: WindowCounts): boolean {
    if (this.buckets || counts.bucketMs !== this.bucketMs || counts.buckets.length === 0) return false;
    const b = (this.buckets = emptyBuckets());
    for (const [epoch, calls, byType] of counts.buckets) {
      const slot = epoch % BUCKETS;
      if (b.epochs[slot]! >= epoch) continue;
      clear(b, slot, epoch);
      b.calls[slot] = calls;
      for (const [type, n] of Object.entries(byType)) {
        const t = TYPE_INDEX.get(type);
        // An error type this version does not know (a newer mcpwatch wrote the file) is not counted.
        if (t === undefined) continue;
        b.errors[slot]! += n;
        b.byType[slot * TYPES.length + t] = n;
      }
    }
    return true;
  }

  /** The counts in the window ending at `at`; a window that never saw a call answers one shared, frozen object. */
  totals(at: number): WindowTotals {
    const b = this.buckets;
    if (!b) return NO_CALLS;
    const now = Math.floor(at / this.bucketMs);
    const out: WindowTotals = { calls: 0, errors: 0, byType: {} };
    for (let slot = 0; slot < BUCKETS; slot++) {
      const epoch = b.epochs[slot]!;
      if (epoch < 0 || epoch > now || epoch <= now - BUCKETS) continue;
      out.calls += b.calls[slot]!;
      const errors = b.errors[slot]!;
      if (errors === 0) continue;
      out.errors += errors;
      for (let t = 0; t < TYPES.length; t++) {
        const n = b.byType[slot * TYPES.length + t]!;
        if (n > 0) out.byType[TYPES[t]!] = (out.byType[TYPES[t]!] ?? 0) + n;
      }
    }
    return out;
  }
}

function emptyBuckets(): Buckets {
  return { epochs: new Float64Array(BUCKETS).fill(-1), calls: new Uint32Array(BUCKETS), errors: new Uint32Array(BUCKETS), byType: new Uint32Array(BUCKETS * TYPES.length) };
}

/** counts() as the state file gives it back: checked before it is believed. */
export function isWindowCounts(v: unknown): v is WindowCounts {
  if (typeof v !== 'object' || v === null) return false;
  const { bucketMs, buckets } = v as Partial<Record<keyof WindowCounts, unknown>>;
  const count = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
  return (
    count(bucketMs) &&
    (bucketMs as number) > 0 &&
    Array.isArray(buckets) &&
    buckets.every(
      (e: unknown) =>
        Array.isArray(e) &&
        e.length === 3 &&
        count(e[0]) &&
        count(e[1]) &&
        typeof e[2] === 'object' &&
        e[2] !== null &&
        !Array.isArray(e[2]) &&
        Object.values(e[2] as object).every(count) &&
        Object.values(e[2] as Record<string, number>).reduce((a, n) => a + n, 0) <= (e[1] as number),
    )
  );
}

function clear(b: Buckets, slot: number, epoch: number): void {
  b.epochs[slot] = epoch;
  b.calls[slot] = 0;
  b.errors[slot] = 0;
  b.byType.fill(0, slot * TYPES.length, (slot + 1) * TYPES.length);
}

/** What the window says about a server's traffic now. */
export interface TrafficVerdict {
  /** The error rate is at or over the threshold with enough calls to judge. */
  failing: boolean;
  /** "traffic: 34 % of 212 calls failed (invalid_params 30, timeout 42)". */
  note: string;
  /** The most frequent error type in the window (ties: alphabetical), null without errors. */
  errorType: ErrorType | null;
  details: {
    calls: number;
    errors: number;
    error_rate: number | null;
    errors_by_type: Partial<Record<ErrorType, number>>;
    threshold: number | null;
    window_seconds: number;
    min_calls: number;
  };
}

/** The verdict on a window without calls, per policy: made once (frozen, shared), as most servers have no traffic. */
const quiet = new WeakMap<TrafficErrorPolicy, TrafficVerdict>();

/** Judges `totals` against `policy`; pure, so tests drive it row by row. */
export function judgeTraffic(totals: WindowTotals, policy: TrafficErrorPolicy): TrafficVerdict {
  // Runs every second for every server: with no calls there is nothing to word or count.
  if (totals.calls === 0) {
    let v = quiet.get(policy);
    if (!v) {
      v = judge({ calls: 0, errors: 0, byType: Object.freeze({}) }, policy);
      Object.freeze(v.details);
      quiet.set(policy, Object.freeze(v));
    }
    return v;
  }
  return judge(totals, policy);
}

function judge(totals: WindowTotals, policy: TrafficErrorPolicy): TrafficVerdict {
  const { calls, errors, byType } = totals;
  const rate = calls > 0 ? errors / calls : null;
  const failing = policy.errorRate !== null && calls >= policy.minCalls && calls > 0 && rate! >= policy.errorRate;
  const types = (Object.keys(byType) as ErrorType[]).sort();
  let top: ErrorType | null = null;
  for (const t of types) if (top === null || byType[t]! > byType[top]!) top = t;
  const breakdown = types.length > 0 ? ` (${types.map((t) => `${t} ${byType[t]}`).join(', ')})` : '';
  const note =
    calls === 0
      ? `traffic: no calls in ${fmtWindow(policy.windowMs)}`
      : calls < policy.minCalls
        ? `traffic: ${calls} calls in ${fmtWindow(policy.windowMs)}, too few to judge (min_calls ${policy.minCalls})`
        : `traffic: ${percent(rate!)} % of ${calls} calls failed${breakdown}`;
  return {
    failing,
    note,
    errorType: top,
    details: {
      calls,
      errors,
      error_rate: rate,
      errors_by_type: byType,
      threshold: policy.errorRate,
      window_seconds: policy.windowMs / 1000,
      min_calls: policy.minCalls,
    },
  };
}

/** A share as a whole percentage, never rounded up to 100 while some calls succeed, nor down to 0 while some fail. */
function percent(rate: number): number {
  const p = Math.round(rate * 100);
  if (p === 100 && rate < 1) return 99;
  if (p === 0 && rate > 0) return 1;
  return p;
}

function fmtWindow(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}
