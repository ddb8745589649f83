// Holds the alert rules, the recording rules and the Grafana dashboard to the metrics contract: the
// table between the metrics-table markers in docs/metrics.md. Every metric a query selects must be
// in the table (or be a recording rule defined in alerts.yaml, or Prometheus's own `up`), and every
// label matcher must use a label the table gives that metric, with a value from its listed set.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { read, ROOT } from './common.js';

// ---- the contract ---------------------------------------------------------------------------------

interface MetricSpec {
  name: string;
  type: string;
  /** Label name → allowed values (empty set: any value). */
  labels: Map<string, Set<string>>;
}

/**
 * Labels every scraped series may carry: the scrape target's and the OpenTelemetry scope's
 * (`otel_scope_version` is on every series /metrics serves, though docs/metrics.md names only
 * `otel_scope_name`).
 */
const SCRAPE_LABELS = ['job', 'instance', 'otel_scope_name', 'otel_scope_version'];
/** Series Prometheus itself records for each scrape target. */
const PROMETHEUS_BUILTINS = new Map<string, string[]>([['up', ['job', 'instance']]]);

function contractTable(doc: string): string[] {
  const m = /<!-- metrics-table:start -->([\s\S]*?)<!-- metrics-table:end -->/.exec(doc);
  assert.ok(m, 'docs/metrics.md has the metrics-table markers');
  return m[1]!
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('|') && !/^\|\s*-/.test(l))
    .slice(1); // header row
}

const ticks = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/** `mcp_transport`, `mcp_tag_<key>`, … from the "Common labels" table above the contract. */
function commonLabels(doc: string): string[] {
  const start = doc.indexOf('Common labels');
  assert.ok(start >= 0, 'docs/metrics.md lists the common labels');
  const block = doc.slice(start, doc.indexOf('<!-- metrics-table:start -->'));
  return block
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => ticks(l.split('|')[2] ?? '')[0]!)
    .filter(Boolean);
}

function labelSpec(cell: string): Map<string, Set<string>> {
  const labels = new Map<string, Set<string>>();
  // `name` (`v1`, `v2`) or `name` (free text): values are the backticked words in the parentheses.
  const re = /`([a-z_][a-z0-9_]*)`(?:\s*\(([^)]*)\))?/g;
  let m: RegExpExecArray | null;
  const parenDepth = (upTo: number): number => [...cell.slice(0, upTo)].reduce((d, c) => d + (c === '(' ? 1 : c === ')' ? -1 : 0), 0);
  while ((m = re.exec(cell))) {
    if (parenDepth(m.index) > 0) continue; // a value inside another label's parentheses
    labels.set(m[1]!, new Set(ticks(m[2] ?? '')));
  }
  return labels;
}

function loadContract(doc: string): Map<string, MetricSpec> {
  const common = commonLabels(doc);
  const metrics = new Map<string, MetricSpec>();
  for (const row of contractTable(doc)) {
    const cells = row.split('|').slice(1, -1).map((c) => c.trim());
    assert.equal(cells.length, 6, `metrics table row has 6 columns: ${row}`);
    const [, promCell, type, , labelCell] = cells as [string, string, string, string, string, string];
    const names = ticks(promCell);
    const first = names[0]!;
    const base = first.replace(/_bucket$/, '');
    const all = names.map((n) => (n.startsWith('_') ? base + n : n));
    const labels = labelSpec(labelCell);
    for (const l of SCRAPE_LABELS) labels.set(l, new Set());
    if (first.startsWith('mcp_')) {
      for (const l of common) labels.set(l, new Set());
    }
    for (const name of all) {
      const own = new Map(labels);
      if (name.endsWith('_bucket') && type === 'histogram') own.set('le', new Set());
      metrics.set(name, { name, type, labels: own });
    }
  }
  return metrics;
}

// ---- a PromQL tokeniser, enough to find selectors ---------------------------------------------------

interface Selector {
  /** Metric name, or '' for a selector with matchers only (`{job="x"}`). */
  name: string;
  matchers: Array<{ label: string; op: string; value: string }>;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan', 'atan2', 'start', 'end']);
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);

type Tok = { k: 'ident' | 'num' | 'str' | 'punct' | 'op'; v: string };

function lexPromQL(expr: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < expr.length) {
    const rest = expr.slice(i);
    const c = expr[i]!;
    let m: RegExpExecArray | null;
    if (/\s/.test(c)) i++;
    else if (c === '#') i = expr.indexOf('\n', i) < 0 ? expr.length : expr.indexOf('\n', i);
    else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      let v = '';
      while (j < expr.length && expr[j] !== c) {
        if (expr[j] === '\\' && c !== '`') j++;
        v += expr[j];
        j++;
      }
      out.push({ k: 'str', v });
      i = j + 1;
    } else if (c === '[') {
      // A range or subquery duration: [5m], [$__rate_interval], [1h:5m].
      i = expr.indexOf(']', i) + 1;
    } else if ((m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rest))) {
      out.push({ k: 'ident', v: m[0] });
      i += m[0].length;
    } else if ((m = /^\$\{?\w+\}?/.exec(rest))) {
      i += m[0].length; // a Grafana variable outside a string
    } else if ((m = /^[0-9.][0-9a-zA-Z.+]*/.exec(rest))) {
      out.push({ k: 'num', v: m[0] }); // numbers and durations (0.95, 15m, 1e3)
      i += m[0].length;
    } else if ('(){},'.includes(c)) {
      out.push({ k: 'punct', v: c });
      i++;
    } else if ((m = /^(=~|!~|!=|==|>=|<=|=|>|<|\+|-|\*|\/|%|\^)/.exec(rest))) {
      out.push({ k: 'op', v: m[0] });
      i += m[0].length;
    } else {
      throw new Error(`cannot tokenise PromQL at "${rest.slice(0, 20)}" in: ${expr}`);
    }
  }
  return out;
}

/** Every vector selector in a PromQL expression, with its label matchers. */
function selectors(expr: string): Selector[] {
  // Grafana's label_values(selector, label): the trailing label is not a metric.
  const text = expr.replace(/label_values\(([\s\S]*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/, '$1');
  const toks = lexPromQL(text);
  const out: Selector[] = [];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    const next = toks[i + 1];
    if (t.k === 'ident' && LABEL_LIST_KEYWORDS.has(t.v) && next?.v === '(') {
      i = toks.findIndex((x, j) => j > i && x.v === ')'); // skip the label list
      continue;
    }
    if (t.k === 'ident' && t.v === 'offset') {
      i++; // skip the duration
      continue;
    }
    // A keyword, a function call, or an aggregation written `sum by (x) (...)`.
    if (t.k === 'ident' && (KEYWORDS.has(t.v) || next?.v === '(' || next?.v === 'by' || next?.v === 'without')) continue;
    if (t.k === 'ident' || (t.k === 'punct' && t.v === '{')) {
      const sel: Selector = { name: t.k === 'ident' ? t.v : '', matchers: [] };
      let j = t.k === 'ident' ? i + 1 : i;
      if (toks[j]?.v === '{') {
        j++;
        while (toks[j] && toks[j]!.v !== '}') {
          const [label, op, value] = [toks[j]!, toks[j + 1], toks[j + 2]];
          assert.ok(label.k === 'ident' && op?.k === 'op' && value?.k === 'str', `bad matcher in: ${expr}`);
          sel.matchers.push({ label: label.v, op: op.v, value: value.v });
          j += 3;
          if (toks[j]?.v === ',') j++;
        }
        i = j;
      }
      out.push(sel);
    }
  }
  return out;
}

// ---- what the deploy files query --------------------------------------------------------------------

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}

function ruleExprs(text: string): { exprs: Array<{ where: string; expr: string }>; records: Set<string> } {
  const file = parse(text) as { groups: Array<{ rules: Rule[] }> };
  const rules = file.groups.flatMap((g) => g.rules);
  return {
    exprs: rules.map((r) => ({ where: r.alert ?? r.record!, expr: r.expr })),
    records: new Set(rules.filter((r) => r.record).map((r) => r.record!)),
  };
}

function dashboardExprs(dash: unknown, path = ''): Array<{ where: string; expr: string }> {
  if (Array.isArray(dash)) return dash.flatMap((d, i) => dashboardExprs(d, `${path}[${i}]`));
  if (!dash || typeof dash !== 'object') return [];
  const obj = dash as Record<string, unknown>;
  const out: Array<{ where: string; expr: string }> = [];
  const title = typeof obj.title === 'string' ? ` "${obj.title}"` : '';
  for (const [k, v] of Object.entries(obj)) {
    if ((k === 'expr' || k === 'definition') && typeof v === 'string') out.push({ where: `${path}${title}`, expr: v });
    else if (k === 'query' && typeof v === 'string' && v.includes('(')) out.push({ where: `${path}${title}`, expr: v });
    else out.push(...dashboardExprs(v, `${path}.${k}`));
  }
  return out;
}

function violations(exprs: Array<{ where: string; expr: string }>, contract: Map<string, MetricSpec>, records: Set<string>): string[] {
  const problems: string[] = [];
  for (const { where, expr } of exprs) {
    for (const sel of selectors(expr)) {
      if (!sel.name) continue; // {otel_scope_name="mcpwatch"}: no metric named
      if (records.has(sel.name)) continue;
      const builtin = PROMETHEUS_BUILTINS.get(sel.name);
      const spec = contract.get(sel.name);
      if (!spec && !builtin) {
        problems.push(`${where}: ${sel.name} is not in the docs/metrics.md table`);
        continue;
      }
      for (const m of sel.matchers) {
        if (m.label === '__name__') continue;
        const allowed = spec ? spec.labels.get(m.label) : builtin!.includes(m.label) ? new Set<string>() : undefined;
        const tagLabel = spec && m.label.startsWith('mcp_tag_') && spec.labels.has('mcp_tag_<key>');
        if (!allowed && !tagLabel) {
          problems.push(`${where}: ${sel.name} has no label ${m.label} in docs/metrics.md`);
          continue;
        }
        if (!allowed || allowed.size === 0 || m.value.includes('$')) continue;
        const values = m.op === '=' || m.op === '!=' ? [m.value] : /^[\w|]+$/.test(m.value) ? m.value.split('|') : [];
        for (const v of values) {
          if (!allowed.has(v)) problems.push(`${where}: ${sel.name}{${m.label}="${v}"}: value not in docs/metrics.md (${[...allowed].join(', ')})`);
        }
      }
    }
  }
  return problems;
}

// ---- tests ----------------------------------------------------------------------------------------

const contract = (): Map<string, MetricSpec> => loadContract(read('docs', 'metrics.md'));

describe('metrics contract', () => {
  it('parses the docs/metrics.md table, histograms with their _bucket, _sum and _count series', () => {
    const c = contract();
    for (const name of ['mcp_server_up', 'mcp_server_status', 'mcp_tool_calls_total', 'mcpwatch_notifier_deliveries_total']) {
      assert.ok(c.has(name), name);
    }
    for (const suffix of ['_bucket', '_sum', '_count']) assert.ok(c.has(`mcp_client_operation_duration${suffix}`), suffix);
    assert.deepEqual([...c.get('mcp_server_status')!.labels.get('mcp_server_status')!].sort(), ['degraded', 'down', 'stale', 'unknown', 'up']);
    assert.deepEqual([...c.get('mcp_tool_calls_total')!.labels.get('outcome')!].sort(), ['error', 'success']);
    assert.ok(c.get('mcp_tool_calls_total')!.labels.has('mcp_server_name'), 'per-server metrics get the common labels');
    assert.ok(!c.get('mcpwatch_forwarder_dropped_total')!.labels.has('mcp_server_name'), 'self metrics do not');
    assert.ok(c.get('mcp_client_operation_duration_bucket')!.labels.has('le'));
  });

  it('tokenises PromQL: metric names, not functions, keywords, label lists, strings or durations', () => {
    const rows: Array<[string, string[]]> = [
      ['up', ['up']],
      ['mcp_server_status{mcp_server_status="down"} == 1', ['mcp_server_status']],
      ['sum by (le, mcp_server_name) (rate(foo_bucket{a="x{y}", b=~"$server"}[$__rate_interval]))', ['foo_bucket']],
      ['a / ignoring(error_category) group_left sum by (mcp_server_name) (rate(b[5m]))', ['a', 'b']],
      ['increase(x{change="breaking"}[15m]) > 0 or (x unless x offset 15m) > 0', ['x', 'x', 'x']],
      ['histogram_quantile(0.95, sum(rate(h_bucket[5m])) by (le))', ['h_bucket']],
      ['count(max by (s) (m{s="up"}) == 1) or vector(0)', ['m']],
      ['absent(up{job=~".*mcpwatch.*"})', ['up']],
      ['mcp:tool_calls:error_ratio_5m > 0.05 and on (mcp_server_name) mcp:tool_calls:rate_5m > 0.1', ['mcp:tool_calls:error_ratio_5m', 'mcp:tool_calls:rate_5m']],
      ['label_values({otel_scope_name="mcpwatch"}, mcp_server_name)', ['']],
    ];
    for (const [expr, names] of rows) assert.deepEqual(selectors(expr).map((s) => s.name), names, expr);
    assert.deepEqual(selectors('m{a="1", b!~"x|y"}')[0]!.matchers, [
      { label: 'a', op: '=', value: '1' },
      { label: 'b', op: '!~', value: 'x|y' },
    ]);
  });

  it('finds an unknown metric, label or value (the check can fail)', () => {
    const c = contract();
    const bad = violations(
      [
        { where: 't', expr: 'mcp_server_upp == 0' },
        { where: 't', expr: 'mcp_server_status{status="down"}' },
        { where: 't', expr: 'mcp_server_status{mcp_server_status="dead"}' },
        { where: 't', expr: 'rate(mcp_tool_calls_total{outcome=~"success|failure"}[5m])' },
      ],
      c,
      new Set(),
    );
    assert.equal(bad.length, 4, bad.join('\n'));
  });

  it('deploy/prometheus/alerts.yaml uses only metrics, labels and values from the table', () => {
    const { exprs, records } = ruleExprs(read('deploy', 'prometheus', 'alerts.yaml'));
    assert.ok(exprs.length > 10);
    assert.deepEqual(violations(exprs, contract(), records), []);
  });

  it('helm/mcpwatch/files/alerts.yaml is a byte-for-byte copy of deploy/prometheus/alerts.yaml', () => {
    const original = readFileSync(join(ROOT, 'deploy', 'prometheus', 'alerts.yaml'));
    const copy = readFileSync(join(ROOT, 'helm', 'mcpwatch', 'files', 'alerts.yaml'));
    assert.ok(original.equals(copy), 'run: cp deploy/prometheus/alerts.yaml helm/mcpwatch/files/alerts.yaml');
    const { exprs, records } = ruleExprs(copy.toString('utf8'));
    assert.deepEqual(violations(exprs, contract(), records), []);
  });

  it('the Grafana dashboard uses only metrics from the table and recording rules from alerts.yaml', () => {
    const { records } = ruleExprs(read('deploy', 'prometheus', 'alerts.yaml'));
    const dash = JSON.parse(read('deploy', 'grafana', 'mcpwatch-dashboard.json')) as unknown;
    const exprs = dashboardExprs(dash);
    assert.ok(exprs.length > 20, 'dashboard queries found');
    assert.deepEqual(violations(exprs, contract(), records), []);
  });
});
