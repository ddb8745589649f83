import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import Database from 'better-sqlite3';
import { Agent } from '../../src/agent/agent.js';
import { parseConfig } from '../../src/config/load.js';
import type { AlertEvent } from '../../src/pipeline/events.js';
import { verifySignature } from '../../src/export/notify.js';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { startFront } from '../fixtures/front.js';
import { unrefServer } from '../fixtures/unref.js';
import { alive, STDIO_FIXTURE, until } from '../helpers.js';

const quiet = pino({ level: 'silent' });

interface Received {
  event: AlertEvent;
  raw: string;
  headers: IncomingMessage['headers'];
}

/** A real webhook receiver on port 0 that records every alert. */
async function webhookReceiver(): Promise<{ url: string; events: Received[]; close(): Promise<void>; waitFor(pred: (e: AlertEvent) => boolean, ms?: number): Promise<Received> }> {
  const events: Received[] = [];
  const waiters: Array<() => void> = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString();
      events.push({ event: JSON.parse(raw) as AlertEvent, raw, headers: req.headers });
      res.writeHead(204).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  // A failed assertion leaves it open: it must not keep the file running until the runner's timeout.
  unrefServer(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return {
    url,
    events,
    close: () => new Promise<void>((r) => server.close(() => r())),
    async waitFor(pred, ms = 60_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const hit = events.find((e) => pred(e.event));
        if (hit) return hit;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching alert within ${ms}ms; got ${JSON.stringify(events.map((e) => [e.event.server, e.event.event]))}`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
    },
  };
}

function agentConfig(dir: string, hookUrl: string, servers: string, extra = ''): string {
  // The probe deadline is far beyond any probe here: a fixture that starts slowly on a busy machine
  // must not count as a failure.
  return `monitoring:
  interval: 30s
  timeout: 30s
  consecutive_failures_before_down: 3
alerts:
  - { type: webhook, url: "${hookUrl}", secret: s3cret, retry: { max_attempts: 2, initial_backoff: 100ms } }
exporters:
  prometheus: { endpoint: "127.0.0.1:0" }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" } } }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
servers:
${servers}
${extra}`;
}

const agents: Agent[] = [];
function makeAgent(text: string, now?: () => number): Agent {
  const config = parseConfig(text, 'mcpwatch.yaml', {});
  const agent = new Agent({ file: 'mcpwatch.yaml', text, config }, { log: quiet, stdout: { write: () => true }, now });
  agents.push(agent);
  return agent;
}
after(async () => {
  for (const a of agents) await a.stop();
});

describe('mcpwatch run (agent)', () => {
  it('reports a killed stdio server down at once (on its exit, not at the next check), with the signal, and restarts it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    // No scheduled check comes within the test: the down alert can only come from the exit itself.
    const agent = makeAgent(
      agentConfig(dir, hook.url, `  - { name: tools, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok], interval: 1h }`),
    );
    await agent.start();
    await until(() => agent.statuses().tools === 'up');
    const pid = agent.sessionPid('tools')!;
    assert.ok(pid > 0, 'the agent keeps its own instance running');
    process.kill(pid, 'SIGKILL');
    const down = await hook.waitFor((e) => e.server === 'tools' && e.event === 'down');
    assert.equal(down.event.severity, 'critical');
    assert.equal(down.event.previous_state, 'up');
    assert.equal(down.event.current_state, 'down');
    assert.equal(down.event.details.error_type, 'process_exited');
    assert.match(down.event.message, /^killed by SIGKILL/);
    // Restarted with back-off, then recovered with its downtime: at the next check, once a new
    // process has started, which on a loaded machine takes as long as the first start did.
    const rec = await hook.waitFor((e) => e.server === 'tools' && e.event === 'recovered');
    assert.equal(typeof rec.event.downtime_seconds, 'number');
    assert.ok(agent.sessionPid('tools')! !== pid);
    await agent.stop();
    assert.equal(alive(pid), false);
    await hook.close();
  });

  it('clears the process group of a stdio server that died on its own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const pidfile = join(dir, 'grandchild.pid');
    const hook = await webhookReceiver();
    const agent = makeAgent(
      agentConfig(dir, hook.url, `  - { name: wrapped, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, grandchild], env: { PIDFILE: ${JSON.stringify(pidfile)} } }`),
    );
    await agent.start();
    await until(() => agent.statuses().wrapped === 'up');
    const grandchild = Number(readFileSync(pidfile, 'utf8'));
    assert.ok(alive(grandchild));
    process.kill(agent.sessionPid('wrapped')!, 'SIGKILL');
    await hook.waitFor((e) => e.server === 'wrapped' && e.event === 'down');
    await until(() => !alive(grandchild), 'the grandchild killed');
    await agent.stop();
    await hook.close();
  });

  it('signs webhook payloads with HMAC-SHA256 over timestamp.body', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    const agent = makeAgent(
      agentConfig(dir, hook.url, `  - { name: broken, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, exit-at-start], tags: [critical, "team:data"] }`),
    );
    await agent.start();
    const got = await hook.waitFor((e) => e.server === 'broken' && e.event === 'down');
    const ts = got.headers['x-mcpwatch-timestamp'] as string;
    const sig = got.headers['x-mcpwatch-signature'] as string;
    assert.equal(sig, `sha256=${createHmac('sha256', 's3cret').update(`${ts}.${got.raw}`).digest('hex')}`);
    assert.equal(verifySignature('s3cret', ts, got.raw, sig), true);
    assert.equal(verifySignature('wrong', ts, got.raw, sig), false);
    const e = got.event;
    assert.deepEqual(Object.keys(e).sort(), ['current_state', 'details', 'downtime_seconds', 'event', 'incident_started_at', 'message', 'previous_state', 'server', 'severity', 'tags', 'timestamp', 'transport'].sort());
    assert.equal(e.transport, 'stdio');
    assert.deepEqual(e.tags, ['critical', 'team:data']);
    assert.equal(e.message, 'exited with code 3: boom: missing DATABASE_URL');
    assert.equal(e.previous_state, 'unknown');
    assert.match(e.timestamp, /^\d{4}-\d\d-\d\dT/);
    await agent.stop();
    await hook.close();
  });

  it('records session_expired when an HTTP server restarts, then is up again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    let http: HttpFixture = await startHttpFixture('streamable');
    // Restarted at the same URL: behind a front that keeps its port.
    const front = await startFront(http.port);
    const agent = makeAgent(agentConfig(dir, hook.url, `  - { name: notes, transport: streamable_http, url: "${front.url}", interval: 500ms }`));
    const addr = await agent.start();
    await until(() => agent.statuses().notes === 'up');
    // The new process is listening before the old one dies: no check can find the URL refused, and
    // three refused in a row (a slow close or start on a loaded machine) would be an outage.
    const restarted = await startHttpFixture('streamable');
    front.crash();
    front.revive(restarted.port);
    await http.close();
    http = restarted;
    const expired = await hook.waitFor((e) => e.server === 'notes' && e.event === 'session_expired');
    assert.equal(expired.event.severity, 'warning');
    assert.equal(expired.event.details.reinitialized, true);
    assert.equal(agent.statuses().notes, 'up');
    assert.equal(hook.events.filter((e) => e.event.event === 'down').length, 0, 'a restart that re-initializes is not an outage');
    // A reload that changes how the server is reached replaces its monitor but keeps its counts.
    const expirations = async (): Promise<string | undefined> =>
      /^mcp_server_session_expirations_total\{mcp_server_name="notes"[^}]*\} (\S+)$/m.exec(await (await fetch(`http://127.0.0.1:${addr.metrics!.port}/metrics`)).text())?.[1];
    const before = await expirations();
    assert.ok(Number(before) >= 1, `expirations before the reload: ${before}`);
    const text = agentConfig(dir, hook.url, `  - { name: notes, transport: streamable_http, url: "${front.url}", interval: 500ms, headers: { x-reloaded: "1" } }`);
    await agent.reload({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) });
    assert.equal(await expirations(), before);
    await agent.stop();
    await front.close();
    await http.close();
    await hook.close();
  });

  it('records session_expired when an HTTP server comes back from a restart that a check saw refused', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    let http: HttpFixture = await startHttpFixture('streamable');
    // Restarted at the same URL: behind a front that keeps its port.
    const front = await startFront(http.port);
    t.after(async () => {
      await front.close();
      await http.close();
      await hook.close();
    });
    const agent = makeAgent(agentConfig(dir, hook.url, `  - { name: notes, transport: streamable_http, url: "${front.url}", interval: 500ms }`));
    await agent.start();
    await until(() => agent.statuses().notes === 'up');
    front.crash();
    await http.close();
    const lastError = (): string | undefined => agent.serversView().servers[0]!.last_error?.type;
    await until(() => lastError() === 'connection_refused', 'a check refused while the server is away');
    http = await startHttpFixture('streamable');
    front.revive(http.port);
    const expired = await hook.waitFor((e) => e.server === 'notes' && e.event === 'session_expired');
    assert.equal(expired.event.details.reinitialized, true);
    await until(() => agent.statuses().notes === 'up');
    await agent.stop();
  });

  it('does not alert on a server that flaps below the failure threshold', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    const http = await startHttpFixture('streamable-flaky');
    const agent = makeAgent(agentConfig(dir, hook.url, `  - { name: flaky, transport: streamable_http, url: "${http.url}", interval: 150ms }`));
    await agent.start();
    await until(() => agent.statuses().flaky === 'up');
    // Many checks: every other one fails, never three in a row. Waits for the failures themselves
    // rather than for a time that a busy machine may not fill with checks.
    const failures = async (): Promise<number> =>
      Number(/^mcp_probe_errors_total\{mcp_server_name="flaky"[^}]*error_type="http_status"[^}]*\} (\d+)$/m.exec(await fetchMetrics(agent))?.[1] ?? 0);
    await until(async () => (await failures()) >= 4, 'four failed checks');
    assert.equal(agent.statuses().flaky, 'up');
    // Stopping delivers whatever alert is still queued, so none can arrive after the check below.
    await agent.stop();
    assert.deepEqual(hook.events.map((e) => e.event.event), [], 'no alert at all');
    await http.close();
    await hook.close();
  });

  it('recovery_hold: a crash-looping stdio server pages down once, not at every restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    const spawns = join(dir, 'spawns.log');
    const agent = makeAgent(
      agentConfig(
        dir,
        hook.url,
        `  - name: looping
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(STDIO_FIXTURE)}, dies-after-list]
    env: { SPAWN_LOG: ${JSON.stringify(spawns)} }
    interval: 300ms
    recovery_hold: 1h`,
      ),
    );
    await agent.start();
    await hook.waitFor((e) => e.server === 'looping' && e.event === 'down');
    const starts = (): number => readFileSync(spawns, 'utf8').trim().split('\n').length;
    // Each restart answers a listing and dies: without the hold, a recovered and a down apiece.
    await until(() => starts() >= 4, 'three restarts after the first start');
    assert.equal(agent.statuses().looping, 'down');
    await agent.stop();
    assert.deepEqual(hook.events.filter((e) => e.event.server === 'looping').map((e) => e.event.event), ['down']);
    await hook.close();
  });

  it('calls a silent SSE stream stale, then reconnects', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    const http = await startHttpFixture('sse-goes-silent');
    const agent = makeAgent(agentConfig(dir, hook.url, `  - { name: legacy, transport: sse, url: "${http.url}", interval: 10s, stale_after: 800ms }`));
    await agent.start();
    // Stale is found when a listing gets no answer by the probe deadline (monitoring.timeout above), which
    // this wait spans on top of the start and the first check.
    const stale = await hook.waitFor((e) => e.server === 'legacy' && e.event === 'stale', 120_000);
    assert.match(stale.event.message, /^no events in \d/);
    assert.equal(stale.event.current_state, 'stale');
    // The reconnect gets a fresh stream that answers initialize and tools/list again.
    await hook.waitFor((e) => e.server === 'legacy' && e.event === 'recovered');
    await agent.stop();
    await http.close();
    await hook.close();
  });

  it('reports tool drift across an agent restart, exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const toolsFile = join(dir, 'tools.json');
    const tool = (name: string, props: Record<string, unknown>, required: string[]) => ({ name, description: name, inputSchema: { type: 'object', properties: props, required } });
    writeFileSync(
      toolsFile,
      JSON.stringify([tool('create_pull_request', { title: { type: 'string' } }, ['title']), tool('delete_branch', { branch: { type: 'string' } }, ['branch'])]),
    );
    const hook = await webhookReceiver();
    const servers = `  - { name: github, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, tools-from-file], env: { TOOLS_FILE: ${JSON.stringify(toolsFile)} } }`;
    const first = makeAgent(agentConfig(dir, hook.url, servers));
    await first.start();
    await until(() => first.statuses().github === 'up');
    await first.stop();

    writeFileSync(toolsFile, JSON.stringify([tool('create_pull_request', { title: { type: 'string' }, draft: { type: 'boolean' } }, ['title', 'draft'])]));
    const second = makeAgent(agentConfig(dir, hook.url, servers));
    await second.start();
    const drift = await hook.waitFor((e) => e.server === 'github' && e.event === 'schema_drift');
    assert.deepEqual(drift.event.details.diff, {
      tools_added: [],
      tools_removed: ['delete_branch'],
      tools_modified: [{ name: 'create_pull_request', changes: ['required parameter added: draft (boolean)'] }],
    });
    assert.equal(drift.event.severity, 'critical');
    assert.deepEqual(drift.event.details.counts, { breaking: 2, compatible: 0, warning: 0 });
    const metrics = await fetchMetrics(second);
    assert.match(metrics, /mcp_server_schema_changes_total\{[^}]*change="breaking"[^}]*\} 2/);
    await second.stop();
    await hook.close();
  });

  it('starts on an unreadable last snapshot with a warning, as for a new server: a new baseline, no drift reported', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    t.after(() => hook.close());
    const servers = `  - { name: ok, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok] }`;
    const first = makeAgent(agentConfig(dir, hook.url, servers));
    await first.start();
    await until(() => first.statuses().ok === 'up');
    await first.stop();
    const file = join(dir, 'state.db');
    let db = new Database(file);
    const stored = db.prepare("SELECT tools FROM snapshots WHERE server = 'ok'").all() as Array<{ tools: string }>;
    assert.equal(stored.length, 1);
    db.exec("UPDATE snapshots SET tools = '[{\"name\": \"echo\"' WHERE server = 'ok'");
    db.close();

    const lines: string[] = [];
    const text = agentConfig(dir, hook.url, servers);
    const second = new Agent({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) }, { log: pino({ level: 'warn' }, { write: (l: string) => lines.push(l) }), stdout: { write: () => true } });
    agents.push(second);
    await second.start();
    // Not its status: a restarted agent shows the one it left at once, before any check.
    await until(() => second.ready, 'the first check after the restart');
    await second.stop();
    const warned = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.column === 'snapshots.tools');
    assert.deepEqual(warned.map((l) => [l.level, l.file, l.server]), [[40, file, 'ok']]);
    db = new Database(file, { readonly: true });
    const snapshots = db.prepare("SELECT tools FROM snapshots WHERE server = 'ok' ORDER BY taken_at").all() as Array<{ tools: string }>;
    const drift = db.prepare('SELECT COUNT(*) AS n FROM drift_events').get() as { n: number };
    db.close();
    assert.equal(snapshots.length, 2, 'the unreadable row is kept beside the new baseline');
    assert.equal(snapshots[1]!.tools, stored[0]!.tools, 'the new baseline is the tool list the server gives');
    assert.equal(drift.n, 0, 'no drift against a baseline that could not be read');
    assert.ok(!hook.events.some((e) => e.event.event === 'schema_drift'));
  });

  it('re-lists tools at once on notifications/tools/list_changed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const toolsFile = join(dir, 'tools.json');
    const search = { name: 'search', description: 'Search', inputSchema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } };
    writeFileSync(toolsFile, JSON.stringify([search]));
    const hook = await webhookReceiver();
    const agent = makeAgent(
      agentConfig(dir, hook.url, `  - { name: kb, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, tools-from-file], env: { TOOLS_FILE: ${JSON.stringify(toolsFile)} }, interval: 1h }`),
    );
    await agent.start();
    await until(() => agent.statuses().kb === 'up');
    writeFileSync(toolsFile, JSON.stringify([search, { name: 'summarize', description: 'Summarize', inputSchema: { type: 'object', properties: {} } }]));
    process.kill(agent.sessionPid('kb')!, 'SIGUSR2');
    // Not at the next interval (1h) but at once: the wait below ends long before any check is due.
    const drift = await hook.waitFor((e) => e.server === 'kb' && e.event === 'schema_drift');
    assert.deepEqual(drift.event.details.diff, { tools_added: ['summarize'], tools_removed: [], tools_modified: [] });
    assert.equal(drift.event.severity, 'info', 'a compatible change');
    await agent.stop();
    await hook.close();
  });

  it('re-lists tools at once on a tools/list_changed read in the same chunk as the first listing', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    t.after(() => hook.close());
    const agent = makeAgent(
      agentConfig(dir, hook.url, `  - { name: eager, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, announces-with-first-list], interval: 1h }`),
    );
    await agent.start();
    // The notification came before the agent had taken the connection up: not at the next interval
    // (1h) but at once.
    const drift = await hook.waitFor((e) => e.server === 'eager' && e.event === 'schema_drift');
    assert.deepEqual(drift.event.details.diff, { tools_added: ['tool2'], tools_removed: ['tool1'], tools_modified: [] });
    await agent.stop();
  });

  it('serves /healthz, /readyz and /metrics with the documented names', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    const http = await startHttpFixture('streamable');
    // A clock that stands still: every probe is observed at one instant, so no time has been
    // observed and availability is "no data" however fast or slow the machine is.
    const frozen = Date.now();
    const agent = makeAgent(
      agentConfig(dir, hook.url, `  - { name: notes, transport: streamable_http, url: "${http.url}", tags: [critical, "team:platform"] }\n  - { name: gone, transport: stdio, command: /nonexistent/x }`),
      () => frozen,
    );
    const addr = await agent.start();
    const base = `http://127.0.0.1:${addr.health.port}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    await until(() => agent.ready);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { servers: Record<string, string> }).servers, { notes: 'up', gone: 'down' });
    const m = await fetchMetrics(agent);
    assert.match(m, /^mcp_server_up\{mcp_server_name="notes",mcp_transport="streamable_http",mcp_tag_critical="true",mcp_tag_team="platform"[^}]*\} 1$/m);
    assert.match(m, /^mcp_server_up\{mcp_server_name="gone"[^}]*\} 0$/m);
    assert.match(m, /^mcp_server_status\{[^}]*mcp_server_name="gone"[^}]*mcp_server_status="down"[^}]*\} 1$/m);
    assert.match(m, /^mcp_server_status\{[^}]*mcp_server_name="gone"[^}]*mcp_server_status="up"[^}]*\} 0$/m);
    assert.match(m, /^mcp_server_tools\{mcp_server_name="notes"[^}]*\} 3$/m);
    // Its series (mcp_server_availability{mcp_server_name, window}) is held by test/agent/availability.test.ts.
    assert.doesNotMatch(m, /^mcp_server_availability\{/m, 'no time observed yet: no availability');
    // One per failed check: a down server is re-checked every 5 s, so a slow machine may count two.
    assert.match(m, /^mcp_probe_errors_total\{mcp_server_name="gone"[^}]*error_type="spawn_failed",error_category="permanent"[^}]*\} [1-9]\d*$/m);
    assert.match(m, /^mcp_client_operation_duration_bucket\{mcp_server_name="notes"[^}]*mcp_method_name="tools\/list",source="probe"[^}]*le="0\.01"\}/m);
    assert.match(m, /^mcp_server_incidents_total\{mcp_server_name="gone"[^}]*mcp_server_status="down"[^}]*\} 1$/m);
    assert.doesNotMatch(m, /^mcp_server_score\{[^}]*dimension="overall"/m, 'no overall grade without availability data');
    assert.match(m, /^mcp_server_score\{mcp_server_name="notes"[^}]*dimension="security"[^}]*\} 100$/m, 'plain http to loopback without credentials: only this machine reaches it');
    assert.doesNotMatch(m, /mcp_session_id|session_id=/);
    await agent.stop();
    await http.close();
    await hook.close();
  });

  it('is not ready while any server is still waiting for its first check', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    const quick = await startHttpFixture('streamable');
    // Its tools/list is never answered, and its deadline (30 s) is far beyond the assertion below.
    const stuck = await startHttpFixture('streamable', { hangListsAfter: 0 });
    // Also when an assertion fails: a fixture left holding a request would keep the file running.
    t.after(() => Promise.all([quick.close(), stuck.close(), hook.close()]));
    const agent = makeAgent(
      agentConfig(dir, hook.url, `  - { name: quick, transport: streamable_http, url: "${quick.url}" }\n  - { name: stuck, transport: streamable_http, url: "${stuck.url}" }`),
    );
    await agent.start();
    await until(() => agent.statuses().quick === 'up' && stuck.toolsLists > 0);
    assert.equal(agent.ready, false, 'one server has not had its first check');
    assert.equal(agent.statuses().stuck, 'unknown');
    // Without it every server monitored has had its check: ready now, not at quick's next (30 s).
    const text = agentConfig(dir, hook.url, `  - { name: quick, transport: streamable_http, url: "${quick.url}" }`);
    await agent.reload({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) });
    assert.equal(agent.ready, true);
    await agent.stop();
  });

  it('is ready after a reload to no servers during the first round', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const hook = await webhookReceiver();
    const stuck = await startHttpFixture('streamable', { hangListsAfter: 0 });
    t.after(() => Promise.all([stuck.close(), hook.close()]));
    const agent = makeAgent(agentConfig(dir, hook.url, `  - { name: stuck, transport: streamable_http, url: "${stuck.url}" }`));
    await agent.start();
    await until(() => stuck.toolsLists > 0);
    assert.equal(agent.ready, false);
    const text = agentConfig(dir, hook.url, '  []');
    await agent.reload({ file: 'mcpwatch.yaml', text, config: parseConfig(text, 'mcpwatch.yaml', {}) });
    assert.equal(agent.ready, true);
    await agent.stop();
  });

  it('stops only its own stdio servers when two agents share a process', async (t) => {
    const [dirA, dirB] = [mkdtempSync(join(tmpdir(), 'mcpwatch-agent-')), mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'))];
    const hook = await webhookReceiver();
    t.after(() => hook.close());
    const stdio = (name: string, interval: string): string =>
      `  - { name: ${name}, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok], interval: ${interval} }`;
    const a = makeAgent(agentConfig(dirA, hook.url, stdio('a', '1h')));
    const b = makeAgent(agentConfig(dirB, hook.url, stdio('b', '1s')));
    await a.start();
    await b.start();
    await until(() => a.statuses().a === 'up' && b.statuses().b === 'up');
    const pid = b.sessionPid('b');
    await a.stop();
    const checkedAt = (): string | null => b.serversView().servers[0]!.last_checked_at;
    const before = checkedAt();
    await until(() => checkedAt() !== before, "b's next check");
    assert.equal(b.statuses().b, 'up', "b's server answered its check after a stopped");
    assert.equal(b.sessionPid('b'), pid, 'the same process: a did not kill it');
  });

  it('refuses a state file locked by another agent, and a corrupt one, with a clear error', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-agent-'));
    const text = agentConfig(dir, 'http://127.0.0.1:9/hook', '  []');
    makeAgent(text);
    assert.throws(() => makeAgent(text), /state file .*state\.db: locked by another mcpwatch agent \(pid \d+\)/);
    const corrupt = join(dir, 'corrupt.db');
    writeFileSync(corrupt, 'this is not sqlite'.repeat(100));
    const text2 = text.replace(JSON.stringify(join(dir, 'state.db')), JSON.stringify(corrupt));
    assert.throws(() => makeAgent(text2), /state file .*corrupt\.db: corrupt or not an SQLite database/);
  });
});

async function fetchMetrics(agent: Agent): Promise<string> {
  const port = (agent as unknown as { telemetry: { server: { address(): AddressInfo } } }).telemetry.server.address().port;
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}
