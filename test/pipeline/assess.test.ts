import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assess, ServerTrack, type CheckOutcome } from '../../src/pipeline/assess.js';
import type { StatePolicy } from '../../src/pipeline/state-machine.js';
import type { CheckRun, ProbeError, ToolInfo } from '../../src/probe/prober.js';

const policy: StatePolicy = { failuresBeforeDown: 2, thresholds: { latency_warning: 500, latency_critical: 2000 }, latencyWindow: 10 };
const refused: ProbeError = { type: 'connection_refused', category: 'transient', phase: 'connect', message: 'connection refused (ECONNREFUSED)' };
const listFailed: ProbeError = { type: 'protocol_error', category: 'permanent', phase: 'tools/list', message: 'MCP error -32603: boom' };

const echo: ToolInfo = { name: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } } } };
const echoRequired: ToolInfo = { name: 'echo', inputSchema: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] } };
const add: ToolInfo = { name: 'add', inputSchema: { type: 'object' } };

function outcome(over: Partial<CheckOutcome> = {}): CheckOutcome {
  return {
    server: 'files',
    transport: 'stdio',
    startedAt: 0,
    phases: {},
    latencyMs: 40,
    protocolVersion: '2025-11-25',
    era: 'legacy',
    serverInfo: { name: 'files-server', version: '1.0.0' },
    capabilities: { tools: {} },
    tools: [echo],
    error: null,
    warnings: [],
    definitive: false,
    partial: false,
    sessionExpired: false,
    ...over,
  };
}

const failed = (error = refused): Partial<CheckOutcome> => ({ error, tools: null, latencyMs: null, serverInfo: null });

/** A check with `on_failure: down` that fails: the server answers, the check holds it down. */
const holdingDown: CheckRun = {
  name: 'can-query',
  method: 'tools/call',
  target: 'query',
  status: 'fail',
  onFailure: 'down',
  startedAt: 0,
  latencyMs: 5,
  error: { type: 'tool_error', category: 'permanent', phase: 'tools/call', message: 'pool exhausted' },
};

interface Row {
  name: string;
  /** The checks before the one under test. */
  before: Partial<CheckOutcome>[];
  check: Partial<CheckOutcome>;
  want: {
    up: boolean;
    status: string;
    transition: string | null;
    events: string[];
    snapshot: 'none' | 'first' | 'changed' | 'drift';
    sessionExpired?: boolean;
    serverInfoChanged: boolean;
  };
}

const rows: Row[] = [
  { name: 'first answer: up, first snapshot, no drift', before: [], check: {}, want: { up: true, status: 'up', transition: 'unknown→up', events: [], snapshot: 'first', serverInfoChanged: true } },
  { name: 'the same list again: nothing to store', before: [{}], check: {}, want: { up: true, status: 'up', transition: null, events: [], snapshot: 'none', serverInfoChanged: false } },
  { name: 'the same tools in another order: same hash, nothing stored', before: [{ tools: [echo, add] }], check: { tools: [add, echo] }, want: { up: true, status: 'up', transition: null, events: [], snapshot: 'none', serverInfoChanged: false } },
  { name: 'a tool added: compatible drift, info event', before: [{}], check: { tools: [echo, add] }, want: { up: true, status: 'up', transition: null, events: ['schema_drift'], snapshot: 'drift', serverInfoChanged: false } },
  { name: 'a required input: breaking drift', before: [{}], check: { tools: [echoRequired] }, want: { up: true, status: 'up', transition: null, events: ['schema_drift'], snapshot: 'drift', serverInfoChanged: false } },
  { name: 'one failure: not yet down', before: [{}], check: failed(), want: { up: false, status: 'up', transition: null, events: [], snapshot: 'none', serverInfoChanged: false } },
  { name: 'second failure: down', before: [{}, failed()], check: failed(), want: { up: false, status: 'down', transition: 'up→down', events: ['down'], snapshot: 'none', serverInfoChanged: false } },
  { name: 'a dead process: down at once', before: [{}], check: { ...failed(), definitive: true }, want: { up: false, status: 'down', transition: 'up→down', events: ['down'], snapshot: 'none', serverInfoChanged: false } },
  { name: 'back after down: recovered', before: [{}, failed(), failed()], check: {}, want: { up: true, status: 'up', transition: 'down→up', events: ['recovered'], snapshot: 'none', serverInfoChanged: false } },
  { name: 'answered, tools/list failed: degraded, counts as up, no snapshot', before: [{}], check: { error: listFailed, partial: true, tools: null }, want: { up: true, status: 'degraded', transition: 'up→degraded', events: ['degraded'], snapshot: 'none', serverInfoChanged: false } },
  { name: 'a silent SSE stream: stale, not up', before: [{}], check: { ...failed(), error: null, staleMs: 130_000 }, want: { up: false, status: 'stale', transition: 'up→stale', events: ['stale'], snapshot: 'none', serverInfoChanged: false } },
  { name: 'session forgotten, re-initialized: an event, still up', before: [{}], check: { sessionExpired: true }, want: { up: true, status: 'up', transition: null, events: ['session_expired'], snapshot: 'none', sessionExpired: true, serverInfoChanged: false } },
  {
    name: 'session lost in an outage already down: recovered alone, not counted as forgotten',
    before: [{}, failed(), failed()],
    check: { sessionExpired: true },
    want: { up: true, status: 'up', transition: 'down→up', events: ['recovered'], snapshot: 'none', sessionExpired: false, serverInfoChanged: false },
  },
  {
    name: 'session forgotten while a check holds an answering server down: still a finding',
    before: [{}, { checks: [holdingDown] }, { checks: [holdingDown] }],
    check: { sessionExpired: true, checks: [holdingDown] },
    want: { up: false, status: 'down', transition: null, events: ['session_expired'], snapshot: 'none', sessionExpired: true, serverInfoChanged: false },
  },
  { name: 'the server renamed itself', before: [{}], check: { serverInfo: { name: 'files-v2', version: '2.0.0' } }, want: { up: true, status: 'up', transition: null, events: [], snapshot: 'none', serverInfoChanged: true } },
];

describe('assess: one check → what changed', () => {
  for (const row of rows) {
    it(row.name, () => {
      const track = new ServerTrack(policy);
      row.before.forEach((o, i) => assess(track, outcome(o), i * 10_000));
      const a = assess(track, outcome(row.check), row.before.length * 10_000);
      const snapshot = !a.snapshot ? 'none' : a.snapshot.drift ? 'drift' : row.before.length === 0 ? 'first' : 'changed';
      assert.deepEqual(
        {
          up: a.up,
          status: track.sm.status,
          transition: a.transition && `${a.transition.from}→${a.transition.to}`,
          events: a.events.map((e) => e.event),
          snapshot,
          sessionExpired: a.sessionExpired,
          serverInfoChanged: a.serverInfoChanged,
        },
        { sessionExpired: false, ...row.want },
      );
    });
  }

  it('sends a drift found by the check that brings a down server back with the state it moved to, as its recovered says', () => {
    const track = new ServerTrack(policy);
    assess(track, outcome(), 0);
    assert.equal(assess(track, outcome({ ...failed(), definitive: true }), 10_000).transition?.to, 'down');
    const a = assess(track, outcome({ tools: [echo, add] }), 20_000);
    assert.deepEqual(
      a.events.map((e) => [e.event, e.previous_state, e.current_state]),
      [
        ['recovered', 'down', 'up'],
        ['schema_drift', 'down', 'up'],
      ],
    );
  });

  it('describes a drift with its counts and severity, and the state it was found in', () => {
    const track = new ServerTrack(policy);
    assess(track, outcome(), 0);
    const a = assess(track, outcome({ tools: [echoRequired, add] }), 10_000);
    const drift = a.events.find((e) => e.event === 'schema_drift')!;
    assert.equal(drift.severity, 'critical');
    assert.equal(drift.message, 'tool schemas changed: 1 breaking, 1 compatible, 0 warning');
    assert.deepEqual(drift.details.diff, { tools_added: ['add'], tools_removed: [], tools_modified: [{ name: 'echo', changes: ['parameter became required: text'] }] });
    assert.equal(drift.previous_state, 'up');
    assert.deepEqual(a.snapshot?.drift?.counts, { breaking: 1, compatible: 1, warning: 0 });
    assert.equal(a.snapshot?.drift?.severity, 'breaking');
  });

  it('compares the first listing after a restart with the stored snapshot', () => {
    const track = new ServerTrack(policy, { hash: 'stored', tools: [echo] });
    const a = assess(track, outcome({ tools: [echo, add] }), 0);
    assert.deepEqual(a.events.map((e) => e.event), ['schema_drift']);
    assert.deepEqual(a.snapshot?.drift?.diff.tools_added, ['add']);
  });
});
