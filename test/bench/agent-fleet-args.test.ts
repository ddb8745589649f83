import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The bench's options are checked before any fleet starts: a window that cannot hold a check used to
// run for a minute and then crash on a baseline that had no latency to print.
const BENCH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'agent-fleet.js');

function run(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [BENCH, '--servers', '5', ...args], { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

describe('bench/agent-fleet options', () => {
  it('refuses a window no longer than the interval, naming both', () => {
    const r = run('--seconds', '10');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--seconds: .*one interval \(10s\).*longer than the interval \(got "10"/);
  });

  it('refuses an interval it cannot read instead of measuring another', () => {
    const r = run('--interval', '500ms');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--interval: expected whole seconds such as 10s \(got "500ms"\)/);
  });

  it('refuses a negative number of scrapes', () => {
    const r = run('--scrapes', '-1');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--scrapes: expected a whole number/);
  });
});
