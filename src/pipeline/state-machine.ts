import type { Thresholds } from '../config/schema.js';
import type { CheckRun, ProbeError } from '../probe/prober.js';
import type { AlertEvent, AlertEventName, Severity } from './events.js';
import { durationText, fmtMs, STATUSES, type ServerStatus } from './status.js';
import { isWindowCounts, type TrafficVerdict, type WindowCounts } from './traffic-errors.js';

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
  /** The configured checks that ran (only when the server answered). */
  checks?: readonly CheckRun[];
}

export interface StatePolicy {
  failuresBeforeDown: number;
  /** A down or stale server is recovered once it has answered for this long (0: at once). */
  recoveryHoldMs?: number;
  thresholds: Thresholds;
  /** Latency samples the p95 is taken over. */
  latencyWindow: number;
  /** The configured checks' names: what the machine remembers of any other check is dropped. */
  checks?: readonly string[];
}

/** What the machine remembers of a check that is failing. */
export interface CheckStreak {
  failures: number;
  /** When its first failure of the streak was seen. */
  since: number;
  onFailure: CheckRun['onFailure'];
  error: ProbeError;
  method: CheckRun['method'];
  target: string;
  /** It has failed often enough to set the server's state (once for degraded, N in a row for down). */
  counted: boolean;
}

const RANK: Record<ServerStatus, number> = { unknown: 0, up: 1, degraded: 2, stale: 3, down: 4 };

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
  /**
   * The server stays `down`, for another cause than before (timeouts, then connection refused): no
   * new alert, since nothing changed for whoever was paged, but the open alert's text should say
   * the cause now (the `down` it would be, as a draft).
   */
  revised?: EventDraft;
}

type LatencyLevel = 'ok' | 'warning' | 'critical';

/**
 * What the machine knows of its server, as JSON for the state file: an agent restarted goes on from
 * here (restore), so an incident still under way is neither announced nor counted again.
 */
export interface MachineMemory {
  status: ServerStatus;
  base: ServerStatus;
  notUpSince: number | null;
  /** Absent in a file written before it was kept: the downtime is then counted from notUpSince. */
  outageSince?: number | null;
  consecutiveFailures: number;
  firstFailureAt: number | null;
  latencies: number[];
  level: LatencyLevel;
  lastError: ProbeError | null;
  checks: Array<[string, CheckStreak]>;
  traffic: { since: number; verdict: TrafficVerdict } | null;
  /** Absent in files of earlier versions. */
  answeringSince?: number | null;
  /**
   * The traffic error-rate window's counts (ServerTrack.memory(); the machine itself does not hold
   * them), so that a restart goes on judging the calls of the window. Absent in files of earlier
   * versions.
   */
  trafficCalls?: WindowCounts | null;
  /**
   * The credential expiry last warned about (ServerTrack.memory(), credentials.ts), so that a
   * restart does not send the same credential_expiring again. Absent in files of earlier versions.
   */
  credentialWarnedFor?: number | null;
}

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
  /**
   * When the server's own answers last stopped (first failure of the streak that made it down, or
   * entering stale): a `recovered` reports the time from here, not from an earlier degraded spell of
   * the same incident, which the down alert did not announce.
   */
  private outageSince: number | null = null;
  /** A down or stale server answering again during its recovery hold: since when. */
  private answeringSince: number | null = null;
  private firstFailureAt: number | null = null;
  private latencies: number[] = [];
  private level: LatencyLevel = 'ok';
  lastError: ProbeError | null = null;
  /** The status the server's own answers give, before failing checks are taken into account. */
  private base: ServerStatus = 'unknown';
  /** Failing checks by name. */
  private readonly failing = new Map<string, CheckStreak>();
  /**
   * The traffic error rate is over its threshold (since when, and the latest verdict). `holdUntil`:
   * restored from a file that kept no counts (an earlier version), so until the calls it counted
   * have left the window, too few calls to judge do not end it.
   */
  private trafficFailing: { since: number; verdict: TrafficVerdict; holdUntil?: number } | undefined;
  /** A bad state of an earlier run too old to go on with (restoreExpired): how the first check after it ends it. */
  private expired: { state: ServerStatus; since: number | null; seenAt: number } | undefined;

  constructor(private policy: StatePolicy) {}

  /** The status the server's own answers give (without failing checks or traffic). */
  get answerStatus(): ServerStatus {
    return this.base;
  }

  memory(): MachineMemory {
    const t = this.trafficFailing;
    return {
      status: this.status,
      base: this.base,
      notUpSince: this.notUpSince,
      outageSince: this.outageSince,
      consecutiveFailures: this.consecutiveFailures,
      firstFailureAt: this.firstFailureAt,
      latencies: [...this.latencies],
      level: this.level,
      lastError: this.lastError,
      checks: [...this.failing].map(([name, c]) => [name, { ...c }]),
      traffic: t ? { since: t.since, verdict: t.verdict } : null,
      answeringSince: this.answeringSince,
    };
  }

  /**
   * Goes on from what an earlier run of the agent knew (memory()): its status, incident start,
   * latency samples and failing checks. No event: what it announced was announced then.
   * `trafficHoldUntil`: until when too few calls to judge do not end a restored traffic failure.
   */
  restore(m: MachineMemory, trafficHoldUntil: number): void {
    this.status = m.status;
    this.base = m.base;
    this.notUpSince = m.notUpSince;
    this.outageSince = m.outageSince ?? null;
    this.consecutiveFailures = m.consecutiveFailures;
    this.firstFailureAt = m.firstFailureAt;
    this.latencies = m.latencies.slice(-this.policy.latencyWindow);
    this.level = m.level;
    this.lastError = m.lastError;
    this.failing.clear();
    for (const [name, c] of m.checks) this.failing.set(name, { ...c });
    this.trafficFailing = m.traffic ? { ...m.traffic, holdUntil: trafficHoldUntil } : undefined;
    this.answeringSince = m.answeringSince ?? null;
  }

  /**
   * An earlier run left the server in `state` (since `since`), last seen at `seenAt`: too long ago
   * to call what the next check finds the same incident. The machine starts from `unknown`, a server
   * still failing is a new incident, and one found up is announced `recovered` with its downtime
   * unknown (the receivers that heard of the old incident would otherwise hold it open for good).
   */
  restoreExpired(state: ServerStatus, since: number | null, seenAt: number): void {
    if (state !== 'up' && state !== 'unknown') this.expired = { state, since, seenAt };
  }

  /**
   * A reload: the new policy at `at`. A check no longer configured is forgotten; one that counted
   * against the server ends as a check that passes again does (`recovered` naming it, with
   * `details.cause: "check_removed"`, and the server's transition if that changes its status), or its
   * alert would never resolve. One failing but not yet counted was never announced: it goes silently.
   */
  setPolicy(policy: StatePolicy, at: number): StepResult {
    this.policy = policy;
    this.latencies = this.latencies.slice(-policy.latencyWindow);
    const removed: Array<[string, CheckStreak]> = [];
    for (const [name, streak] of this.failing) {
      if (policy.checks && !policy.checks.includes(name)) {
        this.failing.delete(name);
        if (streak.counted) removed.push([name, streak]);
      }
    }
    if (removed.length === 0) return { transition: null, events: [] };
    const incidentStart = this.notUpSince;
    const { shown, status, transition } = this.resettle(at);
    return { transition, events: removed.map(([name, c]) => this.checkRecovered(name, c, at, shown, status, 'check_removed', incidentStart)) };
  }

  /** True while a failure streak or an unhealthy state is unresolved: the scheduler re-checks fast. */
  get unsettled(): boolean {
    return this.consecutiveFailures > 0 || this.status === 'down' || this.status === 'stale' || this.status === 'unknown' || [...this.failing.values()].some((c) => !c.counted);
  }

  /**
   * Up with nothing under way (no failure streak, no failing check, no failing traffic): after a
   * restart, what matters of it is in the row written when it came up; only its latency samples
   * are newer.
   */
  get atRest(): boolean {
    return this.status === 'up' && this.consecutiveFailures === 0 && this.failing.size === 0 && !this.trafficFailing;
  }

  /**
   * Why failing traffic holds the server in its state (`traffic: 27 % of 22 calls failed …`), when it
   * does: the last probe's outcome does not say, so a view built from it alone would show no reason.
   */
  get trafficCause(): string | undefined {
    const over = this.overlay(this.base);
    return over?.byTraffic ? over.cause : undefined;
  }

  /** The checks failing now, by name, with their last error. */
  failingChecks(): Array<{ name: string; error: ProbeError; onFailure: CheckRun['onFailure']; counted: boolean }> {
    return [...this.failing].map(([name, c]) => ({ name, error: c.error, onFailure: c.onFailure, counted: c.counted }));
  }

  /**
   * Takes this probe's check runs into the streaks. Returns the checks that now count against the
   * server (newly) and the ones that pass again after they did.
   */
  private updateChecks(r: CheckResult): { failed: Array<[string, CheckStreak]>; passed: Array<[string, CheckStreak]> } {
    const failed: Array<[string, CheckStreak]> = [];
    const passed: Array<[string, CheckStreak]> = [];
    for (const run of r.checks ?? []) {
      const streak = this.failing.get(run.name);
      if (run.status !== 'fail' || !run.error) {
        // A refused check is a configuration finding: it neither fails nor clears the server.
        if (run.status === 'pass' && streak) {
          this.failing.delete(run.name);
          if (streak.counted) passed.push([run.name, streak]);
        } else if (run.status === 'refused') {
          this.failing.delete(run.name);
        }
        continue;
      }
      const s = streak ?? { failures: 0, since: r.at, onFailure: run.onFailure, error: run.error, method: run.method, target: run.target, counted: false };
      s.failures++;
      s.error = run.error;
      s.onFailure = run.onFailure;
      this.failing.set(run.name, s);
      const needed = run.onFailure === 'down' ? this.policy.failuresBeforeDown : 1;
      if (!s.counted && s.failures >= needed) {
        s.counted = true;
        failed.push([run.name, s]);
      }
    }
    return { failed, passed };
  }

  /** The worst state a counted failing check puts the server in, and that check. */
  private checkState(): { status: ServerStatus; name: string; streak: CheckStreak } | undefined {
    let worst: { status: ServerStatus; name: string; streak: CheckStreak } | undefined;
    for (const [name, streak] of this.failing) {
      if (!streak.counted) continue;
      const status: ServerStatus = streak.onFailure === 'down' ? 'down' : 'degraded';
      if (!worst || RANK[status] > RANK[worst.status]) worst = { status, name, streak };
    }
    return worst;
  }

  p95(): number | null {
    if (this.latencies.length === 0) return null;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil(0.95 * sorted.length) - 1)]!;
  }

  apply(r: CheckResult): StepResult {
    const events: EventDraft[] = [];
    let revised: EventDraft | undefined;
    const shown = this.status;
    const checks = r.ok ? this.updateChecks(r) : { failed: [], passed: [] };
    // The server's own answers decide `base` as they always have; a failing check can only make the
    // status worse. Events carry the status before and after both (fixed up below).
    const prev = this.base;
    let next: ServerStatus = prev;
    let cause = '';
    let errorType: string | null = null;

    if (r.staleMs !== undefined && prev === 'down') {
      // Silence is not news about a server already down (a wedged one times out before it has been
      // silent for stale_after): it stays down, and its critical alert is not traded for a warning.
      this.answeringSince = null;
      this.consecutiveFailures++;
    } else if (r.staleMs !== undefined) {
      this.answeringSince = null;
      next = 'stale';
      cause = `no events in ${fmtMs(r.staleMs)}`;
      this.notUpSince ??= r.at;
      this.outageSince ??= r.at;
      if (prev !== 'stale') events.push(this.draft('stale', 'warning', cause, { silent_ms: r.staleMs }, prev, next));
    } else if (!r.ok) {
      this.answeringSince = null;
      this.consecutiveFailures++;
      this.firstFailureAt ??= r.at;
      const before = this.lastError;
      this.lastError = r.error;
      if (r.definitive || this.consecutiveFailures >= this.policy.failuresBeforeDown) {
        next = 'down';
        cause = r.error?.message ?? 'check failed';
        errorType = r.error?.type ?? null;
        const details = {
          error_type: r.error?.type ?? null,
          error_category: r.error?.category ?? null,
          phase: r.error?.phase ?? null,
          consecutive_failures: this.consecutiveFailures,
        };
        if (prev !== 'down') {
          this.notUpSince = Math.min(this.notUpSince ?? this.firstFailureAt, this.firstFailureAt);
          this.outageSince ??= this.firstFailureAt;
          events.push(this.draft('down', 'critical', cause, details, prev, next));
        } else if (before !== null && r.error !== null && before.type !== r.error.type) {
          revised = this.draft('down', 'critical', cause, { ...details, previous_error_type: before.type }, prev, next);
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
      const hold = this.policy.recoveryHoldMs ?? 0;
      // Flap damping: a down or stale server is not recovered until it has answered for the hold; a
      // failure meanwhile goes on with the incident, which was announced once.
      const held = (prev === 'down' || prev === 'stale') && hold > 0 && r.at - (this.answeringSince ??= r.at) < hold;
      if (held) next = prev;
      else {
        if (prev === 'down' || prev === 'stale') {
          const since = this.outageSince ?? this.notUpSince;
          const answered = this.answeringSince ?? r.at;
          const downtime = since !== null ? Math.max(0, (answered - since) / 1000) : null;
          const details = hold > 0 ? { from: prev, answering_since: new Date(answered).toISOString() } : { from: prev };
          events.push({ ...this.draft('recovered', 'info', `recovered after ${durationText(downtime ?? 0)} ${prev}`, details, prev, next), downtime_seconds: downtime });
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
          events.push(this.draft('recovered', 'info', `latency back to normal after ${durationText(degradedFor ?? 0)} degraded`, { from: prev, p95_ms: p95 }, prev, next));
        }
        this.level = level;
        this.outageSince = null;
        this.answeringSince = null;
      }
    }

    if (r.sessionExpired) {
      const after = r.ok ? 're-initialized' : 'a new session failed too';
      events.push(this.draft('session_expired', 'warning', `the server forgot the MCP session (restart or rolling deploy); ${after}`, { reinitialized: r.ok }, prev, next));
    }

    this.base = next;
    let status = next;
    const over = this.overlay(next);
    if (over) ({ status, cause, errorType } = over);
    // The server answers again but a check still holds it down: that is no recovery.
    const drafts = status === 'down' && next !== 'down' ? events.filter((e) => !(e.event === 'recovered' && (prev === 'down' || prev === 'stale'))) : events;
    // Traffic that failed while the server was down or stale was not announced (traffic() stays quiet
    // then); now that it alone holds the server degraded, say so, or nothing would alert on it.
    const verdict = this.trafficFailing?.verdict;
    if (verdict && over?.byTraffic && RANK[shown] > RANK.degraded) drafts.push(this.trafficErrors(verdict, shown, status));
    // An incident lasts while the status (with checks) is not up, whichever part caused it; a check's
    // `recovered` that ends it still names when it began.
    const incidentStart = this.notUpSince;
    if (status === 'up') this.notUpSince = null;
    else if (status !== 'unknown') this.notUpSince ??= r.at;
    for (const [name, c] of checks.failed) drafts.push(this.checkFailed(name, c, r.at));
    for (const [name, c] of checks.passed) drafts.push(this.checkRecovered(name, c, r.at, shown, status, 'passed', incidentStart));
    for (const e of drafts) {
      e.previous_state = shown;
      e.current_state = status;
    }
    this.status = status;
    const ended = this.endExpired(status);
    if (ended) drafts.push(ended);
    const transition = status !== shown ? { from: shown, to: status, at: r.at, cause: cause || status, errorType } : null;
    // Only the cause of a down the server's own answers give is revised: a check that holds it down
    // says its own cause.
    if (revised && status === 'down' && shown === 'down' && !over) {
      revised.incident_started_at = this.notUpSince;
      return { transition, events: drafts, revised };
    }
    return { transition, events: drafts };
  }

  /**
   * Once the server's status is known again after an expired earlier state: found up, the old
   * incident's `recovered`, with its downtime unknown. Found failing, the events of the new incident
   * say it all.
   */
  private endExpired(status: ServerStatus): EventDraft | undefined {
    const was = this.expired;
    if (!was || status === 'unknown') return undefined;
    this.expired = undefined;
    if (status !== 'up') return undefined;
    const seen = new Date(was.seenAt).toISOString();
    const message = `up; it was ${was.state} when mcpwatch last checked it (${seen}), and how long it stayed ${was.state} after that is unknown`;
    return { ...this.draft('recovered', 'info', message, { from: was.state, last_checked_at: seen }, was.state, status), incident_started_at: was.since };
  }

  /**
   * Takes in what the server's traffic says (pipeline/traffic-errors.ts): while its error rate is over
   * the threshold the server is at least `degraded`, whatever the probes say. `traffic_errors` and its
   * `recovered` only when that changes the server's status: a down or stale server is not degraded by
   * its traffic, and a `recovered` for a server still down would be a lie (and resolve its alert).
   * The probes' own verdict (`base`) is left as it is.
   */
  traffic(verdict: TrafficVerdict, at: number): StepResult {
    const was = this.trafficFailing;
    if (!verdict.failing && !was) return { transition: null, events: [] };
    // Restored from an earlier run: the calls it counted are gone, and too few since are no verdict.
    if (!verdict.failing && was?.holdUntil !== undefined && at < was.holdUntil && verdict.details.calls < verdict.details.min_calls) return { transition: null, events: [] };
    if (verdict.failing) {
      if (was) {
        was.verdict = verdict;
        delete was.holdUntil;
      } else this.trafficFailing = { since: at, verdict };
    } else {
      this.trafficFailing = undefined;
    }
    // The incident's start, before resettle() ends it.
    const startedAt = this.notUpSince;
    const { shown, status, transition } = this.resettle(at);
    const events: EventDraft[] = [];
    if (status !== shown && verdict.failing && !was) {
      events.push(this.trafficErrors(verdict, shown, status));
    } else if (status !== shown && !verdict.failing && was) {
      const failingFor = Math.max(0, (at - was.since) / 1000);
      const message = `traffic errors back under the threshold after ${durationText(failingFor)}: ${verdict.note.replace(/^traffic: /, '')}`;
      events.push({ ...this.draft('recovered', 'info', message, { from: shown, cause: 'traffic', ...verdict.details }, shown, status), downtime_seconds: failingFor, incident_started_at: startedAt });
    }
    return { transition, events };
  }

  /**
   * The status again from `base` and what overlays it, after something other than a probe changed
   * the overlay (traffic, a reload): the incident's start follows, and the transition if any.
   */
  private resettle(at: number): { shown: ServerStatus; status: ServerStatus; transition: Transition | null } {
    const shown = this.status;
    const { status, cause, errorType } = this.overlay(this.base) ?? { status: this.base, cause: '', errorType: null };
    if (status === 'up') this.notUpSince = null;
    else if (status !== 'unknown') this.notUpSince ??= at;
    this.status = status;
    // Known again through its traffic: the expired state ends as a new incident would start.
    if (status !== 'unknown') this.expired = undefined;
    return { shown, status, transition: status !== shown ? { from: shown, to: status, at, cause: cause || status, errorType } : null };
  }

  private trafficErrors(verdict: TrafficVerdict, shown: ServerStatus, status: ServerStatus): EventDraft {
    return this.draft('traffic_errors', 'warning', verdict.note, { ...verdict.details, error_type: verdict.errorType }, shown, status);
  }

  /**
   * What holds the server in a worse state than `base`, its own answers, give: the worst counted
   * failing check, then failing traffic (at least `degraded`); undefined when nothing does.
   */
  private overlay(base: ServerStatus): { status: ServerStatus; cause: string; errorType: string | null; byTraffic: boolean } | undefined {
    let worse: { status: ServerStatus; cause: string; errorType: string | null; byTraffic: boolean } | undefined;
    const byCheck = this.checkState();
    if (byCheck && RANK[byCheck.status] > RANK[base]) {
      worse = { status: byCheck.status, cause: `check ${byCheck.name} failed: ${byCheck.streak.error.message}`, errorType: byCheck.streak.error.type, byTraffic: false };
    }
    const traffic = this.trafficFailing?.verdict;
    if (traffic && RANK.degraded > RANK[worse?.status ?? base]) worse = { status: 'degraded', cause: traffic.note, errorType: traffic.errorType, byTraffic: true };
    return worse;
  }

  /** A counted check that no longer fails: it passes again, or a reload removed it. */
  private checkRecovered(name: string, c: CheckStreak, at: number, shown: ServerStatus, status: ServerStatus, how: 'passed' | 'check_removed', incidentStart: number | null): EventDraft {
    const failingFor = Math.max(0, (at - c.since) / 1000);
    const after = `after ${durationText(failingFor)} failing`;
    const message = how === 'passed' ? `check ${name} passes again ${after}` : `check ${name} removed from the configuration ${after}`;
    const details = { check: name, from: shown, method: c.method, target: c.target, ...(how === 'passed' ? {} : { cause: how }) };
    return { ...this.draft('recovered', 'info', message, details, shown, status), downtime_seconds: failingFor, incident_started_at: incidentStart };
  }

  private checkFailed(name: string, c: CheckStreak, at: number): EventDraft {
    const details = {
      check: name,
      method: c.method,
      target: c.target,
      error_type: c.error.type,
      error_category: c.error.category,
      on_failure: c.onFailure,
      consecutive_failures: c.failures,
    };
    const draft = this.draft('check_failed', c.onFailure === 'down' ? 'critical' : 'warning', `check ${name} failed (${c.error.type}): ${c.error.message}`, details, this.status, this.status);
    return { ...draft, incident_started_at: this.notUpSince ?? at };
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

const LEVELS: readonly string[] = ['ok', 'warning', 'critical'];
const isStatus = (v: unknown): v is ServerStatus => typeof v === 'string' && (STATUSES as readonly string[]).includes(v);
const isTime = (v: unknown): v is number | null => v === null || (typeof v === 'number' && Number.isFinite(v));
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isError = (v: unknown): v is ProbeError => isObject(v) && typeof v.type === 'string' && typeof v.message === 'string';

function isStreak(v: unknown): v is [string, CheckStreak] {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !isObject(v[1])) return false;
  const c = v[1];
  return typeof c.failures === 'number' && typeof c.since === 'number' && (c.onFailure === 'degraded' || c.onFailure === 'down') && isError(c.error) && typeof c.method === 'string' && typeof c.target === 'string' && typeof c.counted === 'boolean';
}

function isTrafficMemory(v: unknown): v is MachineMemory['traffic'] {
  if (v === null) return true;
  if (!isObject(v) || typeof v.since !== 'number' || !isObject(v.verdict)) return false;
  const { note, details } = v.verdict;
  return typeof note === 'string' && isObject(details) && typeof details.calls === 'number' && typeof details.min_calls === 'number';
}

/** A MachineMemory as memory() writes it: what a state file gives back is checked before it is believed. */
export function isMachineMemory(v: unknown): v is MachineMemory {
  if (!isObject(v)) return false;
  return (
    isStatus(v.status) &&
    isStatus(v.base) &&
    isTime(v.notUpSince) &&
    (v.outageSince === undefined || isTime(v.outageSince)) &&
    (v.answeringSince === undefined || isTime(v.answeringSince)) &&
    (v.trafficCalls === undefined || v.trafficCalls === null || isWindowCounts(v.trafficCalls)) &&
    (v.credentialWarnedFor === undefined || isTime(v.credentialWarnedFor)) &&
    typeof v.consecutiveFailures === 'number' &&
    isTime(v.firstFailureAt) &&
    Array.isArray(v.latencies) &&
    v.latencies.every((l) => typeof l === 'number' && Number.isFinite(l)) &&
    typeof v.level === 'string' &&
    LEVELS.includes(v.level) &&
    (v.lastError === null || isError(v.lastError)) &&
    Array.isArray(v.checks) &&
    v.checks.every(isStreak) &&
    isTrafficMemory(v.traffic)
  );
}
