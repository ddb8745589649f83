// The affected agents as each notifier words them: row by row, from one event.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AffectedAgents, AlertEvent } from '../../src/pipeline/events.js';
import { alertsFor, buildSlackMessage, formatStdout, refreshed, type ActiveAlerts } from '../../src/export/notify.js';
import { agoText, affectedLine, atText, windowText } from '../../src/export/notifiers/format.js';

const AT = '2026-12-06T09:00:00.000Z';

function event(affected: AffectedAgents | undefined, kind: AlertEvent['event'] = 'down'): AlertEvent {
  return {
    server: 'github-mcp',
    transport: 'streamable_http',
    tags: [],
    event: kind,
    severity: 'critical',
    message: 'github-mcp DOWN — connection refused',
    details: {},
    previous_state: 'up',
    current_state: 'down',
    timestamp: AT,
    incident_started_at: AT,
    downtime_seconds: null,
    ...(affected ? { affected_agents: affected } : {}),
  };
}

const agent = (name: string, calls: number, lastSeen: string) => ({ name, service_name: name, calls, last_seen: lastSeen, tools: [] });

describe('affected agents in alerts', () => {
  it('words times and windows', () => {
    const rows: Array<[string, string]> = [
      ['2026-12-06T08:59:48.000Z', '12 s ago'],
      ['2026-12-06T08:58:00.000Z', '2 min ago'],
      ['2026-12-06T04:00:00.000Z', '5 h ago'],
      ['2026-12-03T09:00:00.000Z', '3 d ago'],
    ];
    for (const [then, want] of rows) assert.equal(agoText(then, AT), want);
    assert.equal(atText('2026-12-06T08:59:48.123Z'), '2026-12-06T08:59:48Z');
    assert.equal(atText('not a time'), 'at an unknown time');
    assert.equal(windowText(86_400), '24h');
    assert.equal(windowText(5400), '1h 30m');
  });

  it('one line: the listed agents with calls and last call, then the others', () => {
    const affected: AffectedAgents = {
      window_seconds: 86_400,
      total_calls: 1_300,
      agents: [agent('support-bot', 1_204, '2026-12-06T08:58:00.000Z'), agent('triage-bot', 1, '2026-12-06T04:00:00.000Z')],
      others: { agents: 2, calls: 95, last_seen: '2026-12-06T08:00:00.000Z' },
    };
    assert.equal(affectedLine(event(affected)), 'affected: support-bot (1,204 calls in 24h, last 2 min ago), triage-bot (1 call in 24h, last 5 h ago), 2 other agents (95 calls)');
    assert.equal(affectedLine(event(undefined)), undefined);
    assert.equal(affectedLine(event({ window_seconds: 86_400, tools: ['search'], total_calls: 0, agents: [], others: { agents: 0, calls: 0, last_seen: null } }, 'schema_drift')), 'affected: no agent called search in 24h');
    // Agents past the tracking bound are counted, not known.
    assert.equal(affectedLine(event({ window_seconds: 3600, total_calls: 7, agents: [], others: { agents: 0, calls: 7, last_seen: AT } })), 'affected: other agents (7 calls)');
  });

  it('stdout, Slack and Alertmanager carry it; without it they are as before', () => {
    const affected: AffectedAgents = { window_seconds: 86_400, total_calls: 3, agents: [agent('support-bot', 3, '2026-12-06T08:58:00.000Z')], others: { agents: 0, calls: 0, last_seen: null } };
    assert.equal(formatStdout(event(affected)), `[${AT}] CRITICAL github-mcp DOWN — connection refused\n    affected: support-bot (3 calls in 24h, last 2 min ago)\n`);
    assert.equal(formatStdout(event(undefined)), `[${AT}] CRITICAL github-mcp DOWN — connection refused\n`);
    const slack = buildSlackMessage(event(affected)).blocks.find((b) => b.type === 'section' && b.text?.text.startsWith('*Affected agents*'));
    assert.deepEqual(slack, { type: 'section', text: { type: 'mrkdwn', text: '*Affected agents*\n• support-bot (3 calls in 24h, last 2 min ago)' } });
    assert.equal(buildSlackMessage(event(undefined)).blocks.some((b) => b.type === 'section' && b.text?.text.startsWith('*Affected agents*')), false);
    const [am] = alertsFor(event(affected), new Map(), Date.parse(AT), { labels: {}, resend_interval: 60_000 });
    assert.equal(am!.annotations.affected_agents, 'support-bot (3 calls in 24h, last 2026-12-06T08:58:00Z)');
    const [plain] = alertsFor(event(undefined), new Map(), Date.parse(AT), { labels: {}, resend_interval: 60_000 });
    assert.equal('affected_agents' in plain!.annotations, false);
  });

  it('Alertmanager: the alert re-posted hours later still says when the last call was, not how long before the first post', () => {
    const affected: AffectedAgents = { window_seconds: 86_400, total_calls: 30, agents: [agent('support-bot', 30, '2026-12-06T08:59:59.000Z')], others: { agents: 0, calls: 0, last_seen: null } };
    const active: ActiveAlerts = new Map();
    const [first] = alertsFor(event(affected), active, Date.parse(AT), { labels: {}, resend_interval: 60_000 });
    const later = refreshed(active, Date.parse(AT) + 5 * 3_600_000, 60_000);
    assert.equal(later.length, 1);
    for (const a of [first!, later[0]!]) assert.equal(a.annotations.affected_agents, 'support-bot (30 calls in 24h, last 2026-12-06T08:59:59Z)');
  });
});
