import { describe, it } from 'node:test';
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { parse } from 'yaml';
import { registerInit, renderConfigYaml, runInit, type InitDeps } from '../../src/cli/init.js';
import { CliExit } from '../../src/cli/common.js';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { discoverServers, placeholderEnv } from '../../src/discovery/clients.js';
import { CLI } from '../helpers.js';

const GITHUB_PAT = 'ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8';
const STRIPE_KEY = 'sk_live_51Hx0123456789abcdefghijkl';
const DB_PASSWORD = 'correct-horse-battery-staple';

interface Harness {
  home: string;
  cwd: string;
  out: string[];
  err: string[];
  deps: Partial<InitDeps>;
  put(rel: string, content: unknown): string;
  stdout(): string;
  stderr(): string;
}

/** A fake home and project with captured output; nothing reads the real machine. */
function harness(extra: Partial<InitDeps> = {}): Harness {
  const root = mkdtempSync(join(tmpdir(), 'mcpwatch-init-'));
  const home = join(root, 'home');
  const cwd = join(root, 'project');
  mkdirSync(home, { recursive: true });
  mkdirSync(cwd, { recursive: true });
  const out: string[] = [];
  const err: string[] = [];
  return {
    home,
    cwd,
    out,
    err,
    deps: {
      home,
      cwd,
      platform: 'linux',
      env: {},
      stdout: { write: (s: string) => out.push(s) },
      stderr: { write: (s: string) => err.push(s) },
      interactive: false,
      confirm: async () => {
        throw new Error('confirm must not be called');
      },
      ...extra,
    },
    put(rel, content) {
      const file = rel.startsWith('~/') ? join(home, rel.slice(2)) : join(cwd, rel);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      return file;
    },
    stdout: () => out.join(''),
    stderr: () => err.join(''),
  };
}

/** Claude Desktop, Cursor (with a duplicate), VS Code with an input, and one broken Windsurf file. */
function configured(h: Harness): void {
  h.put('~/.config/Claude/claude_desktop_config.json', {
    mcpServers: {
      github: { command: 'docker', args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'ghcr.io/github/github-mcp-server'], env: { GITHUB_PERSONAL_ACCESS_TOKEN: GITHUB_PAT } },
      postgres: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-postgres', `postgresql://app:${DB_PASSWORD}@localhost/app`] },
    },
  });
  h.put('~/.cursor/mcp.json', {
    mcpServers: {
      'gh-docker': { command: 'docker', args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'ghcr.io/github/github-mcp-server'] },
      stripe: { url: 'https://mcp.stripe.com/', headers: { Authorization: `Bearer ${STRIPE_KEY}` } },
    },
  });
  h.put(
    '.vscode/mcp.json',
    `{
  "inputs": [{ "type": "promptString", "id": "sentry-token", "password": true }],
  "servers": {
    // hosted Sentry
    "sentry": { "type": "sse", "url": "https://mcp.sentry.dev/sse", "headers": { "Authorization": "Bearer \${input:sentry-token}" } },
  },
}`,
  );
  h.put('~/.codeium/windsurf/mcp_config.json', '{ "mcpServers": { "x": { "serverUrl": "https://x.example.com" } ');
}

function exitWith(code: number, pattern: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof CliExit, `expected CliExit, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('mcpwatch init', () => {
  it('writes a configuration that parseConfig accepts, with no secret in it', async () => {
    const h = harness();
    configured(h);
    const outcome = await runInit({ yes: true }, h.deps);
    const file = join(h.cwd, 'mcpwatch.yaml');
    assert.equal(outcome.file, file);
    assert.equal(outcome.written, true);
    const text = readFileSync(file, 'utf8');
    assert.equal(text, outcome.yaml);
    for (const secret of [GITHUB_PAT, STRIPE_KEY, DB_PASSWORD]) assert.ok(!text.includes(secret), `${secret} leaked into the file`);
    for (const secret of [GITHUB_PAT, STRIPE_KEY, DB_PASSWORD]) assert.ok(!h.stdout().includes(secret) && !h.stderr().includes(secret), `${secret} leaked into the output`);

    const config = parseConfig(text, file, { GITHUB_PERSONAL_ACCESS_TOKEN: 'x', POSTGRES_PASSWORD: 'x', STRIPE_TOKEN: 'x', SENTRY_TOKEN: 'x' });
    assert.deepEqual(
      config.servers.map((s) => [s.name, s.transport]),
      [
        ['github', 'stdio'],
        ['postgres', 'stdio'],
        ['stripe', 'streamable_http'],
        ['sentry', 'sse'],
      ],
    );
    assert.deepEqual(config.monitoring.interval, 30_000);
    assert.deepEqual(config.monitoring.timeout, 5_000);
    assert.deepEqual(config.monitoring.consecutive_failures_before_down, 3);
    // The knob for a slow first start (npx downloading the server) is written out and explained, so
    // nobody raises `timeout` for it, which would only hide hangs later.
    const written = parse(text) as { monitoring: Record<string, unknown> };
    assert.equal(written.monitoring.start_timeout, '60s');
    assert.match(text, /#[^\n]*first start[^\n]*\n\s*start_timeout: 60s/);
    assert.deepEqual(config.servers[2]!.headers, { Authorization: 'Bearer x' });
    assert.deepEqual(config.servers[3]!.headers, { Authorization: 'Bearer x' });
    assert.equal(config.servers[1]!.args.at(-1), 'postgresql://app:x@localhost/app');
  });

  it('writes references that really are references: without the variables the file does not load', async () => {
    const h = harness();
    configured(h);
    const { yaml } = await runInit({ yes: true }, h.deps);
    assert.throws(
      () => parseConfig(yaml, 'mcpwatch.yaml', {}),
      (err: unknown) => err instanceof ConfigError && ['GITHUB_PERSONAL_ACCESS_TOKEN', 'POSTGRES_PASSWORD', 'STRIPE_TOKEN', 'SENTRY_TOKEN'].every((v) => err.message.includes(v)),
    );
    assert.match(yaml, /GITHUB_PERSONAL_ACCESS_TOKEN: \$\{env:GITHUB_PERSONAL_ACCESS_TOKEN\}/);
    assert.match(yaml, /Authorization: Bearer \$\{env:STRIPE_TOKEN\}/);
  });

  it('prints what it found and from where, the duplicate, the broken file and the variables to set', async () => {
    const h = harness({ env: { STRIPE_TOKEN: 'value-from-the-shell-123' } });
    configured(h);
    await runInit({ yes: true }, h.deps);
    const out = h.stdout();
    assert.match(out, /^Found 4 MCP servers:/);
    assert.match(out, /^NAME\s+TRANSPORT\s+TARGET\s+SOURCE$/m);
    assert.match(out, /^github\s+stdio\s+docker run -i --rm -e GITHUB_PERSONAL_ACCESS_TOKEN ghcr\.io\/…\s+~\/\.config\/Claude\/claude_desktop_config\.json$/m);
    assert.match(out, /^stripe\s+streamable_http\s+https:\/\/mcp\.stripe\.com\/\s+~\/\.cursor\/mcp\.json$/m);
    assert.match(out, /^sentry\s+sse\s+https:\/\/mcp\.sentry\.dev\/sse\s+\.\/\.vscode\/mcp\.json$/m);
    assert.match(out, /^github is also configured in ~\/\.cursor\/mcp\.json \(as "gh-docker"\); kept once\.$/m);
    assert.match(out, /^Wrote \.\/mcpwatch\.yaml with 4 servers\.$/m);
    assert.match(out, /^ {2}SENTRY_TOKEN\s+sentry: header Authorization$/m);
    assert.match(out, /^ {2}POSTGRES_PASSWORD\s+postgres: args\[2\]$/m);
    assert.match(out, /^ {2}STRIPE_TOKEN\s+stripe: header Authorization \(set in this shell\)$/m);
    assert.ok(!out.includes('value-from-the-shell-123'));
    assert.match(h.stderr(), /~\/\.codeium\/windsurf\/mcp_config\.json: invalid JSON: line 1, column \d+: /);
  });

  it('turns a client\'s OAuth settings into an auth: stub with ${env:} references, never the secret', async () => {
    const h = harness();
    const clientSecret = 'gemini-oauth-secret-5e4d3c2b1a09';
    h.put('~/.gemini/settings.json', {
      mcpServers: {
        workspace: { httpUrl: 'https://mcp.example.com/mcp', oauth: { enabled: true, clientId: 'mcpwatch-prober', clientSecret, tokenUrl: 'https://auth.example.com/oauth/token', scopes: ['mcp:tools'] } },
        plain: { httpUrl: 'https://plain.example.com/mcp' },
      },
    });
    h.put('~/.cursor/mcp.json', { mcpServers: { linear: { url: 'https://mcp.linear.app/mcp', auth: { CLIENT_ID: 'lin-client', scopes: ['read'] } } } });
    const { yaml } = await runInit({ yes: true }, h.deps);
    assert.ok(!yaml.includes(clientSecret) && !h.stdout().includes(clientSecret) && !h.stderr().includes(clientSecret), 'the secret was not copied');
    const config = parseConfig(yaml, 'mcpwatch.yaml', { WORKSPACE_CLIENT_SECRET: 'x', LINEAR_CLIENT_SECRET: 'y' });
    const auth = Object.fromEntries(config.servers.map((s) => [s.name, s.auth]));
    assert.deepEqual(auth, {
      workspace: { type: 'oauth2_client_credentials', client_id: 'mcpwatch-prober', client_secret: 'x', scopes: ['mcp:tools'], token_url: 'https://auth.example.com/oauth/token' },
      plain: undefined,
      linear: { type: 'oauth2_client_credentials', client_id: 'lin-client', client_secret: 'y', scopes: ['read'] },
    });
    assert.match(yaml, /client_secret: \$\{env:WORKSPACE_CLIENT_SECRET\}/);
    assert.match(h.stdout(), /^ {2}WORKSPACE_CLIENT_SECRET\s+workspace: auth client_secret$/m);
    assert.match(h.stdout() + h.stderr(), /workspace.*signs in with OAuth.*set WORKSPACE_CLIENT_SECRET to its secret/);
  });

  it('leaves scopes out of the stub where the client names none, so that mcpwatch asks for what the server names', async () => {
    const h = harness();
    h.put('.mcp.json', { mcpServers: { remote: { type: 'http', url: 'https://mcp.example.com/mcp', oauth: { clientId: 'mcpwatch-prober' } }, empty: { type: 'http', url: 'https://other.example.com/mcp', oauth: { clientId: 'p2', scopes: [] } } } });
    const { yaml } = await runInit({ yes: true }, h.deps);
    assert.ok(!/scopes:/.test(yaml), yaml);
    const config = parseConfig(yaml, 'mcpwatch.yaml', { REMOTE_CLIENT_SECRET: 'x', EMPTY_CLIENT_SECRET: 'y' });
    assert.deepEqual(
      config.servers.map((s) => s.auth),
      [
        { type: 'oauth2_client_credentials', client_id: 'mcpwatch-prober', client_secret: 'x' },
        { type: 'oauth2_client_credentials', client_id: 'p2', client_secret: 'y' },
      ],
    );
  });

  it('comments each server with where it came from', async () => {
    const h = harness();
    configured(h);
    const { yaml } = await runInit({ yes: true }, h.deps);
    assert.match(yaml, /^# mcpwatch configuration, written by `mcpwatch init`/);
    assert.match(yaml, /^ {2}# from ~\/\.config\/Claude\/claude_desktop_config\.json; also in ~\/\.cursor\/mcp\.json\n {2}- name: github$/m);
    assert.match(yaml, /^ {2}# from \.\/\.vscode\/mcp\.json\n {2}- name: sentry$/m);
  });

  it('refuses to overwrite an existing file without --force and changes nothing', async () => {
    const h = harness();
    configured(h);
    const file = h.put('mcpwatch.yaml', 'servers: []\n# hand-written\n');
    await assert.rejects(runInit({ yes: true }, h.deps), exitWith(2, /\.\/mcpwatch\.yaml already exists; nothing was changed\. Re-run with --force/));
    assert.equal(readFileSync(file, 'utf8'), 'servers: []\n# hand-written\n');
  });

  it('overwrites with --force', async () => {
    const h = harness();
    configured(h);
    const file = h.put('mcpwatch.yaml', 'servers: []\n');
    const outcome = await runInit({ yes: true, force: true }, h.deps);
    assert.equal(outcome.written, true);
    assert.match(readFileSync(file, 'utf8'), /- name: stripe/);
  });

  it('--dry-run prints the YAML on stdout, the report on stderr, and writes nothing', async () => {
    const h = harness();
    configured(h);
    h.put('mcpwatch.yaml', 'servers: []\n');
    const outcome = await runInit({ dryRun: true }, h.deps);
    assert.equal(outcome.written, false);
    assert.equal(h.stdout(), outcome.yaml);
    assert.equal(readFileSync(join(h.cwd, 'mcpwatch.yaml'), 'utf8'), 'servers: []\n');
    assert.match(h.stderr(), /Found 4 MCP servers/);
    assert.match(h.stderr(), /Set these environment variables/);
    const config = parseConfig(h.stdout(), 'stdout', placeholderEnv(outcome.discovery.servers));
    assert.equal(config.servers.length, 4);
  });

  it('without a terminal and without --yes, prints what it would write and exits 2', async () => {
    const h = harness({ interactive: false });
    configured(h);
    await assert.rejects(runInit({}, h.deps), exitWith(2, /stdin is not a terminal.*re-run with --yes/));
    assert.equal(existsSync(join(h.cwd, 'mcpwatch.yaml')), false);
    assert.match(h.stdout(), /^# mcpwatch configuration/);
    assert.match(h.stderr(), /Found 4 MCP servers/);
  });

  it('asks on a terminal, and writes only on yes', async () => {
    const questions: string[] = [];
    const no = harness({ interactive: true, confirm: async (q) => (questions.push(q), false) });
    configured(no);
    await assert.rejects(runInit({}, no.deps), exitWith(1, /nothing written/));
    assert.equal(existsSync(join(no.cwd, 'mcpwatch.yaml')), false);
    assert.deepEqual(questions, ['Write 4 servers to ./mcpwatch.yaml? [Y/n] ']);

    const yes = harness({ interactive: true, confirm: async () => true });
    configured(yes);
    assert.equal((await runInit({}, yes.deps)).written, true);
    assert.ok(existsSync(join(yes.cwd, 'mcpwatch.yaml')));
  });

  it('exits 1 and writes nothing when no client configures a server', async () => {
    const h = harness();
    h.put('~/.cursor/mcp.json', '{ "mcpServers": {} }');
    await assert.rejects(runInit({ yes: true }, h.deps), exitWith(1, /no MCP servers found; nothing written\. Looked in:\n.*~\/\.config\/Claude\/claude_desktop_config\.json \(not found\)/s));
    assert.equal(existsSync(join(h.cwd, 'mcpwatch.yaml')), false);
  });

  it('says an --output directory it cannot make is one, instead of spinning forever in mkdir (procfs)', async () => {
    const h = harness();
    configured(h);
    // A child process: Node's recursive mkdirSync never returns here, and would hang this test file.
    const run = await new Promise<{ code: number; stderr: string }>((done) => {
      execFile(process.execPath, [CLI, 'init', '-y', '-o', '/proc/mcpwatch-init-test/mcpwatch.yaml'], { cwd: h.cwd, env: { ...process.env, HOME: h.home, XDG_CONFIG_HOME: '', NO_COLOR: '1' }, timeout: 120_000 }, (err, _stdout, stderr) =>
        done({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /cannot write \/proc\/mcpwatch-init-test\/mcpwatch\.yaml: ENOENT: no such file or directory, mkdir '\/proc\/mcpwatch-init-test'\n$/);
  });

  it('refuses an --output that is a directory before discovering anything, even with --force', async () => {
    const h = harness();
    configured(h);
    mkdirSync(join(h.cwd, 'ops'));
    await assert.rejects(runInit({ yes: true, force: true, output: 'ops' }, h.deps), exitWith(2, /^\.\/ops is a directory; nothing was changed\. Name the file to write: --output \.\/ops\/mcpwatch\.yaml$/));
    assert.equal(h.stdout(), '');
  });

  it('runs through commander with --output into a new directory', async () => {
    const h = harness();
    configured(h);
    const program = new Command().exitOverride();
    registerInit(program, h.deps);
    await program.parseAsync(['init', '--output', 'ops/mcpwatch.yaml', '--yes'], { from: 'user' });
    const file = join(h.cwd, 'ops', 'mcpwatch.yaml');
    assert.ok(existsSync(file));
    assert.match(h.stdout(), /Next: mcpwatch validate -c \.\/ops\/mcpwatch\.yaml/);

    const again = new Command().exitOverride();
    registerInit(again, h.deps);
    await assert.rejects(again.parseAsync(['init', '-o', 'ops/mcpwatch.yaml', '-y'], { from: 'user' }), exitWith(2, /already exists/));
    const dry = new Command().exitOverride();
    registerInit(dry, h.deps);
    h.out.length = 0;
    await dry.parseAsync(['init', '--dry-run'], { from: 'user' });
    assert.match(h.stdout(), /^# mcpwatch configuration/);
  });

  it('renders servers of every transport into YAML the loader accepts', () => {
    const h = harness();
    h.put('~/.gemini/settings.json', {
      mcpServers: {
        'odd name!': { command: 'python3', args: ['-m', 'server', 'yes', '1.0', 'null', '#not-a-comment', '- dash'], cwd: '/srv/mcp', env: { ON: 'true' } },
        events: { url: 'https://e.example.com/events', headers: { 'X-Tenant': 'on' } },
        api: { httpUrl: 'https://${API_HOST}/mcp' },
      },
    });
    const d = discoverServers({ home: h.home, cwd: h.cwd, platform: 'linux', env: {} });
    const yaml = renderConfigYaml(d.servers, { home: h.home, cwd: h.cwd });
    const env = placeholderEnv(d.servers);
    assert.deepEqual(env, { ON: 'placeholder', API_HOST: 'placeholder' });
    const config = parseConfig(yaml, 'x.yaml', { ON: 'true', API_HOST: 'api.example.com' });
    assert.deepEqual(
      config.servers.map((s) => [s.name, s.transport, s.command ?? s.url]),
      [
        ['odd-name', 'stdio', 'python3'],
        ['events', 'sse', 'https://e.example.com/events'],
        ['api', 'streamable_http', 'https://api.example.com/mcp'],
      ],
    );
    assert.deepEqual(config.servers[0]!.args, ['-m', 'server', 'yes', '1.0', 'null', '#not-a-comment', '- dash']);
    assert.equal(config.servers[0]!.cwd, '/srv/mcp');
    assert.deepEqual(config.servers[1]!.headers, { 'X-Tenant': 'on' });
  });
});
