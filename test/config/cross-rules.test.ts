// Settings each valid alone that make no sense together: refused with both values named (or, where
// the agent works as configured, said as a warning), found by validate as by run.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, readConfig } from '../../src/config/load.js';
import { serverAttributes } from '../../src/export/recorder.js';
import { alertLabels } from '../../src/export/notifiers/alertmanager.js';
import { prometheusLabelName } from '../../src/config/tags.js';
import type { AlertEvent } from '../../src/pipeline/events.js';
import { configErrors } from '../helpers.js';

const stdio = (name: string, more = ''): string => `  - { name: ${name}, transport: stdio, command: x${more} }`;
const warningsOf = (text: string): string[] => readConfig(text, 'm.yaml', {}).warnings.map((w) => `${w.path}: ${w.message}`);

describe('latency thresholds', () => {
  it('refuse a warning above the critical one, on the values each server ends up with, naming the server and both values', () => {
    const errors = configErrors(
      [
        'monitoring: { thresholds: { latency_warning: 3s, latency_critical: 1s } }',
        'servers:',
        stdio('github', ', thresholds: { latency_warning: 5s, latency_critical: 2s }'),
        stdio('pg', ', thresholds: { latency_critical: 500ms }'),
        stdio('inherits'),
        stdio('fixed', ', thresholds: { latency_critical: 4s }'),
      ].join('\n'),
    );
    assert.deepEqual(errors, [
      'mcpwatch.yaml:1: monitoring.thresholds.latency_warning: 3s is greater than latency_critical 1s, for every server that does not set its own: the warning threshold must be at or below the critical one',
      'mcpwatch.yaml:3: servers[0].thresholds.latency_warning: server "github": latency_warning 5s is greater than latency_critical 2s: the warning threshold must be at or below the critical one',
      'mcpwatch.yaml:4: servers[1].thresholds.latency_critical: server "pg": latency_warning 3s (from monitoring.thresholds) is greater than latency_critical 500ms: the warning threshold must be at or below the critical one',
    ]);
  });

  it('take a server warning above the default critical as an error, and report it with the file\'s other mistakes', () => {
    const errors = configErrors(['monitoring: { interval: soon, thresholds: { latency_critical: 1s } }', 'servers:', stdio('github', ', thresholds: { latency_warning: 1500ms }')].join('\n'));
    assert.deepEqual(errors, [
      'mcpwatch.yaml:1: monitoring.interval: must be a positive duration such as 500ms, 5s or 2m (got "soon")',
      'mcpwatch.yaml:3: servers[0].thresholds.latency_warning: server "github": latency_warning 1500ms is greater than latency_critical 1s (from monitoring.thresholds): the warning threshold must be at or below the critical one',
    ]);
  });

  it('accept equal thresholds, and either one alone', () => {
    const config = parseConfig(['monitoring: { thresholds: { latency_warning: 1s } }', 'servers:', stdio('a', ', thresholds: { latency_critical: 1s }'), stdio('b', ', thresholds: { latency_warning: 2s }')].join('\n'), 'm.yaml', {});
    assert.equal(config.servers.length, 2);
  });
});

describe('tags', () => {
  it('refuse two tags that become one label, naming both and the label', () => {
    const errors = configErrors(['servers:', stdio('pg', ', tags: [team-a, team_a, "team:data", "team:ops", x__y, "x.y", critical, "critical:true"]')].join('\n'));
    assert.deepEqual(errors, [
      'mcpwatch.yaml:2: servers[0].tags[1]: tags "team-a" (tags[0]) and "team_a" have the keys "team-a" and "team_a", which both become the label mcp_tag_team_a (other characters than letters, digits and _ become _; runs of _ one _): rename one',
      'mcpwatch.yaml:2: servers[0].tags[3]: tags "team:data" (tags[2]) and "team:ops" both set the label mcp_tag_team (key "team"), which holds one value: keep one of them',
      'mcpwatch.yaml:2: servers[0].tags[5]: tags "x__y" (tags[4]) and "x.y" have the keys "x__y" and "x.y", which both become the label mcp_tag_x_y (other characters than letters, digits and _ become _; runs of _ one _): rename one',
    ]);
  });

  it('say a tag given twice as a warning at the second entry, naming both; the file still loads, as it did before the rule', () => {
    const text = ['servers:', stdio('pg', ', tags: [critical, "team:data", critical, "team:data"]')].join('\n');
    assert.deepEqual(parseConfig(text, 'm.yaml', {}).servers[0]!.tags, ['critical', 'team:data', 'critical', 'team:data']);
    assert.deepEqual(warningsOf(text), ['servers[0].tags[2]: tags[0] and tags[2] are both "critical": keep one', 'servers[0].tags[3]: tags[1] and tags[3] are both "team:data": keep one']);
    const block = readConfig(['servers:', '  - name: pg', '    transport: stdio', '    command: x', '    tags:', '      - critical', '      - critical'].join('\n'), 'm.yaml', {}).warnings;
    assert.deepEqual(block.map((w) => `${w.line}: ${w.path}`), ['7: servers[0].tags[1]']);
  });

  it('give every accepted tag a label of its own, on /metrics and in alerts alike', () => {
    const tags = ['team:data', 'Team', 'critical', 'critical:true', 'a-b-c', 'tier:1', '_x'];
    const config = parseConfig(['servers:', stdio('pg', `, tags: ${JSON.stringify(tags)}`)].join('\n'), 'm.yaml', {});
    const server = config.servers[0]!;
    const metricLabels = Object.keys(serverAttributes(server)).map(prometheusLabelName);
    assert.deepEqual(metricLabels, ['mcp_server_name', 'mcp_transport', 'mcp_tag_team', 'mcp_tag_Team', 'mcp_tag_critical', 'mcp_tag_a_b_c', 'mcp_tag_tier', 'mcp_tag_x']);
    const event = { event: 'down', severity: 'critical', server: 'pg', transport: 'stdio', tags } as unknown as AlertEvent;
    const alertTagLabels = Object.keys(alertLabels(event, 'McpServerDown')).filter((k) => k.startsWith('mcp_tag_'));
    assert.deepEqual(alertTagLabels, metricLabels.filter((k) => k.startsWith('mcp_tag_')));
  });
});

describe("the alertmanager notifier's labels", () => {
  it('say a name only a UTF-8 Alertmanager (0.27 and later) takes as a warning at its key, with the name every version takes; the file loads, as it did before', () => {
    const text = ['servers:', stdio('pg'), 'alerts:', '  - type: alertmanager', '    url: http://127.0.0.1:9093', '    labels: { bad-label: x, team: ops, 9lives: y, __meta: z, "-": w }'].join('\n');
    assert.deepEqual(parseConfig(text, 'm.yaml', {}).alerts[0]!.type, 'alertmanager');
    const rule = 'is a label name only Alertmanager 0.27 and later take (not in classic mode); an earlier one refuses every alert (HTTP 400 invalid label set). Letters, digits and _, not starting with a digit nor with __, suit every version';
    assert.deepEqual(warningsOf(text), [
      `alerts[0].labels.bad-label: "bad-label" ${rule} (write "bad_label")`,
      `alerts[0].labels.9lives: "9lives" ${rule} (write "_9lives")`,
      `alerts[0].labels.__meta: "__meta" ${rule} (write "meta")`,
      `alerts[0].labels.-: "-" ${rule}`,
    ]);
  });

  it('refuse an empty name, which no Alertmanager takes', () => {
    const errors = configErrors(['servers:', stdio('pg'), 'alerts:', '  - type: alertmanager', '    url: http://127.0.0.1:9093', '    labels: { "": x }'].join('\n'));
    assert.deepEqual(errors, ['mcpwatch.yaml:6: alerts[0].labels.: an empty label name: Alertmanager refuses every alert that has one']);
  });
});

describe('an agent without servers', () => {
  it('is a passive agent while the OTLP receiver is on; with it off too, a warning says it would watch nothing', () => {
    assert.deepEqual(warningsOf('servers: []\n'), []);
    assert.deepEqual(warningsOf('servers: []\nreceivers: { otlp: { grpc: null } }\n'), []);
    const idle = 'servers: no servers, and the OTLP receiver is off (receivers.otlp): `mcpwatch run` would watch nothing; add servers, or receive traffic';
    assert.deepEqual(warningsOf('servers: []\nreceivers: { otlp: null }\n'), [idle]);
    assert.deepEqual(warningsOf('monitoring: { interval: 1m }\nreceivers: { otlp: { grpc: null, http: null } }\n'), [idle]);
    assert.deepEqual(warningsOf(['receivers: { otlp: null }', 'servers:', stdio('a')].join('\n')), []);
    // health and scorecard only probe or grade servers: the advice is about `run`.
    assert.deepEqual(readConfig('servers: []\nreceivers: { otlp: null }\n', 'm.yaml', {}, { probeOnly: true }).warnings, []);
  });
});

describe('timeout and interval', () => {
  it('are accepted with a timeout longer than the interval, and the cadence that follows is said as a warning', () => {
    const text = [
      'monitoring: { interval: 1s, timeout: 5s }',
      'servers:',
      stdio('inherits'),
      stdio('own', ', interval: 10s, timeout: 30s, checks: [ { name: q, tool: t, interval: 5s }, { name: r, tool: t, timeout: 2s } ]'),
      stdio('fine', ', interval: 1m'),
    ].join('\n');
    assert.deepEqual(warningsOf(text), [
      'monitoring.timeout: timeout 5s is longer than interval 1s: probes do not overlap, so one that gets no answer is repeated every 6s (timeout + interval), not every 1s',
      'servers[1].timeout: server "own": timeout 30s is longer than its interval 10s: probes do not overlap, so one that gets no answer is repeated every 40s (timeout + interval), not every 10s',
      'servers[1].checks[0].interval: server "own": check "q": timeout 30s is longer than its interval 5s: probes do not overlap, so one that gets no answer is repeated every 35s (timeout + interval), not every 5s',
    ]);
    // A one-shot probe has no interval.
    assert.deepEqual(readConfig(text, 'm.yaml', {}, { probeOnly: true }).warnings, []);
    assert.deepEqual(warningsOf(['monitoring: { interval: 30s, timeout: 30s }', 'servers:', stdio('a')].join('\n')), []);
  });
});

describe('a check whose max_latency is not below its timeout', () => {
  it('is accepted and said, for one-shot probes too: the timeout always fails first', () => {
    const text = [
      'monitoring: { timeout: 10s }',
      'servers:',
      stdio('a', ', checks: [ { name: slow, tool: t, expect: { max_latency: 10s } }, { name: own, tool: t, timeout: 2s, expect: { max_latency: 3s } }, { name: fine, tool: t, expect: { max_latency: 9s } } ]'),
    ].join('\n');
    const said = [
      'servers[0].checks[0].expect.max_latency: server "a": check "slow": max_latency 10s is not shorter than its timeout 10s: a call that slow fails as a timeout first, so max_latency is never what fails; lower it, or raise the check\'s timeout',
      'servers[0].checks[1].expect.max_latency: server "a": check "own": max_latency 3s is not shorter than its timeout 2s: a call that slow fails as a timeout first, so max_latency is never what fails; lower it, or raise the check\'s timeout',
    ];
    assert.deepEqual(warningsOf(text), said);
    assert.deepEqual(readConfig(text, 'm.yaml', {}, { probeOnly: true }).warnings.map((w) => `${w.path}: ${w.message}`), said);
  });

  it('names a check without a name by what it calls, as the check label does', () => {
    const text = ['monitoring: { interval: 30s, timeout: 10s }', 'servers:', stdio('a', ', checks: [ { tool: t, interval: 5s, expect: { max_latency: 10s } } ]')].join('\n');
    assert.deepEqual(warningsOf(text).filter((w) => w.startsWith('servers[0].checks')), [
      'servers[0].checks[0].interval: server "a": check "t": timeout 10s is longer than its interval 5s: probes do not overlap, so one that gets no answer is repeated every 15s (timeout + interval), not every 5s',
      'servers[0].checks[0].expect.max_latency: server "a": check "t": max_latency 10s is not shorter than its timeout 10s: a call that slow fails as a timeout first, so max_latency is never what fails; lower it, or raise the check\'s timeout',
    ]);
  });
});

describe('alert retries', () => {
  it('refuse an initial back-off longer than the longest one', () => {
    const errors = configErrors(['servers: []', 'alerts:', '  - { type: webhook, url: "http://hooks.example/x", retry: { initial_backoff: 1m } }'].join('\n'));
    assert.deepEqual(errors, ['mcpwatch.yaml:3: alerts[0].retry.initial_backoff: 1m is longer than max_backoff 30s: every retry would wait max_backoff; raise max_backoff or lower initial_backoff']);
  });
});

describe("the agent's listeners", () => {
  it('refuse two on one port, a wildcard host included, and leave port 0 alone', () => {
    const errors = configErrors(
      [
        'servers: []',
        'receivers: { otlp: { grpc: { endpoint: "127.0.0.1:4317" }, http: { endpoint: ":4317" } } }',
        'exporters: { prometheus: { endpoint: "127.0.0.1:9464" } }',
        'health: { endpoint: "127.0.0.1:9464" }',
      ].join('\n'),
    );
    assert.deepEqual(errors, [
      'mcpwatch.yaml:2: receivers.otlp.http.endpoint: :4317 is also receivers.otlp.grpc.endpoint (127.0.0.1:4317): two listeners cannot share a port; give each its own',
      'mcpwatch.yaml:4: health.endpoint: 127.0.0.1:9464 is also exporters.prometheus.endpoint (127.0.0.1:9464): two listeners cannot share a port; give each its own',
    ]);
    const ok = ['servers: []', 'receivers: { otlp: { grpc: { endpoint: "127.0.0.1:0" }, http: { endpoint: "127.0.0.1:0" } } }', 'exporters: { prometheus: { endpoint: "127.0.0.1:0" } }', 'health: { endpoint: "127.0.0.2:9464" }'];
    assert.equal(parseConfig(ok.join('\n'), 'm.yaml', {}).servers.length, 0);
  });
});

describe('a server whose name is an unset variable', () => {
  it('stands in under a name no configured server has', () => {
    const text = ['servers:', stdio('servers-1'), stdio('"${env:UNSET_NAME}"'), stdio('servers-1-unset')].join('\n');
    const config = parseConfig(text.replace(stdio('servers-1-unset'), stdio('other')), 'm.yaml', {}, { isolateServerEnv: true });
    assert.deepEqual(config.servers.map((s) => [s.name, (s as { config_error?: string }).config_error !== undefined]), [['servers-1', false], ['servers-1-unset', true], ['other', false]]);
    const both = parseConfig(text, 'm.yaml', {}, { isolateServerEnv: true });
    assert.deepEqual(both.servers.map((s) => s.name), ['servers-1', 'servers-1-unset-unset', 'servers-1-unset']);
  });
});

describe('keys of another transport', () => {
  it('refuse what a server of this transport would silently ignore, naming the transport it belongs to', () => {
    const errors = configErrors(
      [
        'servers:',
        '  - { name: api, transport: streamable_http, url: "http://127.0.0.1:1/mcp", args: [--port, "1"], env: { TOKEN: x }, cwd: /srv, start_timeout: 30s, stale_after: 1m }',
        '  - { name: local, transport: stdio, command: x, headers: { X-Key: k }, tls: { insecure_skip_verify: true }, stale_after: 1m }',
        '  - { name: legacy, transport: sse, url: "http://127.0.0.1:1/sse", stale_after: 1m, headers: { X-Key: k } }',
        '  - { name: plain, transport: streamable_http, url: "http://127.0.0.1:1/mcp", args: [], env: {} }',
      ].join('\n'),
    );
    assert.deepEqual(errors, [
      'mcpwatch.yaml:2: servers[0].args: is for stdio servers: a streamable_http server does not use it (remove it, or set transport: stdio)',
      'mcpwatch.yaml:2: servers[0].env: is for stdio servers: a streamable_http server does not use it (remove it, or set transport: stdio)',
      'mcpwatch.yaml:2: servers[0].cwd: is for stdio servers: a streamable_http server does not use it (remove it, or set transport: stdio)',
      'mcpwatch.yaml:2: servers[0].start_timeout: is for stdio servers: a streamable_http server does not use it (remove it, or set transport: stdio)',
      'mcpwatch.yaml:2: servers[0].stale_after: is for sse servers: a streamable_http server does not use it (its silence is not watched; remove it)',
      'mcpwatch.yaml:3: servers[1].headers: is for sse / streamable_http servers: a stdio server does not use it (remove it; a stdio server takes settings through env)',
      'mcpwatch.yaml:3: servers[1].tls: is for sse / streamable_http servers: a stdio server does not use it (remove it; a stdio server takes settings through env)',
      'mcpwatch.yaml:3: servers[1].stale_after: is for sse servers: a stdio server does not use it (its silence is not watched; remove it)',
    ]);
  });
});
