import { ProtocolError, SdkError, SdkErrorCode, SdkHttpError, type PriorDiscovery } from '@modelcontextprotocol/client';
import type { CheckConfig, ServerConfig } from '../config/schema.js';
import { runChecks } from './checks.js';
import type { CheckOutcome } from '../pipeline/assess.js';
import { definitiveFailure } from '../pipeline/start.js';
import { ProbeTimeout, rawFromError, toProbeError } from './classify.js';
import { closeTimed, confirmAlive, DEFAULT_MAX_TOOL_PAGES, Deadline, emptyOutcome, fail, finishOutcome, goneDuringChecks, listTools, noteInvalidOutput, noteRedirect, openAndProbe, probeServer, refusesEra, serverFacts, sessionCheckPhase, takeTokenPhase, verdictOf, type Opened } from './probe.js';
import type { CheckRun, Connector, McpConnection, ProbeError, ProbeOutcome, TransportKind } from './prober.js';
import { TRANSPORTS } from './transports.js';
import type { ProcessGroups } from './stdio.js';
import { Knocker, LIVENESS } from './liveness.js';

export type { CheckOutcome } from '../pipeline/assess.js';
// What the agent asks of probe/auth.ts, through the module it loads once there are servers to probe.
export { forgetCredentials, setAuthLog } from './auth.js';
export { ProcessGroups } from './stdio.js';

/** Why a session asks to be checked now rather than at its next interval. */
export type SessionSignal = 'closed' | 'stream_end' | 'knock_refused' | 'list_changed';

export interface SessionOptions {
  onSignal: (signal: SessionSignal) => void;
  maxToolPages?: number;
  now?: () => number;
  /** The era the server was last found to speak (kept in the state file across restarts). */
  prior?: PriorDiscovery;
  /** The owner's record of running stdio servers (ProcessGroups.killAll at its stop). */
  processGroups?: ProcessGroups;
  /** How long an open stream goes without a check before the server's port is knocked on (LIVENESS; tests shorten it). */
  liveness?: number;
}

/** Whether a remembered era may stand in for finding it out under the configured `protocol`. */
function usable(prior: PriorDiscovery | undefined, server: ServerConfig): PriorDiscovery | undefined {
  if (!prior || server.protocol === 'auto') return prior;
  return (prior.kind === 'modern') === (server.protocol === 'modern') ? prior : undefined;
}

const MAX_RESTART_DELAY = 60_000;
/** The longest a session's stream that keeps failing for now waits to be asked for again (StreamRetry). */
const MAX_STREAM_RETRY_WAIT = 10 * 60_000;
/**
 * A server process that ran this long before it died starts its restart back-off over; one that died
 * sooner is crash-looping and keeps doubling it (Kubernetes' CrashLoopBackOff resets after 10 minutes too).
 */
const STABLE_RUN = 10 * 60_000;
/**
 * How long a 2025 session over Streamable HTTP is kept under `protocol: auto` before it is opened
 * anew, finding the era out again. A server redeployed on an SDK that serves both eras statelessly
 * (SDK v2's handler) answers the old session's requests as they come, so no new connection would
 * ever ask it for 2026-07-28; one new handshake an hour is what finding that out costs. Also how
 * long a server whose server/discover failed (skipsDiscovery) is not asked it again.
 */
export const LEGACY_SESSION_RECHECK = 60 * 60_000;

/**
 * A check's outcome made of a live session's listing, by adding the check's fields to it rather than
 * copying its dozen fields into a new object, which was a measurable part of a check's CPU.
 */
function asCheck(out: ProbeOutcome, partial: boolean): CheckOutcome {
  const check = out as CheckOutcome;
  check.definitive = false;
  check.partial = partial;
  check.sessionExpired = false;
  return check;
}

/** A check is due this much before its interval is up: the scheduler's timer may fire a hair early. */
function dueSlack(interval: number): number {
  return Math.min(1000, interval * 0.05);
}

/**
 * When a stream of the session's own (the 2026-07-28 subscriptions/listen, the 2025 standalone GET)
 * that the server could not open for now is asked for again: at the next check after the first
 * failure, then, while the failures go on, after two intervals, four, doubling up to
 * MAX_STREAM_RETRY_WAIT (or the interval, where it is longer). Asked at every check, a server that
 * refuses it for ever would cost a request per check. A stream that opens, or a new connection,
 * starts it over.
 */
class StreamRetry {
  /** Asks in a row that failed since the stream last opened. */
  private failures = 0;
  private askedAt = 0;
  /** The earliest check that may ask again. */
  private retryAt = -Infinity;

  /** Whether a check starting at `now` may ask for the lost stream again. */
  due(now: number): boolean {
    return now >= this.retryAt;
  }

  asked(now: number): void {
    this.askedAt = now;
  }

  /** The last ask failed for now; `interval` is the server's check interval. */
  failed(interval: number): void {
    this.failures++;
    // Less the slack a check is due early by, or each wait would slip by a whole interval.
    const wait = this.failures <= 1 ? 0 : Math.min(interval * 2 ** (this.failures - 1), Math.max(interval, MAX_STREAM_RETRY_WAIT)) - dueSlack(interval);
    this.retryAt = this.askedAt + wait;
  }

  /** The stream opened, or a new connection began: the next failure is a first one. */
  startOver(): void {
    this.failures = 0;
    this.retryAt = -Infinity;
  }
}

/**
 * Keeps one live MCP session per server and checks over it, the way an agent holds its connections:
 * a stdio server keeps running (its exit is noticed at once), a Streamable HTTP session is reused
 * (a 404 for it is a `session_expired` finding), an SSE stream is watched for silence. A broken
 * session is replaced on the next check. What differs by transport (restart back-off, staleness)
 * is the transport's TransportKind, not a branch here.
 */
export class ServerSession {
  private conn: McpConnection | undefined;
  /**
   * When the server last sent anything, on any connection (undefined: not yet). A silence outlives
   * the connection it began on: a wedged server accepts each new connection and says nothing on it.
   */
  private lastHeard: number | undefined;
  private restartDelay = 0;
  private nextRestartAt = 0;
  /** When the running server process answered its first list (undefined: none is running). */
  private upSince: number | undefined;
  /** When the kept connection was opened (its era found out then, unless pinned or 2026-07-28). */
  private openedAt = 0;
  /** When server/discover last ended the server's process or got a 5xx, the 2025 era then found by a second handshake. */
  private discoveryFailedAt: number | undefined;
  private lastFailure: ProbeError | null = null;
  private closed = false;
  private readonly now: () => number;
  /** The era the server speaks, once known: later connections skip server/discover or its fallback. */
  private prior: PriorDiscovery | undefined;
  /** The era of a prior dropped after a permanent failure: what a failed handshake is named by until one succeeds. */
  private lastEra: PriorDiscovery['kind'] | undefined;
  /**
   * A failure (failureKey) after which finding the era out again found the server speaking the era
   * it was remembered in: the same failure at a later check is the server's own in that era,
   * reported as it is, not a reason to find the era out again at every check.
   */
  private failureInEra: string | undefined;
  /** The modern era's subscriptions/listen stream ended or failed for now: it is asked for again at a check (listenRetry says which). */
  private listenLost = false;
  private readonly listenRetry = new StreamRetry();
  /**
   * The 2025 era's standalone GET stream ended on a session that lives on, or its reopening was
   * refused: it is opened again at a check (streamRetry says which).
   */
  private streamLost = false;
  private readonly streamRetry = new StreamRetry();
  /**
   * The stream of the connection being opened ended before adopt(): the server opens it as soon as
   * the handshake is done, and a proxy may cut it while tools/list is still under way.
   */
  private streamCutWhileOpening = false;
  /** The stream of the connection being opened was refused for now (standaloneRetryable: a 5xx, 401, 408, 429) before adopt(): asked for again at a check. */
  private streamRefusedWhileOpening = false;
  /**
   * Connections a tools/list_changed came on before adopt(): the change may have followed the
   * listing that opened them, so it asks for a check once they are taken up.
   */
  private readonly changedBeforeAdopt = new WeakSet<McpConnection>();
  /**
   * A session ended with its connection (an SSE stream the server ended) and the server did not
   * answer the new one at once: a restart still under way. The new session that it answers next
   * replaces the forgotten one, as a 404 to a Streamable HTTP session kept across it would say.
   */
  private sessionLostUnseen = false;
  /** When a lost listen or GET stream last asked for a check on this connection. */
  private streamSignalAt = -Infinity;
  /**
   * Checks in a row that the running server process took and did not answer in time. It is kept
   * through `consecutive_failures_before_down` of them, as an agent that spawned its own copy keeps
   * that copy waiting: killed and started again at the first, a server that hangs answered again at
   * every next check, and its hang was never down, only a timeout counted now and then.
   */
  private unanswered = 0;
  /** The 2026-07-28 listen stream of the kept connection is open. */
  private listenOpen = false;
  /** The 2025 standalone GET stream of the kept connection (or of the one being opened) is open. */
  private getOpen = false;
  /** Knocks on the server's port while an open stream could hide its stop (watchStop). */
  private knocker: Knocker | undefined;
  /** When each configured check last ran and whether it failed (a failing check runs at every probe). */
  private readonly checkRuns = new Map<string, { at: number; failing: boolean }>();

  constructor(
    private server: ServerConfig,
    private readonly opts: SessionOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.prior = usable(opts.prior, server);
  }

  private get kind(): TransportKind {
    return TRANSPORTS[this.server.transport];
  }

  /**
   * The longest the next check may wait: a watched stream must be looked at within its silence
   * limit, or a silent one would never be called stale.
   */
  checkWithin(): number | undefined {
    if (this.server.fresh_connection) return undefined;
    const stale = this.kind.staleAfter(this.server);
    return stale === undefined ? undefined : stale * 1.25;
  }

  /** Whether the server's stream (listen, or the 2025 GET stream) was lost and waits to be opened again at a check (for tests and logs). */
  get streamLostAwaitingCheck(): boolean {
    return this.listenLost || this.streamLost;
  }

  /** PID of the stdio server this session keeps running, if any (for tests and logs). */
  get pid(): number | undefined {
    return (this.conn as { pid?: number } | undefined)?.pid;
  }

  /**
   * The configured checks due now: never run, failing (re-run at every probe until they pass, so
   * `consecutive_failures_before_down` counts probes, not intervals), or at their interval.
   */
  private dueChecks(now: number): CheckConfig[] {
    return (this.server.checks ?? []).filter((c) => {
      const last = this.checkRuns.get(c.name);
      return !last || last.failing || now >= last.at + c.interval - dueSlack(c.interval);
    });
  }

  /** How long until the next check that ran before is due again (undefined: none is waiting). */
  checksDueIn(): number | undefined {
    const now = this.now();
    let soonest: number | undefined;
    for (const c of this.server.checks ?? []) {
      const last = this.checkRuns.get(c.name);
      if (!last || last.failing) continue;
      const wait = last.at + c.interval - now;
      if (wait > 0 && (soonest === undefined || wait < soonest)) soonest = wait;
    }
    return soonest;
  }

  private ran(at: number, runs: CheckRun[] | undefined): void {
    for (const r of runs ?? []) this.checkRuns.set(r.name, { at, failing: r.status === 'fail' });
  }

  async check(): Promise<CheckOutcome> {
    // probeServer, which a fresh_connection check is, finishes its outcome itself (read before the
    // check, as checkOnce reads it: a reload may change it meanwhile).
    const fresh = this.server.fresh_connection;
    const out = await this.checkOnce();
    // A check reached the server (or found it gone): the wait for a knock starts over, or ends.
    this.watchStop();
    return fresh ? out : finishOutcome(this.server, out);
  }

  private async checkOnce(): Promise<CheckOutcome> {
    const at = this.now();
    const due = this.dueChecks(at);
    if (this.server.fresh_connection) {
      const out = await probeServer(this.server, { maxToolPages: this.opts.maxToolPages, checks: due, processGroups: this.opts.processGroups });
      this.ran(at, out.checks);
      // Each check opens anew, as openAndList does for a kept session: its failures to start weigh the same.
      return { ...out, definitive: definitiveFailure(out.error), partial: false, sessionExpired: false };
    }
    const out = await this.listCheck();
    const conn = this.conn;
    if (conn) noteInvalidOutput(conn.diagnostics(), out);
    if (due.length && conn && !out.error && out.staleMs === undefined && !this.closed) {
      out.checks = await runChecks(conn, this.server, due, out.tools ?? []);
      this.ran(at, out.checks);
      const gone = this.closed ? null : await goneDuringChecks(this.server, conn, out.checks);
      if (gone) return this.wentAway(conn, out, gone);
    }
    return out;
  }

  /**
   * The server went away during a check (goneDuringChecks): a failure of the server's, as its next
   * listing would find it, not of the check. A process that exited is down at once and restarted
   * with back-off, as when it exits between checks; an HTTP server that answers nothing counts
   * toward `consecutive_failures_before_down`, its next checks saying whether it is back.
   */
  private async wentAway(conn: McpConnection, out: CheckOutcome, gone: ProbeError): Promise<CheckOutcome> {
    out.error = gone;
    const definitive = definitiveFailure(gone);
    if (definitive) {
      if (this.conn === conn) await this.dropConnection();
      this.backOff(gone);
    }
    out.definitive = definitive;
    return out;
  }

  /** tools/list over the kept session (opening one if needed): whether the server answers. */
  private async listCheck(): Promise<CheckOutcome> {
    const dead = await this.reapDeadConnection();
    if (dead) return dead;
    if (!this.conn && this.kind.processBound && this.lastFailure && this.now() < this.nextRestartAt) {
      // Back-off: repeat the known failure rather than respawning a crash-looping server every second.
      return { ...emptyOutcome(this.server, this.now()), error: this.lastFailure, definitive: true, partial: false, sessionExpired: false };
    }
    const now = this.now();
    if (this.conn && this.listenLost && this.listenRetry.due(now)) this.listen(this.conn);
    if (this.conn && this.streamLost && this.streamRetry.due(now)) {
      this.streamLost = false;
      this.streamRetry.asked(now);
      this.conn.watchAgain?.();
    }
    if (this.conn && this.eraDue(this.conn, now)) await this.dropConnection();
    const out = await (this.conn ? this.listOverSession(this.conn) : this.openAndList());
    if (this.sessionLostUnseen && this.conn && !out.error) {
      this.sessionLostUnseen = false;
      return { ...out, sessionExpired: true };
    }
    const silent = this.staleSilence(out);
    if (silent !== undefined) {
      await this.dropConnection();
      return { ...emptyOutcome(this.server, this.now()), definitive: false, partial: false, sessionExpired: false, staleMs: silent };
    }
    if (out.error?.type === 'session_expired' && !out.partial) {
      // The server forgot us (restart, rolling deploy): report it, and see whether a new session works.
      await this.dropConnection();
      const again = await this.openAndList();
      return { ...again, sessionExpired: true };
    }
    return out;
  }

  /**
   * How long the server has been silent, when that makes this failed listing stale rather than a
   * failure: the server took the request (or the connection) and nothing came back before the
   * deadline, and nothing at all has come from it for `stale_after`, over the kept stream or any new
   * one. Silence alone is not enough: servers on the SDK's own SSE transport send no keep-alive, and
   * an idle one is silent between checks. A server never heard from is not stale: it is failing.
   */
  private staleSilence(out: CheckOutcome): number | undefined {
    const staleAfter = this.kind.staleAfter(this.server);
    if (staleAfter === undefined || this.lastHeard === undefined || out.partial || out.error?.type !== 'timeout') return undefined;
    const silent = this.now() - this.lastHeard;
    return silent > staleAfter ? silent : undefined;
  }

  /** Ends the session: the stdio process group is killed, the HTTP session DELETEd. */
  async close(): Promise<void> {
    this.closed = true;
    this.knocker?.disarm();
    await this.dropConnection();
  }

  private async reapDeadConnection(): Promise<CheckOutcome | undefined> {
    const conn = this.conn;
    if (!conn?.closed) return undefined;
    this.conn = undefined;
    this.streamsGone();
    // The server's own process is gone, but a wrapper's children may not be: clear the whole group.
    await conn.close();
    // A connection that is not the server's process ended with its session (an SSE stream the
    // server closed): a new one tells whether the server is still there. If it is, the server forgot
    // the old session (a restart), as a 404 to a Streamable HTTP session says; if not, the server is
    // gone, and the failure to reach it is the finding, not a forgotten session.
    if (!this.kind.processBound && !this.closed) {
      const again = await this.openAndList();
      this.sessionLostUnseen = !!again.error;
      return again.error ? again : { ...again, sessionExpired: true };
    }
    const diag = conn.diagnostics();
    const out = emptyOutcome(this.server, this.now());
    out.error = toProbeError(rawFromError(new SdkError(SdkErrorCode.ConnectionClosed, 'Connection closed'), diag, this.server.command ?? ''), 'tools/list');
    const definitive = this.kind.processBound;
    if (definitive) this.backOff(out.error);
    return { ...out, definitive, partial: false, sessionExpired: false };
  }

  private backOff(error: ProbeError): void {
    if (this.upSince !== undefined && this.now() - this.upSince >= STABLE_RUN) this.restartDelay = 0;
    this.upSince = undefined;
    this.lastFailure = error;
    this.restartDelay = Math.min(Math.max(1000, this.restartDelay * 2), Math.max(1000, Math.min(this.server.interval, MAX_RESTART_DELAY)));
    this.nextRestartAt = this.now() + this.restartDelay;
  }

  private connector(): Connector {
    const connect = this.kind.keep({
      onStream: (what) => {
        // An end is no word from the server: closing the connection ourselves ends its stream too.
        if (what === 'data') this.lastHeard = this.now();
        if (this.closed) return;
        if (what !== 'data') {
          this.getOpen = what === 'open';
          if (this.conn) this.watchStop();
        }
        // The one being opened included: adopt() starts over anyway.
        if (what === 'open') return this.streamRetry.startOver();
        if (what === 'refused') {
          // A reopening the server refused asks for no check of its own, as a refused listen does not:
          // the check that asked is under way, and another at once would ask again before its time.
          // No connection yet: the first opening, refused for now while the session was being opened.
          if (!this.conn) return void (this.streamRefusedWhileOpening = true);
          if (this.conn.closed) return;
          this.streamLost = true;
          return this.streamRetry.failed(this.server.interval);
        }
        if (what !== 'end') return;
        // No connection yet: only the one being opened has a stream (an old one is closed before).
        if (!this.conn) return void (this.streamCutWhileOpening = true);
        if (this.conn.closed) return;
        this.streamLost = true;
        this.streamEnded();
      },
    });
    return async (server, ctx) => {
      const conn = await connect(server, ctx);
      // Heard from the start, not from adopt() on: a server may announce a change right behind the
      // opening listing's answer, and a client that reads both in one chunk dispatches the
      // notification before the listing's caller resumes; a notification without a handler is dropped.
      conn.client.setNotificationHandler('notifications/tools/list_changed', () => {
        if (this.closed) return;
        if (this.conn === conn) this.opts.onSignal('list_changed');
        else this.changedBeforeAdopt.add(conn);
      });
      return conn;
    };
  }

  /** `eraRefused`: the kept connection's server refused its era; the era is found out again at once. */
  private async openAndList(eraRefused = false): Promise<CheckOutcome> {
    this.getOpen = false;
    this.streamCutWhileOpening = false;
    this.streamRefusedWhileOpening = false;
    let out: ProbeOutcome;
    let conn: McpConnection | undefined;
    if (eraRefused) ({ out, conn } = await this.findEraAgain());
    else {
      const prior = this.skipsDiscovery();
      const opened = await openAndProbe(this.server, this.connector(), { ...this.probing(), prior, lastEra: prior ? this.lastEra : (this.prior?.kind ?? this.lastEra) });
      if (opened.discoveryFailed) this.discoveryFailedAt = this.now();
      ({ out, conn } = opened);
      if (prior && (out.error?.category === 'permanent' || opened.eraRefused) && !this.closed && !this.seenInEra(out, opened.shape)) {
        // The server's answers say it changed era (a 2025 server moved to 2026-07-28, or back; a 2025
        // server answers a session-less 2026-07-28 request with a transient-looking 400): find out
        // again instead of failing on the remembered one.
        ({ out, conn } = await this.findEraAgain());
      }
    }
    if (!conn || this.closed) {
      if (conn) await closeTimed(conn, out);
      if (out.error && this.kind.processBound) this.backOff(out.error);
      return { ...out, definitive: definitiveFailure(out.error), partial: false, sessionExpired: false };
    }
    this.lastHeard = this.now();
    this.adopt(conn);
    const verdict = verdictOf(conn.client);
    const learned = verdict && verdict.kind !== this.prior?.kind ? verdict : undefined;
    if (verdict) this.prior = verdict;
    return { ...out, definitive: false, partial: false, sessionExpired: false, ...(learned ? { verdict: learned } : {}) };
  }

  /**
   * The 2026-07-28 era has no session and no GET stream: a server announces changes on a
   * subscriptions/listen stream, and that stream's end is the earliest sign the server went away.
   * Only a server that declares `tools.listChanged` is asked: one that does not has nothing to
   * announce, and the SDK v2 server ends such a stream as soon as it acknowledges it, which asked for
   * a check each interval on top of the regular one (its stop is seen by the knock, watchStop).
   */
  private listen(conn: McpConnection): void {
    this.listenLost = false;
    this.listenRetry.asked(this.now());
    // A promise chain of its own: the SDK may also refuse at once (a server without the capability).
    Promise.resolve()
      .then(() => conn.client.listen({ toolsListChanged: true }))
      .then(
        (sub) => {
          if (this.conn === conn) {
            this.listenRetry.startOver();
            this.listenOpen = true;
            this.watchStop();
          }
          void sub.closed.then((how) => {
            if (this.conn === conn) {
              this.listenOpen = false;
              this.watchStop();
            }
            if (how === 'local' || this.conn !== conn || this.closed) return;
            this.listenLost = true;
            this.streamEnded();
          });
        },
        (err: unknown) => {
          // A server that offers no listen stream, or refuses it (a JSON-RPC error, a 4xx), is checked
          // on its interval alone: asked at every check, it would refuse at every check. One that could
          // not open it just now (a 5xx, 429, a cut connection, no acknowledgement in time) is asked
          // again at the next check, as for a lost stream: otherwise its tools/list_changed would not
          // reach this connection again for as long as it lives. While it keeps failing, at checks
          // further and further apart (StreamRetry).
          if (this.conn === conn && !this.closed && !refusedForGood(err)) {
            this.listenLost = true;
            this.listenRetry.failed(this.server.interval);
          }
        },
      );
  }


  /**
   * A lost stream (or a refused knock) asks for a check at once: its end is the earliest sign the
   * server went away. The stream is opened again at each check, so a server (or a proxy before it)
   * that cuts every stream at once would get a check per cut, many times its interval's rate: one per
   * interval asks at once, a cut sooner waits for the next check.
   */
  private streamEnded(signal: 'stream_end' | 'knock_refused' = 'stream_end'): void {
    const now = this.now();
    if (now - this.streamSignalAt < this.server.interval) return;
    this.streamSignalAt = now;
    this.opts.onSignal(signal);
  }

  private probing(): { maxToolPages?: number; processGroups?: ProcessGroups } {
    return { maxToolPages: this.opts.maxToolPages, processGroups: this.opts.processGroups };
  }

  /**
   * Opens a connection that finds the server's era out, the remembered one dropped. A failure then (a
   * credential refused in both eras) is still named in the era the server last spoke. Where the
   * server still speaks that era and fails a later request, the era is kept, and so is the failure:
   * it is the server's own in that era (a 2026-07-28 server answering a bare 400), and the same again
   * at the next checks is reported as it is, without finding the era out again each time.
   */
  private async findEraAgain(): Promise<Opened> {
    this.forgetEra();
    this.streamCutWhileOpening = false;
    this.streamRefusedWhileOpening = false;
    const again = await openAndProbe(this.server, this.connector(), { ...this.probing(), lastEra: this.lastEra });
    if (again.discoveryFailed) this.discoveryFailedAt = this.now();
    const sameEra = again.out.error && again.spoke && again.spoke.kind === this.lastEra;
    this.failureInEra = sameEra ? failureKey(again.out.error!, again.out.era, again.shape) : undefined;
    if (sameEra) this.prior = again.spoke;
    return again;
  }

  /** Whether the outcome's failure is the one the server was last found to fail with in its remembered era. */
  private seenInEra(out: ProbeOutcome, shape: string | undefined): boolean {
    return out.error !== null && this.failureInEra === failureKey(out.error, out.era, shape);
  }

  /**
   * The remembered era a new connection may go straight to, skipping server/discover: the 2026-07-28
   * era's, or the one `protocol` pins. A 2025 era remembered under `auto` is found out again at every
   * new connection (the first, or one after the server went away): the server may have come back on
   * an SDK that speaks both eras (SDK v2, the Python SDK 2), and it would never refuse the 2025
   * requests that kept it there. Where server/discover ended the process or got a 5xx, it is asked
   * again only after LEGACY_SESSION_RECHECK: a crash-looping server is not made to crash twice at
   * each restart. A 2026-07-28 server that lost that era refuses its requests, which finds the era
   * out again (openAndList).
   */
  private skipsDiscovery(): PriorDiscovery | undefined {
    // A 2026-07-28 server that did not announce tool changes is asked again at each new connection:
    // whether it listens now (a server replaced at its URL, FastMCP upgraded) decides the listen
    // stream, and a remembered discovery would keep the old answer for good.
    if (this.prior?.kind === 'modern' && !capabilitiesAnnounceToolChanges(this.prior.discover.capabilities)) return undefined;
    if (!this.prior || this.prior.kind === 'modern' || this.server.protocol !== 'auto') return this.prior;
    const costly = this.discoveryFailedAt !== undefined && this.now() - this.discoveryFailedAt < LEGACY_SESSION_RECHECK;
    return costly ? this.prior : undefined;
  }

  /** Whether a kept 2025 session is to be opened anew, finding the era out again (LEGACY_SESSION_RECHECK). */
  private eraDue(conn: McpConnection, now: number): boolean {
    return this.server.transport === 'streamable_http' && this.server.protocol === 'auto' && conn.client.getProtocolEra() === 'legacy' && now - this.openedAt >= LEGACY_SESSION_RECHECK;
  }

  /** Drops the remembered era, so the next connection finds it out; a failure is named by it meanwhile. */
  private forgetEra(): void {
    if (!this.prior) return;
    this.lastEra = this.prior.kind;
    this.prior = undefined;
  }

  private adopt(conn: McpConnection): void {
    this.conn = conn;
    // The back-off is not reset here: a server that answers and then dies again within seconds would
    // be respawned every second for ever (backOff() resets it after a stable run).
    this.upSince = this.now();
    this.openedAt = this.upSince;
    this.lastFailure = null;
    this.failureInEra = undefined;
    this.unanswered = 0;
    // A new connection (a server back after it died) is watched afresh: its first lost stream asks at once.
    this.streamSignalAt = -Infinity;
    this.listenRetry.startOver();
    this.streamRetry.startOver();
    this.streamLost = false;
    if (this.streamCutWhileOpening) {
      // Lost as one cut later is: opened again at the check it asks for (without that, the server's
      // tools/list_changed would not reach this connection for as long as it lives).
      this.streamCutWhileOpening = false;
      this.streamLost = true;
      this.streamEnded();
    } else if (this.streamRefusedWhileOpening) {
      // As a refused reopening: asked for again at a later check, asking for none of its own.
      this.streamLost = true;
      this.streamRetry.asked(this.openedAt);
      this.streamRetry.failed(this.server.interval);
    }
    this.streamRefusedWhileOpening = false;
    conn.onUnexpectedClose = () => {
      if (this.conn === conn && !this.closed) this.opts.onSignal('closed');
    };
    if (this.changedBeforeAdopt.delete(conn) && !this.closed) this.opts.onSignal('list_changed');
    if (conn.client.getProtocolEra() === 'modern' && announcesToolChanges(conn)) this.listen(conn);
  }

  private async listOverSession(conn: McpConnection): Promise<CheckOutcome> {
    const out = emptyOutcome(this.server, this.now());
    const deadline = new Deadline(this.server.timeout);
    serverFacts(conn, out);
    noteRedirect(conn, out);
    const phase = sessionCheckPhase(out);
    let shape: string | undefined;
    try {
      if (phase === 'tools/list') await listTools(conn, deadline, out, this.opts.maxToolPages ?? DEFAULT_MAX_TOOL_PAGES);
      else await confirmAlive(conn, deadline, out, phase);
      out.latencyMs = out.phases[phase] ?? null;
    } catch (err) {
      shape = fail(out, deadline.expiredAlready ? new ProbeTimeout(deadline.ms) : err, conn.diagnostics(), phase, this.server);
    } finally {
      deadline.clear();
      takeTokenPhase(conn.diagnostics(), out);
    }
    if (!out.error) {
      this.unanswered = 0;
      return asCheck(out, false);
    }
    // A JSON-RPC error or a malformed page on a live session: the server answers, but not fully.
    const partial = out.error.type === 'protocol_error' || out.error.type === 'invalid_response';
    if (partial) {
      this.unanswered = 0;
      out.latencyMs = out.phases[phase] ?? null;
      return asCheck(out, true);
    }
    const dead = conn.closed || out.error.type === 'process_exited';
    if (!dead && !this.closed && refusesEra(out.error, conn.client.getProtocolEra(), conn.diagnostics()) && !this.seenInEra(out, shape)) {
      // The server behind the kept connection no longer speaks its era (restarted on another SDK, or
      // upgraded to 2026-07-28 only): what it speaks now is found out at once, as an agent
      // reconnecting would, rather than reported down for the era it dropped.
      await this.dropConnection();
      return this.openAndList(true);
    }
    // A session refused at the door is kept: a server that restarted meanwhile then answers its next
    // check with "no such session", the session_expired an agent holding it would meet, instead of
    // the restart passing unseen behind a new session.
    if (!dead && out.error.type === 'connection_refused' && conn.transport.sessionId !== undefined) return asCheck(out, false);
    if (!dead && this.kind.processBound && out.error.type === 'timeout' && ++this.unanswered < (this.server.consecutive_failures_before_down ?? 1)) {
      return { ...out, definitive: false, partial: false, sessionExpired: false };
    }
    this.unanswered = 0;
    await this.dropConnection();
    if (dead && this.kind.processBound) this.backOff(out.error);
    return { ...out, definitive: dead && this.kind.processBound, partial: false, sessionExpired: false };
  }

  /**
   * Knocks on the server's port while a kept Streamable HTTP connection exists and no check reached
   * the server for LIVENESS. An open stream could hide the server's stop: a server that stops taking
   * connections but waits for open responses (the Python SDK under uvicorn) keeps it alive. And a
   * server that offers no stream (a 2026-07-28 server without `tools.listChanged`, as FastMCP is, or a
   * 2025 one refusing the GET) has nothing that ends when it dies. A new connection tells either way;
   * a refused knock asks for a check, as a stream's end does. Servers checked within LIVENESS never
   * knock: their check comes first. The transport connects directly (its own agent, no proxy), so a
   * knock goes where its requests go.
   */
  private watchStop(): void {
    const conn = this.conn;
    const liveness = this.opts.liveness ?? LIVENESS;
    const watch = !this.closed && conn !== undefined && !conn.closed && this.server.transport === 'streamable_http' && !this.server.fresh_connection && this.server.interval > liveness && this.server.url !== undefined;
    if (!watch) return this.knocker?.disarm();
    (this.knocker ??= new Knocker(new URL(this.server.url!), liveness, () => this.knockRefused())).arm();
  }

  private knockRefused(): void {
    if (this.closed || !this.conn || this.conn.closed) return;
    this.streamEnded('knock_refused');
  }

  /** The kept connection is let go: its streams with it, and the knocking it asked for. */
  private streamsGone(): void {
    this.listenOpen = false;
    this.getOpen = false;
    this.knocker?.disarm();
  }

  private async dropConnection(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    this.streamsGone();
    if (conn) await conn.close();
  }

  /** The configuration changed in place (SIGHUP) without touching what the connection depends on. */
  update(server: ServerConfig): void {
    this.server = server;
    // Its interval may now bring checks within LIVENESS, or no longer: the next check arms it anew.
    this.knocker?.disarm();
    this.knocker = undefined;
    const names = new Set((server.checks ?? []).map((c) => c.name));
    for (const name of this.checkRuns.keys()) if (!names.has(name)) this.checkRuns.delete(name);
  }
}

/**
 * What a failure in an era is known by at the next checks: its type, phase and shape
 * (failureShape), not its words, where a server's refusal carries a request id or a time: keyed on
 * its message, such a refusal found the era out again at every check.
 */
function failureKey(error: ProbeError, era: ProbeOutcome['era'], shape: string | undefined): string {
  return `${era} ${error.type} ${error.phase} ${shape ?? error.message}`;
}

/**
 * A request the server answered with a refusal that asking again will not change. Not a 401: the
 * stream does not renew the token the checks use (probe/auth.ts), and once a check has renewed it,
 * the stream asked again gets the new one.
 */
function refusedForGood(err: unknown): boolean {
  if (err instanceof ProtocolError) return true;
  if (err instanceof SdkHttpError) return err.status >= 400 && err.status < 500 && ![401, 408, 429].includes(err.status);
  return err instanceof SdkError && err.code === SdkErrorCode.MethodNotSupportedByProtocolVersion;
}

/** Whether the server said it announces changes to its tool list (a 2026-07-28 listen stream's purpose). */
function announcesToolChanges(conn: McpConnection): boolean {
  return capabilitiesAnnounceToolChanges(conn.client.getServerCapabilities());
}

function capabilitiesAnnounceToolChanges(capabilities: unknown): boolean {
  return (capabilities as { tools?: { listChanged?: unknown } } | undefined)?.tools?.listChanged === true;
}
