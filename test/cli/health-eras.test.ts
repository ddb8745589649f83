import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { startModernHttpFixture, type ModernHttpFixture } from '../fixtures/modern-http-server.js';
import { MODERN_TOOLS } from '../fixtures/modern-servers.js';
import { CLI, FIXTURES, STDIO_FIXTURE } from '../helpers.js';

interface JsonServer {
  name: string;
  status: string;
  tools: number | null;
  protocol_version: string | null;
  era: string | null;
  error: { type: string; category: string; phase: string; message: string } | null;
}

function health(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'health', ...args], { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('mcpwatch health across MCP eras', () => {
  let strict: ModernHttpFixture;
  let dual: ModernHttpFixture;
  let classic: HttpFixture;
  let config: string;

  before(async () => {
    strict = await startModernHttpFixture('strict');
    dual = await startModernHttpFixture('dual');
    classic = await startHttpFixture('streamable');
    config = join(mkdtempSync(join(tmpdir(), 'mcpwatch-eras-')), 'mcpwatch.yaml');
    const node = JSON.stringify(process.execPath);
    writeFileSync(
      config,
      `monitoring: { timeout: 60s }
servers:
  - { name: strict, transport: streamable_http, url: "${strict.url}" }
  - { name: dual, transport: streamable_http, url: "${dual.url}" }
  - { name: dual-legacy, transport: streamable_http, url: "${dual.url}", protocol: legacy }
  - { name: modern-stdio, transport: stdio, command: ${node}, args: [${JSON.stringify(join(FIXTURES, 'modern-stdio-server.js'))}, modern] }
  - { name: classic-http, transport: streamable_http, url: "${classic.url}" }
  - { name: classic-stdio, transport: stdio, command: ${node}, args: [${JSON.stringify(STDIO_FIXTURE)}, ok] }
  - { name: strict-pinned-legacy, transport: streamable_http, url: "${strict.url}", protocol: legacy }
  - { name: classic-pinned-modern, transport: streamable_http, url: "${classic.url}", protocol: modern }
`,
    );
  });
  after(async () => {
    await strict.close();
    await dual.close();
    await classic.close();
  });

  it('says which era and version each server speaks, and calls a pinned era the server lacks a version mismatch', async () => {
    const r = await health(['-c', config, '--json']);
    assert.equal(r.code, 1, r.stderr);
    const rows = (JSON.parse(r.stdout) as { servers: JsonServer[] }).servers.map((s) => [s.name, s.status, s.era, s.protocol_version, s.tools, s.error?.type ?? null, s.error?.category ?? null]);
    const n = MODERN_TOOLS.length;
    assert.deepEqual(rows, [
      ['strict', 'up', 'modern', '2026-07-28', n, null, null],
      ['dual', 'up', 'modern', '2026-07-28', n, null, null],
      ['dual-legacy', 'up', 'legacy', '2025-11-25', n, null, null],
      ['modern-stdio', 'up', 'modern', '2026-07-28', n, null, null],
      ['classic-http', 'up', 'legacy', '2025-11-25', 3, null, null],
      ['classic-stdio', 'up', 'legacy', '2025-11-25', 3, null, null],
      ['strict-pinned-legacy', 'down', null, null, null, 'unsupported_protocol_version', 'permanent'],
      ['classic-pinned-modern', 'down', null, null, null, 'unsupported_protocol_version', 'permanent'],
    ]);
  });

  it('shows the version in the table\'s Notes', async () => {
    const r = await health(['-c', config, '--server', 'strict', '--server', 'classic-stdio']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /│ strict\s+│[^\n]*│ MCP 2026-07-28 \(stateless\)\s+│/);
    assert.match(r.stdout, /│ classic-stdio\s+│[^\n]*│ MCP 2025-11-25\s+│/);
  });
});
