// pipeline/hints.ts adds advice to a failed probe's message where the failure says more than its
// type: a Streamable HTTP probe of a URL ending in /sse is almost always a legacy HTTP+SSE server,
// and a bare "HTTP 404" told the user nothing about the fix; a legacy SSE probe of a Streamable HTTP
// endpoint is refused on its opening GET; a legacy SSE server's message endpoint refuses a POST
// without the session its stream would have named.
import { urlTransport, type ServerConfig } from '../config/schema.js';

export const SSE_ADVICE = 'a legacy HTTP+SSE server? set transport: sse (with --url: --transport sse)';

export const STREAMABLE_ADVICE = 'a Streamable HTTP server answers a GET without a session so: set transport: streamable_http (with --url: --transport streamable_http)';

export const MESSAGES_ADVICE = "a legacy HTTP+SSE server's message endpoint? probe its event stream's URL, often …/sse, with transport: sse (with --url: --transport sse)";

function urlPath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '';
  }
}

export function transportHint(server: Pick<ServerConfig, 'transport' | 'url'>, error: { type: string; message: string } | null): string | undefined {
  // The other way round: a legacy SSE probe opens with a GET, which Streamable HTTP servers refuse
  // without a session (400 from a stateful SDK or FastMCP server, 405 from a stateless one). Said as
  // a bare "HTTP 400 on GET: … No valid session ID provided", it pointed at sessions, not the transport.
  if (error && server.transport === 'sse' && error.type === 'http_status' && /^HTTP (400|405|406) on GET\b/.test(error.message) && !error.message.includes(STREAMABLE_ADVICE)) {
    return ` (${STREAMABLE_ADVICE})`;
  }
  if (!error || server.transport !== 'streamable_http' || !server.url || error.message.includes(SSE_ADVICE) || error.message.includes(MESSAGES_ADVICE)) return undefined;
  // A legacy SSE server's other URL, where its clients POST once its stream named it: the Python
  // SDK and FastMCP answer a POST without their `session_id` query with 400 "session_id is required".
  if (error.type === 'http_status' && (/\/messages?\/?$/.test(urlPath(server.url)) || /^HTTP 400 on POST\b.*\bsession_id is required/i.test(error.message))) {
    return ` (${MESSAGES_ADVICE})`;
  }
  if (urlTransport(server.url) !== 'sse') return undefined;
  if (!['not_found', 'http_status', 'invalid_response', 'timeout', 'protocol_error'].includes(error.type)) return undefined;
  return ` (the URL ends in /sse: ${SSE_ADVICE})`;
}
