import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac } from 'node:crypto';
import type { AlertConfig } from '../../src/config/schema.js';
import type { FieldChange } from '../../src/pipeline/drift.js';
import type { AlertEvent } from '../../src/pipeline/events.js';
import {
  AlertDispatcher,
  buildSlackMessage,
  createNotifier,
  driftLines,
  formatStdout,
  notifierKey,
  statusError,
  verifySignature,
  type DeliveryOutcome,
  type DispatcherOptions,
  type LogLevel,
  type Notifier,
  type SlackBlock,
} from '../../src/export/notify.js';
import { parseRetryAfter } from '../../src/wire/http.js';
import { until } from '../helpers.js';
import { refusingPort } from '../fixtures/refusing.js';

// ---------------------------------------------------------------------------------------------
// Helpers: a real HTTP receiver on port 0, events, and recorders for metrics / logs / sleeps.

interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}
interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}
interface Receiver {
  url: string;
  requests: Received[];
  close(): Promise<void>;
}

async function receiver(reply: (req: Received, index: number) => Reply | Promise<Reply> = () => ({ status: 200, body: 'ok' })): Promise<Receiver> {
  const requests: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(r);
      void Promise.resolve(reply(r, requests.length - 1)).then((out) => {
        res.writeHead(out.status, out.headers ?? {});
        res.end(out.body ?? '');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/mcp?token=abc`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A URL where nothing listens, held so for the rest of the test. */
async function deadUrl(t: TestContext): Promise<string> {
  const dead = await refusingPort();
  t.after(() => dead.close());
  return dead.url('/hook');
}

function event(over: Partial<AlertEvent> = {}): AlertEvent {
  return {
    server: 'postgres-mcp',
    transport: 'stdio',
    tags: ['critical', 'team:data'],
    event: 'down',
    severity: 'critical',
    message: 'postgres-mcp DOWN — exited with code 3: boom: missing DATABASE_URL',
    details: { error_type: 'process_exited', phase: 'initialize', exit_code: 3 },
    previous_state: 'up',
    current_state: 'down',
    timestamp: '2026-11-22T00:14:03.120Z',
    incident_started_at: '2026-11-22T00:14:03.120Z',
    downtime_seconds: null,
    ...over,
  };
}

const recovered = (): AlertEvent =>
  event({
    event: 'recovered',
    severity: 'info',
    message: 'postgres-mcp RECOVERED — up again after 1h 2m 5s',
    details: {},
    previous_state: 'down',
    current_state: 'up',
    timestamp: '2026-11-22T01:16:08.120Z',
    downtime_seconds: 3725,
  });

const drift = (changes: FieldChange[]): AlertEvent =>
  event({
    event: 'schema_drift',
    severity: 'warning',
    message: 'postgres-mcp SCHEMA_DRIFT — 2 tool schema changes',
    details: { changes },
    previous_state: 'up',
    current_state: 'up',
    incident_started_at: null,
  });

const RETRY = { max_attempts: 3, initial_backoff: 100, max_backoff: 1000 };

function webhook(url: string, over: Partial<Extract<AlertConfig, { type: 'webhook' }>> = {}): AlertConfig {
  // A deadline no local delivery comes near, even on a busy machine; tests about deadlines set their own.
  return { type: 'webhook', url, headers: {}, timeout: 30_000, retry: RETRY, ...over };
}

interface Recorder {
  outcomes: string[];
  logs: Array<{ level: LogLevel; msg: string; fields: Record<string, unknown> }>;
  sleeps: number[];
  options: DispatcherOptions;
}

/** Dispatcher options that record everything and never really sleep; jitter off unless given. */
function recorder(over: DispatcherOptions = {}): Recorder {
  const r: Recorder = { outcomes: [], logs: [], sleeps: [], options: {} };
  r.options = {
    metrics: (kind, outcome: DeliveryOutcome) => r.outcomes.push(`${kind}:${outcome}`),
    log: (level, msg, fields) => r.logs.push({ level, msg, fields }),
    sleep: async (ms) => {
      r.sleeps.push(ms);
    },
    random: () => 0,
    ...over,
  };
  return r;
}

const errors = (r: Recorder) => r.logs.filter((l) => l.level === 'error');

// ---------------------------------------------------------------------------------------------
// Webhook

test('webhook: the body is the AlertEvent exactly, with the documented and configured headers', async (t) => {
  const rx = await receiver();
  t.after(() => rx.close());
  const n = createNotifier(webhook(rx.url, { headers: { 'X-Team': 'data', 'Content-Type': 'text/plain', 'User-Agent': 'custom/1' } }));
  assert.equal(n.kind, 'webhook');
  assert.equal(n.target, new URL(rx.url).host, 'the target names the host only, never the path or query');
  const ev = event();
  await n.deliver(ev, AbortSignal.timeout(30_000));

  assert.equal(rx.requests.length, 1);
  const req = rx.requests[0]!;
  assert.equal(req.method, 'POST');
  assert.equal(req.path, '/hooks/mcp?token=abc');
  assert.deepEqual(JSON.parse(req.body), ev);
  assert.deepEqual(Object.keys(JSON.parse(req.body) as object), Object.keys(ev), 'snake_case keys, in the event order');
  assert.equal(req.headers['content-type'], 'application/json', 'a configured header cannot override the body type');
  assert.equal(req.headers['user-agent'], 'custom/1', 'the user agent may be overridden');
  assert.equal(req.headers['x-team'], 'data');
  assert.match(String(req.headers['x-mcpwatch-delivery']), /^[0-9a-f]{32}$/);
  assert.equal(req.headers['x-mcpwatch-signature'], undefined, 'no secret, no signature');
  assert.equal(req.headers['x-mcpwatch-timestamp'], undefined);
});

test('webhook: default user agent is mcpwatch/0.1.0', async (t) => {
  const rx = await receiver();
  t.after(() => rx.close());
  await createNotifier(webhook(rx.url)).deliver(event(), AbortSignal.timeout(30_000));
  assert.equal(rx.requests[0]!.headers['user-agent'], 'mcpwatch/0.1.0');
});

test('webhook: a URL with user:password@ is delivered with Basic authorization (fetch refuses such a URL); a configured Authorization wins', async (t) => {
  const rx = await receiver();
  t.after(() => rx.close());
  const withUser = rx.url.replace('http://', 'http://alert%20bot:p%40ss@');
  await createNotifier(webhook(withUser)).deliver(event(), AbortSignal.timeout(30_000));
  assert.equal(rx.requests.length, 1);
  assert.equal(rx.requests[0]!.path, '/hooks/mcp?token=abc');
  assert.equal(rx.requests[0]!.headers.authorization, `Basic ${Buffer.from('alert bot:p@ss').toString('base64')}`);
  await createNotifier(webhook(withUser, { headers: { Authorization: 'Bearer configured' } })).deliver(event(), AbortSignal.timeout(30_000));
  assert.equal(rx.requests[1]!.headers.authorization, 'Bearer configured');
});

test('webhook: the signature covers timestamp and raw body, verifies, and fails for a wrong secret, body or old timestamp', async (t) => {
  const rx = await receiver();
  t.after(() => rx.close());
  const secret = 's3cr3t-shared';
  const fixedNow = Date.parse('2026-11-22T00:14:05.000Z');
  const n = createNotifier(webhook(rx.url, { secret, headers: { 'X-Mcpwatch-Signature': 'sha256=forged' } }), { now: () => fixedNow });
  await n.deliver(event(), AbortSignal.timeout(30_000));

  const req = rx.requests[0]!;
  const ts = String(req.headers['x-mcpwatch-timestamp']);
  const sig = String(req.headers['x-mcpwatch-signature']);
  assert.equal(ts, String(fixedNow / 1000));
  // Independent of the module: HMAC-SHA256(secret, "<ts>.<body>") in lowercase hex.
  const expected = `sha256=${createHmac('sha256', secret).update(`${ts}.${req.body}`).digest('hex')}`;
  assert.equal(sig, expected, 'the configured header does not replace the real signature');

  const at = { nowMs: fixedNow + 1000 };
  assert.equal(verifySignature(secret, ts, req.body, sig, at), true);
  assert.equal(verifySignature(secret, ts, Buffer.from(req.body, 'utf8'), sig, at), true, 'raw bytes verify the same');
  assert.equal(verifySignature('wrong-secret', ts, req.body, sig, at), false);
  assert.equal(verifySignature(secret, ts, req.body.replace('postgres-mcp', 'postgres-mcq'), sig, at), false, 'tampered body');
  assert.equal(verifySignature(secret, String(Number(ts) + 1), req.body, sig, at), false, 'timestamp is part of the signed bytes');
  assert.equal(verifySignature(secret, ts, req.body, sig, { nowMs: fixedNow + 301_000 }), false, 'a replay after 5 minutes is refused');
  assert.equal(verifySignature(secret, ts, req.body, sig, { nowMs: fixedNow + 3_600_000, toleranceSeconds: 7200 }), true);
});

test('verifySignature: malformed inputs are refused, not thrown', () => {
  const body = '{"a":1}';
  const nowMs = 1_800_000_000_000;
  const ts = String(nowMs / 1000);
  const good = `sha256=${createHmac('sha256', 'k').update(`${ts}.${body}`).digest('hex')}`;
  assert.equal(verifySignature('k', ts, body, good, { nowMs }), true);
  assert.equal(verifySignature('k', ts, body, good.toUpperCase().replace('SHA256=', 'sha256='), { nowMs }), true, 'hex case does not matter');
  const rows: Array<[string | undefined, string | undefined]> = [
    [ts, undefined],
    [undefined, good],
    [ts, good.slice('sha256='.length)],
    [ts, 'sha1=' + good.slice('sha256='.length)],
    [ts, good.slice(0, -2)],
    [ts, good + '00'],
    [ts, 'sha256=' + 'zz'.repeat(32)],
    ['1.5e9', good],
    ['', good],
  ];
  for (const [timestamp, header] of rows) assert.equal(verifySignature('k', timestamp, body, header, { nowMs }), false, `${timestamp} / ${header}`);
});

// ---------------------------------------------------------------------------------------------
// Dispatcher: filters, retries, permanent failures, dead receivers, Retry-After, timeouts

test('events filter: a notifier receives only its configured events', async (t) => {
  const onlyDown = await receiver();
  const all = await receiver();
  t.after(() => Promise.all([onlyDown.close(), all.close()]).then(() => undefined));
  const notifiers = [createNotifier(webhook(onlyDown.url, { events: ['down'] })), createNotifier(webhook(all.url))];
  assert.equal(notifiers[0]!.accepts(event()), true);
  assert.equal(notifiers[0]!.accepts(recovered()), false);
  const r = recorder();
  const d = new AlertDispatcher(notifiers, r.options);
  d.dispatch(event());
  d.dispatch(recovered());
  assert.equal(await d.flush(60_000), true);
  assert.deepEqual(onlyDown.requests.map((q) => (JSON.parse(q.body) as AlertEvent).event), ['down']);
  assert.deepEqual(all.requests.map((q) => (JSON.parse(q.body) as AlertEvent).event), ['down', 'recovered'], 'in dispatch order');
  assert.deepEqual(r.outcomes, ['webhook:sent', 'webhook:sent', 'webhook:sent']);
});

test('503, 503, then 200: delivered once after two retries with doubling back-off', async (t) => {
  const rx = await receiver((_req, i) => (i < 2 ? { status: 503, body: 'busy' } : { status: 204 }));
  t.after(() => rx.close());
  const r = recorder();
  const d = new AlertDispatcher([createNotifier(webhook(rx.url, { secret: 'k' }))], r.options);
  d.dispatch(event());
  assert.equal(await d.flush(60_000), true);

  assert.equal(rx.requests.length, 3);
  assert.deepEqual(new Set(rx.requests.map((q) => q.body)).size, 1, 'every attempt sends the same body');
  assert.equal(new Set(rx.requests.map((q) => q.headers['x-mcpwatch-delivery'])).size, 1, 'and the same delivery id');
  assert.deepEqual(r.outcomes, ['webhook:retried', 'webhook:retried', 'webhook:sent']);
  assert.deepEqual(r.sleeps, [100, 200]);
  assert.deepEqual(errors(r), [], 'no failure logged');
  assert.equal(d.pending, 0);
});

test('400: permanent, not retried, counted failed and logged once with the receiver’s reason', async (t) => {
  const rx = await receiver(() => ({ status: 400, body: 'invalid_payload' }));
  t.after(() => rx.close());
  const r = recorder();
  const d = new AlertDispatcher([createNotifier(webhook(rx.url))], r.options);
  d.dispatch(event());
  await d.flush(60_000);
  assert.equal(rx.requests.length, 1);
  assert.deepEqual(r.outcomes, ['webhook:failed']);
  assert.deepEqual(r.sleeps, []);
  const errs = errors(r);
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.msg, 'alert delivery failed');
  assert.deepEqual(
    { ...errs[0]!.fields, elapsed_ms: 0 },
    { notifier: 'webhook', target: new URL(rx.url).host, server: 'postgres-mcp', event: 'down', attempts: 1, code: 'http_status', status: 400, error: 'HTTP 400: invalid_payload', elapsed_ms: 0 },
  );
});

test('a receiver that quotes the credentials it was sent back in its refusal: they are masked in the logged error', async (t) => {
  // A proxy's 401 echoing the request headers, as some gateways do in their error pages.
  const rx = await receiver((req) => ({ status: 401, body: `denied: authorization=${String(req.headers.authorization)} x-api-key=${String(req.headers['x-api-key'])}` }));
  t.after(() => rx.close());
  const r = recorder();
  const d = new AlertDispatcher([createNotifier(webhook(rx.url, { headers: { Authorization: 'Bearer hook-token-0123456789', 'X-Api-Key': 'key-abcdef987654' } }))], r.options);
  d.dispatch(event());
  await d.flush(60_000);
  const errs = errors(r);
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.fields.error, 'HTTP 401: denied: authorization=*** x-api-key=***');
});

test('a dead receiver: dispatch returns at once, then the alert fails after max_attempts', async (t) => {
  const url = await deadUrl(t);
  const r = recorder();
  const inner = createNotifier(webhook(url, { retry: { max_attempts: 5, initial_backoff: 100, max_backoff: 300 } }));
  let attempts = 0;
  const counting: Notifier = { ...inner, deliver: (e, s) => (attempts++, inner.deliver(e, s)) };
  const d = new AlertDispatcher([counting], r.options);
  const returned = d.dispatch(event());
  // Synchronously after dispatch: nothing attempted yet, the event only queued.
  assert.equal(returned, undefined);
  assert.equal(attempts, 0, 'no delivery starts within the caller’s turn');
  assert.deepEqual(r.outcomes, []);
  assert.equal(d.pending, 1);

  assert.equal(await d.flush(60_000), true);
  assert.deepEqual(r.outcomes, ['webhook:retried', 'webhook:retried', 'webhook:retried', 'webhook:retried', 'webhook:failed']);
  assert.equal(attempts, 5);
  assert.deepEqual(r.sleeps, [100, 200, 300, 300], 'doubling, capped by max_backoff');
  const errs = errors(r);
  assert.equal(errs.length, 1, 'a failure is logged once, after the last attempt');
  assert.equal(errs[0]!.fields.code, 'network');
  assert.equal(errs[0]!.fields.attempts, 5);
  assert.equal(errs[0]!.fields.error, 'network error: ECONNREFUSED');
  assert.equal(JSON.stringify(r.logs).includes('/hook'), false, 'the URL path never reaches the logs');
});

test('jitter shortens back-off by at most half and never exceeds max_backoff', async (t) => {
  const url = await deadUrl(t);
  const r = recorder({ random: () => 0.5 });
  const d = new AlertDispatcher([createNotifier(webhook(url, { retry: { max_attempts: 4, initial_backoff: 100, max_backoff: 300 } }))], r.options);
  d.dispatch(event());
  await d.flush(60_000);
  assert.deepEqual(r.sleeps, [75, 150, 225]);
});

test('Retry-After is honoured on 429 and 503, capped by max_backoff, and ignored on 500', async (t) => {
  const replies: Reply[] = [
    { status: 429, headers: { 'retry-after': '2' } },
    { status: 503, headers: { 'retry-after': '120' } },
    { status: 500, headers: { 'retry-after': '7' } },
    { status: 200 },
  ];
  const rx = await receiver((_req, i) => replies[i]!);
  t.after(() => rx.close());
  const r = recorder();
  const d = new AlertDispatcher([createNotifier(webhook(rx.url, { retry: { max_attempts: 5, initial_backoff: 100, max_backoff: 5000 } }))], r.options);
  d.dispatch(event());
  await d.flush(60_000);
  assert.equal(rx.requests.length, 4);
  assert.deepEqual(r.sleeps, [2000, 5000, 400], '2 s as asked; 120 s capped to 5 s; a 500 gets ordinary back-off (third retry: 100 × 4)');
  assert.deepEqual(r.outcomes, ['webhook:retried', 'webhook:retried', 'webhook:retried', 'webhook:sent']);
});

test('each attempt has its own deadline: a receiver that never answers fails with timeout', async (t) => {
  const rx = await receiver(() => new Promise<Reply>(() => undefined));
  t.after(() => rx.close());
  const r = recorder();
  // Attempts are counted as the dispatcher makes them: at 40 ms, a busy machine may end one before
  // its request has reached the receiver.
  const inner = createNotifier(webhook(rx.url, { timeout: 40, retry: { max_attempts: 2, initial_backoff: 10, max_backoff: 10 } }));
  let attempts = 0;
  const counting: Notifier = { ...inner, deliver: (e, s) => (attempts++, inner.deliver(e, s)) };
  const d = new AlertDispatcher([counting], r.options);
  d.dispatch(event());
  assert.equal(await d.flush(60_000), true);
  assert.equal(attempts, 2);
  assert.deepEqual(r.outcomes, ['webhook:retried', 'webhook:failed']);
  assert.equal(errors(r)[0]!.fields.code, 'timeout');
});

test('a notifier that ignores its signal still cannot stall its queue past the timeout', async () => {
  const stuck: Notifier = {
    kind: 'webhook',
    target: 'stuck',
    retry: { max_attempts: 1, initial_backoff: 0, max_backoff: 0 },
    timeout: 30,
    accepts: () => true,
    deliver: () => new Promise<void>(() => undefined),
  };
  const r = recorder();
  const d = new AlertDispatcher([stuck], r.options);
  d.dispatch(event());
  d.dispatch(recovered());
  assert.equal(await d.flush(60_000), true);
  assert.deepEqual(r.outcomes, ['webhook:failed', 'webhook:failed']);
  assert.deepEqual(errors(r).map((e) => e.fields.code), ['timeout', 'timeout']);
});

test('a full queue drops the oldest waiting event, counts it failed, and keeps the one in flight', async (t) => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let firstArrived!: () => void;
  const arrived = new Promise<void>((resolve) => (firstArrived = resolve));
  const rx = await receiver(async (_req, i) => {
    if (i === 0) {
      firstArrived();
      await released;
    }
    return { status: 200 };
  });
  t.after(() => rx.close());
  const r = recorder({ queueSize: 2 });
  const d = new AlertDispatcher([createNotifier(webhook(rx.url, { timeout: 60_000 }))], r.options);
  const ev = (n: number) => event({ message: `postgres-mcp DOWN — event ${n}` });

  d.dispatch(ev(1));
  await arrived; // event 1 is now in flight, held by the receiver
  d.dispatch(ev(2));
  d.dispatch(ev(3));
  assert.deepEqual(r.outcomes, []);
  d.dispatch(ev(4)); // queue [2, 3] is full: 2 goes
  assert.deepEqual(r.outcomes, ['webhook:failed']);
  assert.equal(d.pending, 3, 'one in flight, two waiting');
  const drop = r.logs.find((l) => l.msg === 'alert dropped: notifier queue is full');
  assert.equal(drop?.level, 'warn');
  assert.equal(drop?.fields.queue_size, 2);

  release();
  assert.equal(await d.flush(60_000), true);
  assert.deepEqual(
    rx.requests.map((q) => (JSON.parse(q.body) as AlertEvent).message),
    ['postgres-mcp DOWN — event 1', 'postgres-mcp DOWN — event 3', 'postgres-mcp DOWN — event 4'],
  );
  assert.deepEqual(r.outcomes, ['webhook:failed', 'webhook:sent', 'webhook:sent', 'webhook:sent']);
});

test('flush gives up at its deadline; close aborts the attempt in flight and fails what waits', async (t) => {
  const rx = await receiver(() => new Promise<Reply>(() => undefined));
  t.after(() => rx.close());
  const r = recorder();
  const d = new AlertDispatcher([createNotifier(webhook(rx.url, { timeout: 600_000 }))], r.options);
  d.dispatch(event());
  d.dispatch(recovered());
  const started = Date.now();
  assert.equal(await d.flush(50), false);
  assert.ok(Date.now() - started < 60_000, 'at its own deadline, not the attempt\'s (10 min)');
  await d.close();
  assert.equal(d.pending, 0);
  assert.deepEqual(r.outcomes, ['webhook:failed', 'webhook:failed']);
  assert.deepEqual(errors(r).map((e) => [e.fields.event, e.fields.code]), [
    ['recovered', 'aborted'],
    ['down', 'aborted'],
  ]);
  d.dispatch(event());
  assert.equal(d.pending, 0, 'nothing is queued after close');
  assert.equal(r.logs.at(-1)!.msg, 'alert not delivered: notifiers are closed');
  assert.equal(await d.flush(10), true);
});

test('notifiers deliver independently: a dead webhook does not delay stdout', async (t) => {
  const lines: string[] = [];
  const url = await deadUrl(t);
  let wake!: () => void;
  const r = recorder({ sleep: () => new Promise<void>((resolve) => (wake = resolve)) });
  const d = new AlertDispatcher(
    [createNotifier(webhook(url)), createNotifier({ type: 'stdout' }, { stdout: { write: (s) => lines.push(s) > 0 } })],
    r.options,
  );
  d.dispatch(event());
  // Wait until the webhook is parked in its first back-off, then check stdout already has the alert.
  await until(() => r.outcomes.length >= 2, 'both outcomes').catch(() => {});
  assert.deepEqual([...r.outcomes].sort(), ['stdout:sent', 'webhook:retried']);
  assert.equal(lines.length, 1);
  wake();
  await d.close();
});

// ---------------------------------------------------------------------------------------------
// Slack

type Section = Extract<SlackBlock, { type: 'section' }>;

function assertBlockKit(msg: { text: string; blocks: SlackBlock[] }): void {
  assert.equal(typeof msg.text, 'string');
  assert.ok(msg.text.length > 0);
  assert.ok(Array.isArray(msg.blocks) && msg.blocks.length >= 1 && msg.blocks.length <= 50);
  for (const b of msg.blocks) {
    assert.ok(['header', 'section', 'context', 'divider'].includes(b.type), b.type);
    if (b.type === 'header') {
      assert.equal(b.text.type, 'plain_text');
      assert.ok(b.text.text.length <= 150);
    }
    if (b.type === 'section') {
      assert.ok(b.text || b.fields, 'a section needs text or fields');
      if (b.text) assert.ok(b.text.text.length <= 3000);
      for (const f of b.fields ?? []) assert.ok(f.text.length <= 2000);
      assert.ok((b.fields ?? []).length <= 10);
    }
    if (b.type === 'context') assert.ok(b.elements.length >= 1 && b.elements.length <= 10);
  }
}

test('slack: a down alert is a Block Kit message with header, fields and timestamp context', async (t) => {
  const rx = await receiver(() => ({ status: 200, body: 'ok' }));
  t.after(() => rx.close());
  const n = createNotifier({ type: 'slack', webhook_url: rx.url, timeout: 30_000, retry: RETRY });
  assert.equal(n.kind, 'slack');
  await n.deliver(event(), AbortSignal.timeout(30_000));
  const req = rx.requests[0]!;
  assert.equal(req.headers['content-type'], 'application/json');
  assert.equal(req.headers['user-agent'], 'mcpwatch/0.1.0');
  const msg = JSON.parse(req.body) as { text: string; blocks: SlackBlock[] };
  assertBlockKit(msg);
  assert.equal(msg.text, ':red_circle: postgres-mcp DOWN — exited with code 3: boom: missing DATABASE_URL');
  assert.deepEqual(msg.blocks.map((b) => b.type), ['header', 'section', 'context']);
  assert.deepEqual(msg.blocks[0], { type: 'header', text: { type: 'plain_text', text: ':red_circle: postgres-mcp is down', emoji: true } });
  const section = msg.blocks[1] as Section;
  assert.equal(section.text?.text, 'postgres-mcp DOWN — exited with code 3: boom: missing DATABASE_URL');
  assert.deepEqual(section.fields?.map((f) => f.text), [
    '*Server*\npostgres-mcp',
    '*Event*\ndown',
    '*State*\nup → down',
    '*Severity*\ncritical',
    '*Error type*\nprocess_exited',
    '*Phase*\ninitialize',
  ]);
  const context = msg.blocks[2] as Extract<SlackBlock, { type: 'context' }>;
  const unix = Date.parse('2026-11-22T00:14:03.120Z') / 1000;
  assert.deepEqual(context.elements.map((e) => e.text), [`<!date^${Math.floor(unix)}^{date_short_pretty} {time_secs}|2026-11-22T00:14:03.120Z>`, 'stdio · mcpwatch']);
});

test('slack: recovered shows the downtime and the incident start', () => {
  const msg = buildSlackMessage(recovered());
  assertBlockKit(msg);
  assert.equal((msg.blocks[0] as Extract<SlackBlock, { type: 'header' }>).text.text, ':large_green_circle: postgres-mcp recovered');
  const fields = (msg.blocks[1] as Section).fields!.map((f) => f.text);
  assert.deepEqual(fields, ['*Server*\npostgres-mcp', '*Event*\nrecovered', '*State*\ndown → up', '*Severity*\ninfo', '*Downtime*\n1h 2m 5s']);
  const context = (msg.blocks.at(-1) as Extract<SlackBlock, { type: 'context' }>).elements.map((e) => e.text);
  assert.equal(context.length, 3);
  assert.match(context[1]!, /^incident since <!date\^\d+\^\{date_short_pretty\} \{time_secs\}\|2026-11-22T00:14:03\.120Z>$/);
});

test('traffic_errors on stdout and Slack: the note as the line, the most frequent error type as a field', () => {
  const traffic = event({
    event: 'traffic_errors',
    severity: 'warning',
    message: 'traffic: 34 % of 212 calls failed (invalid_params 30, timeout 42)',
    details: { calls: 212, errors: 72, error_type: 'timeout' },
    current_state: 'degraded',
  });
  assert.equal(formatStdout(traffic), '[2026-11-22T00:14:03.120Z] WARNING postgres-mcp TRAFFIC_ERRORS — traffic: 34 % of 212 calls failed (invalid_params 30, timeout 42)\n');
  const msg = buildSlackMessage(traffic);
  assertBlockKit(msg);
  assert.equal((msg.blocks[0] as Extract<SlackBlock, { type: 'header' }>).text.text, ':large_orange_circle: postgres-mcp traffic errors');
  assert.ok((msg.blocks[1] as Section).fields!.some((f) => f.text === '*Error type*\ntimeout'));
});

test('slack: error type and phase are read from details.error as well', () => {
  const msg = buildSlackMessage(event({ details: { error: { type: 'timeout', phase: 'tools/list', message: 'x' } } }));
  const fields = (msg.blocks[1] as Section).fields!.map((f) => f.text);
  assert.deepEqual(fields.slice(4), ['*Error type*\ntimeout', '*Phase*\ntools/list']);
});

test('slack: schema_drift lists up to 10 changes and counts the rest', () => {
  const changes: FieldChange[] = Array.from({ length: 12 }, (_, i) => ({ kind: i === 0 ? 'breaking' : 'compatible', tool: `tool_${i}`, field: 'inputSchema.required', message: `changed <${i}>` }));
  const msg = buildSlackMessage(drift(changes));
  assertBlockKit(msg);
  assert.deepEqual(msg.blocks.map((b) => b.type), ['header', 'section', 'section', 'context']);
  assert.equal((msg.blocks[0] as Extract<SlackBlock, { type: 'header' }>).text.text, ':jigsaw: postgres-mcp tool schema changed');
  const text = (msg.blocks[2] as Section).text!.text;
  const lines = text.split('\n');
  assert.equal(lines[0], '*Schema changes (12)*');
  assert.equal(lines[1], '• [breaking] tool_0: changed &lt;0&gt;');
  assert.equal(lines[10], '• [compatible] tool_9: changed &lt;9&gt;');
  assert.equal(lines[11], '_…and 2 more_');
  assert.equal(lines.length, 12);
});

test('slack: oversized text is clipped to Slack limits and markup is escaped', () => {
  const huge = `postgres-mcp DOWN — <!channel> ${'x'.repeat(10_000)}`;
  const changes: FieldChange[] = Array.from({ length: 10 }, () => ({ kind: 'warning', tool: 't', field: 'description', message: 'y'.repeat(1000) }));
  const msg = buildSlackMessage({ ...drift(changes), server: 's'.repeat(300), message: huge });
  assertBlockKit(msg);
  const section = (msg.blocks[1] as Section).text!.text;
  assert.equal(section.length, 3000);
  assert.ok(section.startsWith('postgres-mcp DOWN — &lt;!channel&gt; xxx'));
  assert.ok(section.endsWith('…'));
  const list = (msg.blocks[2] as Section).text!.text;
  assert.ok(list.length <= 3000, String(list.length));
  assert.equal(msg.text.includes('<!channel>'), false);
  assert.ok(msg.text.length <= 3000);
});

test('slack: a rate-limited incoming webhook is retried after its Retry-After', async (t) => {
  const rx = await receiver((_req, i) => (i === 0 ? { status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' } : { status: 200, body: 'ok' }));
  t.after(() => rx.close());
  const r = recorder();
  const d = new AlertDispatcher([createNotifier({ type: 'slack', webhook_url: rx.url, timeout: 30_000, retry: RETRY })], r.options);
  d.dispatch(event());
  await d.flush(60_000);
  assert.deepEqual(r.outcomes, ['slack:retried', 'slack:sent']);
  assert.deepEqual(r.sleeps, [1000]);
});

// ---------------------------------------------------------------------------------------------
// stdout

test('stdout: one line per event; drift changes indented below it', async () => {
  const written: string[] = [];
  const n = createNotifier({ type: 'stdout' }, { stdout: { write: (s) => written.push(s) > 0 } });
  await n.deliver(event(), AbortSignal.timeout(30_000));
  await n.deliver(event({ message: 'line one\nline two', severity: 'warning', event: 'latency_spike' }), AbortSignal.timeout(30_000));
  await n.deliver(
    drift([
      { kind: 'breaking', tool: 'search', field: '', message: 'tool removed: search' },
      { kind: 'breaking', tool: 'query', field: 'inputSchema.properties.limit', message: 'required parameter added: limit (integer)' },
    ]),
    AbortSignal.timeout(30_000),
  );
  assert.deepEqual(written, [
    '[2026-11-22T00:14:03.120Z] CRITICAL postgres-mcp DOWN — exited with code 3: boom: missing DATABASE_URL\n',
    '[2026-11-22T00:14:03.120Z] WARNING postgres-mcp LATENCY_SPIKE — line one line two\n',
    '[2026-11-22T00:14:03.120Z] WARNING postgres-mcp SCHEMA_DRIFT — 2 tool schema changes\n' +
      '    [breaking] tool removed: search\n' +
      '    [breaking] query: required parameter added: limit (integer)\n',
  ]);
});

test('stdout: the events filter applies and a throwing stream is a permanent failure', async () => {
  const n = createNotifier({ type: 'stdout', events: ['recovered'] }, { stdout: { write: () => { throw new Error('EPIPE'); } } });
  assert.equal(n.accepts(event()), false);
  assert.equal(n.accepts(recovered()), true);
  await assert.rejects(n.deliver(recovered(), AbortSignal.timeout(30_000)), { name: 'DeliveryError', code: 'write_failed', retryable: false });
});

// ---------------------------------------------------------------------------------------------
// Pure pieces, row by row

test('driftLines prints one line per change, naming the tool where the message does not', () => {
  assert.deepEqual(driftLines([]), []);
  assert.deepEqual(
    driftLines([
      { kind: 'compatible', tool: 'new_tool', field: '', message: 'tool added: new_tool' },
      { kind: 'warning', tool: 'search', field: 'description', message: 'description\nchanged' },
    ]),
    ['[compatible] tool added: new_tool', '[warning] search: description changed'],
  );
  assert.equal(formatStdout(drift([])), '[2026-11-22T00:14:03.120Z] WARNING postgres-mcp SCHEMA_DRIFT — 2 tool schema changes\n');
});

test('statusError: which answers are retried, and when', () => {
  const now = Date.parse('2026-11-22T00:00:00Z');
  const rows: Array<[number, string | null, boolean, number | undefined]> = [
    [400, null, false, undefined],
    [401, null, false, undefined],
    [404, null, false, undefined],
    [410, null, false, undefined],
    [302, null, false, undefined],
    [408, null, true, undefined],
    [429, '3', true, 3000],
    [429, null, true, undefined],
    [429, 'soon', true, undefined],
    [500, '3', true, undefined],
    [502, null, true, undefined],
    [503, 'Sun, 22 Nov 2026 00:00:10 GMT', true, 10_000],
    [503, 'Sat, 21 Nov 2026 23:00:00 GMT', true, 0],
  ];
  for (const [status, retryAfter, retryable, retryAfterMs] of rows) {
    const e = statusError(status, retryAfter, '', now);
    assert.equal(e.code, 'http_status');
    assert.equal(e.status, status);
    assert.equal(e.retryable, retryable, `${status} retryable`);
    assert.equal(e.retryAfterMs, retryAfterMs, `${status} ${retryAfter}`);
  }
  assert.equal(parseRetryAfter(' 7 ', now), 7000);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

// ---------------------------------------------------------------------------------------------
// Across a restart: what each notifier was told, and the catch-up of the ones that were not

test('notifierKey: the type and the destination decide who the receiver is, not its filter, retries or secret; the URL is not in it', () => {
  const url = 'https://hooks.example/mcp?token=s3cret';
  const base = notifierKey(webhook(url));
  assert.equal(notifierKey(webhook(url, { events: ['down'], secret: 'k', retry: { max_attempts: 9, initial_backoff: 1, max_backoff: 2 } })), base);
  assert.notEqual(notifierKey(webhook('https://hooks.example/other')), base);
  assert.notEqual(notifierKey({ type: 'slack', webhook_url: url, timeout: 1, retry: RETRY }), base);
  assert.doesNotMatch(base, /hooks|s3cret/);
  assert.equal(createNotifier(webhook(url)).key, base);
  assert.equal(createNotifier({ type: 'stdout' }).key, notifierKey({ type: 'stdout' }));
});

test('delivered: called with what the notifier knows once an event is delivered, never for a failed one', async (t) => {
  const ok = await receiver();
  const failing = await receiver(() => ({ status: 400 }));
  t.after(() => Promise.all([ok.close(), failing.close()]).then(() => undefined));
  const delivered: Array<[string, string, string]> = [];
  const r = recorder({ delivered: (key, e) => delivered.push([key, e.event, e.current_state]) });
  const d = new AlertDispatcher([createNotifier(webhook(ok.url)), createNotifier(webhook(failing.url))], r.options);
  d.dispatch(event());
  d.dispatch(recovered());
  assert.equal(await d.flush(60_000), true);
  const key = notifierKey(webhook(ok.url));
  assert.deepEqual(delivered, [[key, 'down', 'down'], [key, 'recovered', 'up']]);
});

test('catchUp: only the notifiers whose last word of the server was another state are told, with what they knew as previous_state', async (t) => {
  const [same, other, none, filtered] = await Promise.all([receiver(), receiver(), receiver(), receiver()]);
  t.after(() => Promise.all([same, other, none, filtered].map((x) => x.close())).then(() => undefined));
  const cfgs = [webhook(same.url), webhook(other.url), webhook(none.url), webhook(filtered.url, { events: ['recovered'] })];
  const told = new Map([
    [notifierKey(cfgs[0]!), { state: 'down' as const, held: undefined }],
    [notifierKey(cfgs[1]!), { state: 'degraded' as const, held: undefined }],
  ]);
  const r = recorder();
  const d = new AlertDispatcher(cfgs.map((c) => createNotifier(c)), r.options);
  d.catchUp(event({ previous_state: 'down', details: { catch_up: true } }), told, false);
  assert.equal(await d.flush(60_000), true);
  const got = (rx: Receiver) => rx.requests.map((q) => JSON.parse(q.body) as AlertEvent).map((e) => [e.event, e.previous_state, e.current_state]);
  assert.deepEqual(got(same), [], 'told of it already');
  assert.deepEqual(got(other), [['down', 'degraded', 'down']]);
  assert.deepEqual(got(none), [['down', 'unknown', 'down']], 'never told anything of the server');
  assert.deepEqual(got(filtered), [], 'its filter still applies');
});

test('catchUp with assumeTold: notifiers that keep nothing in their receiver are recorded as told, not told again; one that keeps alerts is', async (t) => {
  const hook = await receiver();
  t.after(() => hook.close());
  const recorded: string[] = [];
  const r = recorder({ delivered: (key, e) => recorded.push(`${key}:${e.current_state}`) });
  const posts: string[] = [];
  const keeper: Notifier = {
    key: 'keeper',
    kind: 'alertmanager',
    target: 'am',
    retry: RETRY,
    timeout: 30_000,
    accepts: () => true,
    deliver: async (e) => void posts.push(e.event),
    held: () => [],
    resume: () => undefined,
  };
  const d = new AlertDispatcher([createNotifier(webhook(hook.url)), keeper], r.options);
  d.catchUp(event(), new Map(), true);
  assert.equal(await d.flush(60_000), true);
  assert.equal(hook.requests.length, 0);
  assert.deepEqual(posts, ['down'], 'the alert is posted again: Alertmanager deduplicates it');
  assert.deepEqual(recorded, [`${notifierKey(webhook(hook.url))}:down`, 'keeper:down']);
});

test('restore: a notifier that keeps alerts takes up what it held; one that throws is logged, the others go on', () => {
  const resumed: Array<[string, unknown]> = [];
  const base = { kind: 'alertmanager' as const, target: 'am', retry: RETRY, timeout: 1, accepts: () => true, deliver: async () => undefined };
  const broken: Notifier = { ...base, key: 'broken', resume: () => { throw new Error('bad'); } };
  const good: Notifier = { ...base, key: 'good', resume: (server, held) => void resumed.push([server, held]) };
  const plain: Notifier = { ...base, key: 'plain' };
  const r = recorder();
  const d = new AlertDispatcher([broken, good, plain], r.options);
  const told = new Map(['broken', 'good', 'plain'].map((k) => [k, { state: 'down' as const, held: [{ k }] }]));
  d.restore('s', told);
  assert.deepEqual(resumed, [['s', [{ k: 'good' }]]]);
  assert.deepEqual(r.logs.map((l) => [l.level, l.msg, l.fields.server]), [['warn', 'taking up what a notifier held before the restart failed; it starts afresh', 's']]);
});

// ---------------------------------------------------------------------------------------------
// Across a configuration reload: one dispatcher, reconfigured

/**
 * A notifier that logs `<name>:<message>` as each delivery starts (and `<name>:closed`), and holds
 * the deliveries whose message `hold` names until the returned release is called.
 */
function logging(log: string[], key: string, name: string, hold: string[] = []): { notifier: Notifier; release: () => void } {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const notifier: Notifier = {
    key,
    kind: 'webhook',
    target: name,
    retry: RETRY,
    timeout: 600_000,
    accepts: () => true,
    async deliver(e) {
      log.push(`${name}:${e.message}`);
      if (hold.includes(e.message)) await released;
    },
    async forget(servers) {
      log.push(`${name}:forget ${servers.join(',')}`);
    },
    close: () => void log.push(`${name}:closed`),
  };
  return { notifier, release };
}

const says = (message: string, server = 'postgres-mcp'): AlertEvent => event({ message, server });

test('reconfigure: a kept notifier goes on from its queue, in order (the delivery under way with the instance that began it); an added one is returned; one removed and idle closes', async () => {
  const log: string[] = [];
  const old = logging(log, 'k', 'old', ['one']);
  const d = new AlertDispatcher([old.notifier, logging(log, 'gone', 'gone').notifier], recorder().options);
  d.dispatch(says('one'));
  await until(() => log.includes('old:one') && log.includes('gone:one'), 'both deliveries of one');
  d.dispatch(says('two'));
  const added = d.reconfigure([logging(log, 'k', 'new').notifier, logging(log, 'w', 'witness').notifier]);
  assert.deepEqual(added, ['w']);
  assert.deepEqual(d.keys, ['k', 'w']);
  d.dispatch(says('three'));
  // Lanes start in the order they were given events: once the witness has three, a kept lane that
  // did not wait would have started two already.
  await until(() => log.includes('witness:three'), 'the added notifier delivers');
  assert.deepEqual(log, ['old:one', 'gone:one', 'gone:two', 'gone:closed', 'witness:three']);
  old.release();
  assert.equal(await d.flush(60_000), true);
  assert.deepEqual(log.slice(5), ['old:closed', 'new:two', 'new:three']);
});

test('reconfigure: a kept notifier whose events filter the reload narrows does not send what it still holds that the new filter excludes', async () => {
  const log: string[] = [];
  const old = logging(log, 'k', 'old', ['one']);
  const d = new AlertDispatcher([old.notifier], recorder().options);
  d.dispatch(says('one'));
  await until(() => log.includes('old:one'), 'one under way');
  d.dispatch(says('two'));
  d.dispatch({ ...recovered(), message: 'three' });
  const narrowed = logging(log, 'k', 'new');
  narrowed.notifier.accepts = (e) => e.event === 'recovered';
  assert.deepEqual(d.reconfigure([narrowed.notifier]), []);
  old.release();
  assert.equal(await d.flush(60_000), true);
  assert.deepEqual(log, ['old:one', 'old:closed', 'new:three']);
  assert.equal(d.pending, 0);
});

test('reconfigure: a removed notifier takes no new event and has its grace for what it holds; added back meanwhile, it takes up its own lane', async () => {
  const log: string[] = [];
  const r = recorder();
  const held = logging(log, 'k', 'held', ['one']);
  const d = new AlertDispatcher([held.notifier], r.options);
  d.dispatch(says('one'));
  d.dispatch(says('two'));
  await until(() => log.includes('held:one'), 'one under way');
  assert.deepEqual(d.reconfigure([], 600_000), []);
  d.dispatch(says('not for it'));
  assert.deepEqual(d.keys, []);
  assert.deepEqual(d.reconfigure([logging(log, 'k', 'back').notifier]), ['k'], 'added back: caught up as an added one');
  d.dispatch(says('three'));
  held.release();
  assert.equal(await d.flush(60_000), true);
  assert.deepEqual(log, ['held:one', 'held:closed', 'back:two', 'back:three']);

  // Removed for good: past its grace, what it still holds fails.
  const stuck = logging(log, 's', 'stuck', ['four']);
  const e = new AlertDispatcher([stuck.notifier], r.options);
  e.dispatch(says('four'));
  e.dispatch(says('five'));
  await until(() => log.includes('stuck:four'), 'four under way');
  e.reconfigure([], 1);
  assert.equal(await e.flush(60_000), true);
  assert.deepEqual(errors(r).map((l) => [l.fields.event, l.fields.code]), [
    ['down', 'aborted'],
    ['down', 'aborted'],
  ]);
  assert.equal(e.pending, 0);
  assert.ok(log.includes('stuck:closed') && !log.includes('stuck:five'));
});

test('reconfigure: a notifier added back while it still holds a server\'s state event is caught up from that event, not from what it was told before', async () => {
  const log: string[] = [];
  const held = logging(log, 'k', 'held', ['one']);
  const d = new AlertDispatcher([held.notifier], recorder().options);
  d.dispatch(says('one'));
  await until(() => log.includes('held:one'), 'the down under way');
  d.reconfigure([], 600_000);
  assert.deepEqual(d.reconfigure([logging(log, 'k', 'back').notifier]), ['k']);
  // Still down: the down it is sending says so already.
  d.catchUp(says('down again'), new Map(), false, new Set(['k']));
  // Up since: its recovered is owed, from the down it is sending.
  assert.equal(d.toldOnceSent('postgres-mcp', new Map()).get('k')?.state, 'down');
  d.catchUp({ ...recovered(), message: 'up again' }, new Map(), false, new Set(['k']));
  held.release();
  assert.equal(await d.flush(60_000), true);
  assert.deepEqual(log, ['held:one', 'held:closed', 'back:up again']);
});

test('forget: each notifier resolves the removed servers once it has sent what it held of them, and not one `still` no longer names', async () => {
  const log: string[] = [];
  const slow = logging(log, 'slow', 'slow', ['last words']);
  const d = new AlertDispatcher([slow.notifier, logging(log, 'fast', 'fast').notifier], recorder().options);
  d.dispatch(says('last words', 'gone'));
  let back = false;
  const forgotten = d.forget(['gone', 'again'], (server) => server === 'gone' || !back);
  await until(() => log.includes('fast:forget gone,again'), 'the notifier with nothing left forgets at once');
  assert.ok(!log.some((l) => l.startsWith('slow:forget')), 'not ahead of the event it is still sending');
  back = true;
  slow.release();
  await forgotten;
  assert.deepEqual(log.filter((l) => l.startsWith('slow:')), ['slow:last words', 'slow:forget gone']);
});
