// The attributes the MCP Python SDK (mcp 2.3.0) and FastMCP 4.0.10 put on their spans of a tool call,
// as captured from their exports (the SDK's client span is named `MCP send tools/call {tool}`, the
// others `tools/call {tool}`), so that no test needs Python.
import type { Attributes } from '@opentelemetry/api';

/** The SDK's client span (mcp/shared/jsonrpc_dispatcher.py): the tool only in its name, no isError. */
export const sdkClient = (requestId: string): Attributes => ({ 'mcp.method.name': 'tools/call', 'jsonrpc.request.id': requestId });

/** The SDK's server span (mcp/server/_otel.py) of a tool that returned `isError: true`. */
export const sdkServerToolError = (tool: string, requestId: string): Attributes => ({
  'mcp.method.name': 'tools/call',
  'mcp.protocol.version': '2026-07-28',
  'jsonrpc.request.id': requestId,
  'gen_ai.operation.name': 'execute_tool',
  'gen_ai.tool.name': tool,
  'error.type': 'tool_error',
});

/** FastMCP's client span (fastmcp/client/telemetry.py) of a tool that failed. */
export const fastmcpClientToolError = (tool: string): Attributes => ({ 'mcp.method.name': 'tools/call', 'fastmcp.component.key': tool, 'gen_ai.tool.name': tool, 'error.type': 'tool_error' });

/** FastMCP's server span (fastmcp/server/telemetry.py), failed with `errorType`: tool_error, or an exception class. */
export const fastmcpServer = (tool: string, errorType: string): Attributes => ({
  'mcp.method.name': 'tools/call',
  'fastmcp.server.name': 'py-fastmcp',
  'mcp.protocol.version': '2026-07-28',
  'fastmcp.component.type': 'tool',
  'fastmcp.component.key': `tool:${tool}@`,
  'gen_ai.tool.name': tool,
  'fastmcp.provider.type': 'LocalProvider',
  'error.type': errorType,
});

/**
 * FastMCP's spans of a tool of a mounted server (`parent.mount(child, namespace="child")`), called
 * as `child_${tool}`: the outer server's SERVER span under the caller's, FastMCP's INTERNAL span
 * delegating to the mounted server under it, and the mounted server's own SERVER span under that.
 */
export const fastmcpMounted = {
  outer: (tool: string): Attributes => ({
    'fastmcp.span.seam': true,
    'mcp.method.name': 'tools/call',
    'fastmcp.server.name': 'py-fastmcp',
    'mcp.protocol.version': '2026-07-28',
    'fastmcp.component.type': 'tool',
    'fastmcp.component.key': `tool:child_${tool}@`,
    'gen_ai.tool.name': `child_${tool}`,
    'fastmcp.provider.type': 'FastMCPProvider',
    'fastmcp.delegate.original_name': tool,
  }),
  delegate: (tool: string): Attributes => ({ 'fastmcp.provider.type': 'FastMCPProvider', 'fastmcp.component.key': tool, 'mcp.method.name': 'tools/call' }),
  mounted: (tool: string): Attributes => ({
    'mcp.method.name': 'tools/call',
    'fastmcp.server.name': 'child',
    'fastmcp.component.type': 'tool',
    'fastmcp.component.key': `tool:${tool}@`,
    'mcp.protocol.version': '2026-07-28',
    'gen_ai.tool.name': tool,
    'fastmcp.provider.type': 'LocalProvider',
  }),
};
