import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError, SdkError, SdkErrorCode } from '@modelcontextprotocol/client';
import { httpStatusError } from '../../src/probe/http.js';
import { classify, failureShape, InvalidResponse, ProbeTimeout, rawFromError, rejectsArguments, type RawFailure } from '../../src/probe/classify.js';
import type { Phase, TransportDiagnostics } from '../../src/probe/prober.js';
import { AuthFailure } from '../../src/probe/auth.js';

const http = (status: number, extra: Partial<Extract<RawFailure, { kind: 'http' }>> = {}): RawFailure => ({
  kind: 'http',
  status,
  method: 'POST',
  withSession: false,
  wwwAuthenticate: null,
  contentType: null,
  body: '',
  ...extra,
});

// One row per rule of the table: raw outcome, phase → error.type and message.
const rows: Array<[string, RawFailure, Phase, string, string]> = [
  ['spawn ENOENT', { kind: 'spawn', code: 'ENOENT', message: 'spawn x ENOENT', command: 'x' }, 'spawn', 'spawn_failed', 'cannot start "x": command not found (ENOENT)'],
  ['spawn EACCES', { kind: 'spawn', code: 'EACCES', message: 'spawn ./s EACCES', command: './s' }, 'spawn', 'spawn_failed', 'cannot start "./s": spawn ./s EACCES'],
  ['exit code', { kind: 'exited', code: 3, signal: null, stderrTail: ['loading', 'boom: missing DATABASE_URL'] }, 'initialize', 'process_exited', 'exited with code 3: boom: missing DATABASE_URL'],
  ['exit picks the telling line', { kind: 'exited', code: 1, signal: null, stderrTail: ['Error: cannot find module x', 'at foo (bar.js:1)'] }, 'initialize', 'process_exited', 'exited with code 1: Error: cannot find module x'],
  ['signal', { kind: 'exited', code: null, signal: 'SIGKILL', stderrTail: [] }, 'tools/list', 'process_exited', 'killed by SIGKILL (no stderr output)'],
  ['exit said on stdout', { kind: 'exited', code: 1, signal: null, stderrTail: [], stdoutTail: ['Starting', 'Error: GITHUB_TOKEN is not set'] }, 'initialize', 'process_exited', 'exited with code 1: Error: GITHUB_TOKEN is not set (on stdout, not as JSON-RPC; nothing on stderr)'],
  ['stderr wins over stdout', { kind: 'exited', code: 1, signal: null, stderrTail: ['fatal: no db'], stdoutTail: ['hello'] }, 'initialize', 'process_exited', 'exited with code 1: fatal: no db'],
  ['an error on stdout wins over a banner on stderr', { kind: 'exited', code: 1, signal: null, stderrTail: ['Server starting'], stdoutTail: ['Error: GITHUB_TOKEN is not set'] }, 'initialize', 'process_exited', 'exited with code 1: Error: GITHUB_TOKEN is not set (on stdout, not as JSON-RPC; last on stderr: "Server starting")'],
  ['a banner on both', { kind: 'exited', code: 1, signal: null, stderrTail: ['Server starting'], stdoutTail: ['hello'] }, 'initialize', 'process_exited', 'exited with code 1 (last on stderr: "Server starting")'],
  ['refused', { kind: 'network', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:1' }, 'initialize', 'connection_refused', 'connection refused (ECONNREFUSED): connect ECONNREFUSED 127.0.0.1:1'],
  ['reset', { kind: 'network', code: 'ECONNRESET', message: 'socket hang up' }, 'initialize', 'connection_refused', 'connection refused (ECONNRESET): socket hang up'],
  ['dns', { kind: 'network', code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND x' }, 'initialize', 'dns', 'DNS lookup failed (ENOTFOUND): getaddrinfo ENOTFOUND x'],
  ['dns again', { kind: 'network', code: 'EAI_AGAIN', message: 'getaddrinfo EAI_AGAIN x' }, 'connect', 'dns', 'DNS lookup failed (EAI_AGAIN): getaddrinfo EAI_AGAIN x'],
  ['self-signed', { kind: 'network', code: 'DEPTH_ZERO_SELF_SIGNED_CERT', message: 'self-signed certificate' }, 'initialize', 'tls', 'TLS handshake failed (DEPTH_ZERO_SELF_SIGNED_CERT): self-signed certificate'],
  ['expired', { kind: 'network', code: 'CERT_HAS_EXPIRED', message: 'certificate has expired' }, 'initialize', 'tls', 'TLS handshake failed (CERT_HAS_EXPIRED): certificate has expired'],
  ['altname', { kind: 'network', code: 'ERR_TLS_CERT_ALTNAME_INVALID', message: 'Hostname/IP does not match' }, 'initialize', 'tls', 'TLS handshake failed (ERR_TLS_CERT_ALTNAME_INVALID): Hostname/IP does not match'],
  ['connect timeout', { kind: 'network', code: 'UND_ERR_CONNECT_TIMEOUT', message: 'Connect Timeout Error' }, 'initialize', 'timeout', 'connect timeout (UND_ERR_CONNECT_TIMEOUT): Connect Timeout Error'],
  ['deadline', { kind: 'timeout', ms: 5000 }, 'initialize', 'timeout', 'timeout after 5000ms waiting for initialize'],
  ['401 with metadata', http(401, { wwwAuthenticate: 'Bearer resource_metadata="https://x/.well-known/oauth-protected-resource"' }), 'initialize', 'auth_required', 'HTTP 401, auth required (resource metadata: https://x/.well-known/oauth-protected-resource)'],
  ['401 bare', http(401), 'initialize', 'auth_required', 'HTTP 401, auth required'],
  ['401 after a gateway\'s challenge, spaced', http(401, { wwwAuthenticate: 'Basic realm="gw", Bearer resource_metadata = "https://x/prm", error = invalid_token' }), 'initialize', 'auth_required', 'HTTP 401, auth required (resource metadata: https://x/prm)'],
  ['403 scope', http(403, { wwwAuthenticate: 'Bearer error="insufficient_scope"' }), 'initialize', 'forbidden', 'HTTP 403, forbidden, insufficient_scope'],
  ['403 naming the scope', http(403, { wwwAuthenticate: 'Bearer error="insufficient_scope", scope="mcp:tools mcp:write", resource_metadata="https://x/.well-known/oauth-protected-resource"' }), 'tools/list', 'forbidden', 'HTTP 403, forbidden, insufficient_scope (the server requires scope "mcp:tools mcp:write")'],
  ['401 to a credential', http(401, { withCredential: true, wwwAuthenticate: 'Bearer error="invalid_token", error_description="audience mismatch", resource_metadata="https://x/m"' }), 'initialize', 'auth_failed', 'HTTP 401 (invalid_token: audience mismatch): the server rejected the credential mcpwatch presented (a token just obtained, or the configured bearer token)'],
  ['401 to a credential, bare', http(401, { withCredential: true }), 'tools/list', 'auth_failed', 'HTTP 401: the server rejected the credential mcpwatch presented (a token just obtained, or the configured bearer token)'],
  ['403 naming the scope only in its description (the Python SDK)', http(403, { wwwAuthenticate: 'Bearer error="insufficient_scope", error_description="Required scope: mcp:tools", resource_metadata="https://x/m"' }), 'initialize', 'forbidden', 'HTTP 403, forbidden, insufficient_scope (the server says "Required scope: mcp:tools")'],
  ['401 to a credential, naming a scope (FastMCP)', http(401, { withCredential: true, wwwAuthenticate: 'Bearer error="invalid_token", error_description="Authentication failed.", scope="mcp:tools", resource_metadata="https://x/m"' }), 'initialize', 'auth_failed', 'HTTP 401 (invalid_token: Authentication failed.): the server rejected the credential mcpwatch presented (a token just obtained, or the configured bearer token); its challenge names scope "mcp:tools"'],
  ['token refused', { kind: 'auth', type: 'auth_failed', message: 'the authorization server refused the token request: invalid_client — client authentication failed' }, 'token', 'auth_failed', 'the authorization server refused the token request: invalid_client — client authentication failed'],
  ['token endpoint down', { kind: 'auth', type: 'auth_unavailable', message: 'token endpoint https://as.example/token unreachable: ECONNREFUSED' }, 'token', 'auth_unavailable', 'token endpoint https://as.example/token unreachable: ECONNREFUSED'],
  ['404 session', http(404, { withSession: true }), 'tools/list', 'session_expired', 'HTTP 404 for the MCP session: the server no longer knows it'],
  ['400 session', http(400, { withSession: true, body: 'No valid session ID provided' }), 'tools/list', 'session_expired', 'HTTP 400 for the MCP session: the server no longer knows it (No valid session ID provided)'],
  ['404 without session', http(404, { body: 'Not Found' }), 'initialize', 'not_found', 'HTTP 404 on POST: nothing is served at the configured URL (check its path): Not Found'],
  ['404 answering the request', http(404, { contentType: 'application/json', body: '{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found"}}' }), 'resources/read', 'protocol_error', 'JSON-RPC error -32601 in resources/read (HTTP 404): Method not found'],
  ['429 answering the request', http(429, { contentType: 'application/json', body: '{"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"slow down"}}' }), 'tools/list', 'http_status', 'HTTP 429 on POST: {"jsonrpc":"2.0","id":3,"error":{"code":-32000,"message":"slow down"}}'],
  ['405 on POST', http(405), 'initialize', 'http_status', 'HTTP 405 on POST (a legacy HTTP+SSE server? set transport: sse (with --url: --transport sse))'],
  ['301 on POST', http(301, { location: 'https://mcp.example/mcp' }), 'initialize', 'http_status', 'HTTP 301 on POST (redirect to https://mcp.example/mcp; mcpwatch follows a redirect only within the same origin and with the same method, as the MCP SDK does: configure that URL)'],
  ['500', http(502, { body: 'Bad Gateway' }), 'initialize', 'http_status', 'HTTP 502 on POST: Bad Gateway'],
  ['200 html', http(200, { contentType: 'text/html', body: '<html>\n<body>hi</body></html>' }), 'initialize', 'invalid_response', 'HTTP 200 with content-type text/html, not MCP: text/html, 29 bytes, "hi"'],
  ['rpc error', { kind: 'rpc', code: -32603, message: 'boom' }, 'tools/list', 'protocol_error', 'JSON-RPC error -32603 in tools/list: boom'],
  ['rpc method not found', { kind: 'rpc', code: -32601, message: 'Method not found' }, 'tools/list', 'protocol_error', 'JSON-RPC error -32601 in tools/list: Method not found'],
  ['rpc session not found on a session (HTTP 200)', { kind: 'rpc', code: -32001, message: 'Session not found', withSession: true }, 'tools/list', 'session_expired', 'JSON-RPC error -32001 for the MCP session (HTTP 200): the server no longer knows it (Session not found)'],
  ['rpc no valid session on a session', { kind: 'rpc', code: -32000, message: 'Bad Request: No valid session ID provided', withSession: true }, 'tools/list', 'session_expired', 'JSON-RPC error -32000 for the MCP session (HTTP 200): the server no longer knows it (Bad Request: No valid session ID provided)'],
  ['a check\'s arguments refused (-32602 Invalid params)', { kind: 'rpc', code: -32602, message: 'Invalid params: "id" must be a string' }, 'tools/call', 'invalid_params', 'the check\'s arguments do not match the tool\'s inputSchema; the server answered JSON-RPC error -32602 "Invalid params: "id" must be a string"'],
  ['a check\'s arguments refused (-32602 in the SDKs\' words)', { kind: 'rpc', code: -32602, message: "Input validation error: 'id' is a required property" }, 'tools/call', 'invalid_params', 'the check\'s arguments do not match the tool\'s inputSchema; the server answered JSON-RPC error -32602 "Input validation error: \'id\' is a required property"'],
  ['a prompt\'s arguments refused', { kind: 'rpc', code: -32602, message: 'Invalid arguments for prompt greet: name: Required' }, 'prompts/get', 'invalid_params', 'the check\'s arguments do not match the arguments the prompt declares; the server answered JSON-RPC error -32602 "Invalid arguments for prompt greet: name: Required"'],
  ['-32602 for a tool the server no longer knows', { kind: 'rpc', code: -32602, message: 'Unknown tool: lookup' }, 'tools/call', 'protocol_error', 'JSON-RPC error -32602 in tools/call: Unknown tool: lookup'],
  ['-32602 for the server\'s own output', { kind: 'rpc', code: -32602, message: 'Output validation error: Invalid structured content for tool report: n: Invalid input' }, 'tools/call', 'protocol_error', 'JSON-RPC error -32602 in tools/call: Output validation error: Invalid structured content for tool report: n: Invalid input'],
  ['-32602 "Invalid params" outside a call (a resource read names no arguments)', { kind: 'rpc', code: -32602, message: 'Invalid params' }, 'resources/read', 'protocol_error', 'JSON-RPC error -32602 in resources/read: Invalid params'],
  ['a tool\'s own error about a session of its own, on an MCP session', { kind: 'rpc', code: -32602, message: 'Browser session not found: abc', withSession: true }, 'tools/call', 'protocol_error', 'JSON-RPC error -32602 in tools/call: Browser session not found: abc'],
  ['rpc about sessions without one', { kind: 'rpc', code: -32603, message: 'session not found' }, 'tools/list', 'protocol_error', 'JSON-RPC error -32603 in tools/list: session not found'],
  ['rpc on a session, about something else', { kind: 'rpc', code: -32603, message: 'database session pool exhausted', withSession: true }, 'tools/list', 'protocol_error', 'JSON-RPC error -32603 in tools/list: database session pool exhausted'],
  ['rpc version refused', { kind: 'rpc', code: -32602, message: 'Unsupported protocol version', data: { supported: ['2024-11-05'] } }, 'initialize', 'unsupported_protocol_version', 'server refused protocol version 2025-11-25; it supports ["2024-11-05"]'],
  ['rpc version refused by a 2026-07-28-only server', { kind: 'rpc', code: -32602, message: 'Unsupported protocol version', data: { supported: ['2026-07-28'], requested: '2025-06-18' } }, 'initialize', 'unsupported_protocol_version', 'server refused protocol version 2025-06-18; it supports ["2026-07-28"]: a server of the 2026-07-28 era only; use protocol: auto or modern'],
  ['rpc version refused by a server of later revisions only', { kind: 'rpc', code: -32602, message: 'Unsupported protocol version', data: { supported: ['2099-01-01'] } }, 'initialize', 'unsupported_protocol_version', 'server refused protocol version 2025-11-25; it supports ["2099-01-01"]'],
  ['rpc -32602 without list', { kind: 'rpc', code: -32602, message: 'Invalid params' }, 'initialize', 'protocol_error', 'JSON-RPC error -32602 in initialize: Invalid params'],
  ['sdk timeout', { kind: 'rpc', code: -32001, message: 'Request timed out' }, 'tools/list', 'timeout', 'timeout waiting for tools/list'],
  ['version answered', { kind: 'unsupported_version', version: '1999-01-01' }, 'initialize', 'unsupported_protocol_version', 'server answered protocol version "1999-01-01", which mcpwatch does not speak (latest 2025-11-25)'],
  ['invalid', { kind: 'invalid', message: 'stdout is not JSON-RPC: "x"' }, 'initialize', 'invalid_response', 'stdout is not JSON-RPC: "x"'],
  ['closed', { kind: 'closed', message: 'Connection closed' }, 'initialize', 'connection_refused', 'connection closed by the server during initialize: Connection closed'],
];

describe('classify (table)', () => {
  for (const [name, raw, phase, type, message] of rows) {
    it(name, () => {
      assert.deepEqual(classify(raw, phase), { type, message });
    });
  }
});

// A check's isError text: the servers' words for arguments refused before the tool ran, and look-alikes
// that are the tool's own failure.
const isErrorTexts: Array<[string, string, boolean]> = [
  ['TypeScript SDK 1.x', 'MCP error -32602: Input validation error: Invalid arguments for tool echo: [{"code":"invalid_type"}]', true],
  ['TypeScript SDK 2.x', 'Input validation error: Invalid arguments for tool lookup: id: Required', true],
  ['Python SDK low-level server', "Input validation error: 'id' is a required property", true],
  ['Python SDK FastMCP', "Error executing tool add: 1 validation error for addArguments\nb\n  Field required [type=missing, input_value={'a': 1}, input_type=dict]", true],
  ['FastMCP 2', "Error calling tool 'add': 2 validation errors for call[add]\na\n  Input should be a valid integer [type=int_parsing]", true],
  ['FastMCP 4, which words it without the tool', "1 validation error for call[add]\na\n  Input should be a valid integer, unable to parse string as an integer [type=int_parsing, input_value='x', input_type=str]", true],
  ['a tool whose own text starts with a count', '2 validation errors in the uploaded rows', false],
  ['a pydantic error of the tool\'s own model', 'Error executing tool weather: 1 validation error for WeatherReport\ntemp\n  Field required [type=missing]', false],
  ['a FastMCP tool\'s own failure', 'Error executing tool add: division by zero', false],
  ['the server\'s own output failing its schema', 'Output validation error: Tool echo has an output schema but did not return structured content', false],
  ['a tool that mentions validation', 'validation error for addArguments', false],
];

describe('rejectsArguments', () => {
  for (const [name, text, rejected] of isErrorTexts) {
    it(`${name}: ${rejected ? 'arguments refused' : 'the tool\'s failure'}`, () => {
      assert.equal(rejectsArguments(text), rejected);
    });
  }
});

describe('rawFromError', () => {
  const none: TransportDiagnostics = {};
  it('prefers the process exit over the SDK "Connection closed"', () => {
    const raw = rawFromError(new SdkError(SdkErrorCode.ConnectionClosed, 'Connection closed'), { exit: { code: 2, signal: null }, stderrTail: ['bad'] });
    assert.deepEqual(raw, { kind: 'exited', code: 2, signal: null, stderrTail: ['bad'] });
  });
  it('prefers invalid stdout over a timeout', () => {
    assert.deepEqual(rawFromError(new ProbeTimeout(500), { invalidOutput: 'stdout is not JSON-RPC: "hi"' }), { kind: 'invalid', message: 'stdout is not JSON-RPC: "hi"' });
  });
  it('a bare deadline is a timeout', () => {
    assert.deepEqual(rawFromError(new ProbeTimeout(500), none), { kind: 'timeout', ms: 500 });
  });
  it('reads the recorded HTTP response behind an HttpStatusError', () => {
    const diag: TransportDiagnostics = { lastHttp: { method: 'POST', status: 401, contentType: null, wwwAuthenticate: 'Bearer x', withSession: false, bodySnippet: '' } };
    const raw = rawFromError(httpStatusError(401, 'Error POSTing to endpoint (HTTP 401)'), diag);
    assert.equal(raw.kind, 'http');
    assert.equal((raw as { wwwAuthenticate: string }).wwwAuthenticate, 'Bearer x');
  });
  it('maps fetch failures by their cause code', () => {
    const err = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND x' } });
    assert.deepEqual(rawFromError(err, none), { kind: 'network', code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND x' });
  });
  it('maps JSON-RPC errors and closed connections', () => {
    assert.deepEqual(rawFromError(new ProtocolError(-32601, 'Method not found'), none), { kind: 'rpc', code: -32601, message: 'Method not found', data: undefined });
    assert.deepEqual(rawFromError(new SdkError(SdkErrorCode.ConnectionClosed, 'Connection closed'), none), { kind: 'closed', message: 'Connection closed' });
  });
  it('maps the SDK version check and malformed messages', () => {
    assert.deepEqual(rawFromError(new Error("Server's protocol version is not supported: 1999-01-01"), none), { kind: 'unsupported_version', version: '1999-01-01' });
    assert.equal(rawFromError(new SyntaxError('Unexpected token <'), none).kind, 'invalid');
    assert.deepEqual(rawFromError(new InvalidResponse('bad pages'), none), { kind: 'invalid', message: 'bad pages' });
  });
  it('a credential that could not be had is an auth failure, also where the transport only quoted it', () => {
    assert.deepEqual(rawFromError(new AuthFailure('auth_unavailable', 'cannot read token_file /t (ENOENT)'), none), { kind: 'auth', type: 'auth_unavailable', message: 'cannot read token_file /t (ENOENT)' });
    const wrapped = new SdkError(SdkErrorCode.EraNegotiationFailed, 'Version negotiation probe failed', undefined, { cause: new AuthFailure('auth_failed', 'refused') });
    assert.deepEqual(rawFromError(wrapped, none), { kind: 'auth', type: 'auth_failed', message: 'refused' });
    assert.deepEqual(rawFromError(new Error('SSE error: TypeError: refused'), { authFailure: { type: 'auth_failed', message: 'refused' } }), { kind: 'auth', type: 'auth_failed', message: 'refused' });
  });
  it('a 401 answered to a configured credential is marked as such', () => {
    const lastHttp = { method: 'POST', status: 401, contentType: null, wwwAuthenticate: 'Bearer error="invalid_token"', withSession: false, bodySnippet: '' };
    const raw = rawFromError(httpStatusError(401, 'Error POSTing to endpoint (HTTP 401)'), { lastHttp, credentialRejected: true });
    assert.equal((raw as { withCredential?: boolean }).withCredential, true);
    assert.equal((rawFromError(httpStatusError(401, 'x'), { lastHttp }) as { withCredential?: boolean }).withCredential, undefined);
  });
  it('spawn errors come from diagnostics', () => {
    const spawnError = Object.assign(new Error('spawn nope ENOENT'), { code: 'ENOENT' });
    assert.deepEqual(rawFromError(spawnError, { spawnError }, 'nope'), { kind: 'spawn', code: 'ENOENT', message: 'spawn nope ENOENT', command: 'nope' });
  });
});

describe('failureShape', () => {
  const rpcBody = (message: string): string => JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } });
  it('is the same for refusals whose words differ by a request id or a time', () => {
    assert.equal(failureShape(http(400, { body: rpcBody('request req-1 rejected') })), failureShape(http(400, { body: rpcBody('request req-2 rejected at 12:00:01') })));
    assert.equal(failureShape(http(503, { body: 'upstream 7f3a down' })), failureShape(http(503, { body: 'upstream 91c2 down' })));
    assert.equal(failureShape({ kind: 'rpc', code: -32603, message: 'db error (trace 1)' }), failureShape({ kind: 'rpc', code: -32603, message: 'db error (trace 2)' }));
  });
  it("tells a bare refusal, a worded one, another code and a 2025 server's refusal of a request without its session apart", () => {
    const shapes = [
      http(400),
      http(400, { body: 'bad request' }),
      http(400, { body: rpcBody('request req-1 rejected') }),
      http(400, { body: rpcBody('Bad Request: No valid session ID provided') }),
      http(400, { body: JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Bad Request: Missing session ID' } }) }),
      http(404),
      { kind: 'rpc', code: -32603, message: 'x' },
      { kind: 'rpc', code: -32601, message: 'x' },
    ].map((raw) => failureShape(raw as RawFailure));
    assert.equal(new Set(shapes).size, shapes.length, shapes.join(' | '));
  });
});
