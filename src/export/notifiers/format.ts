// Text shared by the human-facing notifiers (stdout, Slack, Alertmanager): durations, schema-drift
// diff lines and the agents an alert affects.
import type { AffectedAgents, AlertEvent } from '../../pipeline/events.js';
import type { FieldChange } from '../../pipeline/drift.js';
import { durationText } from '../../pipeline/status.js';

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : undefined;
}

function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').trim();
}

/**
 * A schema_drift event's changes as display lines: `[breaking] create_pull_request: required parameter
 * added: draft (boolean)`. Tool-level changes (added, removed) already name the tool.
 */
export function driftLines(changes: readonly FieldChange[]): string[] {
  return changes.map((c) => oneLine(c.field ? `[${c.kind}] ${c.tool}: ${c.message}` : `[${c.kind}] ${c.message}`));
}

/** The drift lines of an event (`details.changes`, see pipeline/drift.ts), or none for any other event. */
export function eventDiffLines(event: AlertEvent): string[] {
  const changes = event.details.changes;
  return event.event === 'schema_drift' && Array.isArray(changes) ? driftLines(changes as FieldChange[]) : [];
}

/**
 * The event's headline. The pipeline writes messages that already start with the server and event
 * ("postgres-mcp DOWN — …", see events.ts); printing those twice reads badly, so they are added only
 * when the message lacks them.
 */
export function headline(event: AlertEvent): string {
  const message = oneLine(event.message);
  if (message.startsWith(`${event.server} `)) return message;
  return `${event.server} ${event.event.toUpperCase()}${message ? ` — ${message}` : ''}`;
}

/** A string field of `details`, looked up at the top level first and then under `details.error`. */
export function detailString(event: AlertEvent, key: string, nestedKey: string): string | undefined {
  const top = str(event.details[key]);
  if (top) return top;
  const error = event.details.error;
  return error !== null && typeof error === 'object' ? str((error as Record<string, unknown>)[nestedKey]) : undefined;
}

/** `86400` → `24h`; windows that are not whole hours as every duration is written (durationText). */
export function windowText(seconds: number): string {
  return seconds > 0 && seconds % 3600 === 0 ? `${seconds / 3600}h` : durationText(seconds);
}

/** How long before `now` (both ISO 8601): `12 s ago`, `2 min ago`, `5 h ago`, `3 d ago`. */
export function agoText(then: string, now: string): string {
  const s = Math.max(0, Math.round((Date.parse(now) - Date.parse(then)) / 1000));
  if (!Number.isFinite(s)) return 'at an unknown time';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

/**
 * An instant in ISO 8601 UTC to the second (`2026-12-07T11:04:25Z`): for text that is shown again
 * long after it was written, where `… ago` would go on saying the time it was written.
 */
export function atText(iso: string): string {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z') : 'at an unknown time';
}

/**
 * How an agent's last call is said: `ago`, relative to the event, for what is read once (stdout,
 * Slack, `health`); `absolute` for an Alertmanager alert, which is posted again unchanged while it
 * lasts and notified from hours later.
 */
export type LastCall = 'ago' | 'absolute';

const count = (n: number, one: string, many: string): string => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** One agent per entry: `support-bot (1,204 calls in 24h, last 2 min ago)`; the others last. */
export function affectedEntries(a: AffectedAgents, now: string, last: LastCall = 'ago'): string[] {
  const w = windowText(a.window_seconds);
  const out = a.agents.map((x) => {
    const tools = a.tools ? `${x.tools.map((t) => t.name).join(', ')}: ` : '';
    return `${x.name} (${tools}${count(x.calls, 'call', 'calls')} in ${w}, last ${last === 'ago' ? agoText(x.last_seen, now) : atText(x.last_seen)})`;
  });
  if (a.others.calls > 0) out.push(`${a.others.agents > 0 ? count(a.others.agents, 'other agent', 'other agents') : 'other agents'} (${count(a.others.calls, 'call', 'calls')})`);
  return out;
}

/** `affected: support-bot (1,204 calls in 24h, last 2 min ago), triage-bot (…)`, or undefined without the field. */
export function affectedLine(event: AlertEvent, last: LastCall = 'ago'): string | undefined {
  const a = event.affected_agents;
  if (!a) return undefined;
  const entries = affectedEntries(a, event.timestamp, last);
  if (entries.length > 0) return `affected: ${entries.join(', ')}`;
  return a.tools ? `affected: no agent called ${a.tools.join(', ')} in ${windowText(a.window_seconds)}` : `affected: no agent calls in ${windowText(a.window_seconds)}`;
}
