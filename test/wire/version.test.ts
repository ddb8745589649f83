import { it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../../src/wire/version.js';

// dist/test/wire/ → the package root, where package.json lives.
const root = fileURLToPath(new URL('../../../', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string };

it('wire/version is package.json\'s version', () => {
  assert.equal(VERSION, pkg.version);
});

it('mcpwatch --version prints it', () => {
  const out = execFileSync(process.execPath, [`${root}dist/src/cli/main.js`, '--version'], { encoding: 'utf8' });
  assert.equal(out.trim(), pkg.version);
});
