// What failing checks do to a server's state (pipeline/state-machine.ts), row by row without a clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ServerStateMachine, type CheckResult, type StatePolicy } from '../../src/pipeline/state-machine.js';
import type { CheckRun, ProbeError } from '../../src/probe/prober.js';

const policy: StatePolicy = { failuresBeforeDown: 3, thresholds: {}, latencyWindow: 10, checks: ['q', 'w'] };
const assertion: ProbeError = { type: 'assertion_failed', category: 'permanent', phase: 'tools/call', message: 'text_contains: expected a text block containing "1", got "0"' };
const refusedErr: ProbeError = { type: 'side_effects_refused', category: 'permanent', phase: 'tools/call', message: 'not called' };

function run(name: string, status: CheckRun['status'], onFailure: CheckRun['onFailure'] = 'degraded'): CheckRun {
  return { name, method: 'tools/call', target: name, status, onFailure, startedAt: 0, latencyMs: status === 'refused' ? null : 5, error: status === 'fail' ? assertion : status === 'refused' ? refusedErr : null };
}
const probe = (at: number, checks: CheckRun[] = [], ok = true): CheckResult => ({ at, ok, latencyMs: ok ? 10 : null, error: ok ? null : { ...assertion, type: 'connection_refused', phase: 'tools/list', message: 'refused' }, checks });

function steps(sm: ServerStateMachine, rows: CheckResult[]): Array<[string, string[]]> {
  return rows.map((r) => {
    const s = sm.apply(r);
    return [sm.status, s.events.map((e) => `${e.event}:${e.previous_state}->${e.current_state}`)];
  });
}

describe('check failures in the state machine', () => {
  it('degraded at the first failure, kept across list-only probes, recovered when the check passes', () => {
    const sm = new ServerStateMachine(policy);
    assert.deepEqual(steps(sm, [probe(0, [run('q', 'pass')]), probe(1000, [run('q', 'fail')]), probe(2000), probe(3000, [run('q', 'fail')]), probe(61_000, [run('q', 'pass')])]), [
      ['up', []],
      ['degraded', ['check_failed:up->degraded']],
      ['degraded', []],
      ['degraded', []],
      ['up', ['recovered:degraded->up']],
    ]);
  });

  it('a server degraded by a check that dies and comes back recovers with the time it was down, not since the check failed', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(probe(0, [run('q', 'fail')]));
    assert.equal(sm.status, 'degraded');
    sm.apply({ at: 120_000, ok: false, latencyMs: null, error: { ...assertion, type: 'process_exited', phase: 'tools/list', message: 'killed by SIGKILL' }, definitive: true });
    assert.equal(sm.status, 'down');
    const back = sm.apply(probe(125_000, [run('q', 'fail')]));
    assert.equal(sm.status, 'degraded', 'the check still fails');
    const rec = back.events.find((e) => e.event === 'recovered')!;
    assert.deepEqual([rec.message, rec.downtime_seconds, rec.incident_started_at], ['recovered after 5s down', 5, 0]);
  });

  it('names the check in the event and the transition', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(probe(0));
    const step = sm.apply(probe(5000, [run('q', 'fail')]));
    assert.deepEqual(step.transition, { from: 'up', to: 'degraded', at: 5000, cause: `check q failed: ${assertion.message}`, errorType: 'assertion_failed' });
    const e = step.events[0]!;
    assert.equal(e.severity, 'warning');
    assert.equal(e.message, `check q failed (assertion_failed): ${assertion.message}`);
    assert.deepEqual(e.details, { check: 'q', method: 'tools/call', target: 'q', error_type: 'assertion_failed', error_category: 'permanent', on_failure: 'degraded', consecutive_failures: 1 });
    assert.equal(e.incident_started_at, 5000);
    const back = sm.apply(probe(65_000, [run('q', 'pass')])).events[0]!;
    assert.deepEqual([back.event, back.message, back.downtime_seconds, back.details.check], ['recovered', 'check q passes again after 1m failing', 60, 'q']);
    assert.equal(back.incident_started_at, 5000, 'the recovered that ends the incident names when it began');
  });

  it('on_failure: down waits for consecutive_failures_before_down failures in a row, re-checking fast meanwhile', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(probe(0));
    const rows = steps(sm, [probe(1, [run('w', 'fail', 'down')]), probe(2, [run('w', 'fail', 'down')]), probe(3, [run('w', 'fail', 'down')])]);
    assert.deepEqual(rows, [
      ['up', []],
      ['up', []],
      ['down', ['check_failed:up->down']],
    ]);
    assert.ok(sm.unsettled);
    // A pass in between starts the count again.
    const sm2 = new ServerStateMachine(policy);
    sm2.apply(probe(0));
    assert.ok(!sm2.unsettled);
    sm2.apply(probe(1, [run('w', 'fail', 'down')]));
    assert.ok(sm2.unsettled, 'a failing down-check is re-checked at the fast pace');
    assert.deepEqual(steps(sm2, [probe(2, [run('w', 'fail', 'down')]), probe(3, [run('w', 'pass', 'down')]), probe(4, [run('w', 'fail', 'down')])]).map((r) => r[0]), ['up', 'up', 'up']);
  });

  it('a server that answers again but a down-check still fails stays down, without a false recovery', () => {
    const sm = new ServerStateMachine({ ...policy, failuresBeforeDown: 1 });
    sm.apply(probe(0));
    assert.deepEqual(steps(sm, [probe(1, [run('w', 'fail', 'down')]), probe(2, [], false), probe(3, [run('w', 'fail', 'down')]), probe(4, [run('w', 'pass', 'down')])]), [
      ['down', ['check_failed:up->down']],
      ['down', ['down:down->down']],
      ['down', []],
      ['up', ['recovered:down->up']],
    ]);
  });

  it('a refused check is a configuration finding: it never changes the state', () => {
    const sm = new ServerStateMachine(policy);
    assert.deepEqual(steps(sm, [probe(0, [run('w', 'refused')]), probe(1, [run('w', 'refused')])]), [
      ['up', []],
      ['up', []],
    ]);
  });

  it('a reload that removes a counted failing check announces it as a recovery, once', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(probe(0));
    sm.apply(probe(1000, [run('q', 'fail')]));
    assert.equal(sm.status, 'degraded');
    const step = sm.setPolicy({ ...policy, checks: ['w'] }, 61_000);
    assert.deepEqual(step.transition, { from: 'degraded', to: 'up', at: 61_000, cause: 'up', errorType: null });
    assert.equal(step.events.length, 1);
    const e = step.events[0]!;
    assert.deepEqual([e.event, e.severity, e.previous_state, e.current_state, e.downtime_seconds, e.incident_started_at], ['recovered', 'info', 'degraded', 'up', 60, 1000]);
    assert.equal(e.message, 'check q removed from the configuration after 1m failing');
    assert.deepEqual(e.details, { check: 'q', from: 'degraded', method: 'tools/call', target: 'q', cause: 'check_removed' });
    assert.equal(sm.status, 'up');
    assert.ok(!sm.unsettled);
    assert.deepEqual(sm.failingChecks(), []);
    // The next probe finds nothing left to announce.
    assert.deepEqual(steps(sm, [probe(62_000)]), [['up', []]]);
  });

  it('a removed check that failed without counting yet goes silently', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(probe(0));
    sm.apply(probe(1, [run('w', 'fail', 'down')]));
    assert.equal(sm.status, 'up');
    assert.deepEqual(sm.setPolicy({ ...policy, checks: ['q'] }, 2), { transition: null, events: [] });
    assert.ok(!sm.unsettled);
    assert.deepEqual(steps(sm, [probe(3)]), [['up', []]]);
  });

  it('a renamed check: the old name recovers at the reload, the new one fails on its own', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(probe(0, [run('q', 'fail')]));
    const step = sm.setPolicy({ ...policy, checks: ['q2'] }, 1);
    assert.deepEqual(step.events.map((e) => [e.event, e.details.check, `${e.previous_state}->${e.current_state}`]), [['recovered', 'q', 'degraded->up']]);
    assert.deepEqual(steps(sm, [probe(2, [run('q2', 'fail')])]), [['degraded', ['check_failed:up->degraded']]]);
  });

  it('a removed down-check leaves the server as the rest holds it: degraded by another check', () => {
    const sm = new ServerStateMachine({ ...policy, failuresBeforeDown: 1 });
    sm.apply(probe(0));
    sm.apply(probe(1, [run('w', 'fail', 'down'), run('q', 'fail')]));
    assert.equal(sm.status, 'down');
    const step = sm.setPolicy({ ...policy, failuresBeforeDown: 1, checks: ['q'] }, 2);
    assert.deepEqual(step.transition, { from: 'down', to: 'degraded', at: 2, cause: `check q failed: ${assertion.message}`, errorType: 'assertion_failed' });
    assert.deepEqual(step.events.map((e) => [e.event, e.details.check, `${e.previous_state}->${e.current_state}`]), [['recovered', 'w', 'down->degraded']]);
    assert.equal(step.events[0]!.incident_started_at, 1, 'the incident goes on');
  });

  it('a server down for its own reasons stays down: the removed check recovers, the server does not', () => {
    const sm = new ServerStateMachine({ ...policy, failuresBeforeDown: 1 });
    sm.apply(probe(0));
    sm.apply(probe(1, [run('w', 'fail', 'down')]));
    sm.apply(probe(2, [], false));
    assert.equal(sm.status, 'down');
    const step = sm.setPolicy({ ...policy, failuresBeforeDown: 1, checks: [] }, 3);
    assert.equal(step.transition, null);
    assert.deepEqual(step.events.map((e) => [e.event, e.details.check, `${e.previous_state}->${e.current_state}`]), [['recovered', 'w', 'down->down']]);
    // The server's own recovery comes when it answers, once.
    assert.deepEqual(steps(sm, [probe(4, [], false), probe(5)]), [
      ['down', []],
      ['up', ['recovered:down->up']],
    ]);
  });
});
