// Checks the Prometheus rules, their unit tests, the Alertmanager example and the dashboard's PromQL
// with the real tools: promtool (rule syntax, rule unit tests, query parsing) and amtool (config and
// routing). These tools are required, never skipped: .ci/run installs them from Debian's
// prometheus and prometheus-alertmanager packages.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './common.js';

const RULES = join(ROOT, 'deploy', 'prometheus', 'alerts.yaml');
const RULE_TESTS = join(ROOT, 'deploy', 'prometheus', 'alerts.test.yaml');
const ALERTMANAGER = join(ROOT, 'deploy', 'alertmanager', 'alertmanager.yaml');
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'mcpwatch-dashboard.json');

interface Run {
  status: number | null;
  output: string;
}

/**
 * A bound against a hung tool, never reached by one that works, however loaded the machine:
 * `promtool test rules` is CPU-bound, and at a small share of the CPU it outlasted the former
 * bound and was killed half-way, a failure with nothing in its output to say why. spawnSync holds
 * the event loop, so the runner's own test timeout cannot end a hung tool: this bound does.
 */
const TOOL_BOUND_MS = 600_000;

function run(cmd: string, args: string[]): Run {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: TOOL_BOUND_MS });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    assert.fail(`${cmd} is not installed. .ci/run installs it (apt-get install prometheus prometheus-alertmanager); these tests never skip.`);
  }
  const killed = r.signal ? `\n(${(r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT' ? `still running after ${TOOL_BOUND_MS / 1000} s: ` : ''}killed by ${r.signal})` : '';
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}${killed}` };
}

function assertOk(r: Run, what: string): void {
  assert.equal(r.status, 0, `${what} failed:\n${r.output}`);
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: Array<{ name: string; rules: Rule[] }>;
}
interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts?: unknown[];
}
interface RuleTestFile {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: AlertTest[]; promql_expr_test?: Array<{ expr: string }> }>;
}

const rules = (): Rule[] => (parse(readFileSync(RULES, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);

describe('Prometheus rules (promtool)', () => {
  before(() => {
    // Fail loudly (not skip) when the tools are missing.
    run('promtool', ['--version']);
    run('amtool', ['--version']);
  });

  it('promtool check rules accepts deploy/prometheus/alerts.yaml', () => {
    const r = run('promtool', ['check', 'rules', RULES]);
    assertOk(r, 'promtool check rules');
    assert.match(r.output, /SUCCESS: \d+ rules found/);
  });

  it('promtool test rules passes deploy/prometheus/alerts.test.yaml', () => {
    const r = run('promtool', ['test', 'rules', RULE_TESTS]);
    assertOk(r, 'promtool test rules');
    assert.match(r.output, /SUCCESS/);
  });

  it('the unit tests cover every alert (firing and not firing) and every recording rule', () => {
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as RuleTestFile;
    assert.deepEqual(tests.rule_files, ['alerts.yaml']);
    const alertTests = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const exprTests = tests.tests.flatMap((t) => t.promql_expr_test ?? []).map((t) => t.expr);
    for (const rule of rules()) {
      if (rule.alert) {
        const mine = alertTests.filter((t) => t.alertname === rule.alert);
        assert.ok(mine.some((t) => (t.exp_alerts ?? []).length > 0), `${rule.alert}: no test where it fires`);
        assert.ok(mine.some((t) => (t.exp_alerts ?? []).length === 0), `${rule.alert}: no test where it stays quiet`);
      } else {
        assert.ok(exprTests.some((e) => e.includes(rule.record!)), `recording rule ${rule.record}: no promql_expr_test`);
      }
    }
  });

  it('every alert has a severity, a summary, a description naming what it is about and a runbook', () => {
    for (const rule of rules().filter((r) => r.alert)) {
      const name = rule.alert!;
      assert.match(rule.labels?.severity ?? '', /^(critical|warning|info)$/, `${name}: severity`);
      const a = rule.annotations ?? {};
      assert.ok(a.summary, `${name}: summary`);
      // Server alerts name the server; mcpwatch's own alerts name the mcpwatch instance.
      const subject = name.startsWith('Mcpwatch') ? /\$labels\.instance/ : /\$labels\.mcp_server_name/;
      assert.match(a.description ?? '', subject, `${name}: description must name ${subject.source}`);
      assert.ok((a.runbook ?? a.runbook_url ?? '').length > 40, `${name}: runbook`);
    }
  });

  it('the alert table of docs/deployment.md lists every alert with its severity and `for`', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'deployment.md'), 'utf8');
    const start = doc.indexOf('\n## Alert rules\n');
    const section = doc.slice(start, doc.indexOf('\n### ', start));
    const rows = new Map<string, string[]>();
    for (const m of section.matchAll(/^\| `(\w+)` \| (.+) \|$/gm)) rows.set(m[1]!, m[2]!.split(' | '));
    for (const rule of rules().filter((r) => r.alert)) {
      const row = rows.get(rule.alert!);
      assert.ok(row, `${rule.alert}: no row in the alert table of docs/deployment.md`);
      assert.ok(row[0]!.startsWith(rule.labels!.severity!), `${rule.alert}: severity ${rule.labels!.severity} in docs/deployment.md, not ${row[0]}`);
      const forCell = row.at(-1)!;
      assert.ok(rule.for ? forCell === rule.for : forCell.startsWith('–'), `${rule.alert}: for ${rule.for ?? 'none'} in docs/deployment.md, not ${forCell}`);
    }
  });

  it('amtool check-config accepts deploy/alertmanager/alertmanager.yaml', () => {
    const r = run('amtool', ['check-config', ALERTMANAGER]);
    assertOk(r, 'amtool check-config');
    assert.match(r.output, /SUCCESS/);
  });

  it('Alertmanager routes critical to the pager, warning to chat and info nowhere', () => {
    const cases: Array<[string, string]> = [
      ['critical', 'pager'],
      ['warning', 'chat'],
      ['info', 'null'],
      ['', 'chat'],
    ];
    for (const [severity, receiver] of cases) {
      const labels = ['alertname=McpServerDown', 'mcp_server_name=github-mcp', ...(severity ? [`severity=${severity}`] : [])];
      const r = run('amtool', ['config', 'routes', 'test', `--config.file=${ALERTMANAGER}`, `--verify.receivers=${receiver}`, ...labels]);
      assertOk(r, `route for severity "${severity}"`);
    }
    for (const rule of rules().filter((x) => x.alert)) {
      assert.ok(['critical', 'warning', 'info'].includes(rule.labels!.severity!), `${rule.alert} has a routed severity`);
    }
  });

  it('the success-rate PromQL the docs give counts a tool whose every call failed as 0, not as absent', () => {
    // A tool that never succeeds has no outcome="success" series: a plain ratio drops it from the
    // result, so the worst tool was the one missing from the answer.
    const blocks = (file: string): string[] => [...readFileSync(join(ROOT, file), 'utf8').matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const exprs = [
      ...blocks('docs/metrics.md').filter((b) => b.includes('outcome="success"')).map((b) => b.replace(/\s+/g, ' ').trim()),
      ...blocks('README.md').flatMap((b) => b.split('\n')).filter((l) => l.includes('outcome="success"')),
    ];
    assert.equal(exprs.length, 2, 'docs/metrics.md and the README each give the success rate');
    const series = (tool: string, outcome: string) => ({ series: `mcp_tool_calls_total{mcp_server_name="s", gen_ai_tool_name="${tool}", outcome="${outcome}"}`, values: '0+6x10' });
    const tests = {
      rule_files: [],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [series('works', 'success'), series('broken', 'error'), series('flaky', 'success'), series('flaky', 'error')],
          promql_expr_test: exprs.map((expr) => ({
            expr,
            eval_time: '10m',
            exp_samples: [
              { labels: '{mcp_server_name="s", gen_ai_tool_name="works"}', value: 1 },
              { labels: '{mcp_server_name="s", gen_ai_tool_name="flaky"}', value: 0.5 },
              { labels: '{mcp_server_name="s", gen_ai_tool_name="broken"}', value: 0 },
            ],
          })),
        },
      ],
    };
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-docs-promql-'));
    try {
      const path = join(dir, 'docs-promql.test.yaml');
      writeFileSync(path, JSON.stringify(tests));
      assertOk(run('promtool', ['test', 'rules', path]), 'promtool test rules (the docs\' success rate)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every PromQL expression of the Grafana dashboard parses', () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as unknown;
    const exprs = collectExprs(dash);
    assert.ok(exprs.length > 20, 'the dashboard has queries');
    // Grafana's variables, replaced by what Grafana would send.
    const concrete = exprs.map((e) =>
      e
        .replaceAll('$__rate_interval', '1m')
        .replaceAll('$__interval', '1m')
        .replaceAll('$__range', '1h')
        .replaceAll('$server', '.+'),
    );
    const file = {
      groups: [{ name: 'dashboard', rules: concrete.map((expr, i) => ({ record: `dashboard:expr_${i}`, expr })) }],
    };
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-dash-'));
    try {
      const path = join(dir, 'dashboard-rules.yaml');
      writeFileSync(path, JSON.stringify(file));
      assertOk(run('promtool', ['check', 'rules', path]), 'promtool check rules (dashboard queries)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Every `expr` string anywhere in a Grafana dashboard (panels, nested rows, annotations). */
function collectExprs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(collectExprs);
  if (node && typeof node === 'object') {
    const out: string[] = [];
    for (const [k, v] of Object.entries(node)) {
      if (k === 'expr' && typeof v === 'string') out.push(v);
      else out.push(...collectExprs(v));
    }
    return out;
  }
  return [];
}
