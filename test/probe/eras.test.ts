import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { probeServer } from '../../src/probe/probe.js';
import { LEGACY_SESSION_RECHECK, ServerSession, type SessionSignal } from '../../src/probe/session.js';
import { FIXTURES, STDIO_FIXTURE, httpTarget, stdioTarget, until } from '../helpers.js';
import { startModernHttpFixture, type ModernHttpFixture } from '../fixtures/modern-http-server.js';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { MODERN_TOOLS } from '../fixtures/modern-servers.js';
import { startFront } from '../fixtures/front.js';
import type { ServerConfig } from '../../src/config/schema.js';

const MODERN_STDIO = join(FIXTURES, 'modern-stdio-server.js');

function modernStdio(mode: string, extra: Partial<ServerConfig> = {}): ServerConfig {
  return { ...stdioTarget(mode), name: `modern-stdio-${mode}`, args: [MODERN_STDIO, mode], ...extra };
}

/** The lines of a REQUEST_LOG: process starts and the methods each process received. */
function requestLog(file: string): { spawns: number; methods: string[] } {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  return { spawns: lines.filter((l) => l.startsWith('spawn ')).length, methods: lines.filter((l) => !l.startsWith('spawn ')).map((l) => l.split(' ')[1]!) };
}

describe('probes in both MCP eras', () => {
  let strict: ModernHttpFixture;
  let dual: ModernHttpFixture;
  let legacyHttp: HttpFixture;

  before(async () => {
    strict = await startModernHttpFixture('strict');
    dual = await startModernHttpFixture('dual');
    legacyHttp = await startHttpFixture('streamable');
  });
  after(async () => {
    await strict.close();
    await dual.close();
    await legacyHttp.close();
  });

  it('auto: a modern-only server is up as 2026-07-28, with its tools, after one server/discover', async () => {
    const out = await probeServer(httpTarget(strict.url));
    assert.equal(out.error, null);
    assert.equal(out.era, 'modern');
    assert.equal(out.protocolVersion, '2026-07-28');
    assert.equal(out.tools?.length, MODERN_TOOLS.length);
    assert.deepEqual(out.serverInfo, { name: 'fixture-modern', version: '2.4.0' });
    assert.equal(typeof out.phases['server/discover'], 'number');
    assert.equal(out.phases.initialize, undefined);
  });

  it('auto: a dual server is seen as modern; legacy pins it to 2025', async () => {
    const auto = await probeServer(httpTarget(dual.url));
    assert.deepEqual([auto.error, auto.era, auto.protocolVersion, auto.tools?.length], [null, 'modern', '2026-07-28', MODERN_TOOLS.length]);
    const legacy = await probeServer(httpTarget(dual.url, 'streamable_http', { protocol: 'legacy' }));
    assert.deepEqual([legacy.error, legacy.era, legacy.protocolVersion, legacy.tools?.length], [null, 'legacy', '2025-11-25', MODERN_TOOLS.length]);
  });

  it('auto: a 2025 server is up as 2025-11-25', async () => {
    const out = await probeServer(httpTarget(legacyHttp.url));
    assert.deepEqual([out.error, out.era, out.protocolVersion, out.tools?.length], [null, 'legacy', '2025-11-25', 3]);
    assert.equal(typeof out.phases.initialize, 'number');
  });

  it('auto: a 2025 server that fails server/discover with HTTP 500 is up through initialize, with a warning', async () => {
    const failing = await startHttpFixture('streamable', { discoverStatus: 500 });
    try {
      const out = await probeServer(httpTarget(failing.url));
      assert.deepEqual([out.error, out.era, out.protocolVersion, out.tools?.length], [null, 'legacy', '2025-11-25', 3]);
      assert.match(out.warnings.join('\n'), /server\/discover.*HTTP 500/);
      // The server that is really down stays down, with the initialize's own answer.
      const down = await startHttpFixture('status-500');
      try {
        const refused = await probeServer(httpTarget(down.url));
        assert.deepEqual([refused.error?.type, refused.error?.phase], ['http_status', 'initialize']);
      } finally {
        await down.close();
      }
    } finally {
      await failing.close();
    }
  });

  it('legacy pinned against a modern-only server: unsupported_protocol_version, permanent, naming what it offers', async () => {
    const out = await probeServer(httpTarget(strict.url, 'streamable_http', { protocol: 'legacy' }));
    assert.equal(out.error?.type, 'unsupported_protocol_version');
    assert.equal(out.error?.category, 'permanent');
    assert.equal(out.error?.phase, 'initialize');
    assert.match(out.error!.message, /2025-11-25.*\["2026-07-28"\]: a server of the 2026-07-28 era only; use protocol: auto or modern$/);
  });

  it('modern pinned against a 2025 server: unsupported_protocol_version, permanent', async () => {
    const out = await probeServer(httpTarget(legacyHttp.url, 'streamable_http', { protocol: 'modern' }));
    assert.equal(out.error?.type, 'unsupported_protocol_version');
    assert.equal(out.error?.category, 'permanent');
    assert.equal(out.error?.phase, 'server/discover');
  });

  it('modern pinned against a 2025 stdio server: unsupported_protocol_version', async () => {
    const out = await probeServer(stdioTarget('ok', { protocol: 'modern' }));
    assert.equal(out.error?.type, 'unsupported_protocol_version');
    assert.equal(out.error?.category, 'permanent');
  });

  it('stdio: a modern-only server is up as 2026-07-28 with one process, and a pinned legacy probe is refused', async () => {
    const log = join(mkdtempSync(join(tmpdir(), 'mcpwatch-eras-')), 'requests.log');
    const out = await probeServer(modernStdio('modern', { env: { REQUEST_LOG: log } }));
    assert.deepEqual([out.error, out.era, out.protocolVersion, out.tools?.length], [null, 'modern', '2026-07-28', MODERN_TOOLS.length]);
    assert.deepEqual(requestLog(log), { spawns: 1, methods: ['server/discover', 'tools/list'] }, 'discovery in place: no second process');
    const refused = await probeServer(modernStdio('modern', { protocol: 'legacy' }));
    assert.equal(refused.error?.type, 'unsupported_protocol_version');
    assert.match(refused.error!.message, /\["2026-07-28"\]/);
  });

  it('stdio: a 2025 server under auto is found legacy on the same process', async () => {
    const out = await probeServer(stdioTarget('ok'));
    assert.deepEqual([out.error, out.era, out.protocolVersion, out.tools?.length], [null, 'legacy', '2025-11-25', 3]);
  });
});

describe('a kept session in the modern era', () => {
  it('remembers the era (no second server/discover), and notices a server that dies through its listen stream', async () => {
    let server = await startModernHttpFixture('strict');
    // The server dies and comes back at the same URL: behind a front that keeps its port.
    const front = await startFront(server.port);
    const signals: SessionSignal[] = [];
    let signalled: (() => void) | undefined;
    const session = new ServerSession(httpTarget(front.url), {
      onSignal: (s) => {
        signals.push(s);
        signalled?.();
      },
    });
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.era, first.verdict?.kind], [null, 'modern', 'modern']);
      // The listen stream is open once the server has acknowledged it.
      await until(() => server.openStreams() === 1, 'the listen stream');
      const second = await session.check();
      assert.deepEqual([second.error, second.era, second.verdict], [null, 'modern', undefined], 'nothing new learned');
      assert.equal(server.requests['server/discover'], 1);

      const dropped = new Promise<void>((r) => (signalled = r));
      front.crash();
      await server.close('crash');
      await dropped;
      assert.deepEqual(signals, ['stream_end']);
      const down = await session.check();
      assert.equal(down.error?.type, 'connection_refused');
      // Nothing was asked but tools/list: no server/discover to time, count as an operation or trace.
      assert.deepEqual(Object.keys(down.phases), ['tools/list']);

      server = await startModernHttpFixture('strict');
      front.revive(server.port);
      const back = await session.check();
      assert.deepEqual([back.error, back.era, back.tools?.length], [null, 'modern', MODERN_TOOLS.length]);
      assert.equal(server.requests['server/discover'], undefined, 'the remembered era skips server/discover after the restart too');
      assert.equal(back.phases['server/discover'], undefined);
      assert.equal(back.latencyMs, back.phases['tools/list']);
    } finally {
      await session.close();
      await front.close();
      await server.close();
    }
  });

  it('names a handshake refused in both eras by the era the server last spoke, not initialize', async () => {
    const server = await startModernHttpFixture('strict');
    const front = await startFront(server.port);
    const session = new ServerSession(httpTarget(front.url), { onSignal: () => {} });
    let gate: HttpServer | undefined;
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.era], [null, 'modern']);
      front.crash();
      await server.close('crash');
      // An authenticating proxy now refuses every request, whatever the era.
      gate = createServer((req, res) => void req.resume().on('end', () => res.writeHead(403, { 'content-type': 'text/plain' }).end('forbidden')));
      await new Promise<void>((r) => gate!.listen(0, '127.0.0.1', r));
      front.revive((gate.address() as AddressInfo).port);
      // The kept connection's listing is refused first; the connection is dropped with it.
      const listing = await session.check();
      assert.deepEqual([listing.error?.type, listing.error?.phase], ['forbidden', 'tools/list']);
      for (const round of ['a new connection, with the prior and again without it', 'the next, without a prior']) {
        const out = await session.check();
        assert.deepEqual([out.error?.type, out.error?.phase], ['forbidden', 'server/discover'], round);
      }
    } finally {
      await session.close();
      await front.close();
      await server.close();
      await new Promise<void>((r) => (gate ? gate.close(() => r()) : r()));
    }
  });

  it('finds the 2025 era out again when a 2025 server replaces a modern one: its 400 to a session-less request is no outage', async () => {
    const modern = await startModernHttpFixture('strict');
    const front = await startFront(modern.port);
    const session = new ServerSession(httpTarget(front.url), { onSignal: () => {} });
    let legacy: HttpFixture | undefined;
    let remembered: ServerSession | undefined;
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.era, first.verdict?.kind], [null, 'modern', 'modern']);
      front.crash();
      await modern.close('crash');
      // Redeployed on SDK 1.x at the same URL: a request without initialize and its session gets 400.
      legacy = await startHttpFixture('streamable');
      front.revive(legacy.port);
      const kept = await session.check();
      assert.deepEqual([kept.error, kept.era, kept.protocolVersion, kept.verdict?.kind], [null, 'legacy', '2025-11-25', 'legacy'], 'over the kept connection');

      // The same from the state file: an agent started with the modern era remembered.
      remembered = new ServerSession(httpTarget(front.url), { onSignal: () => {}, prior: first.verdict });
      const restarted = await remembered.check();
      assert.deepEqual([restarted.error, restarted.era, restarted.verdict?.kind], [null, 'legacy', 'legacy'], 'with the remembered era');
    } finally {
      await session.close();
      await remembered?.close();
      await front.close();
      await modern.close();
      await legacy?.close();
    }
  });

  it('finds the era out again where it remembered 2025: a server back on an SDK that speaks both eras is spoken to in 2026-07-28', async () => {
    // SDK v2 and the Python SDK 2 serve both eras, and SDK v2's handler answers a 2025 request
    // whatever session it names: a 2025 server upgraded in place never refuses the requests a
    // remembered era or a kept session goes on sending. Only finding the era out again sees it.
    let clock = 0;
    const legacy = await startHttpFixture('streamable');
    const front = await startFront(legacy.port);
    const session = new ServerSession(httpTarget(front.url), { onSignal: () => {}, now: () => clock });
    let upgraded: ModernHttpFixture | undefined;
    let remembered: ServerSession | undefined;
    let pinned: ServerSession | undefined;
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.era, first.verdict?.kind], [null, 'legacy', 'legacy']);
      front.crash();
      await legacy.close();
      upgraded = await startModernHttpFixture('dual');
      front.revive(upgraded.port);
      // The kept connection's check may meet the reset of the old server first.
      await until(async () => (await session.check()).error === null, 'the upgraded server answering the kept session');
      clock += LEGACY_SESSION_RECHECK;
      const later = await session.check();
      assert.deepEqual([later.error, later.era, later.protocolVersion, later.verdict?.kind], [null, 'modern', '2026-07-28', 'modern'], 'the kept 2025 session opened anew after LEGACY_SESSION_RECHECK');

      // From the state file: an agent started with the 2025 era remembered finds the era out.
      remembered = new ServerSession(httpTarget(front.url), { onSignal: () => {}, prior: first.verdict });
      const restarted = await remembered.check();
      assert.deepEqual([restarted.error, restarted.era, restarted.verdict?.kind], [null, 'modern', 'modern'], 'with the 2025 era remembered');

      // Pinned to 2025, the remembered era is the configured one: no discovery, and the session is kept.
      const before = { ...upgraded.requests };
      pinned = new ServerSession(httpTarget(front.url, 'streamable_http', { protocol: 'legacy' }), { onSignal: () => {}, prior: first.verdict, now: () => clock });
      assert.deepEqual([(await pinned.check()).era, (await pinned.check()).era], ['legacy', 'legacy'], 'protocol: legacy');
      clock += LEGACY_SESSION_RECHECK;
      assert.equal((await pinned.check()).era, 'legacy');
      assert.deepEqual([upgraded.requests['server/discover'] ?? 0, upgraded.requests.initialize ?? 0], [before['server/discover'] ?? 0, (before.initialize ?? 0) + 1], 'one initialize, no server/discover');
    } finally {
      for (const s of [session, remembered, pinned]) await s?.close();
      await front.close();
      await legacy.close();
      await upgraded?.close();
    }
  });

  it('finds the era out again when a stdio server it remembered in 2025 comes back on an SDK that speaks both eras', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-upgrade-'));
    const modeFile = join(dir, 'mode');
    const launcher = join(dir, 'server.mjs');
    // The server a restart starts: the 2025 fixture (SDK 1.x) until the file says it was upgraded.
    writeFileSync(modeFile, 'ok');
    writeFileSync(
      launcher,
      `import { readFileSync } from 'node:fs';
const upgraded = readFileSync(${JSON.stringify(modeFile)}, 'utf8') === 'dual';
process.argv[2] = upgraded ? 'dual' : 'ok';
await import(upgraded ? ${JSON.stringify(pathToFileURL(MODERN_STDIO).href)} : ${JSON.stringify(pathToFileURL(STDIO_FIXTURE).href)});
`,
    );
    let clock = 0;
    let closed = 0;
    const session = new ServerSession(stdioTarget('ok', { args: [launcher] }), { onSignal: (s) => void (s === 'closed' && closed++), now: () => clock });
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.era, first.verdict?.kind], [null, 'legacy', 'legacy']);
      writeFileSync(modeFile, 'dual');
      process.kill(session.pid!, 'SIGKILL');
      await until(() => closed > 0, 'the exit noticed');
      assert.equal((await session.check()).error?.type, 'process_exited');
      clock += 60_000;
      const restarted = await session.check();
      assert.deepEqual([restarted.error, restarted.era, restarted.protocolVersion, restarted.verdict?.kind], [null, 'modern', '2026-07-28', 'modern']);
    } finally {
      await session.close();
    }
  });

  it('finds the era out again once when a modern server refuses its listing, then reports the failure in that era, whatever request id its refusal names', async () => {
    // A 400 is also what a 2025 server gives a session-less 2026-07-28 request: worth one discovery.
    // Then the same refusal is the server's own, though its words differ at every request (a gateway
    // naming the request); keyed on the words, every check found the era out again.
    const refusal = (n: number): string => JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message: `Bad Request: request req-${n} rejected` } });
    const modern = await startModernHttpFixture('strict', { refuseListsAfter: { count: 1, status: 400, body: refusal } });
    const front = await startFront(modern.port);
    const session = new ServerSession(httpTarget(front.url), { onSignal: () => {} });
    let legacy: HttpFixture | undefined;
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.era], [null, 'modern']);
      const seen: unknown[] = [];
      for (let i = 0; i < 3; i++) {
        const out = await session.check();
        seen.push([out.error?.type, out.error?.phase, out.error?.message.startsWith('HTTP 400 on POST: {'), out.verdict, modern.requests['server/discover']]);
      }
      assert.deepEqual(seen, [
        ['http_status', 'tools/list', true, undefined, 2],
        ['http_status', 'tools/list', true, undefined, 2],
        ['http_status', 'tools/list', true, undefined, 2],
      ]);
      assert.equal(modern.requests['tools/list'], 1 + 2 + 1 + 1, 'one listing per check, and one more with the discovery');

      // A 2025 server at that URL refuses the session-less listing with the same status and code, in
      // words of a session: the era is found out again at once.
      front.crash();
      await modern.close('crash');
      legacy = await startHttpFixture('streamable');
      front.revive(legacy.port);
      const moved = await session.check();
      assert.deepEqual([moved.error, moved.era, moved.verdict?.kind], [null, 'legacy', 'legacy']);
    } finally {
      await session.close();
      await front.close();
      await modern.close();
      await legacy?.close();
    }
  });

  it('finds the modern era out at once when a modern-only server replaces a kept 2025 session', async () => {
    const legacy = await startHttpFixture('streamable');
    const front = await startFront(legacy.port);
    const session = new ServerSession(httpTarget(front.url), { onSignal: () => {} });
    let modern: ModernHttpFixture | undefined;
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.era], [null, 'legacy']);
      front.crash();
      await legacy.close();
      modern = await startModernHttpFixture('strict');
      front.revive(modern.port);
      let out = await session.check();
      if (out.error?.type === 'connection_refused') {
        // The old server's kept-alive socket may meet the first request (the kill, as an agent sees
        // it); the session is kept, and the next check reaches the new server with it.
        out = await session.check();
      }
      assert.deepEqual([out.error, out.era, out.protocolVersion, out.verdict?.kind], [null, 'modern', '2026-07-28', 'modern']);
    } finally {
      await session.close();
      await front.close();
      await legacy.close();
      await modern?.close();
    }
  });

  it('asks for a check at most once per interval when every listen stream is cut at once', async () => {
    const server = await startModernHttpFixture('strict', { cutListen: true });
    let clock = 1_000_000;
    const signals: SessionSignal[] = [];
    const session = new ServerSession(httpTarget(server.url), { onSignal: (s) => signals.push(s), now: () => clock });
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.era], [null, 'modern']);
      await until(() => signals.length === 1, 'the first cut asks for a check');
      // The check it asked for opens the stream again, and the proxy cuts it again.
      const second = await session.check();
      assert.equal(second.error, null);
      await until(() => server.requests['subscriptions/listen'] === 2 && session.streamLostAwaitingCheck, 'the second cut, noticed');
      assert.deepEqual(signals, ['stream_end'], 'a cut within the interval waits for the next check');
      clock += 30_000;
      await session.check();
      await until(() => signals.length === 2, 'a cut an interval later asks again');
      assert.equal(server.requests['subscriptions/listen'], 3);
    } finally {
      await session.close();
      await server.close();
    }
  });

  it('asks for the listen stream again at the next check after a refusal for now (503), not after one for good (404)', async () => {
    const busy = await startModernHttpFixture('strict', { refuseListens: { count: 1, status: 503 } });
    const gone = await startModernHttpFixture('strict', { refuseListens: { count: 1, status: 404 } });
    const sessions = [new ServerSession(httpTarget(busy.url), { onSignal: () => {} }), new ServerSession(httpTarget(gone.url), { onSignal: () => {} })];
    try {
      const [forNow, forGood] = sessions as [ServerSession, ServerSession];
      assert.equal((await forNow.check()).error, null);
      await until(() => forNow.streamLostAwaitingCheck, 'the refused listen, to be asked again');
      assert.equal((await forNow.check()).error, null);
      await until(() => busy.openStreams() === 1, 'the listen stream, opened at the next check');
      assert.equal(busy.requests['subscriptions/listen'], 2);

      assert.equal((await forGood.check()).error, null);
      await until(() => gone.requests['subscriptions/listen'] === 1, 'the refused listen');
      assert.equal((await forGood.check()).error, null);
      assert.equal((await forGood.check()).error, null);
      assert.equal(forGood.streamLostAwaitingCheck, false);
      assert.deepEqual([gone.requests['subscriptions/listen'], gone.openStreams()], [1, 0], 'a 404 is not asked again at every check');
    } finally {
      for (const s of sessions) await s.close();
      await busy.close();
      await gone.close();
    }
  });

  it('asks a listen stream refused for now less and less often while the refusals go on, until it opens', async () => {
    // Before, a server answering every subscriptions/listen with 503 got one at every check.
    const server = await startModernHttpFixture('strict', { refuseListens: { count: 4, status: 503 } });
    let clock = 1_000_000;
    const session = new ServerSession(httpTarget(server.url, 'streamable_http', { interval: 30_000 }), { onSignal: () => {}, now: () => clock });
    const asked: number[] = [];
    try {
      for (let i = 0; i < 17; i++) {
        assert.equal((await session.check()).error, null);
        // A listen asked at this check has been answered: refused (waiting again), or open.
        await until(() => session.streamLostAwaitingCheck || server.openStreams() === 1, 'the listen answered');
        asked.push(server.requests['subscriptions/listen'] ?? 0);
        clock += 30_000;
      }
      // Asked at the first check, again at the next, then two intervals later, four, eight; the fifth opens.
      assert.deepEqual(asked, [1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5]);
      assert.equal(server.openStreams(), 1);
      assert.equal(session.streamLostAwaitingCheck, false);
    } finally {
      await session.close();
      await server.close();
    }
  });

  it("reports a check's own failure, not that of the listen stream it asked for again (HTTP 503, a cut connection)", async () => {
    // A tool backend's JSON-RPC error quoting an HTTP status, as proxies' errors do: read as the
    // listen's 503 before the fix; and the listen's cut connection made it a refused connection.
    const refused = await startModernHttpFixture('strict', { refuseListens: { count: 10, status: 503 }, failListsAfter: { count: 1, message: 'upstream answered HTTP 502' } });
    const cut = await startModernHttpFixture('strict', { cutListens: 10, failListsAfter: { count: 1, message: 'tools backend down' } });
    const sessions = [new ServerSession(httpTarget(refused.url), { onSignal: () => {} }), new ServerSession(httpTarget(cut.url), { onSignal: () => {} })];
    try {
      const seen: Array<[string | undefined, string | undefined, boolean]> = [];
      for (const session of sessions) {
        assert.equal((await session.check()).error, null);
        await until(() => session.streamLostAwaitingCheck, 'the listen, failed for now');
        // The listen is asked again at this check, beside the tools/list that fails.
        const out = await session.check();
        seen.push([out.error?.type, out.error?.message, out.partial]);
      }
      assert.deepEqual(seen, [
        ['protocol_error', 'JSON-RPC error -32603 in tools/list: upstream answered HTTP 502', true],
        ['protocol_error', 'JSON-RPC error -32603 in tools/list: tools backend down', true],
      ]);
      await until(() => refused.requests['subscriptions/listen'] === 2 && cut.requests['subscriptions/listen'] === 2, 'each listen asked for again');
    } finally {
      for (const s of sessions) await s.close();
      await refused.close();
      await cut.close();
    }
  });

  it('finds the era out again when the server stops speaking the remembered one', async () => {
    const server = await startModernHttpFixture('strict');
    const session = new ServerSession(httpTarget(server.url), { onSignal: () => {}, prior: { kind: 'legacy' } });
    try {
      const out = await session.check();
      assert.deepEqual([out.error, out.era, out.verdict?.kind], [null, 'modern', 'modern']);
    } finally {
      await session.close();
      await server.close();
    }
  });
});
