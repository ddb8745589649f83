// How the agent's own process is tuned. Node runs mcpwatch with V8's defaults, which size the heap
// for throughput: the young generation grows to 2 × 16 MiB under load and the old generation is let
// grow to several times what is live between collections. A monitoring agent is expected to sit in a
// small, steady footprint beside the things it watches (the OpenTelemetry Collector's testbed holds
// it to 100 MiB), so by default it trades a little CPU for that.
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { MemoryProfile } from '../config/schema.js';

/**
 * V8 flags that V8 reads as it runs, so they take effect when set after start-up (unlike
 * --max-semi-space-size, which is fixed when the heap is created and would need a flag on the node
 * command line, which mcpwatch does not control when it is run as `node main.js` or through npx).
 * Every call sets every flag, so one profile can replace another.
 */
const BASE: Record<MemoryProfile, string[]> = {
  // The young generation keeps its initial 1 MiB semi-spaces instead of doubling up to 16 MiB (an
  // agent with a receiver is steered to 4 MiB at its first request: steerYoungGeneration); the old
  // generation may grow 30 % past what the last full collection found live.
  //
  // WebAssembly is compiled by V8's baseline compiler only. The only WebAssembly mcpwatch runs is
  // undici's HTTP parser (fetch: the legacy SSE transport, the webhook and Slack notifiers, the
  // OTLP/HTTP forwarder), whose optimised compilation raised the process's peak by ~30 MiB for a
  // moment (first fetch: +40 MiB VmHWM, +12 with this; the bundled example's agent: 121 MiB instead
  // of 89) to speed up parsing a few small responses. --liftoff-only is a V8 testing flag (V8 11
  // through 13 have it); it also turns off tier-up, which --no-liftoff-only alone does not restore.
  compact: ['--semi-space-growth-factor=1', '--heap-growing-percent=30', '--liftoff-only'],
  // V8's defaults (0: V8 picks the growing factor from its GC speed, between 1.1 and 4).
  throughput: [
    '--semi-space-growth-factor=2',
    '--heap-growing-percent=0',
    '--no-liftoff-only',
    '--wasm-dynamic-tiering',
    '--wasm-tier-up',
  ],
};

/**
 * Sets the process's memory profile. The CLI applies `compact` as its very first step, because a
 * young generation that has grown is not given back; `run` then applies the configured one.
 *
 * `hotPath: false` says the agent has no CPU-bound work (it only probes: no OTLP receiver). A compact
 * agent then also runs without V8's optimising compilers (TurboFan, and Maglev where it exists),
 * whose compilations left 5–9 MiB of process memory behind and saved no CPU for a workload that
 * waits on sockets (300 servers every 10 s: 6.85 % of a core without it, 7.04 % with it), and in
 * V8's memory-saving mode
 * (--optimize-for-size: smaller heap growth steps, memory-reducing collections). Both would cripple
 * OTLP decoding, which is CPU-bound: with them, ingest at saturation fell from 343k to 140k spans/s
 * (docs/benchmarks.md), so an agent with a receiver gets V8's compiler and GC modes once it has
 * traffic (`hotPath: 'later'` until then). A probe-only agent's old generation may also grow only
 * 10 % past what is live.
 *
 * `hotPath: undefined` (not known yet: the CLI's first line, before the configuration is read) holds
 * the compiler back, which can be undone, but not --optimize-for-size, whose effect on collections
 * outlasts turning it off (saturation stayed at 187k spans/s when it was on only during start-up).
 *
 * `hotPath: 'later'` says CPU-bound work may come but has not yet: an agent whose receiver has
 * decoded no spans yet. It is held like a probe-only agent except for --optimize-for-size, so that
 * `hotPath: true` can still give it full speed when the first request arrives.
 */
export function applyMemoryProfile(profile: MemoryProfile, opts: { hotPath?: boolean | 'later' } = {}): void {
  const compact = profile === 'compact';
  const holdBack = compact && opts.hotPath !== true;
  // Maglev, V8's mid-tier optimising compiler, is on by default from V8 12 (Node 22); Node 20 has it off.
  const maglev = holdBack ? '--no-maglev' : Number(process.versions.v8.split('.')[0]) >= 12 ? '--maglev' : '--no-maglev';
  const flags = [...BASE[profile], holdBack ? '--no-opt' : '--opt', maglev];
  if (opts.hotPath !== undefined || !compact) flags.push(compact && opts.hotPath === false ? '--optimize-for-size' : '--no-optimize-for-size');
  // Little is promoted when nothing is hot, so major collections stay cheap when they come sooner:
  // 10 % instead of 30 % lowered the 300-server agent's steady maximum by ~3 MiB at the same CPU.
  if (compact && (opts.hotPath === false || opts.hotPath === 'later')) flags.push('--heap-growing-percent=10');
  for (const flag of flags) setFlagsFromString(flag);
}

/**
 * The semi-space size (MiB) at which a compact agent with an OTLP receiver holds its young
 * generation once requests arrive. Decoding a 512-span export allocates about a megabyte that lives
 * until the batch is aggregated; with 1 MiB semi-spaces most of it is still live at the next
 * scavenge and is copied and promoted, which halved ingest at saturation (docs/benchmarks.md). V8's
 * default lets the semi-spaces grow to 16 MiB, which cost more memory and, on two cores, more
 * GC-thread CPU than it saved.
 */
export const RECEIVER_SEMI_SPACE_MIB = 4;

let steering: PerformanceObserver | undefined;

/**
 * Current semi-space capacity in MiB. V8 reports the new space's committed size, which counts both
 * semi-spaces once a scavenge has committed the second; before that, in a fresh heap that has not
 * grown, it is one 1 MiB semi-space, hence the floor of 1.
 */
function semiSpaceMiB(): number {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return space ? Math.max(1, space.space_size / 2 / 2 ** 20) : 1;
}

/**
 * Lets the young generation grow to `targetMiB` semi-spaces and no further. Its maximum
 * (--max-semi-space-size) is fixed when the heap is created, before mcpwatch runs, but the growth
 * factor is read at every scavenge: after each collection it is set to 2 while the semi-spaces are
 * below the target and to 1 once they reach it. V8 grows them at most once per scavenge, by doubling,
 * so they can only overshoot by growing again before the observer has run, i.e. within one long
 * allocating task (an agent's tasks are one request each; in a test, a synchronous loop allocating
 * hundreds of megabytes went on to V8's 16 MiB maximum). A target that is not a power of two is
 * rounded up by the doubling. When V8 shrinks them after an idle spell, they grow back under the
 * next load. A second call replaces the first.
 */
export function steerYoungGeneration(targetMiB: number): void {
  steering?.disconnect();
  let factor = 0;
  const steer = (): void => {
    const want = semiSpaceMiB() < targetMiB ? 2 : 1;
    if (want !== factor) setFlagsFromString(`--semi-space-growth-factor=${(factor = want)}`);
  };
  steer();
  steering = new PerformanceObserver(steer);
  steering.observe({ entryTypes: ['gc'] });
}

/** What `mcpwatch run` tells the process's tuning as the agent lives (tuneAgent). */
export interface AgentTuning {
  /**
   * The agent has started. Installs the heap cap of a compact agent that decodes nothing yet: not
   * before, since during start-up the live heap only grows (modules, then sessions) and a cap would
   * collect every few seconds for nothing. False when the cap was wanted and V8's gc() could not be
   * had (node --expose-gc-as).
   */
  started(): boolean;
  /**
   * The receiver decoded spans (ReceiverDeps.onTraffic), for a compact agent with a receiver only.
   * True the first time, when the agent switches to decoding at full speed; false after that.
   */
  spans?: () => boolean;
}

/**
 * The memory policy of `mcpwatch run`, applied at once and then as the agent lives. Receivers only
 * change on a restart, so `receiving` holds for the process's life. A compact agent with a receiver
 * waits for its first spans before it pays for decoding at full speed (the compiler, a 4 MiB young
 * generation, V8's own collection schedule: forced collections would stall decoding): an idle
 * receiver beside 300 probed servers cost 14 MiB (docs/benchmarks.md).
 */
export function tuneAgent(profile: MemoryProfile, receiving: boolean): AgentTuning {
  const compact = profile === 'compact';
  const later = compact && receiving;
  applyMemoryProfile(profile, { hotPath: later ? 'later' : receiving });
  let decoding = false;
  return {
    started: () => !compact || decoding || capHeapGrowth(PROBE_HEAP_HEADROOM_MIB),
    spans: later
      ? () => {
          if (decoding) return false;
          decoding = true;
          stopHeapCap();
          applyMemoryProfile(profile, { hotPath: true });
          steerYoungGeneration(RECEIVER_SEMI_SPACE_MIB);
          return true;
        }
      : undefined,
  };
}

/**
 * How far (MiB) the heap of a compact agent that decodes no OTLP (no receiver, or no request yet)
 * may grow past what was live before mcpwatch asks V8 for a full collection (capHeapGrowth). V8 itself waits until its old generation
 * has grown at least 8 MiB past what its last collection found live (its minimum step, which
 * --heap-growing-percent cannot lower), plus what its incremental marking misses; at 300 servers
 * that sawtooth was the agent's peak (docs/benchmarks.md).
 */
export const PROBE_HEAP_HEADROOM_MIB = 3;

let capping: NodeJS.Timeout | undefined;

/**
 * Holds the JS heap within `headroomMiB` of what was last found live, or within 10 % of it for a
 * heap over 10 × that, where V8's own step (--heap-growing-percent=10) is no longer larger: checked
 * every `checkMs`, a heap that has grown further is collected at once. Collections are at least
 * `minGapMs` apart, and far enough apart that their pauses take at most `maxPauseShare` of the
 * process's time: a live set that really grows (a reload that adds servers) costs one collection per
 * gap, not one per check, and a large heap, whose collections stop the process longer (20–35 ms at
 * 28 MiB, ~160 ms at 220 MiB), is collected less often. Meant for a process that waits on sockets.
 * Returns false, and caps nothing, when V8's gc() cannot be had. A second call replaces the first.
 */
export function capHeapGrowth(headroomMiB: number, { checkMs = 1000, minGapMs = 5000, maxPauseShare = 0.01 } = {}): boolean {
  stopHeapCap();
  const collect = fullCollector();
  if (!collect) return false;
  const used = (): number => getHeapStatistics().used_heap_size;
  let live = used();
  let next = 0; // performance.now() from which the next forced collection may run
  capping = setInterval(() => {
    const now = used();
    // Lower than the last mark: V8 collected on its own in between.
    if (now < live) live = now;
    else if (now - live > Math.max(headroomMiB * 2 ** 20, live / 10) && performance.now() >= next) {
      const t0 = performance.now();
      collect();
      const t1 = performance.now();
      next = t1 + Math.max(minGapMs, (t1 - t0) / maxPauseShare);
      live = used();
    }
  }, checkMs);
  capping.unref();
  return true;
}

/** Leaves the heap to V8's own schedule again. */
export function stopHeapCap(): void {
  if (capping) clearInterval(capping);
  capping = undefined;
}

/**
 * V8's `gc()`. It is only installed in contexts created while --expose-gc is set (a flag V8 reads
 * when it creates a context), so it is taken from a context of its own and the flag turned off
 * again: mcpwatch's own global, and its dependencies', never see a `gc`. Under
 * `node --expose-gc-as=NAME` the function has another name, and there is none to take.
 */
function fullCollector(): (() => void) | undefined {
  const own: unknown = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as () => void; // node --expose-gc: the flag stays as the user set it
  setFlagsFromString('--expose-gc');
  try {
    const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}
