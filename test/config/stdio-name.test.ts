import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { stdioServerName } from '../../src/config/stdio-name.js';
import { CLI, STDIO_FIXTURE } from '../helpers.js';

describe('names of ad-hoc stdio servers', () => {
  it('after the package a runner fetches, the script an interpreter runs, else the command', () => {
    const rows: Array<[string[], string]> = [
      [['npx', '-y', '@modelcontextprotocol/server-everything'], 'server-everything'],
      [['npx', '-y', '@modelcontextprotocol/server-filesystem@2025.1.1', '/tmp'], 'server-filesystem'],
      [['/usr/bin/npx', '--package', 'x-cli', 'mcp-memory'], 'mcp-memory'],
      [['uvx', 'mcp-server-fetch==1.0'], 'mcp-server-fetch'],
      [['uvx', '--from', 'git+https://example/x', 'mcp-git'], 'mcp-git'],
      [['pnpm', 'dlx', 'server-memory'], 'server-memory'],
      [['node', '--enable-source-maps', './dist/server.js'], 'server'],
      [['python3', '-m', 'my_mcp.server'], 'my_mcp.server'],
      [['python', 'weather_server.py'], 'weather_server'],
      [['/opt/bin/github-mcp-server', 'stdio'], 'github-mcp-server'],
      [['npx'], 'npx'],
    ];
    for (const [command, want] of rows) assert.equal(stdioServerName(command), want, command.join(' '));
  });

  it('health --stdio shows the derived name, or the one given with --name', async () => {
    const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, [CLI, 'health', '--json', ...args], { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
      });
    const derived = await run(['--stdio', '--', process.execPath, STDIO_FIXTURE, 'ok']);
    assert.equal(derived.code, 0, derived.stderr);
    assert.equal((JSON.parse(derived.stdout) as { servers: Array<{ name: string }> }).servers[0]!.name, 'stdio-server');
    const named = await run(['--stdio', '--name', 'fixture', '--', process.execPath, STDIO_FIXTURE, 'ok']);
    assert.equal(named.code, 0, named.stderr);
    assert.equal((JSON.parse(named.stdout) as { servers: Array<{ name: string }> }).servers[0]!.name, 'fixture');
    const stray = await run(['--name', 'x']);
    assert.equal(stray.code, 2);
    assert.match(stray.stderr, /--name names an ad-hoc target: use it with --url or --stdio/);
  });
});
