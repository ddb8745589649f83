#!/usr/bin/env node
// A stdio server that cannot start without its configuration, as happens after a bad deploy.
if (!process.env.DATABASE_URL) {
  process.stderr.write('postgres-mcp: loading settings\n');
  process.stderr.write('error: DATABASE_URL is not set; cannot connect to the database\n');
  process.exit(3);
}
const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js');
const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
const server = new McpServer({ name: 'example-postgres', version: '0.3.0' });
server.registerTool('query', { description: 'Run a read-only SQL query' }, async () => ({ content: [{ type: 'text', text: '[]' }] }));
await server.connect(new StdioServerTransport());
