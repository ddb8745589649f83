import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MAX_DRIFT_EVENTS_PER_SERVER, MAX_SNAPSHOTS_PER_SERVER, StateError, StateStore } from '../../src/store/state.js';
import type { Assessment } from '../../src/pipeline/assess.js';
import { ServerStateMachine } from '../../src/pipeline/state-machine.js';

const HOUR = 3_600_000;
const MINUTE = 60_000;
const DAY = 24 * HOUR;

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'mcpwatch-state-'));
}

describe('state store', () => {
  it('caps snapshots and drift events per server, newest kept, other servers untouched', () => {
    const file = join(tmp(), 'state.db');
    const store = new StateStore(file, { writer: true });
    const n = MAX_DRIFT_EVENTS_PER_SERVER + 50;
    for (let i = 1; i <= n; i++) store.saveSnapshot({ server: 'flapping', hash: `h${i}`, tools: [{ name: `t${i}` }], takenAt: i * 1000 }, { severity: 'breaking', diff: { i } });
    for (let i = 1; i <= 3; i++) store.saveSnapshot({ server: 'calm', hash: `h${i}`, tools: [], takenAt: i * 1000 }, { severity: 'compatible', diff: { i } });
    assert.equal(store.lastSnapshot('flapping')?.hash, `h${n}`);
    const drift = store.driftSince('flapping', 0);
    assert.equal(drift.length, MAX_DRIFT_EVENTS_PER_SERVER);
    assert.equal(drift[0]!.at, (n - MAX_DRIFT_EVENTS_PER_SERVER + 1) * 1000);
    assert.equal(store.driftSince('calm', 0).length, 3);
    store.close();
    const db = new Database(file, { readonly: true });
    const counts = db.prepare('SELECT server, COUNT(*) AS n FROM snapshots GROUP BY server ORDER BY server').all();
    db.close();
    assert.deepEqual(counts, [{ server: 'calm', n: 3 }, { server: 'flapping', n: MAX_SNAPSHOTS_PER_SERVER }]);
  });

  it('computes availability as time up over rolling windows, not as the share of probes', () => {
    const store = new StateStore(join(tmp(), 'state.db'), { writer: true });
    const now = Date.UTC(2026, 10, 22, 12, 0, 0);
    const t0 = now - 2 * HOUR;
    const SEC = 1000;
    // Up for an hour, probed every 30 s; down for 40 minutes, re-checked every 5 s as the agent
    // does while a server fails; up again for the last 20 minutes. Counting probes would give 25 %.
    for (let k = 0; k < 120; k++) store.recordProbe('a', t0 + k * 30 * SEC, true, 100, 70 * SEC);
    for (let j = 0; j < 480; j++) store.recordProbe('a', t0 + HOUR + j * 5 * SEC, false, null, 70 * SEC);
    for (let k = 0; k < 40; k++) store.recordProbe('a', t0 + 100 * MINUTE + k * 30 * SEC, true, 100, 70 * SEC);
    store.checkpoint(now);
    assert.deepEqual(store.availability('a', HOUR, now), { upMs: 20 * MINUTE, downMs: 40 * MINUTE, ratio: 1 / 3 });
    assert.deepEqual(store.availability('a', DAY, now), { upMs: 80 * MINUTE, downMs: 40 * MINUTE, ratio: 2 / 3 });
    assert.deepEqual(store.availability('nobody', HOUR, now), { upMs: 0, downMs: 0, ratio: null });
    const minutes = store.minutesSince('a', now - 2 * MINUTE);
    assert.deepEqual(minutes.at(-1), { server: 'a', minute: now - MINUTE, ok: 2, failed: 0, latencySum: 200, latencyMax: 100, upMs: MINUTE, downMs: 0 });
    store.close();
  });

  it('a checkpoint of some servers credits only theirs; the others\' time is credited at the next full one', () => {
    const store = new StateStore(join(tmp(), 'state.db'), { writer: true });
    const t = Date.UTC(2026, 10, 22, 12, 0, 0);
    store.recordProbe('a', t, true, 10, 70_000);
    store.recordProbe('b', t, false, null, 70_000);
    store.checkpoint(t + MINUTE, ['a']);
    assert.deepEqual(store.availability('a', DAY, t + MINUTE), { upMs: MINUTE, downMs: 0, ratio: 1 });
    assert.deepEqual(store.availability('b', DAY, t + MINUTE), { upMs: 0, downMs: 0, ratio: null });
    store.checkpoint(t + MINUTE);
    assert.deepEqual(store.availability('b', DAY, t + MINUTE), { upMs: 0, downMs: MINUTE, ratio: 0 });
    assert.equal(store.availability('a', DAY, t + MINUTE).upMs, MINUTE);
    store.close();
  });

  it('counts no time before the first probe, past an observation\'s hold, after forget, or across a restart', () => {
    const file = join(tmp(), 'state.db');
    let store = new StateStore(file, { writer: true });
    const t = Date.UTC(2026, 10, 22, 12, 0, 0);
    const SEC = 1000;
    assert.deepEqual(store.availability('a', DAY, t), { upMs: 0, downMs: 0, ratio: null }, 'one probe alone is no time yet');
    store.recordProbe('a', t, true, 10, 70 * SEC);
    // The agent was suspended: the next observation comes 10 minutes later; the first held 70 s.
    store.recordProbe('a', t + 10 * MINUTE, false, null, 70 * SEC);
    store.checkpoint(t + 11 * MINUTE);
    assert.deepEqual(store.availability('a', DAY, t + 11 * MINUTE), { upMs: 70 * SEC, downMs: MINUTE, ratio: 70 / 130 });
    // A checkpoint credits time once: a second one at the same time adds nothing.
    store.checkpoint(t + 11 * MINUTE);
    assert.equal(store.availability('a', DAY, t + 11 * MINUTE).downMs, MINUTE);

    store.recordProbe('b', t, true, 10, 70 * SEC);
    store.forget('b', t + 30 * SEC);
    store.checkpoint(t + 5 * MINUTE);
    assert.equal(store.availability('b', DAY, t + 5 * MINUTE).upMs, 30 * SEC, 'no time after the server was removed');
    store.close();

    // A new process knows no observation: the time it was not running is not counted.
    store = new StateStore(file, { writer: true });
    store.recordProbe('a', t + 60 * MINUTE, true, 10, 70 * SEC);
    store.checkpoint(t + 61 * MINUTE);
    assert.deepEqual(store.availability('a', DAY, t + 61 * MINUTE), { upMs: 130 * SEC, downMs: MINUTE, ratio: 130 / 190 });
    store.close();
  });

  it('opens a state file written before time was kept, adding the columns; a reader sees no time in it', () => {
    const file = join(tmp(), 'state.db');
    new StateStore(file, { writer: true }).close();
    const old = new Database(file);
    old.exec('ALTER TABLE probe_minutes DROP COLUMN up_ms; ALTER TABLE probe_minutes DROP COLUMN down_ms;');
    old.prepare('INSERT INTO probe_minutes VALUES (?, ?, 3, 1, 30, 10)').run('a', MINUTE);
    old.close();
    const reader = new StateStore(file, { readonly: true });
    assert.deepEqual(reader.minutesSince('a', 0), [{ server: 'a', minute: MINUTE, ok: 3, failed: 1, latencySum: 30, latencyMax: 10, upMs: 0, downMs: 0 }]);
    reader.close();
    const writer = new StateStore(file, { writer: true });
    writer.recordProbe('a', MINUTE, true, 10, HOUR);
    writer.checkpoint(2 * MINUTE);
    assert.deepEqual(writer.availability('a', DAY, 2 * MINUTE), { upMs: MINUTE, downMs: 0, ratio: 1 });
    writer.close();
  });

  it('refuses a file of a newer mcpwatch before writing anything to it, writer and reader alike, saying what to do', () => {
    const file = join(tmp(), 'state.db');
    // A newer schema: tables of its own, none of this version's but meta, in the rollback journal
    // mode (setting WAL would rewrite the header too).
    const newer = new Database(file);
    newer.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO meta VALUES ('schema_version', '2');");
    newer.exec('CREATE TABLE probe_minutes (server TEXT NOT NULL, minute INTEGER NOT NULL, ok INTEGER NOT NULL, PRIMARY KEY (server, minute));');
    newer.close();
    const before = readFileSync(file);
    for (const opts of [{ writer: true }, { readonly: true }]) {
      assert.throws(
        () => new StateStore(file, opts),
        (err: Error) => err instanceof StateError && /written by a newer mcpwatch \(schema 2, this one reads up to 1\); left unchanged: run the newer mcpwatch on it, or move it aside/.test(err.message),
        JSON.stringify(opts),
      );
      assert.deepEqual(readFileSync(file), before, `${JSON.stringify(opts)}: the file is left as it was`);
    }
    assert.equal(existsSync(`${file}.lock`), false, 'the refused writer released its lock');
  });

  it('keeps each server\'s state machine with the incident open when it was written, and what each notifier was told', () => {
    const store = new StateStore(join(tmp(), 'state.db'), { writer: true });
    const up = new ServerStateMachine({ failuresBeforeDown: 1, thresholds: {}, latencyWindow: 5 });
    up.apply({ at: 1000, ok: true, latencyMs: 12, error: null });
    const down = new ServerStateMachine({ failuresBeforeDown: 1, thresholds: {}, latencyWindow: 5 });
    down.apply({ at: 2000, ok: false, latencyMs: null, error: { type: 'connection_refused', category: 'transient', phase: 'tools/list', message: 'refused' } });
    store.transition('b', 2000, { state: 'down', cause: 'refused', errorType: 'connection_refused' });
    store.saveStates([{ server: 'a', memory: up.memory(), seenAt: 1000 }, { server: 'b', memory: down.memory(), seenAt: 2000 }]);
    const open = store.openIncidents()[0]!;
    assert.deepEqual([...store.serverStates()], [
      ['a', { memory: up.memory(), incidentId: null, seenAt: 1000 }],
      ['b', { memory: down.memory(), incidentId: open.id, seenAt: 2000 }],
    ]);
    store.saveNotified('webhook:1', 'b', 'down', undefined, 2100);
    store.saveNotified('alertmanager:2', 'b', 'down', [{ labels: { alertname: 'McpServerDown' } }], 2100);
    store.saveNotified('webhook:1', 'a', 'up', undefined, 2100);
    store.saveNotified('webhook:1', 'a', 'degraded', undefined, 2200);
    assert.deepEqual(
      [...store.notified()].map(([server, byKey]) => [server, [...byKey]]),
      [
        ['b', [['webhook:1', { state: 'down', held: undefined }], ['alertmanager:2', { state: 'down', held: [{ labels: { alertname: 'McpServerDown' } }] }]]],
        ['a', [['webhook:1', { state: 'degraded', held: undefined }]]],
      ],
    );
    assert.deepEqual(store.lastIncident('b'), open);

    // No longer monitored: the incident ends, and what was kept to resume it goes.
    store.forgetServer('b', 3000);
    assert.deepEqual(store.openIncidents(), []);
    assert.equal(store.incidentsSince('b', 0)[0]!.endedAt, 3000);
    assert.deepEqual([...store.serverStates().keys()], ['a']);
    assert.deepEqual([...store.notified().keys()], ['a']);
    store.close();
  });

  it('a server\'s state is written with the URLs in its errors redacted, as an incident\'s cause is', () => {
    const file = join(tmp(), 'state.db');
    const store = new StateStore(file, { writer: true });
    const secret = 'https://svc:hunter2@db.internal/q?token=s3cret';
    const sm = new ServerStateMachine({ failuresBeforeDown: 1, thresholds: {}, latencyWindow: 5, checks: ['q'] });
    const error = { type: 'tool_error', category: 'permanent', phase: 'tools/call', message: `tool returned isError: "cannot reach ${secret}"` } as const;
    sm.apply({ at: 1000, ok: true, latencyMs: 12, error: null, checks: [{ name: 'q', method: 'tools/call', target: 'q', status: 'fail', onFailure: 'degraded', startedAt: 1000, latencyMs: 5, error }] });
    sm.apply({ at: 2000, ok: false, latencyMs: null, error: { ...error, type: 'http_status', phase: 'tools/list' } });
    store.saveStates([{ server: 'a', memory: sm.memory(), seenAt: 2000 }]);
    const read = store.serverStates().get('a')?.memory;
    store.close();
    const db = new Database(file, { readonly: true });
    const row = db.prepare("SELECT memory FROM server_states WHERE server = 'a'").pluck().get() as string;
    db.close();
    assert.ok(row.includes('db.internal'), row);
    assert.doesNotMatch(row, /hunter2|s3cret/);
    assert.equal(read?.checks[0]?.[0], 'q', 'what was written is read back');
  });

  it('a server state or notifier row that cannot be read is passed over with a warning; the row stays in the file', () => {
    const file = join(tmp(), 'state.db');
    new StateStore(file, { writer: true }).close();
    const db = new Database(file);
    db.prepare('INSERT INTO server_states VALUES (?, ?, NULL, 5)').run('a', '{"status":"up"');
    db.prepare('INSERT INTO server_states VALUES (?, ?, NULL, 5)').run('b', '{"status":"on fire"}');
    db.prepare('INSERT INTO notified VALUES (?, ?, ?, NULL, 5)').run('k', 'a', 'sideways');
    db.prepare('INSERT INTO notified VALUES (?, ?, ?, ?, 5)').run('k', 'b', 'down', '[{');
    db.close();
    const warned: Array<[unknown, unknown]> = [];
    const store = new StateStore(file, { writer: true, warn: (fields, msg) => warned.push([fields.column, msg]) });
    assert.deepEqual([...store.serverStates()], [
      ['a', { memory: undefined, incidentId: null, seenAt: 5 }],
      ['b', { memory: undefined, incidentId: null, seenAt: 5 }],
    ]);
    assert.deepEqual([...store.notified()].map(([server, byKey]) => [server, [...byKey]]), [['b', [['k', { state: 'down', held: undefined }]]]]);
    assert.deepEqual(
      warned.map(([column]) => column),
      ['server_states.memory', 'server_states.memory', 'notified.state', 'notified.held'],
    );
    assert.match(String(warned[0]![1]), /server_states\.memory of server a cannot be read; passed over, the server is taken as the open incident says, or as new$/);
    store.close();
  });

  it('a file from before the servers\' states were kept: read as none by a reader, given the tables by a writer, every row kept', () => {
    const file = join(tmp(), 'state.db');
    const first = new StateStore(file, { writer: true });
    first.transition('a', 1000, { state: 'down', cause: 'refused', errorType: 'connection_refused' });
    first.recordProbe('a', 1000, false, null, HOUR);
    first.close();
    const old = new Database(file);
    old.exec('DROP TABLE server_states; DROP TABLE notified;');
    old.close();
    const reader = new StateStore(file, { readonly: true });
    assert.deepEqual([reader.serverStates().size, reader.notified().size], [0, 0]);
    assert.equal(reader.openIncidents().length, 1);
    reader.close();
    const writer = new StateStore(file, { writer: true });
    assert.deepEqual(writer.openIncidents().map((i) => [i.server, i.state, i.startedAt]), [['a', 'down', 1000]]);
    assert.deepEqual([writer.lastMinute('a'), writer.lastMinute('b')], [0, undefined]);
    writer.saveStates([{ server: 'a', memory: new ServerStateMachine({ failuresBeforeDown: 1, thresholds: {}, latencyWindow: 5 }).memory(), seenAt: 1000 }]);
    assert.equal(writer.serverStates().size, 1);
    writer.close();
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
    store.recordProbe('a', now - 9 * DAY, true, 1, MINUTE);
    store.recordProbe('a', now - 1 * DAY, true, 1, MINUTE);
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

  it('passes over a JSON column that cannot be read (a damaged file quick_check accepts) with a warning, and keeps every other row', () => {
    const file = join(tmp(), 'state.db');
    let store = new StateStore(file, { writer: true });
    for (const server of ['a', 'b', 'c']) {
      store.saveSnapshot({ server, hash: 'h1', tools: [{ name: 'x' }], takenAt: 1000 });
      store.saveSnapshot({ server, hash: 'h2', tools: [{ name: 'y' }], takenAt: 2000 }, { severity: 'breaking', diff: { tools_removed: ['x'] } });
      const checked: Assessment = { up: true, latencyMs: 5, error: null, transition: null, events: [], snapshot: undefined, sessionExpired: false, serverInfoChanged: false, verdict: { kind: 'legacy' } };
      store.recordCheck(server, 2000, checked, MINUTE);
    }
    store.transition('a', 2000, { state: 'down', cause: 'x', errorType: null });
    store.close();
    const db = new Database(file);
    // a: not JSON at all; c: JSON, but not what was written (tools not a list, a verdict of no era).
    db.exec(`UPDATE snapshots SET tools = '[{"name": "y"' WHERE server = 'a' AND taken_at = 2000; UPDATE drift_events SET diff = '{broken' WHERE server = 'a';
      UPDATE eras SET verdict = 'not json' WHERE server = 'a'; UPDATE snapshots SET tools = '{}' WHERE server = 'c' AND taken_at = 2000; UPDATE eras SET verdict = '{"kind":"x"}' WHERE server = 'c';`);
    db.close();

    const warnings: Array<Record<string, unknown>> = [];
    store = new StateStore(file, { writer: true, warn: (fields) => warnings.push(fields) });
    assert.equal(store.lastSnapshot('a'), undefined, 'an unreadable baseline is no baseline');
    assert.equal(store.lastSnapshot('c'), undefined);
    assert.deepEqual(store.lastSnapshot('b'), { server: 'b', hash: 'h2', tools: [{ name: 'y' }], takenAt: 2000 });
    assert.equal(store.era('a'), undefined);
    assert.equal(store.era('c'), undefined);
    assert.deepEqual(store.era('b'), { kind: 'legacy' });
    assert.deepEqual(warnings, [
      { file, column: 'snapshots.tools', server: 'a' },
      { file, column: 'snapshots.tools', server: 'c' },
      { file, column: 'eras.verdict', server: 'a' },
      { file, column: 'eras.verdict', server: 'c' },
    ]);
    // The drift event still counts for the scorecard: its severity and time are intact.
    assert.deepEqual(store.driftSince('a', 0), [{ at: 2000, severity: 'breaking' }]);
    assert.equal(store.openIncidents().length, 1);
    assert.equal(store.minutesSince('a', 0).length, 1);
    store.saveSnapshot({ server: 'a', hash: 'h3', tools: [{ name: 'z' }], takenAt: 3000 });
    assert.deepEqual(store.lastSnapshot('a')?.tools, [{ name: 'z' }], 'the next check takes a new baseline');
    store.close();
    const reader = new Database(file, { readonly: true });
    assert.deepEqual(reader.prepare("SELECT taken_at FROM snapshots WHERE server = 'a' ORDER BY taken_at").all(), [{ taken_at: 1000 }, { taken_at: 2000 }, { taken_at: 3000 }], 'nothing was deleted');
    reader.close();
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
    for (let i = 0; i < 2000; i++) store.recordProbe(`server-${i}`, now - MINUTE, i % 4 !== 0, 10, HOUR);
    store.checkpoint(now);
    assert.throws(() => store.flush(), /full/i);
    assert.throws(() => store.availability('server-1', HOUR, now), /full/i, 'a read that cannot write first says so');
    db.pragma('max_page_count = 1000000');
    store.flush();
    assert.deepEqual(store.availability('server-1', HOUR, now), { upMs: MINUTE, downMs: 0, ratio: 1 });
    assert.deepEqual(store.availability('server-0', HOUR, now), { upMs: 0, downMs: MINUTE, ratio: 0 });
    assert.equal(store.servers().length, 2000, 'no count was lost');
    store.close();
  });

  it('holds at most an hour of probe counts while the file cannot take them, giving up the oldest minutes', () => {
    const store = new StateStore(join(tmp(), 'state.db'), { writer: true });
    const db = (store as unknown as { db: { pragma(s: string, o?: { simple: boolean }): unknown } }).db;
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`);
    const start = Math.floor(Date.now() / MINUTE) * MINUTE - 90 * MINUTE;
    for (let m = 0; m < 90; m++) {
      for (let i = 0; i < 300; i++) store.recordProbe(`server-${i}`, start + m * MINUTE, true, 5, MINUTE);
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
    assert.throws(() => new StateStore(join(underFile, 'sub', 'state.db'), { writer: true }), { message: `state file ${join(underFile, 'sub', 'state.db')}: cannot create directory ${join(underFile, 'sub')}: ${underFile}, on its path, is a file, not a directory` });
    // procfs refuses new directories with ENOENT, on which Node's recursive mkdir never returned.
    assert.throws(() => new StateStore('/proc/mcpwatch-state/state.db', { writer: true }), /state file \/proc\/mcpwatch-state\/state\.db: cannot create directory \/proc\/mcpwatch-state: ENOENT/);
    const deep = new StateStore(join(dir, 'a', 'b', 'c', 'state.db'), { writer: true });
    deep.close();
    assert.ok(existsSync(join(dir, 'a', 'b', 'c', 'state.db')), 'missing directories are made, level by level');
  });
});
