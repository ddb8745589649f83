// What an agent's start-up reads of a large state file: when each server was last watched, as one
// grouped query over every probe minute (before) and as one primary-key lookup per server (what
// StateStore.lastMinute does). Prints figures; `node dist/bench/state-start.js [--servers N] [--days D]`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StateStore } from '../src/store/state.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const SERVERS = Number(arg('servers', '3000'));
const DAYS = Number(arg('days', '1'));
if (!Number.isInteger(SERVERS) || SERVERS < 1 || !(DAYS > 0)) {
  console.error('--servers: a positive integer; --days: a positive number');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-bench-state-'));
const file = join(dir, 'state.db');
new StateStore(file, { writer: true }).close();
const db = new Database(file);
const minutes = Math.round(DAYS * 1440);
const insert = db.prepare('INSERT INTO probe_minutes (server, minute, ok, failed, latency_sum, latency_max) VALUES (?, ?, 6, 0, 30, 8)');
const t0 = performance.now();
db.transaction(() => {
  for (let s = 0; s < SERVERS; s++) for (let m = 0; m < minutes; m++) insert.run(`server-${s}`, m);
})();
db.close();
console.log(`${SERVERS} servers × ${minutes} minutes = ${SERVERS * minutes} rows written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

const names = Array.from({ length: SERVERS }, (_, s) => `server-${s}`);
const grouped = new Database(file, { readonly: true });
const byGroup = grouped.prepare('SELECT server, MAX(minute) AS minute FROM probe_minutes GROUP BY server');
const store = new StateStore(file, { readonly: true });
console.log('| round | GROUP BY server over the table (ms) | one lookup per server (ms) |');
console.log('| ---: | ---: | ---: |');
for (let round = 1; round <= 3; round++) {
  let t = performance.now();
  const a = byGroup.all().length;
  const group = performance.now() - t;
  t = performance.now();
  let b = 0;
  for (const n of names) if (store.lastMinute(n) !== undefined) b++;
  const lookups = performance.now() - t;
  if (a !== b) throw new Error(`the two ways disagree: ${a} against ${b} servers`);
  console.log(`| ${round} | ${group.toFixed(0)} | ${lookups.toFixed(1)} |`);
}
grouped.close();
store.close();
rmSync(dir, { recursive: true, force: true });
