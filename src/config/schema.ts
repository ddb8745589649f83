// config/ owns the configuration file: its schema (the one source of truth for types, validation and
// the documented reference), loading (YAML, ${env:VAR} expansion, error reporting) and which values
// are credentials by their shape (secrets.ts). It must not probe, export or touch state: everything
// downstream receives an already validated `Config`.
import { z } from 'zod/v3';
import { ALERT_EVENTS } from '../pipeline/events.js';
import { parsePath } from '../pipeline/expect.js';
import { redactSecretPath, redactUrl } from '../pipeline/redact.js';
import { fromOrdinal, parseOrdinal, type Sharding } from '../pipeline/shard.js';
import { prometheusLabelName, tagAttribute } from './tags.js';
import { looksLikeSecret } from './secrets.js';

/** A label name Alertmanager's API accepts (Prometheus' classic names). */
const ALERT_LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** ` (write "bad_label")` for a name that has a valid one in it, else nothing. */
function alertLabelHint(name: string): string {
  const fixed = prometheusLabelName(name).replace(/^_+/, '').replace(/^(\d)/, '_$1');
  return /[a-zA-Z0-9]/.test(fixed) && ALERT_LABEL_NAME.test(fixed) ? ` (write ${JSON.stringify(fixed)})` : '';
}

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `500ms`, `5s`, `2m`, `1h`, `8d` into milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/** The milliseconds of a positive duration, or an issue quoting the text. */
function positiveMs(text: string, ctx: z.RefinementCtx): number | typeof z.NEVER {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a positive duration such as 500ms, 5s or 2m (got "${text}")` });
    return z.NEVER;
  }
  return ms;
}

const DURATION_TYPE = { invalid_type_error: 'must be a duration such as 500ms, 5s or 2m' };

/** A duration written as `500ms`, `5s`, `2m` or `1h`, validated into milliseconds. */
export const duration = z.string(DURATION_TYPE).transform(positiveMs);

/** A duration that may be `0s` (off). */
const durationOrOff = z.string({ invalid_type_error: 'must be a duration such as 0s, 30s or 2m' }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0 || ms > 2 ** 31 - 1) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a duration such as 0s, 30s or 2m, at most 24d (got "${text}")` });
    return z.NEVER;
  }
  return ms;
});

/** Node's timers hold at most 2^31 − 1 ms (24.8 days): a longer delay fires at once, in a loop. */
const TIMER_MAX_MS = 2 ** 31 - 1;

/** A duration that becomes a timer: an interval, a deadline, a back-off; one too long is quoted as written. */
export const timerDuration = z.string(DURATION_TYPE).transform((text, ctx) => {
  const ms = positiveMs(text, ctx);
  if (ms !== z.NEVER && ms > TIMER_MAX_MS) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be at most 24d, the longest timer Node.js sets (got "${text}")` });
    return z.NEVER;
  }
  return ms;
});

/**
 * A URL written without its scheme (`localhost:3000/mcp`, `mcp.example.com/mcp`): the WHATWG parser
 * takes `localhost:` for the scheme, and the message named a scheme nobody wrote.
 */
const SCHEMELESS_RE = /^(?:localhost|\[[0-9A-Fa-f:.]+\]|\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)(?::\d{1,5})?(?:[/?#]|$)/;

const CREDENTIAL_NOT_URL = 'must be an http(s) URL, not a value shaped like a credential (not quoted)';

/**
 * An http(s) URL. Errors quote the value masked (redactUrl): they reach terminals, CI logs and the
 * agent's log on a failed reload. `quote` is how: a webhook's path is its secret, so only its host is quoted.
 */
function httpUrlOf(quote: (text: string) => string) {
  return z.string().superRefine((text, ctx) => {
    // A token where a URL belongs (two variables swapped): not quoted at all. One of a known shape (a
    // JWT, `sk-…`) is told before the scheme-less test, which a JWT's dotted parts can pass as a host
    // name; a long opaque one only once it is no URL at all (`api.example2.com/v1` is as opaque).
    if (looksLikeSecret(text, Number.POSITIVE_INFINITY)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: CREDENTIAL_NOT_URL });
      return;
    }
    if (SCHEMELESS_RE.test(text)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an http(s) URL: the scheme is missing (got "${quote(text)}"; did you mean "${quote(`http://${text}`)}"?)` });
      return;
    }
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: looksLikeSecret(text) ? CREDENTIAL_NOT_URL : `must be an http(s) URL (got "${quote(text)}")` });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an http(s) URL (got scheme "${url.protocol}")` });
    }
  });
}

const httpUrl = httpUrlOf(redactUrl);
/** A webhook's URL: Slack's, Teams' and most others' carry their credential in the path. */
const webhookUrl = httpUrlOf(redactSecretPath);

/**
 * Request headers. A name that is no HTTP token (`Bad Name`, `X-Key:`) or a value with a line break
 * or another character HTTP does not carry fails every request before it is sent, which was
 * reported as the server's `invalid_response`. The value is not quoted: it is often a credential.
 */
const httpHeaders = z.record(z.string()).superRefine((headers, ctx) => {
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [name], message: `${JSON.stringify(name)} is not a header name: letters, digits and !#$%&'*+-.^_\`|~ only (no spaces, no colon)` });
    } else if (/[^\t\x20-\x7e\x80-\xff]/.test(value)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [name], message: 'the value holds a line break or another character HTTP headers cannot carry (a variable read from a file, with its newline?)' });
    }
  }
});

const thresholds = z
  .object({
    latency_warning: duration.optional().describe('Probe latency above which the server is degraded (warning). At most the server\'s latency_critical, once `monitoring.thresholds` fills in what a server leaves out.'),
    latency_critical: duration.optional().describe('Probe latency above which the server is degraded (critical).'),
  })
  .strict();

/** How traffic is judged; the same keys in `monitoring.traffic` (defaults) and `servers[].traffic`. */
const ERROR_RATE_MESSAGE = 'must be a share of calls above 0 and at most 1 (0.2 = 20 %), or null for never';
const errorRate = z.number({ invalid_type_error: ERROR_RATE_MESSAGE }).gt(0, ERROR_RATE_MESSAGE).max(1, ERROR_RATE_MESSAGE).nullable();
const trafficJudging = {
  error_rate: 'Share of failed tool calls in the window (0.2 = 20 %) at or above which the server is degraded and `traffic_errors` fires; null: traffic never degrades it.',
  window: 'Sliding window the traffic error rate is taken over.',
  min_calls: 'Fewer tool calls than this in the window are too few to judge.',
} as const;

const trafficHost = z
  .string()
  .min(1)
  .regex(/^(?:\[[0-9A-Fa-f:.]+\]|[^\s/:\[\]]+)(?::\d{1,5})?$/, 'must be host or host:port as spans carry them in server.address / server.port (no scheme, no path; IPv6 in brackets: [fd00::1]:8080)');

const serverTraffic = z
  .object({
    service_names: z.array(z.string().min(1)).default([]).describe("Spans whose sender's resource `service.name` is one of these belong to this server (an agent that calls only this server, or the server's own instrumentation)."),
    hosts: z.array(trafficHost).default([]).describe('Spans whose `server.address` (and `server.port`, when written host:port) is one of these belong to this server (a gateway or proxy address).'),
    error_rate: errorRate.optional().describe(`${trafficJudging.error_rate} Overrides \`monitoring.traffic.error_rate\`.`),
    window: duration.optional().describe(`${trafficJudging.window} Overrides \`monitoring.traffic.window\`.`),
    min_calls: z.number().int().min(1).optional().describe(`${trafficJudging.min_calls} Overrides \`monitoring.traffic.min_calls\`.`),
  })
  .strict();

const tls = z
  .object({
    ca_file: z.string().optional().describe('PEM file with the CA that signs the server certificate.'),
    cert_file: z.string().optional().describe('Client certificate (PEM) for mutual TLS.'),
    key_file: z.string().optional().describe('Client key (PEM) for mutual TLS.'),
    insecure_skip_verify: z.boolean().default(false).describe('Accept any certificate: neither its chain nor the name it was issued for is checked. Never in production.'),
  })
  .strict();

/** Key algorithms a private_key_jwt client assertion may be signed with (PEM keys: RSA, RSA-PSS, EC). */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'] as const;

const oauthCommon = {
  client_id: z.string().min(1).describe('oauth2_client_credentials / private_key_jwt: the OAuth client id registered for mcpwatch.'),
  scopes: z
    .array(z.string().min(1))
    .optional()
    .describe(
      'oauth2_client_credentials / private_key_jwt: scopes to request (space-joined into `scope`). Default: what the server names, as the MCP authorization spec selects it (the scope of its 401 challenge, else all of its protected-resource metadata\'s `scopes_supported`, else none). `[]`: request no scope (the authorization server\'s default for the client).',
    ),
  token_url: httpUrl
    .optional()
    .describe('oauth2_client_credentials / private_key_jwt: the token endpoint. Default: discovered from the server\'s 401 (WWW-Authenticate resource_metadata → protected-resource metadata, RFC 9728 → authorization-server metadata, RFC 8414 / OIDC discovery).'),
  resource: z.string().min(1).optional().describe('oauth2_client_credentials / private_key_jwt: the RFC 8707 resource indicator sent with token requests. Default: the protected-resource metadata\'s `resource`, else the server URL.'),
  audience: z.string().min(1).optional().describe('oauth2_client_credentials / private_key_jwt: an `audience` parameter for authorization servers that want one (Auth0, Okta), sent beside `resource`.'),
  issuer: httpUrl
    .optional()
    .describe('oauth2_client_credentials / private_key_jwt: the authorization server\'s issuer URL. When the token endpoint is discovered, an authorization server other than this one is auth_failed and gets no credentials. Without token_url or issuer, the server decides where the secret goes: set one for third-party servers.'),
};

const authSchema = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z.literal('oauth2_client_credentials'),
        ...oauthCommon,
        client_secret: z.string().min(1).describe('oauth2_client_credentials: the client secret; write `${env:VAR}`, never the value.'),
      })
      .strict(),
    z
      .object({
        type: z.literal('private_key_jwt'),
        ...oauthCommon,
        private_key_file: z.string().min(1).describe('private_key_jwt: PEM file (PKCS#8, or PKCS#1 / SEC1) with the key that signs the client assertion (RFC 7523).'),
        algorithm: z.enum(JWT_ALGORITHMS).default('RS256').describe(`private_key_jwt: signing algorithm: ${JWT_ALGORITHMS.join(' | ')}.`),
      })
      .strict(),
    z
      .object({
        type: z.literal('bearer'),
        token: z.string().min(1).optional().describe('bearer: a static token; write `${env:VAR}`. Not with token_file.'),
        token_file: z
          .string()
          .min(1)
          .optional()
          .describe('bearer: a file holding the token, read again whenever it changes (a Kubernetes projected service-account token, a token a sidecar refreshes). Not with token.'),
      })
      .strict(),
  ])
  .describe('sse / streamable_http: credentials for a server behind OAuth (docs/oauth.md). Tokens are cached per server and renewed before they expire.');

export type AuthConfig = z.output<typeof authSchema>;

export const TRANSPORTS = ['stdio', 'sse', 'streamable_http'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

/**
 * The HTTP transport a URL implies when nothing names one: a path ending in `/sse` is the legacy
 * HTTP+SSE convention (the SDK's examples, server-everything, FastMCP). One rule for what `init`
 * writes, what `health --url` probes and the hint on a failed probe, so a URL pasted into either
 * command is probed the way the other would configure it. The fallback reads a URL that does not
 * parse yet, such as one still holding an ${env:HOST} reference.
 */
export function urlTransport(url: string): 'sse' | 'streamable_http' {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url.replace(/[?#].*$/, '');
  }
  return /\/sse\/?$/i.test(path) ? 'sse' : 'streamable_http';
}

/**
 * Which MCP era a probe speaks: `auto` asks `server/discover` (2026-07-28) first and falls back to the
 * 2025 `initialize` handshake; `modern` and `legacy` pin one era.
 */
export const PROTOCOL_MODES = ['auto', 'modern', 'legacy'] as const;
export type ProtocolMode = (typeof PROTOCOL_MODES)[number];

const expectSchema = z
  .object({
    is_error: z.boolean().optional().describe('tool: whether the result must have `isError: true` (default false: an isError result fails the check as tool_error). A result that only refuses the arguments fails as invalid_params either way.'),
    text_contains: z.string().optional().describe('Some text content block (tool content, resource contents, prompt messages) contains this.'),
    structured: z
      .record(z.unknown())
      .optional()
      .describe('tool: JSONPath-style path → value that `structuredContent` must hold at that path, e.g. `{ "$.rows[0].ok": true }`.'),
    max_latency: duration.optional().describe("The call must answer within this long. Keep it below the check's timeout (a warning says so otherwise): a slower call fails as a timeout first."),
  })
  .strict();

export const CHECK_FAILURE_STATES = ['degraded', 'down'] as const;

const CHECK_NAME = /^[A-Za-z0-9._:\/-]+$/;

/**
 * The name a check goes by: its own, or what it calls. Undefined when it has none and what it calls
 * cannot be a name (a resource URI with other characters), or it calls nothing (checkIssues says so).
 */
function checkName(c: { name?: unknown; tool?: unknown; resource?: unknown; prompt?: unknown }): { name: string; given: boolean } | undefined {
  if (typeof c.name === 'string') return { name: c.name, given: true };
  if (c.name !== undefined) return undefined;
  const targets = [c.tool, c.resource, c.prompt].filter((t) => t !== undefined);
  const [target] = targets;
  return targets.length === 1 && typeof target === 'string' && CHECK_NAME.test(target) ? { name: target, given: false } : undefined;
}

const checkSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .regex(CHECK_NAME, 'must contain only letters, digits and . _ : / -')
      .optional()
      .describe('Unique per server; the `check` label. Default: the tool or prompt name, or the resource URI, when it is a valid name.'),
    tool: z.string().min(1).optional().describe('Call this tool (tools/call). Exactly one of tool, resource, prompt.'),
    resource: z.string().min(1).optional().describe('Read this resource URI (resources/read).'),
    prompt: z.string().min(1).optional().describe('Get this prompt (prompts/get).'),
    arguments: z.record(z.unknown()).default({}).describe('tool: the call\'s arguments (any JSON); prompt: its arguments (strings). Over Streamable HTTP in the 2026-07-28 era, arguments the tool\'s inputSchema marks with `x-mcp-header` are also sent as `Mcp-Param-*` headers (README, Checks).'),
    expect: expectSchema.default({}).describe('What the result must be; by default only that a tool result is not `isError`.'),
    allow_side_effects: z.boolean().default(false).describe('Call a tool that is not annotated `readOnlyHint: true` (it may change data). Without it such a tool is never called. Tool checks only.'),
    on_failure: z.enum(CHECK_FAILURE_STATES).default('degraded').describe('degraded | down: the server\'s state while the check fails (down after `consecutive_failures_before_down` failures in a row).'),
    interval: timerDuration.optional().describe('`mcpwatch run`: how often the check runs; default the server\'s interval.'),
    timeout: timerDuration.optional().describe('Deadline for the call; default the server\'s timeout.'),
  })
  .strict();

/** Rules of one check that span fields (exactly one target; what applies to which target). */
function checkIssues(c: unknown): CrossIssue[] {
  if (!c || typeof c !== 'object') return [];
  const check = c as { tool?: unknown; resource?: unknown; prompt?: unknown; arguments?: unknown; expect?: unknown; allow_side_effects?: unknown };
  const issues: CrossIssue[] = [];
  const targets = (['tool', 'resource', 'prompt'] as const).filter((k) => check[k] !== undefined);
  if (targets.length !== 1) {
    issues.push({ path: [], message: targets.length === 0 ? 'needs one of tool, resource or prompt' : `names ${targets.join(' and ')}: give exactly one of tool, resource or prompt` });
    return issues;
  }
  const expect = (check.expect && typeof check.expect === 'object' ? check.expect : {}) as { is_error?: unknown; structured?: unknown };
  if (targets[0] !== 'tool') {
    if (expect.is_error !== undefined) issues.push({ path: ['expect', 'is_error'], message: `applies to tool checks only (this one reads a ${targets[0]})` });
    if (expect.structured !== undefined) issues.push({ path: ['expect', 'structured'], message: `applies to tool checks only (this one reads a ${targets[0]})` });
    // Read as a permission the read needed, it would let a user believe mcpwatch guards reads too.
    if (check.allow_side_effects === true) issues.push({ path: ['allow_side_effects'], message: `applies to tool checks only (this one reads a ${targets[0]}, which has no side effects to allow)` });
  }
  const args = check.arguments;
  if (targets[0] === 'resource' && args !== undefined && !(typeof args === 'object' && args !== null && Object.keys(args).length === 0)) {
    issues.push({ path: ['arguments'], message: 'a resource check takes no arguments (put parameters in the URI)' });
  }
  if (targets[0] === 'prompt' && args && typeof args === 'object') {
    for (const [k, v] of Object.entries(args)) if (typeof v !== 'string') issues.push({ path: ['arguments', k], message: `prompt arguments are strings (got ${Array.isArray(v) ? 'array' : typeof v})` });
  }
  if (expect.structured && typeof expect.structured === 'object') {
    for (const path of Object.keys(expect.structured)) {
      const parsed = parsePath(path);
      if (!Array.isArray(parsed)) issues.push({ path: ['expect', 'structured', path], message: parsed.error });
    }
  }
  return issues;
}

const serverFields = {
  name: z
    .string()
    .min(1)
    // `*`: an empty name is said once, by min(1), not also as holding no allowed character.
    .regex(/^[A-Za-z0-9._:\/-]*$/, 'must contain only letters, digits and . _ : / -')
    .describe('Unique name; the `mcp.server.name` label.'),
  transport: z.enum(TRANSPORTS).describe('stdio | sse | streamable_http'),
  command: z.string().min(1).optional().describe('stdio: the executable (run without a shell).'),
  args: z.array(z.string()).default([]).describe('stdio: arguments.'),
  env: z.record(z.string()).default({}).describe('stdio: extra environment variables for the child.'),
  cwd: z.string().optional().describe('stdio: working directory of the child.'),
  url: httpUrl.optional().describe('sse / streamable_http: the endpoint URL.'),
  headers: httpHeaders.default({}).describe('sse / streamable_http: headers sent on every request.'),
  tls: tls.optional().describe('sse / streamable_http: TLS settings.'),
  auth: authSchema.optional(),
  tags: z.array(z.string().min(1)).default([]).describe('Free-form tags (`critical`, `team:data`) for selection and labels (`mcp_tag_critical="true"`, `mcp_tag_team="data"`). Two tags that become one label (`team-a` and `team_a`; `team:data` and `team:ops`) are an error; one tag given twice is a warning.'),
  thresholds: thresholds.optional().describe('Latency thresholds; override `monitoring.thresholds`.'),
  timeout: timerDuration.optional().describe('Deadline for one whole probe; overrides `monitoring.timeout`. Longer than the interval is allowed, with a warning: probes never overlap, so a server that does not answer is probed every timeout + interval.'),
  start_timeout: timerDuration.optional().describe('stdio: deadline from spawn through the first answer; overrides `monitoring.start_timeout`.'),
  interval: timerDuration.optional().describe('Probe interval for `mcpwatch run`; overrides `monitoring.interval`.'),
  fresh_connection: z.boolean().optional().describe('`mcpwatch run`: probe with a new connection each time instead of one kept session.'),
  stale_after: timerDuration.optional().describe('SSE: nothing from the server (no event, no keep-alive, on its stream or a new one) for this long, and a check then timing out, means stale: it takes connections but answers nothing. A server already down stays down.'),
  consecutive_failures_before_down: z.number().int().min(1).optional().describe('Overrides `monitoring.consecutive_failures_before_down`.'),
  recovery_hold: durationOrOff.optional().describe('Overrides `monitoring.recovery_hold`.'),
  protocol: z.enum(PROTOCOL_MODES).optional().describe('MCP era to speak: auto | modern (2026-07-28) | legacy (2025 initialize); overrides `monitoring.protocol`.'),
  checks: z.array(checkSchema).default([]).describe('Synthetic checks: tools/call, resources/read or prompts/get with assertions, run after tools/list.'),
  traffic: serverTraffic.optional().describe('Traffic (OTLP spans from instrumented agents): hints that attribute spans to this server, and how its error rate is judged (docs/traffic.md).'),
};

const serverSchema = z.object(serverFields).strict().superRefine((s, ctx) => {
  for (const issue of serverIssues(s)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: issue.path, message: issue.message });
});

interface CrossIssue {
  path: (string | number)[];
  message: string;
}

/**
 * Rules that span fields. Zod runs refinements only on objects that are otherwise valid, so the loader
 * also applies these to the raw document: every error is reported in one pass, not one per fix.
 */
function serverIssues(s: { transport?: unknown; command?: unknown; url?: unknown; protocol?: unknown; checks?: unknown; auth?: unknown; headers?: unknown; tags?: unknown } & ForeignKeys): CrossIssue[] {
  const issues: CrossIssue[] = [];
  issues.push(...authIssues(s), ...tagIssues(s.tags));
  if (Array.isArray(s.checks)) {
    const seen = new Map<string, { index: number; given: boolean }>();
    s.checks.forEach((c: unknown, i) => {
      for (const issue of checkIssues(c)) issues.push({ path: ['checks', i, ...issue.path], message: issue.message });
      if (!c || typeof c !== 'object') return;
      const named = checkName(c);
      if (!named) {
        const { name, tool, resource, prompt } = c as { name?: unknown; tool?: unknown; resource?: unknown; prompt?: unknown };
        const calls = tool !== undefined ? ['tool name', tool] : resource !== undefined ? ['resource URI', resource] : ['prompt name', prompt];
        const one = [tool, resource, prompt].filter((t) => t !== undefined).length === 1;
        if (name === undefined && one && typeof calls[1] === 'string' && calls[1] !== '') {
          issues.push({ path: ['checks', i, 'name'], message: `is required: the ${calls[0]} ${JSON.stringify(calls[1])} cannot name the check (a name has only letters, digits and . _ : / -)` });
        }
        return;
      }
      const first = seen.get(named.name);
      if (first === undefined) seen.set(named.name, { index: i, given: named.given });
      else if (named.given && first.given) issues.push({ path: ['checks', i, 'name'], message: `duplicate check name "${named.name}" (first used by checks[${first.index}])` });
      else issues.push({ path: ['checks', i, 'name'], message: `two checks named "${named.name}" (checks[${first.index}] and this one; a check without a name is named after what it calls): give ${first.given ? 'this one' : named.given ? `checks[${first.index}]` : 'each'} a name of its own` });
    });
  }
  if (!(TRANSPORTS as readonly unknown[]).includes(s.transport)) return issues;
  if (s.transport === 'sse' && s.protocol === 'modern') {
    issues.push({ path: ['protocol'], message: 'legacy HTTP+SSE speaks only the 2025 protocol (2026-07-28 servers use transport: streamable_http)' });
  }
  if (s.transport === 'stdio') {
    if (!s.command) issues.push({ path: ['command'], message: 'is required for a stdio server' });
    if (s.url) issues.push({ path: ['url'], message: 'is not used by a stdio server (did you mean transport: streamable_http?)' });
  } else {
    if (!s.url) issues.push({ path: ['url'], message: `is required for a ${String(s.transport)} server and must be an http(s) URL` });
    if (s.command) issues.push({ path: ['command'], message: `is not used by a ${String(s.transport)} server (did you mean transport: stdio?)` });
  }
  issues.push(...foreignKeyIssues(s, s.transport as TransportName));
  return issues;
}

type ForeignKeys = { args?: unknown; env?: unknown; cwd?: unknown; start_timeout?: unknown; headers?: unknown; tls?: unknown; stale_after?: unknown };

/** A key that is set, and not just the schema's empty default (`args: []`, `env: {}`, `headers: {}`). */
function isSet(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

/**
 * Keys of another transport, which the server's own would ignore without a word: `env` on an HTTP
 * server (a secret the user believes is handed over), `stale_after` on a server whose silence is not
 * watched (a protection the user believes is on). The file is strict about unknown keys for the
 * same reason.
 */
function foreignKeyIssues(s: ForeignKeys, transport: TransportName): CrossIssue[] {
  const issues: CrossIssue[] = [];
  if (transport !== 'stdio') {
    for (const key of ['args', 'env', 'cwd', 'start_timeout'] as const) {
      if (isSet(s[key])) issues.push({ path: [key], message: `is for stdio servers: a ${transport} server does not use it (remove it, or set transport: stdio)` });
    }
  } else {
    for (const key of ['headers', 'tls'] as const) {
      if (isSet(s[key])) issues.push({ path: [key], message: 'is for sse / streamable_http servers: a stdio server does not use it (remove it; a stdio server takes settings through env)' });
    }
  }
  if (transport !== 'sse' && isSet(s.stale_after)) {
    issues.push({ path: ['stale_after'], message: `is for sse servers: a ${transport} server does not use it (its silence is not watched; remove it)` });
  }
  return issues;
}

/**
 * Tags whose labels would be one: a series holds one value per label, so the exporter would keep
 * one tag's value and drop the other's without a word (`team-a` and `team_a` are both
 * `mcp_tag_team_a`; `team:data` and `team:ops` both set `mcp_tag_team`).
 */
function tagIssues(tags: unknown): CrossIssue[] {
  if (!Array.isArray(tags)) return [];
  const issues: CrossIssue[] = [];
  const first = new Map<string, { tag: string; at: number }>();
  tags.forEach((tag: unknown, i) => {
    if (typeof tag !== 'string' || tag === '') return;
    const { key } = tagAttribute(tag);
    const label = prometheusLabelName(key);
    const seen = first.get(label);
    if (!seen) return void first.set(label, { tag, at: i });
    // The same entry twice loses nothing: a warning (tagWarnings), not a reason to refuse the file.
    if (seen.tag === tag) return;
    const keyOf = (t: string): string => (t.indexOf(':') > 0 ? t.slice(0, t.indexOf(':')) : t);
    // The same label and value written two ways (`critical`, `critical:true`): nothing is lost.
    if (keyOf(seen.tag) === keyOf(tag) && tagAttribute(seen.tag).value === tagAttribute(tag).value) return;
    const why =
      keyOf(seen.tag) === keyOf(tag)
        ? `both set the label ${label} (key "${keyOf(tag)}"), which holds one value: keep one of them`
        : `have the keys "${keyOf(seen.tag)}" and "${keyOf(tag)}", which both become the label ${label} (other characters than letters, digits and _ become _; runs of _ one _): rename one`;
    issues.push({ path: ['tags', i], message: `tags ${JSON.stringify(seen.tag)} (tags[${seen.at}]) and ${JSON.stringify(tag)} ${why}` });
  });
  return issues;
}

/** Rules of `auth` that span fields: one source of a bearer token, not beside an Authorization header, not on stdio. */
function authIssues(s: { transport?: unknown; auth?: unknown; headers?: unknown }): CrossIssue[] {
  const auth = s.auth as { type?: unknown; token?: unknown; token_file?: unknown } | undefined;
  if (!auth || typeof auth !== 'object') return [];
  const issues: CrossIssue[] = [];
  if (s.transport === 'stdio') issues.push({ path: ['auth'], message: 'is for sse / streamable_http servers (a stdio server gets its credentials through env)' });
  if (auth.type === 'bearer' && (auth.token === undefined) === (auth.token_file === undefined)) {
    issues.push({ path: ['auth'], message: 'a bearer credential needs exactly one of token or token_file' });
  }
  if (s.headers && typeof s.headers === 'object' && Object.keys(s.headers).some((k) => k.toLowerCase() === 'authorization')) {
    issues.push({ path: ['headers'], message: 'sets Authorization, which auth: manages: keep one of the two' });
  }
  return issues;
}

/** Milliseconds of a duration as written in the file (`2s`) or as parsed (2000); undefined for anything else. */
function msOf(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  return typeof v === 'string' ? parseDuration(v) : undefined;
}

/** A duration as the user wrote it, or as close as milliseconds allow. */
export function durationText(v: unknown): string {
  if (typeof v === 'string') return v.trim();
  const ms = Number(v);
  const unit = (['d', 'h', 'm', 's'] as const).find((u) => ms >= UNIT_MS[u]! && ms % UNIT_MS[u]! === 0);
  return unit ? `${ms / UNIT_MS[unit]!}${unit}` : `${ms}ms`;
}

/**
 * Rules between a server's settings and the `monitoring` defaults it inherits, on the values each
 * server ends up with. Works on the raw document (durations as text) and on the parsed one.
 */
function inheritedIssues(raw: unknown): CrossIssue[] {
  const issues: CrossIssue[] = [];
  const monitoring = (raw as { monitoring?: unknown })?.monitoring;
  const defaults = ((monitoring && typeof monitoring === 'object' ? (monitoring as { thresholds?: unknown }).thresholds : undefined) ?? {}) as Record<string, unknown>;
  const inverted = (t: Record<string, unknown>): boolean => {
    const warning = msOf(t.latency_warning);
    const critical = msOf(t.latency_critical);
    return warning !== undefined && critical !== undefined && warning > critical;
  };
  const why = 'the warning threshold must be at or below the critical one';
  if (typeof defaults === 'object' && inverted(defaults)) {
    issues.push({
      path: ['monitoring', 'thresholds', 'latency_warning'],
      message: `${durationText(defaults.latency_warning)} is greater than latency_critical ${durationText(defaults.latency_critical)}, for every server that does not set its own: ${why}`,
    });
  }
  const servers = (raw as { servers?: unknown })?.servers;
  if (!Array.isArray(servers)) return issues;
  servers.forEach((s: unknown, i) => {
    if (!s || typeof s !== 'object') return;
    const own = (s as { thresholds?: unknown }).thresholds;
    if (!own || typeof own !== 'object') return;
    const t = own as Record<string, unknown>;
    const effective = {
      latency_warning: t.latency_warning ?? defaults.latency_warning,
      latency_critical: t.latency_critical ?? defaults.latency_critical,
    };
    // Inverted defaults that the server does not touch are reported once, on monitoring.thresholds.
    if (!inverted(effective) || (t.latency_warning === undefined && t.latency_critical === undefined)) return;
    const name = typeof (s as { name?: unknown }).name === 'string' ? JSON.stringify((s as { name: string }).name) : `servers[${i}]`;
    const from = (k: 'latency_warning' | 'latency_critical'): string => (t[k] === undefined ? ' (from monitoring.thresholds)' : '');
    issues.push({
      path: ['servers', i, 'thresholds', t.latency_warning !== undefined ? 'latency_warning' : 'latency_critical'],
      message: `server ${name}: latency_warning ${durationText(effective.latency_warning)}${from('latency_warning')} is greater than latency_critical ${durationText(effective.latency_critical)}${from('latency_critical')}: ${why}`,
    });
  });
  return issues;
}

export function configIssues(raw: unknown): CrossIssue[] {
  const servers = (raw as { servers?: unknown })?.servers;
  if (!Array.isArray(servers)) return inheritedIssues(raw);
  const issues: CrossIssue[] = [];
  const seen = new Map<string, number>();
  servers.forEach((s: unknown, i) => {
    if (!s || typeof s !== 'object') return;
    for (const issue of serverIssues(s)) issues.push({ path: ['servers', i, ...issue.path], message: issue.message });
    const name = (s as { name?: unknown }).name;
    if (typeof name !== 'string') return;
    const first = seen.get(name);
    if (first !== undefined) issues.push({ path: ['servers', i, 'name'], message: `duplicate server name "${name}" (first used by servers[${first}])` });
    else seen.set(name, i);
  });
  return [...issues, ...inheritedIssues(raw)];
}

const monitoringSchema = z
  .object({
    interval: timerDuration.default('30s').describe('How often `mcpwatch run` probes each server.'),
    timeout: timerDuration.default('5s').describe('Deadline for one whole probe (connect, initialize, tools/list).'),
    start_timeout: timerDuration
      .default('60s')
      .describe('stdio: deadline from spawn through the first answer (npx/uvx may download the server first); then `timeout` applies.'),
    consecutive_failures_before_down: z.number().int().min(1).default(3).describe('Failures in a row before a server is down.'),
    recovery_hold: durationOrOff
      .default('0s')
      .describe('Flap damping: a down or stale server is recovered only once it has answered for this long; failing again meanwhile goes on with the same incident, announced once. `0s`: at its first answer.'),
    concurrency: z.number().int().min(1).max(1024).default(32).describe('Probes in flight at once.'),
    max_tool_pages: z.number().int().min(1).default(50).describe('Cap on tools/list pages per probe.'),
    fresh_connection: z.boolean().default(false).describe('Probe with a new connection each time instead of one kept session.'),
    stale_after: timerDuration.default('120s').describe('SSE: nothing from the server (no event, no keep-alive, on its stream or a new one) for this long, and a check then timing out, means stale: it takes connections but answers nothing. A server already down stays down.'),
    protocol: z.enum(PROTOCOL_MODES).default('auto').describe('MCP era to speak: auto (server/discover, then 2025 initialize) | modern (2026-07-28 only) | legacy (2025 initialize only).'),
    latency_window: z.number().int().min(1).max(1000).default(20).describe('Probes over which p95 latency is judged against thresholds.'),
    credential_expiry_warning: duration
      .default('24h')
      .describe('A credential_expiring alert is raised this long before a server\'s credential expires, where its expiry is known (a bearer token or token_file that is a JWT with `exp`).'),
    drift_alert_interval: durationOrOff
      .default('10m')
      .describe('At most one schema_drift alert per server in this interval, and one more for each change worse than those alerted (a breaking change after a compatible one): later changes are counted (`details.suppressed_changes`) into the next alert. 0s: an alert for every change.'),
    thresholds: thresholds.default({}).describe('Default latency thresholds for every server.'),
    traffic: z
      .object({
        error_rate: errorRate.default(0.2).describe(trafficJudging.error_rate),
        window: duration.default('5m').describe(trafficJudging.window),
        min_calls: z.number().int().min(1).default(20).describe(trafficJudging.min_calls),
      })
      .strict()
      .default({})
      .describe('How every server\'s traffic error rate is judged (docs/traffic.md); `servers[].traffic` overrides it per server.'),
  })
  .strict();

const alertEvents = z
  .array(z.enum(ALERT_EVENTS))
  .min(1)
  .optional()
  .describe(`Only these events (default: all): ${ALERT_EVENTS.join(', ')}.`);

/** Which HA replicas of a shard send through a notifier (`sharding.replica`; docs/deployment.md). */
export const ALERT_REPLICAS = ['all', 'first'] as const;

const alertReplicas = z
  .enum(ALERT_REPLICAS)
  .optional()
  .describe('all (the default) | first: with `first` only the agent whose `sharding.replica` is 0 sends through this notifier, so a Slack channel or webhook behind two HA replicas is paged once (Alertmanager deduplicates by itself: keep it `all`).');

const retrySchema = z
  .object({
    max_attempts: z.number().int().min(1).max(20).default(5).describe('Delivery attempts before an alert is counted as failed.'),
    initial_backoff: timerDuration.default('1s').describe('Wait before the first retry; doubles each time. At most max_backoff.'),
    max_backoff: timerDuration.default('30s').describe('Longest wait between retries.'),
  })
  .strict();

const alertSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stdout'), events: alertEvents, replicas: alertReplicas }).strict(),
  z
    .object({
      type: z.literal('webhook'),
      events: alertEvents,
      replicas: alertReplicas,
      url: webhookUrl.describe('Receives a JSON POST per event.'),
      secret: z.string().min(1).optional().describe('Shared secret: the body is signed with HMAC-SHA256 in X-Mcpwatch-Signature.'),
      headers: httpHeaders.default({}).describe('Extra request headers.'),
      timeout: timerDuration.default('5s').describe('Deadline for one delivery attempt.'),
      retry: retrySchema.default({}),
    })
    .strict(),
  z
    .object({
      type: z.literal('slack'),
      events: alertEvents,
      replicas: alertReplicas,
      webhook_url: webhookUrl.describe('Slack incoming-webhook URL.'),
      timeout: timerDuration.default('5s').describe('Deadline for one delivery attempt.'),
      retry: retrySchema.default({}),
    })
    .strict(),
  z
    .object({
      type: z.literal('alertmanager'),
      events: alertEvents,
      replicas: alertReplicas,
      url: httpUrl.describe('Alertmanager base URL, e.g. http://alertmanager:9093; alerts go to <url>/api/v2/alerts.'),
      basic_auth: z
        .object({ username: z.string().min(1).describe('Basic-auth user.'), password: z.string().min(1).describe('Basic-auth password.') })
        .strict()
        .optional()
        .describe('HTTP basic authentication (not with bearer_token).'),
      bearer_token: z.string().min(1).optional().describe('Sent as Authorization: Bearer (not with basic_auth).'),
      tls: tls.optional().describe('https: CA, client certificate, insecure_skip_verify.'),
      labels: z
        .record(
          // Alertmanager refuses the whole alert over one name it cannot take (HTTP 400 "invalid label
          // set"), so every page through this notifier would be lost at run time. Since 0.27 it takes
          // any other name by default (alertLabelWarnings).
          z.string().refine((name) => name !== '', { message: 'an empty label name: Alertmanager refuses every alert that has one' }),
          z.string(),
        )
        .default({})
        .describe('Static labels added to every alert (alertname, mcp_server_name, mcp_transport, severity and mcp_tag_* win). Names of letters, digits and _, not starting with a digit nor with __, are taken by every Alertmanager; another name (`team-name`) only by Alertmanager 0.27 and later not in classic mode (a warning says so).'),
      resend_interval: timerDuration.default('1m').describe('Active alerts are posted again this often, with endsAt 4 intervals ahead.'),
      timeout: timerDuration.default('5s').describe('Deadline for one delivery attempt.'),
      retry: retrySchema.default({}),
    })
    .strict(),
]);

export type AlertConfig = z.output<typeof alertSchema>;

/** `host:port`, `[::1]:port` or `:port` (all interfaces), as the Collector writes endpoints. */
const listenEndpoint = z.string().superRefine((text, ctx) => {
  if (!parseListen(text)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be host:port, e.g. 127.0.0.1:4317 or 0.0.0.0:4317 (got "${text}")` });
});

export function parseListen(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

const clientTls = z
  .object({
    insecure: z.boolean().default(false).describe('gRPC: plain text (no TLS), e.g. for a Collector on localhost, as an http:// endpoint is; the certificate files are then not read (a warning says so). Over http/protobuf the endpoint\'s scheme alone decides, and this does nothing (a warning says so).'),
    ca_file: z.string().optional().describe('PEM CA bundle that signs the backend certificate.'),
    cert_file: z.string().optional().describe('Client certificate (PEM) for mutual TLS.'),
    key_file: z.string().optional().describe('Client key (PEM) for mutual TLS.'),
    insecure_skip_verify: z.boolean().default(false).describe('Accept any certificate: neither its chain nor the name it was issued for is checked. Never in production. Nothing to skip on a plain-text connection (a warning says so).'),
  })
  .strict();

const serverTls = z
  .object({
    cert_file: z.string().describe('Server certificate (PEM).'),
    key_file: z.string().describe('Server key (PEM).'),
    client_ca_file: z.string().optional().describe('When set, clients must present a certificate signed by this CA (mTLS).'),
  })
  .strict();

const receiverAuth = z
  .object({ bearer_token: z.string().min(1).describe('Requests must send Authorization: Bearer <token>.') })
  .strict();

const otlpProtocolReceiver = (defaultEndpoint: string) =>
  z
    .object({
      endpoint: listenEndpoint.default(defaultEndpoint).describe('Listen address (host:port).'),
      max_recv_msg_size_mib: z.number().positive().max(256).default(4).describe('Largest request accepted, also after gunzip.'),
      auth: receiverAuth.optional(),
      tls: serverTls.optional(),
    })
    .strict();

const receiversSchema = z
  .object({
    otlp: z
      .object({
        grpc: otlpProtocolReceiver('127.0.0.1:4317').nullable().default({}).describe('OTLP/gRPC receiver; null disables it.'),
        http: otlpProtocolReceiver('127.0.0.1:4318').nullable().default({}).describe('OTLP/HTTP receiver; null disables it.'),
        max_in_flight_mib: z.number().int().positive().default(64).describe('Bytes of OTLP requests being read or handled at once, across both protocols; past it a request is refused (UNAVAILABLE / 503 + Retry-After). An HTTP request counts the bytes read so far, and its decompressed bytes as they are inflated: one whose declared length does not fit is refused before it is read, one that outgrows the room while it is read then. A gRPC call counts as its largest message until answered.'),
        limit_mib: z.number().int().positive().default(256).describe('JavaScript heap in use plus the bytes of OTLP requests in flight (MiB) above which requests are refused (UNAVAILABLE / 503 + Retry-After); not RSS, which stays up after a burst. Accepting resumes once it is back under.'),
        max_tools_per_server: z.number().int().positive().default(200).describe('Distinct tool names per server in metric labels; the rest become _other.'),
        server_span_wait: timerDuration
          .default('10s')
          .describe('How long an MCP server\'s own span of a call (kind SERVER) waits for the calling client\'s span, which is the one counted when both come; a server span whose client\'s does not come within it is then matched within its trace (a client span of the same call between HTTP spans) or counted alone (docs/traffic.md, One call, several spans).'),
        max_concurrent_streams: z.number().int().min(1).max(1000).default(16).describe('gRPC: calls one connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).'),
        max_connection_idle: timerDuration.default('5m').describe('gRPC: a connection without calls for this long is closed (GOAWAY).'),
        max_connection_age: timerDuration.default('30m').describe('gRPC: a connection is closed after this long (GOAWAY, 30 s grace for calls in flight), so no client holds one for ever.'),
      })
      .strict()
      .nullable()
      .default({})
      .describe('The passive OTLP receiver; null disables it.'),
  })
  .strict();

const exportersSchema = z
  .object({
    prometheus: z
      .object({ endpoint: listenEndpoint.default('127.0.0.1:9464').describe('Where /metrics is served (host:port).') })
      .strict()
      .nullable()
      .default({})
      .describe('Prometheus scrape endpoint; null disables it.'),
    otlp: z
      .object({
        endpoint: httpUrl.describe('Backend URL, e.g. http://collector:4317 (grpc) or http://collector:4318 (http).'),
        protocol: z.enum(['grpc', 'http/protobuf']).default('grpc').describe('grpc | http/protobuf'),
        headers: httpHeaders.default({}).describe('Sent with every export (API keys).'),
        compression: z.enum(['gzip', 'none']).default('gzip').describe('gzip (the Collector exporters\' default) or none, for everything sent: forwarded traffic, metrics, probe spans.'),
        tls: clientTls.default({}),
        interval: timerDuration.default('15s').describe('Metric export interval.'),
        timeout: timerDuration.default('10s').describe('Deadline for one export request.'),
        queue_size_mib: z.number().positive().default(64).describe('Bytes of forwarded OTLP data held while the backend is slow or down.'),
      })
      .strict()
      .optional()
      .describe('OTLP backend for metrics, probe spans and forwarded traffic.'),
  })
  .strict();

/**
 * A whole number written as such or as text: `${env:SHARD}` expands to a string. Anything else
 * (1.5, "two", -1) is refused with the value quoted.
 */
const wholeNumber = z.unknown().transform((v, ctx) => {
  if (v === undefined || v === null) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'is required' });
    return z.NEVER;
  }
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a whole number (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return n;
});

const podOrdinal = z.unknown().transform((v, ctx) => {
  const n = typeof v === 'number' || typeof v === 'string' ? parseOrdinal(String(v)) : undefined;
  if (n === undefined) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a pod ordinal: a whole number, or a pod name ending in -N such as mcpwatch-3 (got ${JSON.stringify(v)})` });
    return z.NEVER;
  }
  return n;
});

const shardingFields = z
  .object({
    // Optional only in form (the check below requires it): `.optional()` keeps wholeNumber's identity,
    // which the generated reference reads its type from.
    shards: wholeNumber.optional().describe('How many shards the servers are split into (at least 1). Every agent of the fleet must say the same.'),
    shard: wholeNumber
      .optional()
      .describe('This agent\'s shard, 0 to shards − 1, e.g. "${env:SHARD}". It probes the servers whose name hashes to it (docs/deployment.md). Give shard or ordinal.'),
    ordinal: podOrdinal
      .optional()
      .describe('A StatefulSet pod\'s ordinal, or its name ending in -N, e.g. "${env:POD_NAME}": shard = ordinal mod shards, replica = ordinal div shards. Instead of shard and replica.'),
    replica: wholeNumber
      .optional()
      .describe('Which high-availability replica of its shard this agent is (default 0): notifiers with `replicas: first` send only from replica 0. Derived from ordinal when that is given.'),
  })
  .strict();

/**
 * `sharding` checked for its shape only (a mapping of its own keys): what a command that ignores
 * sharding (health without --shard) asks of it, so an unset `${env:POD_NAME}` does not stop it.
 */
export const shardingShape = z.object(Object.fromEntries(Object.keys(shardingFields.shape).map((k) => [k, z.unknown()]))).strict().optional();

const shardingSchema = shardingFields
  .superRefine((s, ctx) => {
    const issue = (path: string, message: string): void => ctx.addIssue({ code: z.ZodIssueCode.custom, path: [path], message });
    if (s.shards === undefined) return issue('shards', 'is required');
    if (s.shards < 1) issue('shards', `must be at least 1 (got ${s.shards})`);
    if (s.shard === undefined && s.ordinal === undefined) issue('shard', 'is required: give this agent\'s shard (0 to shards − 1), or ordinal (a StatefulSet pod\'s ordinal or name)');
    if (s.shard !== undefined && s.ordinal !== undefined) issue('ordinal', 'give shard or ordinal, not both (shard = ordinal mod shards)');
    if (s.replica !== undefined && s.ordinal !== undefined) issue('replica', 'is derived from ordinal (ordinal div shards): give one or the other');
    if (s.shard !== undefined && s.shards >= 1 && s.shard >= s.shards) {
      issue('shard', `must be less than shards (${s.shards}): shards are numbered 0 to ${s.shards - 1} (got ${s.shard})`);
    }
  })
  .transform((s): Sharding => {
    // superRefine has refused a missing shards.
    const shards = s.shards!;
    if (s.ordinal !== undefined) return { shards, ...fromOrdinal(s.ordinal, shards) };
    return { shards, shard: s.shard!, replica: s.replica ?? 0 };
  });

/**
 * Two of the agent's own listeners on one address: the second cannot bind, and the agent stops at
 * start-up. Said by validate too. Port 0 (any free port) never collides.
 */
function listenerIssues(c: {
  receivers: { otlp: { grpc: { endpoint: string } | null; http: { endpoint: string } | null } | null };
  exporters: { prometheus: { endpoint: string } | null };
  health: { endpoint: string };
}): CrossIssue[] {
  const listeners: Array<{ path: string[]; endpoint: string }> = [];
  if (c.receivers.otlp?.grpc) listeners.push({ path: ['receivers', 'otlp', 'grpc', 'endpoint'], endpoint: c.receivers.otlp.grpc.endpoint });
  if (c.receivers.otlp?.http) listeners.push({ path: ['receivers', 'otlp', 'http', 'endpoint'], endpoint: c.receivers.otlp.http.endpoint });
  if (c.exporters.prometheus) listeners.push({ path: ['exporters', 'prometheus', 'endpoint'], endpoint: c.exporters.prometheus.endpoint });
  listeners.push({ path: ['health', 'endpoint'], endpoint: c.health.endpoint });
  const wildcard = (host: string): boolean => host === '0.0.0.0' || host === '::';
  const issues: CrossIssue[] = [];
  listeners.forEach((l, i) => {
    const a = parseListen(l.endpoint);
    if (!a || a.port === 0) return;
    const clash = listeners.slice(0, i).find((o) => {
      const b = parseListen(o.endpoint);
      return b !== undefined && b.port === a.port && (b.host === a.host || wildcard(a.host) || wildcard(b.host));
    });
    if (clash) issues.push({ path: l.path, message: `${l.endpoint} is also ${clash.path.join('.')} (${clash.endpoint}): two listeners cannot share a port; give each its own` });
  });
  return issues;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * Top-level sections that were removed. A file that still has one is accepted, with a warning that
 * says what replaces it, rather than refused as an unknown key: the section only ever tuned the
 * process, so an agent upgraded under an old configuration (the chart's and manifests' earlier
 * defaults had it) must keep running.
 */
export const REMOVED_KEYS: Readonly<Record<string, string>> = {
  runtime:
    'removed and ignored: mcpwatch runs on V8\'s defaults. To bound its memory, set NODE_OPTIONS at start-up ' +
    '(e.g. NODE_OPTIONS="--max-old-space-size=256 --max-semi-space-size=4"; docs/deployment.md)',
};

export const configSchema = z
  .object({
    monitoring: monitoringSchema.default({}),
    servers: z.array(serverSchema).default([]).describe('The MCP servers to probe. A reload (SIGHUP) into a file without this key keeps the running servers: removing them all needs `servers: []`.'),
    alerts: z.array(alertSchema).default([{ type: 'stdout' }]).describe('Notifiers; default: stdout only.'),
    receivers: receiversSchema.default({}),
    exporters: exportersSchema.default({}),
    health: z
      .object({ endpoint: listenEndpoint.default('127.0.0.1:13133').describe('Serves /healthz, /readyz and the live view GET /api/v1/servers (what `mcpwatch health --from` reads).') })
      .strict()
      .default({}),
    state: z
      .object({
        path: z.string().min(1).default('./.mcpwatch/state.db').describe('SQLite file for snapshots, incidents, availability, and each server\'s state and alerts across restarts.'),
        retention: duration.default('8d').describe('How long probe aggregates, incidents and drift events are kept. Also capped per server: the last 20 tool-list snapshots and 200 drift events.'),
        resume_within: duration
          .default('1h')
          .describe(
            'After a restart, each server goes on from its state in the file (an open incident is not alerted or counted again) when the last agent checked it within this long; a server last seen failing longer ago starts a new incident.',
          ),
      })
      .strict()
      .default({}),
    blast_radius: z
      .object({
        window: duration.default('24h').describe('Window over which the agents calling each server are counted (in 24 buckets: a call counts for 23/24 to 24/24 of it).'),
        max_agents_per_server: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(20)
          .describe('Agents listed per server in alerts and /api/v1/servers, and `mcp.agent.name` values per server in metrics; the rest are counted as others (`_other`). Four times as many are tracked.'),
      })
      .strict()
      .default({})
      .describe('Which agents (the OTLP sender\'s service.name, service.namespace, k8s.namespace.name, k8s.deployment.name) call each server, learned from traffic and kept in the state file.'),
    log: z
      .object({ level: z.enum(LOG_LEVELS).default('info').describe('debug | info | warn | error') })
      .strict()
      .default({}),
    sharding: shardingSchema
      .optional()
      .describe('Split the servers among several agents, as Prometheus hashmod does: each probes only its shard\'s servers and labels every series `shard`. Unset: this agent probes every server and no series has a shard label.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    // serverSchema has reported the rest of configIssues() server by server.
    for (const issue of [...configIssues(c).filter((i) => i.path[2] === 'name'), ...inheritedIssues(c)]) ctx.addIssue({ code: z.ZodIssueCode.custom, path: issue.path, message: issue.message });
    for (const issue of listenerIssues(c)) ctx.addIssue({ code: z.ZodIssueCode.custom, path: issue.path, message: issue.message });
    c.alerts.forEach((a, i) => {
      if (a.type === 'alertmanager' && a.basic_auth && a.bearer_token) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['alerts', i, 'bearer_token'], message: 'set basic_auth or bearer_token, not both' });
      }
      // Waits double from initial_backoff up to max_backoff: one above the other would never be waited.
      if ('retry' in a && a.retry.initial_backoff > a.retry.max_backoff) {
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['alerts', i, 'retry', 'initial_backoff'],
          message: `${durationText(a.retry.initial_backoff)} is longer than max_backoff ${durationText(a.retry.max_backoff)}: every retry would wait max_backoff; raise max_backoff or lower initial_backoff`,
        });
      }
    });
  });

export type Config = z.output<typeof configSchema>;

/**
 * Accepted, but worth saying: a probe `timeout` longer than its `interval` (per server and per
 * check). Prometheus refuses scrape_timeout > scrape_interval because its scrapes overlap; mcpwatch
 * runs a server's probes one after the other (probe/scheduler.ts), so the configuration works, but a
 * server that does not answer is probed every timeout + interval, not every interval. Tests and
 * fast-cadence setups want exactly that (a short interval, a generous deadline), so it is a warning.
 */
export function cadenceWarnings(config: Config): CrossIssue[] {
  const out: CrossIssue[] = [];
  const say = (timeout: number, interval: number, what: string): string =>
    `${what}timeout ${durationText(timeout)} is longer than ${what ? 'its ' : ''}interval ${durationText(interval)}: probes do not overlap, so one that gets no answer is repeated every ${durationText(timeout + interval)} (timeout + interval), not every ${durationText(interval)}`;
  const m = config.monitoring;
  if (m.timeout > m.interval) out.push({ path: ['monitoring', 'timeout'], message: say(m.timeout, m.interval, '') });
  config.servers.forEach((s, i) => {
    const interval = s.interval ?? m.interval;
    const timeout = s.timeout ?? m.timeout;
    const name = `server ${JSON.stringify(s.name)}: `;
    // A server that sets neither has been covered by the monitoring warning.
    if ((s.interval !== undefined || s.timeout !== undefined) && timeout > interval) {
      out.push({ path: ['servers', i, s.timeout !== undefined ? 'timeout' : 'interval'], message: say(timeout, interval, name) });
    }
    s.checks.forEach((c, j) => {
      const ci = c.interval ?? interval;
      const ct = c.timeout ?? timeout;
      if ((c.interval !== undefined || c.timeout !== undefined) && ct > ci) {
        out.push({ path: ['servers', i, 'checks', j, c.timeout !== undefined ? 'timeout' : 'interval'], message: say(ct, ci, `${name}check ${JSON.stringify(checkName(c)?.name)}: `) });
      }
    });
  });
  return out;
}
/**
 * Alertmanager labels whose names only a UTF-8 Alertmanager takes (0.27 and later, unless started
 * with classic-mode): an earlier one refuses every alert over such a name (HTTP 400 "invalid label
 * set"). Said, not refused: the configuration is right for the Alertmanager most run today.
 */
export function alertLabelWarnings(config: Config): CrossIssue[] {
  const out: CrossIssue[] = [];
  config.alerts.forEach((a, i) => {
    if (a.type !== 'alertmanager') return;
    for (const name of Object.keys(a.labels)) {
      if (ALERT_LABEL_NAME.test(name) && !name.startsWith('__')) continue;
      out.push({
        path: ['alerts', i, 'labels', name],
        message: `${JSON.stringify(name)} is a label name only Alertmanager 0.27 and later take (not in classic mode); an earlier one refuses every alert (HTTP 400 invalid label set). Letters, digits and _, not starting with a digit nor with __, suit every version${alertLabelHint(name)}`,
      });
    }
  });
  return out;
}
/**
 * A tag a server lists twice: a slip (a merge, a copy) that changes no label, so said, as
 * cadenceWarnings, and not refused: a file with one ran before the rule and must still start.
 */
export function tagWarnings(config: Config): CrossIssue[] {
  const out: CrossIssue[] = [];
  config.servers.forEach((s, i) => {
    s.tags.forEach((tag, j) => {
      const at = s.tags.indexOf(tag);
      if (at < j) out.push({ path: ['servers', i, 'tags', j], message: `tags[${at}] and tags[${j}] are both ${JSON.stringify(tag)}: keep one` });
    });
  });
  return out;
}
/**
 * A check whose `expect.max_latency` is not below its deadline: a call that slow is cut off as a
 * timeout first, so the expectation can never be what fails. Valid, and said, as cadenceWarnings.
 */
export function expectationWarnings(config: Config): CrossIssue[] {
  const out: CrossIssue[] = [];
  config.servers.forEach((s, i) => {
    const timeout = s.timeout ?? config.monitoring.timeout;
    s.checks.forEach((c, j) => {
      const deadline = c.timeout ?? timeout;
      const max = c.expect.max_latency;
      if (max !== undefined && max >= deadline) {
        out.push({
          path: ['servers', i, 'checks', j, 'expect', 'max_latency'],
          message: `server ${JSON.stringify(s.name)}: check ${JSON.stringify(checkName(c)?.name)}: max_latency ${durationText(max)} is not shorter than its timeout ${durationText(deadline)}: a call that slow fails as a timeout first, so max_latency is never what fails; lower it, or raise the check's timeout`,
        });
      }
    });
  });
  return out;
}
/**
 * `exporters.otlp.tls` switches that the connection does not use (export/ and wire/tls.ts decide:
 * over http/protobuf the endpoint's scheme alone chooses TLS; gRPC is plain text for an http://
 * endpoint or `insecure`). Each is valid and ignored, which reads as if it did something: said, as
 * cadenceWarnings.
 */
export function exporterWarnings(config: Config): CrossIssue[] {
  const otlp = config.exporters.otlp;
  if (!otlp) return [];
  const https = /^https:/i.test(otlp.endpoint.trim());
  const out: CrossIssue[] = [];
  if (otlp.protocol === 'http/protobuf' && otlp.tls.insecure) {
    out.push({
      path: ['exporters', 'otlp', 'tls', 'insecure'],
      message: https
        ? 'has no effect over http/protobuf: the https:// endpoint is TLS all the same (for plain text write http://; to accept any certificate, tls.insecure_skip_verify)'
        : 'has no effect over http/protobuf: the http:// endpoint is plain text already',
    });
  }
  const plain = otlp.protocol === 'http/protobuf' ? !https : !https || otlp.tls.insecure;
  if (plain && otlp.tls.insecure_skip_verify) {
    out.push({ path: ['exporters', 'otlp', 'tls', 'insecure_skip_verify'], message: 'has no effect: exports go in plain text, with no certificate to verify' });
  }
  return out;
}
type ServerConfigRaw = z.output<typeof serverSchema>;
export type Thresholds = z.output<typeof thresholds>;
export type TlsConfig = z.output<typeof tls>;
export type CheckConfigRaw = z.output<typeof checkSchema>;
export type CheckFailureState = (typeof CHECK_FAILURE_STATES)[number];

/** The MCP request a configured check makes. */
export type CheckMethod = 'tools/call' | 'resources/read' | 'prompts/get';

/** The request a check makes and what it names (the tool or prompt name, or the resource URI). */
export function checkTarget(check: Pick<CheckConfigRaw, 'tool' | 'resource' | 'prompt'>): { method: CheckMethod; target: string } {
  if (check.tool !== undefined) return { method: 'tools/call', target: check.tool };
  if (check.resource !== undefined) return { method: 'resources/read', target: check.resource };
  return { method: 'prompts/get', target: check.prompt ?? '' };
}

/** A check with the server's defaults applied: what probes and the scheduler consume. */
export interface CheckConfig extends Omit<CheckConfigRaw, 'name' | 'interval' | 'timeout'> {
  name: string;
  interval: number;
  timeout: number;
}

/** A server with every default from `monitoring` applied: what probes and the scheduler consume. */
/** A server's traffic settings with `monitoring.traffic` applied. */
export interface ServerTraffic {
  service_names: string[];
  hosts: string[];
  error_rate: number | null;
  window: number;
  min_calls: number;
}

/** One reason a server's configuration cannot be used: the key (`servers[1].headers.Authorization`), its line, and the unset variable. */
export interface ConfigProblem {
  key: string;
  line?: number;
  variable: string;
}

export interface ServerConfig extends Omit<ServerConfigRaw, 'thresholds' | 'timeout' | 'start_timeout' | 'interval' | 'fresh_connection' | 'stale_after' | 'consecutive_failures_before_down' | 'recovery_hold' | 'protocol' | 'checks' | 'traffic'> {
  /** Attribution hints and error-rate judging (resolveServer fills it; absent means the defaults). */
  traffic?: ServerTraffic;
  /** Synthetic checks run after tools/list (none when absent). */
  checks?: CheckConfig[];
  thresholds: Thresholds;
  /** Legacy SSE always speaks the 2025 protocol, whatever the default says. */
  protocol: ProtocolMode;
  timeout: number;
  /** Why this server cannot be probed as configured (an unset `${env:…}`: config/load.ts). */
  config_error?: string;
  /** What config_error says, one entry per key, for the log's fields: each unset variable, where. */
  config_problems?: ConfigProblem[];
  /**
   * What `${env:…}` references put into the settings that carry credentials (env, headers, args, url,
   * auth secrets, check arguments): config/load.ts fills it, config/secrets.ts counts it among the
   * server's secrets.
   */
  referenced_secrets?: string[];
  /** stdio: spawn through the first answer (pipeline/start.ts); unset means `timeout`. */
  start_timeout?: number;
  interval: number;
  fresh_connection?: boolean;
  stale_after?: number;
  consecutive_failures_before_down?: number;
  recovery_hold?: number;
}

export function resolveServer(cfg: Config, s: ServerConfigRaw): ServerConfig {
  const interval = s.interval ?? cfg.monitoring.interval;
  const timeout = s.timeout ?? cfg.monitoring.timeout;
  return merged<ServerConfig>(s, {
    // A check the schema let through without a name calls something that can name it.
    checks: s.checks.map((c) => merged<CheckConfig>(c, { name: checkName(c)?.name ?? '', interval: c.interval ?? interval, timeout: c.timeout ?? timeout })),
    thresholds: merged(cfg.monitoring.thresholds, stripUndefined(s.thresholds ?? {})),
    timeout,
    start_timeout: s.start_timeout ?? cfg.monitoring.start_timeout,
    interval,
    fresh_connection: s.fresh_connection ?? cfg.monitoring.fresh_connection,
    stale_after: s.stale_after ?? cfg.monitoring.stale_after,
    consecutive_failures_before_down: s.consecutive_failures_before_down ?? cfg.monitoring.consecutive_failures_before_down,
    recovery_hold: s.recovery_hold ?? cfg.monitoring.recovery_hold,
    protocol: s.transport === 'sse' ? 'legacy' : (s.protocol ?? cfg.monitoring.protocol),
    traffic: merged({ service_names: [], hosts: [] }, cfg.monitoring.traffic, stripUndefined(s.traffic ?? {})),
  });
}

/**
 * `{ ...a, ...b }`, copied by assignment. Once a spread has seen objects of many shapes (servers with
 * and without tags, headers, auth), V8 gives each copy a hidden class of its own, which a server's
 * configuration keeps for the agent's life (docs/benchmarks.md, "Memory per kept server (fourteenth
 * session)"); copies assigned key by key in the same order share one.
 */
function merged<T>(...parts: object[]): T {
  const out: Record<string, unknown> = {};
  for (const part of parts) for (const [key, value] of Object.entries(part)) out[key] = value;
  return out as T;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** One documented configuration key, as walked from the schema (for docs and "did you mean"). */
interface SchemaKey {
  path: string;
  type: string;
  default: unknown;
  description: string;
}

/**
 * Walks the schema into a flat list of keys. The configuration reference in docs/configuration.md is
 * generated from this and a test holds the two together.
 */
export function schemaKeys(schema: z.ZodTypeAny = configSchema, prefix = ''): SchemaKey[] {
  const out: SchemaKey[] = [];
  const visit = (node: z.ZodTypeAny, path: string, description: string, def: unknown): void => {
    const desc = node.description ?? description;
    if (node instanceof z.ZodDefault) return visit(node._def.innerType, path, desc, node._def.defaultValue());
    if (node instanceof z.ZodOptional || node instanceof z.ZodNullable) return visit(node.unwrap(), path, desc, def);
    if (node instanceof z.ZodEffects && !LEAF_EFFECTS.has(node)) return visit(node.innerType(), path, desc, def);
    if (node instanceof z.ZodObject) {
      if (path) out.push({ path, type: 'object', default: undefined, description: desc });
      for (const [k, v] of Object.entries(node.shape as Record<string, z.ZodTypeAny>)) visit(v, path ? `${path}.${k}` : k, '', undefined);
      return;
    }
    if (node instanceof z.ZodArray) {
      const el = node.element as z.ZodTypeAny;
      if (el instanceof z.ZodObject || el instanceof z.ZodEffects || el instanceof z.ZodDiscriminatedUnion) {
        out.push({ path, type: 'list', default: def, description: desc });
        return visit(el, `${path}[]`, '', undefined);
      }
      out.push({ path, type: `list of ${typeName(el)}`, default: def, description: desc });
      return;
    }
    if (node instanceof z.ZodDiscriminatedUnion) {
      // A union that is a key of its own (servers[].auth), not a list's element (alerts[]).
      if (path && !path.endsWith('[]')) out.push({ path, type: 'object', default: undefined, description: desc });
      for (const option of node.options as z.ZodObject<z.ZodRawShape>[]) {
        const tag = (option.shape.type as z.ZodLiteral<string>).value;
        for (const [k, v] of Object.entries(option.shape as Record<string, z.ZodTypeAny>)) {
          if (k !== 'type') visit(v, `${path}.${k} (${tag})`, '', undefined);
        }
      }
      out.push({ path: `${path}.type`, type: 'enum', default: undefined, description: (node.options as z.ZodObject<z.ZodRawShape>[]).map((o) => (o.shape.type as z.ZodLiteral<string>).value).join(' | ') });
      return;
    }
    out.push({ path, type: typeName(node), default: def, description: desc });
  };
  visit(schema, prefix, '', undefined);
  return out;
}

const LEAF_EFFECTS = new Set<z.ZodTypeAny>([duration, durationOrOff, timerDuration, httpUrl, webhookUrl, listenEndpoint, wholeNumber, podOrdinal]);

function typeName(node: z.ZodTypeAny): string {
  if (node instanceof z.ZodDefault || node instanceof z.ZodOptional || node instanceof z.ZodNullable) return typeName(node._def.innerType);
  // Wrappers (.default, .optional, .describe) keep the same inner instance, so identity finds these.
  if (node === duration || node === durationOrOff || node === timerDuration) return 'duration';
  if (node === httpUrl || node === webhookUrl) return 'URL';
  if (node === listenEndpoint) return 'host:port';
  if (node === wholeNumber) return 'integer';
  if (node === podOrdinal) return 'integer or pod name';
  if (node instanceof z.ZodEffects) return typeName(node.innerType());
  if (node instanceof z.ZodString) return 'string';
  if (node instanceof z.ZodNumber) return node.isInt ? 'integer' : 'number';
  if (node instanceof z.ZodBoolean) return 'boolean';
  if (node instanceof z.ZodEnum) return (node.options as string[]).join(' | ');
  if (node instanceof z.ZodRecord) return node._def.valueType instanceof z.ZodString ? 'map of string' : 'map of JSON values';
  if (node instanceof z.ZodArray) return `list of ${typeName(node.element as z.ZodTypeAny)}`;
  return 'value';
}
