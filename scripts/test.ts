// Runs one kind of test from dist/ (build first): `npm run test:unit` and `npm run test:integration`.
// `npm test` runs every file, both kinds, as CI does.
//   unit         pure table tests: no child process, no socket, no timer to wait on; seconds in all
//   integration  the rest: real MCP servers, child processes, sockets on port 0, promtool, Prometheus
// A file is a unit test when it is listed in UNIT_TESTS; test/suite.test.ts holds each listed file to
// that (no process, network or fixture imports), so the list cannot quietly grow an integration test.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './gen-docs.js';

/** Source paths, relative to the repository root. */
export const UNIT_TESTS: readonly string[] = [
  'test/cli/init.test.ts',
  'test/config/discover.test.ts',
  'test/config/load.test.ts',
  'test/deploy/metrics-contract.test.ts',
  'test/docs.test.ts',
  'test/export/recorder.test.ts',
  'test/export/server-metrics.test.ts',
  'test/export/transcode.test.ts',
  'test/otlp/decode.test.ts',
  'test/otlp/json.test.ts',
  'test/otlp/recognise.test.ts',
  'test/pipeline/drift.test.ts',
  'test/pipeline/scorecard.test.ts',
  'test/pipeline/state-machine.test.ts',
  'test/probe/classify.test.ts',
  'test/store/state.test.ts',
  'test/suite.test.ts',
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

/** The compiled files of one kind. */
export function filesOf(kind: TestKind): string[] {
  const unit = new Set(UNIT_TESTS.map((f) => `dist/${f.replace(/\.ts$/, '.js')}`));
  return testFiles('dist/test', '.test.js').filter((f) => unit.has(f) === (kind === 'unit'));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [kind, ...nodeArgs] = process.argv.slice(2);
  if (kind !== 'unit' && kind !== 'integration') {
    process.stderr.write(`usage: node dist/scripts/test.js unit|integration [node --test options]\n`);
    process.exit(2);
  }
  const files = filesOf(kind);
  const run = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...nodeArgs, ...files], { cwd: ROOT, stdio: 'inherit' });
  process.exit(run.status ?? 1);
}
