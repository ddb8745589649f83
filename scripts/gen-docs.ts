// Regenerates the tables in docs/ that are derived from code: the error catalogue and the
// configuration reference. `npm run docs` writes them; test/docs.test.ts fails when they are stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { ERROR_TYPES } from '../src/pipeline/error-types.js';
import { schemaKeys } from '../src/config/schema.js';
import { renderRulesTable } from '../src/pipeline/scorecard.js';

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
];

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const g of GENERATED) {
    const path = join(ROOT, g.file);
    writeFileSync(path, splice(readFileSync(path, 'utf8'), g.marker, g.render()));
    process.stdout.write(`updated ${g.file}\n`);
  }
}
