import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
