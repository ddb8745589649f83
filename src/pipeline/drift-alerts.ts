// Rate limit for schema_drift alerts, per server. A server whose tool list changes on every check
// (a list_changed loop, a timestamp in a description) would otherwise page once per check: 1,850
// alert lines in 12 s were seen. The first change alerts at once; later changes within the interval
// are counted, not sent, and the count rides on the next alert (the next change after the interval,
// or, if the schema has settled, a summary at the first check after it). A change more severe than
// the interval's alerts so far (a tool removed after one was added) is sent at once all the same:
// counted, its diff (the removed tool's name) would reach no alert. Pure: the agent keeps the state
// per server and calls this once per check.
import type { Severity } from './events.js';
import type { ServerStatus } from './status.js';
import type { EventDraft } from './state-machine.js';

export interface DriftAlertGate {
  /** Before this time (ms) a change is counted instead of alerted. */
  quietUntil: number;
  /** Changes counted since the last alert. */
  suppressed: number;
  /** The worst severity among them. */
  worst: Severity | null;
  /** The worst severity alerted since the quiet time began: a worse change is alerted anyway. */
  alerted: Severity;
}

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/**
 * `drafts`: this check's schema_drift drafts (usually none). Returns what to send and the gate to keep.
 * A flapping schema is one alert per `intervalMs`, with `details.suppressed_changes` counting the rest.
 */
export function gateDriftAlerts(
  gate: DriftAlertGate | undefined,
  drafts: readonly EventDraft[],
  at: number,
  intervalMs: number,
  status: ServerStatus,
): { gate: DriftAlertGate | undefined; events: EventDraft[] } {
  const open = gate === undefined || at >= gate.quietUntil;
  if (!open) {
    if (drafts.length === 0) return { gate, events: [] };
    const worstDraft = drafts.reduce((a, b) => (RANK[b.severity] > RANK[a.severity] ? b : a));
    const escalation = RANK[worstDraft.severity] > RANK[gate.alerted] ? worstDraft : undefined;
    if (escalation) {
      const suppressed = gate.suppressed + drafts.length - 1;
      return { gate: { ...gate, suppressed: 0, worst: null, alerted: escalation.severity }, events: [suppressed > 0 ? withCount(escalation, suppressed) : escalation] };
    }
    let worst = gate.worst;
    for (const d of drafts) if (worst === null || RANK[d.severity] > RANK[worst]) worst = d.severity;
    return { gate: { ...gate, suppressed: gate.suppressed + drafts.length, worst }, events: [] };
  }
  const pending = gate && gate.suppressed > 0 ? gate : undefined;
  if (drafts.length === 0) {
    if (!pending) return { gate: undefined, events: [] };
    // The schema settled after flapping: say how often it changed without an alert.
    return { gate: undefined, events: [summary(pending, status)] };
  }
  const [first, ...rest] = drafts;
  const suppressed = (pending?.suppressed ?? 0) + rest.length;
  const event = suppressed > 0 ? withCount(first!, suppressed) : first!;
  return { gate: { quietUntil: at + intervalMs, suppressed: 0, worst: null, alerted: first!.severity }, events: [event] };
}

function withCount(draft: EventDraft, suppressed: number): EventDraft {
  return {
    ...draft,
    message: `${draft.message} (and ${suppressed} earlier change${suppressed === 1 ? '' : 's'} not alerted: the schema is flapping)`,
    details: { ...draft.details, suppressed_changes: suppressed },
  };
}

function summary(gate: DriftAlertGate, status: ServerStatus): EventDraft {
  const n = gate.suppressed;
  return {
    event: 'schema_drift',
    severity: gate.worst ?? 'info',
    message: `tool schemas changed ${n} more time${n === 1 ? '' : 's'} since the last alert (not alerted: the schema was flapping); now stable`,
    details: { suppressed_changes: n },
    previous_state: status,
    current_state: status,
    incident_started_at: null,
    downtime_seconds: null,
  };
}
