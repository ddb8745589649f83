import { connect, type Socket } from 'node:net';

/**
 * How long a kept connection may go without a check reaching its server before the server's port is
 * knocked on. A server that waits for open responses before it stops (the Python SDK under uvicorn)
 * closes its listening socket at once and keeps pinging on its stream, and a server that offers no
 * stream has nothing that ends: either way, a new connection tells of the stop.
 */
export const LIVENESS = 15_000;

/**
 * Knocks a second across every session of the process. A fleet whose checks come within LIVENESS
 * never knocks; a large one at long intervals would otherwise add a connection per server every
 * LIVENESS, more than its checks open. Each knock closes first, so its port waits out TIME_WAIT on
 * this host: at this rate that holds a small share of the ephemeral range even on hosts that keep
 * it narrow, and a server's own rate is no higher than one check per LIVENESS would be. Beyond it
 * the period stretches for everyone, and a stop is seen later, no later than the next check.
 */
const KNOCKS_PER_SECOND = 20;

/** Sessions with a knock pending: the shared budget is split among them. */
let watching = 0;

/** Sessions with a knock pending, process-wide (for tests: a closed session leaves none). */
export function pendingKnocks(): number {
  return watching;
}

/** The mean wait between two knocks of one session, with `watching` sessions sharing the budget. */
export function knockPeriod(liveness: number, sessions: number): number {
  return Math.max(liveness, (sessions * 1000) / KNOCKS_PER_SECOND);
}

/** Errors of a connect that say nothing listens there (or the name is gone): as a stream's end. */
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);

/**
 * One session's knocking: while armed, a bare TCP connect to the server's host and port every
 * period (jittered, so a fleet armed together does not knock together), closed as soon as it is
 * accepted. A refusal calls `onRefused`; an acceptance, or a connect that neither succeeds nor fails
 * within a period, says nothing (a check tells).
 */
export class Knocker {
  private timer: NodeJS.Timeout | undefined;
  private socket: Socket | undefined;
  private readonly host: string;
  private readonly port: number;

  constructor(
    url: URL,
    private readonly liveness: number,
    private readonly onRefused: () => void,
  ) {
    // The hostname of an IPv6 literal keeps its brackets in a URL; a connect wants it bare.
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  }

  get armed(): boolean {
    return this.timer !== undefined;
  }

  /** (Re)starts the wait: called when a stream opens and whenever a check reached the server. */
  arm(): void {
    if (this.timer) clearTimeout(this.timer);
    else watching++;
    const period = knockPeriod(this.liveness, watching);
    this.timer = setTimeout(() => this.knock(), period * (0.75 + Math.random() * 0.5));
    // A session's close() disarms it; a process ending otherwise is not held open by a knock to come.
    this.timer.unref();
  }

  disarm(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      watching--;
    }
    this.socket?.destroy();
    this.socket = undefined;
  }

  private knock(): void {
    this.timer = undefined;
    watching--;
    this.socket?.destroy();
    const socket = connect({ host: this.host, port: this.port });
    this.socket = socket;
    const done = (): void => {
      socket.destroy();
      if (this.socket === socket) this.socket = undefined;
    };
    // A host that drops the connect says nothing: the next knock or check tells.
    socket.setTimeout(this.liveness, () => {
      done();
      this.arm();
    });
    socket.unref();
    socket.once('connect', () => {
      done();
      this.arm();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      done();
      if (err.code !== undefined && REFUSED.has(err.code)) this.onRefused();
      else this.arm();
    });
  }
}
