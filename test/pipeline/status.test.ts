// probeVerdict: the status of one probe and its note, as `health` prints it (table Notes, --json notes).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { durationText, probeVerdict } from '../../src/pipeline/status.js';
import type { CheckRun, ProbeOutcome } from '../../src/probe/prober.js';

function run(name: string, status: CheckRun['status'], message: string | null): CheckRun {
  const type = status === 'refused' ? 'side_effects_refused' : 'tool_error';
  return { name, method: 'tools/call', target: name, status, onFailure: 'degraded', startedAt: 0, latencyMs: null, error: message === null ? null : { type, category: 'permanent', phase: 'tools/call', message } };
}

const WARNING = 'the server failed server/discover (HTTP 500 on POST: Internal Server Error); it speaks MCP 2025-11-25 (protocol: legacy skips the discovery)';

describe('probeVerdict', () => {
  const base: Pick<ProbeOutcome, 'error' | 'checks' | 'latencyMs' | 'warnings'> = { error: null, latencyMs: 40, warnings: [WARNING] };

  it('up: the probe\'s warnings and refused checks are the note', () => {
    const v = probeVerdict({ ...base, checks: [run('write', 'refused', 'not called: …')] }, {});
    assert.deepEqual(v, { status: 'up', severity: 'ok', note: `${WARNING}; check write not called: …` });
  });

  it('a failing check says why first and keeps the warnings and refusals after it', () => {
    // Before, the failing check's reason replaced them: `--json` lost the failed server/discover.
    const v = probeVerdict({ ...base, checks: [run('pool', 'fail', 'tool returned isError: "x"'), run('write', 'refused', 'not called: …')] }, {});
    assert.equal(v.status, 'degraded');
    assert.equal(v.note, `check pool failed (tool_error): tool returned isError: "x"; ${WARNING}; check write not called: …`);
  });

  it('over a latency threshold: the threshold first, then the warnings', () => {
    const v = probeVerdict({ ...base, latencyMs: 900 }, { latency_warning: 500 });
    assert.deepEqual(v, { status: 'degraded', severity: 'warning', note: `latency 900ms over warning threshold 500ms; ${WARNING}` });
  });

  it('down: the error alone', () => {
    const v = probeVerdict({ ...base, error: { type: 'timeout', category: 'transient', phase: 'initialize', message: 'timeout after 5000ms waiting for initialize' } }, {});
    assert.deepEqual(v, { status: 'down', severity: 'critical', note: 'timeout after 5000ms waiting for initialize' });
  });
});

describe('durationText', () => {
  it('says every unit that is not zero, or as many as asked from the largest, rounding the last', () => {
    const rows: Array<[number, number | undefined, string]> = [
      [0, undefined, '0s'],
      [0.4, undefined, '0s'],
      [-3, undefined, '0s'],
      [5, undefined, '5s'],
      [60, undefined, '1m'],
      [3600, undefined, '1h'],
      [3605, undefined, '1h 5s'],
      [3725, undefined, '1h 2m 5s'],
      [90_061, undefined, '1d 1h 1m 1s'],
      [42, 2, '42s'],
      [102, 2, '1m 42s'],
      [3599, 2, '59m 59s'],
      [3599.6, 2, '1h'],
      [3725, 2, '1h 2m'],
      [3 * 3600 + 1799, 2, '3h 30m'],
      [90_061, 2, '1d 1h'],
      [6.9 * 86_400, 2, '6d 22h'],
      [82_800, 2, '23h'],
    ];
    for (const [seconds, units, text] of rows) assert.equal(durationText(seconds, units), text, `${seconds} ${units}`);
  });
});
