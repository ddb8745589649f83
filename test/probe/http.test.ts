import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { probeServer } from '../../src/probe/probe.js';
import { authParam, sameOriginRedirect } from '../../src/probe/http.js';
import { ServerSession } from '../../src/probe/session.js';
import { probeVerdict } from '../../src/pipeline/status.js';
import { startHttpFixture, type HttpFixture, type HttpMode } from '../fixtures/http-server.js';
import { refusingPort } from '../fixtures/refusing.js';
import { httpTarget, until } from '../helpers.js';
import { toollessServer } from '../fixtures/servers.js';

const fixtures: HttpFixture[] = [];
async function fixture(mode: HttpMode, opts = {}): Promise<HttpFixture> {
  const f = await startHttpFixture(mode, opts);
  fixtures.push(f);
  return f;
}
after(async () => {
  for (const f of fixtures) await f.close();
});


describe('Streamable HTTP probe', () => {
  for (const mode of ['streamable', 'streamable-json'] as const) {
    it(`reports a healthy server up and ends its session (${mode})`, async () => {
      const f = await fixture(mode);
      const out = await probeServer(httpTarget(f.url));
      assert.equal(out.error, null);
      assert.equal(out.serverInfo?.name, 'fixture-healthy');
      assert.equal(out.protocolVersion, '2025-11-25');
      assert.equal(out.tools?.length, 3);
      assert.equal(typeof out.phases.connect, 'number');
      assert.equal(f.deletes, 1, 'the session was DELETEd');
      assert.equal(f.openSessions.size, 0, 'no session left behind');
    });
  }

  it('sends the configured headers', async () => {
    let seen: string | undefined;
    const f = await fixture('streamable', {});
    const { createServer: createHttp } = await import('node:http');
    const proxy = createHttp((req, res) => {
      seen ??= req.headers['x-api-key'] as string | undefined;
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="x"' }).end();
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}/mcp`;
    const out = await probeServer(httpTarget(url, 'streamable_http', { headers: { 'X-Api-Key': 'secret-1' } }));
    proxy.close();
    void f;
    assert.equal(seen, 'secret-1');
    assert.equal(out.error?.type, 'auth_required');
    assert.equal(out.error?.message, 'HTTP 401, auth required (Bearer realm="x")');
  });

  it('reports where a redirect to another origin points instead of following it', async () => {
    const { createServer: createHttp } = await import('node:http');
    let requests = 0;
    const redirector = createHttp((_req, res) => {
      requests++;
      res.writeHead(308, { location: 'https://mcp.example/mcp' }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(redirector.address() as { port: number }).port}/mcp`;
    // Pinned to one era so that one handshake is one request (`auto` asks server/discover, then initialize).
    const out = await probeServer(httpTarget(url, 'streamable_http', { protocol: 'legacy' }));
    assert.equal(out.error?.type, 'http_status');
    assert.equal(out.error?.message, 'HTTP 308 on POST (redirect to https://mcp.example/mcp; mcpwatch follows a redirect only within the same origin and with the same method, as the MCP SDK does: configure that URL)');
    assert.equal(requests, 1, 'the redirect to another origin was not followed');
    const auto = await probeServer(httpTarget(url));
    redirector.close();
    assert.equal(auto.error?.message, out.error?.message);
    assert.equal(requests, 3, 'under auto, server/discover and initialize: neither followed');
  });

  it('shows a relative redirect as the absolute URL it points to, over both HTTP transports', async () => {
    const { createServer: createHttp } = await import('node:http');
    const redirector = createHttp((_req, res) => void res.writeHead(307, { location: '/v2/mcp' }).end());
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(redirector.address() as { port: number }).port}`;
    try {
      for (const [transport, method] of [['streamable_http', 'POST'], ['sse', 'GET']] as const) {
        const out = await probeServer(httpTarget(`${base}/mcp`, transport));
        assert.equal(out.error?.message, `HTTP 307 on ${method} (redirect to ${base}/v2/mcp; mcpwatch follows a redirect only within the same origin and with the same method, as the MCP SDK does: configure that URL)`, transport);
      }
      // Credentials in the configured URL stay out of the message (it goes to alerts and logs).
      const withPassword = base.replace('http://', 'http://ops:s3cret@');
      const out = await probeServer(httpTarget(`${withPassword}/mcp`));
      assert.equal(out.error?.message, `HTTP 307 on POST (redirect to ${base}/v2/mcp; mcpwatch follows a redirect only within the same origin and with the same method, as the MCP SDK does: configure that URL)`);
    } finally {
      redirector.close();
    }
  });

  it('follows the redirects the MCP SDK follows by default, and no others', () => {
    const base = new URL('http://127.0.0.1:8000/mcp');
    const to = (status: number, method: string, location: string | null, from = base): string | undefined => sameOriginRedirect(status, method, location, from)?.href;
    assert.equal(to(307, 'POST', '/mcp/'), 'http://127.0.0.1:8000/mcp/');
    assert.equal(to(308, 'DELETE', 'http://127.0.0.1:8000/v2/mcp'), 'http://127.0.0.1:8000/v2/mcp');
    assert.equal(to(301, 'GET', '/mcp/'), 'http://127.0.0.1:8000/mcp/');
    assert.equal(to(301, 'POST', '/mcp/'), undefined, 'a 301 turns a POST into a GET');
    assert.equal(to(303, 'POST', '/mcp/'), undefined);
    assert.equal(to(307, 'POST', 'http://127.0.0.1:8001/mcp'), undefined, 'another port is another origin');
    assert.equal(to(307, 'POST', 'https://mcp.example/mcp'), undefined);
    assert.equal(to(307, 'POST', 'http://user:pw@127.0.0.1:8000/mcp/'), undefined, 'no userinfo added');
    assert.equal(to(307, 'POST', '/mcp'), undefined, 'to itself');
    assert.equal(to(307, 'POST', null), undefined);
    assert.equal(to(200, 'POST', '/mcp/'), undefined);
    assert.equal(to(308, 'POST', 'https://mcp.example/mcp', new URL('http://mcp.example/mcp')), 'https://mcp.example/mcp', 'the https form on default ports');
    assert.equal(to(308, 'POST', 'http://mcp.example/mcp', new URL('https://mcp.example/mcp')), undefined, 'never down to plain http');
  });

  it('reads a WWW-Authenticate parameter, never one written inside another\'s quoted value', () => {
    const h = 'Bearer error="insufficient_scope", error_description="need scope=admin now", scope="mcp:tools", resource_metadata="http://x/.well-known/oauth-protected-resource"';
    assert.equal(authParam(h, 'scope'), 'mcp:tools');
    assert.equal(authParam(h, 'error_description'), 'need scope=admin now');
    assert.equal(authParam('Bearer error_description="only scope=x"', 'scope'), undefined, 'a scope inside a description is text');
    assert.equal(authParam('Basic realm="gateway", Bearer resource_metadata=http://a/b', 'resource_metadata'), 'http://a/b');
    assert.equal(authParam('Bearer realm = "a\\"b"', 'REALM'), 'a"b');
  });

  it('follows a 307 to another path of the same origin, as fetch-based clients do, once per connection, and says so', async () => {
    // A Python server mounted at /mcp/ answers /mcp with a 307 to /mcp/ (Starlette's redirect_slashes).
    const f = await fixture('streamable');
    const upstream = new URL(f.url);
    const redirected: string[] = [];
    const { request: httpRequest } = await import('node:http');
    const front = createHttpServer((req, res) => {
      if (req.url === '/mcp') {
        redirected.push(req.method ?? '');
        req.resume();
        res.writeHead(307, { location: '/mcp/' }).end();
        return;
      }
      const headers = { ...req.headers, host: upstream.host };
      const out = httpRequest({ host: upstream.hostname, port: upstream.port, path: upstream.pathname, method: req.method, headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(out);
    });
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    after(() => new Promise<void>((r) => (front.closeAllConnections(), front.close(() => r()))));
    const base = `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
    const server = httpTarget(`${base}/mcp`, 'streamable_http', { protocol: 'legacy' });
    const out = await probeServer(server);
    assert.equal(out.error, null, out.error?.message);
    assert.equal(out.tools?.length, 3);
    assert.deepEqual(out.warnings, [`HTTP 307 redirect from ${base}/mcp to ${base}/mcp/, followed: set url to the latter (clients that do not follow redirects fail on the former)`]);
    assert.equal(probeVerdict(out, {}).status, 'up');
    assert.deepEqual(redirected, ['POST'], 'the rest of the probe (tools/list, DELETE) went to /mcp/ directly');
    const session = new ServerSession(server, { onSignal: () => {} });
    after(() => session.close());
    for (let i = 0; i < 2; i++) {
      const checked = await session.check();
      assert.equal(checked.error, null);
      // Every check over the redirected connection says so, not only the one that opened it: the live view shows the last.
      assert.deepEqual(checked.warnings, out.warnings, `check ${i}`);
    }
    assert.deepEqual(redirected, ['POST', 'POST'], 'a kept session is redirected once, at its handshake');
  });

  it('lists 25 tools over 3 pages', async () => {
    const f = await fixture('streamable-paginated');
    const out = await probeServer(httpTarget(f.url));
    assert.equal(out.error, null);
    assert.equal(out.tools?.length, 25);
  });

  const failures: Array<[HttpMode, string, RegExp | string]> = [
    ['status-500', 'http_status', 'HTTP 500 on POST: upstream database exploded'],
    ['auth-401', 'auth_required', /^HTTP 401, auth required \(resource metadata: http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\)$/],
    ['forbidden-403', 'forbidden', 'HTTP 403, forbidden, insufficient_scope (the server requires scope "mcp:tools")'],
    ['html-200', 'invalid_response', 'HTTP 200 with content-type text/html, not MCP: text/html, 67 bytes, "Welcome to nginx!"'],
    ['json-not-rpc', 'invalid_response', /^malformed MCP message/],
    ['forget-session-404', 'session_expired', /^HTTP 404 for the MCP session: the server no longer knows it/],
    ['forget-session-400', 'session_expired', /^HTTP 400 for the MCP session: .*No valid session ID provided/],
    ['forget-session-200', 'session_expired', 'JSON-RPC error -32001 for the MCP session (HTTP 200): the server no longer knows it (Session not found)'],
  ];
  for (const [mode, type, message] of failures) {
    it(`classifies ${mode} as ${type}`, async () => {
      const f = await fixture(mode);
      const out = await probeServer(httpTarget(f.url));
      assert.equal(out.error?.type, type, out.error?.message);
      if (typeof message === 'string') assert.equal(out.error?.message, message);
      else assert.match(out.error!.message, message);
      assert.equal(probeVerdict(out, {}).status, 'down');
    });
  }

  it('masks a configured token that a malformed message, quoted cut short, repeats in part', async () => {
    const token = 'abcd1234secretXYZ';
    const f = await fixture('echo-credentials-not-rpc');
    const out = await probeServer(httpTarget(f.url, 'streamable_http', { headers: { Authorization: `Bearer ${token}` } }));
    assert.equal(out.error?.type, 'invalid_response', out.error?.message);
    assert.match(out.error!.message, /^malformed MCP message: not JSON-RPC 2\.0: \{"status":"debug"/);
    // Any eight characters of the token in a row would say most of it.
    for (let i = 0; i + 8 <= token.length; i++) assert.ok(!out.error!.message.includes(token.slice(i, i + 8)), out.error!.message);
  });

  it('reports the phase in which the session was forgotten', async () => {
    // The fixture forgets the session at once, so the initialized notification already gets the 404.
    const f = await fixture('forget-session-404');
    const out = await probeServer(httpTarget(f.url));
    assert.equal(out.error?.phase, 'initialize');
  });

  it('times out a server that accepts and never answers, naming the request it left unanswered', async () => {
    const f = await fixture('hang');
    // Under auto the handshake opens with server/discover: that is what the deadline cut short. The
    // phase, which metrics count the duration under, stays the one an era not yet known is named by.
    const out = await probeServer(httpTarget(f.url, 'streamable_http', { timeout: 500 }));
    assert.deepEqual([out.error?.type, out.error?.phase, out.error?.message], ['timeout', 'initialize', 'timeout after 500ms waiting for server/discover']);
    const legacy = await probeServer(httpTarget(f.url, 'streamable_http', { timeout: 500, protocol: 'legacy' }));
    assert.deepEqual([legacy.error?.phase, legacy.error?.message], ['initialize', 'timeout after 500ms waiting for initialize']);
  });

  it('names initialize when a timeout under auto comes after server/discover was answered', async () => {
    const f = await startHttpFixture('streamable', { hangInitialize: true });
    fixtures.push(f);
    // The deadline is cut once initialize has reached the server, through the abort path its timer
    // takes: a fixed 5 s deadline had to outlast the refused discovery too, which a loaded machine
    // may not answer within it.
    const cut = new AbortController();
    void until(() => f.received.some((r) => r.method === 'initialize'), 'initialize at the server').then(
      () => cut.abort(),
      () => cut.abort(),
    );
    const out = await probeServer(httpTarget(f.url, 'streamable_http', { timeout: 120_000 }), { signal: cut.signal });
    assert.deepEqual([out.error?.type, out.error?.phase, out.error?.message], ['timeout', 'initialize', 'timeout after 120000ms waiting for initialize']);
  });

  it('reports connection_refused when nothing listens', async (t) => {
    const dead = await refusingPort();
    t.after(() => dead.close());
    const out = await probeServer(httpTarget(dead.url('/mcp')));
    assert.equal(out.error?.type, 'connection_refused');
    assert.match(out.error!.message, /^connection refused \(ECONNREFUSED\)/);
  });

  it('reports dns for a name that does not resolve', async () => {
    const out = await probeServer(httpTarget('http://mcp.invalid/mcp'));
    assert.equal(out.error?.type, 'dns');
    assert.equal(out.error?.category, 'transient');
  });

  it('marks a slow server degraded', async () => {
    const f = await fixture('streamable-slow', { listDelayMs: 250 });
    const out = await probeServer(httpTarget(f.url));
    assert.equal(out.error, null);
    assert.equal(probeVerdict(out, { latency_warning: 100 }).status, 'degraded');
  });
});

describe('a kept session with a server that offers no tools', () => {
  for (const transport of ['streamable_http', 'sse'] as const) {
    it(`${transport}: is asked whether it is there (ping), and is down once it is gone`, async () => {
      const f = await startHttpFixture(transport === 'sse' ? 'sse' : 'streamable', { makeServer: toollessServer });
      const session = new ServerSession(httpTarget(f.url, transport), { onSignal: () => undefined });
      try {
        const alive = await session.check();
        assert.deepEqual([alive.error, alive.tools], [null, []]);
        const again = await session.check();
        assert.deepEqual([again.error, again.tools, typeof again.phases.ping], [null, [], 'number']);
        // Its port stays bound meanwhile, refusing as a port nothing listens on: another process could take a closed one.
        f.crash();
        const gone = await session.check();
        assert.equal(gone.error?.type, 'connection_refused', 'a listing with nothing to list sent nothing, and a dead server stayed up');
      } finally {
        await session.close();
        await f.close();
      }
    });
  }
});

describe('legacy SSE probe', () => {
  it('reports a healthy server up and times its connect phase', async () => {
    const f = await fixture('sse');
    const out = await probeServer(httpTarget(f.url, 'sse'));
    assert.equal(out.error, null);
    assert.equal(out.tools?.length, 3);
    assert.equal(out.protocolVersion, '2025-11-25');
    assert.equal(typeof out.phases.connect, 'number');
  });

  it('a URL with user:password@ is up, sent as Basic authorization on the stream and the posts (fetch refuses such a URL)', async () => {
    const f = await fixture('sse');
    const out = await probeServer(httpTarget(f.url.replace('http://', 'http://mcp%20user:s%3Acret@'), 'sse'));
    assert.deepEqual([out.error, out.tools?.length], [null, 3]);
    const basic = `Basic ${Buffer.from('mcp user:s:cret').toString('base64')}`;
    assert.ok(f.authorizations.length >= 2, 'the GET and at least one POST');
    assert.deepEqual([...new Set(f.authorizations)], [basic]);
  });

  it('puts a deadline on the endpoint event', async () => {
    const f = await fixture('sse-silent');
    const t = performance.now();
    const out = await probeServer(httpTarget(f.url, 'sse', { timeout: 500 }));
    assert.equal(out.error?.type, 'timeout');
    assert.equal(out.error?.phase, 'connect');
    assert.equal(out.error?.message, 'timeout after 500ms waiting for connect');
    // Without the deadline the probe would wait forever; the margin is for a busy machine.
    assert.ok(performance.now() - t < 500 + 15_000);
  });

  it('reports 401 on the stream as auth_required', async () => {
    const f = await fixture('auth-401');
    const out = await probeServer(httpTarget(f.url, 'sse'));
    assert.equal(out.error?.type, 'auth_required');
    assert.match(out.error!.message, /resource metadata: http:\/\/127\.0\.0\.1/);
  });

  it('reports an HTML page as invalid_response', async () => {
    const f = await fixture('html-200');
    const out = await probeServer(httpTarget(f.url, 'sse'));
    assert.equal(out.error?.type, 'invalid_response');
  });

  it('stops reading an endless line at the message limit, and the server is not up, in a probe and a kept session', async () => {
    const f = await fixture('sse-line-flood');
    const target = httpTarget(f.url, 'sse', { timeout: 20_000 });
    const heap0 = process.memoryUsage().heapUsed;
    const out = await probeServer(target);
    const session = new ServerSession(target, { onSignal: () => undefined });
    const kept = await session.check();
    await session.close();
    for (const o of [out, kept]) {
      assert.equal(o.error?.type, 'invalid_response');
      assert.equal(o.error?.message, 'server-sent event larger than 16 MiB: not an MCP message');
      assert.notEqual(probeVerdict(o, {}).status, 'up');
    }
    // Unbounded, the SDK's EventSource buffered the line for as long as the deadline allowed.
    assert.ok(process.memoryUsage().heapUsed - heap0 < 200 * 2 ** 20);
  });

  it('a kept session over a server that sends no keep-alives is not stale after an idle interval; one that stopped answering is', async () => {
    // The SDK's own SSE server transport writes nothing between messages: silence alone is not death.
    let clock = 0;
    const quiet = await fixture('sse');
    const session = new ServerSession(httpTarget(quiet.url, 'sse', { stale_after: 120_000 }), { onSignal: () => undefined, now: () => clock });
    try {
      assert.equal((await session.check()).error, null);
      clock += 150_000;
      const idle = await session.check();
      assert.deepEqual([idle.error, idle.staleMs, idle.tools?.length], [null, undefined, 3]);
    } finally {
      await session.close();
    }
    const wedged = await fixture('sse-goes-silent');
    const answered = httpTarget(wedged.url, 'sse', { stale_after: 120_000 });
    const stuck = new ServerSession(answered, { onSignal: () => undefined, now: () => clock });
    try {
      assert.equal((await stuck.check()).error, null);
      // The short deadline only once the server has gone silent: the first check, which it answers,
      // timed out at 1 s on a busy machine.
      stuck.update({ ...answered, timeout: 1000 });
      clock += 150_000;
      assert.equal((await stuck.check()).staleMs, 150_000);
    } finally {
      await stuck.close();
    }
  });

  it('a wedged SSE server is stale once nothing came from it for stale_after, over reconnects too', async () => {
    // A stopped process (kill -STOP): connections are accepted, nothing is answered. The kept stream
    // times out first, and each later check meets the same silence on a new connection.
    let clock = 0;
    let wedged = false;
    const f = await fixture('sse', { wedged: () => wedged });
    const target = httpTarget(f.url, 'sse', { stale_after: 120_000, timeout: 20_000 });
    const session = new ServerSession(target, { onSignal: () => undefined, now: () => clock });
    try {
      assert.equal((await session.check()).error, null);
      wedged = true;
      // The deadline is meant to run out now: the server answers nothing.
      session.update({ ...target, timeout: 300 });
      clock += 30_000;
      const first = await session.check();
      assert.deepEqual([first.error?.type, first.staleMs], ['timeout', undefined]);
      clock += 100_000;
      const later = await session.check();
      assert.deepEqual([later.staleMs, later.error], [130_000, null]);
      clock += 30_000;
      assert.equal((await session.check()).staleMs, 160_000);
      wedged = false;
      session.update(target);
      clock += 30_000;
      const back = await session.check();
      assert.deepEqual([back.error, back.staleMs, back.tools?.length], [null, undefined, 3]);
    } finally {
      await session.close();
    }
  });

  it('a kept session whose stream the server ends is closed, and the next check opens a new one', async () => {
    const first = await fixture('sse');
    const signals: string[] = [];
    const session = new ServerSession(httpTarget(first.url, 'sse'), { onSignal: (s) => signals.push(s) });
    try {
      assert.equal((await session.check()).error, null);
      // A restart: the stream ends, and the server comes back on the same port without the session.
      first.crash();
      await until(() => signals.includes('closed'), 'the connection closed with its stream');
      first.revive();
      const out = await session.check();
      assert.deepEqual([out.error, out.sessionExpired, out.tools?.length], [null, true, 3]);
    } finally {
      await session.close();
    }
  });

  it('a kept session whose stream ends because the server died is that failure, and a forgotten session once it answers again', async () => {
    // kill -9 and a restart: the stream's end asks for a check at once, before the new process listens.
    const first = await fixture('sse');
    const signals: string[] = [];
    const session = new ServerSession(httpTarget(first.url, 'sse'), { onSignal: (s) => signals.push(s) });
    try {
      assert.equal((await session.check()).error, null);
      first.crash();
      await until(() => signals.includes('closed'), 'the connection closed with its stream');
      const refused = await session.check();
      assert.deepEqual([refused.error?.type, refused.sessionExpired], ['connection_refused', false]);
      first.revive();
      const back = await session.check();
      assert.deepEqual([back.error, back.sessionExpired, back.tools?.length], [null, true, 3]);
      const next = await session.check();
      assert.deepEqual([next.error, next.sessionExpired], [null, false], 'said once');
    } finally {
      await session.close();
    }
  });

  it('a 404 to the very first post (an endpoint the server does not serve) is not a forgotten session', async (t) => {
    const srv = createHttpServer((req, res) => {
      req.resume();
      if (req.method === 'GET') res.writeHead(200, { 'content-type': 'text/event-stream' }).write('event: endpoint\ndata: /not-mounted/messages?sessionId=1\n\n');
      else res.writeHead(404).end('Not Found');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.after(() => {
      srv.closeAllConnections();
      srv.close();
    });
    const out = await probeServer(httpTarget(`http://127.0.0.1:${(srv.address() as AddressInfo).port}/sse`, 'sse'));
    assert.deepEqual([out.error?.type, out.error?.phase], ['not_found', 'initialize']);
  });

  it('an endpoint event naming another origin says what to configure', async (t) => {
    // A server behind a proxy announcing its own address: the SDK posts only to the stream's origin.
    const srv = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/event-stream' }).write(`event: endpoint\ndata: http://localhost:${(srv.address() as AddressInfo).port}/messages?sessionId=1\n\n`);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.after(() => {
      srv.closeAllConnections();
      srv.close();
    });
    const port = (srv.address() as AddressInfo).port;
    const out = await probeServer(httpTarget(`http://127.0.0.1:${port}/sse`, 'sse'));
    assert.deepEqual([out.error?.type, out.error?.phase], ['invalid_response', 'connect']);
    assert.match(out.error!.message, new RegExp(`^the server's endpoint event names http://localhost:${port}, not the configured URL's origin http://127\\.0\\.0\\.1:${port}: .*Configure the URL with the host the server names`));
  });

  it('a kept session whose server forgot it (404 to its posts) is session_expired, and a new session is opened', async () => {
    const f = await fixture('sse-forget-session');
    const session = new ServerSession(httpTarget(f.url, 'sse'), { onSignal: () => undefined });
    try {
      assert.equal((await session.check()).error, null);
      const out = await session.check();
      // Not "nothing is served at the configured URL": the URL posted to is the session's endpoint.
      assert.deepEqual([out.error, out.sessionExpired, out.tools?.length], [null, true, 3]);
    } finally {
      await session.close();
    }
  });

  it('reports connection_refused when nothing listens', async (t) => {
    const dead = await refusingPort();
    t.after(() => dead.close());
    const out = await probeServer(httpTarget(dead.url('/sse'), 'sse'));
    assert.equal(out.error?.type, 'connection_refused');
  });
});
