import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { findConfigFile, loadConfigFile, parseConfig, readConfig } from '../../src/config/load.js';
import { parseDuration, resolveServer, parseListen } from '../../src/config/schema.js';
import { configErrors } from '../helpers.js';

const errorsOf = configErrors;

describe('configuration', () => {
  it('parses the documented example with defaults and env expansion', () => {
    const text = `
monitoring:
  interval: 30s
  timeout: 5s
  consecutive_failures_before_down: 3
servers:
  - name: postgres-mcp
    transport: stdio
    command: python
    args: [/opt/mcp/postgres/server.py]
    env: { DATABASE_URL: "\${env:DATABASE_URL}" }
    cwd: /opt/mcp
    tags: [database, critical, "team:data"]
    thresholds: { latency_warning: 500ms, latency_critical: 2s }
  - name: github-mcp
    transport: streamable_http
    url: https://mcp.internal.example/github/mcp
    headers: { Authorization: "Bearer \${env:GITHUB_MCP_TOKEN}" }
    tls: { ca_file: /etc/ssl/internal-ca.pem, insecure_skip_verify: false }
    timeout: 10s
`;
    const cfg = parseConfig(text, 'mcpwatch.yaml', { DATABASE_URL: 'postgres://db', GITHUB_MCP_TOKEN: 'tok' });
    assert.equal(cfg.servers.length, 2);
    assert.equal(cfg.servers[0]!.env.DATABASE_URL, 'postgres://db');
    assert.equal(cfg.servers[1]!.headers.Authorization, 'Bearer tok');
    const pg = resolveServer(cfg, cfg.servers[0]!);
    assert.deepEqual(pg.thresholds, { latency_warning: 500, latency_critical: 2000 });
    assert.equal(pg.timeout, 5000);
    assert.equal(pg.interval, 30_000);
    assert.equal(resolveServer(cfg, cfg.servers[1]!).timeout, 10_000);
    assert.equal(cfg.monitoring.concurrency, 32);
    assert.deepEqual(cfg.alerts, [{ type: 'stdout' }]);
    assert.equal(cfg.exporters.prometheus?.endpoint, '127.0.0.1:9464');
  });

  it('takes drift_alert_interval: 0s as an alert for every change, as the drift gate does', () => {
    assert.equal(parseConfig('monitoring: { drift_alert_interval: 0s }\nservers: []\n', 'x.yaml', {}).monitoring.drift_alert_interval, 0);
    assert.equal(parseConfig('servers: []\n', 'x.yaml', {}).monitoring.drift_alert_interval, 600_000);
    assert.match(errorsOf('monitoring: { drift_alert_interval: -1s }\nservers: []\n').join('\n'), /monitoring\.drift_alert_interval/);
  });

  it('expands ${VAR} and ${env:VAR:-default}, and $${ escapes', () => {
    const cfg = parseConfig('servers:\n  - { name: a, transport: stdio, command: "${CMD}", args: ["${env:MISSING:-fallback}", "$${literal}"] }\n', 'x.yaml', { CMD: 'node' });
    assert.equal(cfg.servers[0]!.command, 'node');
    assert.deepEqual(cfg.servers[0]!.args, ['fallback', '${literal}']);
  });

  it('notes what references put into the settings that carry credentials, and nothing else', () => {
    const text = `servers:
  - name: "\${env:NAME}"
    transport: stdio
    command: "\${env:NODE_BIN}"
    cwd: "\${env:WORKDIR}"
    args: ["--key", "\${env:ARG_KEY}", "\${env:HOME}/data"]
    env: { API_KEY: "\${env:API_KEY}", PORT: "\${env:PORT}", DEFAULTED: "\${env:UNSET:-dev-default-1}" }
    checks: [{ name: c, tool: t, arguments: { token: "\${env:CHECK_TOKEN}" } }]
  - name: http
    transport: streamable_http
    url: "https://\${env:HOST}/\${env:PATH_KEY}/mcp?key=\${env:QUERY_KEY}"
    headers: { X-Api-Token: "Bearer \${env:TOKEN}" }
    auth: { type: oauth2_client_credentials, client_id: "\${env:CLIENT_ID}", client_secret: "\${env:CLIENT_SECRET}", token_url: "https://as.example/token" }
  - { name: plain, transport: stdio, command: node, env: { API_KEY: literal-key-1 } }
  - { name: line, transport: stdio, command: "npx -y pkg --api-key \${env:LINE_KEY}" }
`;
    const env = {
      NAME: 'server-name', NODE_BIN: 'node-binary', WORKDIR: 'work-dir', ARG_KEY: 'arg-key-value', HOME: '/home/alice', API_KEY: 'env-api-key', PORT: '3000',
      CHECK_TOKEN: 'check-token-value', HOST: 'mcp.example.com', PATH_KEY: 'path-key-value', QUERY_KEY: 'query-key-value', TOKEN: 'bearer-value', CLIENT_ID: 'client-id-value', CLIENT_SECRET: 'client-secret-value', LINE_KEY: 'line-key-value',
    };
    const cfg = parseConfig(text, 'x.yaml', env);
    const noted = cfg.servers.map((s) => (s as { referenced_secrets?: string[] }).referenced_secrets);
    // PORT's 3000 is short and named as no credential: masking it would turn every 3000 into ***.
    assert.deepEqual(noted[0], ['arg-key-value', 'env-api-key', 'check-token-value']);
    assert.deepEqual(noted[1], ['path-key-value', 'query-key-value', 'bearer-value', 'client-secret-value']);
    assert.equal(noted[2], undefined);
    // A whole command is the executable's name; a word put into a command line is an argument.
    assert.deepEqual(noted[3], ['line-key-value']);
  });

  it('notes a short value where a name says credential, and the arguments of a command line a variable holds whole', () => {
    const text = `servers:
  - name: short
    transport: stdio
    command: node
    args: ["--token", "\${env:A}", "--api-key=\${env:B}", "--port", "\${env:C}", "\${env:GH_TOKEN}", "AUTH=\${env:D}"]
    env: { DB_PASSWORD: "\${env:E}", LOG_LEVEL: "\${env:F}" }
  - name: http
    transport: streamable_http
    url: "https://u:\${env:G}@h.example/mcp?api_key=\${env:H}&page=\${env:I}"
    headers: { Authorization: "Bearer \${env:J}", X-Region: "\${env:K}" }
  - { name: line, transport: stdio, command: "\${env:LINE}" }
  - { name: exe, transport: stdio, command: "\${env:EXE}" }
`;
    const env = { A: 'a1', B: 'b2', C: '8080', GH_TOKEN: 'g', D: 'd4', E: 'e5', F: 'info', G: 'g7', H: 'h8', I: '2', J: 'j9', K: 'eu', LINE: 'mcp-srv --api-key sk-abcdefgh1234', EXE: 'mcp-srv' };
    const noted = parseConfig(text, 'x.yaml', env).servers.map((s) => (s as { referenced_secrets?: string[] }).referenced_secrets);
    assert.deepEqual(noted, [['a1', 'b2', 'g', 'd4', 'e5'], ['g7', 'h8', 'j9'], ['--api-key sk-abcdefgh1234'], undefined]);
  });

  it('does not note a short number or switch under a name that says credential: it is a setting, and masked it took every 1 out of the messages', () => {
    const text = `servers:
  - name: a
    transport: stdio
    command: node
    args: ["--auth-enabled", "\${env:ON}", "--token-ttl=\${env:TTL}"]
    env: { AUTH_REQUIRED: "\${env:REQUIRED}", API_KEY: "\${env:KEY}" }
`;
    const noted = parseConfig(text, 'x.yaml', { ON: 'true', TTL: '3600', REQUIRED: '1', KEY: 'k9' }).servers.map((s) => (s as { referenced_secrets?: string[] }).referenced_secrets);
    assert.deepEqual(noted, [['k9']]);
  });

  it('reports every problem at once, with file, line and path', () => {
    const errs = errorsOf(`monitoring:
  timeout: fast
  intervall: 5s
servers:
  - name: a
    transport: stdio
  - name: a
    transport: streamable_http
    url: ftp://example.com/mcp
  - name: c
    transport: sse
  - name: d
    transport: stdio
    command: x
    env: { TOKEN: "\${env:NOPE}" }
    tags: critical
`);
    assert.deepEqual(errs, [
      'mcpwatch.yaml:2: monitoring.timeout: must be a positive duration such as 500ms, 5s or 2m (got "fast")',
      'mcpwatch.yaml:3: monitoring.intervall: unknown key (did you mean "interval"?)',
      'mcpwatch.yaml:5: servers[0].command: is required for a stdio server',
      'mcpwatch.yaml:7: servers[1].name: duplicate server name "a" (first used by servers[0])',
      'mcpwatch.yaml:9: servers[1].url: must be an http(s) URL (got scheme "ftp:")',
      'mcpwatch.yaml:10: servers[2].url: is required for a sse server and must be an http(s) URL',
      'mcpwatch.yaml:15: servers[3].env.TOKEN: environment variable NOPE is not set (give a default with ${env:NOPE:-value})',
      'mcpwatch.yaml:16: servers[3].tags: must be an array, got string (a list, one item each: [a, b], or a "- " line per item)',
    ]);
  });

  it('tells how to write a list or a mapping given in the other form, and takes an MCP client\'s "type": "http" for streamable_http', () => {
    const errs = errorsOf(`servers:
  - name: a
    transport: http
    url: http://127.0.0.1:1/mcp
  - name: b
    transport: stdio
    command: npx
    args: -y @scope/server
    env:
      - API_KEY=not-quoted-anywhere
`);
    assert.deepEqual(errs, [
      'mcpwatch.yaml:3: servers[0].transport: Invalid enum value. Expected \'stdio\' | \'sse\' | \'streamable_http\', received \'http\' (did you mean "streamable_http"? an MCP client\'s "type": "http" is Streamable HTTP)',
      'mcpwatch.yaml:8: servers[1].args: must be an array, got string (a list, one item each: [a, b], or a "- " line per item)',
      'mcpwatch.yaml:10: servers[1].env: must be an object, got array (a mapping, NAME: value, not a list of NAME=value: write API_KEY: …)',
    ]);
    assert.deepEqual(errorsOf('servers:\n  name: a\n  transport: stdio\n  command: x\n'), ['mcpwatch.yaml:2: servers: must be an array, got object (a list: start each entry with "- ")']);
  });

  it('says a variable set to the empty string is empty, not unset, wherever it is reported', () => {
    const text = `alerts:
  - { type: slack, webhook_url: "\${env:EMPTY_HOOK}" }
servers:
  - { name: a, transport: stdio, command: x, env: { T: "\${env:EMPTY_T}" } }
`;
    const env = { EMPTY_T: '', EMPTY_HOOK: '' };
    assert.deepEqual(errorsOf(text, env), [
      'mcpwatch.yaml:2: alerts[0].webhook_url: environment variable EMPTY_HOOK is set but empty (give a default with ${env:EMPTY_HOOK:-value})',
      'mcpwatch.yaml:4: servers[0].env.T: environment variable EMPTY_T is set but empty (give a default with ${env:EMPTY_T:-value})',
    ]);
    // health: the server alone is unusable, the section it does not read is left out.
    const { config, warnings } = readConfig(text, 'mcpwatch.yaml', env, { isolateServerEnv: true, probeOnly: true });
    assert.equal((config.servers[0] as { config_error?: string }).config_error, 'environment variable EMPTY_T (servers[0].env.T, line 4) not set or empty: this server is not probed until it is (mcpwatch validate lists every problem)');
    assert.deepEqual(warnings.map((w) => w.message), ['environment variable EMPTY_HOOK is set but empty: this command does not use alerts, so it is left out']);
  });

  it('suggests the key a word cut short or written out stands for', () => {
    assert.deepEqual(errorsOf('monitor: {}\nservers:\n  - { name: a, transport: stream, command: x, environment: { A: b } }\n'), [
      'mcpwatch.yaml:1: monitor: unknown key (did you mean "monitoring"?)',
      `mcpwatch.yaml:3: servers[0].transport: Invalid enum value. Expected 'stdio' | 'sse' | 'streamable_http', received 'stream' (did you mean "streamable_http"?)`,
      'mcpwatch.yaml:3: servers[0].environment: unknown key (did you mean "env"?)',
    ]);
  });

  it('names the key another tool\'s file uses for it, and the transport a server\'s url or command calls for', () => {
    assert.deepEqual(errorsOf('defaults: { interval: 30s }\nservers:\n  - { name: a, type: http, url: "http://127.0.0.1:1/mcp" }\n  - { name: b, cmd: node }\n  - { name: c, endpoint: "http://127.0.0.1:1/mcp" }\n  - { name: d }\n'), [
      'mcpwatch.yaml:1: defaults: unknown key (did you mean "monitoring"? it holds what every server takes unless it sets its own: interval, timeout, thresholds)',
      'mcpwatch.yaml:3: servers[0].transport: is required: streamable_http or sse for a server with a url',
      'mcpwatch.yaml:3: servers[0].type: unknown key (did you mean "transport"? an MCP client\'s "type": "http" is transport: streamable_http)',
      'mcpwatch.yaml:4: servers[1].transport: is required: stdio (with a command), streamable_http or sse (with a url)',
      'mcpwatch.yaml:4: servers[1].cmd: unknown key (did you mean "command"?)',
      'mcpwatch.yaml:5: servers[2].transport: is required: stdio (with a command), streamable_http or sse (with a url)',
      'mcpwatch.yaml:5: servers[2].endpoint: unknown key (did you mean "url"?)',
      'mcpwatch.yaml:6: servers[3].transport: is required: stdio (with a command), streamable_http or sse (with a url)',
    ]);
    assert.deepEqual(errorsOf('servers:\n  - { name: a, command: node }\n'), ['mcpwatch.yaml:2: servers[0].transport: is required: stdio for a server with a command']);
    assert.deepEqual(errorsOf('global: {}\nservers: []\n'), ['mcpwatch.yaml:1: global: unknown key (did you mean "monitoring"? it holds what every server takes unless it sets its own: interval, timeout, thresholds)']);
  });

  it('tells to quote a number or boolean YAML read where text is wanted, and to write true or false for yes or off', () => {
    assert.deepEqual(errorsOf('servers:\n  - { name: a, transport: stdio, command: x, env: { PORT: 3000, DEBUG: true }, args: [--port, 8080] }\n'), [
      'mcpwatch.yaml:2: servers[0].args[1]: must be a string, got number (quote it: "8080")',
      'mcpwatch.yaml:2: servers[0].env.PORT: must be a string, got number (quote it: "3000")',
      'mcpwatch.yaml:2: servers[0].env.DEBUG: must be a string, got boolean (quote it: "true")',
    ]);
    // As written, not as the number YAML made of it: 3.10 is 3.1, 0x1F is 31.
    assert.deepEqual(errorsOf('servers:\n  - { name: a, transport: stdio, command: x, env: { PYTHON_VERSION: 3.10, MASK: 0x1F } }\n'), [
      'mcpwatch.yaml:2: servers[0].env.PYTHON_VERSION: must be a string, got number (quote it: "3.10")',
      'mcpwatch.yaml:2: servers[0].env.MASK: must be a string, got number (quote it: "0x1F")',
    ]);
    assert.deepEqual(errorsOf('servers:\n  - { name: a, transport: streamable_http, url: "http://127.0.0.1:1/mcp", fresh_connection: yes, tls: { insecure_skip_verify: off } }\n'), [
      'mcpwatch.yaml:2: servers[0].tls.insecure_skip_verify: must be a boolean, got string (write false: YAML 1.2 reads off as text)',
      'mcpwatch.yaml:2: servers[0].fresh_connection: must be a boolean, got string (write true: YAML 1.2 reads yes as text)',
    ]);
  });

  it('says a rule across a mapping\'s keys beside an unknown key in that mapping', () => {
    assert.deepEqual(errorsOf('servers:\n  - name: a\n    transport: stdio\n    command: x\n    checks:\n      - { name: c, tool: t, resource: "r://x", extra: 1 }\n'), [
      'mcpwatch.yaml:6: servers[0].checks[0].extra: unknown key',
      'mcpwatch.yaml:6: servers[0].checks[0]: names tool and resource: give exactly one of tool, resource or prompt',
    ]);
  });

  it('says an unset variable once, not again as the command or URL it leaves empty', () => {
    const errs = errorsOf(`servers:
  - name: a
    transport: streamable_http
    url: \${env:NOPE_URL}
  - name: b
    transport: stdio
    command: \${env:NOPE_CMD}
`);
    assert.deepEqual(errs, [
      'mcpwatch.yaml:4: servers[0].url: environment variable NOPE_URL is not set (give a default with ${env:NOPE_URL:-value})',
      'mcpwatch.yaml:7: servers[1].command: environment variable NOPE_CMD is not set (give a default with ${env:NOPE_CMD:-value})',
    ]);
  });

  it('refuses a URL without its scheme, suggesting it, instead of naming a scheme nobody wrote', () => {
    const errs = errorsOf(`servers:
  - { name: a, transport: streamable_http, url: "localhost:3000/mcp" }
  - { name: b, transport: sse, url: "127.0.0.1:3001/sse" }
  - { name: c, transport: streamable_http, url: "mcp.example.com/mcp" }
`);
    assert.deepEqual(errs, [
      'mcpwatch.yaml:2: servers[0].url: must be an http(s) URL: the scheme is missing (got "localhost:3000/mcp"; did you mean "http://localhost:3000/mcp"?)',
      'mcpwatch.yaml:3: servers[1].url: must be an http(s) URL: the scheme is missing (got "127.0.0.1:3001/sse"; did you mean "http://127.0.0.1:3001/sse"?)',
      'mcpwatch.yaml:4: servers[2].url: must be an http(s) URL: the scheme is missing (got "mcp.example.com/mcp"; did you mean "http://mcp.example.com/mcp"?)',
    ]);
  });

  it('says what an empty section is, and how to turn the receiver off', () => {
    const errs = errorsOf(`receivers:
monitoring:
servers:
  - { name: a, transport: stdio, command: node }
`);
    assert.deepEqual(errs, [
      'mcpwatch.yaml:1: receivers: must be an object, got null (nothing is under it: indent its keys below it, or remove the line for the defaults; to turn the OTLP receiver off, write receivers: { otlp: null })',
      'mcpwatch.yaml:2: monitoring: must be an object, got null (nothing is under it: indent its keys below it, or remove the line for the defaults)',
    ]);
  });

  it('quotes a URL that does not parse with its credentials masked, and a webhook\'s by its host only', () => {
    const errs = errorsOf(`servers:
  - { name: a, transport: streamable_http, url: "127.0.0.1:3897/mcp?api_key=QSECRETVAL" }
  - { name: b, transport: streamable_http, url: "htp//bob:pa55USERINFO@127.0.0.1:3897/mcp?api_key=QSECRETVAL#frag" }
alerts:
  - { type: slack, webhook_url: "hooks.slack.com/services/T0000/B0000/SLACKPATHSECRET" }
  - { type: webhook, url: "htps://hooks.example.com/x/SECRETPATH" }
`);
    assert.deepEqual(errs, [
      'mcpwatch.yaml:2: servers[0].url: must be an http(s) URL: the scheme is missing (got "127.0.0.1:3897/mcp?api_key=***"; did you mean "http://127.0.0.1:3897/mcp?api_key=***"?)',
      'mcpwatch.yaml:3: servers[1].url: must be an http(s) URL (got "htp//***:***@127.0.0.1:3897/mcp?api_key=***#***")',
      'mcpwatch.yaml:5: alerts[0].webhook_url: must be an http(s) URL: the scheme is missing (got "hooks.slack.com/…"; did you mean "http://hooks.slack.com/…"?)',
      'mcpwatch.yaml:6: alerts[1].url: must be an http(s) URL (got scheme "htps:")',
    ]);
    for (const secret of ['QSECRETVAL', 'pa55USERINFO', 'bob', 'SLACKPATHSECRET', 'SECRETPATH', 'frag']) assert.ok(!errs.join('\n').includes(secret), secret);
  });

  it('does not quote a token given where a URL belongs (two variables swapped)', () => {
    const token = 'sk-proj-abcdefghijklmnopqrstuvwxyz123456';
    // A JWT's dotted parts can read as a host name without a scheme (review21b).
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlMTIzNDU2Nzg5MA';
    const errs = errorsOf('servers:\n  - { name: a, transport: streamable_http, url: "${env:MCP_TOKEN}" }\n  - { name: b, transport: sse, url: "ghp_abcdefghijklmnop" }\n  - { name: c, transport: sse, url: "${env:JWT}" }\n', { MCP_TOKEN: token, JWT: jwt });
    assert.deepEqual(errs, [
      'mcpwatch.yaml:2: servers[0].url: must be an http(s) URL, not a value shaped like a credential (not quoted) (from ${env:MCP_TOKEN})',
      'mcpwatch.yaml:3: servers[1].url: must be an http(s) URL, not a value shaped like a credential (not quoted)',
      'mcpwatch.yaml:4: servers[2].url: must be an http(s) URL, not a value shaped like a credential (not quoted) (from ${env:JWT})',
    ]);
  });

  it('refuses a header that HTTP cannot send, which every request failed on as the server\'s invalid_response', () => {
    const errs = errorsOf(
      `servers:
  - name: a
    transport: streamable_http
    url: http://127.0.0.1:1/mcp
    headers:
      "X Api Key": one
      X-Token: "\${env:TOKEN}"
      X-Fine: "Bearer tökén"
alerts:
  - { type: webhook, url: "http://127.0.0.1:1/hook", headers: { "X-Key:": v } }
exporters:
  otlp: { endpoint: "http://127.0.0.1:1", headers: { api-key: "a\\u0000b" } }
`,
      { TOKEN: 'secret-value\n' },
    );
    const why = 'the value holds a line break or another character HTTP headers cannot carry (a variable read from a file, with its newline?)';
    assert.deepEqual(errs, [
      `mcpwatch.yaml:6: servers[0].headers.X Api Key: "X Api Key" is not a header name: letters, digits and !#$%&'*+-.^_\`|~ only (no spaces, no colon)`,
      `mcpwatch.yaml:7: servers[0].headers.X-Token: ${why} (from \${env:TOKEN})`,
      `mcpwatch.yaml:10: alerts[0].headers.X-Key:: "X-Key:" is not a header name: letters, digits and !#$%&'*+-.^_\`|~ only (no spaces, no colon)`,
      `mcpwatch.yaml:12: exporters.otlp.headers.api-key: ${why}`,
    ]);
    assert.ok(!errs.join('\n').includes('secret-value'), 'a header value is never quoted');
  });

  it('says a bound in the file\'s terms, with the value, and an empty value once', () => {
    const errs = errorsOf(`monitoring:
  concurrency: -1
  latency_window: 100000
servers:
  - name: ""
    transport: stdio
    command: ""
    traffic: { service_names: [""] }
`);
    assert.deepEqual(errs, [
      'mcpwatch.yaml:2: monitoring.concurrency: must be at least 1 (got -1)',
      'mcpwatch.yaml:3: monitoring.latency_window: must be at most 1000 (got 100000)',
      'mcpwatch.yaml:5: servers[0].name: must not be empty',
      'mcpwatch.yaml:7: servers[0].command: must not be empty',
      'mcpwatch.yaml:8: servers[0].traffic.service_names[0]: must not be empty',
    ]);
  });

  it('refuses an interval or deadline longer than Node can time (24.8 days), and keeps long retention', () => {
    const errs = errorsOf(`monitoring:
  interval: 30d
servers:
  - { name: a, transport: stdio, command: x, timeout: 25d, interval: 24d }
state: { retention: 90d }
`);
    assert.deepEqual(errs, [
      'mcpwatch.yaml:2: monitoring.interval: must be at most 24d, the longest timer Node.js sets (got "30d")',
      'mcpwatch.yaml:4: servers[0].timeout: must be at most 24d, the longest timer Node.js sets (got "25d")',
    ]);
  });

  it('says what a variable held when the value it put there breaks a bound, as it does a value written in the file', () => {
    const text = `monitoring:
  interval: \${env:IV}
  concurrency: \${env:C}
  timeout: \${env:TO}
receivers:
  otlp: { max_in_flight_mib: "\${env:MIB}" }
servers:
  - name: a
    transport: streamable_http
    url: \${env:URL}
    protocol: \${env:ERA}
    recovery_hold: \${env:HOLD}
    headers: { X-Token: "\${env:TOKEN}" }
sharding: { shards: "\${env:SHARDS}", shard: 0 }
`;
    const env = { IV: '0s', C: '-1', TO: '30d', MIB: '0', URL: 'ftp://mcp.example', ERA: 'moden', HOLD: '-1s', TOKEN: 'secret-token\n', SHARDS: '0' };
    assert.deepEqual(configErrors(text, env), [
      'mcpwatch.yaml:2: monitoring.interval: must be a positive duration such as 500ms, 5s or 2m (got "0s" from ${env:IV})',
      'mcpwatch.yaml:3: monitoring.concurrency: must be at least 1 (got -1 from ${env:C})',
      'mcpwatch.yaml:4: monitoring.timeout: must be at most 24d, the longest timer Node.js sets (got "30d" from ${env:TO})',
      'mcpwatch.yaml:6: receivers.otlp.max_in_flight_mib: must be greater than 0 (got 0 from ${env:MIB})',
      'mcpwatch.yaml:10: servers[0].url: must be an http(s) URL (got scheme "ftp:" from ${env:URL})',
      'mcpwatch.yaml:11: servers[0].protocol: Invalid enum value. Expected \'auto\' | \'modern\' | \'legacy\', received \'moden\' from ${env:ERA} (did you mean "modern"?)',
      'mcpwatch.yaml:12: servers[0].recovery_hold: must be a duration such as 0s, 30s or 2m, at most 24d (got "-1s" from ${env:HOLD})',
      // A header value may be a credential: where it came from is said, never what it held.
      'mcpwatch.yaml:13: servers[0].headers.X-Token: the value holds a line break or another character HTTP headers cannot carry (a variable read from a file, with its newline?) (from ${env:TOKEN})',
      'mcpwatch.yaml:14: sharding.shards: must be at least 1 (got 0 from ${env:SHARDS})',
    ]);
  });

  it('refuses a reference it cannot expand rather than passing its text to the server', () => {
    const errs = errorsOf(`servers:
  - name: a
    transport: streamable_http
    url: http://127.0.0.1:1/mcp
    headers: { Authorization: "Bearer \${env:GITHUB-TOKEN}", X-Spaced: "\${ env:OK }", X-Fine: "\${env:OK} $\${env:NOT-A-REF} \${command:pick}" }
  - name: b
    transport: stdio
    command: node
    args: ["\${env:SCRIPT", "\${OK}/x"]
`, { OK: '1' });
    const advice = 'is not a reference mcpwatch can expand: write ${env:NAME} (NAME of letters, digits and _), ${env:NAME:-default}, or $${ for a literal ${';
    assert.deepEqual(errs, [
      `mcpwatch.yaml:5: servers[0].headers.Authorization: "\${env:GITHUB-TOKEN}" ${advice}`,
      `mcpwatch.yaml:5: servers[0].headers.X-Spaced: "\${ env:OK }" ${advice}`,
      `mcpwatch.yaml:9: servers[1].args[0]: "\${env:SCRIPT" ${advice}`,
    ]);
  });

  it('suggests the key meant among those valid where the typo is, and the value meant for an enumeration', () => {
    const errs = errorsOf(`servers:
  - name: a
    transport: streamable-http
    url: http://127.0.0.1:1/mcp
    tag: [critical]
    protocol: moden
alerts:
  - { type: webhok, url: "http://127.0.0.1:1/" }
  - { type: slack, webhook_url: "http://127.0.0.1:1/", events: [down, recover, schema-drift, nonsense] }
`);
    assert.deepEqual(errs, [
      `mcpwatch.yaml:3: servers[0].transport: Invalid enum value. Expected 'stdio' | 'sse' | 'streamable_http', received 'streamable-http' (did you mean "streamable_http"?)`,
      'mcpwatch.yaml:5: servers[0].tag: unknown key (did you mean "tags"?)',
      `mcpwatch.yaml:6: servers[0].protocol: Invalid enum value. Expected 'auto' | 'modern' | 'legacy', received 'moden' (did you mean "modern"?)`,
      `mcpwatch.yaml:8: alerts[0].type: Invalid discriminator value. Expected 'stdout' | 'webhook' | 'slack' | 'alertmanager' (did you mean "webhook"?)`,
      ...[`'recover' (did you mean "recovered"?)`, `'schema-drift' (did you mean "schema_drift"?)`, `'nonsense'`].map(
        (got, i) =>
          `mcpwatch.yaml:9: alerts[1].events[${i + 1}]: Invalid enum value. Expected 'down' | 'recovered' | 'degraded' | 'latency_spike' | 'stale' | 'session_expired' | 'schema_drift' | 'check_failed' | 'credential_expiring' | 'traffic_errors', received ${got}`,
      ),
    ]);
  });

  it('rejects an invalid transport and wrong types', () => {
    const errs = errorsOf('servers:\n  - name: a\n    transport: websocket\n    url: http://x\n');
    assert.equal(errs.length, 1);
    assert.match(errs[0]!, /^mcpwatch\.yaml:3: servers\[0\]\.transport: Invalid enum value\. Expected 'stdio' \| 'sse' \| 'streamable_http', received 'websocket'$/);
  });

  it('says what a duration or an error rate of the wrong type should be, not only its JSON type', () => {
    const errs = errorsOf('monitoring:\n  timeout: 5\n  traffic: { error_rate: "20%" }\nservers: []\n');
    assert.deepEqual(errs, [
      'mcpwatch.yaml:2: monitoring.timeout: must be a duration such as 500ms, 5s or 2m (got 5, a number without a unit: write 5s for seconds)',
      'mcpwatch.yaml:3: monitoring.traffic.error_rate: must be a share of calls above 0 and at most 1 (0.2 = 20 %), or null for never (got a string)',
    ]);
  });

  it('says a number or a boolean in quotes is text, and to write it without them', () => {
    assert.deepEqual(errorsOf('monitoring:\n  consecutive_failures_before_down: "3"\n  fresh_connection: "true"\nservers: []\n'), [
      'mcpwatch.yaml:2: monitoring.consecutive_failures_before_down: must be a number, got string (write 3 without quotes)',
      'mcpwatch.yaml:3: monitoring.fresh_connection: must be a boolean, got string (write true without quotes)',
    ]);
  });

  it('quotes a name with characters a label cannot take, and the name it could be', () => {
    assert.deepEqual(errorsOf('servers:\n  - { name: my server, transport: stdio, command: node, checks: [{ name: "list all!", tool: t }] }\n'), [
      'mcpwatch.yaml:2: servers[0].name: must contain only letters, digits and . _ : / - (got "my server"; e.g. "my-server")',
      'mcpwatch.yaml:2: servers[0].checks[0].name: must contain only letters, digits and . _ : / - (got "list all!"; e.g. "list-all")',
    ]);
  });

  it('refuses ${env.NAME} as a reference it cannot expand, and warns of a shell\'s $NAME, which is sent as written', () => {
    assert.deepEqual(errorsOf('servers:\n  - { name: a, transport: streamable_http, url: "https://h.example/mcp", headers: { A: "${env.TOKEN}" } }\n'), [
      'mcpwatch.yaml:2: servers[0].headers.A: "${env.TOKEN}" is not a reference mcpwatch can expand: write ${env:NAME} (NAME of letters, digits and _), ${env:NAME:-default}, or $${ for a literal ${',
    ]);
    const text = 'servers:\n  - { name: a, transport: stdio, command: node, args: ["pa$$word", "$${LIT}", "$(pwd)"], env: { A: "Bearer $TOKEN", B: "$X:$Y" } }\n';
    assert.deepEqual(readConfig(text, 'm.yaml', {}).warnings.map((w) => `${w.path}: ${w.message}`), [
      'servers[0].env.A: $TOKEN is sent as written: mcpwatch expands ${env:TOKEN}, not $TOKEN',
      'servers[0].env.B: $X, $Y are sent as written: mcpwatch expands ${env:X}, not $X',
    ]);
  });

  it('does not warn of a $NAME a shell expands (the line after sh -c) or that is only compared (a check\'s expect)', () => {
    const text = `servers:
  - name: a
    transport: stdio
    command: /bin/bash
    args: ["-lc", "exec srv --token \\"$API_TOKEN\\"", "$OTHER"]
    env: { API_TOKEN: "\${env:API_TOKEN}" }
    checks: [{ name: price, tool: quote, arguments: { q: "$SYMBOL" }, expect: { text_contains: "costs $USD" } }]
`;
    assert.deepEqual(readConfig(text, 'm.yaml', { API_TOKEN: 'x' }).warnings.map((w) => w.path), ['servers[0].args[2]', 'servers[0].checks[0].arguments.q']);
  });

  it('names the key a mapping gives twice, in block, quoted and flow style', () => {
    assert.deepEqual(errorsOf('servers: []\nmonitoring: {}\nservers: []\n'), ['mcpwatch.yaml:3: invalid YAML: the key "servers" is given twice in one mapping; keep one']);
    assert.deepEqual(errorsOf('servers:\n  - name: a\n    "transport": stdio\n    command: x\n    "transport": sse\n'), ['mcpwatch.yaml:5: invalid YAML: the key "transport" is given twice in one mapping; keep one']);
    assert.deepEqual(errorsOf('servers:\n  - { name: a, transport: stdio, command: x, name: b }\n'), ['mcpwatch.yaml:2: invalid YAML: the key "name" is given twice in one mapping; keep one']);
  });

  it('says a -c that names a directory is one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-dir-'));
    assert.throws(() => loadConfigFile(dir), (err: Error) => err.message === `${basename(dir)}: cannot read configuration: ${dir} is a directory: name the file in it (-c ${join(dir, 'mcpwatch.yaml')})`);
  });

  it('names an object, an array or null given for a duration in plain English', () => {
    const errs = errorsOf('monitoring:\n  timeout: { s: 5 }\n  interval: [30s]\n  start_timeout: null\nservers: []\n');
    assert.deepEqual(errs, [
      'mcpwatch.yaml:2: monitoring.timeout: must be a duration such as 500ms, 5s or 2m (got an object)',
      'mcpwatch.yaml:3: monitoring.interval: must be a duration such as 500ms, 5s or 2m (got an array)',
      'mcpwatch.yaml:4: monitoring.start_timeout: must be a duration such as 500ms, 5s or 2m (got null)',
    ]);
  });

  it('reads YAML merge keys: servers share an anchor\'s settings and override them', () => {
    const text = [
      'servers:',
      '  - &base',
      '    name: a',
      '    transport: streamable_http',
      '    url: https://a.example.com/mcp',
      '    headers: { Authorization: "Bearer ${env:T}" }',
      '    tags: [team:search]',
      '  - <<: *base',
      '    name: b',
      '    url: https://b.example.com/mcp',
      '',
    ].join('\n');
    const cfg = parseConfig(text, 'mcpwatch.yaml', { T: 'tok' });
    const b = cfg.servers[1]!;
    assert.equal(b.name, 'b');
    assert.equal(b.url, 'https://b.example.com/mcp');
    assert.equal(b.transport, 'streamable_http');
    assert.deepEqual(b.headers, { Authorization: 'Bearer tok' });
    assert.deepEqual(b.tags, ['team:search']);
    // A key the merged entry gets wrong is still found, on the entry's line.
    assert.deepEqual(errorsOf('servers:\n  - &base { name: a, transport: stdio, command: node }\n  - <<: *base\n    name: b\n    comand: x\n'), ['mcpwatch.yaml:5: servers[1].comand: unknown key (did you mean "command"?)']);
  });

  it('locates a merge key that names no mapping, in plain words', () => {
    const takes = 'invalid YAML: a merge key (<<:) takes a mapping or an alias of one (<<: *name)';
    assert.deepEqual(errorsOf('servers:\n  - { name: a, transport: stdio, command: node }\n  - <<: *nope\n    name: b\n'), [`mcpwatch.yaml:3: ${takes}; *nope names no anchor (no &nope above it)`]);
    assert.deepEqual(errorsOf('servers:\n  - { <<: 5, name: a, transport: stdio, command: node }\n'), [`mcpwatch.yaml:2: ${takes}; its value is not a mapping`]);
    assert.deepEqual(errorsOf('servers:\n  - &b { name: a, transport: stdio, command: node }\n  - { <<: [*b, 3], name: b }\n'), [`mcpwatch.yaml:3: ${takes}; its value is not a mapping`]);
    assert.deepEqual(errorsOf('servers:\n  - &t [x]\n  - { <<: *t, name: b, transport: stdio, command: node }\n'), [`mcpwatch.yaml:3: ${takes}; *t is not a mapping`]);
  });

  it('names the line of a YAML syntax error', () => {
    const errs = errorsOf('servers:\n  - name: a\n    args: [unclosed\n');
    assert.match(errs[0]!, /^mcpwatch\.yaml:\d+: invalid YAML: /);
  });

  it('says a second document (`---`) is one document too many, in the file\'s terms', () => {
    assert.deepEqual(errorsOf('servers: []\n---\nservers: []\n'), ['mcpwatch.yaml:2: invalid YAML: a second document starts here (a `---` line): the configuration is one YAML document']);
  });

  it('reports the first YAML error of a cascade, with a hint for an unquoted ${…} in a flow mapping', () => {
    const errs = errorsOf('servers:\n  - name: a\n    transport: sse\n    url: http://x/sse\n    headers: { Authorization: Bearer ${env:TOKEN}, X-A: b }\n');
    assert.equal(errs.length, 1, errs.join('\n'));
    assert.match(errs[0]!, /^mcpwatch\.yaml:5: invalid YAML: .*must be quoted: "\$\{env:NAME\}"/);
    const quoted = errorsOf('servers:\n  - name: a\n    transport: sse\n    url: http://x/sse\n    headers: { Authorization: "Bearer ${env:TOKEN}" }\n');
    assert.ok(!quoted.some((e) => e.includes('invalid YAML')), quoted.join('\n'));
  });

  it('accepts the removed `runtime` section with a warning naming its line and NODE_OPTIONS, and ignores its contents', () => {
    // An unset variable and an unknown value inside it are not errors: nothing in it is read.
    const text = 'servers: []\nruntime:\n  memory: "${env:NOPE}"\n  gc: aggressive\nlog: { level: debug }\n';
    const { config, warnings } = readConfig(text, 'm.yaml', {});
    assert.equal(config.log.level, 'debug');
    assert.equal('runtime' in config, false);
    assert.deepEqual(warnings.map((w) => [w.path, w.line]), [['runtime', 2]]);
    assert.match(warnings[0]!.message, /^removed and ignored: .*NODE_OPTIONS.*--max-old-space-size.*docs\/deployment\.md/);
    assert.deepEqual(readConfig('servers: []\n', 'm.yaml', {}).warnings, []);
    // Errors elsewhere in the file are still all reported.
    assert.deepEqual(errorsOf('runtime: { memory: compact }\nlog: { level: loud }\n').map((e) => e.split(': ')[1]), ['log.level']);
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-cfg-'));
    writeFileSync(join(dir, 'mcpwatch.yaml'), text);
    assert.deepEqual(loadConfigFile(join(dir, 'mcpwatch.yaml'), {}).warnings?.map((w) => w.path), ['runtime']);
  });

  it('names a missing file', () => {
    assert.throws(() => loadConfigFile('/nonexistent/mcpwatch.yaml'), (err: Error) => err.message === 'mcpwatch.yaml: cannot read configuration: file not found');
  });

  it('finds -c, then ./mcpwatch.yaml, then $XDG_CONFIG_HOME/mcpwatch/mcpwatch.yaml', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-cfg-'));
    const xdg = join(dir, 'xdg');
    mkdirSync(join(xdg, 'mcpwatch'), { recursive: true });
    writeFileSync(join(xdg, 'mcpwatch', 'mcpwatch.yaml'), 'servers: []\n');
    assert.equal(findConfigFile('/explicit.yaml', { XDG_CONFIG_HOME: xdg }, dir), '/explicit.yaml');
    assert.equal(findConfigFile(undefined, { XDG_CONFIG_HOME: xdg }, dir), join(xdg, 'mcpwatch', 'mcpwatch.yaml'));
    writeFileSync(join(dir, 'mcpwatch.yaml'), 'servers: []\n');
    assert.equal(findConfigFile(undefined, { XDG_CONFIG_HOME: xdg }, dir), join(dir, 'mcpwatch.yaml'));
  });

  it('parses durations and listen endpoints', () => {
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('5s'), 5000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('8d'), 8 * 86_400_000);
    assert.equal(parseDuration('5'), undefined);
    assert.deepEqual(parseListen('0.0.0.0:4317'), { host: '0.0.0.0', port: 4317 });
    assert.deepEqual(parseListen('[::1]:9464'), { host: '::1', port: 9464 });
    assert.deepEqual(parseListen(':13133'), { host: '0.0.0.0', port: 13133 });
    assert.equal(parseListen('localhost'), undefined);
    assert.equal(parseListen('x:99999'), undefined);
  });
});

describe('auth: configuration', () => {
  it('parses the three credential types with their defaults and ${env:} secrets', () => {
    const config = parseConfig(
      `servers:
  - name: github-mcp
    transport: streamable_http
    url: https://mcp.example.com/mcp
    auth:
      type: oauth2_client_credentials
      client_id: mcpwatch-prober
      client_secret: \${env:GITHUB_MCP_CLIENT_SECRET}
      scopes: [mcp:tools]
  - name: jwt
    transport: sse
    url: https://mcp.example.com/sse
    auth: { type: private_key_jwt, client_id: p, private_key_file: /keys/p.pem, token_url: https://auth.example.com/token, audience: api://mcp }
  - name: sa
    transport: streamable_http
    url: https://mcp.example.com/mcp
    auth: { type: bearer, token_file: /var/run/secrets/tokens/mcp }
`,
      'mcpwatch.yaml',
      { GITHUB_MCP_CLIENT_SECRET: 's3cret' },
    );
    assert.deepEqual(config.servers[0]!.auth, { type: 'oauth2_client_credentials', client_id: 'mcpwatch-prober', client_secret: 's3cret', scopes: ['mcp:tools'] });
    assert.deepEqual(config.servers[1]!.auth, { type: 'private_key_jwt', client_id: 'p', private_key_file: '/keys/p.pem', token_url: 'https://auth.example.com/token', audience: 'api://mcp', algorithm: 'RS256' });
    assert.deepEqual(config.servers[2]!.auth, { type: 'bearer', token_file: '/var/run/secrets/tokens/mcp' });
    assert.equal(config.monitoring.credential_expiry_warning, 86_400_000);
  });

  it('reports every auth problem at once, with its path', () => {
    const errs = errorsOf(`servers:
  - name: a
    transport: stdio
    command: x
    auth: { type: bearer, token: t }
  - name: b
    transport: streamable_http
    url: https://x/mcp
    auth: { type: bearer, token: t, token_file: /f }
  - name: c
    transport: streamable_http
    url: https://x/mcp
    headers: { Authorization: Bearer x }
    auth: { type: bearer, token: t }
  - name: d
    transport: streamable_http
    url: https://x/mcp
    auth: { type: oauth2_client_credentials, client_id: p, token_url: ftp://x }
  - name: e
    transport: streamable_http
    url: https://x/mcp
    auth: { type: private_key_jwt, client_id: p, private_key_file: /k, algorithm: HS256 }
`);
    assert.deepEqual(errs, [
      'mcpwatch.yaml:5: servers[0].auth: is for sse / streamable_http servers (a stdio server gets its credentials through env)',
      'mcpwatch.yaml:9: servers[1].auth: a bearer credential needs exactly one of token or token_file',
      'mcpwatch.yaml:13: servers[2].headers: sets Authorization, which auth: manages: keep one of the two',
      'mcpwatch.yaml:18: servers[3].auth.token_url: must be an http(s) URL (got scheme "ftp:")',
      'mcpwatch.yaml:18: servers[3].auth.client_secret: is required',
      "mcpwatch.yaml:22: servers[4].auth.algorithm: Invalid enum value. Expected 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512', received 'HS256'",
    ]);
  });

  it('a value that is one ${env:…} reference alone takes the number or boolean type its key wants', () => {
    const text = `monitoring:
  concurrency: \${env:CONCURRENCY}
  consecutive_failures_before_down: "\${env:FAILS:-5}"
servers:
  - name: a
    transport: stdio
    command: x
    fresh_connection: \${env:FRESH}
    env: { PORT: "\${env:PORT}", MIXED: "port \${env:PORT}" }
`;
    const config = parseConfig(text, 'mcpwatch.yaml', { CONCURRENCY: '12', FRESH: 'true', PORT: '8080' });
    assert.equal(config.monitoring.concurrency, 12);
    assert.equal(config.monitoring.consecutive_failures_before_down, 5);
    assert.equal(config.servers[0]!.fresh_connection, true);
    assert.deepEqual(config.servers[0]!.env, { PORT: '8080', MIXED: 'port 8080' }, 'a string key keeps the digits as text');
    assert.deepEqual(configErrors(text, { CONCURRENCY: 'many', FRESH: 'yes', PORT: '1' }), [
      'mcpwatch.yaml:2: monitoring.concurrency: must be a number, got string (what ${env:CONCURRENCY} holds is not a number)',
      'mcpwatch.yaml:8: servers[0].fresh_connection: must be a boolean, got string (what ${env:FRESH} holds is not a boolean)',
    ]);
  });

  it('an unset secret variable names it without its value', () => {
    const errs = errorsOf(`servers:
  - name: a
    transport: streamable_http
    url: https://x/mcp
    auth: { type: oauth2_client_credentials, client_id: p, client_secret: "\${env:MISSING_SECRET}" }
`);
    assert.ok(errs.includes('mcpwatch.yaml:5: servers[0].auth.client_secret: environment variable MISSING_SECRET is not set (give a default with ${env:MISSING_SECRET:-value})'), errs.join('\n'));
  });
});
