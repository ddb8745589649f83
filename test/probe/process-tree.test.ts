import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { parseStat, serverProcesses, signalProcesses, startOf, TAG_VARIABLE } from '../../src/probe/process-tree.js';
import { alive } from '../helpers.js';

describe('process tree', () => {
  it('parses /proc/PID/stat, whatever the command name holds', () => {
    const rest = Array.from({ length: 50 }, (_, i) => String(i + 3)).join(' ');
    // Fields after the name: state ppid … starttime is the 20th of them.
    const text = `4242 (a) (b c) S 17 ${rest.split(' ').slice(2).join(' ')}`;
    const e = parseStat(text)!;
    assert.equal(e.pid, 4242);
    assert.equal(e.ppid, 17);
    assert.equal(e.start, Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[19]));
    assert.equal(parseStat('garbage'), undefined);
  });

  it('finds a tagged process started after the root, and signals only the process it found', async (t) => {
    const tag = `test-${process.pid}-${Date.now()}`;
    const root = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    const tagged = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', detached: true, env: { ...process.env, [TAG_VARIABLE]: tag } });
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', detached: true, env: { ...process.env, [TAG_VARIABLE]: 'someone-else' } });
    t.after(() => {
      for (const p of [root, tagged, other]) if (p.pid && alive(p.pid)) p.kill('SIGKILL');
    });
    await Promise.all([root, tagged, other].map((p) => once(p, 'spawn')));
    const rootStart = await startOf(root.pid!);
    assert.ok(rootStart !== undefined);
    const found = await serverProcesses(root.pid!, rootStart, tag);
    assert.deepEqual(found.map((e) => e.pid), [tagged.pid]);
    // A stale entry (the pid now belongs to another process start) is left alone.
    await signalProcesses([{ ...found[0]!, start: found[0]!.start - 1 }], 'SIGKILL');
    assert.equal(alive(tagged.pid!), true);
    await signalProcesses(found, 'SIGKILL');
    await once(tagged, 'exit');
    assert.equal(alive(other.pid!), true);
  });
});
