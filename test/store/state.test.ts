import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateError, StateStore } from '../../src/store/state.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;
const DAY = 24 * HOUR;

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'mcpwatch-state-'));
}

describe('state store', () => {
  it('computes availability over rolling windows from per-minute aggregates', () => {
    const store = new StateStore(join(tmp(), 'state.db'), { writer: true });
    const now = Date.UTC(2026, 10, 22, 12, 0, 0);
    // 2 days ago: 10 failures; 3 hours ago: 2 ok, 2 failed; last 30 minutes: 6 ok.
    for (let i = 0; i < 10; i++) store.recordProbe('a', now - 2 * DAY + i * 60_000, false, null);
    for (let i = 0; i < 2; i++) store.recordProbe('a', now - 3 * HOUR + i * 60_000, true, 100);
    for (let i = 0; i < 2; i++) store.recordProbe('a', now - 3 * HOUR + i * 60_000, false, null);
    for (let i = 0; i < 6; i++) store.recordProbe('a', now - 30 * 60_000 + i * 60_000, true, 50 + i);
    assert.deepEqual(store.availability('a', HOUR, now), { ok: 6, failed: 0, ratio: 1 });
    assert.deepEqual(store.availability('a', DAY, now), { ok: 8, failed: 2, ratio: 0.8 });
    assert.deepEqual(store.availability('a', 7 * DAY, now), { ok: 8, failed: 12, ratio: 0.4 });
    assert.deepEqual(store.availability('nobody', HOUR, now), { ok: 0, failed: 0, ratio: null });
    const minutes = store.minutesSince('a', now - HOUR);
    assert.equal(minutes.length, 6);
    assert.deepEqual(minutes.at(-1), { server: 'a', minute: now - 25 * 60_000, ok: 1, failed: 0, latencySum: 55, latencyMax: 55 });
    store.close();
  });

  it('keeps incidents with start and end, closing the previous one on each transition', () => {
    const store = new StateStore(join(tmp(), 'state.db'), { writer: true });
    store.transition('a', 1000, { state: 'degraded', cause: 'slow', errorType: null });
    store.transition('a', 5000, { state: 'down', cause: 'refused', errorType: 'connection_refused' });
    assert.deepEqual(store.openIncidents().map((i) => [i.server, i.state, i.startedAt, i.endedAt]), [['a', 'down', 5000, null]]);
    store.transition('a', 9000, null);
    const all = store.incidentsSince('a', 0);
    assert.deepEqual(all.map((i) => [i.state, i.startedAt, i.endedAt, i.errorType]), [
      ['degraded', 1000, 5000, null],
      ['down', 5000, 9000, 'connection_refused'],
    ]);
    assert.deepEqual(store.openIncidents(), []);
    store.close();
  });

  it('keeps snapshots and drift across reopening, and prunes by retention but keeps the latest snapshot', () => {
    const file = join(tmp(), 'state.db');
    let store = new StateStore(file, { writer: true });
    const now = 100 * DAY;
    store.saveSnapshot({ server: 'a', hash: 'h1', tools: [{ name: 'x' }], takenAt: now - 20 * DAY });
    store.saveSnapshot({ server: 'a', hash: 'h2', tools: [{ name: 'y' }], takenAt: now - 10 * DAY }, { severity: 'breaking', diff: { tools_removed: ['x'] } });
    store.recordProbe('a', now - 9 * DAY, true, 1);
    store.recordProbe('a', now - 1 * DAY, true, 1);
    store.transition('a', now - 9 * DAY, { state: 'down', cause: 'x', errorType: null });
    store.transition('a', now - 9 * DAY + 1000, null);
    store.close();

    store = new StateStore(file, { writer: true });
    assert.equal(store.lastSnapshot('a')?.hash, 'h2');
    assert.deepEqual(store.driftSince('a', 0).map((d) => d.severity), ['breaking']);
    store.prune(8 * DAY, now);
    assert.equal(store.lastSnapshot('a')?.hash, 'h2', 'the latest snapshot survives any retention');
    assert.deepEqual(store.driftSince('a', 0), []);
    assert.equal(store.incidentsSince('a', 0).length, 0);
    assert.equal(store.minutesSince('a', 0).length, 1);
    assert.deepEqual(store.servers(), ['a']);
    store.close();
  });

  it('refuses a second writer, takes over a stale lock, and opens read-only beside a writer', () => {
    const dir = tmp();
    const file = join(dir, 'state.db');
    const writer = new StateStore(file, { writer: true });
    assert.throws(() => new StateStore(file, { writer: true }), StateError);
    const reader = new StateStore(file, { readonly: true });
    assert.deepEqual(reader.servers(), []);
    reader.close();
    writer.close();
    assert.equal(existsSync(`${file}.lock`), false, 'the lock is released on close');
    // A lock left by a process that no longer exists (a crash) does not block the next start.
    writeFileSync(`${file}.lock`, '2147483646\n');
    new StateStore(file, { writer: true }).close();
  });

  it('keeps probe counts in memory when the file cannot take them, and writes them at the next flush', () => {
    const store = new StateStore(join(tmp(), 'state.db'), { writer: true });
    // The file may not grow: the database is full, as on a full disk.
    const db = (store as unknown as { db: { pragma(s: string, o?: { simple: boolean }): unknown } }).db;
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`);
    const now = Date.now();
    for (let i = 0; i < 2000; i++) store.recordProbe(`server-${i}`, now, i % 4 !== 0, 10);
    assert.throws(() => store.flush(), /full/i);
    assert.throws(() => store.availability('server-1', HOUR, now), /full/i, 'a read that cannot write first says so');
    db.pragma('max_page_count = 1000000');
    store.flush();
    assert.deepEqual(store.availability('server-1', HOUR, now), { ok: 1, failed: 0, ratio: 1 });
    assert.deepEqual(store.availability('server-0', HOUR, now), { ok: 0, failed: 1, ratio: 0 });
    assert.equal(store.servers().length, 2000, 'no count was lost');
    store.close();
  });

  it('holds at most an hour of probe counts while the file cannot take them, giving up the oldest minutes', () => {
    const store = new StateStore(join(tmp(), 'state.db'), { writer: true });
    const db = (store as unknown as { db: { pragma(s: string, o?: { simple: boolean }): unknown } }).db;
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`);
    const start = Math.floor(Date.now() / MINUTE) * MINUTE - 90 * MINUTE;
    for (let m = 0; m < 90; m++) {
      for (let i = 0; i < 300; i++) store.recordProbe(`server-${i}`, start + m * MINUTE, true, 5);
      assert.throws(() => store.flush(), /full/i);
    }
    assert.equal(store.droppedMinutes, 30);
    db.pragma('max_page_count = 1000000');
    store.flush();
    assert.deepEqual(store.minutesSince('server-7', 0).map((r) => (r.minute - start) / MINUTE), Array.from({ length: 60 }, (_, i) => 30 + i), 'the last hour is written');
    store.close();
  });

  it('names corrupt and unwritable files clearly', () => {
    const dir = tmp();
    const corrupt = join(dir, 'corrupt.db');
    writeFileSync(corrupt, 'not a database at all'.repeat(200));
    assert.throws(() => new StateStore(corrupt, { writer: true }), /corrupt or not an SQLite database/);
    assert.equal(existsSync(`${corrupt}.lock`), false, 'a failed open releases its lock');
    // /proc/self exists but nobody, root included, can create files in it.
    assert.throws(() => new StateStore('/proc/self/state.db', { writer: true }), /state file \/proc\/self\/state\.db: cannot create lock file/);
    const underFile = join(dir, 'plainfile');
    writeFileSync(underFile, 'x');
    assert.throws(() => new StateStore(join(underFile, 'state.db'), { writer: true }), /state file .*: cannot create directory/);
  });
});
