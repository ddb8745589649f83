import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENERATED, ROOT, splice } from '../scripts/gen-docs.js';
import { ERROR_TYPES } from '../src/pipeline/error-types.js';
import { schemaKeys } from '../src/config/schema.js';

describe('generated documentation', () => {
  for (const g of GENERATED) {
    it(`${g.file} is up to date with the code (run npm run docs)`, () => {
      const doc = readFileSync(join(ROOT, g.file), 'utf8');
      assert.equal(doc, splice(doc, g.marker, g.render()));
    });
  }

  it('types every key whose default is a duration as a duration', () => {
    const mistyped = schemaKeys()
      .filter((k) => typeof k.default === 'string' && /^\d+(\.\d+)?(ms|s|m|h|d)$/.test(k.default) && k.type !== 'duration')
      .map((k) => `${k.path}: ${k.type}`);
    assert.deepEqual(mistyped, []);
  });

  it('documents exactly the error types the code has, each with its category', () => {
    const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
    const table = doc.slice(doc.indexOf('<!-- error-table:start -->'), doc.indexOf('<!-- error-table:end -->'));
    const documented = [...table.matchAll(/^\| `([a-z_]+)` \| (transient|permanent) \|/gm)].map((m) => [m[1], m[2]]);
    assert.deepEqual(documented, Object.entries(ERROR_TYPES).map(([t, i]) => [t, i.category]));
  });
});

describe('documentation', () => {
  it('never points an agent at the gRPC port without saying the protocol', () => {
    // OpenTelemetry SDKs default to http/protobuf (the JavaScript SDK does): an agent told only
    // OTEL_EXPORTER_OTLP_ENDPOINT=…:4317 spoke HTTP/1.1 to the gRPC port and lost every span.
    const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
    const unsaid: string[] = [];
    for (const file of files) {
      const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
      lines.forEach((line, i) => {
        const near = (from: number, to: number): string => lines.slice(Math.max(0, i + from), i + to + 1).join('\n');
        if (!/:4317\b/.test(line) || !near(-2, 0).includes('OTEL_EXPORTER_OTLP_ENDPOINT')) return;
        if (!/OTEL_EXPORTER_OTLP_PROTOCOL[\s\S]{0,40}grpc/.test(near(-3, 3))) unsaid.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    assert.deepEqual(unsaid, []);
  });
});
