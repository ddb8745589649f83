// wire/ owns what mcpwatch's clients and servers share on the wire, written once: OTLP signal and
// content types and gRPC paths (otlp.ts), reading bodies within a byte cap and Retry-After (this
// file), TLS settings as connection options (tls.ts) and mcpwatch's version (version.ts). It holds
// facts and small mechanisms only: no policy (what to retry, what status to answer), no metrics, no
// logging, and it imports nothing from mcpwatch's other folders.
import { Readable } from 'node:stream';

/**
 * `Retry-After` as delta-seconds or an HTTP date, in milliseconds from `nowMs`; undefined when absent
 * or unreadable, so a malformed header falls back to the caller's own back-off instead of failing.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** A body longer than the cap a reader was given; `declared` when the Content-Length said so up front. */
export class BodyTooLargeError extends Error {
  override name = 'BodyTooLargeError';
  constructor(
    readonly max: number,
    readonly declared?: number,
  ) {
    super(declared === undefined ? `body exceeds ${max} bytes` : `body of ${declared} bytes exceeds ${max} bytes`);
  }
}

/**
 * Whether a declared Content-Length is already over `max`, so a reader can refuse without reading.
 * An absent or unreadable header is not: the count while reading decides.
 */
export function declaredOver(contentLength: string | string[] | null | undefined, max: number): number | undefined {
  const declared = Number(Array.isArray(contentLength) ? contentLength[0] : contentLength ?? undefined);
  return Number.isFinite(declared) && declared > max ? declared : undefined;
}

/**
 * The first `max` bytes of a body; the rest is read and discarded, never held, so the connection
 * is free for reuse (for answers whose start is all that matters, e.g. a partial_success). With
 * `rest: 'cut'` the rest is not read at all: the stream is destroyed once `max` bytes are in (an
 * error page quoted in a log, whose connection is not worth waiting for).
 */
export async function readCapped(body: AsyncIterable<Uint8Array>, max: number, rest: 'drain' | 'cut' = 'drain'): Promise<Buffer> {
  return (await collect(body, max, rest === 'cut' ? 'head' : 'truncate')).body;
}

/**
 * A whole body of at most `max` bytes, or BodyTooLargeError. `onOver` says what happens to the rest:
 * `stop` ends reading at once (a Node stream is destroyed: a client reading an answer), `drain` reads
 * it to the end without holding it (a server that must still answer the request). Errors of the
 * source (a connection cut mid-body) are thrown as they are.
 */
export async function readLimited(body: AsyncIterable<Uint8Array>, max: number, onOver: 'stop' | 'drain'): Promise<Buffer> {
  const read = await collect(body, max, onOver);
  if (read.over) throw new BodyTooLargeError(max);
  return read.body;
}

/**
 * One reader for every mode. Node streams (IncomingMessage, undici's body) are read with 'data'
 * events, not async iteration, which cost the OTLP/HTTP receiver measurably more CPU per request.
 */
function collect(body: AsyncIterable<Uint8Array>, max: number, onOver: 'truncate' | 'head' | 'stop' | 'drain'): Promise<{ body: Buffer; over: boolean }> {
  const source = body instanceof Readable ? body : Readable.from(body, { objectMode: false });
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    let settled = false;
    const settle = (err?: Error | null): void => {
      if (settled) return;
      settled = true;
      source.off('data', onData);
      if (err) reject(err);
      else resolve({ body: Buffer.concat(chunks, size), over });
    };
    const onData = (chunk: Uint8Array): void => {
      if (over) return;
      const room = max - size;
      if (chunk.length <= room) {
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        size += chunk.length;
        return;
      }
      over = true;
      if (onOver === 'truncate' || onOver === 'head') {
        chunks.push(Buffer.from(chunk.subarray(0, room)));
        size = max;
        if (onOver === 'head') {
          settle();
          source.destroy();
        }
      } else {
        chunks.length = 0;
        size = 0;
        if (onOver === 'stop') {
          settle();
          source.destroy();
        }
      }
    };
    source.on('data', onData);
    source.once('end', () => settle());
    source.once('error', settle);
    // A connection cut mid-body can end in 'close' alone: that is a failure, never a short body.
    source.once('close', () => settle(source.readableEnded ? null : Object.assign(new Error('the body was cut off'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
  });
}

/**
 * A URL's `user:password@` as the Basic authorization curl would send, and the URL without it: fetch
 * refuses a URL with credentials, so a webhook or legacy SSE server configured that way failed every request.
 */
/**
 * Userinfo as its owner meant it: percent-encoding undone where it is valid, a `%` that starts no
 * escape (a password with `%zz` in it) kept as written, as curl sends it, instead of a URIError
 * that stopped the agent at start without naming the setting.
 */
function percentDecoded(text: string): string {
  return text.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

export function userinfoAsBasic(url: string): { url: string; authorization?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url };
  }
  if (!u.username && !u.password) return { url };
  const credentials = `${percentDecoded(u.username)}:${percentDecoded(u.password)}`;
  u.username = '';
  u.password = '';
  return { url: u.toString(), authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}
