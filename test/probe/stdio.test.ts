import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { closeTimed, openAndProbe, probeServer } from '../../src/probe/probe.js';
import type { Connector } from '../../src/probe/prober.js';
import { stdioTransport } from '../../src/probe/stdio.js';
import { probeVerdict } from '../../src/pipeline/status.js';
import { LEGACY_SESSION_RECHECK, ServerSession } from '../../src/probe/session.js';
import { alive, stdioTarget, STDIO_FIXTURE, until } from '../helpers.js';

/** Children of this test process that are still running (stdio servers must not outlive a probe). */
function fixtureChildren(): string[] {
  const out = execFileSync('ps', ['-o', 'pid=,stat=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(STDIO_FIXTURE));
}

describe('stdio probe', () => {
  it('reports a healthy server up with its facts and tools', async () => {
    const out = await probeServer(stdioTarget('ok'));
    assert.equal(out.error, null);
    assert.equal(out.serverInfo?.name, 'fixture-healthy');
    assert.equal(out.serverInfo?.version, '1.2.3');
    assert.equal(out.protocolVersion, '2025-11-25');
    assert.deepEqual(out.tools?.map((t) => t.name), ['echo', 'add', 'fail']);
    const add = out.tools!.find((t) => t.name === 'add')!;
    assert.deepEqual(add.annotations, { readOnlyHint: true });
    assert.deepEqual((add.inputSchema as { required: string[] }).required, ['a', 'b']);
    assert.ok(out.capabilities && 'tools' in out.capabilities);
    for (const p of ['spawn', 'initialize', 'tools/list', 'close'] as const) assert.equal(typeof out.phases[p], 'number', p);
    assert.equal(out.latencyMs, Math.round((out.phases.initialize! + out.phases['tools/list']!) * 1000) / 1000);
    assert.equal(probeVerdict(out, {}).status, 'up');
  });

  it('names the exit code and the telling stderr line of a server that exits at start', async () => {
    const out = await probeServer(stdioTarget('exit-at-start'));
    assert.equal(out.error?.type, 'process_exited');
    assert.equal(out.error?.category, 'transient');
    assert.equal(out.error?.message, 'exited with code 3: boom: missing DATABASE_URL');
    assert.equal(out.error?.phase, 'initialize');
    assert.equal(probeVerdict(out, {}).status, 'down');
  });

  it('reports a server that exits before reading initialize as process_exited with its code and stderr, every time', async () => {
    // The race: initialize is written to a pipe whose reader is gone (EPIPE) before or after the
    // exit is seen. Repeated, so that both orders occur; each must name the exit, not the pipe.
    const cases = [
      { command: 'sh', args: ['-c', 'echo "error: API_KEY is not set" >&2; exit 1'], message: 'exited with code 1: error: API_KEY is not set' },
      { command: '/bin/echo', args: ['hello'], message: 'exited with code 0: hello (on stdout, not as JSON-RPC; nothing on stderr)' },
      // A server that logs to stdout (print() before sys.exit): its last word is there, the line without a newline too.
      { command: 'sh', args: ['-c', 'echo "Starting server"; printf "Error: GITHUB_TOKEN is not set"; exit 1'], message: 'exited with code 1: Error: GITHUB_TOKEN is not set (on stdout, not as JSON-RPC; nothing on stderr)' },
      { command: 'true', args: [], message: 'exited with code 0 (no stderr output)' },
    ];
    const seen = new Set<string>();
    for (let i = 0; i < 15; i++) {
      for (const c of cases) {
        const out = await probeServer(stdioTarget('unused', { name: 'early-exit', command: c.command, args: c.args }));
        seen.add(`${c.command} → ${out.error?.type}: ${out.error?.message}`);
      }
    }
    assert.deepEqual([...seen].sort(), cases.map((c) => `${c.command} → process_exited: ${c.message}`).sort());
  });

  it('names the signal of a server killed during initialize', async () => {
    const out = await probeServer(stdioTarget('die-in-initialize'));
    assert.equal(out.error?.type, 'process_exited');
    assert.equal(out.error?.message, 'killed by SIGKILL: fatal: out of memory while loading model');
    assert.equal(out.error?.phase, 'initialize');
  });

  it('times out a server that never answers, naming the phase, and kills it', async () => {
    const t = performance.now();
    // Long enough that even a slow spawn is over before it, so the phase is always the handshake's:
    // under auto its first request, server/discover, is the one left unanswered.
    const out = await probeServer(stdioTarget('hang', { timeout: 2000 }));
    assert.deepEqual([out.error?.type, out.error?.phase], ['timeout', 'initialize']);
    assert.equal(out.error?.message, 'timeout after 2000ms waiting for server/discover');
    // Its close has two grace periods (300 ms, 1 s) before SIGKILL; the margin is for a busy machine.
    assert.ok(performance.now() - t < 2000 + 15_000, 'the probe ends soon after its deadline');
    assert.deepEqual(fixtureChildren().filter((l) => l.includes(' hang')), []);
  });

  it('calls a server that prints garbage on stdout an invalid response', async () => {
    // The fixture prints garbage and never answers, so the probe ends at its deadline. A fixed short
    // deadline raced the fixture's start-up on a busy machine; this one is ended, through the same
    // abort path as the deadline, once the transport has seen the garbage. openAndProbe and
    // closeTimed are probeServer's two steps, with the stdio connector watched.
    const seen = new AbortController();
    const watched: Connector = async (server, ctx) => {
      const conn = await stdioTransport.connect(server, ctx);
      void until(() => conn.diagnostics().invalidOutput !== undefined).then(() => seen.abort());
      return conn;
    };
    const { out, conn } = await openAndProbe(stdioTarget('garbage', { timeout: 120_000 }), watched, { signal: seen.signal });
    if (conn) await closeTimed(conn, out);
    assert.equal(out.error?.type, 'invalid_response');
    assert.match(out.error!.message, /^stdout is not JSON-RPC: "Hello! Server starting up/);
  });

  it('keeps a server that prints a banner up, with a warning', async () => {
    const out = await probeServer(stdioTarget('banner-then-ok'));
    assert.equal(out.error, null);
    assert.equal(out.tools?.length, 3);
    assert.match(out.warnings[0]!, /stdout is not JSON-RPC: "my-server v1 ready"/);
  });

  it('warns of a banner over a kept session too, at each check (mcpwatch run)', async () => {
    const session = new ServerSession(stdioTarget('banner-then-ok'), { onSignal: () => {} });
    try {
      for (const check of ['the check that starts the server', 'a check over the kept session']) {
        const out = await session.check();
        assert.equal(out.error, null, check);
        assert.deepEqual(out.warnings, ['stdout is not JSON-RPC: "my-server v1 ready" (stdout must carry only JSON-RPC)'], check);
      }
    } finally {
      await session.close();
    }
  });

  it('masks a configured key that a stdout line cut short in its warning quoted in part', async () => {
    const key = 'abcd1234secretXYZ';
    const out = await probeServer(stdioTarget('config-banner-then-ok', { env: { API_KEY: key } }));
    assert.equal(out.error, null);
    assert.match(out.warnings[0]!, /stdout is not JSON-RPC: "config loaded from the environment, settings /);
    // Any eight characters of the key in a row would say most of it.
    const said = out.warnings.join('\n');
    for (let i = 0; i + 8 <= key.length; i++) assert.ok(!said.includes(key.slice(i, i + 8)), said);
  });

  it('abandons a 20 MB stdout line without buffering it or waiting for the deadline', async () => {
    // A deadline far beyond how long reading 16 MiB takes, even on a busy machine.
    const out = await probeServer(stdioTarget('huge-line', { timeout: 120_000 }));
    assert.equal(out.error?.type, 'invalid_response');
    assert.match(out.error!.message, /stdout line longer than 16 MiB/);
    assert.ok(out.phases.initialize! < 60_000, `fails on the line, not on the deadline (${out.phases.initialize} ms)`);
  });

  it('reports spawn_failed for a missing command', async () => {
    const out = await probeServer(stdioTarget('ok', { command: '/nonexistent/mcp-server', args: [] }));
    assert.equal(out.error?.type, 'spawn_failed');
    assert.equal(out.error?.category, 'permanent');
    assert.equal(out.error?.phase, 'spawn');
    assert.equal(out.error?.message, 'cannot start "/nonexistent/mcp-server": command not found (ENOENT)');
  });

  it('names a missing working directory, not the command, when cwd does not exist', async () => {
    const out = await probeServer(stdioTarget('ok', { cwd: '/nonexistent/mcp-dir' }));
    assert.deepEqual([out.error?.type, out.error?.phase], ['spawn_failed', 'spawn']);
    assert.equal(out.error?.message, `cannot start ${JSON.stringify(process.execPath)}: working directory /nonexistent/mcp-dir does not exist (cwd, ENOENT)`);
  });

  it('auto: a 2025 server that exits on server/discover is asked again on a new process, in the 2025 era, and said so', async () => {
    const out = await probeServer(stdioTarget('exit-before-initialize'));
    assert.deepEqual([out.error, out.era, out.tools?.length], [null, 'legacy', 3]);
    assert.match(out.warnings.join('\n'), /^the server exited on server\/discover \(exited with code 1: .*ValidationError.*\(server\/discover\)\); a new process speaks MCP 2025-11-25$/m);
    const pinned = await probeServer(stdioTarget('exit-before-initialize', { protocol: 'modern' }));
    assert.equal(pinned.error?.type, 'process_exited', 'modern pinned: no 2025 retry');
  });

  it('a kept session remembers the 2025 era it fell back to: its restarts are not asked server/discover again within the hour', async () => {
    let now = 0;
    let closed = 0;
    const session = new ServerSession(stdioTarget('exit-before-initialize'), { onSignal: (s) => void (s === 'closed' && closed++), now: () => now });
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.verdict?.kind], [null, 'legacy']);
      process.kill(session.pid!, 'SIGKILL');
      await until(() => closed > 0, 'the exit noticed');
      assert.equal((await session.check()).error?.type, 'process_exited');
      now += 60_000;
      const again = await session.check();
      assert.deepEqual([again.error, again.era, again.warnings], [null, 'legacy', []]);
      // An hour on, a restart asks again: the server may have been upgraded to one that answers it.
      process.kill(session.pid!, 'SIGKILL');
      await until(() => closed > 1, 'the second exit noticed');
      assert.equal((await session.check()).error?.type, 'process_exited');
      now += LEGACY_SESSION_RECHECK;
      const later = await session.check();
      assert.deepEqual([later.error, later.era], [null, 'legacy']);
      assert.match(later.warnings.join('\n'), /^the server exited on server\/discover .*; a new process speaks MCP 2025-11-25$/m);
    } finally {
      await session.close();
    }
  });

  it('lists 25 tools over 3 pages', async () => {
    const out = await probeServer(stdioTarget('paginated'));
    assert.equal(out.error, null);
    assert.equal(out.tools?.length, 25);
    assert.equal(out.tools?.[24]?.name, 'tool_25');
  });

  it('stops on a repeated cursor and keeps the tools it got', async () => {
    const out = await probeServer(stdioTarget('repeat-cursor'));
    assert.equal(out.error?.type, 'invalid_response');
    assert.equal(out.error?.phase, 'tools/list');
    assert.equal(out.error?.message, 'tools/list pagination repeated cursor "again" on page 2; stopped after 20 tools');
    assert.equal(out.tools?.length, 20);
  });

  it('caps the page count', async () => {
    const out = await probeServer(stdioTarget('paginated'), { maxToolPages: 2 });
    assert.equal(out.error?.type, 'invalid_response');
    assert.equal(out.error?.message, 'tools/list returned more than 2 pages; stopped after 20 tools');
  });

  it('reports an unsupported protocol version, answered or refused', async () => {
    const answered = await probeServer(stdioTarget('unsupported-version'));
    assert.equal(answered.error?.type, 'unsupported_protocol_version');
    assert.match(answered.error!.message, /^server answered protocol version "1999-01-01"/);
    const refused = await probeServer(stdioTarget('refuse-version'));
    assert.equal(refused.error?.type, 'unsupported_protocol_version');
    assert.match(refused.error!.message, /it supports \["2099-01-01"\]/);
  });

  it('reports a JSON-RPC error as protocol_error', async () => {
    const out = await probeServer(stdioTarget('rpc-error'));
    assert.equal(out.error?.type, 'protocol_error');
    assert.equal(out.error?.message, 'JSON-RPC error -32603 in initialize: database unavailable');
  });

  it('treats a server without the tools capability as up with zero tools', async () => {
    const out = await probeServer(stdioTarget('toolless'));
    assert.equal(out.error, null);
    assert.deepEqual(out.tools, []);
  });

  it('marks a slow server degraded against its thresholds', async () => {
    const out = await probeServer(stdioTarget('slow', { env: { SLOW_MS: '300' } }));
    assert.equal(out.error, null);
    assert.ok(out.latencyMs! >= 300);
    const warn = probeVerdict(out, { latency_warning: 100 });
    assert.equal(warn.status, 'degraded');
    assert.equal(warn.severity, 'warning');
    assert.match(warn.note, /over warning threshold 100ms/);
    const crit = probeVerdict(out, { latency_warning: 50, latency_critical: 200 });
    assert.equal(crit.severity, 'critical');
    assert.equal(probeVerdict(out, { latency_warning: 5000 }).status, 'up');
  });

  it('kills the whole process group, including a grandchild that ignores SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-'));
    const pidfile = join(dir, 'pid');
    const out = await probeServer(stdioTarget('grandchild', { env: { PIDFILE: pidfile } }));
    assert.equal(out.error, null);
    const grandchild = Number(readFileSync(pidfile, 'utf8'));
    assert.ok(grandchild > 0);
    // SIGKILL is delivered before close() resolves; the kernel reaps it soon after, not at once.
    await until(() => !alive(grandchild)).catch(() => {});
    assert.equal(alive(grandchild), false, 'grandchild outlived the probe');
  });

  it('ends a double-forked grandchild that left the process group and was re-parented', async (t) => {
    const pidfile = join(mkdtempSync(join(tmpdir(), 'mcpwatch-')), 'pid');
    const out = await probeServer(stdioTarget('double-fork', { env: { PIDFILE: pidfile } }));
    assert.equal(out.error, null);
    const grandchild = Number(readFileSync(pidfile, 'utf8'));
    t.after(() => void (alive(grandchild) && process.kill(grandchild, 'SIGKILL')));
    assert.ok(grandchild > 0);
    // Signalled before the probe returned; the kernel may take a moment to reap it.
    await until(() => !alive(grandchild), 'the double-forked grandchild to be gone');
  });

  it('leaves no fixture process behind after all of the above', () => {
    assert.deepEqual(fixtureChildren(), []);
  });
});
