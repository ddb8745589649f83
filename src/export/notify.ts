// Alert delivery: builds the configured notifiers and dispatches events to them without making the
// caller wait, each notifier with its own bounded queue, retries and back-off. What to alert on is
// pipeline/'s decision; this only delivers it.
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { AlertConfig } from '../config/schema.js';
import { STATE_EVENTS, type AlertEvent } from '../pipeline/events.js';
import type { ServerStatus } from '../pipeline/status.js';
import { redactDeep } from '../pipeline/redact.js';
import type { FetchLike } from './notifiers/http.js';
import { createSlackNotifier } from './notifiers/slack.js';
import { createStdoutNotifier, type LineSink } from './notifiers/stdout.js';
import { DeliveryError, type Notifier, type NotifierKind } from './notifiers/types.js';
import { createWebhookNotifier } from './notifiers/webhook.js';
import { createAlertmanagerNotifier } from './notifiers/alertmanager.js';

export { type Notifier } from './notifiers/types.js';
export { statusError } from './notifiers/http.js';
export { formatStdout, type LineSink } from './notifiers/stdout.js';
export { verifySignature } from './notifiers/webhook.js';
export { buildSlackMessage, type SlackBlock } from './notifiers/slack.js';
export { driftLines } from './notifiers/format.js';
export { alertLabels, alertName, alertsEndpoint, alertsFor, refreshed, retire, ONE_OFF_MS, RESEND_MARGIN, type ActiveAlerts, type AlertmanagerNotifier, type AmAlert } from './notifiers/alertmanager.js';

interface NotifierDeps {
  /** Where the stdout notifier writes (default `process.stdout`). */
  stdout?: LineSink;
  /** HTTP client for webhook and Slack (default the global fetch). */
  fetch?: FetchLike;
  /** Clock for signature timestamps and Retry-After dates (ms since the epoch). */
  now?: () => number;
}

export function createNotifier(cfg: AlertConfig, deps: NotifierDeps = {}): Notifier {
  const http = { fetch: deps.fetch ?? fetch, now: deps.now ?? Date.now };
  const key = notifierKey(cfg);
  switch (cfg.type) {
    case 'stdout':
      return { ...createStdoutNotifier(cfg, deps.stdout ?? process.stdout), key };
    case 'webhook':
      return { ...createWebhookNotifier(cfg, http), key };
    case 'slack':
      return { ...createSlackNotifier(cfg, http), key };
    case 'alertmanager':
      return { ...createAlertmanagerNotifier(cfg, http), key };
  }
}

/**
 * Who a notifier's receiver is: the type and the destination (URL), so that a changed filter, retry
 * or secret is the same receiver and another URL is another. Hashed: a Slack webhook URL is itself
 * the credential, and the key is written to the state file.
 */
export function notifierKey(cfg: AlertConfig): string {
  const destination = cfg.type === 'stdout' ? '' : cfg.type === 'slack' ? cfg.webhook_url : cfg.url;
  return `${cfg.type}:${createHash('sha256').update(destination).digest('hex').slice(0, 16)}`;
}

export type DeliveryOutcome = 'sent' | 'retried' | 'failed';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface DispatcherOptions {
  /** Called once per outcome: `retried` for every failed attempt that will be retried. */
  metrics?: (notifier: NotifierKind, outcome: DeliveryOutcome) => void;
  log?: (level: LogLevel, msg: string, fields: Record<string, unknown>) => void;
  /** Clock (ms since the epoch), for the durations in logs. */
  now?: () => number;
  /** Back-off waits; rejects or resolves early when `signal` aborts (at close). Tests inject it. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1); 0 means the full back-off. */
  random?: () => number;
  /** Events waiting per notifier before the oldest is dropped (default 1000). */
  queueSize?: number;
  /**
   * Called once an event has been delivered by a notifier with a `key`, with what the notifier now
   * holds for the event's server (Notifier.held): what the state file keeps of what it was told.
   */
  delivered?: (key: string, event: AlertEvent, held: unknown) => void;
}

/** What a notifier (by key) last told of a server, as the state file keeps it. */
export interface Told {
  state: ServerStatus;
  held: unknown;
}

const DEFAULT_QUEUE_SIZE = 1000;
/** Back-off waits are drawn from [base × (1 − JITTER), base], so a fleet of agents does not retry in step. */
const JITTER = 0.5;

interface Lane {
  notifier: Notifier;
  queue: AlertEvent[];
  running: boolean;
  inFlight: AlertEvent | undefined;
  /** Aborted when the lane ends: at close, or once a notifier that left the configuration had its grace. */
  closing: AbortController;
  /** Its notifier left the configuration (reconfigure): it takes no new event, and goes once done. */
  leaving: boolean;
  /** How long a leaving lane may still send what it holds. */
  grace?: NodeJS.Timeout;
  /** Instances a reload replaced: the delivery under way may still be using one, so they close after it. */
  replaced: Notifier[];
  /** Events taken into the lane, and those done with (delivered, failed or dropped): forget()'s barrier. */
  taken: number;
  done: number;
  doneWaiters: Array<{ upTo: number; resolve: () => void }>;
}

function lane(notifier: Notifier): Lane {
  return { notifier, queue: [], running: false, inFlight: undefined, closing: new AbortController(), leaving: false, replaced: [], taken: 0, done: 0, doneWaiters: [] };
}

/**
 * Delivers alert events to notifiers without ever making the caller wait: `dispatch` only queues.
 * Each notifier has its own bounded queue and one worker, so a dead webhook delays only its own
 * alerts, and events reach each receiver in the order they happened (`down` before `recovered`),
 * across configuration reloads too (reconfigure).
 */
export class AlertDispatcher {
  private lanes: Lane[];
  private readonly metrics: NonNullable<DispatcherOptions['metrics']>;
  private readonly log: NonNullable<DispatcherOptions['log']>;
  private readonly now: () => number;
  private readonly sleep: NonNullable<DispatcherOptions['sleep']>;
  private readonly random: () => number;
  private readonly queueSize: number;
  private readonly delivered: DispatcherOptions['delivered'];
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  /** Events queued by revise(): applied to the notifier, not delivered. */
  private readonly revisions = new WeakSet<AlertEvent>();

  constructor(notifiers: readonly Notifier[], options: DispatcherOptions = {}) {
    this.lanes = notifiers.map(lane);
    const metrics = options.metrics ?? (() => undefined);
    const log = options.log ?? (() => undefined);
    // A broken metrics or log callback must not lose an alert or kill a worker.
    this.metrics = (kind, outcome) => {
      try {
        metrics(kind, outcome);
      } catch {
        /* see above */
      }
    };
    this.log = (level, msg, fields) => {
      try {
        log(level, msg, fields);
      } catch {
        /* see above */
      }
    };
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.random = options.random ?? Math.random;
    this.queueSize = Math.max(1, options.queueSize ?? DEFAULT_QUEUE_SIZE);
    this.delivered = options.delivered;
  }

  /**
   * Queues `event` for every notifier whose filter accepts it (but those of `except`, by key), and
   * returns at once. What leaves the agent is redacted here, for every notifier alike: a URL quoted
   * anywhere in the event loses its credentials.
   */
  dispatch(unsafe: AlertEvent, except?: ReadonlySet<string>): void {
    const event = redactDeep(unsafe);
    if (this.closed) {
      this.log('warn', 'alert not delivered: notifiers are closed', { server: event.server, event: event.event });
      return;
    }
    for (const lane of this.current()) {
      if (except && lane.notifier.key !== undefined && except.has(lane.notifier.key)) continue;
      if (accepts(lane.notifier, event)) this.enqueue(lane, event);
    }
  }

  /**
   * `unsafe` restates the state a server is in with another cause (StepResult.revised): the notifiers
   * that keep an alert open for it (Notifier.revise) update its text, in order with the events they
   * hold; the others hear nothing, as a receiver paged for an outage is not paged again for it.
   */
  revise(unsafe: AlertEvent): void {
    if (this.closed) return;
    const event = redactDeep(unsafe);
    this.revisions.add(event);
    for (const lane of this.current()) {
      if (!lane.notifier.revise || !accepts(lane.notifier, event)) continue;
      // A newer cause replaces one still waiting behind a slow receiver: a cause that keeps switching
      // must not fill the queue and push the real events (a down, a recovery) out of it.
      const last = lane.queue.findLastIndex((e) => e.server === event.server);
      if (last >= 0 && this.revisions.has(lane.queue[last]!)) lane.queue[last] = event;
      else this.enqueue(lane, event);
    }
  }

  /**
   * A configuration reload: from now on the dispatcher delivers to `notifiers`. One already here
   * (the same key: type and destination) keeps its lane, so what waits or is being retried for it
   * is delivered first, in order, and nothing is lost to the reload: a receiver never gets a
   * `recovered` ahead of the `down` before it. Its new instance (filter, retry, secret as now
   * configured) delivers what comes next; the delivery under way ends with the instance that began
   * it. One no longer configured takes no new event: what it holds has `graceMs` to go out, and
   * then fails. Returns the keys of the notifiers added.
   */
  reconfigure(notifiers: readonly Notifier[], graceMs = 2000): string[] {
    if (this.closed) return [];
    // A notifier removed by the last reload and added back by this one, still sending what it held,
    // takes up its own lane again: two lanes to one receiver would race.
    const byKey = new Map<string, Lane[]>();
    for (const l of this.lanes) {
      if (l.notifier.key === undefined || l.closing.signal.aborted) continue;
      const same = byKey.get(l.notifier.key);
      if (same) same.push(l);
      else byKey.set(l.notifier.key, [l]);
    }
    const next: Lane[] = [];
    const added: string[] = [];
    for (const notifier of notifiers) {
      const l = notifier.key === undefined ? undefined : byKey.get(notifier.key)?.shift();
      if (notifier.key !== undefined && (!l || l.leaving)) added.push(notifier.key);
      if (!l) {
        next.push(lane(notifier));
        continue;
      }
      l.leaving = false;
      clearTimeout(l.grace);
      if (l.notifier !== notifier) {
        if (l.running) l.replaced.push(l.notifier);
        else closeNotifier(l.notifier);
        l.notifier = notifier;
        this.refilter(l);
      }
      next.push(l);
    }
    const leaving = this.lanes.filter((l) => !next.includes(l));
    this.lanes = [...next, ...leaving];
    for (const l of leaving) {
      if (l.leaving) continue;
      l.leaving = true;
      if (l.running) {
        l.grace = setTimeout(() => this.end(l), graceMs);
        l.grace.unref();
      } else {
        this.end(l);
      }
    }
    return added;
  }

  /**
   * What a kept lane still holds goes by its new `events` filter: a receiver whose filter the reload
   * narrowed asked not to hear those events any more, whenever they happened. Not a failure: they
   * were not for it.
   */
  private refilter(lane: Lane): void {
    const kept = lane.queue.filter((event) => accepts(lane.notifier, event));
    const dropped = lane.queue.length - kept.length;
    if (dropped === 0) return;
    lane.queue = kept;
    for (let i = 0; i < dropped; i++) this.finished(lane);
    this.log('debug', 'queued alerts dropped: the reloaded events filter excludes them', { notifier: lane.notifier.kind, target: lane.notifier.target, dropped });
  }

  /** The lanes of the notifiers configured now (not those leaving). */
  private current(): Lane[] {
    return this.lanes.filter((l) => !l.leaving);
  }

  /**
   * At start-up, before any event of `server`: notifiers that hold something for it in their receiver
   * (the Alertmanager's active alerts) take up what they held in the agent's last run (`told`, by
   * notifier key), so its alerts stay firing rather than expire over a restart. `end`: the server's
   * state was too old to go on with, and what they held is ended instead (Notifier.end). `only`:
   * these notifiers alone (by key), the ones a reload added back.
   */
  restore(server: string, told: ReadonlyMap<string, Told>, how: 'resume' | 'end' = 'resume', only?: ReadonlySet<string>): void {
    for (const { notifier } of this.current()) {
      if (only && (notifier.key === undefined || !only.has(notifier.key))) continue;
      const held = notifier.key === undefined ? undefined : told.get(notifier.key)?.held;
      const take = notifier[how]?.bind(notifier);
      if (held === undefined || !take) continue;
      try {
        take(server, held);
      } catch (err) {
        this.log('warn', 'taking up what a notifier held before the restart failed; it starts afresh', { ...this.fields(notifier, undefined), server, error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  /** The keys of the notifiers this dispatcher delivers to (Notifier.key). */
  get keys(): string[] {
    return this.current().flatMap(({ notifier }) => (notifier.key === undefined ? [] : [notifier.key]));
  }

  /**
   * After a restart, once the server's first check has settled without an event: `unsafe` (pipeline/
   * resume.ts catchUpDraft) goes to each notifier whose last word of the server (`told`, by key; none
   * is `up`) was another state: one added since, or one a delivery failed to before the restart.
   * `assumeTold`: the file cannot say what was told (it predates that record), so every notifier
   * that keeps nothing in its receiver is taken to know, and recorded so; the Alertmanager's alerts
   * are posted again (Alertmanager deduplicates them). `only`: these notifiers alone (by key), the
   * ones a reload added.
   */
  catchUp(unsafe: AlertEvent, told: ReadonlyMap<string, Told>, assumeTold: boolean, only?: ReadonlySet<string>): void {
    if (this.closed) return;
    const event = redactDeep(unsafe);
    const soon = this.toldOnceSent(event.server, told);
    for (const lane of this.current()) {
      const { notifier } = lane;
      if (notifier.key === undefined || !accepts(notifier, event) || (only && !only.has(notifier.key))) continue;
      const knew = soon.get(notifier.key)?.state;
      if (knew === undefined && assumeTold && !notifier.resume) {
        this.record(notifier, event);
        continue;
      }
      // Told nothing, it takes the server to be fine, and says so: previous_state is `unknown`.
      if ((knew ?? 'up') !== event.current_state) this.enqueue(lane, { ...event, previous_state: knew ?? 'unknown' });
    }
  }

  /**
   * `told` (what the receivers were told of `server`, by key) as it stands once each notifier has
   * sent the state events it still holds of the server: one a reload removed and added back may
   * still be sending, and a catch-up must go on from its last word, not from the state file's.
   */
  toldOnceSent(server: string, told: ReadonlyMap<string, Told>): Map<string, Told> {
    const soon = new Map(told);
    for (const lane of this.current()) {
      const key = lane.notifier.key;
      if (key === undefined) continue;
      const last = [lane.inFlight, ...lane.queue].filter((e) => e !== undefined && e.server === server && STATE_EVENTS.includes(e.event)).at(-1);
      if (last) soon.set(key, { state: last.current_state, held: told.get(key)?.held });
    }
    return soon;
  }

  private enqueue(lane: Lane, event: AlertEvent): void {
    lane.queue.push(event);
    lane.taken++;
    if (lane.queue.length > this.queueSize) {
      const dropped = lane.queue.shift()!;
      this.finished(lane);
      this.metrics(lane.notifier.kind, 'failed');
      this.log('warn', 'alert dropped: notifier queue is full', { ...this.fields(lane.notifier, dropped), queue_size: this.queueSize });
    }
    if (!lane.running) {
      lane.running = true;
      // Start on a later turn of the event loop: even building the request is not the caller's time.
      setImmediate(() => void this.run(lane));
    }
  }

  /** One event of the lane is done with, whatever became of it. */
  private finished(lane: Lane): void {
    lane.done++;
    lane.doneWaiters = lane.doneWaiters.filter((w) => {
      if (lane.done < w.upTo) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once the lane is done with every event it took before the call. */
  private drained(lane: Lane): Promise<void> {
    const upTo = lane.taken;
    if (lane.done >= upTo) return Promise.resolve();
    return new Promise((resolve) => lane.doneWaiters.push({ upTo, resolve }));
  }

  /** Tells the `delivered` callback what `notifier` now knows of the event's server. */
  private record(notifier: Notifier, event: AlertEvent): void {
    if (notifier.key === undefined || !this.delivered) return;
    try {
      this.delivered(notifier.key, event, notifier.held?.(event.server));
    } catch (err) {
      this.log('warn', 'keeping what a notifier was told failed; after a restart it may be told again', { ...this.fields(notifier, event), error: err instanceof Error ? err.message : String(err) });
    }
  }

  /** Events queued or being delivered, over all notifiers. */
  get pending(): number {
    return this.lanes.reduce((n, lane) => n + lane.queue.length + (lane.inFlight ? 1 : 0), 0);
  }

  /**
   * Waits until every queued event has been delivered or has failed, at most `timeoutMs`.
   * Resolves true when all are done, false when time ran out first.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    if (this.idle()) return true;
    let timer: NodeJS.Timeout | undefined;
    const idle = new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true)));
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([idle, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Stops: later dispatches are refused, back-off waits and attempts in flight are aborted, and
   * every event not delivered counts as failed. Call `flush` first to give deliveries a chance.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const lane of this.lanes) this.end(lane);
    if (!this.idle()) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Ends a lane: the attempt or back-off under way is aborted, what waits fails, its notifiers close. */
  private end(lane: Lane): void {
    clearTimeout(lane.grace);
    if (!lane.closing.signal.aborted) {
      lane.closing.abort();
      for (const n of [...lane.replaced.splice(0), lane.notifier]) closeNotifier(n);
      for (const event of lane.queue.splice(0)) {
        this.finished(lane);
        if (!this.revisions.has(event)) this.fail(lane.notifier, event, 0, new DeliveryError('aborted', 'notifiers closed before delivery', false));
      }
    }
    if (lane.leaving && !lane.running) this.lanes = this.lanes.filter((l) => l !== lane);
  }

  /**
   * Tells every notifier that keeps state per server that `servers` are no longer monitored, each
   * once it is done with the events it holds now (delivered, or given up): the caller sends no event
   * of theirs after the call, so their alerts end after their last event, never before it. `still`
   * is asked then, server by server: one it no longer names (added back since, and alerting again)
   * is left alone. A notifier that left the configuration is told nothing (it is not to be posted
   * to; what it held ends with it), unless a reload adds it back while it still sends its last
   * events: then it is told once they are sent, or its receiver would keep those alerts for good.
   */
  async forget(servers: readonly string[], still: (server: string) => boolean = () => true): Promise<void> {
    if (servers.length === 0 || this.closed) return;
    await Promise.all(
      this.lanes
        .filter((lane) => !lane.closing.signal.aborted)
        .map(async (lane) => {
          await this.drained(lane);
          const now = servers.filter(still);
          if (now.length === 0 || this.closed || lane.leaving || lane.closing.signal.aborted) return;
          const { notifier } = lane;
          try {
            await notifier.forget?.(now);
          } catch (err) {
            this.log('warn', 'resolving the alerts of servers no longer monitored failed; they go with the next re-post', {
              notifier: notifier.kind,
              target: notifier.target,
              servers: now,
              error: err instanceof Error ? err.message : String(err),
            });
          }
        }),
    );
  }

  private idle(): boolean {
    return this.lanes.every((lane) => !lane.running);
  }

  private async run(lane: Lane): Promise<void> {
    try {
      for (let event = lane.queue.shift(); event !== undefined; event = lane.queue.shift()) {
        lane.inFlight = event;
        await this.deliver(lane, event);
        lane.inFlight = undefined;
        this.finished(lane);
        for (const n of lane.replaced.splice(0)) closeNotifier(n);
      }
    } finally {
      lane.inFlight = undefined;
      lane.running = false;
      // A notifier that left the configuration goes once it has nothing more to send.
      if (lane.leaving) this.end(lane);
      if (this.idle()) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    }
  }

  /** Back-off before retry number `retry` (1-based): initial × 2^(retry−1), capped, with jitter. */
  private backoff(notifier: Notifier, retry: number): number {
    const { initial_backoff, max_backoff } = notifier.retry;
    const base = Math.min(max_backoff, initial_backoff * 2 ** (retry - 1));
    return Math.round(base * (1 - JITTER * this.random()));
  }

  private async deliver(lane: Lane, event: AlertEvent): Promise<void> {
    // The instance the delivery began with sees it through, retries included (reconfigure).
    const { notifier, closing } = lane;
    if (this.revisions.has(event)) {
      try {
        // The state file records what the receiver holds: a down that failed to arrive stays untold,
        // so a restart or a re-adding reload still catches it up.
        if (notifier.revise?.(event) === true) this.record(notifier, event);
      } catch (err) {
        this.log('warn', 'updating an open alert with a new cause failed; it keeps the cause it was posted with', { ...this.fields(notifier, event), error: err instanceof Error ? err.message : String(err) });
      }
      return;
    }
    const started = this.now();
    const maxAttempts = Math.max(1, notifier.retry.max_attempts);
    for (let attempt = 1; ; attempt++) {
      if (closing.signal.aborted) {
        this.fail(notifier, event, attempt - 1, new DeliveryError('aborted', 'notifiers closed before delivery', false));
        return;
      }
      const signal = AbortSignal.any([AbortSignal.timeout(notifier.timeout), closing.signal]);
      let error: DeliveryError;
      try {
        await untilAborted(notifier.deliver(event, signal), signal);
        this.metrics(notifier.kind, 'sent');
        this.record(notifier, event);
        if (attempt > 1) this.log('info', 'alert delivered after retries', { ...this.fields(notifier, event), attempts: attempt, elapsed_ms: this.now() - started });
        return;
      } catch (err) {
        error = asDeliveryError(err, signal);
      }
      if (!error.retryable || attempt >= maxAttempts || closing.signal.aborted) {
        this.fail(notifier, event, attempt, error, this.now() - started);
        return;
      }
      this.metrics(notifier.kind, 'retried');
      // A receiver's Retry-After is honoured as asked (no jitter: it chose the moment), but never
      // beyond max_backoff, so one receiver cannot park its queue for an hour.
      const wait = error.retryAfterMs !== undefined ? Math.min(error.retryAfterMs, notifier.retry.max_backoff) : this.backoff(notifier, attempt);
      this.log('debug', 'alert delivery failed, retrying', { ...this.fields(notifier, event), attempt, error: error.message, wait_ms: wait });
      try {
        await this.sleep(wait, closing.signal);
      } catch {
        // Only close() aborts the wait; the loop head turns that into a failure.
      }
    }
  }

  private fail(notifier: Notifier, event: AlertEvent, attempts: number, error: DeliveryError, elapsedMs?: number): void {
    this.metrics(notifier.kind, 'failed');
    this.log('error', 'alert delivery failed', {
      ...this.fields(notifier, event),
      attempts,
      code: error.code,
      ...(error.status !== undefined ? { status: error.status } : {}),
      error: error.message,
      ...(elapsedMs !== undefined ? { elapsed_ms: elapsedMs } : {}),
    });
  }

  private fields(notifier: Notifier, event: AlertEvent | undefined): Record<string, unknown> {
    return { notifier: notifier.kind, target: notifier.target, ...(event ? { server: event.server, event: event.event } : {}) };
  }
}

/** Stops a notifier's own timers; one that cannot must not keep the others' events from failing cleanly. */
function closeNotifier(notifier: Notifier): void {
  try {
    notifier.close?.();
  } catch {
    // See above.
  }
}

/** The notifier's `events` filter; one that throws accepts nothing. */
function accepts(notifier: Notifier, event: AlertEvent): boolean {
  try {
    return notifier.accepts(event);
  } catch {
    return false;
  }
}

/**
 * `work`, or a rejection as soon as `signal` aborts: the per-attempt timeout holds even for a
 * notifier that ignores its signal, so one stuck attempt cannot stall its queue for good.
 */
function untilAborted(work: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** Any throw from a notifier as a DeliveryError; unknown errors are assumed worth another try. */
function asDeliveryError(err: unknown, signal: AbortSignal): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof Error && reason.name === 'TimeoutError') return new DeliveryError('timeout', 'no answer before the delivery timeout', true, { cause: err });
    return new DeliveryError('aborted', 'delivery aborted', false, { cause: err });
  }
  return new DeliveryError('network', err instanceof Error ? err.message : String(err), true, { cause: err });
}
