// health --from against a served agent view: the statuses only a running agent gives (stale,
// unknown) can be filtered on there, and are refused, with the reason, when probing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AgentServerJson, AgentView } from '../../src/pipeline/server-view.js';
import { CLI } from '../helpers.js';

function mcpwatch(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function server(name: string, status: string): AgentServerJson {
  return {
    name,
    transport: 'streamable_http',
    status,
    latency_ms: null,
    tools: null,
    protocol_version: null,
    era: null,
    server_info: null,
    tags: [],
    phases: {},
    notes: null,
    error: null,
    checks: [],
    last_checked_at: null,
    last_error: null,
    availability: { '1h': null, '24h': null, '7d': null },
    agents: { window_seconds: 86_400, total_calls: 0, agents: [], others: { agents: 0, calls: 0, last_seen: null } },
  };
}

describe('health --from --filter status=', () => {
  let http: Server;
  let url: string;
  before(async () => {
    const view: AgentView = { generated_at: new Date().toISOString(), servers: [server('a', 'up'), server('b', 'stale'), server('c', 'unknown'), server('d', 'down')] };
    http = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view)));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => http.close(() => r())));

  const rows: Array<[string, string[]]> = [
    ['status=stale', ['b']],
    ['status=unknown', ['c']],
    ['status!=unknown', ['a', 'b', 'd']],
    ['status=down', ['d']],
  ];
  for (const [filter, want] of rows) {
    it(`${filter} selects ${want.join(', ')}`, async () => {
      const r = await mcpwatch(['health', '--from', url, '--json', '--filter', filter]);
      assert.ok(r.code === 0 || r.code === 1, r.stderr);
      assert.deepEqual((JSON.parse(r.stdout) as AgentView).servers.map((s) => s.name), want);
    });
  }

  it('a selection that leaves no server is a usage error, as when probing; a status filter that leaves none is an answer', async () => {
    const r = await mcpwatch(['health', '--from', url, '--json', '--server', 'a', '--filter', 'name=b']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [2, '', 'no server matches all of --server and --filter together\n']);
    const none = await mcpwatch(['health', '--from', url, '--server', 'a', '--filter', 'status=down']);
    assert.deepEqual([none.code, none.stdout], [0, 'no server has the status --filter asks for\n\n0/0 up\n']);
  });

  it('a status no one gives is refused with the list; stale without --from says it is an agent\'s', async () => {
    const bad = await mcpwatch(['health', '--from', url, '--filter', 'status=sleepy']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--filter: status is one of up, degraded, down, stale, unknown \(got "sleepy"\)/);
    const probing = await mcpwatch(['health', '--url', `${url}/mcp`, '--filter', 'status=stale']);
    assert.equal(probing.code, 2);
    assert.match(probing.stderr, /--filter: status is one of up, degraded, down \(got "stale"; stale is a running agent's, with --from\)/);
  });
});
