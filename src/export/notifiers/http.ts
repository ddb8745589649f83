// The one HTTP POST the webhook, Slack and Alertmanager notifiers share, and the mapping from what a receiver
// answered to retryable / permanent, kept pure so it can be tested row by row.
import { parseRetryAfter, userinfoAsBasic } from '../../wire/http.js';
import { VERSION } from '../../wire/version.js';
import { redactText, secretMasker } from '../../pipeline/redact.js';
import { configuredSecrets } from '../../config/secrets.js';
import { DeliveryError, type Notifier, type RetryPolicy } from './types.js';

export const USER_AGENT = `mcpwatch/${VERSION}`;

export type FetchLike = typeof fetch;

/** Enough of a receiver's error body to explain it (Slack says `invalid_blocks`, `no_service`, …). */
const SNIPPET_BYTES = 512;
const SNIPPET_CHARS = 200;

/**
 * A non-2xx answer as an error. 5xx, 408 and 429 are the receiver saying "not now"; every other
 * status (4xx, and 3xx, which we never follow with a signed body) will not change by asking again.
 */
export function statusError(status: number, retryAfter: string | null, snippet: string, nowMs: number): DeliveryError {
  const retryable = status >= 500 || status === 408 || status === 429;
  const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(retryAfter, nowMs) : undefined;
  const message = `HTTP ${status}${snippet ? `: ${snippet}` : ''}`;
  return new DeliveryError('http_status', message, retryable, retryAfterMs === undefined ? { status } : { status, retryAfterMs });
}

/**
 * Why fetch threw, without the URL's secrets: a Slack webhook URL is a credential, and fetch quotes a
 * URL with userinfo in full ("Request cannot be constructed from a URL that includes credentials").
 */
function fetchError(err: unknown, signal: AbortSignal): DeliveryError {
  if (signal.aborted) {
    const reason: unknown = signal.reason;
    const timedOut = reason instanceof Error && reason.name === 'TimeoutError';
    return timedOut
      ? new DeliveryError('timeout', 'no answer before the delivery timeout', true, { cause: err })
      : new DeliveryError('aborted', 'delivery aborted', false, { cause: err });
  }
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  const detail = typeof cause?.code === 'string' ? cause.code : err instanceof Error ? err.message : String(err);
  return new DeliveryError('network', `network error: ${redactText(detail)}`, true, { cause: err });
}

interface PostOptions {
  url: string;
  body: string;
  headers: Headers;
  signal: AbortSignal;
  fetch: FetchLike;
  now: () => number;
}

/** One POST; resolves on 2xx, throws a `DeliveryError` otherwise. */
export async function postJson(opts: PostOptions): Promise<void> {
  let res: Response;
  const { url, authorization } = userinfoAsBasic(opts.url);
  // A configured Authorization header wins over the URL's userinfo.
  if (authorization && !opts.headers.has('authorization')) opts.headers.set('authorization', authorization);
  try {
    // Redirects are not followed: re-sending a signed alert to wherever a 3xx points is not ours to decide.
    res = await opts.fetch(url, { method: 'POST', body: opts.body, headers: opts.headers, signal: opts.signal, redirect: 'manual' });
  } catch (err) {
    throw fetchError(err, opts.signal);
  }
  // Always read (a little of) the body: an unread body pins the connection in undici's pool.
  const snippet = await readSnippet(res);
  if (res.status >= 200 && res.status < 300) return;
  // A receiver that refuses may quote what it was sent (a proxy echoing the Authorization header):
  // the error goes to the log and the delivery metrics' reader, the credentials must not.
  const sent = configuredSecrets({ headers: Object.fromEntries(opts.headers), url: opts.url });
  throw statusError(res.status, res.headers.get('retry-after'), secretMasker(sent)(snippet), opts.now());
}

async function readSnippet(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < SNIPPET_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body cut short says nothing more about the delivery than the status already did.
  } finally {
    reader.cancel().catch(() => undefined);
  }
  const text = Buffer.concat(chunks).toString('utf8').replace(/\s+/g, ' ').trim();
  return text.length > SNIPPET_CHARS ? `${text.slice(0, SNIPPET_CHARS)}…` : text;
}

/** `host[:port]` of a URL, for logs. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid-url';
  }
}

/** What every HTTP notifier shares: target, retry policy, timeout and the `events` filter. */
export function httpNotifierBase(
  kind: 'webhook' | 'slack' | 'alertmanager',
  url: string,
  cfg: { timeout: number; retry: RetryPolicy; events?: readonly string[] | undefined },
): Omit<Notifier, 'deliver'> {
  const events = cfg.events;
  return { kind, target: hostOf(url), retry: cfg.retry, timeout: cfg.timeout, accepts: (event) => !events || events.includes(event.event) };
}
