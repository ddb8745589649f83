import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler } from '../../src/probe/scheduler.js';
import { until } from '../helpers.js';

// Simulated time throughout (node:test's mock timers drive setTimeout and Date), so nothing here
// depends on how fast the machine is.
const PERIOD = 1000;
const STEP = 5;

/** A fixed sequence for the scheduler's random draws, so a failure can be replayed. */
function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

async function settle(): Promise<void> {
  // p-limit and the scheduler's own awaits resolve over a few microtask turns.
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

async function advance(t: TestContext, ms: number): Promise<void> {
  for (let done = 0; done < ms; done += STEP) {
    t.mock.timers.tick(STEP);
    await settle();
  }
}

function fleet(t: TestContext, jobs: number, seed = 7): { scheduler: Scheduler; runs: number[][] } {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const scheduler = new Scheduler(jobs, seeded(seed), () => Date.now());
  const runs: number[][] = [];
  for (let i = 0; i < jobs; i++) {
    const mine: number[] = [];
    runs.push(mine);
    scheduler.add(
      `job-${i}`,
      {
        run: async () => {
          mine.push(Date.now());
        },
        nextDelay: () => PERIOD,
      },
      PERIOD / 2,
    );
  }
  return { scheduler, runs };
}

describe('Scheduler', () => {
  it('spreads a fleet whose first runs came in a bunch evenly over the period, without stretching any cadence by more than 10 %', async (t) => {
    const jobs = 40;
    const { scheduler, runs } = fleet(t, jobs);
    await advance(t, 20 * PERIOD);
    await scheduler.stop();

    for (const mine of runs) {
      assert.ok(mine.length >= 18, `every job ran about once a period: ${mine.length}`);
      for (let i = 1; i < mine.length; i++) {
        const gap = mine[i]! - mine[i - 1]!;
        assert.ok(gap >= 0.9 * PERIOD - STEP && gap <= 1.1 * PERIOD + STEP, `gap ${gap} within ±10 % of the period`);
      }
      // Settled on its phase: the last runs are a period apart.
      const last = mine.slice(-3);
      assert.ok(Math.abs(last[2]! - last[1]! - PERIOD) <= STEP && Math.abs(last[1]! - last[0]! - PERIOD) <= STEP, `settled: ${last.join(', ')}`);
    }

    // The first runs all fell in the first half of the period; the last period's runs fill all of it.
    const end = Math.max(...runs.flat());
    const lastPeriod = runs.flat().filter((at) => at > end - PERIOD);
    assert.equal(lastPeriod.length, jobs);
    const tenths = Array.from({ length: 10 }, () => 0);
    for (const at of lastPeriod) tenths[Math.floor(((at % PERIOD) / PERIOD) * 10)]!++;
    assert.ok(Math.min(...tenths) >= 2 && Math.max(...tenths) <= 6, `runs per tenth of the period: ${tenths.join(' ')}`);
  });

  it('runs a triggered job at once and brings it back to its phase', async (t) => {
    const { scheduler, runs } = fleet(t, 10, 11);
    await advance(t, 8 * PERIOD);
    const mine = runs[3]!;
    const phase = mine.at(-1)! % PERIOD;
    await advance(t, PERIOD / 3);
    const before = mine.length;
    scheduler.trigger('job-3');
    await advance(t, STEP);
    assert.equal(mine.length, before + 1, 'the trigger ran the job');
    await advance(t, 8 * PERIOD);
    await scheduler.stop();
    const drift = Math.abs((mine.at(-1)! % PERIOD) - phase);
    assert.ok(Math.min(drift, PERIOD - drift) <= STEP, `back on its phase: ${mine.at(-1)! % PERIOD} vs ${phase}`);
  });

  it('gives two schedulers (two replicas of one shard) different phases', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    const replicas: Scheduler[] = [];
    const phases = (seed: number): number[] => {
      const at: number[] = [];
      const s = new Scheduler(4, seeded(seed), () => Date.now());
      s.add('only', { run: async () => void at.push(Date.now() % PERIOD), nextDelay: () => PERIOD }, 0);
      replicas.push(s);
      return at;
    };
    const a = phases(1);
    const b = phases(2);
    await advance(t, 8 * PERIOD);
    for (const s of replicas) await s.stop();
    assert.ok(a.length >= 7 && b.length >= 7);
    const apart = Math.abs(a.at(-1)! - b.at(-1)!);
    assert.ok(Math.min(apart, PERIOD - apart) > 10 * STEP, `replicas probe apart: ${a.at(-1)} vs ${b.at(-1)}`);
  });

  it('starts runs on its tick, so jobs due within one tick start together', async (t) => {
    const TICK = 50;
    const instants = async (tick: number): Promise<{ runs: number[]; distinct: number }> => {
      t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
      const scheduler = new Scheduler(64, seeded(5), () => Date.now(), tick);
      const runs: number[] = [];
      for (let i = 0; i < 40; i++) scheduler.add(`job-${i}`, { run: async () => void runs.push(Date.now()), nextDelay: () => PERIOD }, PERIOD / 2);
      await advance(t, 10 * PERIOD);
      await scheduler.stop();
      t.mock.timers.reset();
      const end = Math.max(...runs);
      const last = runs.filter((at) => at > end - PERIOD);
      assert.equal(last.length, 40, 'every job ran once in the last period');
      return { runs, distinct: new Set(last).size };
    };
    const ticked = await instants(TICK);
    for (const at of ticked.runs) assert.equal(at % TICK, 0, `run at ${at} is on the tick`);
    assert.ok(ticked.distinct <= PERIOD / TICK, `40 runs on at most ${PERIOD / TICK} instants: ${ticked.distinct}`);
    // Without a tick the same fleet starts its runs one at a time.
    const unticked = await instants(0);
    assert.ok(unticked.distinct > PERIOD / TICK, `40 runs on ${unticked.distinct} instants without a tick`);
  });

  it('waits out an interval longer than one timer can hold instead of running in a loop', async () => {
    // Real timers: the loop being guarded against is Node's own (a delay over 2^31 − 1 ms fires at once).
    const scheduler = new Scheduler(4);
    let long = 0;
    let short = 0;
    scheduler.add('long', { run: async () => void long++, nextDelay: () => 30 * 86_400_000 }, 0);
    scheduler.add('short', { run: async () => void short++, nextDelay: () => 1 }, 0);
    await until(() => short >= 50, 'fifty runs of the short job');
    await scheduler.stop();
    assert.equal(long, 1, 'the 30-day job ran once, at its start');
  });
});
