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
 * A fresh Node process under the probe-only compact profile keeps `liveObjects` small objects
 * (300,000 ≈ 27 MiB) and, with `churn`, goes through objects that live long enough to be promoted,
 * as a probing agent's requests do, for `ms`; optionally under capHeapGrowth. Reports how far its
 * JS heap rose above its lowest point in the last 2.5 s, and how many forced full collections ran.
 */
function underCap(opts: { cap?: { headroomMiB: number; checkMs: number; minGapMs: number; maxPauseShare: number }; liveObjects: number; churn: boolean; ms: number }): { riseMiB: number; forced: number; capped: boolean } {
  const script = `
    const { applyMemoryProfile, capHeapGrowth } = await import(${JSON.stringify(RUNTIME)});
    const v8 = await import('node:v8');
    const { PerformanceObserver, constants } = await import('node:perf_hooks');
    const opts = ${JSON.stringify(opts)};
    let forced = 0;
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) forced++;
    }).observe({ entryTypes: ['gc'] });
    applyMemoryProfile('compact', { hotPath: false });
    const live = Array.from({ length: opts.liveObjects }, (_, i) => ({ i, s: 'b' + i }));
    const capped = opts.cap ? capHeapGrowth(opts.cap.headroomMiB, opts.cap) : false;
    const ring = [];
    let min = Infinity, max = 0;
    const end = Date.now() + opts.ms;
    while (Date.now() < end) {
      if (opts.churn) {
        ring.push(Array.from({ length: 1000 }, (_, i) => ({ i, s: 'x' + i })));
        if (ring.length > 50) ring.shift();
      }
      await new Promise((r) => setTimeout(r, 2));
      const used = v8.getHeapStatistics().used_heap_size;
      if (Date.now() > end - 2500) { min = Math.min(min, used); max = Math.max(max, used); }
    }
    await new Promise((r) => setTimeout(r, 20)); // the observer's last entries
    // live.length keeps the live set reachable to the end.
    console.log(JSON.stringify({ riseMiB: (max - min) / 2 ** 20, forced, capped, kept: live.length }));`;
  // A cap whose timer held the process open would fail the test, not hang the suite.
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 })) as { riseMiB: number; forced: number; capped: boolean };
}

/**
 * How far (MiB) a fresh process's peak RSS rises over its first fetch() after the given profiles
 * were applied in order (the CLI applies `compact` first, then the configured one): fetch compiles
 * undici's HTTP parser, which is WebAssembly.
 */
function firstFetchMiB(...profiles: string[]): number {
  const script = `
    const { applyMemoryProfile } = await import(${JSON.stringify(RUNTIME)});
    const { createServer } = await import('node:http');
    for (const p of ${JSON.stringify(profiles)}) applyMemoryProfile(p);
    const peakMiB = () => process.resourceUsage().maxRSS / 1024;
    const server = createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const before = peakMiB();
    await (await fetch('http://127.0.0.1:' + server.address().port + '/')).text();
    await new Promise((r) => setTimeout(r, 1500)); // background compilation, if any, finishes
    console.log(peakMiB() - before);
    server.close();`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 }).trim());
}

/**
 * Whether V8's optimising compiler optimised a hot function in a fresh process after the given
 * applyMemoryProfile calls (the CLI makes two: a provisional one first, then the configured one).
 */
function optimises(...calls: Array<[profile: string, hotPath: boolean | 'later' | undefined]>): boolean {
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
  it('compact runs without the optimising compiler only when nothing is CPU-bound (no OTLP receiver, or no spans yet)', () => {
    assert.equal(optimises(['compact', false]), false);
    assert.equal(optimises(['compact', true]), true);
    assert.equal(optimises(['throughput', false]), true);
    // The CLI's provisional start (hotPath not known yet) holds the compiler back...
    assert.equal(optimises(['compact', undefined]), false);
    // ...and `run` turns it on again once the configuration shows a receiver.
    assert.equal(optimises(['compact', undefined], ['compact', true]), true);
    // A receiver without traffic yet holds it back too, until its first request.
    assert.equal(optimises(['compact', undefined], ['compact', 'later']), false);
    assert.equal(optimises(['compact', undefined], ['compact', 'later'], ['compact', true]), true);
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
    const capped = underCap({ cap: { headroomMiB: 2, checkMs: 50, minGapMs: 0, maxPauseShare: 1 }, liveObjects: 150_000, churn: true, ms: 4000 });
    const uncapped = underCap({ liveObjects: 150_000, churn: true, ms: 4000 });
    assert.equal(capped.capped, true);
    assert.ok(capped.riseMiB < 5, `capped at 2 MiB: rose ${capped.riseMiB.toFixed(2)} MiB`);
    assert.ok(uncapped.riseMiB > 6, `uncapped: rose ${uncapped.riseMiB.toFixed(2)} MiB`);
    assert.equal(uncapped.forced, 0);
  });

  it('spaces forced collections by the minimum gap and by their pauses, and forces none where the heap does not grow', () => {
    // Churn that has the cap collect at every other 50 ms check when nothing holds it back.
    const free = underCap({ cap: { headroomMiB: 2, checkMs: 50, minGapMs: 0, maxPauseShare: 1 }, liveObjects: 300_000, churn: true, ms: 3000 });
    assert.ok(free.forced >= 10, `unrestrained: ${free.forced} forced collections in 3 s`);
    const gapped = underCap({ cap: { headroomMiB: 2, checkMs: 50, minGapMs: 1000, maxPauseShare: 1 }, liveObjects: 300_000, churn: true, ms: 3000 });
    assert.ok(gapped.forced >= 1 && gapped.forced <= 4, `3 s, 1 s apart: ${gapped.forced} forced collections`);
    // A collection of this ~30 MiB heap stops it for 10 ms or more: 1 % of the time spaces them ≥ 1 s.
    const shared = underCap({ cap: { headroomMiB: 2, checkMs: 50, minGapMs: 0, maxPauseShare: 0.01 }, liveObjects: 300_000, churn: true, ms: 3000 });
    assert.ok(shared.forced >= 1 && shared.forced <= 4, `3 s, pauses ≤ 1 %: ${shared.forced} forced collections`);
    const quiet = underCap({ cap: { headroomMiB: 2, checkMs: 50, minGapMs: 0, maxPauseShare: 1 }, liveObjects: 300_000, churn: false, ms: 3000 });
    assert.equal(quiet.forced, 0);
  });

  it('takes V8\'s gc() without exposing it, uses the user\'s under --expose-gc, and stands down without one', () => {
    const script = `
      const { capHeapGrowth } = await import(${JSON.stringify(RUNTIME)});
      const vm = await import('node:vm');
      const capped = capHeapGrowth(3);
      console.log(JSON.stringify({ capped, global: typeof globalThis.gc, later: vm.runInNewContext('typeof gc') }));`;
    const run = (...flags: string[]): unknown => JSON.parse(execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 }));
    assert.deepEqual(run(), { capped: true, global: 'undefined', later: 'undefined' });
    assert.deepEqual(run('--expose-gc'), { capped: true, global: 'function', later: 'function' });
    // The function is there under another name, which the cap does not guess.
    assert.deepEqual(run('--expose-gc-as=collectNow'), { capped: false, global: 'undefined', later: 'undefined' });
  });

  it('lets a large heap grow 10 % of what is live before collecting, as V8 itself would', () => {
    // ~270 MiB live: the churn (~80 MiB in 3 s) crosses a 2 MiB headroom at every other check, but
    // 10 % of the heap only a few times.
    const large = underCap({ cap: { headroomMiB: 2, checkMs: 50, minGapMs: 0, maxPauseShare: 1 }, liveObjects: 3_000_000, churn: true, ms: 3000 });
    assert.ok(large.forced <= 4, `${large.forced} forced collections`);
  });

  it('compiles WebAssembly (undici\'s HTTP parser) without the optimising tier under compact', () => {
    const compact = firstFetchMiB('compact');
    // As the CLI does: compact at its first line, then the configured profile, which must give V8
    // its optimising tier back (--liftoff-only had turned tier-up off with it).
    const throughput = firstFetchMiB('compact', 'throughput');
    assert.ok(compact < 25, `compact: first fetch +${compact.toFixed(1)} MiB`);
    assert.ok(throughput > 25, `throughput: first fetch +${throughput.toFixed(1)} MiB`);
  });

  it('tunes a compact agent with a receiver for decoding at its first spans, once', () => {
    const script = `
      const { tuneAgent } = await import(${JSON.stringify(RUNTIME)});
      function f(n) { let s = 0; for (let i = 0; i < n; i++) s += (i * 7) % 13; return s; }
      const optimised = async () => {
        for (let round = 0; round < 2; round++) {
          for (let k = 0; k < 300; k++) f(100000);
          await new Promise((r) => setTimeout(r, 50));
        }
        return (eval('%GetOptimizationStatus(f)') & 16) !== 0;
      };
      const t = tuneAgent('compact', true);
      const idle = await optimised();
      const first = t.spans(), again = t.spans();
      const decoding = await optimised();
      console.log(JSON.stringify({ idle, first, again, decoding, started: t.started(),
        probeOnly: tuneAgent('compact', false).spans === undefined, throughput: tuneAgent('throughput', true).spans === undefined }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 })) as Record<string, boolean>;
    assert.deepEqual(out, { idle: false, first: true, again: false, decoding: true, started: true, probeOnly: true, throughput: true });
  });

  it('defaults to compact and refuses an unknown profile by name', () => {
    assert.equal(parseConfig('servers: []\n', 'm.yaml').runtime.memory, 'compact');
    assert.throws(() => parseConfig('runtime: { memory: tiny }\n', 'm.yaml'), /runtime\.memory.*compact.*throughput/);
  });
});
