import type { TransportName } from '../config/schema.js';
import type { ServerStatus } from './status.js';

export const ALERT_EVENTS = ['down', 'recovered', 'degraded', 'latency_spike', 'stale', 'session_expired', 'schema_drift', 'check_failed', 'credential_expiring', 'traffic_errors'] as const;
export type AlertEventName = (typeof ALERT_EVENTS)[number];
export type Severity = 'critical' | 'warning' | 'info';

/**
 * What the agent tells notifiers. The JSON a webhook receives is this object as is (snake_case keys),
 * so its field names are a public contract: add fields, never rename them.
 */
export interface AlertEvent {
  server: string;
  transport: TransportName;
  tags: string[];
  event: AlertEventName;
  severity: Severity;
  /** One human line: "postgres-mcp DOWN — exited with code 3: boom: missing DATABASE_URL". */
  message: string;
  /** Event-specific facts: error type/phase, latency and threshold, the drift diff, … */
  details: Record<string, unknown>;
  previous_state: ServerStatus;
  current_state: ServerStatus;
  /** When the event happened (ISO 8601). */
  timestamp: string;
  /** When the incident this event belongs to started (ISO 8601), if any. */
  incident_started_at: string | null;
  /** For `recovered`: how long the server was not up, in seconds. */
  downtime_seconds: number | null;
  /**
   * down, check_failed, session_expired and schema_drift of a server with traffic: the agents that
   * called it in the blast-radius window (for schema_drift, those that called the changed or removed
   * tools). Absent when the server had no traffic.
   */
  affected_agents?: AffectedAgents;
}

/**
 * Events that tell a receiver the server's state (their `current_state`): what each notifier last
 * heard of them is kept across restarts. The others (drift, session, credential) are one-offs.
 */
export const STATE_EVENTS: readonly AlertEventName[] = ['down', 'recovered', 'degraded', 'latency_spike', 'stale', 'check_failed', 'traffic_errors'];

/** Events that name the agents they affect. */
export const BLAST_RADIUS_EVENTS: readonly AlertEventName[] = ['down', 'check_failed', 'session_expired', 'schema_drift', 'traffic_errors'];

/** The agents one alert affects (pipeline/callers.ts), as webhooks receive them. Times are ISO 8601. */
export interface AffectedAgents {
  window_seconds: number;
  /** schema_drift: the changed or removed tools the agents below called. */
  tools?: string[];
  /** Calls in the window by every agent counted below. */
  total_calls: number;
  /** Most calls first, at most `blast_radius.max_agents_per_server`. */
  agents: AffectedAgent[];
  /** Agents not listed: how many are known, and their calls (with those of agents past the tracking bound). */
  others: { agents: number; calls: number; last_seen: string | null };
}

export interface AffectedAgent {
  /** As people write it: `support-bot`, `payments/support-bot`, `support-bot (k8s prod/support-bot)`. */
  name: string;
  service_name: string;
  service_namespace?: string;
  k8s_namespace_name?: string;
  k8s_deployment_name?: string;
  calls: number;
  last_seen: string;
  tools: Array<{ name: string; calls: number; last_seen: string }>;
}
