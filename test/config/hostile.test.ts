// Configuration files an operator did not mean, or an attacker wrote: empty, half-written, alias
// bombs, huge. Each is a ConfigError (exit 2 from the CLI), never an empty agent or a crash.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, loadConfigFile, MAX_ALIAS_COUNT, MAX_CONFIG_BYTES, parseConfig, reloadIssues } from '../../src/config/load.js';
import { loadConfigOffThread } from '../../src/config/off-thread.js';
import { CLI } from '../helpers.js';

const run = promisify(execFile);

/** Nine levels of nine aliases each: 9^9 strings if expanded. */
const ALIAS_BOMB = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
  .concat('bcdefghi'.split('').map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`))
  .concat('servers: []')
  .join('\n');

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    return err;
  }
  assert.fail('expected a ConfigError');
}

function tmpFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'mcpwatch-hostile-')), 'mcpwatch.yaml');
  writeFileSync(file, text);
  return file;
}

/** A valid configuration of `n` servers, about 150 bytes each. */
function manyServers(n: number): string {
  let s = 'servers:\n';
  for (let i = 0; i < n; i++) s += `  - { name: s${i}, transport: streamable_http, url: "http://127.0.0.1:1/mcp", tags: [a, b, "team:x"], headers: { X-Id: "v${i}" } }\n`;
  return s;
}

describe('hostile configuration files', () => {
  it('an empty or comment-only file is an error, not an agent with every default', () => {
    for (const text of ['', '   \n', '# nothing yet\n']) {
      assert.match(configError(() => parseConfig(text, 'm.yaml', {})).message, /^m\.yaml:1: the file is empty/);
    }
  });

  it('an alias bomb is a configuration error, not a crash', () => {
    const err = configError(() => parseConfig(ALIAS_BOMB, 'm.yaml', {}));
    assert.match(err.message, new RegExp(`invalid YAML: .*alias.*more than ${MAX_ALIAS_COUNT} alias expansions`, 'i'));
  });

  it('a file larger than the limit is refused before it is read', () => {
    const file = tmpFile(`# ${'x'.repeat(MAX_CONFIG_BYTES)}\nservers: []\n`);
    assert.match(configError(() => loadConfigFile(file, {})).message, /larger than 1 MiB/);
  });

  it('a reload without `servers:` may not remove every server; `servers: []` may', () => {
    const current = loadConfigFile(tmpFile('servers:\n  - { name: a, transport: stdio, command: node }\n'), {});
    const truncated = loadConfigFile(tmpFile('monitoring:\n  interval: 30s\n'), {});
    assert.deepEqual(reloadIssues(current, truncated).map((i) => `${i.path}: ${i.message}`), ['servers: missing: this reload would remove all 1 server; write `servers: []` to mean that']);
    assert.deepEqual(reloadIssues(current, loadConfigFile(tmpFile('servers: []\n'), {})), []);
    // Nothing to lose: an agent that had no servers may reload into a file that names none.
    assert.deepEqual(reloadIssues(truncated, truncated), []);
  });

  it('a reload parses on a worker thread: same result, same errors, and the event loop keeps turning', async () => {
    const file = tmpFile(manyServers(3000));
    const direct = loadConfigFile(file, {});
    // Turns of the event loop while the worker parses: every turn reschedules the next with
    // setImmediate. A parse on this thread, even one deferred to a later turn, delivers its result
    // at the latest in the turn after the first beat; a worker's result comes as a message, which
    // the loop polls for only between turns, once the worker has started, loaded and parsed.
    let turns = 0;
    let beating = true;
    const beat = (): void => {
      turns++;
      if (beating) setImmediate(beat);
    };
    setImmediate(beat);
    const offThread = await loadConfigOffThread(file, {});
    const turnsBefore = turns;
    beating = false;
    assert.deepEqual(offThread, direct);
    assert.ok(turnsBefore >= 2, `the event loop turned ${turnsBefore} times while the configuration was parsed`);
    await assert.rejects(loadConfigOffThread(tmpFile(ALIAS_BOMB), {}), (err: Error) => err instanceof ConfigError && /alias/.test(err.message));
  });

  it('validate and run exit 2 on an alias bomb, with a message and no stack trace', async () => {
    const file = tmpFile(ALIAS_BOMB);
    for (const command of ['validate', 'run']) {
      const out = await run(process.execPath, [CLI, command, '-c', file]).then(
        () => assert.fail(`${command} accepted an alias bomb`),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      assert.equal(out.code, 2, command);
      assert.match(out.stderr, /mcpwatch\.yaml: invalid YAML: .*alias/i, command);
      assert.doesNotMatch(out.stderr, /^\s+at /m, command);
    }
  });
});
