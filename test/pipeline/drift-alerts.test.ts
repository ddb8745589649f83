import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gateDriftAlerts, type DriftAlertGate } from '../../src/pipeline/drift-alerts.js';
import type { EventDraft } from '../../src/pipeline/state-machine.js';
import type { Severity } from '../../src/pipeline/events.js';

const MIN = 60_000;
const INTERVAL = 10 * MIN;

function change(severity: Severity = 'warning'): EventDraft {
  return { event: 'schema_drift', severity, message: 'tool schemas changed: 1 breaking', details: { counts: {} }, previous_state: 'up', current_state: 'up', incident_started_at: null, downtime_seconds: null };
}

/** Runs checks at the given minutes (a list of drafts per check) and returns what was sent, by minute. */
function run(checks: Array<[number, EventDraft[]]>): Array<[number, string, unknown]> {
  let gate: DriftAlertGate | undefined;
  const sent: Array<[number, string, unknown]> = [];
  for (const [minute, drafts] of checks) {
    const r = gateDriftAlerts(gate, drafts, minute * MIN, INTERVAL, 'up');
    gate = r.gate;
    for (const e of r.events) sent.push([minute, e.severity, e.details.suppressed_changes]);
  }
  return sent;
}

describe('schema_drift alert rate limit', () => {
  it('sends a single change at once, and nothing for checks without change', () => {
    assert.deepEqual(run([[0, []], [1, [change()]], [2, []], [30, []]]), [[1, 'warning', undefined]]);
  });

  it('turns a schema that changes on every check into one alert, then a summary with the count once it settles', () => {
    const checks: Array<[number, EventDraft[]]> = [];
    for (let m = 0; m < 5; m++) checks.push([m, [change(m === 3 ? 'warning' : 'info')]]);
    checks.push([6, []], [11, []]);
    // Minute 3 is worse than minute 0's alert: sent at once, with the two changes counted before it.
    assert.deepEqual(run(checks), [[0, 'info', undefined], [3, 'warning', 2], [11, 'info', 1]]);
  });

  it('alerts a breaking change within the interval of a compatible one, and only once per severity', () => {
    // A tool added (info), then removed (critical), then added and removed again: the removal's diff
    // reached no alert before (flowsA); the repeats are counted.
    const sent = run([[0, [change('info')]], [2, [change('critical')]], [3, [change('info')]], [4, [change('critical')]], [11, []]]);
    assert.deepEqual(sent, [[0, 'info', undefined], [2, 'critical', undefined], [11, 'critical', 2]]);
  });

  it('sends the worst of one check\'s changes when they escalate', () => {
    const first = gateDriftAlerts(undefined, [change('info')], 0, INTERVAL, 'up');
    const next = gateDriftAlerts(first.gate, [change('warning'), change('critical'), change('info')], MIN, INTERVAL, 'up');
    assert.deepEqual(next.events.map((e) => [e.severity, e.details.suppressed_changes]), [['critical', 2]]);
  });

  it('carries the count on the next change after the interval when the flapping goes on', () => {
    const checks: Array<[number, EventDraft[]]> = [];
    for (let m = 0; m <= 25; m++) checks.push([m, [change()]]);
    // 0 alerts; 1–9 counted; 10 alerts with 9; 11–19 counted; 20 alerts with 9; 21–25 counted.
    assert.deepEqual(run(checks), [[0, 'warning', undefined], [10, 'warning', 9], [20, 'warning', 9]]);
  });

  it('says so in the message', () => {
    const first = gateDriftAlerts(undefined, [change()], 0, INTERVAL, 'up');
    const counted = gateDriftAlerts(first.gate, [change(), change()], MIN, INTERVAL, 'up');
    const next = gateDriftAlerts(counted.gate, [change()], INTERVAL, INTERVAL, 'degraded');
    assert.equal(next.events[0]!.message, 'tool schemas changed: 1 breaking (and 2 earlier changes not alerted: the schema is flapping)');
    const settled = gateDriftAlerts(counted.gate, [], INTERVAL, INTERVAL, 'degraded');
    assert.match(settled.events[0]!.message, /^tool schemas changed 2 more times since the last alert/);
    assert.equal(settled.events[0]!.current_state, 'degraded');
  });
});
