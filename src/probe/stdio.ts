import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { parseJSONRPCMessage, type JSONRPCMessage, type Transport } from '@modelcontextprotocol/client';
import { getDefaultEnvironment } from '@modelcontextprotocol/client/stdio';
import type { ProtocolMode, ServerConfig } from '../config/schema.js';
import { BaseConnection, MAX_MESSAGE_BYTES, ProcessStartedTransport, rememberResponseText, settlesWithin, type PageAwareTransport } from './connection.js';
import type { Connector, TransportDiagnostics, TransportKind } from './prober.js';
import { parseStat, serverProcesses, signalProcesses, TAG_VARIABLE, type ProcessEntry } from './process-tree.js';

/** A stdout line longer than this is not an MCP message; the server is abandoned instead of buffered. */
const MAX_STDOUT_LINE = MAX_MESSAGE_BYTES;
const STDERR_LINES = 20;
const STDERR_LINE_CHARS = 400;
/** After stdin closes, how long a well-behaved server gets to exit before the group is signalled. */
const EXIT_GRACE_MS = 300;
const TERM_GRACE_MS = 1000;
/**
 * After the exit, how long the rest of stderr gets to arrive: the exit can be seen before the last
 * lines are read, and those say why. Bounded, as a grandchild may hold the pipe open for ever.
 */
const STDERR_DRAIN_MS = 500;
/** A write to a server's stdin failed (EPIPE): how long to wait for its exit, which explains it. */
const EXIT_AFTER_EPIPE_MS = 1000;

/**
 * The SDK's StdioClientTransport signals only the direct child, reports exit without code or signal
 * and buffers stdout without a bound. This one spawns the server in its own process group (so `npx`
 * and `sh -c` wrappers die with it), ends descendants that left the group too (process-tree.ts),
 * records how the process ended, keeps the stderr tail and caps stdout lines.
 */
class ProcessTransport implements Transport, PageAwareTransport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  readonly diag: TransportDiagnostics = {};
  /** The client's stand-in for a line it validated before (ProbeClient.knownPageMessage): not parsed again. */
  knownPageMessage?: (text: string) => JSONRPCMessage | undefined;
  private child: ChildProcessWithoutNullStreams | undefined;
  private exited: Promise<void> | undefined;
  private chunks: Buffer[] = [];
  private pending = 0;
  private discarding = false;
  private stderrRing: string[] = [];
  private stdoutRing: string[] = [];
  private stderrPartial = '';
  /** Inherited by every process the server starts, to find those that leave its group. */
  private readonly tag = randomUUID();
  private startTicks: number | undefined;

  constructor(
    private readonly server: Pick<ServerConfig, 'command' | 'args' | 'env' | 'cwd'>,
    private readonly groups: ProcessGroups,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const child = spawn(this.server.command!, this.server.args, {
      cwd: this.server.cwd,
      env: { ...getDefaultEnvironment(), ...this.server.env, [TAG_VARIABLE]: this.tag },
      // Own process group: the whole tree is signalled with kill(-pid), and a terminal's ^C does not
      // reach the server before mcpwatch has had a chance to close it cleanly.
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
    });
    this.child = child;
    this.startTicks = startTicksOf(child.pid);
    const group = child.pid;
    if (group !== undefined) this.groups.started(group, child);
    child.stdout.on('data', (chunk: Buffer) => this.onStdout(chunk));
    child.stderr.on('data', (chunk: Buffer) => this.onStderr(chunk));
    // EPIPE on a dead child's stdin is reported through exit, not as an unhandled error.
    child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        // stdout too: a server that prints why it stops there (print() before sys.exit) is explained
        // by that line, which may still be in the pipe when the exit is seen.
        void Promise.all([drained(child.stderr, STDERR_DRAIN_MS), drained(child.stdout, STDERR_DRAIN_MS)]).then(() => {
          this.flushStderr();
          this.flushStdout();
          this.diag.exit = { code, signal };
          resolve();
          this.onclose?.();
        });
      });
    });
    try {
      await Promise.race([
        once(child, 'spawn'),
        once(child, 'error').then(([err]) => Promise.reject(err as Error)),
      ]);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const cwd = this.server.cwd;
      // spawn says ENOENT for a missing cwd too, which read as "command not found" for a command that exists.
      this.diag.spawnError = e.code === 'ENOENT' && cwd && !existsSync(cwd) ? Object.assign(new Error(`working directory ${cwd} does not exist (cwd, ENOENT)`), { code: 'ENOENT_CWD' }) : e;
      throw err;
    }
    child.on('error', (err) => this.onerror?.(err));
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const child = this.child;
    if (!child || this.diag.exit) throw new Error('process is not running');
    const line = JSON.stringify(message) + '\n';
    try {
      await new Promise<void>((resolve, reject) => child.stdin.write(line, (err) => (err ? reject(err) : resolve())));
    } catch (err) {
      // A broken pipe means the server is gone or going: its exit code and stderr say why, "write
      // EPIPE" does not. The failure is reported once the exit is recorded (or the wait is over).
      await this.waitExit(EXIT_AFTER_EPIPE_MS);
      throw err;
    }
  }

  /**
   * Closes stdin, gives the server a moment to exit, then signals its whole process group and every
   * descendant that left the group (looked up before anything exits and re-parents, and again after).
   * The moments are cut short by `deadline` (McpConnection.close): once it has fired the server gets
   * no grace, its group and strays are killed at once, and only their exit is waited for.
   */
  async close(deadline?: AbortSignal): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    const pid = child.pid;
    const strays = await serverProcesses(pid, this.startTicks, this.tag);
    child.stdin.end();
    if (!this.diag.exit && !(await this.waitExit(EXIT_GRACE_MS, deadline))) {
      let ended = false;
      if (!deadline?.aborted) {
        killGroup(pid, 'SIGTERM');
        await signalProcesses(strays, 'SIGTERM');
        ended = await this.waitExit(TERM_GRACE_MS, deadline);
      }
      if (!ended) {
        killGroup(pid, 'SIGKILL');
        // A stray holding the server's stderr would hold the exit's drain too.
        await signalProcesses(strays, 'SIGKILL');
      }
      await this.exited;
    }
    // Grandchildren outlive a leader that exited on its own; the group is cleared either way.
    killGroup(pid, 'SIGKILL');
    const late: ProcessEntry[] = await serverProcesses(pid, this.startTicks, this.tag);
    await signalProcesses([...strays, ...late], 'SIGKILL');
    child.stdout.destroy();
    child.stderr.destroy();
  }

  private waitExit(ms: number, deadline?: AbortSignal): Promise<boolean> {
    return settlesWithin(this.exited!, ms, deadline);
  }

  private onStdout(chunk: Buffer): void {
    let start = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.discarding) {
        this.discarding = false;
        continue;
      }
      const line = this.chunks.length ? Buffer.concat([...this.chunks, piece]) : piece;
      this.chunks = [];
      this.pending = 0;
      this.onLine(line);
    }
    if (start < chunk.length && !this.discarding) {
      const rest = chunk.subarray(start);
      this.pending += rest.length;
      if (this.pending > MAX_STDOUT_LINE) {
        this.chunks = [];
        this.pending = 0;
        this.discarding = true;
        this.invalid(`stdout line longer than ${MAX_STDOUT_LINE / 1024 / 1024} MiB: not an MCP message`);
        // Buffering on would let one server exhaust the agent's memory.
        this.diag.abandoned = true;
        void this.close();
      } else {
        this.chunks.push(rest);
      }
    }
  }

  private onLine(buf: Buffer): void {
    const text = buf.toString('utf8').replace(/\r$/, '');
    if (text.trim() === '') return;
    const known = this.knownPageMessage?.(text);
    if (known) return void this.onmessage?.(known);
    let message: JSONRPCMessage;
    try {
      message = parseJSONRPCMessage(JSON.parse(text));
    } catch {
      pushTail(this.stdoutRing, text);
      this.diag.stdoutTail = this.stdoutRing;
      // A cut is marked where it is: a configured secret it cuts is then masked (pipeline/redact.ts).
      this.invalid(`stdout is not JSON-RPC: ${JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text)}`);
      return;
    }
    rememberResponseText(message, text);
    this.onmessage?.(message);
  }

  private invalid(what: string): void {
    this.diag.invalidOutput ??= what;
    this.onerror?.(new Error(what));
  }

  private onStderr(chunk: Buffer): void {
    const text = this.stderrPartial + chunk.toString('utf8');
    const lines = text.split('\n');
    this.stderrPartial = (lines.pop() ?? '').slice(-STDERR_LINE_CHARS * 4);
    for (const line of lines) this.pushStderr(line);
  }

  private flushStderr(): void {
    if (this.stderrPartial) this.pushStderr(this.stderrPartial);
    this.stderrPartial = '';
  }

  private pushStderr(line: string): void {
    pushTail(this.stderrRing, line);
    this.diag.stderrTail = this.stderrRing;
  }

  /** The last stdout line, cut off by the exit before its newline, is read as a line. */
  private flushStdout(): void {
    if (this.discarding || this.chunks.length === 0) return;
    const partial = Buffer.concat(this.chunks);
    this.chunks = [];
    this.pending = 0;
    this.onLine(partial);
  }
}

/** Keeps the last STDERR_LINES lines of a stream, each cut at STDERR_LINE_CHARS. */
function pushTail(ring: string[], line: string): void {
  const clean = line.replace(/\r$/, '').trimEnd();
  if (!clean) return;
  ring.push(clean.length > STDERR_LINE_CHARS ? clean.slice(0, STDERR_LINE_CHARS) + '…' : clean);
  if (ring.length > STDERR_LINES) ring.shift();
}

/** Resolves when `stream` has ended or closed, or after `ms`, whichever is first. */
function drained(stream: NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean }, ms: number): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      stream.removeListener('end', done);
      stream.removeListener('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stream.once('end', done);
    stream.once('close', done);
  });
}

/**
 * The child's start time, read as soon as spawn() returns: the process exists (at worst a zombie
 * nobody has reaped yet, as reaping waits for the event loop), so this is never too late.
 */
function startTicksOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'latin1'))?.start;
  } catch {
    return undefined; // no /proc: only the group is ended
  }
}

/**
 * The process groups of the stdio servers one owner (an agent) runs now; each server leads its own
 * (`detached`). One per agent: stopping one agent must not kill the servers of another in the same
 * process.
 */
export class ProcessGroups {
  private readonly live = new Set<number>();

  started(group: number, child: ChildProcessWithoutNullStreams): void {
    this.live.add(group);
    child.once('exit', () => this.live.delete(group));
  }

  /**
   * Kills, at once, the process group of every stdio server still running: an agent's last act on
   * stopping. A session whose first handshake was still under way when the agent stopped has no
   * connection to close yet, and a close cut short by the stop's deadline has not reached its
   * SIGKILL; their groups would outlive the agent (a server that ignores SIGTERM, a wrapper still
   * downloading). Returns how many groups it signalled.
   */
  killAll(): number {
    const groups = [...this.live];
    for (const group of groups) killGroup(group, 'SIGKILL');
    this.live.clear();
    return groups.length;
  }
}

/** Servers started without an owner's record (`health`), whose probes end each one they start. */
const oneShotGroups = new ProcessGroups();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

class StdioConnection extends BaseConnection {
  constructor(
    private readonly proc: ProcessTransport,
    protocol: ProtocolMode,
  ) {
    super(new ProcessStartedTransport(proc), protocol, proc);
  }
  diagnostics(): TransportDiagnostics {
    return this.proc.diag;
  }
  get pid(): number | undefined {
    return this.proc.pid;
  }
  protected shutdown(deadline?: AbortSignal): Promise<void> {
    return this.proc.close(deadline);
  }
}

const connectStdio: Connector = async (server, ctx) => {
  const proc = new ProcessTransport(server, ctx.processGroups ?? oneShotGroups);
  const conn = new StdioConnection(proc, server.protocol);
  try {
    await conn.transport.start();
  } catch (err) {
    throw Object.assign(err as Error, { diagnostics: proc.diag });
  }
  return conn;
};

export const stdioTransport: TransportKind = {
  connect: connectStdio,
  // The process is watched through its exit, not a stream.
  keep: () => connectStdio,
  processBound: true,
  staleAfter: () => undefined,
};
