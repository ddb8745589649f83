import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { probeWaves } from '../../src/pipeline/waves.js';

describe('health probe waves', () => {
  it('probes remote servers first and stdio servers after them, keeping each group in order', () => {
    const s = (name: string, transport: 'stdio' | 'sse' | 'streamable_http') => ({ name, transport });
    const waves = probeWaves([s('a', 'stdio'), s('b', 'streamable_http'), s('c', 'stdio'), s('d', 'sse')]);
    assert.deepEqual(waves.map((w) => w.map((x) => x.name)), [['b', 'd'], ['a', 'c']]);
    assert.deepEqual(probeWaves([s('a', 'stdio')]).map((w) => w.map((x) => x.name)), [['a']]);
    assert.deepEqual(probeWaves([]), []);
  });
});
