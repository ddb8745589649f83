import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.js';
import { RECEIVER_SEMI_SPACE_MIB } from '../../src/agent/runtime.js';

const RUNTIME = fileURLToPath(new URL('../../src/agent/runtime.js', import.meta.url));

/**
 * A fresh Node process under the given profile churns through objects of which a tenth survive a
 * while (enough for V8 to grow the young generation by default), and reports its new-space size.
 */
function newSpaceMiB(profile: string, steerMiB?: number): number {
  // With steering, the churn yields between slices, as an agent does between requests, so that the
  // GC observer gets to run.
  const script = `
    const { applyMemoryProfile, steerYoungGeneration } = await import(${JSON.stringify(RUNTIME)});
    const v8 = await import('node:v8');
    applyMemoryProfile(${JSON.stringify(profile)});
    const steer = ${JSON.stringify(steerMiB ?? null)};
    if (steer !== null) steerYoungGeneration(steer);
    const keep = [];
    for (let i = 0; i < 2e6; i++) {
      const o = { a: i, b: 'x' + i }; if (i % 10 === 0) keep.push(o); if (keep.length > 50000) keep.splice(0, 25000);
      if (steer !== null && i % 20000 === 0) await new Promise((r) => setImmediate(r));
    }
    const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    console.log(s.space_size / 2 ** 20);`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim());
}

/**
 * How far (MiB) the JS heap of a fresh process under the probe-only compact profile rises above its
 * lowest point while it keeps ~27 MiB live and churns through objects that live long enough to be
 * promoted (as a probing agent's requests do), optionally under capHeapGrowth(2 MiB).
 */
function heapRiseMiB(cap: boolean): number {
  const script = `
    const { applyMemoryProfile, capHeapGrowth } = await import(${JSON.stringify(RUNTIME)});
    const v8 = await import('node:v8');
    applyMemoryProfile('compact', { hotPath: false });
    if (${cap}) capHeapGrowth(2, { checkMs: 50, minGapMs: 0 });
    const live = Array.from({ length: 300000 }, (_, i) => ({ i, s: 'b' + i }));
    const ring = [];
    let min = Infinity, max = 0;
    const end = Date.now() + 4000;
    while (Date.now() < end) {
      ring.push(Array.from({ length: 1000 }, (_, i) => ({ i, s: 'x' + i })));
      if (ring.length > 50) ring.shift();
      await new Promise((r) => setTimeout(r, 2));
      const used = v8.getHeapStatistics().used_heap_size;
      if (Date.now() > end - 2500) { min = Math.min(min, used); max = Math.max(max, used); }
    }
    console.log((max - min) / 2 ** 20, live.length);`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim().split(' ')[0]);
}

/**
 * Whether V8's optimising compiler optimised a hot function in a fresh process after the given
 * applyMemoryProfile calls (the CLI makes two: a provisional one first, then the configured one).
 */
function optimises(...calls: Array<[profile: string, hotPath: boolean | undefined]>): boolean {
  const script = `
    const { applyMemoryProfile } = await import(${JSON.stringify(RUNTIME)});
    for (const [profile, hotPath] of ${JSON.stringify(calls)}) applyMemoryProfile(profile, { hotPath: hotPath ?? undefined });
    function f(n) { let s = 0; for (let i = 0; i < n; i++) s += (i * 7) % 13; return s; }
    for (let round = 0; round < 2; round++) {
      for (let k = 0; k < 300; k++) f(100000);
      await new Promise((r) => setTimeout(r, 50)); // concurrent compilation finishes
    }
    console.log((eval('%GetOptimizationStatus(f)') & 16) !== 0);`;
  return execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' }).trim() === 'true';
}

describe('runtime.memory', () => {
  it('compact runs without the optimising compiler only when nothing is CPU-bound (no OTLP receiver)', () => {
    assert.equal(optimises(['compact', false]), false);
    assert.equal(optimises(['compact', true]), true);
    assert.equal(optimises(['throughput', false]), true);
    // The CLI's provisional start (hotPath not known yet) holds the compiler back...
    assert.equal(optimises(['compact', undefined]), false);
    // ...and `run` turns it on again once the configuration shows a receiver.
    assert.equal(optimises(['compact', undefined], ['compact', true]), true);
  });

  it('compact keeps the young generation at its initial size; throughput lets V8 grow it', () => {
    const compact = newSpaceMiB('compact');
    const throughput = newSpaceMiB('throughput');
    assert.ok(compact <= 2, `compact: new space ${compact} MiB`);
    assert.ok(throughput >= 8, `throughput: new space ${throughput} MiB`);
  });

  it('steers the young generation of an agent with a receiver to the set semi-space size, not beyond', () => {
    // Both semi-spaces are committed: new space = 2 × the semi-space size.
    assert.equal(newSpaceMiB('compact', RECEIVER_SEMI_SPACE_MIB), 2 * RECEIVER_SEMI_SPACE_MIB);
    assert.equal(newSpaceMiB('compact', 2), 4);
  });

  it('holds a probe-only agent\'s heap within the cap above what is live, where V8 lets it rise 8 MiB and more', () => {
    const capped = heapRiseMiB(true);
    const uncapped = heapRiseMiB(false);
    assert.ok(capped < 5, `capped at 2 MiB: rose ${capped.toFixed(2)} MiB`);
    assert.ok(uncapped > 6, `uncapped: rose ${uncapped.toFixed(2)} MiB`);
  });

  it('defaults to compact and refuses an unknown profile by name', () => {
    assert.equal(parseConfig('servers: []\n', 'm.yaml').runtime.memory, 'compact');
    assert.throws(() => parseConfig('runtime: { memory: tiny }\n', 'm.yaml'), /runtime\.memory.*compact.*throughput/);
  });
});
