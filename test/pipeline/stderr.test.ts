import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stderrPick } from '../../src/pipeline/stderr.js';
import { classify } from '../../src/probe/classify.js';

describe('the stderr line a message quotes', () => {
  it('collapses whitespace and colour codes, skips blank lines, prefers the last error-looking line', () => {
    const rows: Array<[string[], string | undefined]> = [
      [['Server      started     on   stdio   '], 'Server started on stdio'],
      [['\u001b[32minfo\u001b[0m   ready', '', '   '], 'info ready'],
      [['Error: ENOENT: no such file, open config.json', 'at Object.openSync (node:fs:573:18)', 'Server    listening'], 'Error: ENOENT: no such file, open config.json'],
      [['booting', 'Traceback (most recent call last):', '  File "server.py", line 3', 'ValueError: bad   token'], 'ValueError: bad token'],
      [[], undefined],
      [['x'.repeat(500)], `${'x'.repeat(200)}…`],
    ];
    for (const [tail, want] of rows) assert.equal(stderrPick(tail)?.line, want, JSON.stringify(tail));
  });

  it('a killed server quotes the collapsed line, not a run of spaces', () => {
    const v = classify({ kind: 'exited', code: null, signal: 'SIGKILL', stderrTail: ['fatal:   out   of   memory'] }, 'tools/list');
    assert.equal(v.message, 'killed by SIGKILL: fatal: out of memory');
  });

  it('a banner is quoted as the last thing the server said, not as the cause', () => {
    // server-memory's start-up line, all a kill -9 leaves on its stderr.
    const killed = classify({ kind: 'exited', code: null, signal: 'SIGKILL', stderrTail: ['Knowledge Graph MCP Server running on stdio'] }, 'tools/list');
    assert.equal(killed.message, 'killed by SIGKILL (last on stderr: "Knowledge Graph MCP Server running on stdio")');
    const exited = classify({ kind: 'exited', code: 1, signal: null, stderrTail: ['loading   model'] }, 'initialize');
    assert.equal(exited.message, 'exited with code 1 (last on stderr: "loading model")');
  });
});
