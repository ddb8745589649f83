import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, readConfig } from '../../src/config/load.js';
import { CLI, configErrors } from '../helpers.js';

const SERVERS = 'servers: []\n';

describe('configuration: sharding', () => {
  it('is off unless configured', () => {
    assert.equal(parseConfig(SERVERS, 'x.yaml', {}).sharding, undefined);
  });

  it('takes the shard as a number, from the environment, or from a StatefulSet ordinal or pod name', () => {
    const rows: Array<[string, NodeJS.ProcessEnv, { shards: number; shard: number; replica: number }]> = [
      ['sharding: { shards: 3, shard: 1 }', {}, { shards: 3, shard: 1, replica: 0 }],
      ['sharding: { shards: 1, shard: 0 }', {}, { shards: 1, shard: 0, replica: 0 }],
      ['sharding: { shards: 3, shard: 2, replica: 1 }', {}, { shards: 3, shard: 2, replica: 1 }],
      ['sharding: { shards: "${env:SHARDS}", shard: "${env:SHARD}" }', { SHARDS: '4', SHARD: '3' }, { shards: 4, shard: 3, replica: 0 }],
      ['sharding: { shards: 3, ordinal: "${env:POD_INDEX}" }', { POD_INDEX: '4' }, { shards: 3, shard: 1, replica: 1 }],
      ['sharding: { shards: 3, ordinal: "${env:POD_NAME}" }', { POD_NAME: 'mcpwatch-5' }, { shards: 3, shard: 2, replica: 1 }],
      ['sharding: { shards: 3, ordinal: 2 }', {}, { shards: 3, shard: 2, replica: 0 }],
    ];
    for (const [line, env, want] of rows) assert.deepEqual(parseConfig(`${line}\n${SERVERS}`, 'x.yaml', env).sharding, want, line);
  });

  it('refuses a shard out of range, a non-integer, a missing or doubled shard, each with its path and line', () => {
    const rows: Array<[string, NodeJS.ProcessEnv, RegExp]> = [
      ['sharding: { shards: 3, shard: 3 }', {}, /^mcpwatch\.yaml:1: sharding\.shard: must be less than shards \(3\): shards are numbered 0 to 2 \(got 3\)$/],
      ['sharding: { shards: 3, shard: 1.5 }', {}, /^mcpwatch\.yaml:1: sharding\.shard: must be a whole number \(got 1\.5\)$/],
      ['sharding: { shards: 3, shard: -1 }', {}, /sharding\.shard: must be a whole number \(got -1\)/],
      ['sharding: { shards: 3, shard: "${env:SHARD}" }', { SHARD: 'two' }, /sharding\.shard: must be a whole number \(got "two" from \$\{env:SHARD\}\)/],
      ['sharding: { shards: 3, shard: "${env:SHARD}" }', {}, /sharding\.shard: environment variable SHARD is not set/],
      ['sharding: { shards: 0, shard: 0 }', {}, /sharding\.shards: must be at least 1 \(got 0\)$/],
      ['sharding: { shards: 2.5, shard: 0 }', {}, /sharding\.shards: must be a whole number \(got 2\.5\)/],
      ['sharding: { shard: 0 }', {}, /sharding\.shards: is required/],
      ['sharding: { shards: 3 }', {}, /sharding\.shard: is required: give this agent's shard \(0 to shards − 1\), or ordinal/],
      ['sharding: { shards: 3, shard: 0, ordinal: 0 }', {}, /sharding\.ordinal: give shard or ordinal, not both/],
      ['sharding: { shards: 3, ordinal: 4, replica: 0 }', {}, /sharding\.replica: is derived from ordinal/],
      ['sharding: { shards: 3, ordinal: "${env:POD_NAME}" }', { POD_NAME: 'mcpwatch' }, /sharding\.ordinal: must be a pod ordinal: a whole number, or a pod name ending in -N such as mcpwatch-3 \(got "mcpwatch" from \$\{env:POD_NAME\}\)/],
      ['sharding: { shards: 3, shard: 0, shard_count: 3 }', {}, /sharding\.shard_count: unknown key/],
    ];
    for (const [line, env, want] of rows) {
      const errors = configErrors(`${line}\n${SERVERS}`, env);
      assert.ok(errors.some((e) => want.test(e)), `${line}: ${JSON.stringify(errors)}`);
    }
  });

  it('warns that spans naming only the tool stay unknown when sharding is on and no server has traffic hints', () => {
    const server = (traffic: string): string => `servers:\n  - { name: a, transport: streamable_http, url: "http://127.0.0.1:1/a"${traffic} }\n`;
    const rows: Array<[string, string, boolean]> = [
      ['sharded, no hints', `sharding: { shards: 2, shard: 0 }\n${server('')}`, true],
      ['sharded, judging settings but no hints', `sharding: { shards: 2, shard: 0 }\n${server(', traffic: { error_rate: 0.5 }')}`, true],
      ['sharded, a service_names hint', `sharding: { shards: 2, shard: 0 }\n${server(', traffic: { service_names: [agent] }')}`, false],
      ['sharded, a hosts hint', `sharding: { shards: 2, shard: 0 }\n${server(', traffic: { hosts: ["gw:8080"] }')}`, false],
      ['sharded, OTLP receiver off: no traffic to attribute', `receivers: { otlp: null }\nsharding: { shards: 2, shard: 0 }\n${server('')}`, false],
      ['not sharded', server(''), false],
    ];
    for (const [what, text, warned] of rows) {
      const { warnings } = readConfig(text, 'x.yaml', {});
      assert.deepEqual(warnings.map((w) => w.path), warned ? ['sharding'] : [], what);
    }
  });

  it('a notifier can be kept to the first replica; other values are refused', () => {
    const config = parseConfig('alerts: [{ type: stdout, replicas: first }, { type: stdout }]\n' + SERVERS, 'x.yaml', {});
    assert.deepEqual(config.alerts.map((a) => a.replicas), ['first', undefined]);
    assert.ok(configErrors('alerts: [{ type: stdout, replicas: second }]\n' + SERVERS).some((e) => /alerts\[0\]\.replicas/.test(e)));
  });

  it('mcpwatch validate says what this agent probes, and exits 2 on a bad shard, naming the setting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-shard-'));
    try {
      const file = join(dir, 'mcpwatch.yaml');
      // With 2 shards: github and filesystem are shard 0's, postgres-prod shard 1's (test/pipeline/shard.test.ts).
      const servers = ['github', 'filesystem', 'postgres-prod'].map((n) => `  - { name: ${n}, transport: streamable_http, url: "http://127.0.0.1:1/${n}" }`);
      writeFileSync(file, `sharding:\n  shards: 2\n  shard: "\${env:SHARD}"\nservers:\n${servers.join('\n')}\n`);
      const validate = (shard: string): Promise<{ code: number; stdout: string; stderr: string }> =>
        new Promise((resolve) => {
          execFile(process.execPath, [CLI, 'validate', '-c', file], { env: { ...process.env, SHARD: shard } }, (err, stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
          );
        });
      const ok = await validate('0');
      assert.deepEqual([ok.code, ok.stdout], [0, 'mcpwatch.yaml: ok, 3 servers (3 streamable_http); shard 0 of 2 (replica 0) probes 2 (by shard: 2, 1)\n']);
      // No server has traffic hints: the one warning says what a sharded agent cannot attribute.
      assert.deepEqual(ok.stderr.trim().split('\n').map((l) => l.split(': ').slice(0, 3).join(': ')), ['warning: mcpwatch.yaml:2: sharding']);
      assert.match(ok.stderr, /no server has traffic hints.*stay `unknown`.*service_names/);
      // Three servers over 2 shards leave none to shard 1 when only shard 0's are configured.
      writeFileSync(file, `sharding:\n  shards: 2\n  shard: "\${env:SHARD}"\nservers:\n${servers.slice(0, 2).join('\n')}\n`);
      const lopsided = await validate('1');
      assert.deepEqual([lopsided.code, lopsided.stdout], [0, 'mcpwatch.yaml: ok, 2 servers (2 streamable_http); shard 1 of 2 (replica 0) probes 0 (by shard: 2, 0)\n']);
      assert.match(lopsided.stderr, /warning: mcpwatch\.yaml: sharding: shard 1 of 2 probes none of the 2 servers/);
      const run = await validate('2');
      assert.equal(run.code, 2);
      assert.match(run.stderr, /mcpwatch\.yaml:3: sharding\.shard: must be less than shards \(2\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
