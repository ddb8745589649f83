// pipeline/resume.ts decides how a restarted agent goes on with each server from what its state file
// holds: the state machine's memory, the incident open, when the server was last checked, and what
// each notifier was told. Pure: agent/ reads the file, applies the plan and dispatches the events.
import { durationText, type ServerStatus } from './status.js';
import type { EventDraft, MachineMemory } from './state-machine.js';

/** The states an incident is open in. */
const BAD: readonly ServerStatus[] = ['down', 'degraded', 'stale'];
export const isBad = (s: ServerStatus): boolean => BAD.includes(s);

/** An incident as the state file keeps it (store/ Incident). */
export interface StoredIncident {
  id: number;
  state: ServerStatus;
  cause: string;
  errorType: string | null;
  startedAt: number;
  endedAt: number | null;
}

export interface ResumeInput {
  /** The server's memory as last written, if the file has one that can be read, and the incident open then. */
  stored: { memory: MachineMemory | undefined; incidentId: number | null; seenAt: number } | undefined;
  /** The server's open incident. */
  open: StoredIncident | undefined;
  /** The minute of the server's last probe counts. */
  lastMinute: number | undefined;
  now: number;
  /** How long after the server was last checked an earlier run's state is still taken up (`state.resume_within`). */
  resumeWithinMs: number;
}

export type ResumePlan =
  /** Nothing to go on with: the server starts from `unknown`, as a new one. */
  | { kind: 'fresh' }
  /**
   * Go on from `memory`. `legacy`: it was made from the open incident alone (a file from before the
   * memory was kept, or written by an older mcpwatch since), so what each notifier was told is unknown.
   */
  | { kind: 'resume'; memory: MachineMemory; legacy: boolean; seenAt: number }
  /** A bad state last seen too long ago: its incident ends at `seenAt`, and the server starts anew (ServerStateMachine.restoreExpired). */
  | { kind: 'expired'; state: ServerStatus; since: number | null; seenAt: number };

/**
 * How to go on with one server. The memory is believed only while it matches the incidents (the open
 * one is the one it was written with, in the same state, or none is open for a server it says is
 * fine): an older mcpwatch run on the file in between moves incidents on and leaves the memory
 * behind, and then the open incident, as it did before the memory was kept, says what the state is.
 */
export function planResume({ stored, open, lastMinute, now, resumeWithinMs }: ResumeInput): ResumePlan {
  const seenAt = Math.max(stored?.seenAt ?? -Infinity, lastMinute ?? -Infinity, open?.startedAt ?? -Infinity);
  let memory: MachineMemory | undefined;
  let legacy = false;
  const m = stored?.memory;
  if (m && (isBad(m.status) ? open !== undefined && open.id === stored!.incidentId && open.state === m.status : open === undefined)) {
    memory = m;
  } else if (open && isBad(open.state)) {
    memory = fromIncident(open);
    legacy = true;
  }
  if (!memory || memory.status === 'unknown') return { kind: 'fresh' };
  if (now - seenAt > resumeWithinMs) return isBad(memory.status) ? { kind: 'expired', state: memory.status, since: memory.notUpSince, seenAt } : { kind: 'fresh' };
  // recovery_hold counts answers seen: the time no agent watched (a stdio server's process did not
  // even outlive it) moves the start of the answering forward, what was seen before it still counts.
  const answering = memory.answeringSince;
  if (answering !== null && answering !== undefined && now > seenAt) memory = { ...memory, answeringSince: answering + (now - seenAt) };
  return { kind: 'resume', memory, legacy, seenAt };
}

/** What an open incident alone says of the state machine: its state, since its start; no samples or checks. */
function fromIncident(i: StoredIncident): MachineMemory {
  return { status: i.state, base: i.state, notUpSince: i.startedAt, outageSince: null, consecutiveFailures: 0, firstFailureAt: null, latencies: [], level: 'ok', lastError: null, checks: [], traffic: null, answeringSince: null };
}

/** When a notifier is caught up: after a restart (at the server's first check), or as a reload adds it. */
export type CatchUpWhen = 'restart' | 'reload';

const CATCH_UP_NOTES: Record<CatchUpWhen, string> = {
  restart: 'this notifier had not been told of it when mcpwatch restarted',
  reload: 'this notifier had not been told of it when a reload added it',
};

/**
 * The event that brings a notifier which was not told (added since, or a delivery that failed before
 * the restart) to where the server stands after its first check, or when a reload adds the notifier:
 * the open incident's state event (`details.catch_up: true`), or for a server up again the last
 * incident's `recovered`. Undefined when there is nothing to tell. The dispatcher sets
 * `previous_state` to what each notifier knew.
 */
export function catchUpDraft(status: ServerStatus, notUpSince: number | null, incident: StoredIncident | undefined, when: CatchUpWhen = 'restart'): EventDraft | undefined {
  const CATCH_UP_NOTE = CATCH_UP_NOTES[when];
  if (isBad(status)) {
    const since = notUpSince ?? incident?.startedAt ?? null;
    const cause = incident && incident.endedAt === null && incident.state === status ? incident.cause : status;
    const message = since === null ? `${cause} (${CATCH_UP_NOTE})` : `${cause} (since ${new Date(since).toISOString()}; ${CATCH_UP_NOTE})`;
    const errorType = incident && incident.endedAt === null ? incident.errorType : null;
    return {
      event: status === 'down' ? 'down' : status === 'stale' ? 'stale' : 'degraded',
      severity: status === 'down' ? 'critical' : 'warning',
      message,
      details: { catch_up: true, error_type: errorType },
      previous_state: 'unknown',
      current_state: status,
      incident_started_at: since,
      downtime_seconds: null,
    };
  }
  if (status !== 'up' || !incident || incident.endedAt === null) return undefined;
  const downtime = Math.max(0, (incident.endedAt - incident.startedAt) / 1000);
  return {
    event: 'recovered',
    severity: 'info',
    message: `recovered after ${durationText(downtime)} ${incident.state} (${CATCH_UP_NOTE})`,
    details: { catch_up: true, from: incident.state },
    previous_state: incident.state,
    current_state: 'up',
    incident_started_at: incident.startedAt,
    downtime_seconds: downtime,
  };
}
