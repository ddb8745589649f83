import pLimit, { type LimitFunction } from 'p-limit';

interface ScheduledJob {
  /** Runs one check; resolves when it is done. Never rejects (failures are data). */
  run(): Promise<void>;
  /** Delay until the next run, decided after each run (fast while unsettled). */
  nextDelay(): number;
}

interface Slot {
  job: ScheduledJob;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
  /** A trigger arrived while running: run again as soon as this run ends. */
  again: boolean;
  /** Where in each period this job's runs settle, as a fraction of the period. */
  phase: number;
}

/**
 * A run moves at most ±10 % of its period towards its phase: the cadence a server is checked at
 * never stretches by more than that, and a job knocked off its phase (a trigger, a slow run) is
 * back on it within five runs.
 */
const STEER = 0.1;

/** The longest delay Node's timers hold (2^31 − 1 ms, 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs start on multiples of this on the clock. A large fleet then starts its checks a few at a time
 * instead of one by one, and the event loop's fixed work per wake-up (timers, the tick and microtask
 * queues, polling) is shared by the checks that one turn serves (docs/benchmarks.md, "Starting checks
 * on a tick"). A run starts at most one tick after its time, and a check's latency includes some of
 * the agent's work for the checks started with it: hence a small tick. A small fleet seldom has two
 * checks due on one tick, and runs as before.
 */
const TICK_MS = 20;

/**
 * Successive phases a golden-ratio step apart: however many jobs there are, their phases cover the
 * period about evenly, where random phases would leave clumps and gaps.
 */
const PHASE_STEP = (Math.sqrt(5) - 1) / 2;

/**
 * Runs every job on its own cadence and a global bound on checks in flight. Each job has a phase in
 * its period, and its runs are steered onto it: a fleet configured with one interval is checked at
 * an even rate, as Prometheus spreads its scrapes, instead of in the bunch its first runs made (a
 * bunch that random jitter alone takes many periods to dissolve). A job can be triggered at once (a
 * process died, a stream dropped, the tool list changed) without piling up runs.
 */
export class Scheduler {
  private readonly slots = new Map<string, Slot>();
  private readonly limit: LimitFunction;
  private stopped = false;
  private nextPhase: number;

  constructor(
    concurrency: number,
    private readonly random: () => number = Math.random,
    /** Milliseconds on a clock all phases are measured against. */
    private readonly clock: () => number = () => performance.now(),
    /** Runs start on multiples of this on `clock` (0: wherever their delay ends). */
    private readonly tick: number = TICK_MS,
  ) {
    this.limit = pLimit(concurrency);
    // A random start: two agents probing the same servers (HA replicas) do not probe them in step.
    this.nextPhase = random();
  }

  /** Adds a job; its first run is spread over `firstWithin` ms so start-up is not a thundering herd. */
  add(key: string, job: ScheduledJob, firstWithin = 0): void {
    this.remove(key);
    const slot: Slot = { job, timer: undefined, running: false, again: false, phase: this.nextPhase };
    this.nextPhase = (this.nextPhase + PHASE_STEP) % 1;
    this.slots.set(key, slot);
    this.arm(key, slot, firstWithin > 0 ? this.random() * firstWithin : 0);
  }

  remove(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    clearTimeout(slot.timer);
    this.slots.delete(key);
  }

  /** Runs the job now (or right after its current run). */
  trigger(key: string): void {
    const slot = this.slots.get(key);
    if (!slot || this.stopped) return;
    if (slot.running) {
      slot.again = true;
      return;
    }
    this.arm(key, slot, 0);
  }

  get size(): number {
    return this.slots.size;
  }

  /**
   * Stops scheduling; resolves when no run is in flight. Runs still queued behind the concurrency
   * bound never start: with a large fleet on a loaded machine the queue grows long, and running it
   * out would outlast any shutdown budget.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const slot of this.slots.values()) clearTimeout(slot.timer);
    while ([...this.slots.values()].some((s) => s.running)) await new Promise((r) => setTimeout(r, 10));
  }

  private arm(key: string, slot: Slot, delay: number): void {
    clearTimeout(slot.timer);
    const wait = this.onTick(Math.max(0, delay));
    // A longer timer would fire at once; the rest of the wait is armed when this part is over.
    slot.timer = wait > MAX_TIMER_MS ? setTimeout(() => this.arm(key, slot, wait - MAX_TIMER_MS), MAX_TIMER_MS) : setTimeout(() => void this.fire(key, slot), wait);
  }

  private async fire(key: string, slot: Slot): Promise<void> {
    if (this.stopped || this.slots.get(key) !== slot) return;
    slot.running = true;
    slot.again = false;
    try {
      await this.limit(() => (this.stopped ? undefined : slot.job.run()));
    } finally {
      slot.running = false;
    }
    if (this.stopped || this.slots.get(key) !== slot) return;
    if (slot.again) {
      this.arm(key, slot, 0);
      return;
    }
    this.arm(key, slot, this.steer(slot.phase, slot.job.nextDelay()));
  }

  /** A delay lengthened (by less than a tick) to end on the grid; a run wanted now stays now. */
  private onTick(wait: number): number {
    if (!(wait > 0) || !(this.tick > 0) || wait > MAX_TIMER_MS) return wait;
    const now = this.clock();
    return Math.ceil((now + wait) / this.tick) * this.tick - now;
  }

  /** The delay `base`, moved towards the nearest time on the job's phase by at most STEER × base. */
  private steer(phase: number, base: number): number {
    if (!(base > 0) || !Number.isFinite(base)) return base;
    const due = this.clock() + base;
    let off = phase * base - (due % base);
    if (off > base / 2) off -= base;
    else if (off <= -base / 2) off += base;
    return base + Math.max(-STEER * base, Math.min(STEER * base, off));
  }
}
