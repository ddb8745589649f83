// EXPERIMENT ONLY (a what-if for bench/agent-fleet.ts --no-standalone-stream): preloaded into the agent
// with `node --import`, it stops the SDK's Streamable HTTP client from opening the standalone GET
// stream after `notifications/initialized`, as if src/probe/session.ts used
// `streamableConnector({ notifications: false })`. It measures what that stream costs a 300-server
// agent in memory and CPU; mcpwatch relies on the stream to notice a dead HTTP server between checks,
// so this is not a configuration to run.
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const proto = StreamableHTTPClientTransport.prototype as unknown as { send(this: unknown, message: unknown, options?: unknown): Promise<void> };
const send = proto.send;
proto.send = function (this: { _startOrAuthSse?: unknown }, message: unknown, options?: unknown): Promise<void> {
  if ((message as { method?: string }).method === 'notifications/initialized') {
    // Only this call site opens the standalone stream; resumption (with a token) is left alone.
    const self = this as { _startOrAuthSse: (o: { resumptionToken?: string }) => Promise<void> };
    const original = self._startOrAuthSse;
    self._startOrAuthSse = async (o) => (o.resumptionToken === undefined ? undefined : original.call(self, o));
    return send.call(this, message, options).finally(() => {
      self._startOrAuthSse = original;
    });
  }
  return send.call(this, message, options);
};
