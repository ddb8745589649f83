// pipeline/credentials.ts decides when a server's credential is about to expire: a bearer token (or a
// token file) whose JWT `exp` mcpwatch can read but cannot renew. Pure: the caller gives the expiry it
// saw, the time and what was already said.
import type { EventDraft } from './state-machine.js';
import { durationText, type ServerStatus } from './status.js';

/**
 * A `credential_expiring` event once per credential (per expiry time) when it expires within
 * `warnBeforeMs`: `warnedFor` is the expiry last warned about, returned updated. A rotated credential
 * with a later expiry is warned about again when its own time comes.
 */
export function credentialExpiry(
  warnedFor: number | undefined,
  expiresAt: number | undefined,
  at: number,
  warnBeforeMs: number,
  status: ServerStatus,
): { warnedFor: number | undefined; event?: EventDraft } {
  if (expiresAt === undefined || expiresAt === warnedFor || expiresAt - at > warnBeforeMs) return { warnedFor };
  const left = expiresAt - at;
  const when = new Date(expiresAt).toISOString();
  const message = left > 0 ? `credential expires in ${durationText(left / 1000, 2)} (${when}): renew it before probes fail with auth_failed` : `credential expired ${durationText(-left / 1000, 2)} ago (${when})`;
  const event: EventDraft = {
    event: 'credential_expiring',
    severity: left > 0 ? 'warning' : 'critical',
    message,
    details: { expires_at: when, seconds_left: Math.round(left / 1000) },
    previous_state: status,
    current_state: status,
    incident_started_at: null,
    downtime_seconds: null,
  };
  return { warnedFor: expiresAt, event };
}
