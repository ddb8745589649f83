import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.js';

const RUNTIME = fileURLToPath(new URL('../../src/agent/runtime.js', import.meta.url));

/**
 * A fresh Node process under the given profile churns through objects of which a tenth survive a
 * while (enough for V8 to grow the young generation by default), and reports its new-space size.
 */
function newSpaceMiB(profile: string): number {
  const script = `
    const { applyMemoryProfile } = await import(${JSON.stringify(RUNTIME)});
    const v8 = await import('node:v8');
    applyMemoryProfile(${JSON.stringify(profile)});
    const keep = [];
    for (let i = 0; i < 2e6; i++) { const o = { a: i, b: 'x' + i }; if (i % 10 === 0) keep.push(o); if (keep.length > 50000) keep.splice(0, 25000); }
    const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    console.log(s.space_size / 2 ** 20);`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim());
}

describe('runtime.memory', () => {
  it('compact keeps the young generation at its initial size; throughput lets V8 grow it', () => {
    const compact = newSpaceMiB('compact');
    const throughput = newSpaceMiB('throughput');
    assert.ok(compact <= 2, `compact: new space ${compact} MiB`);
    assert.ok(throughput >= 8, `throughput: new space ${throughput} MiB`);
  });

  it('defaults to compact and refuses an unknown profile by name', () => {
    assert.equal(parseConfig('servers: []\n', 'm.yaml').runtime.memory, 'compact');
    assert.throws(() => parseConfig('runtime: { memory: tiny }\n', 'm.yaml'), /runtime\.memory.*compact.*throughput/);
  });
});
