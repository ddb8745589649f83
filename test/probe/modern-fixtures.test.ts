// The SDK v2 fixtures (revision 2026-07-28) answer each client era as the probes will rely on: the v2
// client in each negotiation mode, and a 2025 SDK 1.32 client.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, StreamableHTTPClientTransport, SdkError, SdkErrorCode, UnsupportedProtocolVersionError, type DiscoverResult, type Tool } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { Client as Client2025 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as HttpTransport2025, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport as StdioTransport2025 } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { startModernHttpFixture, type ModernHttpFixture } from '../fixtures/modern-http-server.js';
import { MODERN_TOOLS } from '../fixtures/modern-servers.js';
import { startFront } from '../fixtures/front.js';
import { FIXTURES } from '../helpers.js';

const MODERN_STDIO = join(FIXTURES, 'modern-stdio-server.js');
const INFO = { name: 'mcpwatch-test', version: '0' };
const PIN = { pin: '2026-07-28' } as const;
type Mode = 'legacy' | 'auto' | typeof PIN;

const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-modern-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let logs = 0;

function v2Client(mode: Mode): Client {
  return new Client(INFO, { versionNegotiation: { mode } });
}

async function connectHttp(url: string, mode: Mode): Promise<Client> {
  const client = v2Client(mode);
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

function assertModernTools(tools: Tool[]): void {
  assert.deepEqual(tools.map((t) => t.name), ['echo', 'add', 'fail']);
  const add = tools.find((t) => t.name === 'add')!;
  assert.deepEqual(add.annotations, { readOnlyHint: true });
  assert.deepEqual(add.outputSchema, MODERN_TOOLS[1]!.outputSchema);
}

/** Resolves at the next tools/list_changed notification the client receives. */
function nextToolsChanged(client: Client): Promise<void> {
  return new Promise((resolve) => client.setNotificationHandler('notifications/tools/list_changed', () => resolve()));
}

describe('modern Streamable HTTP fixtures (SDK v2 createMcpHandler)', () => {
  for (const mode of ['strict', 'dual'] as const) {
    for (const negotiation of ['auto', PIN] as const) {
      it(`${mode}: the v2 client in ${JSON.stringify(negotiation)} mode speaks 2026-07-28 with one server/discover`, async () => {
        const fx = await startModernHttpFixture(mode);
        const client = await connectHttp(fx.url, negotiation);
        try {
          assert.equal(client.getProtocolEra(), 'modern');
          assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
          assert.deepEqual(client.getServerVersion(), { name: 'fixture-modern', version: '2.4.0' });
          assert.deepEqual(client.getServerCapabilities(), { tools: { listChanged: true } });
          const list = await client.listTools(undefined, { cacheMode: 'bypass' });
          assertModernTools(list.tools);
          assert.equal(list.ttlMs, 0);
          assert.equal(list.cacheScope, 'private');
          assert.deepEqual(fx.requests, { 'server/discover': 1, 'tools/list': 1 });
        } finally {
          await client.close();
          await fx.close();
        }
      });
    }
  }

  it('strict: a 2025 initialize gets HTTP 400 with JSON-RPC -32022 and the supported versions', async () => {
    const fx = await startModernHttpFixture('strict');
    try {
      const res = await fetch(fx.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: INFO } }),
      });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { error: { code: number; data: { supported: string[]; requested: string } } };
      assert.equal(body.error.code, -32022);
      assert.deepEqual(body.error.data, { supported: ['2026-07-28'], requested: '2025-11-25' });

      const client = new Client2025(INFO);
      await assert.rejects(client.connect(new HttpTransport2025(new URL(fx.url))), (e: unknown) => {
        assert.ok(e instanceof StreamableHTTPError);
        assert.equal(e.code, 400);
        assert.match(e.message, /"code":-32022/);
        return true;
      });
      await client.close();
      assert.deepEqual(fx.requests, { initialize: 2 });
    } finally {
      await fx.close();
    }
  });

  it('dual: a 2025 SDK 1.32 client gets a plain 2025-11-25 server', async () => {
    const fx = await startModernHttpFixture('dual');
    const client = new Client2025(INFO);
    try {
      await client.connect(new HttpTransport2025(new URL(fx.url)));
      assert.equal(client.getServerVersion()?.name, 'fixture-modern');
      assert.equal((client.transport as HttpTransport2025).protocolVersion, '2025-11-25');
      const list = await client.listTools();
      assert.equal(list.tools.length, 3);
      assert.equal(fx.requests.initialize, 1);
      assert.equal(fx.requests['server/discover'], undefined);
    } finally {
      await client.close();
      await fx.close();
    }
  });

  it('dual: the v2 client in legacy mode stays on 2025-11-25', async () => {
    const fx = await startModernHttpFixture('dual');
    const client = await connectHttp(fx.url, 'legacy');
    try {
      assert.equal(client.getProtocolEra(), 'legacy');
      assert.equal(client.getNegotiatedProtocolVersion(), '2025-11-25');
      assert.equal((await client.listTools(undefined, { cacheMode: 'bypass' })).tools.length, 3);
    } finally {
      await client.close();
      await fx.close();
    }
  });

  it('pages tools/list when asked, and carries the configured ttlMs', async () => {
    const tools = [...MODERN_TOOLS, { name: 'extra', inputSchema: { type: 'object' as const } }];
    const fx = await startModernHttpFixture('strict', { pageSize: 2, ttlMs: 60_000, tools });
    const client = await connectHttp(fx.url, 'auto');
    try {
      const page = await client.listTools({ cursor: '2' }, { cacheMode: 'bypass' });
      assert.deepEqual(page.tools.map((t) => t.name), ['fail', 'extra']);
      assert.equal(page.nextCursor, undefined);
      const all = await client.listTools(undefined, { cacheMode: 'bypass' });
      assert.equal(all.tools.length, 4);
      assert.equal(all.ttlMs, 60_000);
      assert.equal(all.cacheScope, 'public');
      assert.equal(fx.requests['tools/list'], 3);
    } finally {
      await client.close();
      await fx.close();
    }
  });

  it('announces a tool change on subscriptions/listen, ends the stream when killed, and serves again after a restart', async () => {
    let fx: ModernHttpFixture = await startModernHttpFixture('strict');
    // Restarted at the same URL: behind a front that keeps its port.
    const front = await startFront(fx.port);
    const client = await connectHttp(front.url, 'auto');
    try {
      const sub = await client.listen({ toolsListChanged: true });
      assert.deepEqual(sub.honoredFilter, { toolsListChanged: true });
      assert.equal(fx.openStreams(), 1);
      const changed = nextToolsChanged(client);
      fx.setTools(MODERN_TOOLS.slice(0, 2));
      await changed;
      assert.equal((await client.listTools(undefined, { cacheMode: 'bypass' })).tools.length, 2);

      front.crash();
      await fx.close();
      assert.equal(await sub.closed, 'remote');

      fx = await startModernHttpFixture('strict');
      front.revive(fx.port);
      // No session to lose: the same client carries on against the restarted server.
      assert.equal((await client.listTools(undefined, { cacheMode: 'bypass' })).tools.length, 3);
      const again = await client.listen({ toolsListChanged: true });
      await fx.close('graceful');
      assert.equal(await again.closed, 'graceful');
    } finally {
      await client.close();
      await front.close();
      await fx.close();
    }
  });
});

interface StdioRun {
  client: Client;
  transport: StdioClientTransport;
  log: string;
}

/** Spawns the modern stdio fixture with a fresh REQUEST_LOG. */
function stdioTransport(mode: string, env: Record<string, string> = {}, Transport = StdioClientTransport): { transport: StdioClientTransport; log: string } {
  const log = join(dir, `requests-${++logs}.log`);
  writeFileSync(log, '');
  return { transport: new Transport({ command: process.execPath, args: [MODERN_STDIO, mode], env: { REQUEST_LOG: log, ...env }, stderr: 'pipe' }), log };
}

async function connectStdio(mode: string, negotiation: Mode, opts: { env?: Record<string, string>; prior?: { kind: 'modern'; discover: DiscoverResult } | { kind: 'legacy' } } = {}): Promise<StdioRun> {
  const { transport, log } = stdioTransport(mode, opts.env);
  const client = v2Client(negotiation);
  await client.connect(transport, opts.prior ? { prior: opts.prior } : {});
  return { client, transport, log };
}

/** What the fixture processes logged: how many started, and the methods they received. */
function readLog(log: string): { spawns: number; methods: string[] } {
  const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  return { spawns: lines.filter((l) => l.startsWith('spawn ')).length, methods: lines.filter((l) => !l.startsWith('spawn ')).map((l) => l.split(' ')[1]!) };
}

/** Lists the fixture's tools with a 2025 SDK 1.32 client. */
async function toolCount2025(mode: string): Promise<number> {
  const client = new Client2025(INFO);
  try {
    await client.connect(new StdioTransport2025({ command: process.execPath, args: [MODERN_STDIO, mode], stderr: 'pipe' }));
    return (await client.listTools()).tools.length;
  } finally {
    await client.close();
  }
}

describe('modern stdio fixture (SDK v2 serveStdio)', () => {
  it('modern: a 2025 SDK 1.32 client gets -32022 with the supported versions', async () => {
    const client = new Client2025(INFO);
    await assert.rejects(client.connect(new StdioTransport2025({ command: process.execPath, args: [MODERN_STDIO, 'modern'], stderr: 'pipe' })), (e: unknown) => {
      assert.ok(e instanceof McpError);
      assert.equal(e.code, -32022);
      assert.deepEqual(e.data, { supported: ['2026-07-28'], requested: '2025-11-25' });
      return true;
    });
    await client.close();
  });

  it('modern: the v2 client in legacy mode gets UnsupportedProtocolVersionError', async () => {
    const { transport } = stdioTransport('modern');
    const client = v2Client('legacy');
    await assert.rejects(client.connect(transport), (e: unknown) => {
      assert.ok(e instanceof UnsupportedProtocolVersionError);
      assert.equal(e.code, -32022);
      assert.deepEqual(e.data, { supported: ['2026-07-28'], requested: '2025-11-25' });
      return true;
    });
    await client.close();
  });

  for (const mode of ['modern', 'dual']) {
    it(`${mode}: the v2 client pinned to 2026-07-28 discovers on a second process, and a prior verdict skips both`, async () => {
      const first = await connectStdio(mode, PIN);
      let discover: DiscoverResult;
      try {
        assert.equal(first.client.getProtocolEra(), 'modern');
        assert.equal(first.client.getNegotiatedProtocolVersion(), '2026-07-28');
        assertModernTools((await first.client.listTools(undefined, { cacheMode: 'bypass' })).tools);
        discover = first.client.getDiscoverResult()!;
        assert.deepEqual(discover.supportedVersions, ['2026-07-28']);
      } finally {
        await first.client.close();
      }
      assert.deepEqual(readLog(first.log), { spawns: 2, methods: ['server/discover', 'tools/list'] });

      const again = await connectStdio(mode, 'auto', { prior: { kind: 'modern', discover } });
      try {
        assert.equal(again.client.getProtocolEra(), 'modern');
        assert.equal((await again.client.listTools(undefined, { cacheMode: 'bypass' })).tools.length, 3);
      } finally {
        await again.client.close();
      }
      assert.deepEqual(readLog(again.log), { spawns: 1, methods: ['tools/list'] });
    });
  }

  it('modern: a subclassed stdio transport negotiates in place, on one process', async () => {
    class InPlaceStdio extends StdioClientTransport {}
    const { transport, log } = stdioTransport('modern', {}, InPlaceStdio);
    const client = v2Client('auto');
    try {
      await client.connect(transport);
      assert.equal(client.getProtocolEra(), 'modern');
    } finally {
      await client.close();
    }
    assert.deepEqual(readLog(log), { spawns: 1, methods: ['server/discover'] });
  });

  it('dual: a 2025 SDK 1.32 client and the v2 legacy mode get 2025-11-25', async () => {
    assert.equal(await toolCount2025('dual'), 3);
    const run = await connectStdio('dual', 'legacy');
    try {
      assert.equal(run.client.getProtocolEra(), 'legacy');
      assert.equal(run.client.getNegotiatedProtocolVersion(), '2025-11-25');
    } finally {
      await run.client.close();
    }
    assert.deepEqual(readLog(run.log), { spawns: 1, methods: ['initialize', 'notifications/initialized'] });
  });

  it('hand-wired: Server.connect with only 2026-07-28 listed still serves a 2025 client, and cannot be pinned', async () => {
    assert.equal(await toolCount2025('hand-wired'), 3);
    const { transport } = stdioTransport('hand-wired');
    const client = v2Client(PIN);
    await assert.rejects(client.connect(transport), (e: unknown) => {
      assert.ok(e instanceof SdkError);
      assert.equal(e.code, SdkErrorCode.EraNegotiationFailed);
      return true;
    });
    await client.close();
  });

  it('modern: announces a tool change on subscriptions/listen, and the stream ends when the process dies', async () => {
    const toolsFile = join(dir, 'tools.json');
    writeFileSync(toolsFile, JSON.stringify(MODERN_TOOLS));
    const run = await connectStdio('modern', PIN, { env: { TOOLS_FILE: toolsFile } });
    const closed = new Promise<void>((resolve) => (run.client.onclose = resolve));
    try {
      const sub = await run.client.listen({ toolsListChanged: true });
      const changed = nextToolsChanged(run.client);
      writeFileSync(toolsFile, JSON.stringify(MODERN_TOOLS.slice(0, 1)));
      process.kill(run.transport.pid!, 'SIGUSR2');
      await changed;
      assert.equal((await run.client.listTools(undefined, { cacheMode: 'bypass' })).tools.length, 1);

      process.kill(run.transport.pid!, 'SIGKILL');
      await closed;
      assert.equal(await sub.closed, 'remote');
    } finally {
      await run.client.close();
    }
  });
});
