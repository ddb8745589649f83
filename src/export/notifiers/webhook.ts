// Generic webhook: the AlertEvent as JSON, optionally signed so the receiver can trust it.
//
// Signature scheme (the receiver's side is `verifySignature`):
//   X-Mcpwatch-Timestamp: <unix seconds when this attempt was sent>
//   X-Mcpwatch-Signature: sha256=<lowercase hex HMAC-SHA256(secret, "<timestamp>.<raw body bytes>")>
// The timestamp is inside the signed bytes, so a captured request cannot be replayed later with a
// fresh timestamp; a receiver rejects timestamps outside a small window (5 minutes by default).
// Each attempt is signed anew, so a retry after a long back-off is not rejected as stale. Receivers
// must verify the raw body bytes as received, before any JSON parsing or re-serialising.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { AlertEvent } from '../../pipeline/events.js';
import { httpNotifierBase, postJson, USER_AGENT, type FetchLike } from './http.js';
import { DeliveryError, type Notifier, type RetryPolicy } from './types.js';

const SIGNATURE_HEADER = 'x-mcpwatch-signature';
const TIMESTAMP_HEADER = 'x-mcpwatch-timestamp';
/** Same for every attempt of one event, so a receiver can drop the duplicate a timed-out attempt leaves. */
const DELIVERY_HEADER = 'x-mcpwatch-delivery';

interface WebhookSettings {
  url: string;
  secret?: string | undefined;
  headers: Record<string, string>;
  timeout: number;
  retry: RetryPolicy;
  events?: readonly string[] | undefined;
}

function signedBytes(timestamp: string, body: string | Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), typeof body === 'string' ? Buffer.from(body, 'utf8') : body]);
}

/** The `X-Mcpwatch-Signature` value for a body sent at `timestamp` (unix seconds). */
function signPayload(secret: string, timestamp: number | string, body: string | Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(signedBytes(String(timestamp), body)).digest('hex')}`;
}

interface VerifyOptions {
  /** Largest accepted distance between the timestamp and now, in seconds (default 300). */
  toleranceSeconds?: number;
  /** Now, in ms since the epoch (default `Date.now()`). */
  nowMs?: number;
}

/**
 * For receivers: whether `header` (X-Mcpwatch-Signature) is the signature of `body` (the raw bytes
 * received) at `timestamp` (X-Mcpwatch-Timestamp) with `secret`, and the timestamp is recent.
 * The comparison is constant-time, so the response time leaks nothing about the expected value.
 */
export function verifySignature(
  secret: string,
  timestamp: string | number | undefined,
  body: string | Uint8Array,
  header: string | undefined,
  options: VerifyOptions = {},
): boolean {
  if (timestamp === undefined || header === undefined) return false;
  const ts = String(timestamp);
  if (!/^\d{1,12}$/.test(ts)) return false;
  const tolerance = options.toleranceSeconds ?? 300;
  const nowSeconds = (options.nowMs ?? Date.now()) / 1000;
  if (Math.abs(nowSeconds - Number(ts)) > tolerance) return false;
  const match = /^sha256=([0-9a-f]{64})$/i.exec(header.trim());
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(signedBytes(ts, body)).digest();
  return timingSafeEqual(expected, Buffer.from(match[1]!, 'hex'));
}

export function createWebhookNotifier(cfg: WebhookSettings, deps: { fetch: FetchLike; now: () => number }): Notifier {
  return {
    ...httpNotifierBase('webhook', cfg.url, cfg),
    async deliver(event: AlertEvent, signal: AbortSignal) {
      const body = JSON.stringify(event);
      const headers = new Headers();
      try {
        headers.set('user-agent', USER_AGENT);
        for (const [name, value] of Object.entries(cfg.headers)) headers.set(name, value);
        // Set after the configured headers: these describe and authenticate the body and must not be overridden.
        headers.set('content-type', 'application/json');
        headers.set(DELIVERY_HEADER, createHash('sha256').update(body).digest('hex').slice(0, 32));
        if (cfg.secret !== undefined) {
          const ts = Math.floor(deps.now() / 1000);
          headers.set(TIMESTAMP_HEADER, String(ts));
          headers.set(SIGNATURE_HEADER, signPayload(cfg.secret, ts, body));
        }
      } catch (err) {
        throw new DeliveryError('invalid_request', `invalid webhook header: ${err instanceof Error ? err.message : String(err)}`, false, { cause: err });
      }
      await postJson({ url: cfg.url, body, headers, signal, fetch: deps.fetch, now: deps.now });
    },
  };
}
