// pipeline/hints.ts adds advice to a failed probe's message where the failure says more than its
// type: a Streamable HTTP probe of a URL ending in /sse is almost always a legacy HTTP+SSE server,
// and a bare "HTTP 404" told the user nothing about the fix.
import type { ServerConfig } from '../config/schema.js';

export const SSE_ADVICE = 'a legacy HTTP+SSE server? set transport: sse (with --url: --transport sse)';

export function transportHint(server: Pick<ServerConfig, 'transport' | 'url'>, error: { type: string; message: string } | null): string | undefined {
  if (!error || server.transport !== 'streamable_http' || !server.url || error.message.includes(SSE_ADVICE)) return undefined;
  let path = '';
  try {
    path = new URL(server.url).pathname;
  } catch {
    return undefined;
  }
  if (!/\/sse\/?$/i.test(path)) return undefined;
  if (!['not_found', 'http_status', 'invalid_response', 'timeout', 'protocol_error'].includes(error.type)) return undefined;
  return ` (the URL ends in /sse: ${SSE_ADVICE})`;
}
