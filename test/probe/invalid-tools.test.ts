// A tools/list answer with a tool the specification does not allow (no inputSchema): real servers
// send it, since the SDK 1.x low-level Server passes its handler's result through unchecked. The
// user must read which tool and which field, not the schema library's issue list.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { probeServer } from '../../src/probe/probe.js';
import { toolsPageProblem } from '../../src/probe/connection.js';
import { ServerSession } from '../../src/probe/session.js';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { httpTarget, stdioTarget } from '../helpers.js';

const TOOLS = [
  { name: 'echo', inputSchema: { type: 'object' } },
  { name: 'search', description: 'full-text search' },
];
const WANT = 'Invalid result for tools/list: tool "search" (tools[1]) has no inputSchema, which MCP requires of every tool';

describe('a tool without inputSchema', () => {
  const open: HttpFixture[] = [];
  after(async () => {
    for (const f of open) await f.close();
  });

  for (const protocol of ['legacy', 'auto'] as const) {
    it(`is invalid_response naming the tool and the field, over stdio (${protocol})`, async () => {
      const file = join(mkdtempSync(join(tmpdir(), 'mcpwatch-tools-')), 'tools.json');
      writeFileSync(file, JSON.stringify(TOOLS));
      const out = await probeServer(stdioTarget('tools-from-file', { env: { TOOLS_FILE: file }, protocol }));
      assert.deepEqual([out.error?.type, out.error?.phase, out.error?.category, out.error?.message], ['invalid_response', 'tools/list', 'permanent', WANT]);
    });
  }

  it('is invalid_response naming the tool and the field, over Streamable HTTP, probed once and over a kept session', async () => {
    const f = await startHttpFixture('streamable', {
      makeServer: () => {
        const server = new Server({ name: 'fixture-schemaless', version: '1.0.0' }, { capabilities: { tools: {} } });
        server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS as Tool[] }));
        return server;
      },
    });
    open.push(f);
    const once = await probeServer(httpTarget(f.url));
    assert.deepEqual([once.error?.type, once.error?.phase, once.error?.message], ['invalid_response', 'tools/list', WANT]);
    const session = new ServerSession(httpTarget(f.url), { onSignal: () => undefined });
    try {
      const kept = await session.check();
      assert.deepEqual([kept.error?.type, kept.error?.phase, kept.error?.message], ['invalid_response', 'tools/list', WANT]);
    } finally {
      await session.close();
    }
  });

  it('names the first tool at fault and its field, row by row', () => {
    const rows: Array<[unknown, string | undefined]> = [
      [{ tools: [{ name: 'a', inputSchema: { type: 'object' } }] }, undefined],
      [{ tools: [{ name: 'a' }] }, 'tool "a" (tools[0]) has no inputSchema, which MCP requires of every tool'],
      [{ tools: [{ name: 'a', inputSchema: {} }] }, 'tool "a" (tools[0]): inputSchema.type must be "object" (got none)'],
      [{ tools: [{ name: 'a', inputSchema: { type: 'string' } }] }, 'tool "a" (tools[0]): inputSchema.type must be "object" (got "string")'],
      [{ tools: [{ name: 'a', inputSchema: 'object' }] }, 'tool "a" (tools[0]): inputSchema must be a JSON Schema object (got "object")'],
      [{ tools: [{ name: 'a', inputSchema: null }] }, 'tool "a" (tools[0]): inputSchema must be a JSON Schema object (got null)'],
      [{ tools: [{ inputSchema: { type: 'object' } }] }, 'tools[0] has no name (a tool\'s name is a required string)'],
      [{ tools: ['a'] }, 'tools[0] is not an object (got "a")'],
      // Not about one tool: the SDK's own message stands.
      [{ tools: 'none' }, undefined],
      [null, undefined],
    ];
    for (const [page, want] of rows) assert.equal(toolsPageProblem(page), want, JSON.stringify(page));
  });
});
