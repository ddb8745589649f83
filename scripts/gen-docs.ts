// Regenerates the tables in docs/ that are derived from code: the error catalogue and the
// configuration reference. `npm run docs` writes them; test/docs.test.ts fails when they are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ERROR_TYPES } from '../src/pipeline/error-types.js';
import { schemaKeys } from '../src/config/schema.js';
import { renderRulesTable } from '../src/pipeline/scorecard.js';
import { parse as parseYaml } from 'yaml';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function renderErrorTable(): string {
  const rows = Object.entries(ERROR_TYPES).map(([type, info]) => `| \`${type}\` | ${info.category} | ${info.source} | ${info.description} |`);
  return ['| error.type | category | reported by | meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export function renderConfigTable(): string {
  const rows = schemaKeys()
    .filter((k) => k.type !== 'object' || k.description)
    .map((k) => {
      const def = k.default === undefined ? '' : `\`${JSON.stringify(k.default)}\``;
      return `| \`${k.path}\` | ${k.type.replace(/\|/g, '\\|')} | ${def.replace(/\|/g, '\\|')} | ${k.description.replace(/\|/g, '\\|')} |`;
    });
  return ['| key | type | default | description |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

/** The metrics contract table, as written in docs/metrics.md (the README repeats it). */
export function renderMetricsTable(): string {
  const doc = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  const start = '<!-- metrics-table:start -->';
  return doc.slice(doc.indexOf(start) + start.length, doc.indexOf('<!-- metrics-table:end -->')).trim();
}

/** The shipped Prometheus alert rules, one row each. */
export function renderAlertsTable(): string {
  interface Rule {
    alert?: string;
    record?: string;
    expr: string;
    for?: string;
    labels?: { severity?: string };
    annotations?: { summary?: string };
  }
  const file = parseYaml(readFileSync(join(ROOT, 'deploy/prometheus/alerts.yaml'), 'utf8')) as { groups: Array<{ rules: Rule[] }> };
  const rules = file.groups.flatMap((g) => g.rules);
  const esc = (t: string): string => t.replace(/\|/g, '\\|').replace(/\s+/g, ' ').trim();
  const alerts = rules
    .filter((r) => r.alert)
    .map((r) => `| \`${r.alert}\` | ${r.labels?.severity ?? ''} | ${r.for ?? '0s'} | ${esc(r.annotations?.summary ?? '')} |`);
  const records = rules.filter((r) => r.record).map((r) => `\`${r.record}\``);
  return ['| alert | severity | for | summary |', '| --- | --- | --- | --- |', ...alerts, '', `Recording rules: ${records.join(', ')}.`].join('\n');
}

/** Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`. */
export function splice(doc: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`markers ${start} … ${end} not found`);
  return doc.slice(0, i + start.length) + '\n' + body + '\n' + doc.slice(j);
}

export const GENERATED: Array<{ file: string; marker: string; render: () => string }> = [
  { file: 'docs/errors.md', marker: 'error-table', render: renderErrorTable },
  { file: 'docs/configuration.md', marker: 'config-table', render: renderConfigTable },
  { file: 'docs/scorecard.md', marker: 'scorecard-rules', render: renderRulesTable },
  { file: 'README.md', marker: 'config-table', render: renderConfigTable },
  { file: 'README.md', marker: 'error-table', render: renderErrorTable },
  { file: 'README.md', marker: 'metrics-table', render: renderMetricsTable },
  { file: 'README.md', marker: 'alerts-table', render: renderAlertsTable },
];

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const g of GENERATED) {
    const path = join(ROOT, g.file);
    writeFileSync(path, splice(readFileSync(path, 'utf8'), g.marker, g.render()));
    process.stdout.write(`updated ${g.file}\n`);
  }
}
