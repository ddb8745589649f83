import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUCKETS, DEFAULT_TRAFFIC_POLICY, ErrorRateWindow, isWindowCounts, judgeTraffic, type TrafficErrorPolicy, type WindowTotals } from '../../src/pipeline/traffic-errors.js';
import { ServerStateMachine } from '../../src/pipeline/state-machine.js';
import { assessTraffic, ServerTrack } from '../../src/pipeline/assess.js';
import type { ErrorType } from '../../src/pipeline/error-types.js';

const T0 = 1_800_000_000_000;
const WINDOW = 60_000;

describe('ErrorRateWindow', () => {
  // [what, calls as [ms after T0, error type or undefined], when to read (ms after T0), expected totals]
  const rows: Array<[string, Array<[number, ErrorType | undefined]>, number, WindowTotals]> = [
    ['empty', [], 0, { calls: 0, errors: 0, byType: {} }],
    ['successes and failures by type', [[0, undefined], [1, 'timeout'], [2, 'invalid_params'], [3, 'timeout']], 10, { calls: 4, errors: 3, byType: { timeout: 2, invalid_params: 1 } }],
    ['calls a whole window old have left it', [[0, 'timeout'], [WINDOW + 2_000, undefined]], WINDOW + 2_000, { calls: 1, errors: 0, byType: {} }],
    ['calls within the last window stay', [[0, 'timeout'], [WINDOW - 2_000, undefined]], WINDOW - 1_000, { calls: 2, errors: 1, byType: { timeout: 1 } }],
    ['a reading long after everything: empty', [[0, 'timeout'], [5_000, undefined]], 10 * WINDOW, { calls: 0, errors: 0, byType: {} }],
    ['a slot reused by a later bucket starts from zero', [[0, 'timeout'], [WINDOW, undefined], [WINDOW + 1, undefined]], WINDOW + 1, { calls: 2, errors: 0, byType: {} }],
    ['a call older than its slot\'s bucket (clock stepped back) is dropped', [[WINDOW, undefined], [0, 'timeout']], WINDOW, { calls: 1, errors: 0, byType: {} }],
    ['a reading before the calls (clock stepped back) sees none of them', [[10_000, 'timeout']], 0, { calls: 0, errors: 0, byType: {} }],
  ];
  for (const [what, calls, readAt, want] of rows) {
    it(what, () => {
      const w = new ErrorRateWindow(WINDOW);
      for (const [at, type] of calls) w.record(T0 + at, type);
      assert.deepEqual(w.totals(T0 + readAt), want);
    });
  }

  it('a window read before its first call counts that call, and other windows stay empty', () => {
    const w = new ErrorRateWindow(WINDOW);
    const before = w.totals(T0);
    w.record(T0, 'timeout');
    assert.deepEqual(w.totals(T0), { calls: 1, errors: 1, byType: { timeout: 1 } });
    assert.deepEqual(before, { calls: 0, errors: 0, byType: {} });
    assert.deepEqual(new ErrorRateWindow(WINDOW).totals(T0), { calls: 0, errors: 0, byType: {} });
  });

  it('counts() taken up by load() (a restart) reads the same; other widths, a window already counting and unknown types are not taken', () => {
    const w = new ErrorRateWindow(WINDOW);
    assert.equal(w.counts(), null, 'nothing until the first call');
    for (const [at, type] of [[0, 'timeout'], [1, undefined], [WINDOW / 2, 'invalid_params'], [WINDOW - 1, undefined]] as Array<[number, ErrorType | undefined]>) w.record(T0 + at, type);
    const counts: unknown = JSON.parse(JSON.stringify(w.counts()));
    assert.ok(isWindowCounts(counts));
    const again = new ErrorRateWindow(WINDOW);
    assert.equal(again.load(counts), true);
    for (const at of [WINDOW - 1, WINDOW + 2_000, 2 * WINDOW]) assert.deepEqual(again.totals(T0 + at), w.totals(T0 + at), `at ${at}`);
    assert.equal(new ErrorRateWindow(2 * WINDOW).load(counts), false);
    assert.equal(again.load(counts), false, 'a window that counts already keeps its own');
    const newer = new ErrorRateWindow(WINDOW);
    newer.load({ ...counts, buckets: [[counts.buckets[0]![0], 3, { timeout: 1, some_new_type: 1 } as Partial<Record<ErrorType, number>>]] });
    assert.deepEqual(newer.totals(T0), { calls: 3, errors: 1, byType: { timeout: 1 } });
  });

  it('keeps the same memory whatever the number of calls: counts, never a list', () => {
    const w = new ErrorRateWindow(WINDOW);
    for (let i = 0; i < 100_000; i++) w.record(T0 + (i % WINDOW), i % 4 === 0 ? 'internal_error' : undefined);
    const t = w.totals(T0 + WINDOW - 1);
    assert.equal(t.calls, 100_000);
    assert.equal(t.errors, 25_000);
    assert.equal(w.bucketMs * BUCKETS >= WINDOW, true);
  });
});

describe('judgeTraffic', () => {
  const policy: TrafficErrorPolicy = { errorRate: 0.2, windowMs: 300_000, minCalls: 20 };
  const totals = (calls: number, byType: Partial<Record<ErrorType, number>>): WindowTotals => ({
    calls,
    errors: Object.values(byType).reduce((a, b) => a + b, 0),
    byType,
  });
  const rows: Array<[string, WindowTotals, TrafficErrorPolicy, boolean, string, ErrorType | null]> = [
    ['the issue\'s example', totals(212, { timeout: 42, invalid_params: 30 }), policy, true, 'traffic: 34 % of 212 calls failed (invalid_params 30, timeout 42)', 'timeout'],
    ['exactly at the threshold fails', totals(20, { tool_error: 4 }), policy, true, 'traffic: 20 % of 20 calls failed (tool_error 4)', 'tool_error'],
    ['just under the threshold passes', totals(21, { tool_error: 4 }), policy, false, 'traffic: 19 % of 21 calls failed (tool_error 4)', 'tool_error'],
    ['too few calls to judge, even all failing', totals(19, { timeout: 19 }), policy, false, 'traffic: 19 calls in 5m, too few to judge (min_calls 20)', 'timeout'],
    ['no calls', totals(0, {}), policy, false, 'traffic: no calls in 5m', null],
    ['no errors', totals(500, {}), policy, false, 'traffic: 0 % of 500 calls failed', null],
    ['error_rate null never fails', totals(100, { timeout: 100 }), { ...policy, errorRate: null }, false, 'traffic: 100 % of 100 calls failed (timeout 100)', 'timeout'],
    ['a near-total rate is not shown as 100 %', totals(1000, { timeout: 999 }), policy, true, 'traffic: 99 % of 1000 calls failed (timeout 999)', 'timeout'],
    ['a tiny rate is not shown as 0 %', totals(1000, { timeout: 1 }), policy, false, 'traffic: 1 % of 1000 calls failed (timeout 1)', 'timeout'],
    ['a tie between types picks the first alphabetically', totals(10, { timeout: 3, internal_error: 3 }), { ...policy, minCalls: 1 }, true, 'traffic: 60 % of 10 calls failed (internal_error 3, timeout 3)', 'internal_error'],
  ];
  it('a window without calls gets one shared, frozen verdict per policy: nothing made every second', () => {
    const v = judgeTraffic(totals(0, {}), policy);
    assert.equal(judgeTraffic(totals(0, {}), policy), v);
    assert.ok(Object.isFrozen(v) && Object.isFrozen(v.details));
    assert.notEqual(judgeTraffic(totals(0, {}), { ...policy }), v, 'another policy, its own verdict (its window is worded)');
  });
  for (const [what, t, p, failing, note, top] of rows) {
    it(what, () => {
      const v = judgeTraffic(t, p);
      assert.equal(v.failing, failing);
      assert.equal(v.note, note);
      assert.equal(v.errorType, top);
      assert.equal(v.details.calls, t.calls);
      assert.deepEqual(v.details.errors_by_type, t.byType);
    });
  }
});

const POLICY = { failuresBeforeDown: 3, thresholds: {}, latencyWindow: 5 };
const ok = (at: number) => ({ at, ok: true, latencyMs: 10, error: null });
const failed = (at: number) => ({ at, ok: false, latencyMs: null, error: { type: 'connection_refused' as const, category: 'transient' as const, phase: 'connect' as const, message: 'refused' } });

describe('ServerStateMachine.traffic', () => {
  const failing = judgeTraffic({ calls: 40, errors: 20, byType: { invalid_params: 20 } }, DEFAULT_TRAFFIC_POLICY);
  const fine = judgeTraffic({ calls: 40, errors: 1, byType: { invalid_params: 1 } }, DEFAULT_TRAFFIC_POLICY);

  it('degrades an up server, fires traffic_errors once, and recovers when the rate falls back', () => {
    const sm = new ServerStateMachine(POLICY);
    sm.apply(ok(T0));
    assert.equal(sm.status, 'up');
    const first = sm.traffic(failing, T0 + 1000);
    assert.deepEqual(first.transition, { from: 'up', to: 'degraded', at: T0 + 1000, cause: 'traffic: 50 % of 40 calls failed (invalid_params 20)', errorType: 'invalid_params' });
    assert.deepEqual(first.events.map((e) => [e.event, e.severity, e.message, e.previous_state, e.current_state, e.incident_started_at]), [
      ['traffic_errors', 'warning', 'traffic: 50 % of 40 calls failed (invalid_params 20)', 'up', 'degraded', T0 + 1000],
    ]);
    assert.equal(first.events[0]!.details.error_rate, 0.5);
    // Still failing: nothing new, and a passing probe does not clear it.
    assert.deepEqual(sm.traffic(failing, T0 + 2000), { transition: null, events: [] });
    const probe = sm.apply(ok(T0 + 3000));
    assert.equal(probe.transition, null);
    assert.deepEqual(probe.events, []);
    assert.equal(sm.status, 'degraded');
    const back = sm.traffic(fine, T0 + 61_000);
    assert.deepEqual(back.transition?.to, 'up');
    assert.deepEqual(back.events.map((e) => [e.event, e.message, e.previous_state, e.current_state, e.downtime_seconds, e.details.cause]), [
      ['recovered', 'traffic errors back under the threshold after 1m: 3 % of 40 calls failed (invalid_params 1)', 'degraded', 'up', 60, 'traffic'],
    ]);
    assert.equal(sm.notUpSince, null);
  });

  it('a server that is not failing in traffic behaves exactly as without traffic', () => {
    const a = new ServerStateMachine(POLICY);
    const b = new ServerStateMachine(POLICY);
    const steps = [ok(T0), failed(T0 + 1), failed(T0 + 2), failed(T0 + 3), ok(T0 + 4)];
    for (const step of steps) {
      const x = a.apply(step);
      assert.deepEqual(b.traffic(fine, step.at), { transition: null, events: [] });
      assert.deepEqual(b.apply(step), x);
    }
  });

  // Each row drives one machine through steps and lists every event: [event, previous, current].
  // Traffic speaks only when it changes the status: a down or stale server is neither degraded nor
  // "recovered" by its traffic.
  type Step = 'ok' | 'fail' | 'stale' | 'traffic-fails' | 'traffic-fine';
  const stale = (at: number) => ({ ...ok(at), staleMs: 300_000 });
  const rows: Array<[string, Step[], Array<[string, string, string]>]> = [
    ['traffic fails and recovers while down: nothing said', ['ok', 'fail', 'traffic-fails', 'traffic-fine'], [['down', 'up', 'down']]],
    ['traffic fails while down; the server answers again: recovered, then traffic_errors as it stays degraded', ['ok', 'fail', 'traffic-fails', 'ok', 'traffic-fine'], [
      ['down', 'up', 'down'], ['recovered', 'down', 'degraded'], ['traffic_errors', 'down', 'degraded'], ['recovered', 'degraded', 'up'],
    ]],
    ['traffic degrades, then the server goes down; traffic recovery while down says nothing', ['ok', 'traffic-fails', 'fail', 'traffic-fine', 'ok'], [
      ['traffic_errors', 'up', 'degraded'], ['down', 'degraded', 'down'], ['recovered', 'down', 'up'],
    ]],
    ['traffic fails and recovers while stale: nothing said', ['ok', 'stale', 'traffic-fails', 'traffic-fine'], [['stale', 'up', 'stale']]],
  ];
  for (const [what, steps, want] of rows) {
    it(what, () => {
      const sm = new ServerStateMachine({ ...POLICY, failuresBeforeDown: 1 });
      const seen: Array<[string, string, string]> = [];
      steps.forEach((step, i) => {
        const at = T0 + i * 1000;
        const r = step === 'ok' ? sm.apply(ok(at)) : step === 'fail' ? sm.apply(failed(at)) : step === 'stale' ? sm.apply(stale(at)) : sm.traffic(step === 'traffic-fails' ? failing : fine, at);
        for (const e of r.events) seen.push([e.event, e.previous_state, e.current_state]);
      });
      assert.deepEqual(seen, want);
    });
  }

  it('a down server stays down while its traffic fails; once it answers again, traffic holds it degraded', () => {
    const sm = new ServerStateMachine({ ...POLICY, failuresBeforeDown: 1 });
    sm.apply(ok(T0));
    sm.apply(failed(T0 + 1));
    assert.equal(sm.status, 'down');
    assert.deepEqual(sm.traffic(failing, T0 + 2), { transition: null, events: [] });
    const back = sm.apply(ok(T0 + 3));
    assert.deepEqual(back.transition && [back.transition.from, back.transition.to, back.transition.cause], ['down', 'degraded', failing.note]);
    assert.equal(back.events.find((e) => e.event === 'traffic_errors')?.message, failing.note);
    assert.equal(sm.traffic(fine, T0 + 4).transition?.to, 'up');
  });
});

describe('assessTraffic', () => {
  it('judges the window the track records into, with the track\'s policy', () => {
    const track = new ServerTrack({ ...POLICY, traffic: { errorRate: 0.5, windowMs: WINDOW, minCalls: 4 } });
    track.sm.apply(ok(T0));
    for (let i = 0; i < 3; i++) track.trafficWindow.record(T0 + i, 'timeout');
    assert.deepEqual(assessTraffic(track, T0 + 10).events, [], 'three calls are too few');
    track.trafficWindow.record(T0 + 11, undefined);
    assert.deepEqual(assessTraffic(track, T0 + 12).events.map((e) => e.message), ['traffic: 75 % of 4 calls failed (timeout 3)']);
    // The calls age out of the window: too few to judge, so the server is no longer held degraded.
    const later = assessTraffic(track, T0 + 2 * WINDOW);
    assert.deepEqual(later.events.map((e) => [e.event, e.current_state]), [['recovered', 'up']]);
  });

  it('a reload with another window length starts the counts over', () => {
    const track = new ServerTrack({ ...POLICY, traffic: { errorRate: 0.5, windowMs: WINDOW, minCalls: 1 } });
    track.trafficWindow.record(T0, 'timeout');
    track.setPolicy({ ...POLICY, traffic: { errorRate: 0.5, windowMs: WINDOW, minCalls: 1 } }, T0);
    assert.equal(track.trafficWindow.totals(T0).calls, 1);
    track.setPolicy({ ...POLICY, traffic: { errorRate: 0.5, windowMs: 2 * WINDOW, minCalls: 1 } }, T0);
    assert.equal(track.trafficWindow.totals(T0).calls, 0);
  });
});
