import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { probeServer } from '../../src/probe/probe.js';
import { EventStreamParser, StreamableHttpTransport, standaloneRetryable, streamableConnector } from '../../src/probe/streamable-http.js';
import { keepAliveHintMs } from '../../src/probe/http.js';
import { startHttpFixture, type HttpFixture, type HttpFixtureOptions, type HttpMode } from '../fixtures/http-server.js';
import { httpTarget, until } from '../helpers.js';
import { ServerSession, type SessionSignal } from '../../src/probe/session.js';
import { healthyServer } from '../fixtures/servers.js';
import type { StreamHooks } from '../../src/probe/prober.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';

const fixtures: HttpFixture[] = [];
async function fixture(mode: HttpMode): Promise<HttpFixture> {
  const f = await startHttpFixture(mode);
  fixtures.push(f);
  return f;
}
after(async () => {
  for (const f of fixtures) await f.close();
});

/** A kept session over a fixture whose servers are at hand, its signals recorded, on a clock the test moves. */
async function watchedSession(opts: Omit<HttpFixtureOptions, 'makeServer'>): Promise<{ f: HttpFixture; session: ServerSession; signals: SessionSignal[]; advance(ms: number): void; listChangedArrives(what: string): Promise<void> }> {
  const servers: McpServer[] = [];
  const f = await startHttpFixture('streamable', { ...opts, makeServer: () => servers[servers.push(healthyServer()) - 1]! });
  fixtures.push(f);
  let clock = 1_000_000;
  const signals: SessionSignal[] = [];
  const session = new ServerSession(httpTarget(f.url), { onSignal: (s) => signals.push(s), now: () => clock });
  return {
    f,
    session,
    signals,
    advance: (ms) => void (clock += ms),
    // Sent until the server has registered the stream: before that, the SDK drops it.
    listChangedArrives: (what) =>
      until(() => {
        for (const s of servers) void s.sendToolListChanged();
        return signals.includes('list_changed');
      }, what),
  };
}

function parse(chunks: string[]): Array<[string, string]> {
  const events: Array<[string, string]> = [];
  const p = new EventStreamParser((data, event) => events.push([event, data]));
  for (const c of chunks) p.push(c);
  return events;
}

describe('EventStreamParser', () => {
  it('joins multi-line data, names events and skips comments', () => {
    assert.deepEqual(parse([': keep-alive\n\nevent: message\ndata: {"a":\ndata:1}\nid: 7\n\n', 'event: other\ndata: x\n\n']), [
      ['message', '{"a":\n1}'],
      ['other', 'x'],
    ]);
  });
  it('handles CRLF and CR line ends split across chunks', () => {
    assert.deepEqual(parse(['data: one\r', '\n\r', '\ndata: two\r\r', 'data:three\n', '\n']), [
      ['message', 'one'],
      ['message', 'two'],
      ['message', 'three'],
    ]);
  });
  it('records the last event id (also of a priming event) and the retry time, for resuming', () => {
    const position = {};
    const p = new EventStreamParser(() => {}, position);
    p.push('id: 1\nretry: 50\ndata: \n\nid: 2\ndata: {}\n\nid: 3\ndata: not dispatched yet\n');
    assert.deepEqual(position, { lastEventId: '2', retryMs: 50 });
  });
  it('dispatches nothing for an event with empty data (a resumable server\'s priming event) and skips a BOM', () => {
    assert.deepEqual(parse(['\uFEFFid: 1\ndata: \n\n', 'data: {"a":1}\n\n']), [['message', '{"a":1}']]);
  });
  it('does not dispatch an event that has not ended', () => {
    assert.deepEqual(parse(['data: partial\n']), []);
  });
  it('joins a line that arrives in many chunks, and a CRLF split after a full chunk', () => {
    const big = 'y'.repeat(100_000);
    const chunks = ['data: ', ...big.match(/.{1,1000}/g)!, '\r', '\n', '\r\n'];
    assert.deepEqual(parse(chunks), [['message', big]]);
  });
  it('refuses an event past the message limit, counting each data line', () => {
    const p = new EventStreamParser(() => {});
    assert.throws(() => {
      for (let i = 0; i < 2000; i++) p.push('data:\n'.repeat(1000));
    }, /server-sent event larger than 16 MiB/);
  });
});

describe('Streamable HTTP transport', () => {
  it('fails a request at once when its event stream is cut off before the response', async () => {
    const f = await fixture('stream-cut');
    const t0 = performance.now();
    const out = await probeServer({ ...httpTarget(f.url), timeout: 60_000 });
    const ms = performance.now() - t0;
    assert.equal(out.error?.type, 'connection_refused');
    assert.equal(out.error?.phase, 'tools/list');
    assert.match(out.error!.message, /event stream was cut off/);
    assert.ok(ms < 30_000, `reported after ${ms.toFixed(0)} ms, not at the 60 s timeout`);
    // The probe's DELETE comes after any resend of tools/list would have been made.
    await until(() => f.deletes >= 1, 'the session DELETE');
    assert.equal(f.toolsLists, 1, 'a request whose answer had begun is not sent again');
  });

  it('resumes a response stream the server closes to be polled (2025-11-25), with Last-Event-ID', async () => {
    const f = await fixture('streamable-polling');
    const out = await probeServer(httpTarget(f.url));
    assert.equal(out.error, null);
    assert.equal(out.tools?.length, 3);
    assert.equal(out.protocolVersion, '2025-11-25');
    assert.ok(out.phases['tools/list']! >= 100, 'the answer came after the server closed the stream and worked on');
  });

  it('ends a wait for the server\'s `retry` when the transport closes, and does not resume after an empty id', async (t) => {
    const { createServer } = await import('node:http');
    let gets = 0;
    let stream = '';
    const server = createServer((req, res) => {
      if (req.method === 'GET') gets++;
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end(stream);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const url = new URL(`http://127.0.0.1:${(server.address() as { port: number }).port}/mcp`);
    const request = { jsonrpc: '2.0' as const, id: 1, method: 'tools/list' };
    const settledWithin = (p: Promise<unknown>, ms: number): Promise<boolean> =>
      Promise.race([p.then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);

    // A server that asks for a 24-day pause before the resume: closing the transport (the probe's
    // deadline does) must end the wait, not leave the send pending with its transport. The injected
    // wait only ever ends by its signal, so settling proves the close ended it.
    stream = 'id: 1\nretry: 2147483647\ndata:\n\n';
    let waitBegan!: () => void;
    const began = new Promise<void>((r) => (waitBegan = r));
    const sleep = (_ms: number, signal: AbortSignal): Promise<void> =>
      new Promise((_, reject) => {
        waitBegan();
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    const waiting = new StreamableHttpTransport(url, { headers: {} }, {}, { sleep });
    const sent = waiting.send(request);
    await began;
    await waiting.close();
    assert.equal(await settledWithin(sent, 30_000), true, 'send() settled once the transport closed');
    assert.equal(gets, 0, 'no resume was attempted');

    // `id:` with no value resets the last event id: nothing to resume from, so the send fails at once.
    stream = 'id: 1\ndata:\n\nid:\ndata:\n\n';
    const reset = new StreamableHttpTransport(url, { headers: {} }, {});
    await assert.rejects(reset.send(request), /ended before the response/);
    await reset.close();
    assert.equal(gets, 0, 'no GET with an empty Last-Event-ID');
  });

  it('lets go of a response stream the server keeps open after the answer', async (t) => {
    // A server that should end the stream after the response but keeps it open (keep-alive comments
    // only): each request would hold a connection for as long as the session lives.
    let ended = 0;
    let id = 0;
    const server = createServer((req, res) => {
      req.resume();
      res.on('close', () => ended++);
      id++;
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(`: open\n\nevent: message\ndata: {"jsonrpc":"2.0","id":${id},"result":{"tools":[]}}\n\n: still open\n\n`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
    const transport = new StreamableHttpTransport(url, { headers: {} }, {});
    t.after(() => transport.close());
    const answers: unknown[] = [];
    transport.onmessage = (m) => answers.push(m);
    const first = transport.send({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    await until(() => answers.length === 1, 'the first answer');
    // The next request lets go of the first one's stream: at most one stays open, not one per request.
    const second = transport.send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    await until(() => ended === 1, 'the first response stream let go by the client', 30_000);
    await first;
    await until(() => answers.length === 2, 'the second answer');
    assert.equal(ended, 1, 'the second stream stays until the next request or the end of the session');
    await transport.close();
    await until(() => ended === 2, 'the second stream let go at the end of the session', 30_000);
    await second.catch(() => undefined);
  });

  it('reports a JSON answer cut off mid-body as a closed connection, at once', async () => {
    const f = await fixture('body-cut');
    const t0 = performance.now();
    const out = await probeServer({ ...httpTarget(f.url), timeout: 60_000 });
    assert.equal(out.error?.type, 'connection_refused');
    assert.equal(out.error?.phase, 'tools/list');
    assert.match(out.error!.message, /response body was cut off/);
    assert.ok(performance.now() - t0 < 30_000, 'not at the 60 s timeout');
  });

  it('refuses a 202 answer to a request at once instead of waiting for the deadline', async () => {
    const f = await fixture('accepted-request');
    const t0 = performance.now();
    const out = await probeServer({ ...httpTarget(f.url), timeout: 60_000 });
    assert.equal(out.error?.type, 'invalid_response');
    assert.match(out.error!.message, /HTTP 202 with no response to a request/);
    assert.ok(performance.now() - t0 < 30_000, 'not at the 60 s timeout');
  });

  for (const [mode, what] of [
    ['event-flood', 'an event of endless empty data lines'],
    ['line-flood', 'an endless line'],
  ] as const) {
    it(`stops reading ${what} at the message limit, with a clear error`, async () => {
      const f = await fixture(mode);
      const heap0 = process.memoryUsage().heapUsed;
      const out = await probeServer({ ...httpTarget(f.url), timeout: 120_000 });
      assert.equal(out.error?.type, 'invalid_response');
      assert.match(out.error!.message, /server-sent event larger than 16 MiB: not an MCP message/);
      // The old limit counted only data text: 100 MiB of empty data lines grew the heap by 177 MiB.
      assert.ok(process.memoryUsage().heapUsed - heap0 < 200 * 2 ** 20);
    });
  }

  it('retries a request once when a reused keep-alive connection is reset under it', async () => {
    const f = await fixture('reset-reused');
    const out = await probeServer(httpTarget(f.url));
    assert.equal(out.error, null);
    assert.equal(out.tools?.length, 3);
    assert.ok(f.resets >= 2, `the server reset ${f.resets} reused connections`);
  });

  it('reports the end of the standalone stream, but not when it closes the session itself', async () => {
    const f = await fixture('streamable');
    const seen: Array<Parameters<StreamHooks['onStream']>[0]> = [];
    const ended = (): boolean => seen.includes('end');
    const connect = streamableConnector({ notifications: true, onStream: (what) => seen.push(what) });
    const signal = new AbortController().signal;

    const mine = await connect(httpTarget(f.url), { signal });
    await mine.client.connect(mine.transport);
    await until(() => f.openSessions.size === 1, 'the session open');
    await mine.close();
    assert.equal(f.openSessions.size, 0, 'closing DELETEs the session');
    assert.equal(ended(), false, 'closing our own stream is not a server going away');

    const theirs = await connect(httpTarget(f.url), { signal });
    await theirs.client.connect(theirs.transport);
    // The GET is opened after initialize, without waiting: the server goes away once it has it.
    await until(() => f.gets >= 1, 'the standalone GET');
    await f.close();
    await until(ended, 'the end of the standalone stream');
    await theirs.close();
  });

  it('opens the standalone stream again at the next check after a proxy cut it, so tools/list_changed still arrives', async () => {
    const { f, session, signals, advance, listChangedArrives } = await watchedSession({ cutGetStreams: 2 });
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.era], [null, 'legacy']);
      await until(() => signals.length === 1, 'the cut asks for a check at once');
      assert.deepEqual([signals, f.gets], [['stream_end'], 1]);
      // The check it asked for opens the stream again on the same session; the proxy cuts it again.
      assert.equal((await session.check()).error, null);
      await until(() => f.gets === 2 && session.streamLostAwaitingCheck, 'the second stream, cut and noticed');
      assert.deepEqual(signals, ['stream_end'], 'a cut within the interval waits for the next check');
      advance(30_000);
      assert.equal((await session.check()).error, null);
      await until(() => f.gets === 3, 'the third stream');
      assert.equal(f.openSessions.size, 1, 'one session throughout');
      // The server's change notice reaches the session over the stream opened again.
      await listChangedArrives('tools/list_changed over the new stream');
    } finally {
      await session.close();
    }
  });

  it('opens the standalone stream again after a cut that came while the session was being opened (before its first listing answered)', async () => {
    const { f, session, signals, listChangedArrives } = await watchedSession({ endFirstGetBeforeList: true });
    try {
      const first = await session.check();
      assert.deepEqual([first.error, first.era, f.gets], [null, 'legacy', 1]);
      assert.deepEqual(signals, ['stream_end'], 'the cut asks for a check at once, as one after the session was opened does');
      assert.equal(session.streamLostAwaitingCheck, true);
      assert.equal((await session.check()).error, null);
      await until(() => f.gets === 2, 'the stream opened again at the check');
      assert.equal(f.openSessions.size, 1, 'on the same session');
      await listChangedArrives('tools/list_changed over the stream opened again');
    } finally {
      await session.close();
    }
  });

  it('tries the standalone stream again at a later check when a reopening was refused, so tools/list_changed still arrives', async () => {
    // The proxy cuts the first stream; the server still holds its end and refuses the second GET.
    const { f, session, signals, advance, listChangedArrives } = await watchedSession({ cutGetStreams: 1, refuseGets: [2] });
    try {
      assert.equal((await session.check()).error, null);
      await until(() => signals.length === 1, 'the cut asks for a check at once');
      assert.equal((await session.check()).error, null);
      await until(() => f.gets === 2 && session.streamLostAwaitingCheck, 'the reopening, refused and noticed');
      advance(30_000);
      assert.equal((await session.check()).error, null);
      await until(() => f.gets === 3, 'the stream asked for again');
      assert.equal(f.openSessions.size, 1, 'one session throughout');
      await listChangedArrives('tools/list_changed over the stream opened again');
    } finally {
      await session.close();
    }
  });

  it('asks again at a later check for a standalone stream refused 503 at its first opening, so tools/list_changed then arrives', async () => {
    // Before, only a stream once given was asked for again: a server or proxy failing just as the
    // session opened left the session without its change notices for as long as it lived.
    const { f, session, signals, advance, listChangedArrives } = await watchedSession({ refuseGets: [1], refuseGetsWith: 503 });
    try {
      assert.equal((await session.check()).error, null);
      await until(() => f.gets === 1 && session.streamLostAwaitingCheck, 'the first GET, refused and noticed');
      assert.deepEqual(signals, [], 'a refusal asks for no check of its own');
      advance(30_000);
      assert.equal((await session.check()).error, null);
      await until(() => f.gets === 2, 'the stream asked for again');
      await listChangedArrives('tools/list_changed over the stream that opened');
      assert.equal(session.streamLostAwaitingCheck, false);
      assert.equal(f.openSessions.size, 1, 'one session throughout');
    } finally {
      await session.close();
    }
  });

  it('asks again for a standalone stream whose first opening was cut before any answer, asking for a check at once', async () => {
    // A GET whose connection is reset may be sent once more at once: both tries are cut.
    const { f, session, signals, advance, listChangedArrives } = await watchedSession({ refuseGets: [1, 2], refuseGetsWith: 'reset' });
    try {
      assert.equal((await session.check()).error, null);
      await until(() => signals.includes('stream_end'), 'the cut asks for a check at once, as a cut stream does');
      // Refused again (if the first cut was not retried), then given, at checks the back-off allows.
      for (let i = 0; i < 3 && f.gets < 3; i++) {
        const before = f.gets;
        assert.equal((await session.check()).error, null);
        await until(() => f.gets > before, 'the stream asked for again');
        advance(30 * 60_000);
      }
      await listChangedArrives('tools/list_changed over the stream that opened');
      assert.equal(f.openSessions.size, 1, 'one session throughout');
    } finally {
      await session.close();
    }
  });

  it('asks for a standalone stream whose reopening is refused less and less often while the refusals go on, until it opens', async () => {
    // Before, a server refusing every reopening (a 409 for a stream it still holds, a proxy's 503) got a GET at every check.
    const { f, session, signals, advance, listChangedArrives } = await watchedSession({ cutGetStreams: 1, refuseGets: [2, 3, 4, 5] });
    const asked: number[] = [];
    try {
      for (let i = 0; i < 17; i++) {
        assert.equal((await session.check()).error, null);
        // A GET asked at this check has been answered: refused (waiting again), or open for good.
        await until(() => session.streamLostAwaitingCheck || f.gets === 6, 'the GET answered');
        asked.push(f.gets);
        advance(30_000);
      }
      // Cut once open at the first check; refused at the next, at the one after, then two intervals
      // later, four, eight; the sixth opens.
      assert.deepEqual(asked, [1, 2, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 6]);
      assert.deepEqual(signals, ['stream_end'], 'the cut asks for a check at once, a refusal does not');
      await listChangedArrives('tools/list_changed over the stream that opened');
      assert.equal(session.streamLostAwaitingCheck, false);
      assert.equal(f.openSessions.size, 1, 'one session throughout');
    } finally {
      await session.close();
    }
  });
});

describe('a standalone GET refused at its first opening', () => {
  it('is asked for again where the server could not give it just then, never where it does not give it', () => {
    const rows: Array<[number, boolean]> = [
      [500, true],
      [502, true],
      [503, true],
      [504, true],
      [429, true],
      [408, true],
      [401, true],
      [400, false],
      [403, false],
      [404, false],
      [405, false],
      [406, false],
      [409, false],
      [200, false],
    ];
    for (const [status, again] of rows) assert.equal(standaloneRetryable(status), again, `HTTP ${status}`);
  });
});

describe('keep-alive', () => {
  it('reads the server\'s idle timeout from Keep-Alive', () => {
    const rows: Array<[string | null, number | undefined]> = [
      ['timeout=5', 5000],
      ['timeout=5, max=1000', 5000],
      ['max=1000, timeout=75', 75_000],
      ['Timeout=2', 2000],
      ['max=5', undefined],
      ['timeout=', undefined],
      ['timeout=abc', undefined],
      ['xtimeout=5', undefined],
      [null, undefined],
    ];
    for (const [value, want] of rows) assert.equal(keepAliveHintMs(value), want, String(value));
  });

  it('asks for Connection: close when the server would have closed the pooled connection before the next request', async () => {
    const f = await fixture('streamable');
    let clock = 0;
    const conn = await streamableConnector({ now: () => clock })(httpTarget(f.url), { signal: new AbortController().signal });
    // The handshake and a list right after it: milliseconds apart, the connection is reused.
    await conn.client.connect(conn.transport);
    await conn.client.listTools();
    assert.equal(f.connectionCloses, 0);
    // Node's server keeps an idle connection 5 s (Keep-Alive: timeout=5): a check 10 s later would
    // find it gone, so it asks for its connection to end with the answer.
    clock += 10_000;
    await conn.client.listTools();
    assert.equal(f.connectionCloses, 1);
    clock += 10;
    await conn.client.listTools();
    assert.equal(f.connectionCloses, 1, 'a request right after another keeps its connection');
    clock += 3_000;
    await conn.client.listTools();
    assert.equal(f.connectionCloses, 1, 'within the server\'s keep-alive the connection is reused');
    assert.equal(f.toolsLists, 4);
    await conn.close();
  });

  it('sends the same header lines on pooled and pool-less requests, with and without configured headers', async (t) => {
    const seen: string[][] = [];
    const server = createServer((req: IncomingMessage, res) => {
      seen.push(req.rawHeaders);
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'keep-alive': 'timeout=5' }).end('{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const request = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } } as const;
    const length = String(Buffer.byteLength(JSON.stringify(request)));
    const exchange = async (url: string, headers: Record<string, string>): Promise<string[][]> => {
      let clock = 0;
      const transport = new StreamableHttpTransport(new URL(url), { headers }, {}, { now: () => clock });
      seen.length = 0;
      await transport.send(request);
      clock += 10_000; // past the server's keep-alive: this one goes out without the pool
      await transport.send(request);
      await transport.close();
      return [...seen];
    };
    const ours = ['mcp-protocol-version', '2026-07-28', 'mcp-method', 'tools/list', 'accept', 'application/json, text/event-stream', 'content-type', 'application/json', 'content-length', length, 'Host', host];
    assert.deepEqual(await exchange(`http://${host}/mcp`, {}), [
      [...ours, 'Connection', 'keep-alive'],
      [...ours, 'Connection', 'close'],
    ]);
    // A configured header named like one of ours in another case is one header, with our value.
    const configured = ['X-Api-Key', 'k', 'accept', 'application/json, text/event-stream', 'mcp-protocol-version', '2026-07-28', 'mcp-method', 'tools/list', 'content-type', 'application/json', 'content-length', length, 'Host', host];
    assert.deepEqual(await exchange(`http://${host}/mcp`, { 'X-Api-Key': 'k', Accept: 'text/plain' }), [
      [...configured, 'Connection', 'keep-alive'],
      [...configured, 'Connection', 'close'],
    ]);
    // Userinfo in the URL becomes a Basic credential.
    const basic = [...ours, 'Authorization', `Basic ${Buffer.from('user:pass').toString('base64')}`];
    assert.deepEqual(await exchange(`http://user:pass@${host}/mcp`, {}), [
      [...basic, 'Connection', 'keep-alive'],
      [...basic, 'Connection', 'close'],
    ]);
  });

  it('opens a kept stream (the standalone GET, a listen) on a connection of its own, outside the pool', async (t) => {
    const seen: Array<[string, string]> = [];
    const open = new Set<import('node:http').ServerResponse>();
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        const method = req.method === 'GET' ? 'GET' : (JSON.parse(body) as { method: string }).method;
        seen.push([method, req.headers.connection ?? '']);
        if (method === 'GET' || method === 'subscriptions/listen') {
          res.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders();
          open.add(res);
        } else if (method.startsWith('notifications/')) res.writeHead(202).end();
        else res.writeHead(200, { 'content-type': 'application/json' }).end(`{"jsonrpc":"2.0","id":${JSON.parse(body).id},"result":{}}`);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      for (const res of open) res.destroy();
      server.close();
    });
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
    const transport = new StreamableHttpTransport(url, { headers: {} }, {}, { notifications: true });
    t.after(() => transport.close());
    await transport.send({ jsonrpc: '2.0', id: 1, method: 'ping' });
    await transport.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    await until(() => open.size === 1, 'the standalone stream');
    void transport.send({ jsonrpc: '2.0', id: 2, method: 'subscriptions/listen', params: {} }).catch(() => {});
    await until(() => open.size === 2, 'the listen stream');
    await transport.send({ jsonrpc: '2.0', id: 3, method: 'ping' });
    assert.deepEqual(seen, [
      ['ping', 'keep-alive'],
      ['notifications/initialized', 'keep-alive'],
      ['GET', 'close'],
      ['subscriptions/listen', 'close'],
      ['ping', 'keep-alive'],
    ]);
  });

  it('lets go of a listen stream the SDK gives up (requestSignal), answered or not, so a listen retried at each check holds no connection per try', async (t) => {
    // A proxy that buffers event streams: the listen's acknowledgement never reaches the client, which
    // gives the request up after its timeout (or closes the subscription) by aborting requestSignal.
    const held = new Map<string, IncomingMessage>();
    const closed = new Set<string>();
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => {
        const { id } = JSON.parse(body) as { id: string };
        held.set(id, req);
        res.on('close', () => closed.add(id));
        // One answers with its stream's head, the other not even that.
        if (id === 'answered') res.writeHead(200, { 'content-type': 'text/event-stream' }).flushHeaders();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      for (const req of held.values()) req.socket.destroy();
      server.close();
    });
    const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
    const diag: import('../../src/probe/prober.js').TransportDiagnostics = {};
    const transport = new StreamableHttpTransport(url, { headers: {} }, diag);
    t.after(() => transport.close());
    const sends: Array<Promise<unknown>> = [];
    for (const id of ['answered', 'unanswered']) {
      const given = new AbortController();
      const sent = transport.send({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: {} }, { requestSignal: given.signal }).catch((err: unknown) => err);
      await until(() => held.has(id), `the ${id} listen`);
      given.abort();
      sends.push(sent);
    }
    await until(() => closed.size === 2, 'both given-up listens closed');
    await Promise.all(sends);
    assert.equal(diag.networkError, undefined, 'a request given up is no network failure of the server');
  });

  it('keeps connections pooled when the server gives no keep-alive timeout', async () => {
    const f = await fixture('streamable');
    let clock = 0;
    const conn = await streamableConnector({ now: () => clock })(httpTarget(f.url), { signal: new AbortController().signal });
    await conn.client.connect(conn.transport);
    clock += 60_000;
    await conn.client.listTools();
    assert.equal(f.connectionCloses, 1, 'Node\'s server says timeout=5');
    const g = await startHttpFixture('streamable', { keepAliveMs: 0 });
    fixtures.push(g);
    const quiet = await streamableConnector({ now: () => clock })(httpTarget(g.url), { signal: new AbortController().signal });
    await quiet.client.connect(quiet.transport);
    clock += 60_000;
    await quiet.client.listTools();
    assert.equal(g.connectionCloses, 0);
    await conn.close();
    await quiet.close();
  });
});
