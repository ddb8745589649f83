#!/usr/bin/env node
// A small, healthy stdio MCP server: the kind of local tool server an agent spawns.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'example-weather', version: '1.0.0' });
server.registerTool(
  'get_forecast',
  { description: 'Forecast for a city (canned data, works offline)', inputSchema: { city: z.string(), days: z.number().int().min(1).max(7).optional() }, annotations: { readOnlyHint: true } },
  async ({ city, days }) => ({ content: [{ type: 'text', text: `${city}: sunny for ${days ?? 1} day(s)` }] }),
);
server.registerTool(
  'get_alerts',
  { description: 'Weather alerts for a region', inputSchema: { region: z.string() }, annotations: { readOnlyHint: true } },
  async ({ region }) => ({ content: [{ type: 'text', text: `no alerts for ${region}` }] }),
);
await server.connect(new StdioServerTransport());
