// pipeline/waves.ts decides the order of a one-shot probe round (`mcpwatch health`). Starting stdio
// servers (node, npx, python: hundreds of ms of CPU each) alongside HTTP probes made the HTTP
// latencies read 3–5× high on a small machine: the remote servers are probed first, on their own,
// and the stdio servers after them. Each wave still runs in parallel up to the concurrency limit, and
// a wave that has gone quiet (its probes waiting on their servers) lets the next one start.
import type { TransportName } from '../config/schema.js';

export function probeWaves<T extends { transport: TransportName }>(servers: readonly T[]): T[][] {
  const remote = servers.filter((s) => s.transport !== 'stdio');
  const stdio = servers.filter((s) => s.transport === 'stdio');
  return [remote, stdio].filter((w) => w.length > 0);
}

/**
 * How long a wave may go without a probe finishing before the next wave starts. The waves keep stdio
 * start-ups off the CPU while remote servers answer; a remote probe still open after a quiet spell
 * is waiting on its server, not on this machine, and waiting for it to time out made a hung remote
 * server and a hung stdio server cost two timeouts instead of one.
 */
const WAVE_QUIET_MS = 1_000;

/** Runs each wave once the one before has finished, or has gone WAVE_QUIET_MS without a probe finishing. */
export async function inWaves<T>(waves: readonly T[][], run: (item: T) => Promise<void>): Promise<void> {
  const started: Array<Promise<unknown>> = [];
  for (const wave of waves) {
    let timer: NodeJS.Timeout | undefined;
    let moveOn!: () => void;
    const quiet = new Promise<void>((resolve) => (moveOn = resolve));
    let waiting = true;
    const arm = (): void => {
      clearTimeout(timer);
      if (waiting) timer = setTimeout(moveOn, WAVE_QUIET_MS);
    };
    arm();
    const finished = Promise.all(wave.map((item) => run(item).finally(arm)));
    started.push(finished);
    await Promise.race([finished, quiet]);
    waiting = false;
    clearTimeout(timer);
  }
  await Promise.all(started);
}
