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
    assert.deepEqual([back.event, back.message, back.downtime_seconds, back.details.check], ['recovered', 'check q passes again after 1m 0s failing', 60, 'q']);
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

  it('forgets a check removed from the configuration', () => {
    const sm = new ServerStateMachine(policy);
    sm.apply(probe(0, [run('q', 'fail')]));
    assert.equal(sm.status, 'degraded');
    sm.setPolicy({ ...policy, checks: ['w'] });
    sm.apply(probe(1));
    assert.equal(sm.status, 'up');
  });
});
