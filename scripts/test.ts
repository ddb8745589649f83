// Runs one kind of test from dist/ (build first): `npm run test:unit` and `npm run test:integration`.
// `npm test` runs every file, both kinds, as CI does. Both use the spec reporter: it repeats every failing
// test, with its error, at the end of the output, where a CI log that keeps only its tail still shows it.
// --test-timeout bounds each test and each file's run as a whole: it is there for hangs, and a file of
// long end-to-end tests (test/agent/restart.test.ts) runs past ten minutes on a heavily loaded machine.
//   unit         pure table tests: no child process, no socket, no timer to wait on; seconds in all
//   integration  the rest: real MCP servers, child processes, sockets on port 0, promtool, Prometheus
// A file is a unit test when UNIT_TESTS lists it or its folder; test/suite.test.ts holds each such
// file to that (no process, network or fixture imports), so the list cannot quietly take in an
// integration test.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './gen-docs.js';

/** Source paths relative to the repository root; one ending in `/` is every test file in that folder. */
export const UNIT_TESTS: readonly string[] = [
  'test/config/checks.test.ts',
  'test/config/load.test.ts',
  'test/config/secrets.test.ts',
  'test/deploy/metrics-contract.test.ts',
  'test/discovery/clients.test.ts',
  'test/docs.test.ts',
  'test/export/check-metrics.test.ts',
  'test/export/recorder.test.ts',
  'test/export/server-metrics.test.ts',
  'test/export/transcode.test.ts',
  'test/otlp/decode.test.ts',
  'test/otlp/json.test.ts',
  'test/otlp/recognise.test.ts',
  'test/pipeline/',
  'test/probe/classify.test.ts',
  'test/store/state.test.ts',
  'test/suite.test.ts',
  'test/wire/http.test.ts',
];

export type TestKind = 'unit' | 'integration';

/** Every test file under `dir` (`test/` for sources, `dist/test/` for the compiled ones), relative to ROOT. */
export function testFiles(dir: string, suffix: '.test.ts' | '.test.js'): string[] {
  const entries = readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(suffix))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/** Whether a UNIT_TESTS entry takes in this source file. */
export function covers(entry: string, source: string): boolean {
  return entry.endsWith('/') ? source.startsWith(entry) : source === entry;
}

/** Whether a test file (source or compiled path, relative to ROOT) is a unit test. */
export function isUnit(file: string): boolean {
  const source = file.replace(/^dist\//, '').replace(/\.js$/, '.ts');
  return UNIT_TESTS.some((entry) => covers(entry, source));
}

/** The compiled files of one kind. */
export function filesOf(kind: TestKind): string[] {
  return testFiles('dist/test', '.test.js').filter((f) => isUnit(f) === (kind === 'unit'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [kind, ...nodeArgs] = process.argv.slice(2);
  if (kind !== 'unit' && kind !== 'integration') {
    process.stderr.write(`usage: node dist/scripts/test.js unit|integration [node --test options]\n`);
    process.exit(2);
  }
  const files = filesOf(kind);
  const run = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=1200000', ...nodeArgs, ...files], { cwd: ROOT, stdio: 'inherit' });
  process.exit(run.status ?? 1);
}
