// A stdio server's first start gets start_timeout (npx/uvx may download it first); later phases get
// the ordinary timeout. Real child processes; the fixture waits before serving, as npx does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { probeServer } from '../../src/probe/probe.js';
import { slowStartNote, startBudgetMs } from '../../src/pipeline/start.js';
import { parseConfig } from '../../src/config/load.js';
import { resolveServer } from '../../src/config/schema.js';
import { join } from 'node:path';
import { FIXTURES, httpTarget, stdioTarget } from '../helpers.js';

describe('stdio start budget', () => {
  it('gives stdio servers start_timeout from spawn to the first answer, and HTTP servers none', () => {
    assert.equal(startBudgetMs(stdioTarget('ok', { timeout: 5000, start_timeout: 60_000 })), 60_000);
    assert.equal(startBudgetMs(stdioTarget('ok', { timeout: 5000 })), 5000, 'unset: the ordinary timeout');
    assert.equal(startBudgetMs(stdioTarget('ok', { timeout: 5000, start_timeout: 1000 })), 5000, 'never less than the timeout');
    assert.equal(startBudgetMs(httpTarget('http://127.0.0.1:1/mcp', 'streamable_http', { timeout: 5000, start_timeout: 60_000 })), 5000);
    assert.equal(slowStartNote(stdioTarget('ok', { timeout: 5000, start_timeout: 60_000 }), 4000), undefined);
    assert.match(slowStartNote(stdioTarget('ok', { timeout: 5000, start_timeout: 60_000 }), 12_345) ?? '', /^slow first start: 12\.3 s from spawn to the first answer/);
    const config = parseConfig('servers:\n  - { name: a, transport: stdio, command: npx }\n  - { name: b, transport: stdio, command: npx, start_timeout: 2m }\n', 'mcpwatch.yaml', {});
    assert.deepEqual(config.servers.map((s) => resolveServer(config, s).start_timeout), [60_000, 120_000], 'default 60 s');
  });

  it('brings up a server that needs longer than the timeout to start, and says it was a slow first start', async () => {
    const out = await probeServer(stdioTarget('slow-start', { timeout: 2000, start_timeout: 30_000, env: { START_DELAY_MS: '4000' } }));
    assert.equal(out.error, null, JSON.stringify(out.error));
    assert.equal(out.tools?.length, 3);
    assert.equal(out.warnings.filter((w) => w.startsWith('slow first start')).length, 1, JSON.stringify(out.warnings));
  });

  it('says so for a 2026-07-28 server too, whose start is timed as server/discover under auto', async () => {
    const modern = stdioTarget('slow-start', { command: process.execPath, args: [join(FIXTURES, 'modern-stdio-server.js'), 'modern'], timeout: 2000, start_timeout: 30_000, env: { START_DELAY_MS: '4000' } });
    const out = await probeServer(modern);
    assert.deepEqual([out.error, out.era], [null, 'modern']);
    assert.equal(out.warnings.filter((w) => w.startsWith('slow first start')).length, 1, JSON.stringify(out.warnings));
  });
});
