// A server that goes away while a configured check calls its tool, after its tools/list answered: a
// stdio process that exits, an HTTP server whose connection dies and that answers nothing after. The
// server is down, as its next listing would find it, with the check naming the moment; a call that
// fails with the server still answering (one connection a proxy cut) stays the check's failure.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckConfig } from '../../src/config/schema.js';
import { probeServer } from '../../src/probe/probe.js';
import { ServerSession } from '../../src/probe/session.js';
import { assess, ServerTrack } from '../../src/pipeline/assess.js';
import { probeVerdict } from '../../src/pipeline/status.js';
import { startHttpFixture } from '../fixtures/http-server.js';
import { httpTarget, stdioTarget, until } from '../helpers.js';

/** A check with a deadline no local call comes near: a failure here is never a timeout. */
function check(name: string, c: Partial<CheckConfig>): CheckConfig {
  return { name, arguments: {}, expect: {}, allow_side_effects: false, on_failure: 'degraded', interval: 30_000, timeout: 60_000, ...c };
}

const CRASH = [check('crash', { tool: 'crash' })];
/** Over HTTP the fixture's server crashes (or a proxy cuts the call) at any tools/call. */
const ADD = [check('add', { tool: 'add', arguments: { a: 1, b: 2 } })];

/**
 * An HTTP gateway in front of `upstream`: requests pass through until the upstream fails one; that one
 * the gateway cuts (its client sees a reset), and what comes after goes to `after`.
 */
async function gateway(upstream: number, after: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  let cut = false;
  const server = createServer((req, res) => {
    if (cut) return void req.resume().on('end', () => after(req, res));
    const up = request({ host: '127.0.0.1', port: upstream, path: req.url, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => {
      if (cut) return after(req, res);
      cut = true;
      req.socket.destroy();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    close: () => new Promise((resolve) => server.close(() => resolve()).closeAllConnections()),
  };
}

describe('a server that goes away during a check', () => {
  it('stdio: its process exits during the call: down, process_exited, with the exit and stderr', async () => {
    const out = await probeServer(stdioTarget('dies-on-call', { checks: CRASH }));
    assert.deepEqual(out.error, {
      type: 'process_exited',
      category: 'transient',
      phase: 'tools/call',
      message: 'the server went away during check crash (tools/call "crash"): exited with code 7: fatal: out of memory in crash',
    });
    assert.equal(out.tools?.length, 4, 'its tools/list answered first');
    assert.deepEqual(out.checks!.map((c) => [c.name, c.status, c.error?.type]), [['crash', 'fail', 'process_exited']]);
    assert.equal(probeVerdict(out, {}).status, 'down');
  });

  it('stdio: a check that fails with the process alive stays the check\'s failure', async () => {
    const out = await probeServer(stdioTarget('dies-on-call', { checks: [check('fails', { tool: 'fail', allow_side_effects: true })] }));
    assert.equal(out.error, null);
    assert.equal(probeVerdict(out, {}).status, 'degraded');
  });

  it('Streamable HTTP: the server crashes during the call and refuses the ping after it: down, connection_refused', async (t) => {
    const http = await startHttpFixture('streamable', { crashOnCall: true });
    t.after(() => http.close());
    const out = await probeServer(httpTarget(http.url, 'streamable_http', { checks: ADD, protocol: 'legacy' }));
    assert.equal(out.error?.type, 'connection_refused');
    assert.equal(out.error?.phase, 'tools/call');
    assert.match(out.error!.message, /^the server went away during check add \(tools\/call "add"\): connection refused \(\w+\): .+; then ping: connection refused\b/);
    assert.equal(probeVerdict(out, {}).status, 'down');
  });

  it('Streamable HTTP behind a gateway: the call cut, then the gateway answers 503 for the server it cannot reach: down', async (t) => {
    const http = await startHttpFixture('streamable', { crashOnCall: true });
    t.after(() => http.close());
    const front = await gateway(http.port, (_req, res) => res.writeHead(503, { 'content-type': 'text/plain' }).end('no healthy upstream'));
    t.after(() => front.close());
    const out = await probeServer(httpTarget(front.url, 'streamable_http', { checks: ADD, protocol: 'legacy' }));
    assert.equal(out.error?.type, 'http_status');
    assert.equal(out.error?.phase, 'tools/call');
    assert.match(out.error!.message, /^the server went away during check add \(tools\/call "add"\): .+; then ping: .*\b503\b/);
    assert.equal(probeVerdict(out, {}).status, 'down');
  });

  it('health --timeout running out while the server is asked again: the check\'s failure, not down', async (t) => {
    const http = await startHttpFixture('streamable', { crashOnCall: true });
    t.after(() => http.close());
    // The bound runs out as the ping arrives: whatever the ask then meets says nothing of the server.
    const bound = new AbortController();
    const front = await gateway(http.port, () => bound.abort());
    t.after(() => front.close());
    const out = await probeServer(httpTarget(front.url, 'streamable_http', { checks: ADD, protocol: 'legacy' }), { bound: { signal: bound.signal, ms: 60_000, name: 'health --timeout 60s' } });
    assert.equal(out.error, null);
    assert.deepEqual(out.checks!.map((c) => [c.status, c.error?.type]), [['fail', 'connection_refused']]);
    assert.equal(probeVerdict(out, {}).status, 'degraded');
  });

  it('legacy SSE: the server crashes during the call, its stream ends, and a new connection is refused: down, connection_refused', async (t) => {
    const http = await startHttpFixture('sse', { crashOnCall: true });
    t.after(() => http.close());
    const out = await probeServer(httpTarget(http.url, 'sse', { checks: ADD }));
    assert.equal(out.error?.type, 'connection_refused');
    assert.match(out.error!.message, /^the server went away during check add \(tools\/call "add"\): .+; then connect: connection refused\b/);
    assert.equal(probeVerdict(out, {}).status, 'down');
  });

  it('Streamable HTTP: one call\'s connection cut, the server answering: the check fails, the server is not down', async (t) => {
    const http = await startHttpFixture('streamable', { cutCalls: true });
    t.after(() => http.close());
    const out = await probeServer(httpTarget(http.url, 'streamable_http', { checks: ADD, protocol: 'legacy' }));
    assert.equal(out.error, null);
    assert.deepEqual(out.checks!.map((c) => [c.status, c.error?.type]), [['fail', 'connection_refused']]);
    assert.equal(probeVerdict(out, {}).status, 'degraded');
    // The call went out on the listing's kept-alive connection. A reset there may come after the
    // server took the call: it is not sent again, as a tool with side effects would run twice.
    assert.equal(http.received.filter((r) => r.method === 'tools/call').length, 1);
  });

  it('legacy SSE: the session\'s stream cut during the call, the server answering a new connection: the check fails, the server is not down', async (t) => {
    const http = await startHttpFixture('sse', { cutCalls: true });
    t.after(() => http.close());
    const out = await probeServer(httpTarget(http.url, 'sse', { checks: ADD }));
    assert.equal(out.error, null);
    assert.deepEqual(out.checks!.map((c) => [c.status, c.error?.type]), [['fail', 'connection_refused']]);
    assert.equal(probeVerdict(out, {}).status, 'degraded');
  });

  it('mcpwatch run: down once at the first crash, and still down, not recovered, when a restarted process dies at the check again', async () => {
    const spawnLog = join(mkdtempSync(join(tmpdir(), 'mcpwatch-gone-')), 'spawns.log');
    let now = 1_000_000;
    const server = stdioTarget('dies-on-call', { checks: CRASH, env: { SPAWN_LOG: spawnLog } });
    const session = new ServerSession(server, { onSignal: () => {}, now: () => now });
    const track = new ServerTrack({ failuresBeforeDown: 3, thresholds: {}, latencyWindow: 20, checks: ['crash'] });
    const events: string[] = [];
    const step = async (): Promise<void> => {
      const a = assess(track, await session.check(), now);
      events.push(...a.events.map((e) => `${e.event} ${e.current_state}`));
    };
    try {
      await step();
      assert.equal(track.sm.status, 'down', 'the first crash');
      assert.equal(track.sm.lastError?.type, 'process_exited');
      assert.equal(session.pid, undefined, 'the dead process is not kept');
      // Within the back-off: no new process, the same finding.
      await step();
      assert.equal(readFileSync(spawnLog, 'utf8').trim().split('\n').length, 1);
      now += 60_000;
      await step();
      await until(() => readFileSync(spawnLog, 'utf8').trim().split('\n').length === 2, 'a restart');
      assert.equal(track.sm.status, 'down', 'the restarted process died at the check too');
      assert.deepEqual(events, ['down down'], 'one down, no recovered in between, no check_failed');
    } finally {
      await session.close();
    }
  });
});
