import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../../src/store/state.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/**
 * main.ts belongs to the lead, so the command runs in a tiny harness that wires `registerScorecard`
 * into a program the way main.ts does (CliExit → its code, commander usage errors → 2) and exits.
 */
const HARNESS = `
import { Command, CommanderError } from ${JSON.stringify(import.meta.resolve('commander'))};
import { registerScorecard } from ${JSON.stringify(new URL('../../src/cli/scorecard.js', import.meta.url).href)};
import { CliExit } from ${JSON.stringify(new URL('../../src/cli/common.js', import.meta.url).href)};
const program = new Command('mcpwatch').exitOverride();
registerScorecard(program);
let code;
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
  code = Number(process.exitCode ?? 0);
} catch (err) {
  if (err instanceof CliExit) {
    if (err.message) process.stderr.write(err.message + '\\n');
    code = err.code;
  } else if (err instanceof CommanderError) {
    code = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(String(err && err.stack) + '\\n');
    code = 70;
  }
}
process.exit(code);
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface JsonDimension {
  points: number | null;
  grade: string | null;
  findings: string[];
}

interface JsonServer {
  name: string;
  grade: string | null;
  points: number | null;
  dimensions: Record<string, JsonDimension>;
  top_finding: string | null;
  measures: Record<string, unknown>;
}

describe('mcpwatch scorecard', () => {
  let dir: string;
  let harness: string;
  let config: string;
  let noState: string;
  const env = { CHARLIE_TOKEN: 'charlie-secret-from-env' };

  function scorecard(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(process.execPath, [harness, 'scorecard', ...args], { env: { ...process.env, ...env, NO_COLOR: '1', FORCE_COLOR: undefined }, timeout: 120_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  async function json(args: string[]): Promise<JsonServer[]> {
    const r = await scorecard([...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { servers: JsonServer[] }).servers;
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcpwatch-scorecard-cli-'));
    harness = join(dir, 'harness.mjs');
    writeFileSync(harness, HARNESS);

    // Real time: the command grades against Date.now(), so the data sits in the last seven days.
    const now = Date.now();
    const statePath = join(dir, 'state.db');
    const store = new StateStore(statePath);
    const count = (7 * DAY) / (10 * MIN) - 10;
    for (let i = 0; i < count; i++) {
      const at = now - (count - i) * 10 * MIN;
      store.recordProbe('alpha', at, true, 80, 10 * MIN);
      // charlie: 9 failures (99.1 %: 80), p95 1.5 s (70), one breaking change and two incidents (60).
      store.recordProbe('charlie', at, !(i % 100 === 50 && i < 900), i % 10 === 3 ? 1500 : 300, 10 * MIN);
      store.recordProbe('foxtrot', at, i % 10 !== 0, 2500, 10 * MIN);
    }
    store.saveSnapshot({ server: 'charlie', hash: 'c0', tools: [], takenAt: now - 4 * DAY });
    store.saveSnapshot({ server: 'charlie', hash: 'c1', tools: [{ name: 't' }], takenAt: now - 3 * DAY }, { severity: 'breaking', diff: {} });
    store.transition('charlie', now - 5 * DAY, { state: 'down', cause: 'refused', errorType: 'connection_refused' });
    store.transition('charlie', now - 5 * DAY + 20 * MIN, null);
    store.transition('charlie', now - 2 * DAY, { state: 'degraded', cause: 'slow', errorType: null });
    store.transition('charlie', now - 2 * DAY + 30 * MIN, null);
    for (let d = 1; d <= 3; d++) {
      store.saveSnapshot({ server: 'foxtrot', hash: `f${d}`, tools: [], takenAt: now - d * DAY }, { severity: 'breaking', diff: {} });
      store.transition('foxtrot', now - 2 * d * DAY, { state: 'down', cause: 'exited', errorType: 'process_exited' });
      store.transition('foxtrot', now - 2 * d * DAY + HOUR, null);
    }
    store.close();

    const servers = `servers:
  - name: alpha
    transport: stdio
    command: node
  - name: charlie
    transport: streamable_http
    url: https://charlie.example.com/mcp
    headers:
      Authorization: Bearer \${env:CHARLIE_TOKEN}
  - name: foxtrot
    transport: sse
    url: http://foxtrot.example.com/sse
    headers:
      Authorization: Bearer sk-live-0123456789abcdef
`;
    config = join(dir, 'mcpwatch.yaml');
    writeFileSync(config, `state:\n  path: ${JSON.stringify(statePath)}\n${servers}`);
    noState = join(dir, 'no-state.yaml');
    writeFileSync(noState, `state:\n  path: ${JSON.stringify(join(dir, 'missing', 'state.db'))}\n${servers}`);
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints a table with a grade per server, exit 0', async () => {
    const r = await scorecard(['-c', config]);
    assert.equal(r.code, 0, r.stderr);
    for (const head of ['Server', 'Grade', 'Availability 7d', 'p95', 'Reliability', 'Security', 'Top finding']) assert.ok(r.stdout.includes(head), head);
    const row = (name: string): string => r.stdout.split('\n').find((l) => l.includes(` ${name} `)) ?? '';
    assert.match(row('alpha'), /│ A \(100\) +│ 100\.00% A +│ 80ms A +│ 100 A +│ 100 A +│ — /);
    assert.match(row('charlie'), /│ C \(77\) +│ 99\.1\d% B +│ 1\.50s C +│ 60 D +│ 100 A +│ availability 99\.\d\d% over/);
    assert.match(row('foxtrot'), /│ F \(28\) +│ 89\.\d\d% F +│ 2\.50s F +│ 0 F +│ 20 F +│ availability 89\.97% over/);
    assert.match(r.stdout, /1 A, 1 C, 1 F\n$/);
    assert.equal(r.stderr, '');
  });

  it('--json: {"servers":[{name, grade, points, dimensions}]}', async () => {
    const servers = await json(['-c', config]);
    assert.deepEqual(servers.map((s) => [s.name, s.grade, s.points]), [['alpha', 'A', 100], ['charlie', 'C', 77], ['foxtrot', 'F', 28]]);
    for (const s of servers) {
      assert.deepEqual(Object.keys(s.dimensions), ['availability', 'latency', 'reliability', 'security']);
      for (const d of Object.values(s.dimensions)) {
        assert.equal(typeof d.points, 'number');
        assert.match(d.grade!, /^[A-F]$/);
        assert.ok(Array.isArray(d.findings));
      }
    }
    const foxtrot = servers[2]!;
    assert.deepEqual(foxtrot.dimensions.security!.findings, [
      'plain http:// to foxtrot.example.com, which is not loopback: use https://',
      'secret written in the configuration: headers.Authorization (use ${env:VAR})',
    ]);
    // charlie's token is a reference in the file; the expanded value never reaches the output.
    assert.deepEqual(servers[1]!.dimensions.security!.findings, []);
    assert.ok(!JSON.stringify(servers).includes('charlie-secret-from-env'));
    assert.equal(servers[1]!.measures.p95_ms, 1500);
    assert.deepEqual(servers[1]!.measures.incidents_7d, { down: 1, degraded: 1, stale: 0 });
  });

  it('--server selects servers; an unknown name is a usage error', async () => {
    const one = await json(['-c', config, '--server', 'charlie']);
    assert.deepEqual(one.map((s) => s.name), ['charlie']);
    const two = await json(['-c', config, '--server', 'foxtrot', '--server', 'alpha']);
    assert.deepEqual(two.map((s) => s.name), ['alpha', 'foxtrot']);
    const bad = await scorecard(['-c', config, '--server', 'nope']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--server: no server named "nope" \(known: alpha, charlie, foxtrot\)/);
  });

  it('--fail-below: 1 when a server grades below, 0 otherwise, 2 for a bad grade', async () => {
    const c = await scorecard(['-c', config, '--fail-below', 'C']);
    assert.equal(c.code, 1);
    assert.match(c.stderr, /below C: foxtrot \(F\)/);
    assert.match(c.stdout, /foxtrot/, 'the table is still printed');
    assert.equal((await scorecard(['-c', config, '--fail-below', 'F'])).code, 0, 'nothing is below F');
    assert.equal((await scorecard(['-c', config, '--fail-below', 'c', '--server', 'alpha', '--server', 'charlie'])).code, 0, 'C is not below C; lower case accepted');
    const b = await scorecard(['-c', config, '--fail-below', 'B', '--server', 'charlie', '--json']);
    assert.equal(b.code, 1);
    assert.equal((JSON.parse(b.stdout) as { servers: unknown[] }).servers.length, 1, 'JSON stays parseable on failure');
    for (const grade of ['E', 'A+', '']) {
      const bad = await scorecard(['-c', config, '--fail-below', grade]);
      assert.equal(bad.code, 2, grade);
      assert.match(bad.stderr, /--fail-below: expected one of A, B, C, D, F/);
    }
  });

  it('without a state file: a clear message, no overall grade (security graded on its own), exit 0', async () => {
    const r = await scorecard(['-c', noState, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /no state file at .*missing\/state\.db \(state\.path\)/);
    assert.match(r.stderr, /no overall grade until/);
    const servers = (JSON.parse(r.stdout) as { servers: JsonServer[] }).servers;
    assert.deepEqual(servers.map((s) => [s.name, s.grade, s.points, s.dimensions.security!.points]), [['alpha', null, null, 100], ['charlie', null, null, 100], ['foxtrot', null, null, 20]]);
    for (const s of servers) {
      for (const d of ['availability', 'latency', 'reliability']) {
        assert.equal(s.dimensions[d]!.points, null);
        assert.equal(s.dimensions[d]!.grade, null);
        assert.match(s.dimensions[d]!.findings[0]!, /^no data/);
      }
    }
    const table = await scorecard(['-c', noState]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /│ alpha +│ no data +│/);
    assert.doesNotMatch(table.stdout, /│ [A-F] \(/, 'no overall grade in any row');
    const gate = await scorecard(['-c', noState, '--fail-below', 'D']);
    assert.equal(gate.code, 0, 'no data is not below a grade');
    assert.match(gate.stderr, /no data, not graded: alpha, charlie, foxtrot/);
  });

  it('a state file that is not a database is an error, not "no data"', async () => {
    const broken = join(dir, 'broken.db');
    writeFileSync(broken, 'this is not sqlite, just text long enough to have a header: '.repeat(20));
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, `state:\n  path: ${JSON.stringify(broken)}\nservers:\n  - name: alpha\n    transport: stdio\n    command: node\n`);
    const r = await scorecard(['-c', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /state file .*broken\.db: corrupt or not an SQLite database/);
  });

  it('a configuration without servers says so on stderr in every mode and exits 0: nothing is below any grade', async () => {
    const file = join(dir, 'none.yaml');
    writeFileSync(file, `state:\n  path: ${JSON.stringify(join(dir, 'state.db'))}\nservers: []\n`);
    for (const args of [[], ['--json'], ['--fail-below', 'A']]) {
      const r = await scorecard(['-c', file, ...args]);
      assert.deepEqual([r.code, r.stderr], [0, 'none.yaml configures no servers: nothing to grade\n'], args.join(' '));
      assert.equal(r.stdout, args[0] === '--json' ? '{\n  "servers": []\n}\n' : '', args.join(' '));
    }
  });

  it('says no warning that is about running the agent (probe cadence, sharding\'s traffic hints): it grades what was stored', async () => {
    const file = join(dir, 'cadence.yaml');
    writeFileSync(file, `monitoring: { interval: 5s, timeout: 20s }\nsharding: { shards: 2, shard: 0 }\nreceivers: { otlp: { http: { endpoint: 127.0.0.1:0 } } }\nstate:\n  path: ${JSON.stringify(join(dir, 'missing', 'state.db'))}\nservers:\n  - { name: alpha, transport: stdio, command: node }\n`);
    const r = await scorecard(['-c', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /warning/);
  });

  it('a configuration error exits 2', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'servers:\n  - name: x\n    transport: carrier-pigeon\n');
    const r = await scorecard(['-c', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /transport/);
  });
});
