// The agent under attack (issue 19), end to end: `mcpwatch run` as a child process with its OTLP
// receivers on port 0, attacked over real sockets by clients that hold partial messages. After each
// attack the agent is asked /readyz and must serve a legitimate OTLP request, recovering by itself.
// Its memory is read from /proc (the peak RSS, VmHWM) and held under a bound the agent exceeded before
// it had admission control (300–700 MB in the issue; figures in docs/benchmarks.md).
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as connectHttp2, type ClientHttp2Session } from 'node:http2';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startAgent, type AgentProcess } from '../fixtures/agent-process.js';
import { until } from '../helpers.js';

const EXPORT = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';
const MIB = 1024 * 1024;
/** The largest request the receiver takes by default (max_recv_msg_size_mib: 4). */
const DECLARED = 4 * MIB;
/** What each attacker sends of its declared message before it stalls: most of it. */
const SENT = 4_194_000;
/**
 * Peak RSS the agent must stay under: halfway between what these attacks cost with admission control
 * and without it (docs/benchmarks.md, "The receiver under attack").
 */
const RSS_BOUND_MB = 300;
const TOKEN = 'attack-test-token';
// One buffer shared by every attacker's writes, so that the test process itself stays small.
const PAYLOAD = Buffer.alloc(SENT, 0x61);

interface Running {
  agent: AgentProcess;
  grpcPort: number;
  httpPort: number;
  healthPort: number;
}

/**
 * An agent with both receivers and nothing else: no servers, no exporters. Only the gRPC receiver
 * asks for a token, so the HTTP attacks reach admission. Every admission setting is the default.
 */
async function startReceiverAgent(t: TestContext): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-attack-'));
  const file = join(dir, 'mcpwatch.yaml');
  writeFileSync(
    file,
    `exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers:
  otlp:
    grpc: { endpoint: "127.0.0.1:0", auth: { bearer_token: ${TOKEN} } }
    http: { endpoint: "127.0.0.1:0" }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers: []
`,
  );
  const agent = startAgent(file);
  // A failed assertion must not leave the agent running.
  t.after(() => void (agent.proc.exitCode === null && agent.proc.kill('SIGKILL')));
  const line = await agent.waitLog(/"msg":"mcpwatch agent started"/);
  const started = JSON.parse(line) as { otlp_grpc: string; otlp_http: string; health: string };
  const port = (hostPort: string): number => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
  return { agent, grpcPort: port(started.otlp_grpc), httpPort: port(started.otlp_http), healthPort: port(started.health) };
}

async function stop(r: Running): Promise<void> {
  r.agent.proc.kill('SIGTERM');
  assert.equal((await r.agent.exit).code, 0, 'the agent stops cleanly after the attack');
}

/** The agent's peak resident memory since it started (VmHWM in /proc/PID/status) is under the bound. */
function assertPeakRss(r: Running, t: TestContext, seen: string): void {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${r.agent.proc.pid}/status`, 'utf8'));
  assert.ok(m, 'VmHWM in /proc/PID/status');
  const peak = Number(m[1]) / 1024;
  t.diagnostic(`agent peak RSS ${peak.toFixed(0)} MB; ${seen}`);
  assert.ok(peak < RSS_BOUND_MB, `agent peak RSS ${peak.toFixed(0)} MB under ${RSS_BOUND_MB} MB`);
}

async function readyz(r: Running): Promise<{ http: number; status: string; reason?: string }> {
  const res = await fetch(`http://127.0.0.1:${r.healthPort}/readyz`);
  const body = (await res.json()) as { status: string; reason?: string };
  return { http: res.status, ...body };
}

/** A legitimate export over gRPC (one empty ResourceSpans) with a real client: its status code. `null`: no token. */
async function legitimateGrpc(r: Running, token: string | null = TOKEN): Promise<grpc.status> {
  const client = new grpc.Client(`127.0.0.1:${r.grpcPort}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  try {
    return await new Promise<grpc.status>((resolve) =>
      client.makeUnaryRequest(EXPORT, (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0x00]), md, { deadline: Date.now() + 60_000 }, (err) =>
        resolve(err?.code ?? grpc.status.OK),
      ),
    );
  } finally {
    client.close();
  }
}

async function legitimateHttp(r: Running): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${r.httpPort}/v1/traces`, { method: 'POST', body: '{"resourceSpans":[{}]}', headers: { 'content-type': 'application/json' } });
  await res.arrayBuffer();
  return res.status;
}

/**
 * After an attack has ended: the receiver accepts again by itself (no restart, no operator), says so
 * on /readyz, and serves a legitimate request over both protocols.
 */
async function assertRecovered(r: Running): Promise<void> {
  // The answer that says ready is the one checked: the attack's last connections may still be
  // closing on a loaded machine, each reading its buffered bytes into the budget before it gives
  // them back, so a second request can find the receiver refusing again for a moment.
  let ready: Awaited<ReturnType<typeof readyz>> | undefined;
  await until(async () => (ready = await readyz(r)).status === 'ready', '/readyz ready again after the attack');
  assert.equal(ready!.http, 200);
  // As an SDK does on UNAVAILABLE / 503 with Retry-After: the attack's last connections may still be
  // closing on a loaded machine, their bytes given back one by one, when /readyz first says ready.
  let grpcStatus: grpc.status | undefined;
  await until(async () => (grpcStatus = await legitimateGrpc(r)) !== grpc.status.UNAVAILABLE, 'a legitimate gRPC export no longer refused for memory');
  assert.equal(grpcStatus, grpc.status.OK, 'a legitimate gRPC export is served after the attack');
  let httpStatus: number | undefined;
  await until(async () => (httpStatus = await legitimateHttp(r)) !== 503, 'a legitimate HTTP export no longer refused for memory');
  assert.equal(httpStatus, 200, 'a legitimate HTTP export is served after the attack');
}

/**
 * How the agent answered one held call: a gRPC status (`status 14`), a reset of the stream by its
 * HTTP/2 layer (`reset 7` REFUSED_STREAM past max_concurrent_streams, `reset 11` ENHANCE_YOUR_CALM past
 * Node's per-session memory, `reset 2` the whole connection cut: CUT), or nothing yet (`held`).
 */
type CallOutcome = `status ${number}` | `reset ${number}` | 'held';
/**
 * A call whose whole connection the agent cut (seen once at load 20, all 15 calls still open then):
 * Node ends each open stream of a client session that ends in an error with INTERNAL_ERROR. Refused,
 * not admitted.
 */
const CUT: CallOutcome = 'reset 2';

/**
 * One HTTP/2 connection that opens `count` Export calls, each declaring a message of DECLARED bytes
 * in its gRPC length prefix, sending SENT bytes of it and never the rest. Resolves once every call has
 * been answered or reset, or, with `orTaken`, had its bytes written (the agent read them under HTTP/2
 * flow control, or reset the stream); at the latest after a minute.
 */
async function holdGrpcStreams(port: number, count: number, token: string | undefined, orTaken: boolean): Promise<{ session: ClientHttp2Session; outcomes: CallOutcome[] }> {
  const session = connectHttp2(`http://127.0.0.1:${port}`);
  session.on('error', () => {}); // the agent may cut the connection: that is an answer too
  await new Promise<void>((resolve, reject) => (session.once('connect', () => resolve()), session.once('error', reject)));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(DECLARED, 1);
  const outcomes: CallOutcome[] = Array(count).fill('held');
  const settled = outcomes.map(
    (_, i) =>
      new Promise<void>((resolve) => {
        const headers: Record<string, string> = { ':method': 'POST', ':path': EXPORT, 'content-type': 'application/grpc', te: 'trailers' };
        if (token) headers.authorization = `Bearer ${token}`;
        const stream = session.request(headers, { endStream: false });
        const answered = (o: CallOutcome): void => {
          if (outcomes[i] === 'held') outcomes[i] = o;
          resolve();
        };
        stream.on('response', (h) => void (h['grpc-status'] !== undefined && answered(`status ${Number(h['grpc-status'])}`)));
        stream.on('trailers', (t) => answered(`status ${Number(t['grpc-status'])}`));
        stream.on('error', () => {}); // the reset code is read on close
        stream.on('close', () => answered(`reset ${stream.rstCode ?? -1}`));
        stream.resume();
        stream.write(prefix);
        stream.write(PAYLOAD, () => orTaken && resolve());
      }),
  );
  // Bounded: an agent that neither answers nor reads leaves the assertions to say what it did.
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(settled), new Promise((r) => (bound = setTimeout(r, 60_000)))]);
  clearTimeout(bound);
  return { session, outcomes };
}

const count = (xs: readonly string[]): Record<string, number> => Object.fromEntries([...new Set(xs)].map((x) => [x, xs.filter((y) => y === x).length]));

/**
 * `count` HTTP/1.1 connections, each declaring a DECLARED-byte body, sending SENT bytes of it and
 * stalling. Resolves once each has been answered, or its bytes were taken by the agent, or it closed;
 * at the latest after a minute.
 */
async function holdHttpBodies(port: number, count: number): Promise<{ sockets: Socket[]; answered: string[] }> {
  const sockets: Socket[] = [];
  const answered: string[] = [];
  const settled = Promise.all(
    Array.from({ length: count }, () =>
      new Promise<void>((resolve) => {
        const socket = connectTcp(port, '127.0.0.1');
        sockets.push(socket);
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.once('data', (d) => (answered.push(d.toString('latin1').split('\r\n')[0]!), resolve()));
        socket.once('connect', () => {
          socket.write(`POST /v1/traces HTTP/1.1\r\nhost: agent\r\ncontent-type: application/x-protobuf\r\ncontent-length: ${DECLARED}\r\n\r\n`);
          socket.write(PAYLOAD, () => resolve());
        });
      }),
    ),
  );
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([settled, new Promise((r) => (bound = setTimeout(r, 60_000)))]);
  clearTimeout(bound);
  return { sockets, answered };
}

describe('mcpwatch run under attack (issue 19)', { timeout: 300_000 }, () => {
  it('gRPC: one connection of 100 streams holding large partial messages is bounded, /readyz says refusing, then it recovers', async (t) => {
    const r = await startReceiverAgent(t);
    // An authenticated but hostile client: only admission bounds it.
    const { session, outcomes } = await holdGrpcStreams(r.grpcPort, 100, TOKEN, true);
    assertPeakRss(r, t, `calls: ${JSON.stringify(count(outcomes))}`);
    // 64 MiB of budget (max_in_flight_mib) and 8 MiB reserved per call: at most 8 calls are admitted.
    const refused = new Set<CallOutcome>([`status ${grpc.status.UNAVAILABLE}`, 'reset 7', 'reset 11', CUT]);
    assert.ok(outcomes.filter((o) => o === 'held').length <= 8, 'at most 8 calls admitted');
    assert.deepEqual(outcomes.filter((o) => o !== 'held' && !refused.has(o)), [], 'every other call refused');
    const during = await readyz(r);
    assert.deepEqual([during.http, during.status], [503, 'refusing'], 'while the held calls take the in-flight budget');
    assert.match(during.reason ?? '', /max_in_flight_mib/);
    assert.equal(await legitimateGrpc(r), grpc.status.UNAVAILABLE, 'refused at once, not left waiting');
    session.destroy();
    await assertRecovered(r);
    await stop(r);
  });

  it('gRPC: 100 streams without the bearer token are all refused (on their metadata, or reset by HTTP/2 before grpc-js reads them), bounded, and the agent stays ready', async (t) => {
    const r = await startReceiverAgent(t);
    const { session, outcomes } = await holdGrpcStreams(r.grpcPort, 100, undefined, false);
    assertPeakRss(r, t, `calls: ${JSON.stringify(count(outcomes))}`);
    // Refused on the metadata (UNAUTHENTICATED), or reset by HTTP/2 before grpc-js saw the call.
    const refused = new Set<CallOutcome>([`status ${grpc.status.UNAUTHENTICATED}`, 'reset 7', 'reset 11', CUT]);
    assert.deepEqual(outcomes.filter((o) => !refused.has(o)), [], 'no call admitted without the token');
    // Refusing unauthenticated callers holds nothing: the receiver stays ready throughout.
    assert.equal((await readyz(r)).status, 'ready');
    assert.equal(await legitimateGrpc(r, null), grpc.status.UNAUTHENTICATED);
    session.destroy();
    await assertRecovered(r);
    await stop(r);
  });

  it('HTTP: 100 requests each sending most of a declared 4 MiB body and stalling are bounded, /readyz says refusing, then it recovers', async (t) => {
    const r = await startReceiverAgent(t);
    const { sockets, answered } = await holdHttpBodies(r.httpPort, 100);
    assertPeakRss(r, t, `answered ${answered.length} of 100 requests`);
    assert.ok(answered.length > 0 && answered.every((l) => l === 'HTTP/1.1 503 Service Unavailable'), `requests past the budget refused with 503 (got ${[...new Set(answered)].join(', ')})`);
    const during = await readyz(r);
    assert.deepEqual([during.http, during.status], [503, 'refusing'], 'while the held bodies take the in-flight budget');
    for (const s of sockets) s.destroy();
    await assertRecovered(r);
    await stop(r);
  });

  it('4 MiB requests of empty ResourceSpans are refused for their entry count (bounded work per request) while /healthz answers', async (t) => {
    const r = await startReceiverAgent(t);
    // Two million empty ResourceSpans (field 1, length 0) in 4 MiB.
    const body = Buffer.alloc(DECLARED - 2, Buffer.from([0x0a, 0x00]));
    const post = async (): Promise<{ status: number; message: string }> => {
      const res = await fetch(`http://127.0.0.1:${r.httpPort}/v1/traces`, { method: 'POST', body, headers: { 'content-type': 'application/x-protobuf' } });
      // google.rpc.Status: code (field 1), message (field 2); the message is read as text.
      return { status: res.status, message: Buffer.from(await res.arrayBuffer()).toString('latin1') };
    };
    // Two senders, ten requests each.
    const sender = async (): Promise<Array<{ status: number; message: string }>> => {
      const out = [];
      for (let i = 0; i < 10; i++) out.push(await post());
      return out;
    };
    const both = Promise.all([sender(), sender()]);
    const health = await fetch(`http://127.0.0.1:${r.healthPort}/healthz`);
    assert.equal(health.status, 200, '/healthz answers during the attack');
    const results = (await both).flat();
    assertPeakRss(r, t, `answers ${JSON.stringify(count(results.map((x) => String(x.status))))}`);
    assert.deepEqual(new Set(results.map((x) => x.status)), new Set([413]));
    for (const x of results) assert.match(x.message, /more than 100000 resource, scope and span entries/);
    await assertRecovered(r);
    await stop(r);
  });
});
