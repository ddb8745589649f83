// Alertmanager: mcpwatch's events posted as alerts to the v2 API (POST <url>/api/v2/alerts), so the
// user's routing, grouping, silences and inhibition apply within seconds, without waiting for a
// Prometheus scrape and rule evaluation.
//
// A state event (down, degraded, stale) opens an alert that stays active: it is re-posted every
// `resend_interval` with endsAt four intervals ahead (as Prometheus does), so if mcpwatch dies the
// alert resolves by itself and McpwatchAbsent takes over. `recovered` (or the next state) resolves
// it with endsAt = now; the same state for another cause (timeouts, then connection refused) is no
// new alert, only new annotations from the next re-post on (Notifier.revise). One-off events (latency_spike, session_expired, schema_drift) are posted
// once and end on their own after ONE_OFF_MS. A server the configuration no longer names has its
// alerts resolved the same way (`forget`), without an event: nothing recovered.
import { Agent, fetch as undiciFetch } from 'undici';
import type { AlertEvent } from '../../pipeline/events.js';
import { clientTlsOptions } from '../../wire/tls.js';
import { prometheusLabelName, tagAttribute } from '../../config/tags.js';
import { affectedLine } from './format.js';
import { httpNotifierBase, postJson, USER_AGENT, type FetchLike } from './http.js';
import { DeliveryError, type Notifier, type RetryPolicy } from './types.js';

export interface AlertmanagerSettings {
  url: string;
  basic_auth?: { username: string; password: string } | undefined;
  bearer_token?: string | undefined;
  tls?: { ca_file?: string | undefined; cert_file?: string | undefined; key_file?: string | undefined; insecure_skip_verify: boolean } | undefined;
  labels: Record<string, string>;
  resend_interval: number;
  timeout: number;
  retry: RetryPolicy;
  events?: readonly string[] | undefined;
}

/** A postable alert of the v2 API. */
export interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
}

/** How long a one-off event stays firing: the window of the matching Prometheus rules. */
export const ONE_OFF_MS = 15 * 60_000;
/** Active alerts are posted with endsAt this many resend intervals ahead. */
export const RESEND_MARGIN = 4;

const STATE_ALERTS: Readonly<Partial<Record<AlertEvent['event'], string>>> = { down: 'McpServerDown', degraded: 'McpServerDegraded', stale: 'McpServerStale' };
const ONE_OFF_ALERTS: Readonly<Partial<Record<AlertEvent['event'], string>>> = {
  latency_spike: 'McpServerLatencySpike',
  session_expired: 'McpServerSessionExpired',
  credential_expiring: 'McpServerCredentialExpiring',
};

/** The alert name of an event; undefined for `recovered`, which only resolves. */
export function alertName(event: Pick<AlertEvent, 'event' | 'severity'>): string | undefined {
  if (event.event === 'schema_drift') return event.severity === 'critical' ? 'McpServerSchemaBreakingChange' : 'McpServerSchemaChange';
  // A failing check sets the server's state (critical: on_failure down), and its recovery resolves it.
  if (event.event === 'check_failed') return event.severity === 'critical' ? 'McpServerDown' : 'McpServerDegraded';
  // Failing traffic degrades the server like a failing check; its `recovered` resolves it.
  if (event.event === 'traffic_errors') return 'McpServerDegraded';
  return STATE_ALERTS[event.event] ?? ONE_OFF_ALERTS[event.event];
}

/**
 * Stable labels: the ones the metrics carry (mcp_server_name, mcp_transport, one mcp_tag_<key> per
 * tag, as `team:data` → mcp_tag_team="data" and `critical` → mcp_tag_critical="true"), alertname
 * and severity, plus the configured static labels (which cannot override them).
 */
export function alertLabels(event: AlertEvent, name: string, extra: Record<string, string> = {}): Record<string, string> {
  const labels: Record<string, string> = { ...extra };
  for (const tag of event.tags) {
    const { key, value } = tagAttribute(tag);
    labels[prometheusLabelName(key)] = value;
  }
  return { ...labels, alertname: name, mcp_server_name: event.server, mcp_transport: event.transport, severity: event.severity };
}

const SUMMARIES: Readonly<Record<AlertEvent['event'], string>> = {
  down: 'is down',
  recovered: 'recovered',
  degraded: 'is degraded',
  stale: 'is stale',
  latency_spike: 'had a latency spike',
  session_expired: 'forgot a session',
  schema_drift: 'changed its tool schemas',
  check_failed: 'fails a configured check',
  credential_expiring: 'has a credential about to expire',
  traffic_errors: 'fails for its callers (traffic error rate over the threshold)',
};

/** As the Prometheus rules word them: a summary naming the server, the event's own line as description. */
function annotations(event: AlertEvent): Record<string, string> {
  const drift = event.details.summary;
  const out: Record<string, string> = {
    summary: `MCP server ${event.server} ${SUMMARIES[event.event]}`,
    description: typeof drift === 'string' ? `${event.message}\n${drift}` : event.message,
    mcpwatch_event: event.event,
  };
  const errorType = event.details.error_type;
  if (typeof errorType === 'string') out.error_type = errorType;
  // The same annotation the Prometheus rules fill from mcpwatch_traffic_agent_calls_total. The alert is
  // re-posted as it is while it lasts (and taken up again after a restart), so its last calls are
  // said as times, not as a distance from the event.
  const affected = affectedLine(event, 'absolute');
  if (affected) out.affected_agents = affected.replace(/^affected: /, '');
  return out;
}

/**
 * When a state alert began: when the server entered that state, as a Prometheus rule's alert does.
 * From up (or a catch-up, which tells of a state entered before mcpwatch started or the notifier was
 * added), that is when the incident began (the first failure of the streak); from another bad state,
 * when this event moved it on: a McpServerDown after a degraded spell read "since" that spell
 * (flowsB). The same alert posted again keeps its start.
 */
function alertStart(event: AlertEvent, posted: AmAlert | undefined): string {
  if (posted) return posted.startsAt;
  const fromBad = event.previous_state !== 'up' && event.previous_state !== 'unknown' && event.previous_state !== event.current_state;
  return fromBad ? event.timestamp : (event.incident_started_at ?? event.timestamp);
}

/** Active state alerts, by server then alert name. */
export type ActiveAlerts = Map<string, Map<string, AmAlert>>;

/**
 * What to post for `event`, and the change to `active` (mutated): pure apart from that map, so it
 * is tested row by row. Resolved alerts are posted with endsAt = now.
 */
export function alertsFor(event: AlertEvent, active: ActiveAlerts, nowMs: number, settings: Pick<AlertmanagerSettings, 'labels' | 'resend_interval'>): AmAlert[] {
  const now = new Date(nowMs).toISOString();
  // A degrading event (a warning check, failing traffic) for a server that is down or stale does not
  // replace that state's alert: it would resolve McpServerDown while the server is still down.
  const current = STATE_ALERTS[event.current_state as AlertEvent['event']];
  const outranked = alertName(event) === STATE_ALERTS.degraded && (event.current_state === 'down' || event.current_state === 'stale');
  const name = outranked ? undefined : alertName(event);
  const post: AmAlert[] = [];
  const isState = event.event === 'recovered' || event.event === 'check_failed' || event.event === 'traffic_errors' || event.event in STATE_ALERTS;
  if (isState) {
    const mine = active.get(event.server);
    // A `recovered` that leaves the server in another bad state (one check passes again while another
    // still fails) keeps that state's alert firing: only a return to `up` resolves everything.
    const keep = name ?? current;
    for (const [n, alert] of mine ?? []) {
      if (n === keep) continue;
      post.push({ ...alert, endsAt: now });
      mine!.delete(n);
    }
    if (name !== undefined) {
      const alert: AmAlert = {
        labels: alertLabels(event, name, settings.labels),
        annotations: annotations(event),
        startsAt: alertStart(event, mine?.get(name)),
        endsAt: new Date(nowMs + RESEND_MARGIN * settings.resend_interval).toISOString(),
      };
      post.push(alert);
      let map = mine;
      if (!map) active.set(event.server, (map = new Map()));
      map.set(name, alert);
    }
    if (active.get(event.server)?.size === 0) active.delete(event.server);
    return post;
  }
  if (name === undefined) return post;
  post.push({ labels: alertLabels(event, name, settings.labels), annotations: annotations(event), startsAt: event.timestamp, endsAt: new Date(nowMs + ONE_OFF_MS).toISOString() });
  return post;
}

/** Every active alert with endsAt moved ahead: what the periodic re-post sends. */
export function refreshed(active: ActiveAlerts, nowMs: number, resendMs: number): AmAlert[] {
  const endsAt = new Date(nowMs + RESEND_MARGIN * resendMs).toISOString();
  const out: AmAlert[] = [];
  for (const alerts of active.values()) {
    for (const alert of alerts.values()) {
      alert.endsAt = endsAt;
      out.push(alert);
    }
  }
  return out;
}

/**
 * Takes the alerts of `servers` out of `active` (mutated) and returns them resolved (endsAt = now):
 * what to post for servers no longer monitored.
 */
export function retire(active: ActiveAlerts, servers: Iterable<string>, nowMs: number): AmAlert[] {
  const now = new Date(nowMs).toISOString();
  const out: AmAlert[] = [];
  for (const server of servers) {
    for (const alert of active.get(server)?.values() ?? []) out.push({ ...alert, endsAt: now });
    active.delete(server);
  }
  return out;
}

const isStrings = (v: unknown): v is Record<string, string> => typeof v === 'object' && v !== null && Object.values(v).every((x) => typeof x === 'string');

/** An AmAlert as held() gave it, read back from the state file. */
function isAmAlert(v: unknown): v is AmAlert {
  const a = v as Partial<Record<keyof AmAlert, unknown>> | null;
  return typeof a === 'object' && a !== null && isStrings(a.labels) && typeof a.labels.alertname === 'string' && isStrings(a.annotations) && typeof a.startsAt === 'string' && typeof a.endsAt === 'string';
}

/** `<url>/api/v2/alerts`; a URL that already names the API path is kept. */
export function alertsEndpoint(url: string): string {
  const base = url.replace(/\/+$/, '');
  return /\/api\/v2\/alerts$/.test(base) ? base : `${base}/api/v2/alerts`;
}

/** What one Alertmanager endpoint has been told, whichever notifier instance told it. */
interface Registry {
  active: ActiveAlerts;
  /** Resolved alerts of servers no longer monitored, posted with every re-post until one succeeds. */
  resolving: AmAlert[];
  /** Deliveries under way: one the dispatcher gave up on (closed) may still land. */
  delivering: Set<Promise<void>>;
  /** Notifier instances not closed yet: the registry goes with the last of them. */
  open: number;
}

/**
 * Per Alertmanager endpoint, kept across notifier instances: a configuration reload replaces the
 * notifier, and a server that is still down must stay firing rather than expire. Once no instance
 * is left (the notifier left the configuration), it is dropped: the alerts it held end on their
 * own at their endsAt, and a notifier added back later is told what is under way then (the agent's
 * catch-up), never re-posting servers removed meanwhile.
 */
const registries = new Map<string, Registry>();

export interface AlertmanagerNotifier extends Notifier {
  /** Posts every active alert again now (the timer's work; tests call it). */
  resend(): Promise<void>;
  forget(servers: readonly string[]): Promise<void>;
}

export function createAlertmanagerNotifier(cfg: AlertmanagerSettings, deps: { fetch: FetchLike; now: () => number }): AlertmanagerNotifier {
  const endpoint = alertsEndpoint(cfg.url);
  const reg: Registry = registries.get(endpoint) ?? { active: new Map(), resolving: [], delivering: new Set(), open: 0 };
  registries.set(endpoint, reg);
  reg.open++;
  let closed = false;
  const { active, delivering } = reg;
  let fetchImpl = deps.fetch;
  let agent: Agent | undefined;
  if (cfg.tls && endpoint.startsWith('https:')) {
    agent = new Agent({ connect: clientTlsOptions('alerts[].tls', cfg.tls) });
    const dispatcher = agent;
    // undici's own fetch with its own Agent: the global fetch may bundle another undici version.
    fetchImpl = ((input: string, init: RequestInit) => undiciFetch(input, { ...(init as object), dispatcher })) as unknown as FetchLike;
  }

  const post = async (alerts: AmAlert[], signal: AbortSignal): Promise<void> => {
    if (alerts.length === 0) return;
    const headers = new Headers({ 'user-agent': USER_AGENT, 'content-type': 'application/json' });
    if (cfg.bearer_token) headers.set('authorization', `Bearer ${cfg.bearer_token}`);
    else if (cfg.basic_auth) headers.set('authorization', `Basic ${Buffer.from(`${cfg.basic_auth.username}:${cfg.basic_auth.password}`).toString('base64')}`);
    await postJson({ url: endpoint, body: JSON.stringify(alerts), headers, signal, fetch: fetchImpl, now: deps.now });
  };

  const resend = async (): Promise<void> => {
    // A resolve of a server's former alert must not follow, and end, the same alert it fires again.
    const firing = (a: AmAlert): boolean => active.get(a.labels.mcp_server_name!)?.has(a.labels.alertname!) === true;
    reg.resolving = reg.resolving.filter((a) => !firing(a));
    const resolving = reg.resolving;
    await post([...refreshed(active, deps.now(), cfg.resend_interval), ...resolving], AbortSignal.timeout(cfg.timeout));
    reg.resolving = reg.resolving.filter((a) => !resolving.includes(a));
  };
  // A failed re-post is not retried here: the next one comes an interval later, and endsAt is
  // RESEND_MARGIN intervals ahead, so only a longer outage lets Alertmanager resolve the alert.
  const timer = setInterval(() => void resend().catch(() => undefined), cfg.resend_interval);
  timer.unref();
  /** Alerts taken up (or ended) after a restart are posted at once (one post for all), not an interval later. */
  let resendSoon: NodeJS.Immediate | undefined;
  const soon = (): void => {
    resendSoon ??= setImmediate(() => {
      resendSoon = undefined;
      void resend().catch(() => undefined);
    });
  };

  return {
    ...httpNotifierBase('alertmanager', endpoint, cfg),
    async deliver(event: AlertEvent, signal: AbortSignal) {
      // Worked out on a copy of the event's server (alertsFor touches no other): a failed attempt
      // must leave the registry as it was, so the retry posts the same alerts again, and what other
      // deliveries or `forget` did to other servers meanwhile is not written back over.
      const server = event.server;
      const mine = active.get(server);
      const next: ActiveAlerts = new Map(mine ? [[server, new Map(mine)]] : []);
      const alerts = alertsFor(event, next, deps.now(), cfg);
      const attempt = (async () => {
        try {
          await post(alerts, signal);
        } catch (err) {
          if (err instanceof DeliveryError) throw err;
          throw new DeliveryError('network', err instanceof Error ? err.message : String(err), true, { cause: err });
        }
        const after = next.get(server);
        if (after) active.set(server, after);
        else active.delete(server);
      })();
      delivering.add(attempt);
      try {
        await attempt;
      } finally {
        delivering.delete(attempt);
      }
    },
    resend,
    /** The open alert of the event's state takes the event's text; the next re-post carries it. */
    revise(event) {
      const name = alertName(event);
      const alert = name === undefined ? undefined : active.get(event.server)?.get(name);
      if (!alert) return false;
      alert.annotations = annotations(event);
      return true;
    },
    held(server) {
      return [...(active.get(server)?.values() ?? [])];
    },
    /**
     * The alerts this endpoint was told of for `server` before the agent restarted: active again
     * and re-posted now, with their own startsAt, so Alertmanager sees the same alerts go on (no new
     * notification) and their endsAt moves ahead before it passes. Alerts already active (another
     * notifier for the endpoint took them up) are kept.
     */
    resume(server, held) {
      if (!Array.isArray(held) || active.has(server)) return;
      const alerts = held.filter(isAmAlert).filter((a) => a.labels.mcp_server_name === server);
      if (alerts.length === 0) return;
      active.set(server, new Map(alerts.map((a) => [a.labels.alertname!, a])));
      soon();
    },
    /**
     * The alerts this endpoint was told of for `server` before the agent restarted, whose incident
     * is too old to go on with (state.resume_within): those Alertmanager still holds (endsAt ahead)
     * are resolved now rather than at their endsAt. A new alert of the same name, fired by then,
     * keeps its own (resend skips a resolve of a firing alert).
     */
    end(server, held) {
      if (!Array.isArray(held)) return;
      const now = deps.now();
      const alerts = held.filter(isAmAlert).filter((a) => a.labels.mcp_server_name === server && Date.parse(a.endsAt) > now);
      if (alerts.length === 0) return;
      reg.resolving.push(...alerts.map((a) => ({ ...a, endsAt: new Date(now).toISOString() })));
      soon();
    },
    /**
     * Resolves the alerts of servers no longer monitored. The dispatcher calls it once this
     * notifier's queue holds no event of theirs (AlertDispatcher.forget); a delivery it gave up on
     * (past its deadline) may still land, so this waits for those first.
     */
    async forget(servers) {
      await Promise.allSettled([...delivering]);
      const resolved = retire(active, servers, deps.now());
      if (resolved.length === 0) return;
      reg.resolving.push(...resolved);
      await resend();
    },
    close() {
      clearInterval(timer);
      if (resendSoon) clearImmediate(resendSoon);
      void agent?.close();
      if (closed) return;
      closed = true;
      if (--reg.open === 0 && registries.get(endpoint) === reg) registries.delete(endpoint);
    },
  };
}
