#!/usr/bin/env node
// One HTTP process serving a notes MCP server over Streamable HTTP (/mcp) and legacy SSE (/sse),
// plus a slow variant (/slow/mcp) so the example shows a degraded server. Usage: notes-http.mjs PORT
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { z } from 'zod';

const port = Number(process.argv[2] ?? 39100);
const notes = [];

function notesServer(delayMs = 0) {
  const server = new McpServer({ name: 'example-notes', version: '2.1.0' });
  server.registerTool('add_note', { description: 'Store a note', inputSchema: { text: z.string() } }, async ({ text }) => {
    notes.push(text);
    return { content: [{ type: 'text', text: `stored note ${notes.length}` }] };
  });
  server.registerTool('list_notes', { description: 'List stored notes', annotations: { readOnlyHint: true } }, async () => {
    await new Promise((r) => setTimeout(r, delayMs));
    return { content: [{ type: 'text', text: JSON.stringify(notes) }] };
  });
  server.registerTool('search_notes', { description: 'Search notes', inputSchema: { query: z.string() }, annotations: { readOnlyHint: true } }, async ({ query }) => ({
    content: [{ type: 'text', text: JSON.stringify(notes.filter((n) => n.includes(query))) }],
  }));
  if (delayMs) {
    const handlers = server.server._requestHandlers;
    const list = handlers.get('tools/list');
    handlers.set('tools/list', async (req, extra) => {
      await new Promise((r) => setTimeout(r, delayMs));
      return list(req, extra);
    });
  }
  return server;
}

const sessions = new Map();
const sse = new Map();

async function readJson(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : undefined;
}

const http = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname === '/mcp' || url.pathname === '/slow/mcp') {
      const body = req.method === 'POST' ? await readJson(req) : undefined;
      const sid = req.headers['mcp-session-id'];
      if (sid) {
        const t = sessions.get(sid);
        if (!t) return void res.writeHead(404).end('unknown session');
        return void (await t.handleRequest(req, res, body));
      }
      const t = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => sessions.set(id, t),
        onsessionclosed: (id) => sessions.delete(id),
      });
      await notesServer(url.pathname === '/slow/mcp' ? 600 : 0).connect(t);
      return void (await t.handleRequest(req, res, body));
    }
    if (url.pathname === '/sse' && req.method === 'GET') {
      const t = new SSEServerTransport('/messages', res);
      sse.set(t.sessionId, t);
      res.on('close', () => sse.delete(t.sessionId));
      return void (await notesServer().connect(t));
    }
    if (url.pathname === '/messages' && req.method === 'POST') {
      const t = sse.get(url.searchParams.get('sessionId'));
      if (!t) return void res.writeHead(404).end('unknown session');
      return void (await t.handlePostMessage(req, res, await readJson(req)));
    }
    res.writeHead(404).end('not found');
  } catch (err) {
    if (!res.headersSent) res.writeHead(500).end(String(err));
  }
});
http.listen(port, '127.0.0.1', () => process.stdout.write(`example MCP HTTP server listening on http://127.0.0.1:${port}\n`));
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
