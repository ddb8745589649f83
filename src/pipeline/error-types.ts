// pipeline/ owns what is derived from raw observations: the error catalogue shared by probes and
// traffic, state machines, schema drift and span→metric mapping. It never does I/O.

/** Whether retrying the same operation later can be expected to succeed. */
export type ErrorCategory = 'transient' | 'permanent';

interface ErrorTypeInfo {
  category: ErrorCategory;
  /** Which stream can report it: synthetic probes, real traffic, or both. */
  source: 'probe' | 'traffic' | 'both';
  description: string;
}

/**
 * The one catalogue of `error.type` values. docs/errors.md renders this table and a test holds the
 * two together, so a new type cannot ship undocumented.
 */
export const ERROR_TYPES = {
  spawn_failed: { category: 'permanent', source: 'probe', description: 'The stdio command could not be started (not found, not executable, bad cwd).' },
  process_exited: { category: 'transient', source: 'probe', description: 'The stdio server process exited or was killed (exit code or signal, and the stderr tail, else the non-JSON stdout lines, in the message).' },
  connection_refused: { category: 'transient', source: 'probe', description: 'Nothing listens at the URL, or the connection was reset.' },
  dns: { category: 'transient', source: 'probe', description: 'The host name did not resolve.' },
  tls: { category: 'permanent', source: 'probe', description: 'TLS handshake failed: untrusted, expired or mismatched certificate; or a TLS file of the server\'s `tls:` settings could not be read when the probe connected (no connection is made; one unreadable when the configuration is loaded is a `config_error`).' },
  timeout: { category: 'transient', source: 'both', description: 'No answer before the deadline; the phase that was waiting is named.' },
  http_status: { category: 'transient', source: 'probe', description: 'An HTTP status that is not otherwise classified (5xx, unexpected 4xx).' },
  config_error: { category: 'permanent', source: 'probe', description: 'The server\'s configuration cannot be used (an unset `${env:VAR}`, named with its key and line in the message): it is reported, not probed (`run` logs it at start and marks the server down at its first check); the other servers are.' },
  not_found: { category: 'permanent', source: 'probe', description: 'HTTP 404 on the configured URL (outside a session): nothing is served at that path; fix the URL.' },
  auth_required: { category: 'permanent', source: 'probe', description: 'HTTP 401 and no `auth:` configured for the server (WWW-Authenticate resource metadata in the message).' },
  auth_failed: { category: 'permanent', source: 'probe', description: 'The configured credential was refused: the authorization server answered the token request with an OAuth error (`invalid_client`, `invalid_scope`…, with its `error_description`), or the server answered 401 to a freshly obtained token or to the configured bearer token.' },
  auth_unavailable: { category: 'transient', source: 'probe', description: 'No token could be obtained: the token endpoint (or its discovery) was unreachable, timed out, or did not answer as OAuth; or a token_file could not be read.' },
  forbidden: { category: 'permanent', source: 'probe', description: 'HTTP 403: authenticated but not allowed (e.g. insufficient_scope, with the scope the server asks for in the message).' },
  session_expired: { category: 'transient', source: 'probe', description: 'The server no longer knows the MCP session (404, or 400 "no valid session", or a JSON-RPC error saying so over HTTP 200).' },
  invalid_response: { category: 'permanent', source: 'probe', description: 'Not MCP: HTML, non-JSON, invalid JSON-RPC, or broken pagination.' },
  protocol_error: { category: 'permanent', source: 'both', description: 'The server answered with a JSON-RPC error.' },
  unsupported_protocol_version: { category: 'permanent', source: 'both', description: 'Client and server share no MCP protocol version: JSON-RPC -32022 (2026-07-28), a 2025 server\'s -32602 with `data.supported`, or a pinned `protocol` the server does not speak. The versions the server offers are in the message.' },
  invalid_params: { category: 'permanent', source: 'both', description: 'The tool or prompt rejected its arguments: JSON-RPC -32602 in traffic; for a check, its `arguments` do not match the tool\'s inputSchema (or the prompt\'s arguments), as its server said in a JSON-RPC -32602 or in an `isError` result in the MCP SDKs\' words (`Input validation error: …`; FastMCP\'s `… validation error for addArguments`), quoted, bounded, in the message. The tool did not run: the fix is in the check.' },
  method_not_found: { category: 'permanent', source: 'traffic', description: 'JSON-RPC -32601: unknown method or unknown tool.' },
  internal_error: { category: 'transient', source: 'traffic', description: 'JSON-RPC -32603: the server failed while handling the call.' },
  connection_closed: { category: 'transient', source: 'traffic', description: 'JSON-RPC -32000: the connection closed before the answer.' },
  tool_error: { category: 'permanent', source: 'both', description: 'The tool ran and returned `isError: true` (a check: its text, bounded, in the message), or failed without a more specific type.' },
  tool_not_found: { category: 'permanent', source: 'probe', description: 'A check names a tool the server does not list in tools/list, or (MCP 2026-07-28, Streamable HTTP) one it lists with an invalid `x-mcp-header` declaration, which every Streamable HTTP client must leave out of its tools list (the tool is not called).' },
  schema_violation: { category: 'permanent', source: 'probe', description: 'A check\'s tool returned `structuredContent` that does not match its `outputSchema` (or none although it declares one).' },
  assertion_failed: { category: 'permanent', source: 'probe', description: 'A check\'s result did not meet its `expect`: which expectation, expected vs got (bounded), in the message.' },
  side_effects_refused: { category: 'permanent', source: 'probe', description: 'Not a server failure: a check names a tool without `annotations.readOnlyHint: true` and no `allow_side_effects: true`, so mcpwatch never calls it.' },
  _other: { category: 'transient', source: 'traffic', description: 'Any other `error.type` value seen in traffic (bounded cardinality).' },
} as const satisfies Record<string, ErrorTypeInfo>;

export type ErrorType = keyof typeof ERROR_TYPES;

export function errorCategory(type: ErrorType): ErrorCategory {
  return ERROR_TYPES[type].category;
}

export function isErrorType(value: string): value is ErrorType {
  return Object.prototype.hasOwnProperty.call(ERROR_TYPES, value);
}
