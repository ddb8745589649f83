// `mcpwatch run` around a reload (SIGHUP), through real webhooks and a real MCP server: each notifier
// hears a server's events in the order they happened, a notifier the reload (or a restart) adds is
// never told the end of an incident it was not told began, and a check in flight at the reload
// cannot reopen what the reload closed.
import { describe, it, after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import type { AlertEvent } from '../../src/pipeline/events.js';
import { startModernHttpFixture, type ModernHttpFixture } from '../fixtures/modern-http-server.js';
import { webhookReceiver } from '../fixtures/webhook.js';
import { refusingPort } from '../fixtures/refusing.js';
import { until } from '../helpers.js';

type Hook = Awaited<ReturnType<typeof webhookReceiver>>;

const agents: Agent[] = [];
after(async () => {
  for (const a of agents) await a.stop();
});

/** A configuration: `alerts` and `servers` as YAML lines; probes every second, deadlines far off. */
function config(dir: string, alerts: string, servers: string): string {
  return `monitoring: { interval: 1s, timeout: 30s, consecutive_failures_before_down: 1 }
alerts:
${alerts}
exporters: { prometheus: { endpoint: "127.0.0.1:0" } }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
${servers}`;
}

function startAgent(text: string): Agent {
  const agent = new Agent({ file: 'x.yaml', text, config: parseConfig(text, 'x.yaml', {}) }, { log: pino({ level: 'silent' }), stdout: { write: () => true } });
  agents.push(agent);
  return agent;
}

const reload = (agent: Agent, text: string): Promise<void> => agent.reload({ file: 'x.yaml', text, config: parseConfig(text, 'x.yaml', {}) });
const of = (events: AlertEvent[], server: string): string[] => events.filter((e) => e.server === server).map((e) => `${e.event}${e.details.catch_up ? ' (catch-up)' : ''}`);

/** A webhook notifier's entry under `alerts`. */
const hook = (url: string): string => `  - { type: webhook, url: "${url}", retry: { max_attempts: 2, initial_backoff: 100ms } }`;

/** A server with configured checks to fail, and two webhooks: one kept, one the change adds. */
async function serverAndTwoHooks(t: TestContext): Promise<{ http: ModernHttpFixture; kept: Hook; added: Hook }> {
  const http = await startModernHttpFixture('dual', { checks: true });
  const [kept, added] = await Promise.all([webhookReceiver(), webhookReceiver()]);
  t.after(async () => {
    await http.close();
    await Promise.all([kept.close(), added.close()]);
  });
  return { http, kept, added };
}

/** A server with configured checks to fail, and a webhook that refuses its first check_failed (`firstRefused`). */
async function failureRefusedOnce(t: TestContext): Promise<{ http: ModernHttpFixture; receiver: Hook; firstRefused: Promise<void> }> {
  const http = await startModernHttpFixture('dual', { checks: true });
  let refused!: () => void;
  const firstRefused = new Promise<void>((resolve) => (refused = resolve));
  let refusals = 0;
  const receiver = await webhookReceiver((e) => {
    if (e.event !== 'check_failed' || refusals++ > 0) return undefined;
    setImmediate(refused);
    return 503;
  });
  t.after(async () => {
    await http.close();
    await receiver.close();
  });
  return { http, receiver, firstRefused };
}

/**
 * A stand-in Alertmanager that keeps every POST (what is posted after a notifier came back is the
 * point), and its entry under `alerts`.
 */
async function standInAlertmanager(t: TestContext): Promise<{ posts: AmPost[]; amAlert: string }> {
  const posts: AmPost[] = [];
  const am = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      posts.push(JSON.parse(body) as AmPost);
      res.end();
    });
  });
  await new Promise<void>((resolve) => am.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => am.close(() => resolve())));
  return { posts, amAlert: `  - { type: alertmanager, url: "http://127.0.0.1:${(am.address() as AddressInfo).port}", resend_interval: 1s }` };
}

type AmPost = Array<{ labels: Record<string, string>; startsAt: string; endsAt: string }>;

describe('mcpwatch run: events around a reload', () => {
  it('a notifier the reload adds hears nothing of an incident the reload ends, and is caught up on the ones that go on', async (t) => {
    const { http, kept, added } = await serverAndTwoHooks(t);
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-reload-added-'));
    // db: its failing check is removed; gone: the server is removed; still: goes on failing.
    const servers = (db: string, gone: boolean): string =>
      [
        `  - { name: db, transport: streamable_http, url: "${http.url}", checks: ${db} }`,
        ...(gone ? [`  - { name: gone, transport: streamable_http, url: "${http.url}", checks: [{ name: pool, tool: broken }] }`] : []),
        `  - { name: still, transport: streamable_http, url: "${http.url}", checks: [{ name: must, tool: broken }] }`,
      ].join('\n');
    const agent = startAgent(config(dir, hook(kept.url), servers('[{ name: never, tool: query, expect: { text_contains: "rows: 2" } }]', true)));
    await agent.start();
    await until(() => ['db', 'gone', 'still'].every((s) => of(kept.events, s).includes('check_failed')), 'check_failed of each server');

    // One SIGHUP: adds a notifier, removes db's failing check and the failing server gone.
    await reload(agent, config(dir, `${hook(kept.url)}\n${hook(added.url)}`, servers('[]', false)));
    assert.deepEqual(agent.statuses(), { db: 'up', still: 'degraded' });
    // Both lanes are first in, first out: once the catch-up of `still` is there, whatever the
    // reload sent the new notifier before it is there too.
    await until(() => of(added.events, 'still').length > 0, 'the catch-up of the incident that goes on');
    await until(() => of(kept.events, 'db').includes('recovered'), "db's recovered to the notifier that heard it fail");
    assert.deepEqual(of(added.events, 'db'), [], 'the incident the reload ended began before this notifier existed');
    assert.deepEqual(of(added.events, 'gone'), []);
    assert.deepEqual(of(added.events, 'still'), ['degraded (catch-up)']);
    assert.equal(added.events.find((e) => e.server === 'still')!.previous_state, 'unknown');
    assert.deepEqual(of(kept.events, 'db'), ['check_failed', 'recovered']);
    assert.deepEqual(of(kept.events, 'still'), ['check_failed'], 'told of it already: no catch-up');
    await agent.stop();
    assert.deepEqual(of(added.events, 'db'), []);
    assert.deepEqual(of(kept.events, 'gone'), ['check_failed'], 'a removed server sends nothing more');
  });

  it('across a restart too: a notifier added since hears nothing of an incident the new configuration ends at the start', async (t) => {
    const { http, kept, added } = await serverAndTwoHooks(t);
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-restart-added-'));
    const servers = (db: string): string =>
      [`  - { name: db, transport: streamable_http, url: "${http.url}", checks: ${db} }`, `  - { name: still, transport: streamable_http, url: "${http.url}", checks: [{ name: must, tool: broken }] }`].join('\n');
    const first = startAgent(config(dir, hook(kept.url), servers('[{ name: pool, tool: broken }]')));
    await first.start();
    await until(() => ['db', 'still'].every((s) => of(kept.events, s).includes('check_failed')), 'check_failed of each server');
    await first.stop();

    // Restarted with a notifier added and db's failing check removed: db's incident ends at the start.
    const second = startAgent(config(dir, `${hook(kept.url)}\n${hook(added.url)}`, servers('[]')));
    await second.start();
    assert.equal(second.statuses().db, 'up');
    // The catch-up of `still` comes after its first check, behind anything sent at the start.
    await until(() => of(added.events, 'still').length > 0, 'the catch-up of the incident that goes on');
    const checked = (name: string): boolean => second.serversView().servers.find((s) => s.name === name)!.last_checked_at !== null;
    await until(() => checked('db'), "db's first check, where a catch-up would be owed");
    await second.stop();
    assert.deepEqual(of(added.events, 'db'), [], 'the incident ended before this notifier was told of it');
    assert.deepEqual(of(added.events, 'still'), ['degraded (catch-up)']);
    assert.deepEqual(of(kept.events, 'db'), ['check_failed', 'recovered'], 'told it began: told it ended, once');
    assert.deepEqual(of(kept.events, 'still'), ['check_failed']);
  });

  it('a check in flight when the reload removes it cannot fail the server again after its recovered', async (t) => {
    const http = await startModernHttpFixture('dual', { checks: true });
    const receiver = await webhookReceiver();
    t.after(async () => {
      await http.close();
      await receiver.close();
    });
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-reload-inflight-'));
    const alerts = hook(receiver.url);
    const agent = startAgent(config(dir, alerts, `  - { name: db, transport: streamable_http, url: "${http.url}", checks: [{ name: pool, tool: broken }] }`));
    const addr = await agent.start();
    const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text();
    await until(() => of(receiver.events, 'db').includes('check_failed'), 'check_failed');

    // A failing check runs at every probe: the next one is held at the server, in flight.
    const held = http.hold('broken');
    await held.arrived;
    await reload(agent, config(dir, alerts, `  - { name: db, transport: streamable_http, url: "${http.url}", checks: [] }`));
    assert.equal(agent.statuses().db, 'up');
    const checkedAt = (): string | null => agent.serversView().servers.find((s) => s.name === 'db')!.last_checked_at;
    const before = checkedAt();
    held.release();
    await until(() => checkedAt() !== before, 'the check in flight at the reload is recorded');
    assert.equal(agent.statuses().db, 'up', 'the run of a check no longer configured does not count');
    const after = checkedAt();
    await until(() => checkedAt() !== after, 'a probe after it');
    assert.equal(agent.statuses().db, 'up');
    assert.doesNotMatch(await scrape(), /check="pool"/, 'the removed check has no series again');
    await agent.stop();
    assert.deepEqual(of(receiver.events, 'db'), ['check_failed', 'recovered']);
  });

  it('an event being retried at the reload still reaches its notifier before the reload\'s own', async (t) => {
    // The check's failure is refused once: its delivery waits out a back-off when the reload comes.
    const { http, receiver, firstRefused } = await failureRefusedOnce(t);
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-reload-retry-'));
    const alerts = `  - { type: webhook, url: "${receiver.url}", retry: { max_attempts: 3, initial_backoff: 3s, max_backoff: 3s } }`;
    const agent = startAgent(config(dir, alerts, `  - { name: db, transport: streamable_http, url: "${http.url}", checks: [{ name: pool, tool: broken }] }`));
    await agent.start();
    await firstRefused;
    await reload(agent, config(dir, alerts, `  - { name: db, transport: streamable_http, url: "${http.url}", checks: [] }`));
    await until(() => of(receiver.events, 'db').includes('recovered'), "the reload's recovered");
    assert.deepEqual(of(receiver.events, 'db'), ['check_failed', 'recovered']);
  });
  it('a reload after the agent stopped starts nothing', async (t) => {
    const http = await startModernHttpFixture('dual');
    t.after(() => http.close());
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-reload-stopped-'));
    const agent = startAgent(config(dir, '  - { type: stdout }', `  - { name: first, transport: streamable_http, url: "${http.url}" }`));
    await agent.start();
    await agent.stop();
    await reload(agent, config(dir, '  - { type: stdout }', `  - { name: first, transport: streamable_http, url: "${http.url}" }\n  - { name: second, transport: streamable_http, url: "${http.url}" }`));
    assert.deepEqual(Object.keys(agent.statuses()), ['first']);
  });

  it('an alertmanager notifier removed with a down server and added back later re-posts the alerts of the servers still down, never the removed one', async (t) => {
    const { posts, amAlert } = await standInAlertmanager(t);
    const refusing = await refusingPort();
    t.after(() => refusing.close());
    const stays = `  - { name: stays, transport: streamable_http, url: "${refusing.url('/mcp')}" }`;
    const gone = `  - { name: gone, transport: streamable_http, url: "${refusing.url('/mcp')}" }`;
    const firing = (post: AmPost, server: string) => post.find((a) => a.labels.mcp_server_name === server && Date.parse(a.endsAt) > Date.now());
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-reload-am-'));
    const agent = startAgent(config(dir, amAlert, `${stays}\n${gone}`));
    await agent.start();
    await until(() => posts.some((p) => firing(p, 'stays')) && posts.some((p) => firing(p, 'gone')), 'both alerts posted');
    const startedAt = posts.flat().find((a) => a.labels.mcp_server_name === 'stays')!.startsAt;

    await reload(agent, config(dir, '  - { type: stdout }', stays));
    const before = posts.length;
    await reload(agent, config(dir, amAlert, stays));
    // Two posts since: the one that takes the alerts up, and a re-post an interval later.
    await until(() => posts.length >= before + 2, 'the notifier added back posts and re-posts');
    const since = posts.slice(before);
    assert.ok(since.every((p) => firing(p, 'stays')?.startsAt === startedAt), 'the alert of the server still down goes on, from its own start');
    assert.ok(since.every((p) => !firing(p, 'gone')), 'the removed server is never posted firing again');
  });

  it('an alertmanager notifier removed with a degraded server and added back by the reload that ends it resolves the alert it had posted', async (t) => {
    const { posts, amAlert } = await standInAlertmanager(t);
    const http = await startModernHttpFixture('dual', { checks: true });
    t.after(() => http.close());
    const server = (checks: string): string => `  - { name: db, transport: streamable_http, url: "${http.url}", checks: ${checks} }`;
    const degraded = (p: AmPost) => p.find((a) => a.labels.mcp_server_name === 'db' && a.labels.alertname === 'McpServerDegraded');
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-reload-am-ended-'));
    const agent = startAgent(config(dir, amAlert, server('[{ name: must, tool: broken }]')));
    await agent.start();
    await until(() => posts.some((p) => Date.parse(degraded(p)?.endsAt ?? '') > Date.now()), 'the degraded alert posted');

    await reload(agent, config(dir, '  - { type: stdout }', server('[{ name: must, tool: broken }]')));
    // The alert still fires in Alertmanager until its endsAt, four re-posts ahead.
    await reload(agent, config(dir, amAlert, server('[]')));
    assert.deepEqual(agent.statuses(), { db: 'up' });
    const before = posts.length;
    await until(() => posts.slice(before).some((p) => Date.parse(degraded(p)?.endsAt ?? '') <= Date.now()), 'the degraded alert resolved');
  });

  it('a notifier removed and added back while it still sends an event hears where the server stands after it', async (t) => {
    // The check's failure is refused once: its delivery waits out a back-off through both reloads.
    const { http, receiver, firstRefused } = await failureRefusedOnce(t);
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-reload-readded-'));
    const alerts = `  - { type: webhook, url: "${receiver.url}", retry: { max_attempts: 3, initial_backoff: 1s, max_backoff: 1s } }`;
    const server = (checks: string): string => `  - { name: db, transport: streamable_http, url: "${http.url}", checks: ${checks} }`;
    const agent = startAgent(config(dir, alerts, server('[{ name: pool, tool: broken }]')));
    await agent.start();
    await firstRefused;
    // The webhook leaves, and the reload ends the failure it still has to send; the next one adds
    // it back before that failure went out: its recovered is owed to it.
    await reload(agent, config(dir, '  - { type: stdout }', server('[]')));
    await reload(agent, config(dir, alerts, server('[]')));
    await until(() => of(receiver.events, 'db').length >= 2, 'the failure and where db stands now');
    assert.deepEqual(of(receiver.events, 'db'), ['check_failed', 'recovered (catch-up)']);
  });
});
