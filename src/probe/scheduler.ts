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
}

/** ±10%: enough to spread a fleet configured with one interval, small enough to keep the cadence. */
const JITTER = 0.1;

/**
 * Runs every job on its own cadence, with jitter so a fleet does not probe in lock-step and a global
 * bound on checks in flight. A job can be triggered at once (a process died, a stream dropped, the
 * tool list changed) without piling up runs.
 */
export class Scheduler {
  private readonly slots = new Map<string, Slot>();
  private readonly limit: LimitFunction;
  private stopped = false;

  constructor(
    concurrency: number,
    private readonly random: () => number = Math.random,
  ) {
    this.limit = pLimit(concurrency);
  }

  /** Adds a job; its first run is spread over `firstWithin` ms so start-up is not a thundering herd. */
  add(key: string, job: ScheduledJob, firstWithin = 0): void {
    this.remove(key);
    const slot: Slot = { job, timer: undefined, running: false, again: false };
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
    slot.timer = setTimeout(() => void this.fire(key, slot), Math.max(0, delay));
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
    const base = slot.job.nextDelay();
    this.arm(key, slot, base * (1 - JITTER + 2 * JITTER * this.random()));
  }
}
