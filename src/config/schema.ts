// config/ owns the configuration file: its schema (the one source of truth for types, validation and
// the documented reference) and loading (YAML, ${env:VAR} expansion, error reporting). It must not
// probe, export or touch state: everything downstream receives an already validated `Config`.
import { z } from 'zod';
import { ALERT_EVENTS } from '../pipeline/events.js';

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `500ms`, `5s`, `2m`, `1h` into milliseconds; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/** A duration written as `500ms`, `5s`, `2m` or `1h`, validated into milliseconds. */
export const duration = z.string({ invalid_type_error: 'must be a duration such as 500ms, 5s or 2m' }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be a positive duration such as 500ms, 5s or 2m (got "${text}")` });
    return z.NEVER;
  }
  return ms;
});

const httpUrl = z.string().superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an http(s) URL (got "${text}")` });
    return;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: `must be an http(s) URL (got scheme "${url.protocol}")` });
  }
});

const thresholds = z
  .object({
    latency_warning: duration.optional().describe('Probe latency above which the server is degraded (warning).'),
    latency_critical: duration.optional().describe('Probe latency above which the server is degraded (critical).'),
  })
  .strict();

const tls = z
  .object({
    ca_file: z.string().optional().describe('PEM file with the CA that signs the server certificate.'),
    cert_file: z.string().optional().describe('Client certificate (PEM) for mutual TLS.'),
    key_file: z.string().optional().describe('Client key (PEM) for mutual TLS.'),
    insecure_skip_verify: z.boolean().default(false).describe('Accept any server certificate. Never in production.'),
  })
  .strict();

export const TRANSPORTS = ['stdio', 'sse', 'streamable_http'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

const serverFields = {
  name: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9._:\/-]+$/, 'must contain only letters, digits and . _ : / -')
    .describe('Unique name; the `mcp.server.name` label.'),
  transport: z.enum(TRANSPORTS).describe('stdio | sse | streamable_http'),
  command: z.string().min(1).optional().describe('stdio: the executable (run without a shell).'),
  args: z.array(z.string()).default([]).describe('stdio: arguments.'),
  env: z.record(z.string()).default({}).describe('stdio: extra environment variables for the child.'),
  cwd: z.string().optional().describe('stdio: working directory of the child.'),
  url: httpUrl.optional().describe('sse / streamable_http: the endpoint URL.'),
  headers: z.record(z.string()).default({}).describe('sse / streamable_http: headers sent on every request.'),
  tls: tls.optional().describe('sse / streamable_http: TLS settings.'),
  tags: z.array(z.string().min(1)).default([]).describe('Free-form tags (`critical`, `team:data`) for selection and labels.'),
  thresholds: thresholds.optional().describe('Latency thresholds; override `monitoring.thresholds`.'),
  timeout: duration.optional().describe('Deadline for one whole probe; overrides `monitoring.timeout`.'),
  interval: duration.optional().describe('Probe interval for `mcpwatch run`; overrides `monitoring.interval`.'),
};

const serverSchema = z
  .object(serverFields)
  .strict()
  .superRefine((s, ctx) => {
    if (s.transport === 'stdio') {
      if (!s.command) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['command'], message: 'is required for a stdio server' });
      if (s.url) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['url'], message: 'is not used by a stdio server (did you mean transport: streamable_http?)' });
    } else {
      if (!s.url) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['url'], message: `is required for a ${s.transport} server and must be an http(s) URL` });
      if (s.command) ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['command'], message: `is not used by a ${s.transport} server (did you mean transport: stdio?)` });
    }
  });

const monitoringSchema = z
  .object({
    interval: duration.default('30s').describe('How often `mcpwatch run` probes each server.'),
    timeout: duration.default('5s').describe('Deadline for one whole probe (connect, initialize, tools/list).'),
    consecutive_failures_before_down: z.number().int().min(1).default(3).describe('Failures in a row before a server is down.'),
    concurrency: z.number().int().min(1).max(1024).default(32).describe('Probes in flight at once.'),
    max_tool_pages: z.number().int().min(1).default(50).describe('Cap on tools/list pages per probe.'),
    thresholds: thresholds.default({}).describe('Default latency thresholds for every server.'),
  })
  .strict();

const alertEvents = z
  .array(z.enum(ALERT_EVENTS))
  .min(1)
  .optional()
  .describe(`Only these events (default: all): ${ALERT_EVENTS.join(', ')}.`);

const retrySchema = z
  .object({
    max_attempts: z.number().int().min(1).max(20).default(5).describe('Delivery attempts before an alert is counted as failed.'),
    initial_backoff: duration.default('1s').describe('Wait before the first retry; doubles each time.'),
    max_backoff: duration.default('30s').describe('Longest wait between retries.'),
  })
  .strict();

const alertSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('stdout'), events: alertEvents }).strict(),
  z
    .object({
      type: z.literal('webhook'),
      events: alertEvents,
      url: httpUrl.describe('Receives a JSON POST per event.'),
      secret: z.string().min(1).optional().describe('Shared secret: the body is signed with HMAC-SHA256 in X-Mcpwatch-Signature.'),
      headers: z.record(z.string()).default({}).describe('Extra request headers.'),
      timeout: duration.default('5s').describe('Deadline for one delivery attempt.'),
      retry: retrySchema.default({}),
    })
    .strict(),
  z
    .object({
      type: z.literal('slack'),
      events: alertEvents,
      webhook_url: httpUrl.describe('Slack incoming-webhook URL.'),
      timeout: duration.default('5s').describe('Deadline for one delivery attempt.'),
      retry: retrySchema.default({}),
    })
    .strict(),
]);

export type AlertConfig = z.output<typeof alertSchema>;

export const configSchema = z
  .object({
    monitoring: monitoringSchema.default({}),
    servers: z.array(serverSchema).default([]),
    alerts: z.array(alertSchema).default([{ type: 'stdout' }]).describe('Notifiers; default: stdout only.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Map<string, number>();
    c.servers.forEach((s, i) => {
      const first = seen.get(s.name);
      if (first !== undefined) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['servers', i, 'name'], message: `duplicate server name "${s.name}" (first used by servers[${first}])` });
      } else {
        seen.set(s.name, i);
      }
    });
  });

export type Config = z.output<typeof configSchema>;
export type ServerConfigRaw = z.output<typeof serverSchema>;
export type Thresholds = z.output<typeof thresholds>;
export type TlsConfig = z.output<typeof tls>;

/** A server with every default from `monitoring` applied: what probes and the scheduler consume. */
export interface ServerConfig extends Omit<ServerConfigRaw, 'thresholds' | 'timeout' | 'interval'> {
  thresholds: Thresholds;
  timeout: number;
  interval: number;
}

export function resolveServer(cfg: Config, s: ServerConfigRaw): ServerConfig {
  return {
    ...s,
    thresholds: { ...cfg.monitoring.thresholds, ...stripUndefined(s.thresholds ?? {}) },
    timeout: s.timeout ?? cfg.monitoring.timeout,
    interval: s.interval ?? cfg.monitoring.interval,
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
