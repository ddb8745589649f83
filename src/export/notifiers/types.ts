// notifiers/ holds one file per alert channel (stdout, webhook, Slack) behind the contract below, and
// the one error type a failed attempt throws, so the dispatcher (export/notify.ts) can decide on
// retries without knowing which transport failed. A notifier formats and sends one event; it never
// decides what is alerted (pipeline/) nor retries or queues (the dispatcher).
import type { AlertEvent } from '../../pipeline/events.js';

export type NotifierKind = 'stdout' | 'webhook' | 'slack' | 'alertmanager';

/** Milliseconds throughout, as `AlertConfig.retry` is after validation. */
export interface RetryPolicy {
  max_attempts: number;
  initial_backoff: number;
  max_backoff: number;
}

export interface Notifier {
  readonly kind: NotifierKind;
  /**
   * Where alerts go, safe to log: `stdout`, or the receiver's host. Never the full URL, which for
   * Slack is itself the credential.
   */
  readonly target: string;
  /** How the dispatcher retries failed attempts of this notifier. */
  readonly retry: RetryPolicy;
  /** Deadline for one attempt (ms). */
  readonly timeout: number;
  /**
   * Who the receiver is, across restarts and reloads (notify.ts notifierKey: the type and the
   * destination, hashed): what the state file keeps of what this notifier told is filed under it.
   * Without one, nothing is kept.
   */
  readonly key?: string;
  /** The `events` filter: false for an event this notifier was not configured to receive. */
  accepts(event: AlertEvent): boolean;
  /** One delivery attempt. Resolves when delivered; throws (preferably a `DeliveryError`) otherwise. */
  deliver(event: AlertEvent, signal: AbortSignal): Promise<void>;
  /**
   * Ends what the notifier keeps open for servers no longer monitored (the Alertmanager's active
   * alerts): no event is sent, since none happened. The dispatcher calls it after the last event
   * of theirs it had queued for this notifier. Throws when the receiver could not be told.
   */
  forget?(servers: readonly string[]): Promise<void>;
  /**
   * What the notifier holds for `server` in its receiver (the Alertmanager's active alerts), as JSON
   * for the state file; undefined when it keeps nothing per server.
   */
  held?(server: string): unknown;
  /**
   * Takes up what an earlier run of the agent held for `server` (held()'s value, from the state
   * file), so that it goes on as if the agent had not restarted. A value it cannot read is ignored.
   */
  resume?(server: string, held: unknown): void;
  /**
   * Ends what an earlier run of the agent held for `server` (held()'s value, from the state file)
   * when its state is too old to go on with: the Alertmanager's alerts resolved, without an event.
   */
  end?(server: string, held: unknown): void;
  /**
   * The server is still in the state `event` announces, for another cause: what the notifier keeps
   * open for it in its receiver (the Alertmanager's active alert) says the new cause from its next
   * re-post on. Nothing is sent for it: no new page for the same outage. Returns whether it kept
   * such an alert: one whose first event never reached the receiver has nothing to revise, and is
   * not to be recorded as told of the state either.
   */
  revise?(event: AlertEvent): boolean;
  /** Stops the notifier's own timers (the Alertmanager re-post); the dispatcher calls it at close. */
  close?(): void;
}

/**
 * Stable codes for why an attempt failed; they appear in logs, so receivers' operators can grep them.
 * - `http_status`: the receiver answered, but not 2xx.
 * - `network`: no answer (refused, reset, DNS).
 * - `timeout`: no answer within the notifier's `timeout`.
 * - `aborted`: the dispatcher was closed during the attempt.
 * - `invalid_request`: the request could not be built (e.g. a configured header that HTTP forbids).
 * - `write_failed`: the stdout stream refused the write.
 */
type DeliveryErrorCode = 'http_status' | 'network' | 'timeout' | 'aborted' | 'invalid_request' | 'write_failed';

export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(
    readonly code: DeliveryErrorCode,
    message: string,
    /** Whether a later attempt can be expected to succeed. */
    readonly retryable: boolean,
    readonly options: { status?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }

  get status(): number | undefined {
    return this.options.status;
  }

  /** What the receiver asked for in `Retry-After`, if it did. */
  get retryAfterMs(): number | undefined {
    return this.options.retryAfterMs;
  }
}
