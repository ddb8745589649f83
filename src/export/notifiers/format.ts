// Text shared by the human-facing notifiers (stdout, Slack): durations and schema-drift diff lines.
import type { AlertEvent } from '../../pipeline/events.js';
import type { FieldChange } from '../../pipeline/drift.js';

/** `3725` → `1h 2m 5s`; zero units are left out (`3600` → `1h`), and nothing at all is `0s`. */
export function formatDuration(seconds: number): string {
  let rest = Math.max(0, Math.round(seconds));
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
  }
  return parts.length > 0 ? parts.join(' ') : '0s';
}

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
