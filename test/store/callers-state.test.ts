// The blast radius in the state file: the buckets CallerWindow hands over, written, read back into
// a new window (an agent restart), pruned, forgotten, and absent from a file older than the table.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StateStore } from '../../src/store/state.js';
import { CallerWindow, callerKey } from '../../src/pipeline/callers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 11, 6, 0, 0, 0);
const bot = (name: string) => ({ key: callerKey({ service_name: name }), identity: { service_name: name } });

describe('callers in the state file', () => {
  it('writes changed buckets, reads them back into a new window, prunes and forgets', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mcpwatch-callers-')), 'state.db');
    const w = new CallerWindow({ windowMs: DAY, maxAgents: 5 });
    w.record('gh', 'search', bot('support-bot'), T0);
    w.record('gh', 'search', bot('support-bot'), T0 + 2 * HOUR);
    w.record('db', 'query', bot('report-bot'), T0 + HOUR);
    let store = new StateStore(file, { writer: true });
    store.saveCallers(w.rows(T0 + 3 * HOUR), T0 + 3 * HOUR - DAY);
    w.written();
    // A bucket written again holds the later figure, not the sum.
    w.record('gh', 'search', bot('support-bot'), T0 + 2 * HOUR + 1);
    store.saveCallers(w.rows(T0 + 3 * HOUR), T0 + 3 * HOUR - DAY);
    w.written();
    store.close();

    store = new StateStore(file, { writer: true });
    const restored = new CallerWindow({ windowMs: DAY, maxAgents: 5 });
    restored.load(store.callersSince(T0 + 3 * HOUR - DAY), T0 + 3 * HOUR);
    assert.deepEqual(restored.view('gh', T0 + 3 * HOUR), w.view('gh', T0 + 3 * HOUR));
    assert.equal(restored.view('gh', T0 + 3 * HOUR).total_calls, 3);

    // Buckets before the window are pruned at the next write; a forgotten server goes at once.
    store.saveCallers([], T0 + HOUR + 1);
    assert.deepEqual([...new Set(store.callersSince(0).map((r) => r.bucket))].sort(), [T0 + 2 * HOUR]);
    store.forgetCallers('gh');
    assert.deepEqual(store.callersSince(0), []);
    store.close();
  });

  it('a read-only store on a file from before the table reads no callers and does not fail', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mcpwatch-callers-')), 'state.db');
    new StateStore(file, { writer: true }).close();
    const db = new Database(file);
    db.exec('DROP TABLE agent_calls');
    db.close();
    const reader = new StateStore(file, { readonly: true });
    assert.deepEqual(reader.callersSince(0), []);
    reader.close();
  });
});
