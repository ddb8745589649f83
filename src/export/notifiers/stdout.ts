// Alerts as log lines, for a laptop or for `kubectl logs`.
import type { AlertEvent } from '../../pipeline/events.js';
import { affectedLine, eventDiffLines, headline } from './format.js';
import { DeliveryError, type Notifier } from './types.js';

/** What the stdout notifier writes to; `process.stdout` by default. */
export interface LineSink {
  write(chunk: string): boolean;
}

/** More diff lines than this in a log line is noise; the full diff is in the webhook payload. */
const MAX_DIFF_LINES = 50;

/**
 * `[2026-11-22T00:14:03.120Z] CRITICAL postgres-mcp DOWN — exited with code 3: …`, with the affected
 * agents and schema_drift changes below it, indented so log tooling keeps them with their event.
 */
export function formatStdout(event: AlertEvent): string {
  let text = `[${event.timestamp}] ${event.severity.toUpperCase()} ${headline(event)}\n`;
  const affected = affectedLine(event);
  if (affected) text += `    ${affected}\n`;
  const lines = eventDiffLines(event);
  for (const line of lines.slice(0, MAX_DIFF_LINES)) text += `    ${line}\n`;
  if (lines.length > MAX_DIFF_LINES) text += `    … and ${lines.length - MAX_DIFF_LINES} more\n`;
  return text;
}

export function createStdoutNotifier(cfg: { events?: readonly string[] | undefined }, out: LineSink): Notifier {
  const events = cfg.events;
  return {
    kind: 'stdout',
    target: 'stdout',
    // Writing to our own stream either works or will not start working on a retry.
    retry: { max_attempts: 1, initial_backoff: 0, max_backoff: 0 },
    timeout: 5000,
    accepts: (event) => !events || events.includes(event.event),
    async deliver(event) {
      try {
        // One write per event, so lines of concurrent writers never interleave within an event.
        out.write(formatStdout(event));
      } catch (err) {
        throw new DeliveryError('write_failed', `stdout write failed: ${err instanceof Error ? err.message : String(err)}`, false, { cause: err });
      }
    },
  };
}
