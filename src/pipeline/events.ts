import type { TransportName } from '../config/schema.js';
import type { ServerStatus } from './status.js';

export const ALERT_EVENTS = ['down', 'recovered', 'degraded', 'latency_spike', 'stale', 'session_expired', 'schema_drift', 'check_failed', 'credential_expiring'] as const;
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
}
