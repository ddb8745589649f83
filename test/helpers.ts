import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import assert from 'node:assert/strict';
import type { ServerConfig } from '../src/config/schema.js';
import { ConfigError, parseConfig } from '../src/config/load.js';

const here = dirname(fileURLToPath(import.meta.url));
export const FIXTURES = join(here, 'fixtures');
export const STDIO_FIXTURE = join(FIXTURES, 'stdio-server.js');
export const CLI = join(here, '..', 'src', 'cli', 'main.js');

/**
 * The defaults a resolved server has when its configuration says nothing more, except the deadline:
 * 60 s instead of 5 s, so that a fixture starting slowly on a busy machine is never a timeout. Tests
 * about deadlines set their own.
 */
const BASE = { args: [], env: {}, headers: {}, tags: [], thresholds: {}, timeout: 60_000, interval: 30_000, protocol: 'auto' } satisfies Partial<ServerConfig>;

export function stdioTarget(mode: string, extra: Partial<ServerConfig> = {}): ServerConfig {
  return { ...BASE, name: `stdio-${mode}`, transport: 'stdio', command: process.execPath, args: [STDIO_FIXTURE, mode], ...extra };
}

export function httpTarget(url: string, transport: 'sse' | 'streamable_http' = 'streamable_http', extra: Partial<ServerConfig> = {}): ServerConfig {
  return { ...BASE, name: `http-${transport}`, transport, url, ...extra };
}

/**
 * Whether a process with this pid is still running. A zombie (killed, not yet reaped by a PID 1 that
 * may never reap, as in many containers) counts as dead.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** How often until() looks again: a poll step, never a duration anything is asserted on. */
const POLL_MS = 20;

/**
 * Resolves once `condition` holds, checking every POLL_MS; fails after `withinMs`, which is a bound
 * against a hang, not a timing assertion: far beyond how long any wait here takes, even on a loaded
 * machine.
 */
export async function until(condition: () => boolean | Promise<boolean>, what = 'a condition', withinMs = 60_000): Promise<void> {
  const end = Date.now() + withinMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`still waiting after ${withinMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** The lines of the ConfigError that parsing `text` must raise. */
export function configErrors(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(text, '/etc/mcpwatch/mcpwatch.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

/**
 * An OTLP/JSON tools/call span as hand-written payloads have it: the same fixed trace and span ids
 * for every span, whatever its tool (`attributes`: more string attributes).
 */
export function fixedIdToolSpan(tool: string, attributes: Record<string, string> = {}): object {
  return {
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    name: `tools/call ${tool}`,
    kind: 3,
    startTimeUnixNano: '1700000000000000000',
    endTimeUnixNano: '1700000000100000000',
    attributes: Object.entries({ 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': tool, ...attributes }).map(([key, v]) => ({ key, value: { stringValue: v } })),
  };
}

/**
 * Every byte of the state file `state.db` in `dir` and of any journal beside it, as text: a search
 * for a secret must cover what SQLite wrote, not only the columns read back.
 */
export function stateFileBytes(dir: string): string {
  return readdirSync(dir).filter((f) => f.startsWith('state.db')).map((f) => readFileSync(join(dir, f)).toString('latin1')).join('\n');
}
