// A kept connection lists the same tools every interval: a page whose text is byte for byte one
// validated before on that connection is not validated again, and a listing whose pages all recur is
// handed back as the same array (drift then compares by identity). Every listing still reaches the
// server, and a changed or invalid page is validated exactly as the SDK does.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, McpError, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { Client, SdkError } from '@modelcontextprotocol/client';
import { listAllTools, openAndProbe } from '../../src/probe/probe.js';
import { ProbeClient } from '../../src/probe/connection.js';
import { streamableConnector } from '../../src/probe/streamable-http.js';
import type { McpConnection } from '../../src/probe/prober.js';
import { startHttpFixture, type HttpFixture, type HttpMode } from '../fixtures/http-server.js';
import type { Tool as ModernTool } from '@modelcontextprotocol/server';
import { startModernHttpFixture, type ModernHttpFixture } from '../fixtures/modern-http-server.js';
import { makeTools } from '../fixtures/servers.js';
import { httpTarget, stdioTarget } from '../helpers.js';
import { TRANSPORTS } from '../../src/probe/transports.js';

const open: Array<{ close(): Promise<void> }> = [];
after(async () => {
  for (const o of open.reverse()) await o.close();
});

/** A 2025 server whose tool list the test sets (one low-level Server per session). */
function mutableServer(state: { tools: unknown[] }): () => Server {
  return () => {
    const server = new Server({ name: 'fixture-mutable', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: state.tools as Tool[] }));
    server.setRequestHandler(CallToolRequestSchema, async () => ({ content: [] }));
    return server;
  };
}

async function legacy(mode: HttpMode, state?: { tools: unknown[] }): Promise<HttpFixture> {
  const f = await startHttpFixture(mode, state ? { makeServer: mutableServer(state) } : {});
  open.push(f);
  return f;
}

async function connect(url: string, protocol: 'legacy' | 'modern' = 'legacy'): Promise<McpConnection> {
  const { out, conn } = await openAndProbe({ ...httpTarget(url), protocol }, streamableConnector());
  assert.equal(out.error, null, out.error?.message);
  open.push(conn!);
  return conn!;
}

/** The fixture tools, typed as the v2 server's (the same JSON). */
function modernTools(n: number): ModernTool[] {
  return makeTools(n) as unknown as ModernTool[];
}

/** A listing with a deadline no local fixture's answer comes near, even on a loaded machine. */
function list(conn: McpConnection, maxPages = 50) {
  return listAllTools(conn.client, { signal: new AbortController().signal, timeout: () => 60_000, maxPages });
}

describe('tools/list over a kept connection', () => {
  for (const mode of ['streamable', 'streamable-json'] as const) {
    it(`hands back the same listing when the server's answer is byte for byte the last one, and asks the server every time (${mode})`, async () => {
      const f = await legacy(mode);
      const conn = await connect(f.url);
      const first = await list(conn);
      const before = f.toolsLists;
      const second = await list(conn);
      const third = await list(conn);
      assert.equal(f.toolsLists, before + 2);
      assert.deepEqual(second, first);
      assert.equal(third, second);
      assert.deepEqual(first.map((t) => t.name).sort(), ['add', 'echo', 'fail']);
    });
  }

  it('stdio: the same listing comes back as the same array', async () => {
    const { out, conn } = await openAndProbe(stdioTarget('ok'), TRANSPORTS.stdio.connect);
    assert.equal(out.error, null, out.error?.message);
    open.push(conn!);
    const first = await list(conn!);
    assert.deepEqual(first.map((t) => t.name).sort(), ['add', 'echo', 'fail']);
    assert.equal(await list(conn!), first);
  });

  it('sees a changed list at once, and a list changed back', async () => {
    const state = { tools: makeTools(2) as unknown[] };
    const f = await legacy('streamable', state);
    const conn = await connect(f.url);
    const a = await list(conn);
    assert.equal(await list(conn), a);
    state.tools = makeTools(3);
    const b = await list(conn);
    assert.notEqual(b, a);
    assert.deepEqual(b.map((t) => t.name), ['tool_01', 'tool_02', 'tool_03']);
    state.tools = [{ ...makeTools(1)[0]!, description: 'changed' }, ...makeTools(3).slice(1)];
    const c = await list(conn);
    assert.equal(c[0]!.description, 'changed');
    state.tools = makeTools(2);
    const d = await list(conn);
    assert.deepEqual(d, a);
    assert.equal(await list(conn), d);
  });

  it('validates an invalid page every time, failing as the SDK\'s own validation does (in its words, unless a tool is at fault)', async () => {
    const state = { tools: makeTools(1) as unknown[] };
    const f = await legacy('streamable-json', state);
    const conn = await connect(f.url);
    // The same request through the SDK's default result validation (no explicit schema).
    const request = Client.prototype.request as (this: Client, r: { method: 'tools/list'; params: object }, o: { timeout: number }) => Promise<unknown>;
    // A tool without inputSchema is named with its field (test/probe/invalid-tools.test.ts); an
    // outputSchema that is no object is left in the SDK's words.
    const pages: Array<[unknown[], string | undefined]> = [
      [[{ name: 'no-input-schema' }], 'Invalid result for tools/list: tool "no-input-schema" (tools[0]) has no inputSchema, which MCP requires of every tool'],
      [[{ name: 'bad-output-schema', inputSchema: { type: 'object' }, outputSchema: 5 }], undefined],
    ];
    for (const [tools, want] of pages) {
      state.tools = tools;
      const ours = await list(conn).then(() => undefined, (e: unknown) => e);
      const again = await list(conn).then(() => undefined, (e: unknown) => e);
      const sdk = await request.call(conn.client, { method: 'tools/list', params: {} }, { timeout: 60_000 }).then(() => undefined, (e: unknown) => e);
      assert.ok(sdk instanceof SdkError, String(sdk));
      assert.ok(ours instanceof SdkError && again instanceof SdkError);
      assert.equal(ours.message, want ?? sdk.message);
      assert.equal(ours.code, sdk.code);
      assert.equal(again.message, ours.message);
      assert.match(sdk.message, /^Invalid result for tools\/list/);
    }
  });

  it('2026-07-28: the same listing of three pages comes back as one array until the server changes its tools', async () => {
    const f: ModernHttpFixture = await startModernHttpFixture('strict', { tools: modernTools(5), pageSize: 2 });
    open.push({ close: () => f.close() });
    const conn = await connect(f.url, 'modern');
    const first = await list(conn);
    assert.equal(first.length, 5);
    const before = f.requests['tools/list'] ?? 0;
    const second = await list(conn);
    assert.equal(f.requests['tools/list'], before + 3);
    assert.equal(second, first);
    f.setTools(modernTools(6));
    const third = await list(conn);
    assert.notEqual(third, first);
    assert.equal(third.length, 6);
    assert.equal(await list(conn), third);
  });

  it('a listing cut short by the page cap is not handed back as a whole one', async () => {
    const f: ModernHttpFixture = await startModernHttpFixture('strict', { tools: modernTools(5), pageSize: 2 });
    open.push({ close: () => f.close() });
    const conn = await connect(f.url, 'modern');
    const whole = await list(conn);
    const capped = await list(conn, 2).then(() => undefined, (e: unknown) => e as { tools?: unknown[] });
    assert.equal(capped?.tools?.length, 4);
    assert.equal(await list(conn), whole);
  });

  for (const [era, mode] of [['2025', 'streamable'], ['2025', 'streamable-json'], ['2026-07-28', 'modern']] as const) {
    it(`an answer byte for byte a validated page reaches the SDK as a stand-in, not parsed again (${era}, ${mode})`, async () => {
      let url: string;
      if (mode === 'modern') {
        const f = await startModernHttpFixture('strict');
        open.push({ close: () => f.close() });
        url = f.url;
      } else url = (await legacy(mode)).url;
      const conn = await connect(url, mode === 'modern' ? 'modern' : 'legacy');
      const client = conn.client as ProbeClient;
      const known = client.knownPageMessage.bind(client);
      let standIns = 0;
      client.knownPageMessage = (text) => {
        const m = known(text);
        if (m) standIns++;
        return m;
      };
      // The probe that opened the connection listed (and validated) the page once already.
      const first = await list(conn);
      const second = await list(conn);
      const third = await list(conn);
      assert.equal(standIns, 3);
      assert.equal(second, first);
      assert.equal(third, first);
      assert.deepEqual(first.map((t) => t.name).sort(), ['add', 'echo', 'fail']);
    });
  }

  it('a stand-in whose page was forgotten fails the listing instead of passing for a one-tool list', async () => {
    const f = await legacy('streamable-json');
    const conn = await connect(f.url);
    const client = conn.client as ProbeClient;
    await list(conn);
    let standIn: ReturnType<ProbeClient['knownPageMessage']>;
    const known = client.knownPageMessage.bind(client);
    client.knownPageMessage = (text) => {
      standIn = known(text);
      // What a listing made in between would do: keep only its own pages.
      if (standIn) client.keepPages([]);
      return standIn;
    };
    const failed = await list(conn).then(() => undefined, (e: unknown) => e);
    assert.ok(standIn, 'the page was recognised');
    assert.ok(failed instanceof SdkError, String(failed));
    assert.match(failed.message, /cached tools\/list page was forgotten/);
  });

  it('a server tool named like a stand-in is an ordinary tool (the token holds a nonce only the client knows)', async () => {
    const state = { tools: [{ name: '\u0000mcpwatch:forged:1', inputSchema: { type: 'object' } }] as unknown[] };
    const f = await legacy('streamable-json', state);
    const conn = await connect(f.url);
    for (let i = 0; i < 2; i++) assert.deepEqual((await list(conn)).map((t) => t.name), ['\u0000mcpwatch:forged:1']);
  });

  it("a stand-in is given only for the same text with another id, never for the page's bytes recut into another form", async () => {
    const f = await legacy('streamable');
    const conn = await connect(f.url);
    const client = conn.client as ProbeClient;
    let seen: string | undefined;
    const known = client.knownPageMessage.bind(client);
    client.knownPageMessage = (text) => {
      seen ??= text;
      return known(text);
    };
    await list(conn);
    // The fixture's answers carry their id last.
    const cut = /^(\{.*),"id":\d+\}$/s.exec(seen!.trim());
    assert.ok(cut, seen);
    const rest = cut[1]!;
    const standIn = known(`${rest},"id":77}`) as { id?: unknown; result?: { tools?: Array<{ name: string }> } } | undefined;
    assert.equal(standIn?.id, 77);
    assert.equal(standIn?.result?.tools?.length, 1);
    // Not JSON, and not the page: the same bytes behind an id-first head.
    assert.equal(known(`{"jsonrpc":"2.0","id":5,${rest}`), undefined);
    assert.equal(known(`${rest},"id":"77"}`), undefined, 'the SDK never sends a string id');
  });
});

describe('pages kept over listings that fail part-way', () => {
  /**
   * A 2025 server whose first page's cursor carries a counter (as signed or expiring cursors do);
   * once `broken`, its second page fails or its pages never end.
   */
  function countingCursors(secondPage: 'fails' | 'endless', state: { broken: boolean }): () => Server {
    let issued = 0;
    return () => {
      const server = new Server({ name: 'fixture-cursors', version: '1.0.0' }, { capabilities: { tools: {} } });
      server.setRequestHandler(ListToolsRequestSchema, async (req) => {
        const cursor = req.params?.cursor;
        if (cursor === undefined) return { tools: makeTools(3) as Tool[], nextCursor: `c-${++issued}` };
        if (!state.broken) return { tools: makeTools(1) as Tool[] };
        if (secondPage === 'fails') throw new McpError(-32603, 'page 2 is broken');
        return { tools: makeTools(1) as Tool[], nextCursor: `${cursor}+` };
      });
      return server;
    };
  }

  for (const secondPage of ['fails', 'endless'] as const) {
    it(`holds no more than the attempt's pages when every listing fails (${secondPage === 'fails' ? 'a JSON-RPC error on page 2' : 'past the page cap'})`, async () => {
      const state = { broken: false };
      const f = await startHttpFixture('streamable', { makeServer: countingCursors(secondPage, state) });
      open.push(f);
      const conn = await connect(f.url);
      const client = conn.client as ProbeClient;
      state.broken = true;
      for (let i = 0; i < 20; i++) await assert.rejects(list(conn, 5));
      // The last complete listing's two pages, and the last attempt's (at most the cap of 5).
      assert.ok(client.pagesKept <= 2 + 5, `pages kept after 20 failed listings: ${client.pagesKept}`);
    });
  }
});

describe('an empty nextCursor', () => {
  it('ends the listing, as the server means, instead of asking for the first page again', async () => {
    let lists = 0;
    const f = await startHttpFixture('streamable', {
      makeServer: () => {
        const server = new Server({ name: 'fixture-empty-cursor', version: '1.0.0' }, { capabilities: { tools: {} } });
        server.setRequestHandler(ListToolsRequestSchema, async () => {
          lists++;
          return { tools: makeTools(3) as Tool[], nextCursor: '' };
        });
        return server;
      },
    });
    open.push(f);
    const conn = await connect(f.url);
    const before = lists;
    const tools = await list(conn);
    assert.equal(tools.length, 3);
    assert.equal(lists - before, 1, 'one page asked for');
  });
});
