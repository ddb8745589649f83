// A check that times out over a kept Streamable HTTP session gives its request up on the wire too: its
// answer's stream is closed, so a tool that never answers does not hold a connection (on both sides)
// per failed check for as long as the session lives. 2025 era: `notifications/cancelled`, after which
// the server sends nothing; 2026-07-28: closing the stream is the cancellation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod/v3';
import type { CheckConfig } from '../../src/config/schema.js';
import { ServerSession } from '../../src/probe/session.js';
import { startHttpFixture } from '../fixtures/http-server.js';
import { startModernHttpFixture } from '../fixtures/modern-http-server.js';
import { httpTarget, until } from '../helpers.js';

/** The tool never answers: the check's deadline always comes first, however slow the machine. */
const HANG: CheckConfig = { name: 'hang', tool: 'slow', arguments: { ms: 3_600_000 }, expect: {}, allow_side_effects: false, on_failure: 'degraded', interval: 30_000, timeout: 500 };

/** A 2025 server (SDK 1.x, stateful sessions) whose `slow` tool runs until the client cancels it. */
function cancellableServer(cancelled: { count: number }): McpServer {
  const server = new McpServer({ name: 'fixture-cancellable', version: '1.0.0' });
  server.registerTool('slow', { description: 'Runs until cancelled', inputSchema: { ms: z.number() }, annotations: { readOnlyHint: true } }, (_args, extra) =>
    new Promise((resolve) => {
      extra.signal.addEventListener('abort', () => {
        cancelled.count++;
        resolve({ content: [{ type: 'text', text: 'cancelled' }] });
      });
    }),
  );
  return server;
}

/** Three checks over one kept session, each timing out; `settled` waits for what each leaves on the server. */
async function timedOutRounds(session: ServerSession, settled: (round: number) => Promise<void>): Promise<void> {
  for (const round of [1, 2, 3]) {
    const out = await session.check();
    assert.equal(out.error, null, `round ${round}: ${out.error?.message}`);
    assert.deepEqual(out.checks?.map((c) => [c.status, c.error?.type]), [['fail', 'timeout']], `round ${round}`);
    await settled(round);
  }
}

describe('a check that times out over a kept Streamable HTTP session', () => {
  it('2025 era: cancels the call and lets go of its stream, which the server keeps open unanswered', async () => {
    const cancelled = { count: 0 };
    const server = await startHttpFixture('streamable', { makeServer: () => cancellableServer(cancelled) });
    const session = new ServerSession(httpTarget(server.url, 'streamable_http', { protocol: 'legacy', checks: [HANG] }), { onSignal: () => {} });
    try {
      await timedOutRounds(session, async (round) => {
        await until(() => cancelled.count === round, `round ${round}: the server told of the cancellation`);
        await until(() => server.openCalls === 0, `round ${round}: the call's stream closed`, 30_000);
      });
      assert.equal(server.openSessions.size, 1, 'one kept session throughout');
    } finally {
      await session.close();
      await server.close();
    }
  });

  it('2026-07-28: closes the call\'s stream (the revision\'s cancellation), with no notifications/cancelled', async () => {
    const server = await startModernHttpFixture('dual', { checks: true });
    const session = new ServerSession(httpTarget(server.url, 'streamable_http', { protocol: 'modern', checks: [HANG] }), { onSignal: () => {} });
    try {
      await timedOutRounds(session, (round) => until(() => server.openCalls() === 0, `round ${round}: the call's stream closed`, 30_000));
      assert.equal(server.calls.slow, 3);
      assert.equal(server.requests['notifications/cancelled'], undefined);
    } finally {
      await session.close();
      await server.close();
    }
  });
});
