import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { knockPeriod, LIVENESS, pendingKnocks } from '../../src/probe/liveness.js';
import { ServerSession, type SessionSignal } from '../../src/probe/session.js';
import { httpTarget, until } from '../helpers.js';
import { startModernHttpFixture } from '../fixtures/modern-http-server.js';
import { startHttpFixture } from '../fixtures/http-server.js';
import { startFront } from '../fixtures/front.js';

/** Short enough that a test does not wait LIVENESS; the interval stays longer, so knocks are due. */
const SHORT_LIVENESS = 200;
const LONG_INTERVAL = 60_000;

/** Resolves with the session's first signal, or fails after a generous deadline. */
function firstSignal(signals: SessionSignal[]): Promise<void> {
  return until(() => signals.length > 0, 'a signal from the session');
}

/**
 * The server stops as uvicorn does on SIGTERM (new connections refused, the open stream kept): the
 * session asks for a check while the stream is still open, and the check finds the server refusing.
 */
async function stopSeenThroughOpenStream(server: { port: number; close(): Promise<void> }): Promise<void> {
  const front = await startFront(server.port);
  const signals: SessionSignal[] = [];
  const session = new ServerSession(httpTarget(front.url, 'streamable_http', { interval: LONG_INTERVAL }), { onSignal: (s) => signals.push(s), liveness: SHORT_LIVENESS });
  try {
    const first = await session.check();
    assert.equal(first.error, null);
    // A knock accepted: the stream is open and watched.
    await until(() => front.bare() >= 1, 'a knock the server accepts');
    assert.deepEqual(signals, [], 'an accepted knock asks for nothing');
    front.stopAccepting();
    await firstSignal(signals);
    assert.deepEqual(signals, ['knock_refused']);
    assert.equal(front.streams(), 1, 'the stream is still open: only the knock saw the stop');
    const down = await session.check();
    assert.equal(down.error?.type, 'connection_refused');
  } finally {
    await session.close();
    await front.close();
    await server.close();
  }
  assert.equal(pendingKnocks(), 0, 'a closed session leaves no knock behind');
}

describe('a server whose stop waits for open streams', () => {
  it('2026-07-28: a refused knock while the listen stream stays open asks for a check, which finds it down', async () => {
    await stopSeenThroughOpenStream(await startModernHttpFixture('strict'));
  });

  it('2025: a refused knock while the standalone GET stream stays open asks for a check, which finds it down', async () => {
    await stopSeenThroughOpenStream(await startHttpFixture('streamable'));
  });

  it('2026-07-28 without tools.listChanged (no listen stream, as FastMCP): a refused knock asks for a check, which finds it down', async () => {
    const server = await startModernHttpFixture('strict', { listChanged: false });
    const front = await startFront(server.port);
    const signals: SessionSignal[] = [];
    const session = new ServerSession(httpTarget(front.url, 'streamable_http', { interval: LONG_INTERVAL }), { onSignal: (s) => signals.push(s), liveness: SHORT_LIVENESS });
    try {
      assert.equal((await session.check()).error, null);
      await until(() => front.bare() >= 1, 'a knock the server accepts');
      assert.equal(server.openStreams(), 0, 'nothing open that would end when the server dies');
      assert.equal(server.requests['subscriptions/listen'], undefined, 'a server announcing no tool changes is not asked to listen');
      assert.deepEqual(signals, [], 'an accepted knock asks for nothing');
      front.stopAccepting();
      await firstSignal(signals);
      assert.deepEqual(signals, ['knock_refused']);
      assert.equal((await session.check()).error?.type, 'connection_refused');
    } finally {
      await session.close();
      await front.close();
      await server.close();
    }
    assert.equal(pendingKnocks(), 0, 'a closed session leaves no knock behind');
  });

  it('2026-07-28: a server that announces no tool changes is discovered again at its next connection, so its replacement that does is listened to', async () => {
    const first = await startModernHttpFixture('strict', { listChanged: false });
    const front = await startFront(first.port);
    const session = new ServerSession(httpTarget(front.url, 'streamable_http', { interval: LONG_INTERVAL }), { onSignal: () => {}, liveness: SHORT_LIVENESS });
    let second: Awaited<ReturnType<typeof startModernHttpFixture>> | undefined;
    try {
      assert.equal((await session.check()).error, null);
      assert.equal(first.requests['subscriptions/listen'], undefined);
      front.crash();
      assert.equal((await session.check()).error?.type, 'connection_refused');
      second = await startModernHttpFixture('strict');
      front.revive(second.port);
      assert.equal((await session.check()).error, null);
      assert.equal(second.requests['server/discover'], 1, 'asked again: the remembered answer said no tool changes');
      await until(() => second!.openStreams() === 1, 'the replacement\'s listen stream');
    } finally {
      await session.close();
      await front.close();
      await first.close();
      await second?.close();
    }
  });

  it('a server checked within LIVENESS is never knocked on', async () => {
    const server = await startModernHttpFixture('strict');
    const slow = await startFront(server.port);
    const fast = await startFront(server.port);
    const none = (): void => {};
    const watched = new ServerSession(httpTarget(slow.url, 'streamable_http', { interval: LONG_INTERVAL }), { onSignal: none, liveness: SHORT_LIVENESS });
    const checked = new ServerSession(httpTarget(fast.url, 'streamable_http', { interval: SHORT_LIVENESS }), { onSignal: none, liveness: SHORT_LIVENESS });
    try {
      assert.equal((await watched.check()).error, null);
      assert.equal((await checked.check()).error, null);
      // Both have a stream open that could hide a stop: only the interval tells them apart.
      await until(() => server.openStreams() === 2, 'both listen streams');
      // Checked again at each knock of the other: its checks come about as far apart as its interval.
      let seen = 0;
      await until(async () => {
        if (slow.bare() === seen) return false;
        seen = slow.bare();
        assert.equal((await checked.check()).error, null);
        return seen >= 4;
      }, 'knocks on the other session');
      assert.equal(fast.bare(), 0);
    } finally {
      await watched.close();
      await checked.close();
      await slow.close();
      await fast.close();
      await server.close();
    }
  });

  it('a fleet at a long interval shares one budget of knocks', () => {
    assert.equal(knockPeriod(LIVENESS, 10), LIVENESS);
    const fleet = 3000;
    assert.ok(fleet / (knockPeriod(LIVENESS, fleet) / 1000) <= 20, 'at most 20 knocks a second');
  });
});
