// store/ owns the small local state mcpwatch needs between restarts: tool-schema snapshots,
// incidents, per-minute probe aggregates for rolling availability, which agents call each server,
// and each server's state machine with what each notifier was last told of it (so that a restart
// does not alert an incident again). It is not a time-series database (history lives in the user's
// Prometheus); retention is bounded. Nothing else opens the file.
import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Assessment, EraVerdict } from '../pipeline/assess.js';
import { STATUSES, type ServerStatus } from '../pipeline/status.js';
import { isMachineMemory, type MachineMemory } from '../pipeline/state-machine.js';
import { splitByMinute, UptimeTracker, uptimeRatio, type UptimeSpan } from '../pipeline/uptime.js';
import { redactDeep, redactText } from '../pipeline/redact.js';
import type { CallerRow } from '../pipeline/callers.js';
import { makeDirectory } from './directory.js';

/** The state file cannot be used: locked by another agent, corrupt, or not writable. */
export class StateError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`state file ${file}: ${message}`);
    this.name = 'StateError';
  }
}

interface Snapshot {
  server: string;
  hash: string;
  tools: unknown[];
  takenAt: number;
}

export interface Incident {
  id: number;
  server: string;
  state: ServerStatus;
  cause: string;
  errorType: string | null;
  startedAt: number;
  endedAt: number | null;
}

export interface MinuteAggregate {
  server: string;
  minute: number;
  ok: number;
  failed: number;
  latencySum: number;
  latencyMax: number;
  /** Time in this minute during which the server was observed up / not up (pipeline/uptime.ts). */
  upMs: number;
  downMs: number;
}

interface AvailabilityWindow {
  upMs: number;
  downMs: number;
  /** upMs / (upMs + downMs), or null when nothing was observed in the window. */
  ratio: number | null;
}

const SCHEMA_VERSION = 1;
const MINUTE = 60_000;
/** Tool-list snapshots kept per server: only the last is read, the rest are for a person looking. */
export const MAX_SNAPSHOTS_PER_SERVER = 20;
/** Drift events kept per server, newest first (the scorecard counts at most a few in 7 days). */
export const MAX_DRIFT_EVENTS_PER_SERVER = 200;
/**
 * Minutes of probe counts held once a write has failed (300 servers: about 18,000 aggregates,
 * 2 MiB). Past that the oldest minute is given up and counted in droppedMinutes. Until a write
 * fails there is no cap: a caller may record any history before its first flush.
 */
const PENDING_MINUTES = 60;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
  server TEXT NOT NULL,
  hash TEXT NOT NULL,
  tools TEXT NOT NULL,
  taken_at INTEGER NOT NULL,
  PRIMARY KEY (server, taken_at)
);
CREATE TABLE IF NOT EXISTS incidents (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  server TEXT NOT NULL,
  state TEXT NOT NULL,
  cause TEXT NOT NULL,
  error_type TEXT,
  started_at INTEGER NOT NULL,
  ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS incidents_server ON incidents (server, started_at);
CREATE TABLE IF NOT EXISTS probe_minutes (
  server TEXT NOT NULL,
  minute INTEGER NOT NULL,
  ok INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  latency_sum REAL NOT NULL DEFAULT 0,
  latency_max REAL NOT NULL DEFAULT 0,
  up_ms REAL NOT NULL DEFAULT 0,
  down_ms REAL NOT NULL DEFAULT 0,
  PRIMARY KEY (server, minute)
);
CREATE TABLE IF NOT EXISTS drift_events (
  server TEXT NOT NULL,
  at INTEGER NOT NULL,
  severity TEXT NOT NULL,
  diff TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS drift_events_server ON drift_events (server, at);
CREATE TABLE IF NOT EXISTS eras (
  server TEXT PRIMARY KEY,
  verdict TEXT NOT NULL,
  learned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS server_states (
  server TEXT PRIMARY KEY,
  memory TEXT NOT NULL,
  incident_id INTEGER,
  seen_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS notified (
  notifier TEXT NOT NULL,
  server TEXT NOT NULL,
  state TEXT NOT NULL,
  held TEXT,
  at INTEGER NOT NULL,
  PRIMARY KEY (notifier, server)
);
CREATE TABLE IF NOT EXISTS agent_calls (
  server TEXT NOT NULL,
  agent TEXT NOT NULL,
  tool TEXT NOT NULL,
  bucket INTEGER NOT NULL,
  calls INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  PRIMARY KEY (server, agent, tool, bucket)
);
`;

interface StateOptions {
  /** Take the single-writer lock (the agent). Readers such as `scorecard` do not. */
  writer?: boolean;
  readonly?: boolean;
  /** Told of a row that cannot be read and is passed over (the agent's log); the reader goes on without it. */
  warn?: (fields: Record<string, unknown>, msg: string) => void;
}

/**
 * The embedded SQLite state. Every write is a transaction, so a crash loses at most the write in
 * flight and never leaves a half-written snapshot. One agent writes a file at a time: a pid lock file
 * beside it refuses a second agent with a clear error instead of two agents interleaving incidents.
 */
export class StateStore {
  readonly file: string;
  private readonly db: Database.Database;
  private lockFile: string | undefined;
  private readonly stmts;
  /** Minute aggregates not written yet: minute → server → counts, oldest minute first. */
  private readonly pending = new Map<number, Map<string, MinuteAggregate>>();
  /** Minutes of counts given up because the file could not be written for PENDING_MINUTES. */
  droppedMinutes = 0;
  /** The last flush failed: counts are piling up, and past PENDING_MINUTES the oldest go. */
  private writeFailing = false;
  private readonly uptime = new UptimeTracker();
  private readonly warn: StateOptions['warn'];

  constructor(path: string, opts: StateOptions = {}) {
    this.file = resolve(path);
    this.warn = opts.warn;
    if (!opts.readonly) {
      try {
        makeDirectory(dirname(this.file));
      } catch (err) {
        const { code, message, syscall } = err as NodeJS.ErrnoException;
        // makeDirectory's own error (no syscall) names the file in the way; the system's only a code.
        throw new StateError(this.file, `cannot create directory ${dirname(this.file)}: ${syscall === undefined ? message : (code ?? message)}`);
      }
    }
    if (opts.writer) this.lockFile = acquireLock(this.file);
    let db: Database.Database | undefined;
    try {
      this.db = db = new Database(this.file, { readonly: Boolean(opts.readonly), fileMustExist: Boolean(opts.readonly), timeout: 2000 });
      const check = this.db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
      // Before any write (the journal mode, the tables, the columns): a file of a newer mcpwatch is
      // one its user may still need for that version, and a reader would misread it.
      const version = schemaVersion(this.db);
      if (version !== undefined && Number(version) > SCHEMA_VERSION) {
        throw new StateError(
          this.file,
          `written by a newer mcpwatch (schema ${version}, this one reads up to ${SCHEMA_VERSION}); left unchanged: run the newer mcpwatch on it, or move it aside (or set state.path to another file) and this one will start a new one`,
        );
      }
      if (!opts.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL');
        this.db.exec(SCHEMA);
        addUptimeColumns(this.db);
        this.db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run('schema_version', String(SCHEMA_VERSION));
      }
      this.stmts = this.prepare();
    } catch (err) {
      this.releaseLock();
      db?.close();
      if (err instanceof StateError) throw err;
      throw new StateError(this.file, describeSqliteError(err));
    }
  }

  private prepare() {
    const db = this.db;
    // A file from before time was kept, opened read-only (never migrated), reads as no time observed.
    const timed = hasUptimeColumns(db);
    const up = timed ? 'up_ms' : '0';
    const down = timed ? 'down_ms' : '0';
    return {
      lastSnapshot: db.prepare('SELECT server, hash, tools, taken_at FROM snapshots WHERE server = ? ORDER BY taken_at DESC LIMIT 1'),
      insertSnapshot: db.prepare('INSERT OR REPLACE INTO snapshots (server, hash, tools, taken_at) VALUES (?, ?, ?, ?)'),
      insertDrift: db.prepare('INSERT INTO drift_events (server, at, severity, diff) VALUES (?, ?, ?, ?)'),
      capSnapshots: db.prepare(
        'DELETE FROM snapshots WHERE server = @server AND taken_at < (SELECT taken_at FROM snapshots WHERE server = @server ORDER BY taken_at DESC LIMIT 1 OFFSET @keep)',
      ),
      capDrift: db.prepare(
        'DELETE FROM drift_events WHERE server = @server AND rowid NOT IN (SELECT rowid FROM drift_events WHERE server = @server ORDER BY at DESC, rowid DESC LIMIT @keep)',
      ),
      openIncident: db.prepare('INSERT INTO incidents (server, state, cause, error_type, started_at) VALUES (?, ?, ?, ?, ?)'),
      closeIncidents: db.prepare('UPDATE incidents SET ended_at = ? WHERE server = ? AND ended_at IS NULL'),
      openIncidents: db.prepare('SELECT * FROM incidents WHERE ended_at IS NULL ORDER BY started_at'),
      incidentsSince: db.prepare('SELECT * FROM incidents WHERE server = ? AND (ended_at IS NULL OR ended_at >= ?) ORDER BY started_at'),
      // Null only for a read-only store on an unmigrated file, which never writes.
      addMinute: timed
        ? db.prepare(
            `INSERT INTO probe_minutes (server, minute, ok, failed, latency_sum, latency_max, up_ms, down_ms) VALUES (@server, @minute, @ok, @failed, @sum, @max, @up, @down)
             ON CONFLICT (server, minute) DO UPDATE SET ok = ok + @ok, failed = failed + @failed, latency_sum = latency_sum + @sum, latency_max = MAX(latency_max, @max),
               up_ms = up_ms + @up, down_ms = down_ms + @down`,
          )
        : null,
      availability: db.prepare(`SELECT COALESCE(SUM(${up}), 0) AS upMs, COALESCE(SUM(${down}), 0) AS downMs FROM probe_minutes WHERE server = ? AND minute >= ?`),
      minutesSince: db.prepare(
        `SELECT server, minute, ok, failed, latency_sum AS latencySum, latency_max AS latencyMax, ${up} AS upMs, ${down} AS downMs FROM probe_minutes WHERE server = ? AND minute >= ? ORDER BY minute`,
      ),
      driftSince: db.prepare('SELECT at, severity FROM drift_events WHERE server = ? AND at >= ? ORDER BY at'),
      pruneMinutes: db.prepare('DELETE FROM probe_minutes WHERE minute < ?'),
      pruneIncidents: db.prepare('DELETE FROM incidents WHERE ended_at IS NOT NULL AND ended_at < ?'),
      pruneDrift: db.prepare('DELETE FROM drift_events WHERE at < ?'),
      pruneSnapshots: db.prepare(
        'DELETE FROM snapshots WHERE taken_at < ? AND taken_at < (SELECT MAX(s2.taken_at) FROM snapshots s2 WHERE s2.server = snapshots.server)',
      ),
      era: db.prepare('SELECT verdict FROM eras WHERE server = ?'),
      saveEra: db.prepare('INSERT OR REPLACE INTO eras (server, verdict, learned_at) VALUES (?, ?, ?)'),
      // The table is new: a read-only store on an older file has none.
      ...(hasTable(db, 'agent_calls')
        ? {
            saveCallers: db.prepare(
              'INSERT INTO agent_calls (server, agent, tool, bucket, calls, last_seen) VALUES (@server, @agent, @tool, @bucket, @calls, @lastSeen) ON CONFLICT (server, agent, tool, bucket) DO UPDATE SET calls = @calls, last_seen = @lastSeen',
            ),
            callersSince: db.prepare('SELECT server, agent, tool, bucket, calls, last_seen AS lastSeen FROM agent_calls WHERE bucket >= ?'),
            pruneCallers: db.prepare('DELETE FROM agent_calls WHERE bucket < ?'),
            forgetCallers: db.prepare('DELETE FROM agent_calls WHERE server = ?'),
          }
        : {}),
      servers: db.prepare('SELECT DISTINCT server FROM probe_minutes UNION SELECT DISTINCT server FROM snapshots UNION SELECT DISTINCT server FROM incidents'),
      // One server at a time: on the primary key, where grouping the whole table read every row (a
      // start-up blocked for seconds with days of minutes for thousands of servers).
      lastMinute: db.prepare('SELECT MAX(minute) AS minute FROM probe_minutes WHERE server = ?'),
      lastIncident: db.prepare('SELECT * FROM incidents WHERE server = ? ORDER BY started_at DESC, id DESC LIMIT 1'),
      // The tables are new: a read-only store on an older file has none (and only the agent reads them).
      ...(hasTable(db, 'server_states') && hasTable(db, 'notified')
        ? {
            saveState: db.prepare(
              `INSERT OR REPLACE INTO server_states (server, memory, incident_id, seen_at)
               VALUES (@server, @memory, (SELECT id FROM incidents WHERE server = @server AND ended_at IS NULL ORDER BY started_at DESC, id DESC LIMIT 1), @seenAt)`,
            ),
            serverStates: db.prepare('SELECT server, memory, incident_id, seen_at FROM server_states'),
            saveNotified: db.prepare('INSERT OR REPLACE INTO notified (notifier, server, state, held, at) VALUES (?, ?, ?, ?, ?)'),
            notified: db.prepare('SELECT notifier, server, state, held FROM notified'),
            forgetState: db.prepare('DELETE FROM server_states WHERE server = ?'),
            forgetNotified: db.prepare('DELETE FROM notified WHERE server = ?'),
          }
        : {}),
    };
  }

  /**
   * The server's drift baseline. One that cannot be read is no baseline, as for a new server: the next
   * check takes a new one, and only a change made since the unreadable snapshot goes unreported;
   * refusing to start would stop every server's checks over one row.
   */
  lastSnapshot(server: string): Snapshot | undefined {
    const row = this.stmts.lastSnapshot.get(server) as { server: string; hash: string; tools: string; taken_at: number } | undefined;
    if (!row) return undefined;
    const tools = this.json('snapshots.tools', server, row.tools, Array.isArray, 'no drift baseline: the next check takes a new one, as for a new server');
    return tools && { server: row.server, hash: row.hash, tools, takenAt: row.taken_at };
  }

  /** Keeps what one check changed (pipeline/assess.ts): its count, a new tool snapshot, a transition. */
  recordCheck(server: string, at: number, a: Assessment, holdMs: number): void {
    this.recordProbe(server, at, a.up, a.latencyMs, holdMs);
    if (a.snapshot) {
      const { snapshot, drift } = a.snapshot;
      this.saveSnapshot({ server, hash: snapshot.hash, tools: snapshot.tools, takenAt: at }, drift && { severity: drift.severity, diff: drift.diff });
    }
    const t = a.transition;
    if (t) this.transition(server, at, t.to === 'up' ? null : { state: t.to, cause: t.cause, errorType: t.errorType });
    if (a.verdict) this.stmts.saveEra.run(server, JSON.stringify(a.verdict), at);
  }

  /** The MCP era a server was last found to speak, so a restarted agent need not find it out again. */
  era(server: string): EraVerdict | undefined {
    const row = this.stmts.era.get(server) as { verdict: string } | undefined;
    return row && this.json('eras.verdict', server, row.verdict, isEraVerdict, 'the era is found out again');
  }

  /**
   * A JSON column's value, or undefined when it is not JSON or not the shape written (a damaged file
   * that passes quick_check): the row is left in the file, the reader is told what happens instead.
   */
  private json<T>(column: string, server: string, text: string, valid: (v: unknown) => v is T, instead: string): T | undefined {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      value = undefined;
    }
    if (value !== undefined && valid(value)) return value;
    this.warn?.({ file: this.file, column, server }, `state file ${this.file}: ${column} of server ${server} cannot be read; passed over, ${instead}`);
    return undefined;
  }

  /**
   * Stores a new snapshot and, when it differs from the last, the drift diff: one transaction. Both
   * are capped per server, not only by age: a schema that changes on every check wrote 20 MB in 12 s.
   */
  saveSnapshot(snap: Snapshot, drift?: { severity: string; diff: unknown }): void {
    this.db.transaction(() => {
      this.stmts.insertSnapshot.run(snap.server, snap.hash, JSON.stringify(snap.tools), snap.takenAt);
      this.stmts.capSnapshots.run({ server: snap.server, keep: MAX_SNAPSHOTS_PER_SERVER - 1 });
      if (drift) {
        this.stmts.insertDrift.run(snap.server, snap.takenAt, drift.severity, JSON.stringify(drift.diff));
        this.stmts.capDrift.run({ server: snap.server, keep: MAX_DRIFT_EVENTS_PER_SERVER });
      }
    })();
  }

  /** Closes the server's open incident (if any) and opens one for the new state, atomically. */
  transition(server: string, at: number, next: { state: ServerStatus; cause: string; errorType: string | null } | null): void {
    this.db.transaction(() => {
      this.stmts.closeIncidents.run(at, server);
      // Causes quote probe messages; the file outlives the agent, so no URL credential goes in.
      if (next) this.stmts.openIncident.run(server, next.state, redactText(next.cause), next.errorType, at);
    })();
  }

  /**
   * Keeps what each server's state machine knows (memory()) and when the server was last checked,
   * with the incident open now, so that a restarted agent can tell whether the memory still matches
   * the incidents (an older mcpwatch run on the file in between writes incidents, not this).
   */
  saveStates(rows: Iterable<{ server: string; memory: MachineMemory; seenAt: number }>): void {
    const save = this.stmts.saveState;
    if (!save) return;
    this.db.transaction(() => {
      // Its errors quote what servers said (a check's tool output), URLs with credentials too.
      for (const r of rows) save.run({ server: r.server, memory: JSON.stringify(redactDeep(r.memory)), seenAt: r.seenAt });
    })();
  }

  /** What saveStates() kept, by server; a memory that cannot be read is undefined (warned about), the rest of its row kept. */
  serverStates(): Map<string, StoredServerState> {
    const rows = (this.stmts.serverStates?.all() ?? []) as Array<{ server: string; memory: string; incident_id: number | null; seen_at: number }>;
    return new Map(
      rows.map((r) => [
        r.server,
        { memory: this.json('server_states.memory', r.server, r.memory, isMachineMemory, 'the server is taken as the open incident says, or as new'), incidentId: r.incident_id, seenAt: r.seen_at },
      ]),
    );
  }

  /** The minute of the server's last probe counts (call flush() first): when an agent last watched it. */
  lastMinute(server: string): number | undefined {
    return (this.stmts.lastMinute.get(server) as { minute: number | null } | undefined)?.minute ?? undefined;
  }

  /** The server's latest incident, open or closed. */
  lastIncident(server: string): Incident | undefined {
    const row = this.stmts.lastIncident.get(server) as IncidentRow | undefined;
    return row && toIncident(row);
  }

  /**
   * What a notifier (by its key) last told of a server: the state its last delivered event left it
   * in, and what the notifier itself holds for it (the Alertmanager's active alerts), as JSON.
   */
  saveNotified(notifier: string, server: string, state: ServerStatus, held: unknown, at: number): void {
    this.stmts.saveNotified?.run(notifier, server, state, held === undefined ? null : JSON.stringify(held), at);
  }

  /** saveNotified()'s rows, by server then notifier key; a row that cannot be read is passed over (warned about). */
  notified(): Map<string, Map<string, Notified>> {
    const out = new Map<string, Map<string, Notified>>();
    for (const r of (this.stmts.notified?.all() ?? []) as Array<{ notifier: string; server: string; state: string; held: string | null }>) {
      if (!(STATUSES as readonly string[]).includes(r.state)) {
        this.warn?.({ file: this.file, column: 'notified.state', server: r.server }, `state file ${this.file}: notified.state of server ${r.server} cannot be read; passed over, as if that notifier had not been told`);
        continue;
      }
      const held = r.held === null ? undefined : this.json('notified.held', r.server, r.held, (v: unknown): v is unknown => v !== undefined, 'the notifier holds nothing for it');
      let byKey = out.get(r.server);
      if (!byKey) out.set(r.server, (byKey = new Map()));
      byKey.set(r.notifier, { state: r.state as ServerStatus, held });
    }
    return out;
  }

  /**
   * A server no longer monitored (removed, renamed, another shard's): its open incident ends at `at`,
   * and what was kept to resume it goes. Its snapshots, counts and closed incidents stay until pruned.
   */
  forgetServer(server: string, at: number): void {
    this.db.transaction(() => {
      this.stmts.closeIncidents.run(at, server);
      this.stmts.forgetState?.run(server);
      this.stmts.forgetNotified?.run(server);
    })();
  }

  openIncidents(): Incident[] {
    return (this.stmts.openIncidents.all() as IncidentRow[]).map(toIncident);
  }

  incidentsSince(server: string, since: number): Incident[] {
    return (this.stmts.incidentsSince.all(server, since) as IncidentRow[]).map(toIncident);
  }

  /**
   * Counts a probe into its minute, in memory: one upsert per check was a tenth of the agent's CPU at
   * 300 servers. flush() writes them in one transaction (the agent every 30 s, and every read first).
   * This never touches the file, so a failing disk cannot stop a check from being judged; a crash
   * loses at most the counts since the last flush, never a snapshot or an incident.
   *
   * The probe is also an observation: the previous one's state is credited as time up to `at`, at
   * most `holdMs` past it (pipeline/uptime.ts: observationHoldMs).
   */
  recordProbe(server: string, at: number, ok: boolean, latencyMs: number | null, holdMs: number): void {
    this.addTime(this.uptime.observe(server, at, ok, holdMs));
    const p = this.aggregate(server, at);
    if (ok) p.ok++;
    else p.failed++;
    p.latencySum += latencyMs ?? 0;
    p.latencyMax = Math.max(p.latencyMax, latencyMs ?? 0);
  }

  /** Credits every server's last observation (or only these servers') up to `now`, so the next flush carries time until now. */
  checkpoint(now: number, servers?: Iterable<string>): void {
    this.addTime(this.uptime.checkpoint(now, servers));
  }

  /** Credits the server's last observation up to `now` and counts no further time for it. */
  forget(server: string, now: number): void {
    this.addTime(this.uptime.forget(server, now));
  }

  private addTime(spans: UptimeSpan[]): void {
    for (const span of spans) {
      for (const { minute, ms } of splitByMinute(span, MINUTE)) {
        const p = this.aggregate(span.server, minute);
        if (span.up) p.upMs += ms;
        else p.downMs += ms;
      }
    }
  }

  private aggregate(server: string, at: number): MinuteAggregate {
    const minute = Math.floor(at / MINUTE) * MINUTE;
    let servers = this.pending.get(minute);
    if (!servers) {
      this.pending.set(minute, (servers = new Map()));
      // A file that stays unwritable must not grow memory without bound: the oldest minutes go.
      while (this.writeFailing && this.pending.size > PENDING_MINUTES) {
        this.pending.delete(this.pending.keys().next().value as number);
        this.droppedMinutes++;
      }
    }
    let p = servers.get(server);
    if (!p) {
      p = { server, minute, ok: 0, failed: 0, latencySum: 0, latencyMax: 0, upMs: 0, downMs: 0 };
      servers.set(server, p);
    }
    return p;
  }

  /**
   * Writes the in-memory minute aggregates in one transaction. If the write fails (disk full, file
   * gone), the error is thrown and every count stays in memory for the next attempt.
   */
  flush(): void {
    if (this.pending.size === 0) return;
    try {
      this.db.transaction(() => {
        for (const servers of this.pending.values()) {
          for (const p of servers.values()) this.stmts.addMinute!.run({ server: p.server, minute: p.minute, ok: p.ok, failed: p.failed, sum: p.latencySum, max: p.latencyMax, up: p.upMs, down: p.downMs });
        }
      })();
    } catch (err) {
      this.writeFailing = true;
      throw err;
    }
    this.writeFailing = false;
    this.pending.clear();
  }

  availability(server: string, windowMs: number, now = Date.now()): AvailabilityWindow {
    this.flush();
    const row = this.stmts.availability.get(server, Math.floor((now - windowMs) / MINUTE) * MINUTE) as { upMs: number; downMs: number };
    return { upMs: row.upMs, downMs: row.downMs, ratio: uptimeRatio(row.upMs, row.downMs) };
  }

  minutesSince(server: string, since: number): MinuteAggregate[] {
    this.flush();
    return this.stmts.minutesSince.all(server, since) as MinuteAggregate[];
  }

  /** The server's drift events from `since` on; their diffs are kept for a person reading the file, no reader needs them. */
  driftSince(server: string, since: number): Array<{ at: number; severity: string }> {
    return this.stmts.driftSince.all(server, since) as Array<{ at: number; severity: string }>;
  }

  servers(): string[] {
    this.flush();
    return (this.stmts.servers.all() as Array<{ server: string }>).map((r) => r.server);
  }

  /**
   * Writes the callers' buckets that changed (pipeline/callers.ts rows(): absolute counts, so a
   * bucket written twice holds the later figure) and drops buckets older than `since`.
   */
  saveCallers(rows: readonly CallerRow[], since: number): void {
    const { saveCallers, pruneCallers } = this.stmts;
    if (!saveCallers || !pruneCallers) return;
    this.db.transaction(() => {
      for (const r of rows) saveCallers.run(r);
      pruneCallers.run(since);
    })();
  }

  /** The callers' buckets from `since` on, for an agent starting up. */
  callersSince(since: number): CallerRow[] {
    return (this.stmts.callersSince?.all(since) as CallerRow[] | undefined) ?? [];
  }

  /** Forgets a server's callers (removed from the configuration). */
  forgetCallers(server: string): void {
    this.stmts.forgetCallers?.run(server);
  }

  /** Drops aggregates, closed incidents and drift events older than the retention; keeps each server's latest snapshot. */
  prune(retentionMs: number, now = Date.now()): void {
    this.flush();
    const cutoff = now - retentionMs;
    this.db.transaction(() => {
      this.stmts.pruneMinutes.run(cutoff);
      this.stmts.pruneIncidents.run(cutoff);
      this.stmts.pruneDrift.run(cutoff);
      this.stmts.pruneSnapshots.run(cutoff);
    })();
  }

  close(): void {
    try {
      if (this.db.open) {
        try {
          if (!this.db.readonly) this.flush();
        } finally {
          this.db.close();
        }
      }
    } finally {
      this.releaseLock();
    }
  }

  private releaseLock(): void {
    if (!this.lockFile) return;
    try {
      unlinkSync(this.lockFile);
    } catch {
      // Already gone: nothing to release.
    }
    held.delete(this.lockFile);
    this.lockFile = undefined;
  }
}

/** A server's row of server_states (StateStore.saveStates). */
export interface StoredServerState {
  /** Undefined when the row cannot be read. */
  memory: MachineMemory | undefined;
  /** The incident open when the row was written, if any. */
  incidentId: number | null;
  /** When the server was last checked. */
  seenAt: number;
}

/** What a notifier last told of a server (StateStore.saveNotified). */
export interface Notified {
  state: ServerStatus;
  /** What the notifier holds for the server (JSON), if anything. */
  held: unknown;
}

interface IncidentRow {
  id: number;
  server: string;
  state: string;
  cause: string;
  error_type: string | null;
  started_at: number;
  ended_at: number | null;
}

function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** The schema version the file was written with; undefined for a new file (no meta table or row yet). */
function schemaVersion(db: Database.Database): string | undefined {
  if (!hasTable(db, 'meta')) return undefined;
  return (db.prepare('SELECT value FROM meta WHERE key = ?').get('schema_version') as { value: string } | undefined)?.value;
}

function hasUptimeColumns(db: Database.Database): boolean {
  const columns = db.prepare("SELECT name FROM pragma_table_info('probe_minutes')").all() as Array<{ name: string }>;
  return columns.some((c) => c.name === 'up_ms');
}

/**
 * Files written before availability was kept as time lack the two columns. Adding them is compatible
 * both ways (an older agent's inserts name their columns), so the schema version stays.
 */
function addUptimeColumns(db: Database.Database): void {
  if (hasUptimeColumns(db)) return;
  db.exec('ALTER TABLE probe_minutes ADD COLUMN up_ms REAL NOT NULL DEFAULT 0; ALTER TABLE probe_minutes ADD COLUMN down_ms REAL NOT NULL DEFAULT 0;');
}

function isEraVerdict(v: unknown): v is EraVerdict {
  const e = v as Partial<Record<'kind' | 'discover', unknown>> | null;
  return typeof e === 'object' && e !== null && (e.kind === 'legacy' || (e.kind === 'modern' && typeof e.discover === 'object' && e.discover !== null));
}

function toIncident(r: IncidentRow): Incident {
  return { id: r.id, server: r.server, state: r.state as ServerStatus, cause: r.cause, errorType: r.error_type, startedAt: r.started_at, endedAt: r.ended_at };
}

function describeSqliteError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  switch (e.code) {
    case 'SQLITE_NOTADB':
    case 'SQLITE_CORRUPT':
      return `corrupt or not an SQLite database (${e.code}); move it aside and mcpwatch will start a new one`;
    case 'SQLITE_CANTOPEN':
      return `cannot open (${e.code}): check that the directory exists and is writable`;
    case 'SQLITE_READONLY':
    case 'SQLITE_PERM':
    case 'SQLITE_AUTH':
      return `not writable (${e.code}): check the file's and directory's permissions`;
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      return `locked by another process (${e.code})`;
    default:
      return e.message ?? String(err);
  }
}

/**
 * A pid lock file next to the database. A stale lock (its process is gone) is taken over, so a crash
 * never leaves the agent unable to start.
 */
/** Lock files this process holds: a second store on the same file in one process is refused too. */
const held = new Set<string>();

function acquireLock(file: string): string {
  const lock = `${file}.lock`;
  if (held.has(lock)) throw new StateError(file, `locked by another mcpwatch agent (pid ${process.pid}); each agent needs its own state.path`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lock, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      held.add(lock);
      return lock;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new StateError(file, `cannot create lock file ${lock}: ${code ?? (err as Error).message}`);
      const pid = Number(readFileSync(lock, 'utf8').trim());
      // Our own pid in a lock we do not hold is a leftover from a container restart that reused it.
      if (pid && pid !== process.pid && processAlive(pid)) {
        throw new StateError(file, `locked by another mcpwatch agent (pid ${pid}); each agent needs its own state.path`);
      }
      try {
        unlinkSync(lock);
      } catch {
        // Raced with another starter; the next attempt decides.
      }
    }
  }
  throw new StateError(file, `cannot take the lock ${lock}`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
