// health's server selection: a selection that names nothing is a usage error (exit 2), as an
// unknown --server always was, never "0/0 up" with exit 0.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers.js';

function mcpwatch(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1' }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('mcpwatch health: selections', () => {
  let dir: string;
  let config: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcpwatch-select-'));
    config = join(dir, 'mcpwatch.yaml');
    // Nothing listens on port 9: nothing here is probed when the selection is refused.
    writeFileSync(config, 'servers:\n  - { name: a, transport: streamable_http, url: "http://127.0.0.1:9/mcp", tags: [team:data] }\n  - { name: b, transport: streamable_http, url: "http://127.0.0.1:9/mcp", tags: [prod] }\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--tag that no server has is a usage error naming the tags in use', async () => {
    const r = await mcpwatch(['health', '-c', config, '--tag', 'nosuch', '--json']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--tag: no server has the tag "nosuch" \(tags in use: team:data, prod\)/);
  });

  it('tags that exist but select nothing together are a usage error too', async () => {
    const r = await mcpwatch(['health', '-c', config, '--tag', 'team:data', '--tag', 'prod', '--json']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no server matches all of --server, --tag and --filter together/);
  });

  it('options that would do nothing are refused, not dropped: a bare argument, -H or --transport beside a configuration, --config beside --url or --stdio, --verbose without --json', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['health', '-c', config, 'a'], /^unexpected argument "a": select servers with --server NAME/],
      [['health', '-c', config, '-H', 'Authorization: Bearer x'], /^--header is sent to a --url target/],
      [['health', '-c', config, '--transport', 'sse'], /^--transport goes with --url/],
      [['health', '-c', config, '--url', 'http://127.0.0.1:9/mcp'], /^--config and --url are two ways/],
      [['health', '-c', config, '--stdio', '--', process.execPath, '-e', ''], /^--config and --stdio are two ways/],
      [['health', '--stdio', '-H', 'A: b', '--', process.execPath, '-e', ''], /^--header is sent to a --url target/],
      [['health', '-c', config, '--verbose'], /^--verbose adds each server's tool list to the JSON: use it with --json/],
    ];
    for (const [args, message] of cases) {
      // --json everywhere but where its absence is the mistake.
      const r = await mcpwatch(args.includes('--verbose') ? args : ['health', '--json', ...args.slice(1)]);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.stdout, '', args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});
