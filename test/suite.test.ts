import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../scripts/gen-docs.js';
import { covers, isUnit, testFiles, UNIT_TESTS } from '../scripts/test.js';

/**
 * What a unit test may not import: child processes, sockets and the fixtures and modules that open
 * them (the agent, the probes, the receivers, the forwarder). A direct-import check, not a proof, but
 * it catches the usual way an integration test gets onto the fast list.
 */
const NOT_UNIT: Array<[RegExp, string]> = [
  [/from ['"]node:(child_process|net|http|https|http2|dgram|tls)['"]/, 'a process or socket module'],
  [/from ['"](@grpc\/grpc-js|undici)['"]/, 'a network client'],
  [/from ['"][./]*\/fixtures\//, 'a fixture server'],
  [/import \{[^}]*\b(STDIO_FIXTURE|CLI)\b[^}]*\} from ['"][./]*\/helpers\.js['"]/, 'a child process of the test helpers'],
  [/from ['"][./]*\/src\/(agent\/agent|probe\/session|otlp\/receiver|export\/forwarder)\.js['"]/, 'a module that opens processes or sockets'],
  [/\bprobeServer\(/, 'a probe of a real server'],
  [/\bfetch\(/, 'an HTTP request'],
];

describe('the test suite', () => {
  it('lists as unit tests only files that exist and start no process and open no socket', () => {
    const sources = testFiles('test', '.test.ts');
    for (const entry of UNIT_TESTS) {
      assert.ok(sources.some((f) => covers(entry, f)), `${entry} is listed in scripts/test.ts but holds no test file`);
    }
    for (const file of sources.filter(isUnit)) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const [pattern, what] of NOT_UNIT) assert.doesNotMatch(text, pattern, `${file} uses ${what}: not a unit test (scripts/test.ts)`);
    }
  });
});
