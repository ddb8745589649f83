// A kept stdio server that comes up and dies again (a crash loop) is restarted with a back-off that
// grows, on an injected clock: only a run of STABLE_RUN (10 min) starts the back-off over.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ServerSession } from '../../src/probe/session.js';
import { alive, stdioTarget, until } from '../helpers.js';

describe('a crash-looping stdio server', () => {
  it('is restarted after 1 s, then 2 s, then 4 s; a process that ran 10 min starts over at 1 s', async () => {
    let now = 0;
    let closed = 0;
    const session = new ServerSession(stdioTarget('ok', { interval: 60_000 }), { onSignal: (s) => void (s === 'closed' && closed++), now: () => now });
    const pids: number[] = [];
    /** Checks at the current time: a new process must answer; then kills it, as a crash would, and sees it down. */
    const checkAndCrash = async (what: string): Promise<void> => {
      const out = await session.check();
      assert.equal(out.error, null, `${what}: ${out.error?.message}`);
      const pid = session.pid!;
      assert.ok(pid && !pids.includes(pid), `${what}: a new process`);
      pids.push(pid);
      const seen = closed;
      process.kill(pid, 'SIGKILL');
      await until(() => closed > seen, `${what}: the exit noticed`);
      const down = await session.check();
      assert.equal(down.error?.type, 'process_exited', what);
    };
    /** A check inside the back-off: the remembered failure, no process started. */
    const heldBack = async (what: string): Promise<void> => {
      const out = await session.check();
      assert.equal(out.error?.type, 'process_exited', what);
      assert.equal(session.pid, undefined, `${what}: no restart yet`);
    };
    try {
      await checkAndCrash('first start');
      await heldBack('at once');
      now += 1000;
      await checkAndCrash('restart after 1 s');
      now += 1000;
      await heldBack('1 s after the second crash');
      now += 1000;
      await checkAndCrash('restart after 2 s');
      now += 2000;
      await heldBack('2 s after the third crash');
      now += 2000;
      const out = await session.check();
      assert.equal(out.error, null, 'restart after 4 s');
      // Up for 10 minutes: its next crash is a new one, not the loop going on.
      now += 10 * 60_000;
      const pid = session.pid!;
      const seen = closed;
      process.kill(pid, 'SIGKILL');
      await until(() => closed > seen, 'the exit after a stable run');
      assert.equal((await session.check()).error?.type, 'process_exited');
      now += 1000;
      assert.equal((await session.check()).error, null, 'restarted after 1 s again');
    } finally {
      await session.close();
    }
  });
});

describe('a kept stdio server that stops answering', () => {
  it('is kept through consecutive_failures_before_down timeouts, as an agent keeps its copy waiting, then started again', async () => {
    // The short deadline is for the stopped process only, which never answers within it however
    // loaded the machine is. A check that must be answered (a start, a process going on) gets the
    // generous one: at 3 s, such a check timed out on a busy machine.
    const patient = stdioTarget('ok', { consecutive_failures_before_down: 3 });
    const stoppedFor = { ...patient, timeout: 3000 };
    const session = new ServerSession(patient, { onSignal: () => {} });
    const stopped: number[] = [];
    try {
      assert.equal((await session.check()).error, null, 'the first check');
      const pid = session.pid!;
      process.kill(pid, 'SIGSTOP');
      stopped.push(pid);
      session.update(stoppedFor);
      for (const n of [1, 2]) {
        const out = await session.check();
        assert.equal(out.error?.type, 'timeout', `timeout ${n}`);
        assert.equal(out.definitive, false);
        assert.equal(session.pid, pid, `the same process is kept after timeout ${n}`);
      }
      // It answers again before the third: the timeouts are forgotten, the process kept.
      process.kill(pid, 'SIGCONT');
      session.update(patient);
      assert.equal((await session.check()).error, null, 'answers once it goes on');
      assert.equal(session.pid, pid);

      process.kill(pid, 'SIGSTOP');
      session.update(stoppedFor);
      for (const n of [1, 2, 3]) assert.equal((await session.check()).error?.type, 'timeout', `a new run of timeouts: ${n}`);
      assert.equal(session.pid, undefined, 'the third in a row ends it');
      await until(() => !alive(pid), 'the hung process killed');
      session.update(patient);
      const out = await session.check();
      assert.equal(out.error, null, `a new process answers: ${out.error?.message}`);
      assert.notEqual(session.pid, pid);
    } finally {
      for (const pid of stopped) if (alive(pid)) process.kill(pid, 'SIGCONT');
      await session.close();
    }
  });
});
