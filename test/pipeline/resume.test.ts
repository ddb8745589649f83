// Going on with a server after a restart of the agent (pipeline/resume.ts and the state machine's
// memory), row by row without a clock: a machine built from memory() of another behaves as that one
// would have, and the plan believes the memory only while the incidents agree with it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isMachineMemory, ServerStateMachine, type CheckResult, type MachineMemory, type StatePolicy } from '../../src/pipeline/state-machine.js';
import { catchUpDraft, planResume, type StoredIncident } from '../../src/pipeline/resume.js';
import type { TrafficVerdict } from '../../src/pipeline/traffic-errors.js';
import { assessTraffic, ServerTrack } from '../../src/pipeline/assess.js';
import type { CheckRun, ProbeError } from '../../src/probe/prober.js';

const policy: StatePolicy = { failuresBeforeDown: 3, thresholds: { latency_warning: 500, latency_critical: 2000 }, latencyWindow: 10, checks: ['q'] };
const refused: ProbeError = { type: 'connection_refused', category: 'transient', phase: 'tools/list', message: 'connection refused (ECONNREFUSED)' };
const assertion: ProbeError = { type: 'assertion_failed', category: 'permanent', phase: 'tools/call', message: 'expected 1' };
const ok = (at: number, latencyMs = 50, checks?: CheckRun[]): CheckResult => ({ at, ok: true, latencyMs, error: null, ...(checks ? { checks } : {}) });
const fail = (at: number): CheckResult => ({ at, ok: false, latencyMs: null, error: refused });
const check = (status: CheckRun['status']): CheckRun => ({ name: 'q', method: 'tools/call', target: 'q', status, onFailure: 'degraded', startedAt: 0, latencyMs: 5, error: status === 'fail' ? assertion : null });

/** A machine restored from a JSON round trip of `sm`'s memory, as the state file gives it back. */
function restarted(sm: ServerStateMachine, at: number, holdUntil = at): ServerStateMachine {
  const memory: unknown = JSON.parse(JSON.stringify(sm.memory()));
  assert.ok(isMachineMemory(memory));
  const next = new ServerStateMachine(policy);
  next.restore(memory, holdUntil);
  return next;
}

const events = (sm: ServerStateMachine, r: CheckResult): string[] => sm.apply(r).events.map((e) => `${e.event}:${e.previous_state}->${e.current_state}`);

function verdict(failing: boolean, calls: number): TrafficVerdict {
  return {
    failing,
    note: failing ? `traffic: 50 % of ${calls} calls failed` : `traffic: ${calls} calls in 5m, too few to judge (min_calls 20)`,
    errorType: failing ? 'timeout' : null,
    details: { calls, errors: failing ? calls / 2 : 0, error_rate: calls ? 0.5 : null, errors_by_type: {}, threshold: 0.2, window_seconds: 300, min_calls: 20 },
  };
}

describe('a state machine restored from memory()', () => {
  it('down: no event while still down, then recovered with the downtime from the first failure before the restart', () => {
    const sm = new ServerStateMachine(policy);
    for (const r of [ok(0), fail(10_000), fail(15_000), fail(20_000)]) sm.apply(r);
    assert.equal(sm.status, 'down');
    const next = restarted(sm, 100_000);
    assert.equal(next.status, 'down');
    assert.equal(next.unsettled, true, 're-checked at the fast pace');
    assert.deepEqual(events(next, fail(105_000)), []);
    const back = next.apply(ok(130_000));
    assert.deepEqual(back.events.map((e) => [e.event, e.downtime_seconds, e.incident_started_at]), [['recovered', 120, 10_000]]);
    assert.deepEqual(back.transition?.from, 'down');
  });

  it('down after a degraded spell: the recovery after the restart counts the downtime from going down, not from the degraded spell', () => {
    const sm = new ServerStateMachine({ ...policy, latencyWindow: 2 });
    for (const r of [ok(0, 600), ok(10_000, 700)]) sm.apply(r);
    assert.equal(sm.status, 'degraded');
    sm.apply({ ...fail(120_000), definitive: true });
    assert.equal(sm.status, 'down');
    const next = new ServerStateMachine({ ...policy, latencyWindow: 2 });
    const memory: unknown = JSON.parse(JSON.stringify(sm.memory()));
    assert.ok(isMachineMemory(memory));
    next.restore(memory, 121_000);
    const back = next.apply(ok(125_000, 50));
    assert.deepEqual(back.events.filter((e) => e.event === 'recovered').map((e) => [e.message, e.downtime_seconds, e.incident_started_at]), [['recovered after 5s down', 5, 10_000]]);
  });

  it('a memory written without outageSince (before it was kept) is read, the downtime then from the incident start', () => {
    const sm = new ServerStateMachine(policy);
    for (const r of [ok(0), fail(10_000), fail(15_000), fail(20_000)]) sm.apply(r);
    const older = JSON.parse(JSON.stringify(sm.memory())) as MachineMemory;
    delete older.outageSince;
    assert.ok(isMachineMemory(older));
    const next = new ServerStateMachine(policy);
    next.restore(older, 30_000);
    assert.deepEqual(next.apply(ok(40_000)).events.map((e) => [e.event, e.downtime_seconds]), [['recovered', 30]]);
  });

  it('degraded by latency: its samples go on, so it stays degraded without a new event until they say otherwise', () => {
    const sm = new ServerStateMachine(policy);
    for (let i = 0; i < 4; i++) sm.apply(ok(i * 1000, 900));
    assert.equal(sm.status, 'degraded');
    const next = restarted(sm, 10_000);
    assert.deepEqual(events(next, ok(11_000, 50)), [], 'one fast answer does not outweigh the slow samples');
    assert.equal(next.status, 'degraded');
  });

  it('a counted failing check goes on: its passing again is the recovery, named after it', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(ok(0, 50, [check('pass')]));
    sm.apply(ok(1000, 50, [check('fail')]));
    assert.equal(sm.status, 'degraded');
    const next = restarted(sm, 5000);
    assert.deepEqual(events(next, ok(6000)), [], 'a probe without the check leaves it failing');
    assert.deepEqual(events(next, ok(61_000, 50, [check('pass')])), ['recovered:degraded->up']);
  });

  it('a restored traffic failure is not ended by too few calls before its hold, is by them after it, and by enough good calls at once', () => {
    const failing = (): ServerStateMachine => {
      const sm = new ServerStateMachine(policy);
      sm.apply(ok(0));
      sm.traffic(verdict(true, 40), 1000);
      assert.equal(sm.status, 'degraded');
      return sm;
    };
    const held = restarted(failing(), 10_000, 310_000);
    assert.deepEqual(held.traffic(verdict(false, 3), 20_000).events, [], 'the counts went with the last run');
    assert.equal(held.status, 'degraded');
    assert.deepEqual(held.traffic(verdict(false, 3), 310_000).events.map((e) => e.event), ['recovered']);
    const judged = restarted(failing(), 10_000, 310_000);
    const good = { ...verdict(false, 30), details: { ...verdict(false, 30).details, errors: 0, error_rate: 0 } };
    assert.deepEqual(judged.traffic(good, 20_000).events.map((e) => e.event), ['recovered'], 'enough calls, under the threshold: a real recovery');
  });

  it('an expired state: a server found up ends the old incident with its downtime unknown; one found down is a new incident', () => {
    const up = new ServerStateMachine(policy);
    up.restoreExpired('down', 1000, 5000);
    assert.equal(up.status, 'unknown');
    const step = up.apply(ok(9_000_000));
    assert.deepEqual(step.events.map((e) => [e.event, e.previous_state, e.current_state, e.downtime_seconds, e.incident_started_at]), [['recovered', 'down', 'up', null, 1000]]);
    assert.equal(step.events[0]!.message, 'up; it was down when mcpwatch last checked it (1970-01-01T00:00:05.000Z), and how long it stayed down after that is unknown');
    assert.deepEqual(events(up, ok(9_001_000)), [], 'once');

    const down = new ServerStateMachine(policy);
    down.restoreExpired('down', 1000, 5000);
    assert.deepEqual([fail(9_000_000), fail(9_005_000), fail(9_010_000)].map((r) => events(down, r)), [[], [], ['down:unknown->down']]);
    assert.equal(down.notUpSince, 9_000_000, 'the new incident starts at its own first failure');
  });

  it('isMachineMemory refuses what memory() never writes', () => {
    const good = new ServerStateMachine(policy).memory();
    assert.ok(isMachineMemory(JSON.parse(JSON.stringify(good))));
    for (const bad of [null, [], { ...good, status: 'on fire' }, { ...good, latencies: ['1'] }, { ...good, checks: [['q', { failures: 1 }]] }, { ...good, traffic: { since: 1 } }, { ...good, notUpSince: '1' }, { ...good, outageSince: '1' }, { ...good, trafficCalls: { bucketMs: 0, buckets: [] } }, { ...good, trafficCalls: { bucketMs: 10_000, buckets: [[1, 2, { timeout: 3 }]] } }, { ...good, credentialWarnedFor: '2026-12-07T14:00:00Z' }]) {
      assert.equal(isMachineMemory(bad), false, JSON.stringify(bad));
    }
  });
});

describe('a track restored from memory(): the traffic window goes on', () => {
  const T0 = 1_800_000_000_000;
  const traffic = { errorRate: 0.2, windowMs: 300_000, minCalls: 20 };
  /** A track whose traffic failed at T0 (18 of 42 calls), as the file gives its memory() back. */
  function failingMemory(): MachineMemory {
    const track = new ServerTrack({ ...policy, traffic });
    track.sm.apply(ok(T0 - 1000));
    for (let i = 0; i < 42; i++) track.trafficWindow.record(T0, i < 18 ? 'invalid_params' : undefined);
    assert.deepEqual(assessTraffic(track, T0).events.map((e) => e.message), ['traffic: 43 % of 42 calls failed (invalid_params 18)']);
    const memory: unknown = JSON.parse(JSON.stringify(track.memory()));
    assert.ok(isMachineMemory(memory));
    return memory;
  }
  const restoredAt = (memory: MachineMemory, at: number, seenAt = T0 + 60_000, judged = true): ServerTrack => {
    const track = new ServerTrack({ ...policy, traffic });
    track.restore(memory, at, seenAt, judged);
    return track;
  };

  it('within the window: judged on the calls counted before the restart, new ones added to them', () => {
    const track = restoredAt(failingMemory(), T0 + 120_000);
    assert.deepEqual(assessTraffic(track, T0 + 120_000).events, [], 'still failing: nothing to say');
    assert.equal(track.sm.status, 'degraded');
    for (let i = 0; i < 60; i++) track.trafficWindow.record(T0 + 130_000, undefined);
    const back = assessTraffic(track, T0 + 130_000).events;
    assert.deepEqual(back.map((e) => [e.event, e.details.calls, e.details.errors, e.downtime_seconds, e.incident_started_at]), [['recovered', 102, 18, 130, T0]]);
  });

  it('after the window: the calls have left it, and the first judgement ends the failure, the stop counted in its duration', () => {
    const track = restoredAt(failingMemory(), T0 + 420_000);
    const ended = assessTraffic(track, T0 + 420_000).events;
    assert.deepEqual(ended.map((e) => [e.event, e.message, e.downtime_seconds, e.incident_started_at]), [['recovered', 'traffic errors back under the threshold after 7m: no calls in 5m', 420, T0]]);
    assert.equal(track.sm.status, 'up');
  });

  it('without a receiver the counts are not taken: the next judgement ends the failure', () => {
    const track = restoredAt(failingMemory(), T0 + 60_000, T0 + 60_000, false);
    assert.deepEqual(assessTraffic(track, T0 + 60_000).events.map((e) => e.event), ['recovered']);
  });

  it('a file without counts (an earlier version): too few calls end the failure only once its calls have left the window, a window after it was last seen', () => {
    const older = failingMemory();
    delete older.trafficCalls;
    assert.ok(isMachineMemory(older));
    const seenAt = T0 + 30_000;
    const held = restoredAt(older, T0 + 120_000, seenAt);
    assert.deepEqual(assessTraffic(held, T0 + 120_000).events, []);
    assert.equal(held.sm.status, 'degraded');
    assert.deepEqual(assessTraffic(held, seenAt + 300_000).events.map((e) => e.event), ['recovered']);
    assert.deepEqual(assessTraffic(restoredAt(older, T0 + 420_000, seenAt), T0 + 420_000).events.map((e) => e.event), ['recovered'], 'restarted after that: at once');
  });

  it('counts of another window length are not taken, as after a reload that changes it', () => {
    const track = new ServerTrack({ ...policy, traffic: { ...traffic, windowMs: 600_000 } });
    track.restore(failingMemory(), T0 + 60_000, T0 + 60_000, true);
    assert.deepEqual(track.trafficWindow.totals(T0 + 60_000), { calls: 0, errors: 0, byType: {} });
  });
});

const memory = (over: Partial<MachineMemory>): MachineMemory => ({ ...new ServerStateMachine(policy).memory(), ...over });
const incident = (over: Partial<StoredIncident> = {}): StoredIncident => ({ id: 7, state: 'down', cause: 'connection refused', errorType: 'connection_refused', startedAt: 1000, endedAt: null, ...over });
const HOUR = 3_600_000;

describe('planResume', () => {
  const down = memory({ status: 'down', base: 'down', notUpSince: 900 });
  const now = 10 * HOUR;
  const base = { now, resumeWithinMs: HOUR, lastMinute: undefined };

  it('goes on from a memory that matches the open incident, or from a server fine with none open', () => {
    assert.deepEqual(planResume({ ...base, stored: { memory: down, incidentId: 7, seenAt: now - 60_000 }, open: incident() }), { kind: 'resume', memory: down, legacy: false, seenAt: now - 60_000 });
    const up = memory({ status: 'up', base: 'up', latencies: [10] });
    assert.deepEqual(planResume({ ...base, stored: { memory: up, incidentId: null, seenAt: now - 60_000 }, open: undefined }), { kind: 'resume', memory: up, legacy: false, seenAt: now - 60_000 });
  });

  it('takes the open incident alone when the memory does not match it (an older mcpwatch ran since) or cannot be read, or the file has none', () => {
    const legacy = { kind: 'resume', memory: memory({ status: 'down', base: 'down', notUpSince: 5000 }), legacy: true, seenAt: now - 60_000 };
    const open = incident({ id: 8, startedAt: 5000 });
    for (const stored of [{ memory: down, incidentId: 7, seenAt: now - 60_000 }, { memory: memory({ status: 'up', base: 'up' }), incidentId: null, seenAt: now - 60_000 }, { memory: undefined, incidentId: 8, seenAt: now - 60_000 }, undefined]) {
      assert.deepEqual(planResume({ ...base, stored, open, lastMinute: now - 60_000 }), legacy, JSON.stringify(stored));
    }
  });

  it('starts anew when nothing matches: a memory of a bad state whose incident was closed since, or nothing at all', () => {
    assert.deepEqual(planResume({ ...base, stored: { memory: down, incidentId: 7, seenAt: now - 60_000 }, open: undefined }), { kind: 'fresh' });
    assert.deepEqual(planResume({ ...base, stored: undefined, open: undefined }), { kind: 'fresh' });
    assert.deepEqual(planResume({ ...base, stored: { memory: memory({}), incidentId: null, seenAt: now }, open: undefined }), { kind: 'fresh' }, 'never settled');
  });

  it('a state last seen longer ago than resume_within: a bad one expires, a fine one starts anew; the latest sign of the last run counts', () => {
    const stored = { memory: down, incidentId: 7, seenAt: now - 2 * HOUR };
    assert.deepEqual(planResume({ ...base, stored, open: incident() }), { kind: 'expired', state: 'down', since: 900, seenAt: now - 2 * HOUR });
    assert.deepEqual(planResume({ ...base, stored, open: incident(), lastMinute: now - 30 * 60_000 }).kind, 'resume', 'probe counts written later than the memory');
    assert.deepEqual(planResume({ ...base, stored: { memory: memory({ status: 'up', base: 'up' }), incidentId: null, seenAt: now - 2 * HOUR }, open: undefined }), { kind: 'fresh' });
  });

  it('recovery_hold: answering seen before the restart counts toward the hold, the time mcpwatch was stopped does not', () => {
    const held: StatePolicy = { ...policy, recoveryHoldMs: 120_000 };
    const sm = new ServerStateMachine(held);
    for (const r of [ok(0), { ...fail(10_000), definitive: true }, ok(20_000), ok(50_000)]) sm.apply(r);
    assert.equal(sm.status, 'down', 'answering for 30 s of the 2 m hold when mcpwatch stopped');
    const stopped = 50_000;
    const back = stopped + 10 * 60_000;
    const plan = planResume({ now: back, resumeWithinMs: HOUR, lastMinute: undefined, stored: { memory: JSON.parse(JSON.stringify(sm.memory())) as MachineMemory, incidentId: 7, seenAt: stopped }, open: incident({ startedAt: 10_000 }) });
    assert.equal(plan.kind, 'resume');
    const again = new ServerStateMachine(held);
    again.restore((plan as { memory: MachineMemory }).memory, back);
    // Ten minutes unwatched are not ten minutes of answers (a stdio server is a new process now).
    assert.deepEqual(again.apply(ok(back)).events, []);
    assert.equal(again.status, 'down');
    assert.deepEqual(again.apply(ok(back + 80_000)).events, []);
    const rec = again.apply(ok(back + 90_000));
    assert.deepEqual(rec.events.map((e) => [e.event, e.downtime_seconds]), [['recovered', (20_000 + 10 * 60_000 - 10_000) / 1000]]);
  });
});

describe('catchUpDraft', () => {
  it('a bad state: its state event with the open incident\'s cause and start, marked catch_up', () => {
    const d = catchUpDraft('down', 900, incident())!;
    assert.deepEqual([d.event, d.severity, d.current_state, d.incident_started_at, d.details], ['down', 'critical', 'down', 900, { catch_up: true, error_type: 'connection_refused' }]);
    assert.equal(d.message, 'connection refused (since 1970-01-01T00:00:00.900Z; this notifier had not been told of it when mcpwatch restarted)');
    assert.deepEqual([catchUpDraft('stale', 1, undefined)!.event, catchUpDraft('degraded', 1, incident({ state: 'degraded' }))!.severity], ['stale', 'warning']);
    assert.equal(catchUpDraft('down', 900, incident(), 'reload')!.message, 'connection refused (since 1970-01-01T00:00:00.900Z; this notifier had not been told of it when a reload added it)');
  });

  it('up: the last incident\'s recovered with its downtime; nothing without one, or while it is open', () => {
    const d = catchUpDraft('up', null, incident({ startedAt: 1000, endedAt: 61_000 }))!;
    assert.deepEqual([d.event, d.previous_state, d.current_state, d.downtime_seconds, d.incident_started_at, d.details], ['recovered', 'down', 'up', 60, 1000, { catch_up: true, from: 'down' }]);
    assert.equal(catchUpDraft('up', null, undefined), undefined);
    assert.equal(catchUpDraft('up', null, incident()), undefined);
    assert.equal(catchUpDraft('unknown', null, incident()), undefined);
  });
});
