// pipeline/uptime.ts decides how probe observations become time: availability is the share of the
// observed time in which a server was up, not the share of probes that succeeded (a failing server
// is re-checked faster than a healthy one, so counting probes exaggerates every outage). Pure and
// clock-free: the store calls it with the times it is given and keeps the spans it returns.
import type { ServerConfig } from '../config/schema.js';
import { startBudgetMs } from './start.js';

/** A stretch of time credited to one observation. */
export interface UptimeSpan {
  server: string;
  from: number;
  to: number;
  up: boolean;
}

interface Held {
  up: boolean;
  /** Time credited so far: the observation's own time, then each checkpoint. */
  creditedTo: number;
  /** The observation holds no later than this: past it mcpwatch was not looking (suspended, stuck). */
  until: number;
}

/**
 * How long one observation may stand for the server's state without a newer one. The agent looks
 * again within the interval plus the check's own time; twice that leaves room for a busy scheduler,
 * while a laptop that slept or a stalled process is "not observed" rather than up or down.
 */
export function observationHoldMs(server: Pick<ServerConfig, 'transport' | 'interval' | 'timeout'> & { start_timeout?: number }): number {
  return 2 * (server.interval + startBudgetMs(server));
}

/**
 * Turns observations into spans. Each observation holds from its time until the next one (or
 * its hold runs out); time before a server's first observation and after `forget` is not counted.
 * Nothing is kept across processes, so a restart's gap is never counted either.
 */
export class UptimeTracker {
  private readonly held = new Map<string, Held>();

  /** Records an observation at `at`; returns the span the previous one earned. */
  observe(server: string, at: number, up: boolean, holdMs: number): UptimeSpan[] {
    const spans = this.credit(server, at);
    this.held.set(server, { up, creditedTo: at, until: at + holdMs });
    return spans;
  }

  /**
   * Credits every server's current observation up to `now` (or only these servers'), so readers see
   * time as it passes.
   */
  checkpoint(now: number, servers: Iterable<string> = this.held.keys()): UptimeSpan[] {
    const spans: UptimeSpan[] = [];
    for (const server of servers) spans.push(...this.credit(server, now));
    return spans;
  }

  /** Credits up to `now` and stops counting the server (it is no longer monitored). */
  forget(server: string, now: number): UptimeSpan[] {
    const spans = this.credit(server, now);
    this.held.delete(server);
    return spans;
  }

  private credit(server: string, to: number): UptimeSpan[] {
    const h = this.held.get(server);
    if (!h) return [];
    const end = Math.min(to, h.until);
    if (end <= h.creditedTo) return [];
    const span = { server, from: h.creditedTo, to: end, up: h.up };
    h.creditedTo = end;
    return [span];
  }
}

/** Splits a span at minute boundaries: the store keeps time per minute, like probe counts. */
export function splitByMinute(span: UptimeSpan, minuteMs = 60_000): Array<{ minute: number; ms: number }> {
  const out: Array<{ minute: number; ms: number }> = [];
  let t = span.from;
  while (t < span.to) {
    const minute = Math.floor(t / minuteMs) * minuteMs;
    const end = Math.min(span.to, minute + minuteMs);
    out.push({ minute, ms: end - t });
    t = end;
  }
  return out;
}

/** up / (up + down), or null when nothing was observed. */
export function uptimeRatio(upMs: number, downMs: number): number | null {
  const total = upMs + downMs;
  return total > 0 ? upMs / total : null;
}
