// An incident across a restart of the agent: real `mcpwatch run` processes stopped with SIGTERM and
// started again on the same state file, real servers that die and come back at their URL, real
// receivers (webhooks, the stdout notifier, a real Alertmanager). What the receivers get is compared
// event by event; nothing is timed.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startAgent, type AgentProcess } from '../fixtures/agent-process.js';
import { startAlertmanager, type AmNotification } from '../fixtures/alertmanager.js';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { startFront, type Front } from '../fixtures/front.js';
import { trafficServer } from '../fixtures/traffic-server.js';
import type { Plan, PlanResult } from '../fixtures/instrumented-agent.js';
import { webhookReceiver } from '../fixtures/webhook.js';
import { CLI, FIXTURES, until } from '../helpers.js';
import { StateStore } from '../../src/store/state.js';
import type { AlertEvent } from '../../src/pipeline/events.js';
import type { MachineMemory } from '../../src/pipeline/state-machine.js';

const dirs: string[] = [];
const fixtures: HttpFixture[] = [];
const fronts: Front[] = [];
after(async () => {
  for (const f of fronts) await f.close();
  for (const f of fixtures) await f.close().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-restart-'));
  dirs.push(dir);
  return dir;
}

interface Restartable {
  url: string;
  /** Dies: its connections are cut, and new ones are reset until start(). */
  stop(): Promise<void>;
  /** Comes back at the same URL: a fresh server, with none of the old sessions. */
  start(): Promise<void>;
  /** Until stop() or start(), the URL leads to this listener of the test's own, at `port`. */
  divert(port: number): void;
}

/**
 * A Streamable HTTP server that can die and come back at the same URL, as a restarted pod does. The
 * URL is a front's (test/fixtures/front.ts), which keeps its port: a fixture listening again on the
 * port it closed could meet another process that took it in between.
 * `tools`: a traffic server listing these (test/fixtures/traffic-server.ts), whose calls fail on request.
 */
async function server(tools?: readonly string[]): Promise<Restartable> {
  const opts = tools ? { makeServer: () => trafficServer('traffic-server', tools) } : {};
  let f = await startHttpFixture('streamable', opts);
  fixtures.push(f);
  const front = await startFront(f.port);
  fronts.push(front);
  return {
    url: front.url,
    async stop() {
      front.crash();
      await f.close();
    },
    async start() {
      f = await startHttpFixture('streamable', opts);
      fixtures.push(f);
      front.revive(f.port);
    },
    divert: (port) => front.revive(port),
  };
}

/** One instrumented MCP client process (test/fixtures/instrumented-agent.ts) run to the end: its spans are exported when it returns. */
async function instrumentedAgent(plan: Plan): Promise<PlanResult> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(FIXTURES, 'instrumented-agent.js'), JSON.stringify(plan)]);
  return JSON.parse(stdout) as PlanResult;
}

/**
 * A bearer token as a JWT that expires at `exp` (ms): mcpwatch reads its `exp` to warn before it
 * expires, and the fixture servers take any token.
 */
function jwtExpiring(exp: number, id: string): string {
  const part = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ sub: id, exp: Math.floor(exp / 1000) })}.${Buffer.from(`sig-${id}`).toString('base64url')}`;
}

/**
 * The agent's configuration: one check a second, down at the first failure, listeners on port 0.
 * `receivers`: the OTLP receiver's settings (none by default).
 */
function writeConfig(dir: string, alerts: string[], servers: Array<[string, string] | string>, extra: string[] = [], receivers = 'null'): string {
  const file = join(dir, 'mcpwatch.yaml');
  writeFileSync(
    file,
    [
      'monitoring: { interval: 1s, timeout: 10s, consecutive_failures_before_down: 1 }',
      'exporters: { prometheus: { endpoint: "127.0.0.1:0" } }',
      'health: { endpoint: "127.0.0.1:0" }',
      `receivers: { otlp: ${receivers} }`,
      `state: { path: ${JSON.stringify(join(dir, 'state.db'))} }`,
      ...extra,
      'alerts:',
      ...alerts.map((a) => `  - ${a}`),
      'servers:',
      ...servers.map((s) => (typeof s === 'string' ? `  - ${s}` : `  - { name: ${s[0]}, transport: streamable_http, url: ${JSON.stringify(s[1])} }`)),
      '',
    ].join('\n'),
  );
  return file;
}

async function ready(agent: AgentProcess): Promise<void> {
  await agent.waitLog(/first probe round done: ready/);
}

async function stop(agent: AgentProcess): Promise<void> {
  agent.proc.kill('SIGTERM');
  const { code } = await agent.exit;
  assert.equal(code, 0, agent.logs.join('\n'));
}

/** Resolves once the receiver's `events` hold one matching `pred`; the agent's log says what it did if not. */
async function waitEvent(events: AlertEvent[], pred: (e: AlertEvent) => boolean, what: string, agent: AgentProcess): Promise<AlertEvent> {
  try {
    await until(() => events.some(pred), what);
  } catch (err) {
    throw new Error(`${(err as Error).message}; received ${JSON.stringify(events.map((e) => [e.server, e.event]))}\n${agent.logs.join('\n')}`);
  }
  return events.find(pred)!;
}

const is = (server: string, event: string) => (e: AlertEvent) => e.server === server && e.event === event;
const of = (events: AlertEvent[], server: string): string[] => events.filter((e) => e.server === server).map((e) => e.event);

/**
 * The run before the restart: an agent on `file` sees these servers die and alerts each `down` to
 * `events`, then is stopped with SIGTERM. Their `down` events, by name.
 */
async function runUntilDown(file: string, events: AlertEvent[], servers: Record<string, { stop(): Promise<void> }>): Promise<Record<string, AlertEvent>> {
  const agent = startAgent(file);
  await ready(agent);
  for (const s of Object.values(servers)) await s.stop();
  const downs: Record<string, AlertEvent> = {};
  for (const name of Object.keys(servers)) downs[name] = await waitEvent(events, is(name, 'down'), `${name} down`, agent);
  await stop(agent);
  return downs;
}


/** One server, `a`, and one webhook: the run before the restart has seen `a` die and alerted it. */
async function oneServerDown(): Promise<{ dir: string; hook: Awaited<ReturnType<typeof webhookReceiver>>; a: Awaited<ReturnType<typeof server>>; file: string }> {
  const dir = tmp();
  const hook = await webhookReceiver();
  const a = await server();
  const file = writeConfig(dir, [`{ type: webhook, url: "${hook.url}" }`], [['a', a.url]]);
  try {
    await runUntilDown(file, hook.events, { a });
  } catch (err) {
    await hook.close();
    throw err;
  }
  return { dir, hook, a, file };
}

/**
 * Moves everything the state file in `dir` knows `ago` ms back, as if the agent had stopped that long
 * ago. `ago`: a whole number of the traffic window's buckets, which are kept by number.
 */
function ageStateFile(dir: string, ago: number): void {
  const db = new Database(join(dir, 'state.db'));
  const back = (t: number | null | undefined): number | null | undefined => (typeof t === 'number' ? t - ago : t);
  const rows = db.prepare('SELECT server, memory FROM server_states').all() as Array<{ server: string; memory: string }>;
  for (const { server, memory } of rows) {
    const m = JSON.parse(memory) as MachineMemory;
    Object.assign(m, { notUpSince: back(m.notUpSince), outageSince: back(m.outageSince), firstFailureAt: back(m.firstFailureAt) });
    if (m.traffic) m.traffic.since -= ago;
    if (m.trafficCalls) {
      assert.equal(ago % m.trafficCalls.bucketMs, 0, 'aged by whole buckets');
      for (const b of m.trafficCalls.buckets) b[0] -= ago / m.trafficCalls.bucketMs;
    }
    db.prepare('UPDATE server_states SET memory = ?, seen_at = seen_at - ? WHERE server = ?').run(JSON.stringify(m), ago, server);
  }
  db.prepare('UPDATE probe_minutes SET minute = minute - ?').run(ago);
  db.prepare('UPDATE incidents SET started_at = started_at - ?').run(ago);
  db.close();
}

async function metricsPage(agent: AgentProcess): Promise<string> {
  const line = await agent.waitLog(/"msg":"mcpwatch agent started"/);
  const { metrics } = JSON.parse(line) as { metrics: string };
  return (await fetch(`http://${metrics}/metrics`)).text();
}

function sample(page: string, metric: string, labels: Record<string, string>): number {
  const line = page.split('\n').find((l) => l.startsWith(`${metric}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** recovered's downtime is counted from the incident's start, wherever the agent restarted in it. */
function assertDowntimeFromStart(recovered: AlertEvent, startedAt: string): void {
  assert.equal(recovered.incident_started_at, startedAt, 'the incident is the one that started before the restart');
  const expected = (Date.parse(recovered.timestamp) - Date.parse(startedAt)) / 1000;
  assert.ok(Math.abs(recovered.downtime_seconds! - expected) < 0.002, `downtime ${recovered.downtime_seconds} s is from the incident's start (${expected} s)`);
}

describe('an incident across a restart of the agent', () => {
  it('is not alerted again: a server still down stays silent and later recovers with its whole downtime; one back during the restart recovers at once', async () => {
    const dir = tmp();
    const hook = await webhookReceiver();
    const a = await server();
    const b = await server();
    const file = writeConfig(dir, [`{ type: webhook, url: "${hook.url}" }`, '{ type: stdout }'], [['a', a.url], ['b', b.url]]);
    try {
      const { a: downA, b: downB } = await runUntilDown(file, hook.events, { a, b });

      await b.start();
      const second = startAgent(file);
      const recoveredB = await waitEvent(hook.events, is('b', 'recovered'), 'b recovered after the restart', second);
      await ready(second);
      const page = await metricsPage(second);
      assert.equal(sample(page, 'mcp_server_status', { mcp_server_name: 'a', mcp_server_status: 'down' }), 1, 'a is down from the start');
      assert.equal(sample(page, 'mcp_server_incidents_total', { mcp_server_name: 'a', mcp_server_status: 'down' }), 0, 'the incident under way is not counted again');

      await a.start();
      const recoveredA = await waitEvent(hook.events, is('a', 'recovered'), 'a recovered', second);
      assert.deepEqual(of(hook.events, 'a'), ['down', 'recovered'], 'a: one page, then its recovery');
      assert.deepEqual(of(hook.events, 'b'), ['down', 'recovered']);
      assertDowntimeFromStart(recoveredA, downA.incident_started_at!);
      assertDowntimeFromStart(recoveredB, downB.incident_started_at!);
      assert.equal(recoveredA.previous_state, 'down');
      await second.waitUntil(() => second.stdout.filter((l) => / RECOVERED /.test(l)).length === 2, 'both recoveries on stdout');
      assert.deepEqual(second.stdout.filter((l) => / DOWN /.test(l)), [], 'the stdout notifier does not page again either');
      await stop(second);

      // One incident each in the file, closed, and the scorecard counts one.
      const store = new StateStore(join(dir, 'state.db'), { readonly: true });
      try {
        for (const name of ['a', 'b']) {
          const incidents = store.incidentsSince(name, 0);
          assert.deepEqual(incidents.map((i) => [i.state, i.endedAt !== null]), [['down', true]], `${name}: one incident`);
        }
      } finally {
        store.close();
      }
      const card = spawnSync(process.execPath, [CLI, 'scorecard', '-c', file, '--json'], { encoding: 'utf8' });
      const servers = (JSON.parse(card.stdout) as { servers: Array<{ name: string; dimensions: { reliability: { findings: string[] } } }> }).servers;
      for (const s of servers) assert.ok(s.dimensions.reliability.findings.includes('1 incident in 7d (1 down)'), `${s.name}: ${JSON.stringify(s.dimensions.reliability.findings)}`);
    } finally {
      await hook.close();
    }
  });

  it('a notifier added while a server is down is told of the incident once its first check confirms it; the others are not told again', async () => {
    const dir = tmp();
    const told = await webhookReceiver();
    const added = await webhookReceiver();
    const a = await server();
    try {
      const { a: down } = await runUntilDown(writeConfig(dir, [`{ type: webhook, url: "${told.url}" }`], [['a', a.url]]), told.events, { a });

      const second = startAgent(writeConfig(dir, [`{ type: webhook, url: "${told.url}" }`, `{ type: webhook, url: "${added.url}" }`], [['a', a.url]]));
      const caughtUp = await waitEvent(added.events, is('a', 'down'), 'the added notifier told of the incident', second);
      assert.equal(caughtUp.incident_started_at, down.incident_started_at, 'the incident that started before the restart');
      assert.equal(caughtUp.previous_state, 'unknown', 'the added notifier knew nothing of a');
      assert.equal(caughtUp.current_state, 'down');
      assert.equal(caughtUp.details.catch_up, true);
      assert.match(caughtUp.message, /this notifier had not been told of it when mcpwatch restarted/);

      await a.start();
      await waitEvent(told.events, is('a', 'recovered'), 'a recovered (told)', second);
      await waitEvent(added.events, is('a', 'recovered'), 'a recovered (added)', second);
      assert.deepEqual(of(told.events, 'a'), ['down', 'recovered']);
      assert.deepEqual(of(added.events, 'a'), ['down', 'recovered']);
      await stop(second);
    } finally {
      await told.close();
      await added.close();
    }
  });

  it('a notifier a reload (SIGHUP) adds is told of the incident under way once, as one added across a restart is; the others are not told again', async () => {
    const dir = tmp();
    const told = await webhookReceiver();
    const added = await webhookReceiver();
    const a = await server();
    const b = await server();
    try {
      const file = writeConfig(dir, [`{ type: webhook, url: "${told.url}" }`], [['a', a.url], ['b', b.url]]);
      const agent = startAgent(file);
      await ready(agent);
      await a.stop();
      const down = await waitEvent(told.events, is('a', 'down'), 'a down', agent);

      writeConfig(dir, [`{ type: webhook, url: "${told.url}" }`, `{ type: webhook, url: "${added.url}" }`], [['a', a.url], ['b', b.url]]);
      agent.proc.kill('SIGHUP');
      const caughtUp = await waitEvent(added.events, is('a', 'down'), 'the added notifier told of the incident', agent);
      assert.equal(caughtUp.incident_started_at, down.incident_started_at, 'the incident under way');
      assert.deepEqual([caughtUp.previous_state, caughtUp.current_state, caughtUp.details.catch_up], ['unknown', 'down', true]);
      assert.match(caughtUp.message, /this notifier had not been told of it when a reload added it/);

      await a.start();
      await waitEvent(added.events, is('a', 'recovered'), 'a recovered (added)', agent);
      await waitEvent(told.events, is('a', 'recovered'), 'a recovered (told)', agent);
      await stop(agent);
      assert.deepEqual(of(told.events, 'a'), ['down', 'recovered']);
      assert.deepEqual(of(added.events, 'a'), ['down', 'recovered']);
      assert.deepEqual([...of(told.events, 'b'), ...of(added.events, 'b')], [], 'b, up all along: nothing to tell');
    } finally {
      await told.close();
      await added.close();
    }
  });

  it('Alertmanager: an alert stays the same alert over the restart and resolves with the recovery; a removed or renamed server\'s resolves at start', async () => {
    const dir = tmp();
    const am = await startAlertmanager();
    const [a, b, c] = [await server(), await server(), await server()];
    // A long resend interval: endsAt is 40 minutes ahead, so only mcpwatch resolves these alerts here.
    const alerts = [`{ type: alertmanager, url: "${am.url}", resend_interval: 10m }`];
    const notes = (server: string): Array<AmNotification['status']> => am.received.filter((n) => n.labels.mcp_server_name === server && n.labels.alertname === 'McpServerDown').map((n) => n.status);
    try {
      const first = startAgent(writeConfig(dir, alerts, [['a', a.url], ['b', b.url], ['c', c.url]]));
      await ready(first);
      await Promise.all([a.stop(), b.stop(), c.stop()]);
      for (const s of ['a', 'b', 'c']) await am.waitFor((n) => n.status === 'firing' && n.labels.mcp_server_name === s, `${s} firing`);
      await stop(first);

      // b comes back during the restart; c is renamed c2 (same URL, still down).
      await b.start();
      const started = new Date();
      const second = startAgent(writeConfig(dir, alerts, [['a', a.url], ['b', b.url], ['c2', c.url]]));
      await am.waitFor((n) => n.status === 'resolved' && n.labels.mcp_server_name === 'b', 'b resolved by its recovery after the restart');
      await am.waitFor((n) => n.status === 'resolved' && n.labels.mcp_server_name === 'c', 'c resolved: no longer configured');
      await am.waitFor((n) => n.status === 'firing' && n.labels.mcp_server_name === 'c2', 'c2 is a new server, and down');
      await ready(second);
      // a's alert was taken up and posted again by the new process, with the incident's start.
      let held: Array<{ startsAt: string; updatedAt: string; status: { state: string } }> = [];
      await until(async () => {
        const res = await fetch(`${am.url}/api/v2/alerts?filter=${encodeURIComponent('mcp_server_name="a"')}`);
        held = (await res.json()) as typeof held;
        return held.length === 1 && Date.parse(held[0]!.updatedAt) >= started.getTime();
      }, "a's alert posted again by the new process");
      assert.equal(held[0]!.status.state, 'active');
      assert.deepEqual(notes('a'), ['firing'], 'a: not resolved by the restart');

      await a.start();
      await am.waitFor((n) => n.status === 'resolved' && n.labels.mcp_server_name === 'a', 'a resolved by its recovery');
      assert.deepEqual(notes('a'), ['firing', 'resolved']);
      assert.deepEqual(notes('b'), ['firing', 'resolved']);
      assert.deepEqual(notes('c'), ['firing', 'resolved']);
      await stop(second);
    } finally {
      await am.stop();
    }
  });

  it('a state last seen longer ago than state.resume_within is not gone on with: a server still down is a new incident, one up again ends the old one with its downtime unknown', async () => {
    const dir = tmp();
    const hook = await webhookReceiver();
    const a = await server();
    const b = await server();
    const file = writeConfig(dir, [`{ type: webhook, url: "${hook.url}" }`], [['a', a.url], ['b', b.url]]);
    try {
      const { a: downA, b: downB } = await runUntilDown(file, hook.events, { a, b });

      // As if the agent had stopped two days ago (resume_within is 1h by default; the retention, 8d,
      // keeps the old incident).
      const ago = 2 * 86_400_000;
      ageStateFile(dir, ago);
      const db = new Database(join(dir, 'state.db'), { readonly: true });
      const seen = db.prepare("SELECT seen_at FROM server_states WHERE server = 'a'").pluck().get() as number | undefined;
      db.close();

      await b.start();
      const second = startAgent(file);
      const recoveredB = await waitEvent(hook.events, is('b', 'recovered'), 'b: the old incident ends', second);
      const again = await waitEvent(hook.events, (e) => e.server === 'a' && e.event === 'down' && e !== downA, 'a: a new incident', second);
      await ready(second);
      assert.equal(recoveredB.downtime_seconds, null, 'how long b stayed down is unknown');
      assert.equal(recoveredB.previous_state, 'down');
      assert.equal(recoveredB.details.from, 'down');
      assert.match(recoveredB.message, /^up; it was down when mcpwatch last checked it \(.+\), and how long it stayed down after that is unknown$/);
      assert.equal(recoveredB.incident_started_at, new Date(Date.parse(downB.incident_started_at!) - ago).toISOString(), 'the old incident is the one that ends');
      assert.notEqual(again.incident_started_at, downA.incident_started_at);
      assert.equal(again.previous_state, 'unknown');
      assert.equal(sample(await metricsPage(second), 'mcp_server_incidents_total', { mcp_server_name: 'a', mcp_server_status: 'down' }), 1, 'a new incident is counted');
      await stop(second);

      const store = new StateStore(join(dir, 'state.db'), { readonly: true });
      try {
        const incidents = store.incidentsSince('a', 0);
        assert.equal(incidents.length, 2, 'the old incident and a new one');
        assert.equal(incidents[0]!.endedAt, seen, 'the old one ends when the server was last checked');
        assert.equal(incidents[1]!.endedAt, null);
      } finally {
        store.close();
      }
    } finally {
      await hook.close();
    }
  });

  it('Alertmanager, a state too old to go on with: the old incident\'s alert still active there resolves at the start, not at its endsAt', async () => {
    const dir = tmp();
    const am = await startAlertmanager();
    const a = await server();
    // endsAt 40 minutes ahead: Alertmanager holds the alert far longer than the agent is stopped.
    const file = writeConfig(dir, [`{ type: alertmanager, url: "${am.url}", resend_interval: 10m }`], [['a', a.url]]);
    const notes = (): Array<AmNotification['status']> => am.received.filter((n) => n.labels.mcp_server_name === 'a' && n.labels.alertname === 'McpServerDown').map((n) => n.status);
    try {
      const first = startAgent(file);
      await ready(first);
      await a.stop();
      await am.waitFor((n) => n.status === 'firing' && n.labels.mcp_server_name === 'a', 'a firing');
      await stop(first);

      // Older than resume_within (1h) in the file; a comes back meanwhile.
      ageStateFile(dir, 2 * 86_400_000);
      await a.start();
      const second = startAgent(file);
      await second.waitLog(/too long ago to go on with its incident/);
      await am.waitFor((n) => n.status === 'resolved' && n.labels.mcp_server_name === 'a', 'a resolved at the start');
      await ready(second);
      await stop(second);
      assert.deepEqual(notes(), ['firing', 'resolved']);
    } finally {
      await am.stop();
    }
  });

  it('an expired state whose first check a stop cut short is ended by the next run: the server found up then sends its recovered', async () => {
    const { dir, hook, a, file } = await oneServerDown();
    try {
      ageStateFile(dir, 2 * 86_400_000);

      // The next run stops before its first check of a ends: a takes the connection and never answers.
      const sockets = new Set<Socket>();
      const silent = createServer((s) => void sockets.add(s.on('error', () => undefined)));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      a.divert((silent.address() as AddressInfo).port);
      const patient = join(dir, 'patient.yaml');
      writeFileSync(patient, readFileSync(file, 'utf8').replace('timeout: 10s', 'timeout: 10m'));
      const cut = startAgent(patient);
      await cut.waitLog(/too long ago to go on with its incident/);
      await until(() => sockets.size > 0, 'the check of a under way');
      await stop(cut);
      await a.stop();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));

      await a.start();
      const third = startAgent(file);
      const recovered = await waitEvent(hook.events, is('a', 'recovered'), 'a: the old incident ends', third);
      await ready(third);
      assert.equal(recovered.downtime_seconds, null, 'how long a stayed down is unknown');
      assert.equal(recovered.previous_state, 'down');
      assert.deepEqual(of(hook.events, 'a'), ['down', 'recovered']);
      await stop(third);
    } finally {
      await hook.close();
    }
  });

  it('a traffic failure is judged on the calls of its window: one whose calls left it while the agent was stopped ends at the start, the stop counted in its duration, and they never alert again', async () => {
    const dir = tmp();
    const hook = await webhookReceiver();
    const a = await server(['run']);
    const file = writeConfig(dir, [`{ type: webhook, url: "${hook.url}" }`], [['a', a.url]], [], '{ grpc: null, http: { endpoint: "127.0.0.1:0" } }');
    try {
      const first = startAgent(file);
      await ready(first);
      const { otlp_http: endpoint } = JSON.parse(await first.waitLog(/"msg":"mcpwatch agent started"/)) as { otlp_http: string };
      // The user's case: 18 of 42 calls fail, over the default 20 % of at least 20 calls in 5 minutes.
      const calls = [
        { url: a.url, tool: 'run', fail: 'invalid' as const, times: 18 },
        { url: a.url, tool: 'run', times: 24 },
      ];
      assert.deepEqual(await instrumentedAgent({ style: 'semconv', protocol: 'http', endpoint, service: 'support-bot', calls }), { calls: 42, failed: 18 });
      const failing = await waitEvent(hook.events, is('a', 'traffic_errors'), 'a degraded by its traffic', first);
      assert.equal(failing.message, 'traffic: 43 % of 42 calls failed (invalid_params 18)');
      await stop(first);

      // Started again 7 minutes later: the calls are 2 minutes older than the window.
      const ago = 7 * 60_000;
      ageStateFile(dir, ago);
      const second = startAgent(file);
      const ended = await waitEvent(hook.events, is('a', 'recovered'), 'the traffic failure ends at the start', second);
      assert.deepEqual([ended.previous_state, ended.current_state, ended.details.cause, ended.details.calls], ['degraded', 'up', 'traffic', 0]);
      assert.match(ended.message, /^traffic errors back under the threshold after 7m \d+s: no calls in 5m$/);
      const startedAt = new Date(Date.parse(failing.incident_started_at!) - ago).toISOString();
      assertDowntimeFromStart(ended, startedAt);
      await ready(second);

      // The server dies and comes back: the calls of the last run do not degrade it again.
      await a.stop();
      await waitEvent(hook.events, is('a', 'down'), 'a down', second);
      await a.start();
      await waitEvent(hook.events, (e) => e.server === 'a' && e.event === 'recovered' && e.previous_state === 'down', 'a back', second);
      await stop(second);
      assert.deepEqual(of(hook.events, 'a'), ['traffic_errors', 'recovered', 'down', 'recovered']);

      const store = new StateStore(join(dir, 'state.db'), { readonly: true });
      try {
        const first = store.incidentsSince('a', 0)[0]!;
        assert.deepEqual([first.state, first.startedAt, first.endedAt], ['degraded', Date.parse(startedAt), Date.parse(ended.timestamp)], 'one degraded incident, over the stop, ended at the start');
      } finally {
        store.close();
      }
    } finally {
      await hook.close();
    }
  });

  it('a credential_expiring sent before the restart is not sent again for the same credential; a rotated one is warned about', async () => {
    const dir = tmp();
    const hook = await webhookReceiver();
    const a = await server();
    const tokenFile = join(dir, 'token');
    // Well inside the default 24 h warning, and whole seconds, as a JWT's exp is.
    const first = Math.floor(Date.now() / 1000 + 2 * 3600) * 1000;
    const rotated = first + 3600_000;
    writeFileSync(tokenFile, jwtExpiring(first, 'first'));
    const file = writeConfig(dir, [`{ type: webhook, url: "${hook.url}" }`], [`{ name: a, transport: streamable_http, url: ${JSON.stringify(a.url)}, auth: { type: bearer, token_file: ${JSON.stringify(tokenFile)} } }`]);
    const warnings = (): string[] => hook.events.filter(is('a', 'credential_expiring')).map((e) => String(e.details.expires_at));
    try {
      const agent = startAgent(file);
      await waitEvent(hook.events, is('a', 'credential_expiring'), 'the first warning', agent);
      await stop(agent);

      const second = startAgent(file);
      await ready(second);
      // A new token (written aside and renamed over, as a sidecar does) is warned about at a later
      // check; the notifier sends in order, so a second warning of the first token would come before it.
      writeFileSync(`${tokenFile}.new`, jwtExpiring(rotated, 'rotated'));
      renameSync(`${tokenFile}.new`, tokenFile);
      await waitEvent(hook.events, (e) => is('a', 'credential_expiring')(e) && e.details.expires_at === new Date(rotated).toISOString(), 'the rotated token\'s warning', second);
      await stop(second);
      assert.deepEqual(warnings(), [new Date(first).toISOString(), new Date(rotated).toISOString()], 'one warning per token, across the restart');
    } finally {
      await hook.close();
    }
  });

  it('a state file from before the servers\' states were kept: an open incident goes on, not alerted again', async () => {
    const { dir, hook, a, file } = await oneServerDown();
    try {

      // What an older mcpwatch leaves: the same tables, without these two.
      const db = new Database(join(dir, 'state.db'));
      db.exec('DROP TABLE IF EXISTS server_states; DROP TABLE IF EXISTS notified;');
      const incident = db.prepare("SELECT started_at FROM incidents WHERE server = 'a' AND ended_at IS NULL").pluck().get() as number;
      db.close();

      const second = startAgent(file);
      await ready(second);
      // The file gets the tables again, and keeps every row it had.
      await a.start();
      const recovered = await waitEvent(hook.events, is('a', 'recovered'), 'a recovered', second);
      assert.deepEqual(of(hook.events, 'a'), ['down', 'recovered'], 'no second page over the upgrade');
      assert.equal(recovered.incident_started_at, new Date(incident).toISOString(), 'the open incident of the file is the one that ends');
      await stop(second);
    } finally {
      await hook.close();
    }
  });
});
