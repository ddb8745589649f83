import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig, ConfigError } from '../../src/config/load.js';
import { AlertDispatcher, alertLabels, alertsEndpoint, alertsFor, createNotifier, refreshed, retire, ONE_OFF_MS, RESEND_MARGIN, type ActiveAlerts, type AlertmanagerNotifier } from '../../src/export/notify.js';
import type { AlertEvent } from '../../src/pipeline/events.js';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { startFront } from '../fixtures/front.js';
import { startAlertmanager } from '../fixtures/alertmanager.js';
import { refusingPort } from '../fixtures/refusing.js';
import { webhookReceiver } from '../fixtures/webhook.js';
import { until } from '../helpers.js';

const T = Date.UTC(2026, 11, 6, 7, 0, 0);
const SETTINGS = { labels: { cluster: 'prod', severity: 'ignored' }, resend_interval: 60_000 };

function event(over: Partial<AlertEvent>): AlertEvent {
  return {
    server: 'github',
    transport: 'streamable_http',
    tags: ['critical', 'team:platform'],
    event: 'down',
    severity: 'critical',
    message: 'github DOWN — connection refused',
    details: { error_type: 'connection_refused' },
    previous_state: 'up',
    current_state: 'down',
    timestamp: new Date(T).toISOString(),
    incident_started_at: new Date(T - 10_000).toISOString(),
    downtime_seconds: null,
    ...over,
  };
}

describe('alertmanager notifier: events as alerts', () => {
  it('labels alerts stably: alertname, server, transport, severity, tags; static labels cannot override them', () => {
    assert.deepEqual(alertLabels(event({}), 'McpServerDown', SETTINGS.labels), {
      cluster: 'prod',
      mcp_tag_critical: 'true',
      mcp_tag_team: 'platform',
      alertname: 'McpServerDown',
      mcp_server_name: 'github',
      mcp_transport: 'streamable_http',
      severity: 'critical',
    });
    assert.equal(alertsEndpoint('http://am:9093/'), 'http://am:9093/api/v2/alerts');
    assert.equal(alertsEndpoint('https://am.example/prefix/api/v2/alerts'), 'https://am.example/prefix/api/v2/alerts');
  });

  it('opens a state alert, moves it to the next state, resolves it on recovery', () => {
    const active: ActiveAlerts = new Map();
    const down = alertsFor(event({}), active, T, SETTINGS);
    assert.equal(down.length, 1);
    assert.equal(down[0]!.labels.alertname, 'McpServerDown');
    assert.equal(down[0]!.startsAt, new Date(T - 10_000).toISOString(), 'starts when the incident did');
    assert.equal(down[0]!.endsAt, new Date(T + RESEND_MARGIN * 60_000).toISOString());
    assert.equal(down[0]!.annotations.summary, 'MCP server github is down');
    assert.equal(down[0]!.annotations.description, 'github DOWN — connection refused');
    assert.equal(down[0]!.annotations.error_type, 'connection_refused');

    // down → stale: the down alert is resolved, a stale one opens.
    const stale = alertsFor(event({ event: 'stale', severity: 'warning', previous_state: 'down', current_state: 'stale' }), active, T + 1000, SETTINGS);
    assert.deepEqual(stale.map((a) => [a.labels.alertname, a.endsAt]), [
      ['McpServerDown', new Date(T + 1000).toISOString()],
      ['McpServerStale', new Date(T + 1000 + RESEND_MARGIN * 60_000).toISOString()],
    ]);
    assert.deepEqual([...active.get('github')!.keys()], ['McpServerStale']);

    // Re-posts move endsAt ahead and keep everything else.
    const again = refreshed(active, T + 61_000, 60_000);
    assert.deepEqual(again.map((a) => [a.labels.alertname, a.endsAt]), [['McpServerStale', new Date(T + 61_000 + RESEND_MARGIN * 60_000).toISOString()]]);

    const recovered = alertsFor(event({ event: 'recovered', severity: 'info', previous_state: 'stale', current_state: 'up' }), active, T + 90_000, SETTINGS);
    assert.deepEqual(recovered.map((a) => [a.labels.alertname, a.endsAt]), [['McpServerStale', new Date(T + 90_000).toISOString()]]);
    assert.equal(active.size, 0);
    assert.deepEqual(refreshed(active, T + 120_000, 60_000), [], 'nothing left to re-post');
  });

  it('starts an alert when its state began: a down after a degraded spell is down since the event, not since the spell', () => {
    const active: ActiveAlerts = new Map();
    const degraded = alertsFor(event({ event: 'degraded', severity: 'warning', current_state: 'degraded', incident_started_at: new Date(T - 40_000).toISOString(), timestamp: new Date(T - 40_000).toISOString() }), active, T - 40_000, SETTINGS);
    assert.equal(degraded[0]!.startsAt, new Date(T - 40_000).toISOString());
    const down = alertsFor(event({ previous_state: 'degraded', incident_started_at: new Date(T - 40_000).toISOString() }), active, T, SETTINGS);
    assert.deepEqual(down.map((a) => [a.labels.alertname, a.startsAt]), [
      ['McpServerDegraded', new Date(T - 40_000).toISOString()],
      ['McpServerDown', new Date(T).toISOString()],
    ]);
    // Posted again for another cause of the same state: the start stays.
    const later = alertsFor(event({ previous_state: 'down', timestamp: new Date(T + 5000).toISOString() }), active, T + 5000, SETTINGS);
    assert.deepEqual(later.map((a) => [a.labels.alertname, a.startsAt]), [['McpServerDown', new Date(T).toISOString()]]);
  });

  it('keeps the state alert while a recovery leaves the server in that state (one check passes, another still fails)', () => {
    const active: ActiveAlerts = new Map();
    const failing = (check: string): AlertEvent => event({ event: 'check_failed', severity: 'warning', current_state: 'degraded', details: { check } });
    alertsFor(failing('can-query'), active, T, SETTINGS);
    alertsFor(failing('can-read'), active, T + 1000, SETTINGS);
    const one = alertsFor(event({ event: 'recovered', severity: 'info', previous_state: 'degraded', current_state: 'degraded', details: { check: 'can-query' } }), active, T + 2000, SETTINGS);
    assert.deepEqual(one, [], 'nothing resolved: the server is still degraded');
    assert.deepEqual([...active.get('github')!.keys()], ['McpServerDegraded']);
    const both = alertsFor(event({ event: 'recovered', severity: 'info', previous_state: 'degraded', current_state: 'up', details: { check: 'can-read' } }), active, T + 3000, SETTINGS);
    assert.deepEqual(both.map((a) => [a.labels.alertname, a.endsAt]), [['McpServerDegraded', new Date(T + 3000).toISOString()]]);
    assert.equal(active.size, 0);
  });

  it('failing traffic is McpServerDegraded until its recovered; a latency recovery while traffic still fails keeps it', () => {
    const active: ActiveAlerts = new Map();
    const message = 'traffic: 34 % of 212 calls failed (invalid_params 30, timeout 42)';
    const opened = alertsFor(event({ event: 'traffic_errors', severity: 'warning', message, current_state: 'degraded', details: { error_type: 'timeout' } }), active, T, SETTINGS);
    assert.deepEqual(opened.map((a) => [a.labels.alertname, a.labels.severity, a.annotations.mcpwatch_event, a.annotations.description]), [['McpServerDegraded', 'warning', 'traffic_errors', message]]);
    const latency = alertsFor(event({ event: 'recovered', severity: 'info', previous_state: 'degraded', current_state: 'degraded' }), active, T + 1000, SETTINGS);
    assert.deepEqual(latency, []);
    const back = alertsFor(event({ event: 'recovered', severity: 'info', previous_state: 'degraded', current_state: 'up', details: { cause: 'traffic' } }), active, T + 2000, SETTINGS);
    assert.deepEqual(back.map((a) => [a.labels.alertname, a.endsAt]), [['McpServerDegraded', new Date(T + 2000).toISOString()]]);
    assert.equal(active.size, 0);
  });

  // A degrading event for a server that is down or stale keeps the worse state's alert firing.
  const outranked: Array<[string, AlertEvent, string[]]> = [
    ['traffic_errors while down', event({ event: 'traffic_errors', severity: 'warning', previous_state: 'down', current_state: 'down' }), ['McpServerDown']],
    ['a warning check while down', event({ event: 'check_failed', severity: 'warning', previous_state: 'down', current_state: 'down' }), ['McpServerDown']],
    ['a traffic recovered while down', event({ event: 'recovered', severity: 'info', previous_state: 'down', current_state: 'down', details: { cause: 'traffic' } }), ['McpServerDown']],
    ['traffic_errors while stale', event({ event: 'traffic_errors', severity: 'warning', previous_state: 'stale', current_state: 'stale' }), ['McpServerStale']],
    ['traffic_errors once the server answers again (down → degraded)', event({ event: 'traffic_errors', severity: 'warning', previous_state: 'down', current_state: 'degraded' }), ['McpServerDegraded']],
  ];
  for (const [what, e, held] of outranked) {
    it(`${what}: active alerts afterwards are ${held.join(', ')}`, () => {
      const active: ActiveAlerts = new Map();
      const state = e.previous_state as 'down' | 'stale';
      alertsFor(event({ event: state, severity: state === 'down' ? 'critical' : 'warning', previous_state: 'up', current_state: state }), active, T, SETTINGS);
      alertsFor(e, active, T + 1000, SETTINGS);
      assert.deepEqual([...(active.get('github')?.keys() ?? [])], held);
    });
  }

  it('posts one-off events once, ending on their own; breaking drift is critical like the rule', () => {
    const active: ActiveAlerts = new Map();
    const drift = alertsFor(event({ event: 'schema_drift', severity: 'critical', message: 'tool schemas changed', details: { summary: 'removed tool x' }, current_state: 'up', previous_state: 'up' }), active, T, SETTINGS);
    assert.deepEqual(drift.map((a) => [a.labels.alertname, a.labels.severity, a.endsAt, a.annotations.description]), [
      ['McpServerSchemaBreakingChange', 'critical', new Date(T + ONE_OFF_MS).toISOString(), 'tool schemas changed\nremoved tool x'],
    ]);
    const spike = alertsFor(event({ event: 'latency_spike', severity: 'warning' }), active, T, SETTINGS);
    assert.equal(spike[0]!.labels.alertname, 'McpServerLatencySpike');
    assert.equal(active.size, 0, 'one-off events are not re-posted');
  });

  it('sends basic auth or a bearer token, and refuses both at once in the configuration', async () => {
    const seen: Array<{ auth: string | undefined; path: string | undefined; body: unknown }> = [];
    const srv = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ auth: req.headers.authorization, path: req.url, body: JSON.parse(Buffer.concat(chunks).toString()) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      // Deadlines no local delivery comes near, even on a loaded machine: each of these posts must land.
      const basic = createNotifier({ type: 'alertmanager', url: `${url}/basic`, basic_auth: { username: 'u', password: 'p' }, labels: {}, resend_interval: 60_000, timeout: 60_000, retry: { max_attempts: 1, initial_backoff: 1000, max_backoff: 1000 } });
      await basic.deliver(event({ server: 'basic' }), AbortSignal.timeout(60_000));
      const bearer = createNotifier({ type: 'alertmanager', url: `${url}/bearer`, bearer_token: 't0k', labels: {}, resend_interval: 60_000, timeout: 60_000, retry: { max_attempts: 1, initial_backoff: 1000, max_backoff: 1000 } }) as AlertmanagerNotifier;
      await bearer.deliver(event({ server: 'bearer' }), AbortSignal.timeout(60_000));
      await bearer.resend();
      basic.close?.();
      bearer.close?.();
      assert.deepEqual(seen.map((s) => [s.path, s.auth]), [
        ['/basic/api/v2/alerts', `Basic ${Buffer.from('u:p').toString('base64')}`],
        ['/bearer/api/v2/alerts', 'Bearer t0k'],
        ['/bearer/api/v2/alerts', 'Bearer t0k'],
      ]);
      assert.equal((seen[2]!.body as Array<{ labels: { alertname: string } }>)[0]!.labels.alertname, 'McpServerDown', 'the active alert is posted again');
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
    assert.throws(
      () => parseConfig('alerts:\n  - { type: alertmanager, url: "http://am:9093", bearer_token: x, basic_auth: { username: u, password: p } }\n', 'mcpwatch.yaml', {}),
      (err: unknown) => err instanceof ConfigError && /alerts\[0\]\.bearer_token: set basic_auth or bearer_token, not both/.test(err.message),
    );
  });
});

/** A fake Alertmanager for one notifier: records each POST's alerts; `hold` keeps the next answer until released. */
function fakeAm(): { fetch: typeof fetch; posts: Array<Array<{ labels: Record<string, string>; endsAt: string }>>; status: number; hold(): () => void } {
  const posts: Array<Array<{ labels: Record<string, string>; endsAt: string }>> = [];
  let held: Promise<void> | undefined;
  const fake = {
    posts,
    status: 200,
    hold() {
      let release!: () => void;
      held = new Promise<void>((r) => (release = r));
      return release;
    },
    // Ignores the signal on purpose: an attempt the dispatcher gave up on can still land.
    fetch: (async (_url: string, init: RequestInit) => {
      posts.push(JSON.parse(init.body as string) as Array<{ labels: Record<string, string>; endsAt: string }>);
      const wait = held;
      held = undefined;
      await wait;
      return new Response(null, { status: fake.status });
    }) as unknown as typeof fetch,
  };
  return fake;
}

const amConfig = (name: string) =>
  ({ type: 'alertmanager', url: `http://${name}.test:9093`, labels: {}, resend_interval: 60_000, timeout: 5000, retry: { max_attempts: 1, initial_backoff: 1000, max_backoff: 1000 } }) as const;

/** Each POST as [alertname, server, firing or resolved]. */
function summary(posts: Array<Array<{ labels: Record<string, string>; endsAt: string }>>): Array<Array<[string | undefined, string | undefined, string]>> {
  return posts.map((p) => p.map((a) => [a.labels.alertname, a.labels.mcp_server_name, Date.parse(a.endsAt) > T ? 'firing' : 'resolved']));
}

describe('alertmanager notifier: a server still down for another cause', () => {
  it('updates the open alert\'s description and error_type for the next re-post, posts nothing new, and tells the other notifiers nothing', async () => {
    const am = fakeAm();
    const n = createNotifier(amConfig('revise'), { fetch: am.fetch, now: () => T }) as AlertmanagerNotifier;
    const others: AlertEvent[] = [];
    const told: Array<[string, unknown]> = [];
    const hook = { kind: 'webhook' as const, key: 'hook', target: 'hook', retry: { max_attempts: 1, initial_backoff: 1, max_backoff: 1 }, timeout: 5000, accepts: () => true, deliver: async (e: AlertEvent) => void others.push(e) };
    const dispatcher = new AlertDispatcher([n, hook], { delivered: (key, e, held) => told.push([key, held]) });
    try {
      dispatcher.dispatch(event({ message: 'timeout after 3000ms waiting for tools/list', details: { error_type: 'timeout' } }));
      dispatcher.revise(event({ message: 'connection refused (ECONNREFUSED)', details: { error_type: 'connection_refused', previous_error_type: 'timeout' }, previous_state: 'down' }));
      assert.equal(await dispatcher.flush(5000), true);
      assert.equal(am.posts.length, 1, 'no post for the new cause');
      assert.deepEqual(others.map((e) => e.details.error_type), ['timeout'], 'the webhook is not paged again');
      await n.resend();
      const reposted = am.posts[1]![0] as unknown as { annotations: Record<string, string>; startsAt: string };
      assert.deepEqual([reposted.annotations.description, reposted.annotations.error_type], ['connection refused (ECONNREFUSED)', 'connection_refused']);
      assert.equal(reposted.startsAt, new Date(T - 10_000).toISOString(), 'the same alert');
      const kept = told.filter(([key]) => key === n.key).at(-1)![1] as Array<{ annotations: Record<string, string> }>;
      assert.equal(kept[0]!.annotations.error_type, 'connection_refused', 'the state file keeps the new cause for a restart');
    } finally {
      await dispatcher.close();
    }
  });

  it('a cause that keeps switching behind a slow Alertmanager takes one place in the queue, and the down it revises is not pushed out', async () => {
    const am = fakeAm();
    const n = createNotifier(amConfig('revise-queue'), { fetch: am.fetch, now: () => T }) as AlertmanagerNotifier;
    const dispatcher = new AlertDispatcher([n], { queueSize: 2 });
    const release = am.hold();
    try {
      dispatcher.dispatch(event({ server: 'other' }));
      await until(() => am.posts.length === 1, 'the first post in flight');
      dispatcher.dispatch(event({ message: 'timeout after 3000ms waiting for tools/list', details: { error_type: 'timeout' } }));
      for (const type of ['connection_refused', 'timeout', 'connection_refused']) {
        dispatcher.revise(event({ message: type, details: { error_type: type, previous_error_type: 'x' }, previous_state: 'down' }));
      }
      release();
      assert.equal(await dispatcher.flush(5000), true);
      assert.deepEqual(summary(am.posts), [[['McpServerDown', 'other', 'firing']], [['McpServerDown', 'github', 'firing']]], 'both downs posted, none dropped');
      await n.resend();
      const reposted = am.posts.at(-1)!.find((a) => a.labels.mcp_server_name === 'github') as unknown as { annotations: Record<string, string> };
      assert.equal(reposted.annotations.error_type, 'connection_refused', 'the last cause is the one kept');
    } finally {
      await dispatcher.close();
    }
  });

  it('whose down never reached Alertmanager is not recorded as told of it: a restart still catches it up', async () => {
    const am = fakeAm();
    am.status = 500;
    const n = createNotifier(amConfig('revise-unsent'), { fetch: am.fetch, now: () => T }) as AlertmanagerNotifier;
    const told: Array<[string, string]> = [];
    const dispatcher = new AlertDispatcher([n], { delivered: (key, e) => told.push([key, e.current_state]) });
    try {
      dispatcher.dispatch(event({ message: 'timeout after 3000ms waiting for tools/list', details: { error_type: 'timeout' } }));
      assert.equal(await dispatcher.flush(5000), true);
      assert.equal(am.posts.length, 1, 'the down was tried and refused');
      dispatcher.revise(event({ message: 'connection refused (ECONNREFUSED)', details: { error_type: 'connection_refused', previous_error_type: 'timeout' }, previous_state: 'down' }));
      assert.equal(await dispatcher.flush(5000), true);
      assert.deepEqual(told, [], 'nothing open was revised, so nothing was told');
      assert.deepEqual(n.held!('github'), []);
    } finally {
      await dispatcher.close();
    }
  });
});

describe('alertmanager notifier: servers no longer monitored', () => {
  it('retire takes a server\'s alerts out and returns them ended now, leaving the others', () => {
    const active: ActiveAlerts = new Map();
    alertsFor(event({ server: 'gone' }), active, T - 5000, SETTINGS);
    alertsFor(event({ server: 'gone', event: 'latency_spike', severity: 'warning' }), active, T - 5000, SETTINGS);
    alertsFor(event({ server: 'stays' }), active, T - 5000, SETTINGS);
    const out = retire(active, ['gone', 'never-alerted'], T);
    assert.deepEqual(out.map((a) => [a.labels.alertname, a.labels.mcp_server_name, a.endsAt]), [['McpServerDown', 'gone', new Date(T).toISOString()]]);
    assert.equal(out[0]!.startsAt, new Date(T - 10_000).toISOString(), 'the same alert, only ended');
    assert.deepEqual([...active.keys()], ['stays']);
  });

  it('forget resolves after a delivery still landing, and the re-posts never bring the alert back', async () => {
    const am = fakeAm();
    const n = createNotifier(amConfig('forget-landing'), { fetch: am.fetch, now: () => T }) as AlertmanagerNotifier;
    try {
      // A down whose attempt is still under way (the old dispatcher closed on it) when the server is forgotten.
      const release = am.hold();
      const down = n.deliver(event({ server: 'gone' }), new AbortController().signal);
      const forgotten = n.forget(['gone']);
      await until(() => am.posts.length === 1, 'the down posted');
      release();
      await down;
      await forgotten;
      await n.resend();
      assert.deepEqual(summary(am.posts), [[['McpServerDown', 'gone', 'firing']], [['McpServerDown', 'gone', 'resolved']]], 'nothing left to re-post');
    } finally {
      n.close?.();
    }
  });

  it('a resolve that fails goes with the next re-posts until one succeeds; the dispatcher logs it', async () => {
    const am = fakeAm();
    const n = createNotifier(amConfig('forget-failing'), { fetch: am.fetch, now: () => T }) as AlertmanagerNotifier;
    const logged: Array<[string, string, Record<string, unknown>]> = [];
    const dispatcher = new AlertDispatcher([n], { log: (level, msg, fields) => logged.push([level, msg, fields]) });
    try {
      await n.deliver(event({ server: 'gone' }), AbortSignal.timeout(5000));
      await n.deliver(event({ server: 'stays', event: 'degraded', severity: 'warning', current_state: 'degraded' }), AbortSignal.timeout(5000));
      am.status = 503;
      await dispatcher.forget(['gone']);
      assert.deepEqual(logged.map(([level, , fields]) => [level, fields.notifier, fields.servers]), [['warn', 'alertmanager', ['gone']]]);
      await assert.rejects(n.resend());
      am.status = 200;
      await n.resend();
      await n.resend();
      assert.deepEqual(summary(am.posts).slice(2), [
        [['McpServerDegraded', 'stays', 'firing'], ['McpServerDown', 'gone', 'resolved']],
        [['McpServerDegraded', 'stays', 'firing'], ['McpServerDown', 'gone', 'resolved']],
        [['McpServerDegraded', 'stays', 'firing'], ['McpServerDown', 'gone', 'resolved']],
        [['McpServerDegraded', 'stays', 'firing']],
      ]);
    } finally {
      await dispatcher.close();
    }
  });

  it('a server added back and down again is not resolved by its former alert still waiting to be resolved', async () => {
    const am = fakeAm();
    const n = createNotifier(amConfig('forget-readded'), { fetch: am.fetch, now: () => T }) as AlertmanagerNotifier;
    try {
      await n.deliver(event({ server: 'back' }), AbortSignal.timeout(5000));
      am.status = 503;
      await assert.rejects(n.forget(['back']));
      am.status = 200;
      await n.deliver(event({ server: 'back', details: { error_type: 'timeout' } }), AbortSignal.timeout(5000));
      await n.resend();
      assert.deepEqual(summary(am.posts).slice(2), [[['McpServerDown', 'back', 'firing']], [['McpServerDown', 'back', 'firing']]]);
    } finally {
      n.close?.();
    }
  });

  it('removed from the configuration with a server and added back while still sending, it resolves that server\'s alert rather than re-post it', async () => {
    for (const readdedBeforeDrained of [false, true]) {
      const am = fakeAm();
      const name = `readd-${String(readdedBeforeDrained)}`;
      const d = new AlertDispatcher([createNotifier(amConfig(name), { fetch: am.fetch, now: () => T })]);
      try {
        const release = am.hold();
        d.dispatch(event({ server: 'gone' }));
        await until(() => am.posts.length === 1, 'the down under way');
        // One reload removes the notifier and the server; the next adds the notifier back.
        d.reconfigure([], 600_000);
        const forgotten = d.forget(['gone']);
        // As the agent does, the instance is made at the reload that adds it.
        const readd = (): AlertmanagerNotifier => {
          const back = createNotifier(amConfig(name), { fetch: am.fetch, now: () => T }) as AlertmanagerNotifier;
          d.reconfigure([back]);
          return back;
        };
        let back = readdedBeforeDrained ? readd() : undefined;
        release();
        if (!back) {
          await forgotten;
          back = readd();
        }
        const before = am.posts.length;
        // Added back while it still sent the down: it resolves the alert. Added back after: the
        // alert was left to end at its endsAt with the notifier that posted it.
        if (readdedBeforeDrained) await until(() => summary(am.posts).some((p) => p.some(([, server, state]) => server === 'gone' && state === 'resolved')), 'the removed server resolved');
        await back.resend();
        assert.ok(!summary(am.posts.slice(before)).some((p) => p.some(([, server, state]) => server === 'gone' && state === 'firing')), `never firing again (added back ${readdedBeforeDrained ? 'before' : 'after'} the down landed)`);
      } finally {
        await d.close();
      }
    }
  });

  it('deliveries of two notifier instances (the old and new dispatcher during a reload) do not undo each other', async () => {
    const am = fakeAm();
    const older = createNotifier(amConfig('two-instances'), { fetch: am.fetch, now: () => T }) as AlertmanagerNotifier;
    const newer = createNotifier(amConfig('two-instances'), { fetch: am.fetch, now: () => T }) as AlertmanagerNotifier;
    try {
      const release = am.hold();
      const slow = older.deliver(event({ server: 'a' }), AbortSignal.timeout(5000));
      await newer.deliver(event({ server: 'b' }), AbortSignal.timeout(5000));
      release();
      await slow;
      await newer.resend();
      assert.deepEqual(summary(am.posts).at(-1), [
        ['McpServerDown', 'b', 'firing'],
        ['McpServerDown', 'a', 'firing'],
      ]);
    } finally {
      older.close?.();
      newer.close?.();
    }
  });
});

describe('alertmanager notifier across a restart', () => {
  it('held() is what a new process takes up with resume(): the same alerts, posted again at once, and resolved by the recovery', async () => {
    const before = fakeAm();
    const old = createNotifier(amConfig('restart-before'), { fetch: before.fetch, now: () => T - 60_000 }) as AlertmanagerNotifier;
    const after = fakeAm();
    // Another endpoint stands for the new process: the registry of the old one is gone with it.
    const fresh = createNotifier(amConfig('restart-after'), { fetch: after.fetch, now: () => T }) as AlertmanagerNotifier;
    try {
      await old.deliver(event({}), AbortSignal.timeout(5000));
      const held = JSON.parse(JSON.stringify(fresh.held!('github') ?? [])) as unknown[];
      assert.deepEqual(held, [], 'the new process holds nothing of its own');
      const kept = JSON.parse(JSON.stringify(old.held!('github'))) as unknown;
      fresh.resume!('github', kept);
      await until(() => after.posts.length === 1, 'the taken-up alert posted at once');
      assert.deepEqual(summary(after.posts), [[['McpServerDown', 'github', 'firing']]]);
      const posted = after.posts[0]![0] as unknown as { startsAt: string; labels: Record<string, string> };
      assert.equal(posted.startsAt, new Date(T - 10_000).toISOString(), 'the alert that started before the restart');
      assert.deepEqual(posted.labels, (before.posts[0]![0] as { labels: Record<string, string> }).labels);
      await fresh.deliver(event({ event: 'recovered', severity: 'info', previous_state: 'down', current_state: 'up' }), AbortSignal.timeout(5000));
      assert.deepEqual(summary(after.posts).at(-1), [['McpServerDown', 'github', 'resolved']]);
      assert.deepEqual(fresh.held!('github'), []);
    } finally {
      old.close?.();
      fresh.close?.();
    }
  });

  it('resume ignores what it cannot read and alerts of another server, and keeps alerts already active', async () => {
    const am = fakeAm();
    const n = createNotifier(amConfig('restart-garbage'), { fetch: am.fetch, now: () => T }) as AlertmanagerNotifier;
    try {
      n.resume!('github', { not: 'a list' });
      n.resume!('github', [{ labels: { alertname: 'McpServerDown', mcp_server_name: 'other' }, annotations: {}, startsAt: 'x', endsAt: 'y' }, 42, null]);
      assert.deepEqual(n.held!('github'), []);
      await n.deliver(event({}), AbortSignal.timeout(5000));
      const current = n.held!('github');
      n.resume!('github', [{ labels: { alertname: 'McpServerStale', mcp_server_name: 'github' }, annotations: {}, startsAt: 'x', endsAt: 'y' }]);
      assert.deepEqual(n.held!('github'), current);
    } finally {
      n.close?.();
    }
  });
});

describe('alertmanager notifier against a real Alertmanager', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a dead HTTP server reaches the Alertmanager receiver as McpServerDown, and resolves when it is back', async () => {
    const am = await startAlertmanager();
    const fixture = await startHttpFixture('streamable');
    // web dies and comes back at the same URL: behind a front that keeps its port.
    const front = await startFront(fixture.port);
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-am-agent-'));
    dirs.push(dir);
    // A deadline no probe of the healthy fixture comes near, even on a loaded machine: at 3 s, two
    // probes timed out before web was first up would page McpServerDown as a timeout, and that
    // notification is the first the receiver holds. Once web is gone, probes are refused at once.
    const text = `monitoring: { interval: 1s, timeout: 30s, consecutive_failures_before_down: 2 }
alerts:
  - { type: alertmanager, url: "${am.url}", labels: { cluster: test } }
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
  - { name: web, transport: streamable_http, url: "${front.url}", tags: ["team:data"] }
`;
    const agent = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: pino({ level: 'silent' }) });
    let restarted: HttpFixture | undefined;
    try {
      await agent.start();
      await until(() => agent.statuses().web === 'up', 'web up', 60_000);
      front.crash();
      await fixture.close();
      const firing = await am.waitFor((n) => n.status === 'firing' && n.labels.alertname === 'McpServerDown' && n.labels.mcp_server_name === 'web', 'McpServerDown firing');
      assert.deepEqual(
        { ...firing.labels },
        { alertname: 'McpServerDown', mcp_server_name: 'web', mcp_transport: 'streamable_http', severity: 'critical', mcp_tag_team: 'data', cluster: 'test' },
      );
      assert.equal(firing.annotations.summary, 'MCP server web is down');
      // The front resets new connections, as the kernel would refuse them: the code is the socket's (a reset, or a write after it).
      assert.equal(firing.annotations.error_type, 'connection_refused');
      assert.match(firing.annotations.description ?? '', /^connection refused \(E[A-Z]+\): /);
      restarted = await startHttpFixture('streamable');
      front.revive(restarted.port);
      await am.waitFor((n) => n.status === 'resolved' && n.labels.alertname === 'McpServerDown' && n.labels.mcp_server_name === 'web', 'McpServerDown resolved');
    } finally {
      await agent.stop();
      await front.close();
      await fixture.close();
      await restarted?.close();
      await am.stop();
    }
  });

  it('a reload that removes a down server resolves its alert for good, tells webhook users nothing, and keeps the others firing', async (t) => {
    const am = await startAlertmanager();
    const hook = await webhookReceiver();
    // Nothing listens there: both servers are down at their first probe.
    const refusing = await refusingPort();
    t.after(() => refusing.close());
    const dead = refusing.url('/mcp');
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-am-removed-'));
    dirs.push(dir);
    const config = (servers: string): string => `monitoring: { interval: 1s, timeout: 3s, consecutive_failures_before_down: 1 }
alerts:
  - { type: alertmanager, url: "${am.url}", resend_interval: 1s }
  - { type: webhook, url: "${hook.url}" }
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
${servers}`;
    const stays = `  - { name: stays, transport: streamable_http, url: "${dead}" }\n`;
    const text = config(`${stays}  - { name: gone, transport: streamable_http, url: "${dead}" }\n`);
    const agent = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: pino({ level: 'silent' }) });
    type Listed = { labels: Record<string, string>; updatedAt: string };
    const listed = async (server: string): Promise<Listed | undefined> => {
      // Alertmanager lists only alerts that have not ended.
      const all = (await (await fetch(`${am.url}/api/v2/alerts`)).json()) as Listed[];
      return all.find((a) => a.labels.alertname === 'McpServerDown' && a.labels.mcp_server_name === server);
    };
    try {
      await agent.start();
      for (const server of ['stays', 'gone']) {
        await am.waitFor((n) => n.status === 'firing' && n.labels.alertname === 'McpServerDown' && n.labels.mcp_server_name === server, `McpServerDown firing for ${server}`);
      }
      const next = config(stays);
      await agent.reload({ file: 'mcpwatch.yaml', text: next, config: parseConfig(next, 'mcpwatch.yaml', {}) });
      await am.waitFor((n) => n.status === 'resolved' && n.labels.alertname === 'McpServerDown' && n.labels.mcp_server_name === 'gone', 'McpServerDown resolved for gone');
      assert.equal(await listed('gone'), undefined);

      // Re-posts after the resolve keep the server that is still down firing, and never bring back the removed one.
      const seen = (await listed('stays'))!.updatedAt;
      let now: Listed | undefined;
      await until(async () => (now = await listed('stays')) !== undefined && now.updatedAt !== seen, 'a re-post of the alert of stays after the resolve');
      assert.equal(await listed('gone'), undefined);
      assert.ok(!am.received.some((n) => n.status === 'resolved' && n.labels.mcp_server_name === 'stays'));
    } finally {
      await agent.stop();
      await am.stop();
      await hook.close();
    }
    // Webhook users get no event for it: nothing recovered. (stop() delivered whatever was queued.)
    assert.deepEqual(
      hook.events.filter((e) => e.server === 'gone').map((e) => e.event),
      ['down'],
    );
  });
});
