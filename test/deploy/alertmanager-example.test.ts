// The example Alertmanager configuration (deploy/alertmanager/alertmanager.yaml) run by a real
// Alertmanager, its PagerDuty and Slack integrations pointed at a local receiver: what a person is
// paged with. Only the secrets' paths, the PagerDuty URL and the group timings are changed (the
// timings so a notification holding both alerts comes at once); the routes and templates are the
// shipped ones.
//
// The case that matters: the Prometheus rule and mcpwatch's `alertmanager` notifier both raise
// McpServerDown for one server. Their labels put them in one group, their annotations differ (the
// rule's description is generic and carries the runbook, the notifier's is the probe's cause), so
// Alertmanager's CommonAnnotations hold neither: the templates must read the alerts themselves.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alertsFor, type ActiveAlerts, type AmAlert } from '../../src/export/notifiers/alertmanager.js';
import type { AlertEvent } from '../../src/pipeline/events.js';
import { startAlertmanager, type Alertmanager, type AmRequest } from '../fixtures/alertmanager.js';
import { ROOT } from './common.js';

const SHIPPED = readFileSync(join(ROOT, 'deploy', 'alertmanager', 'alertmanager.yaml'), 'utf8');

/** The shipped file with its secrets in `dir`, PagerDuty and Slack at `receiver`, no group wait. */
function localConfig(receiver: string, dir: string): string {
  const secrets = join(dir, 'secrets');
  mkdirSync(secrets);
  writeFileSync(join(secrets, 'pagerduty-routing-key'), '0123456789abcdef0123456789abcdef');
  writeFileSync(join(secrets, 'slack-webhook-url'), `${receiver}/slack`);
  const out = SHIPPED.replaceAll('/etc/alertmanager/secrets', secrets)
    .replace(/^global:\n/m, `global:\n  pagerduty_url: ${receiver}/pagerduty\n`)
    .replace(/group_wait: \S+/g, 'group_wait: 0s')
    .replace(/group_interval: \S+/g, 'group_interval: 1s');
  assert.notEqual(out, SHIPPED);
  return out;
}

/** What mcpwatch's notifier posts for `event` (the real code, not a copy of its shape). */
function notifierAlert(event: Partial<AlertEvent> & Pick<AlertEvent, 'event' | 'severity' | 'message'>): AmAlert {
  const now = Date.now();
  const full: AlertEvent = {
    server: 'orders',
    transport: 'streamable_http',
    tags: ['team:data'],
    details: {},
    previous_state: 'up',
    current_state: 'down',
    timestamp: new Date(now).toISOString(),
    incident_started_at: new Date(now).toISOString(),
    downtime_seconds: null,
    ...event,
  } as AlertEvent;
  const [alert] = alertsFor(full, new Map() as ActiveAlerts, now, { labels: {}, resend_interval: 60_000 });
  assert.ok(alert);
  return alert;
}

/** As Prometheus posts the McpServerDown rule's alert for the same server (alerts.yaml's wording). */
function ruleAlert(): AmAlert {
  const now = Date.now();
  return {
    labels: { alertname: 'McpServerDown', job: 'mcpwatch', mcp_server_name: 'orders', mcp_server_status: 'down', mcp_tag_team: 'data', mcp_transport: 'streamable_http', severity: 'critical' },
    annotations: {
      summary: 'MCP server orders is down',
      description: 'mcpwatch has seen orders fail consecutive probes (consecutive_failures_before_down); agents that depend on it cannot call its tools.',
      runbook: '1. Run `mcpwatch health -c /etc/mcpwatch/mcpwatch.yaml --server orders` in the mcpwatch container to see the failing phase and error type.',
    },
    startsAt: new Date(now).toISOString(),
    endsAt: new Date(now + 5 * 60_000).toISOString(),
  };
}

async function post(am: Alertmanager, alerts: AmAlert[]): Promise<void> {
  const res = await fetch(`${am.url}/api/v2/alerts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(alerts) });
  assert.equal(res.status, 200, await res.text());
}

interface PagerDutyEvent {
  event_action: string;
  payload: { summary: string; custom_details: Record<string, string> };
}
interface SlackMessage {
  attachments: Array<{ title: string; text: string; fallback: string }>;
}

describe('deploy/alertmanager/alertmanager.yaml with a real Alertmanager', () => {
  let am: Alertmanager;
  before(async () => {
    am = await startAlertmanager({ config: localConfig });
  });
  after(async () => {
    await am?.stop();
  });

  it('pages with the cause and the runbook when the rule and the notifier both fire McpServerDown', async () => {
    const cause = 'connection refused (ECONNREFUSED): connect ECONNREFUSED 10.0.0.7:8080';
    // A check with on_failure: down: the notifier's summary differs from the rule's too.
    const fromNotifier = notifierAlert({ event: 'check_failed', severity: 'critical', message: cause, details: { check: 'can-query' } });
    assert.equal(fromNotifier.labels.alertname, 'McpServerDown');
    await post(am, [ruleAlert(), fromNotifier]);
    const page = await am.waitForRequest(
      (r: AmRequest) => r.path === '/pagerduty' && (r.body as PagerDutyEvent).payload?.custom_details?.num_firing === '2',
      'a PagerDuty event holding both alerts',
    );
    const { payload } = page.body as PagerDutyEvent;
    assert.match(payload.summary, /^McpServerDown on orders: MCP server orders (is down|fails a configured check)$/);
    assert.ok(payload.custom_details.description!.includes(cause), `the probe's cause: ${payload.custom_details.description}`);
    assert.ok(payload.custom_details.description!.includes('fail consecutive probes'), `the rule's description: ${payload.custom_details.description}`);
    assert.ok(payload.custom_details.runbook!.startsWith('1. Run `mcpwatch health'), `the rule's runbook: ${payload.custom_details.runbook}`);
  });

  it('writes one Slack paragraph per alert, and no empty Runbook line for the notifier\'s', async () => {
    const cause = 'check can-query failed (assertion_failed): text_contains: expected "1", got "0"';
    const fromNotifier = notifierAlert({ server: 'billing', event: 'check_failed', severity: 'warning', message: cause, current_state: 'degraded', details: { check: 'can-query' } });
    const fromRule: AmAlert = {
      ...ruleAlert(),
      labels: { alertname: 'McpServerDegraded', job: 'mcpwatch', mcp_server_name: 'billing', mcp_server_status: 'degraded', mcp_transport: 'streamable_http', severity: 'warning' },
      annotations: { summary: 'MCP server billing is degraded', description: 'billing answers probes but is degraded.', runbook: '1. Run `mcpwatch health --from http://127.0.0.1:13133 --server billing --json`.' },
    };
    await post(am, [fromRule, fromNotifier]);
    const msg = await am.waitForRequest(
      (r: AmRequest) => r.path === '/slack' && ((r.body as SlackMessage).attachments?.[0]?.fallback ?? '').startsWith('[FIRING:2] McpServerDegraded billing'),
      'a Slack message holding both alerts',
    );
    const text = (msg.body as SlackMessage).attachments[0]!.text;
    const lines = text.split('\n');
    const summaries = lines.filter((l) => l.startsWith('*MCP server billing'));
    assert.equal(summaries.length, 2, `each alert's summary starts a line of its own:\n${text}`);
    assert.ok(lines.includes(cause), `the notifier's cause on a line of its own:\n${text}`);
    assert.equal(lines.filter((l) => l.startsWith('Runbook:')).length, 1, `one runbook, the rule's:\n${text}`);
    assert.ok(!/Runbook:\s*$/m.test(text), `no empty runbook:\n${text}`);
  });
});
