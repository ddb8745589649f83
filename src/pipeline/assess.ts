// pipeline/assess.ts decides what one check of one server means: the state transition, schema drift,
// the alert events and what to measure and keep. It is pure (no I/O, no clock, no metrics, no store):
// the caller hands it the outcome and the time, and agent/ applies the verdict in one place.
import { createHash } from 'node:crypto';
import type { ChangeKind, DriftDiff } from './drift.js';
import { diffTools, formatDiff, snapshotHash } from './drift.js';
import { ServerStateMachine, type EventDraft, type MachineMemory, type StatePolicy, type StepResult, type Transition } from './state-machine.js';
import { gateDriftAlerts, type DriftAlertGate } from './drift-alerts.js';
import { credentialExpiry } from './credentials.js';
import { DEFAULT_TRAFFIC_POLICY, ErrorRateWindow, judgeTraffic, type TrafficErrorPolicy } from './traffic-errors.js';
import type { DiscoverResult } from '@modelcontextprotocol/client';
import type { ProbeError, ProbeOutcome, ToolInfo } from '../probe/prober.js';

/** A probe outcome plus what the transport knows about it (probe/session.ts fills these in). */
export interface CheckOutcome extends ProbeOutcome {
  /** The stdio process is gone: down without waiting for more failures. */
  definitive: boolean;
  /** The server answered but tools/list failed. */
  partial: boolean;
  /** SSE stream silent for this long while open. */
  staleMs?: number;
  /** The server forgot the session during this check (the check re-initialized). */
  sessionExpired: boolean;
  /** The era the server was found to speak, when this check learned it anew (the store keeps it). */
  verdict?: EraVerdict;
}

/** What the SDK needs to skip finding out a server's era again (its PriorDiscovery). */
export type EraVerdict = { kind: 'modern'; discover: DiscoverResult } | { kind: 'legacy' };

/** The tool list a server was last seen with, as stored (store/ keeps it across restarts). */
export interface ToolSnapshot {
  hash: string;
  tools: ToolInfo[];
}

/**
 * What the pipeline remembers of one server between its checks: its state machine, the last tool
 * snapshot and the name the server gave for itself.
 */
export class ServerTrack {
  readonly sm: ServerStateMachine;
  snapshot: ToolSnapshot | undefined;
  /**
   * The sha256 of the last tool list as listed (its JSON), to skip the canonical form when nothing
   * changed. A digest rather than the text: the text is as large as the tool list (tens of KB for a
   * large server), kept for every server between its checks.
   */
  private lastRawDigest: string | undefined;
  /** The last listing itself: the probe hands back the same array when its pages were byte-identical. */
  private lastTools: ToolInfo[] | undefined;
  /** The name the server gave in initialize, for matching traffic from its own instrumentation. */
  serverInfoName: string | undefined;
  /** The schema_drift alert rate limit (drift-alerts.ts). */
  driftGate: DriftAlertGate | undefined;
  /** The credential expiry last warned about (credentials.ts). */
  credentialWarnedFor: number | undefined;
  /** Tool-call outcomes seen in traffic, over the policy's error-rate window. */
  trafficWindow: ErrorRateWindow;

  constructor(
    private policy: TrackPolicy,
    snapshot?: ToolSnapshot,
  ) {
    this.sm = new ServerStateMachine(policy);
    this.snapshot = snapshot;
    this.trafficWindow = new ErrorRateWindow(this.trafficPolicy.windowMs);
  }

  /**
   * A reload at `at`: new thresholds; a new window length starts the traffic counts over. What the
   * state machine announces (a removed check that failed) is for agent/ to apply.
   */
  setPolicy(policy: TrackPolicy, at: number): StepResult {
    this.policy = policy;
    if (this.trafficPolicy.windowMs !== this.trafficWindow.windowMs) this.trafficWindow = new ErrorRateWindow(this.trafficPolicy.windowMs);
    return this.sm.setPolicy(policy, at);
  }

  /**
   * What the state file keeps for a restart: the state machine's memory, the traffic window's counts
   * and the credential expiry already warned about.
   */
  memory(): MachineMemory {
    return { ...this.sm.memory(), trafficCalls: this.trafficWindow.counts(), credentialWarnedFor: this.credentialWarnedFor ?? null };
  }

  /**
   * Takes up the credential expiry an earlier run warned about, whatever else of its memory is gone
   * on with: the warning was about the credential, which a restart does not change, and the same
   * one sent at every restart of a crash-looping or redeployed agent pages for nothing.
   */
  rememberWarning(memory: MachineMemory | undefined): void {
    if (typeof memory?.credentialWarnedFor === 'number') this.credentialWarnedFor ??= memory.credentialWarnedFor;
  }

  /**
   * Goes on from an earlier run's memory() (a restart), last seen at `seenAt`: the traffic window
   * takes up the counts, so its next judgement is on the calls of its window, and those older than
   * that (the agent was stopped longer) count no more. A file without counts (an earlier version):
   * the traffic failure it held lasts, while too few calls come to judge, until its calls have left
   * the window, a window after the last run was last seen or the failure began. `trafficJudged`
   * false (no receiver): no call will come, the counts are not taken and the next judgement ends it.
   */
  restore(memory: MachineMemory, at: number, seenAt: number, trafficJudged: boolean): void {
    if (trafficJudged && memory.trafficCalls) this.trafficWindow.load(memory.trafficCalls);
    const legacy = trafficJudged && memory.trafficCalls === undefined && memory.traffic;
    this.sm.restore(memory, legacy ? Math.max(seenAt, legacy.since) + this.trafficPolicy.windowMs : at);
  }

  get trafficPolicy(): TrafficErrorPolicy {
    return this.policy.traffic ?? DEFAULT_TRAFFIC_POLICY;
  }

  /** True when `tools` is byte for byte what the previous check listed (and remembers it). */
  sameAsLastListing(tools: ToolInfo[]): boolean {
    if (tools === this.lastTools) return true;
    this.lastTools = tools;
    const digest = createHash('sha256').update(JSON.stringify(tools)).digest('base64');
    if (digest === this.lastRawDigest) return true;
    this.lastRawDigest = digest;
    return false;
  }
}

/** What a server is judged by: the state machine's policy and how its traffic error rate is judged. */
export interface TrackPolicy extends StatePolicy {
  /** Default: DEFAULT_TRAFFIC_POLICY, as `monitoring.traffic` defaults. */
  traffic?: TrafficErrorPolicy;
}

/**
 * Judges the server's traffic error rate at `at` and takes the verdict into its state: the transition
 * and events (`traffic_errors`, `recovered`) for agent/ to apply, none while nothing changes.
 */
export function assessTraffic(track: ServerTrack, at: number): StepResult {
  return track.sm.traffic(judgeTraffic(track.trafficWindow.totals(at), track.trafficPolicy), at);
}

/** A new tool snapshot to store, with the drift from the previous one when there was one. */
export interface SnapshotChange {
  snapshot: ToolSnapshot;
  drift?: { severity: ChangeKind; diff: DriftProjection; counts: Record<ChangeKind, number> };
}

export type DriftProjection = Pick<DriftDiff, 'tools_added' | 'tools_removed' | 'tools_modified'>;

/** Everything one check changed, for agent/ to apply to the store, the recorder and the notifiers. */
export interface Assessment {
  /** Counts as up for availability: answered (even partly) and not stale. */
  up: boolean;
  latencyMs: number | null;
  error: ProbeError | null;
  transition: Transition | null;
  events: EventDraft[];
  snapshot: SnapshotChange | undefined;
  sessionExpired: boolean;
  /** The server now gives another name for itself: indexes that match traffic by it are out of date. */
  serverInfoChanged: boolean;
  /** The era the server speaks, when newly learned. */
  verdict: EraVerdict | undefined;
  /** A server still down for another cause: its open alert's text to update (StepResult.revised). */
  revised?: EventDraft | undefined;
}

/**
 * Decides what `out` means for the server `track` follows, and updates `track` to match.
 * `driftAlertIntervalMs`: at most one schema_drift alert per this interval (0: every change);
 * `credentialWarningMs`: how long before a known credential expiry credential_expiring is raised.
 */
export function assess(track: ServerTrack, out: CheckOutcome, at: number, driftAlertIntervalMs = 0, credentialWarningMs = 86_400_000): Assessment {
  const answered = !out.error || out.partial;
  let serverInfoChanged = false;
  if (out.serverInfo && out.serverInfo.name !== track.serverInfoName) {
    track.serverInfoName = out.serverInfo.name;
    serverInfoChanged = true;
  }
  const listed = out.tools && !out.error ? nextSnapshot(track, out.tools) : undefined;
  const before = track.sm.status;
  // A session kept across an outage already reported (down or stale by the server's own answers,
  // not a failing check's) was lost with it: its `recovered` says the server came back, and a
  // session_expired on top would page, and count toward McpSessionExpirationsSpiking, a second time.
  const outage = track.sm.answerStatus;
  const sessionExpired = out.sessionExpired && outage !== 'down' && outage !== 'stale';
  const step = track.sm.apply({
    at,
    ok: answered && out.staleMs === undefined,
    latencyMs: out.latencyMs,
    error: out.error,
    definitive: out.definitive,
    partial: out.partial,
    staleMs: out.staleMs,
    sessionExpired,
    checks: out.checks,
  });
  // A check with `on_failure: down` that holds the server down counts against its availability too.
  const up = answered && out.staleMs === undefined && track.sm.status !== 'down';
  const events = [...step.events];
  const after = track.sm.status;
  const drift = gateDriftAlerts(track.driftGate, listed?.diff?.severity ? [driftEvent(listed.diff, listed.diff.severity, after)] : [], at, driftAlertIntervalMs, after);
  track.driftGate = drift.gate;
  // The check that listed the changed tools is the one that answered: a down server it brings back
  // is up now, as the `recovered` sent with the drift says; a receiver must not read "still down".
  for (const e of drift.events) e.previous_state = before;
  events.push(...drift.events);
  const expiry = credentialExpiry(track.credentialWarnedFor, out.credentialExpiresAt, at, credentialWarningMs, track.sm.status);
  track.credentialWarnedFor = expiry.warnedFor;
  if (expiry.event) events.push(expiry.event);
  return { up, latencyMs: out.latencyMs, error: out.error, transition: step.transition, events, snapshot: listed?.change, sessionExpired, serverInfoChanged, verdict: out.verdict, revised: step.revised };
}

/** The snapshot to store when the tool list changed, and the diff from the previous one (none for the first). */
function nextSnapshot(track: ServerTrack, tools: ToolInfo[]): { change: SnapshotChange; diff?: DriftDiff } | undefined {
  // Most checks list exactly what the last one did: the raw text settles that without the canonical
  // form and hash.
  if (track.sameAsLastListing(tools)) return undefined;
  const hash = snapshotHash(tools);
  const prev = track.snapshot;
  if (prev?.hash === hash) return undefined;
  const snapshot = { hash, tools };
  track.snapshot = snapshot;
  if (!prev) return { change: { snapshot } };
  const diff = diffTools(prev.tools, tools);
  if (!diff.severity) return { change: { snapshot }, diff };
  return { change: { snapshot, drift: { severity: diff.severity, diff: projection(diff), counts: diff.counts } }, diff };
}

function driftEvent(diff: DriftDiff, severity: ChangeKind, status: EventDraft['current_state']): EventDraft {
  const { counts } = diff;
  return {
    event: 'schema_drift',
    severity: severity === 'breaking' ? 'critical' : severity === 'warning' ? 'warning' : 'info',
    message: `tool schemas changed: ${counts.breaking} breaking, ${counts.compatible} compatible, ${counts.warning} warning`,
    details: { diff: projection(diff), changes: diff.changes, counts, summary: formatDiff(diff) },
    previous_state: status,
    current_state: status,
    incident_started_at: null,
    downtime_seconds: null,
  };
}

function projection(diff: DriftDiff): DriftProjection {
  return { tools_added: diff.tools_added, tools_removed: diff.tools_removed, tools_modified: diff.tools_modified };
}
