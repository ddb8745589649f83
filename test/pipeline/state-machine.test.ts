import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ServerStateMachine, type CheckResult, type StatePolicy } from '../../src/pipeline/state-machine.js';
import type { ProbeError } from '../../src/probe/prober.js';

const policy: StatePolicy = { failuresBeforeDown: 3, thresholds: { latency_warning: 500, latency_critical: 2000 }, latencyWindow: 10 };
const refused: ProbeError = { type: 'connection_refused', category: 'transient', phase: 'tools/list', message: 'connection refused (ECONNREFUSED)' };
const exited: ProbeError = { type: 'process_exited', category: 'transient', phase: 'tools/list', message: 'killed by SIGKILL: oom' };

const ok = (at: number, latencyMs = 50): CheckResult => ({ at, ok: true, latencyMs, error: null });
const fail = (at: number, error = refused): CheckResult => ({ at, ok: false, latencyMs: null, error });

function run(sm: ServerStateMachine, results: CheckResult[]): Array<[string, string[]]> {
  return results.map((r) => {
    const step = sm.apply(r);
    return [sm.status, step.events.map((e) => e.event)];
  });
}

describe('server state machine', () => {
  it('goes unknown → up without an alert', () => {
    const sm = new ServerStateMachine(policy);
    const step = sm.apply(ok(0));
    assert.equal(sm.status, 'up');
    assert.deepEqual(step.events, []);
    assert.deepEqual(step.transition, { from: 'unknown', to: 'up', at: 0, cause: 'up', errorType: null });
  });

  it('recovery_hold: a crash-looping server is down once, and recovered once it has answered for the hold', () => {
    const sm = new ServerStateMachine({ ...policy, recoveryHoldMs: 30_000 });
    sm.apply(ok(0));
    const def = (at: number): CheckResult => ({ ...fail(at, exited), definitive: true });
    // A process that answers after each restart and dies seconds later: one down, nothing more.
    assert.deepEqual(run(sm, [def(10_000), ok(15_000), def(18_000), ok(25_000), ok(30_000), def(33_000), ok(40_000)]), [
      ['down', ['down']],
      ['down', []],
      ['down', []],
      ['down', []],
      ['down', []],
      ['down', []],
      ['down', []],
    ]);
    assert.equal(sm.unsettled, true, 'held down: re-checked fast, so the hold ends on time');
    assert.deepEqual(run(sm, [ok(60_000)]), [['down', []]]);
    const rec = sm.apply(ok(70_000));
    assert.equal(sm.status, 'up');
    assert.deepEqual(rec.events.map((e) => e.event), ['recovered']);
    assert.equal(rec.events[0]!.downtime_seconds, 30, 'down from 10 s until it answered for good at 40 s');
    assert.deepEqual(rec.events[0]!.details, { from: 'down', answering_since: new Date(40_000).toISOString() });
    assert.equal(rec.events[0]!.incident_started_at, 10_000);
    // Without a hold the same run announces every restart.
    const plain = new ServerStateMachine(policy);
    plain.apply(ok(0));
    const events = run(plain, [def(10_000), ok(15_000), def(18_000), ok(25_000)]).flatMap(([, e]) => e);
    assert.deepEqual(events, ['down', 'recovered', 'down', 'recovered']);
  });

  it('recovery_hold survives a restart of the agent (memory and restore)', () => {
    const sm = new ServerStateMachine({ ...policy, recoveryHoldMs: 30_000 });
    sm.apply(ok(0));
    sm.apply({ ...fail(10_000, exited), definitive: true });
    sm.apply(ok(20_000));
    const again = new ServerStateMachine({ ...policy, recoveryHoldMs: 30_000 });
    again.restore(JSON.parse(JSON.stringify(sm.memory())), 0);
    assert.deepEqual(run(again, [ok(40_000), ok(50_000)]), [['down', []], ['up', ['recovered']]]);
  });

  it('is down only after N failures in a row, then recovers with the downtime', () => {
    const sm = new ServerStateMachine(policy);
    assert.deepEqual(run(sm, [ok(0), fail(10_000), fail(15_000)]), [['up', []], ['up', []], ['up', []]]);
    assert.equal(sm.unsettled, true, 'a failure streak makes the scheduler re-check fast');
    const down = sm.apply(fail(20_000));
    assert.equal(sm.status, 'down');
    assert.equal(down.events.length, 1);
    const e = down.events[0]!;
    assert.equal(e.event, 'down');
    assert.equal(e.severity, 'critical');
    assert.equal(e.message, 'connection refused (ECONNREFUSED)');
    assert.deepEqual(e.details, { error_type: 'connection_refused', error_category: 'transient', phase: 'tools/list', consecutive_failures: 3 });
    assert.equal(e.incident_started_at, 10_000, 'the incident starts at the first failure of the streak');
    assert.deepEqual(down.transition, { from: 'up', to: 'down', at: 20_000, cause: 'connection refused (ECONNREFUSED)', errorType: 'connection_refused' });
    assert.deepEqual(sm.apply(fail(25_000)).events, [], 'no repeated alert while down');
    const rec = sm.apply(ok(135_000));
    assert.equal(sm.status, 'up');
    assert.equal(rec.events[0]!.event, 'recovered');
    assert.equal(rec.events[0]!.downtime_seconds, 125);
    assert.equal(rec.events[0]!.message, 'recovered after 2m 5s down');
  });

  it('a server still down for another cause is no new alert, only a revision of the open one; the same cause again is neither', () => {
    const timeout: ProbeError = { type: 'timeout', category: 'transient', phase: 'tools/list', message: 'timeout after 3000ms waiting for tools/list' };
    const sm = new ServerStateMachine(policy);
    run(sm, [ok(0), fail(10_000, timeout), fail(15_000, timeout), fail(20_000, timeout)]);
    assert.equal(sm.status, 'down');
    assert.equal(sm.apply(fail(25_000, timeout)).revised, undefined, 'same cause');
    const moved = sm.apply(fail(30_000));
    assert.deepEqual([moved.events, moved.transition], [[], null]);
    assert.deepEqual(
      [moved.revised?.event, moved.revised?.severity, moved.revised?.message, moved.revised?.details.error_type, moved.revised?.details.previous_error_type, moved.revised?.current_state, moved.revised?.incident_started_at],
      ['down', 'critical', 'connection refused (ECONNREFUSED)', 'connection_refused', 'timeout', 'down', 10_000],
    );
    assert.equal(sm.apply(fail(35_000)).revised, undefined, 'said once');
    // Across a restart of the agent, the cause it last saw is the one to compare with.
    const next = new ServerStateMachine(policy);
    next.restore(sm.memory(), 40_000);
    assert.equal(next.apply(fail(40_000, exited)).revised?.details.previous_error_type, 'connection_refused');
  });

  it('counts a recovery\'s downtime from when the server went down, not from an earlier degraded spell', () => {
    const sm = new ServerStateMachine({ ...policy, latencyWindow: 2 });
    run(sm, [ok(0, 600), ok(10_000, 700)]);
    assert.equal(sm.status, 'degraded');
    sm.apply({ ...fail(120_000, exited), definitive: true });
    assert.equal(sm.status, 'down');
    const rec = sm.apply(ok(125_000, 700));
    assert.equal(rec.events[0]!.event, 'recovered');
    assert.equal(rec.events[0]!.message, 'recovered after 5s down');
    assert.equal(rec.events[0]!.downtime_seconds, 5);
    assert.equal(rec.events[0]!.incident_started_at, 10_000, 'the incident, degraded spell included, goes on');
  });

  it('does not alert on flapping below the threshold', () => {
    const sm = new ServerStateMachine(policy);
    const results = [ok(0), fail(1), fail(2), ok(3), fail(4), ok(5), fail(6), fail(7), ok(8)];
    const events = run(sm, results).flatMap(([, e]) => e);
    assert.deepEqual(events, []);
    assert.equal(sm.status, 'up');
  });

  it('marks a dead process down at once', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(ok(0));
    const step = sm.apply({ ...fail(1000, exited), definitive: true });
    assert.equal(sm.status, 'down');
    assert.deepEqual(step.events.map((e) => e.event), ['down']);
  });

  it('goes down from unknown when the first checks all fail', () => {
    const sm = new ServerStateMachine(policy);
    assert.deepEqual(run(sm, [fail(0), fail(1), fail(2)]).map(([s, e]) => [s, e.join()]), [['unknown', ''], ['unknown', ''], ['down', 'down']]);
  });

  it('never cries wolf over one slow answer, but a slow trend is degraded', () => {
    const sm = new ServerStateMachine(policy);
    assert.deepEqual(run(sm, [ok(0, 40), ok(1, 900), ok(2, 45)]).map(([s]) => s), ['up', 'up', 'up']);
    const step = sm.apply(ok(3, 800));
    assert.equal(sm.status, 'degraded');
    assert.equal(step.events[0]!.event, 'degraded');
    assert.equal(step.events[0]!.severity, 'warning');
    assert.equal(step.events[0]!.message, 'p95 latency 900ms over warning threshold 500ms');
    assert.deepEqual(step.transition?.to, 'degraded');
  });

  it('escalates to latency_spike over the critical threshold, and recovers when latency falls', () => {
    const sm = new ServerStateMachine({ ...policy, latencyWindow: 4 });
    run(sm, [ok(0, 600), ok(1, 700)]);
    assert.equal(sm.status, 'degraded');
    const spike = sm.apply(ok(2, 2500));
    assert.deepEqual(spike.events.map((e) => e.event), []);
    const spike2 = sm.apply(ok(3, 3000));
    assert.deepEqual(spike2.events.map((e) => [e.event, e.severity]), [['latency_spike', 'critical']]);
    const back = run(sm, [ok(4, 10), ok(5, 10), ok(6, 10), ok(7, 10)]);
    assert.equal(sm.status, 'up');
    assert.deepEqual(back.flatMap(([, e]) => e), ['recovered']);
  });

  it('reports a partially failing server as degraded', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(ok(0));
    const err: ProbeError = { type: 'protocol_error', category: 'permanent', phase: 'tools/list', message: 'JSON-RPC error -32603 in tools/list: db down' };
    const step = sm.apply({ at: 1, ok: true, latencyMs: 20, error: err, partial: true });
    assert.equal(sm.status, 'degraded');
    assert.equal(step.events[0]!.message, 'JSON-RPC error -32603 in tools/list: db down');
  });

  it('goes stale on a silent stream and recovers with the stale time', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(ok(0));
    const stale = sm.apply({ at: 130_000, ok: false, latencyMs: null, error: null, staleMs: 120_000 });
    assert.equal(sm.status, 'stale');
    assert.equal(stale.events[0]!.event, 'stale');
    assert.equal(stale.events[0]!.message, 'no events in 120.0s');
    const rec = sm.apply(ok(140_000));
    assert.equal(sm.status, 'up');
    assert.equal(rec.events[0]!.event, 'recovered');
    assert.equal(rec.events[0]!.downtime_seconds, 10);
  });

  it('keeps a server down when it then has been silent for stale_after: no stale warning in place of the page', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(ok(0));
    for (const at of [30_000, 35_000, 40_000]) sm.apply(fail(at));
    assert.equal(sm.status, 'down');
    const silent = sm.apply({ at: 130_000, ok: false, latencyMs: null, error: null, staleMs: 125_000 });
    assert.deepEqual([sm.status, silent.events, silent.transition], ['down', [], null]);
    const rec = sm.apply(ok(140_000));
    assert.deepEqual(rec.events.map((e) => [e.event, e.message]), [['recovered', 'recovered after 1m 50s down']]);
  });

  it('reports session expirations even when re-initialize worked', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(ok(0));
    const step = sm.apply({ ...ok(1), sessionExpired: true });
    assert.equal(sm.status, 'up');
    assert.deepEqual(step.events.map((e) => [e.event, e.severity]), [['session_expired', 'warning']]);
  });
});
