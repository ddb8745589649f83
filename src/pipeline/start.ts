// pipeline/start.ts decides whether a server can be started at all (configFailure), which failures
// to start are final at once (definitiveFailure), and how long a stdio server may take to start. `npx`/`uvx` servers that are
// not cached download their package on the first start: under the ordinary probe timeout they were
// killed mid-download at every probe and never came up. Spawn through the first answer gets
// `start_timeout`; everything after it gets the ordinary `timeout` again. Pure: probe/ calls these.
import type { ServerConfig } from '../config/schema.js';
import type { ProbeError } from '../probe/prober.js';
import { errorCategory } from './error-types.js';

type Budgeted = Pick<ServerConfig, 'transport' | 'timeout'> & { start_timeout?: number };

/** Deadline (ms) from spawn through the answer to initialize. */
export function startBudgetMs(server: Budgeted): number {
  return server.transport === 'stdio' ? Math.max(server.timeout, server.start_timeout ?? server.timeout) : server.timeout;
}

/** The note for a start that needed more than the ordinary timeout, or undefined. */
export function slowStartNote(server: Budgeted, startMs: number): string | undefined {
  if (server.transport !== 'stdio' || startMs <= server.timeout) return undefined;
  return `slow first start: ${(startMs / 1000).toFixed(1)} s from spawn to the first answer (over timeout ${server.timeout / 1000} s, within start_timeout ${startBudgetMs(server) / 1000} s); later probes get the ordinary timeout`;
}

/** A server whose configuration cannot be used is reported as such and never started or connected to. */
export function configFailure(server: Pick<ServerConfig, 'transport'> & { config_error?: string }): ProbeError | null {
  if (server.config_error === undefined) return null;
  return { type: 'config_error', category: errorCategory('config_error'), phase: server.transport === 'stdio' ? 'spawn' : 'connect', message: server.config_error };
}

/**
 * A failure to start that re-checking cannot turn around, so one is enough to call the server down:
 * its process exited or could not be started, or its configuration cannot be used (that lasts until
 * a reload or a restart brings a configuration or an environment that can). Anything else may be a
 * blip, and counts toward `consecutive_failures_before_down`.
 */
export function definitiveFailure(error: Pick<ProbeError, 'type'> | null | undefined): boolean {
  return error?.type === 'process_exited' || error?.type === 'spawn_failed' || error?.type === 'config_error';
}
