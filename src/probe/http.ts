import { readConfiguredFile } from '../config/files.js';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ServerConfig, TlsConfig } from '../config/schema.js';
import type { HttpObservation, TransportDiagnostics } from './prober.js';

const agents = new Map<string, Dispatcher>();

/**
 * One connection pool per distinct TLS setting, shared by every server that uses it: a fleet of 300
 * HTTP servers should not hold 300 pools.
 */
export function dispatcherFor(tls: TlsConfig | undefined): Dispatcher {
  const key = JSON.stringify(tls ?? {});
  let agent = agents.get(key);
  if (!agent) {
    agent = new Agent({
      keepAliveTimeout: 30_000,
      connect: tls
        ? {
            ca: readPem('tls.ca_file', tls.ca_file),
            cert: readPem('tls.cert_file', tls.cert_file),
            key: readPem('tls.key_file', tls.key_file),
            rejectUnauthorized: !tls.insecure_skip_verify,
          }
        : undefined,
    });
    agents.set(key, agent);
  }
  return agent;
}

/** A TLS file named in the configuration that cannot be read: the probe reports it as a `tls` failure. */
export class TlsFileError extends Error {
  readonly code = 'ERR_TLS_CONFIG';
  override name = 'TlsFileError';
}

function readPem(setting: string, file: string | undefined): Buffer | undefined {
  if (!file) return undefined;
  try {
    return readConfiguredFile(setting, file);
  } catch (err) {
    throw new TlsFileError((err as Error).message);
  }
}

export interface ObservingFetchOptions {
  /**
   * Answer the Streamable HTTP standalone GET stream with 405 locally, so a probe does not hold a
   * long-lived stream it will never read. The spec lets a server refuse it the same way.
   */
  skipStandaloneStream?: boolean;
  /**
   * Told about every chunk of a server-sent event stream and about its end. The SDK never reports a
   * dropped stream (the legacy EventSource retries silently; the standalone GET gives up without
   * onclose), and SSE keep-alive comments never reach it as events: this is how the agent notices a
   * dead server between probes and a silent, stale one.
   */
  onStream?: (what: 'data' | 'end') => void;
}

/**
 * The fetch given to the SDK's HTTP transports. It applies TLS settings and records the last
 * unsuccessful response with the headers the SDK does not expose (`WWW-Authenticate`), so a failure
 * can be classified from what the server actually said.
 */
export function observingFetch(server: Pick<ServerConfig, 'tls' | 'url'>, diag: TransportDiagnostics, opts: ObservingFetchOptions = {}): FetchLike {
  const dispatcher = dispatcherFor(server.tls);
  const fetchImpl = async (url: string | URL, init?: RequestInit): Promise<Response> => {
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers = new Headers(init?.headers);
    if (opts.skipStandaloneStream && method === 'GET' && String(url) === server.url && headers.get('accept')?.includes('text/event-stream')) {
      return new Response(null, { status: 405, statusText: 'standalone stream not used by this probe' });
    }
    // undici's own fetch takes a dispatcher; its Request/Response types are structurally the web ones.
    let res: Response;
    try {
      res = (await undiciFetch(url, { ...(init as object), dispatcher } as Parameters<typeof undiciFetch>[1])) as unknown as Response;
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      if (cause && (err as Error).name !== 'AbortError') diag.networkError = { code: cause.code, message: cause.message ?? String(err) };
      throw err;
    }
    const contentType = res.headers.get('content-type');
    const isEventStreamGet = method === 'GET';
    const unexpectedType = res.ok && res.status !== 202 && contentType !== null && !/json|event-stream/i.test(contentType);
    if (!res.ok || unexpectedType || (isEventStreamGet && res.ok && !/event-stream/i.test(contentType ?? ''))) {
      diag.lastHttp = await observe(res, method, headers.has('mcp-session-id'));
    }
    if (opts.onStream && isEventStreamGet && res.ok && res.body && /event-stream/i.test(contentType ?? '')) {
      return watchStream(res, opts.onStream);
    }
    return res;
  };
  return fetchImpl;
}

async function observe(res: Response, method: string, withSession: boolean): Promise<HttpObservation> {
  let bodySnippet = '';
  try {
    // Bounded: an error body that never ends must not hold the probe past its deadline.
    const text = res.clone().text();
    const giveUp = new Promise<string>((resolve) => setTimeout(resolve, 500, '').unref());
    bodySnippet = (await Promise.race([text, giveUp])).slice(0, 300);
  } catch {
    // A body that cannot be read twice is not needed for the diagnosis.
  }
  return {
    method,
    status: res.status,
    contentType: res.headers.get('content-type'),
    wwwAuthenticate: res.headers.get('www-authenticate'),
    withSession,
    bodySnippet,
  };
}

function watchStream(res: Response, onStream: (what: 'data' | 'end') => void): Response {
  const reader = res.body!.getReader();
  let ended = false;
  const end = (): void => {
    if (!ended) {
      ended = true;
      onStream('end');
    }
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          end();
          controller.close();
        } else {
          onStream('data');
          controller.enqueue(value);
        }
      } catch (err) {
        end();
        controller.error(err);
      }
    },
    cancel(reason) {
      end();
      return reader.cancel(reason);
    },
  });
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}
