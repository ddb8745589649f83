import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  configSources,
  discoverServers,
  envName,
  parseJsonText,
  sanitiseName,
  stripJsonc,
  type DiscoverContext,
  type DiscoveredServer,
  type DiscoveryResult,
} from '../../src/discovery/clients.js';
import { parseConfig } from '../../src/config/load.js';

/** A fake machine: a home and a project directory under a fresh temp dir. */
function machine(platform: NodeJS.Platform = 'linux', env: NodeJS.ProcessEnv = {}): DiscoverContext & { put(rel: string, content: unknown): string } {
  const root = mkdtempSync(join(tmpdir(), 'mcpwatch-discover-'));
  const home = join(root, 'home', 'alice');
  const cwd = join(root, 'work', 'shop');
  mkdirSync(home, { recursive: true });
  mkdirSync(cwd, { recursive: true });
  return {
    home,
    cwd,
    platform,
    env,
    /** Writes a file given relative to root ("~/" means home, "./" means the project). */
    put(rel: string, content: unknown): string {
      const file = rel.startsWith('~/') ? join(home, rel.slice(2)) : rel.startsWith('./') ? join(cwd, rel.slice(2)) : rel;
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      return file;
    },
  };
}

function byName(r: DiscoveryResult, name: string): DiscoveredServer {
  const s = r.servers.find((x) => x.name === name);
  assert.ok(s, `no server named ${name}; found ${r.servers.map((x) => x.name).join(', ')}`);
  return s;
}

function summary(r: DiscoveryResult): Array<[string, string, string]> {
  return r.servers.map((s) => [s.name, s.transport, s.source.label]);
}

describe('config file locations', () => {
  it('follows XDG_CONFIG_HOME on Linux and ignores a relative one', () => {
    const m = machine('linux', { XDG_CONFIG_HOME: '/xdg' });
    const files = Object.fromEntries(configSources(m).map((s) => [s.label, s.file]));
    assert.equal(files['Claude Desktop'], '/xdg/Claude/claude_desktop_config.json');
    assert.equal(files['VS Code (user)'], '/xdg/Code/User/mcp.json');
    assert.equal(files['Zed'], '/xdg/zed/settings.json');
    assert.equal(files['Claude Code (user)'], join(m.home, '.claude.json'));
    assert.equal(files['Claude Code (project)'], join(m.cwd, '.mcp.json'));
    assert.equal(files['Cursor (user)'], join(m.home, '.cursor', 'mcp.json'));
    assert.equal(files['Cursor (project)'], join(m.cwd, '.cursor', 'mcp.json'));
    assert.equal(files['VS Code (workspace)'], join(m.cwd, '.vscode', 'mcp.json'));
    assert.equal(files['Windsurf'], join(m.home, '.codeium', 'windsurf', 'mcp_config.json'));
    assert.equal(files['Gemini CLI (user)'], join(m.home, '.gemini', 'settings.json'));
    assert.equal(files['Gemini CLI (project)'], join(m.cwd, '.gemini', 'settings.json'));
    const relative = Object.fromEntries(configSources({ ...m, env: { XDG_CONFIG_HOME: 'rel/dir' } }).map((s) => [s.label, s.file]));
    assert.equal(relative['Claude Desktop'], join(m.home, '.config', 'Claude', 'claude_desktop_config.json'));
  });

  it('uses Application Support on macOS and %APPDATA% on Windows', () => {
    const mac = machine('darwin', { XDG_CONFIG_HOME: '/ignored-on-mac' });
    const macFiles = Object.fromEntries(configSources(mac).map((s) => [s.label, s.file]));
    assert.equal(macFiles['Claude Desktop'], join(mac.home, 'Library', 'Application Support', 'Claude', 'claude_desktop_config.json'));
    assert.equal(macFiles['VS Code (user)'], join(mac.home, 'Library', 'Application Support', 'Code', 'User', 'mcp.json'));
    assert.equal(macFiles['Zed'], join(mac.home, '.config', 'zed', 'settings.json'));

    const win = machine('win32', { APPDATA: '/appdata' });
    const winFiles = Object.fromEntries(configSources(win).map((s) => [s.label, s.file]));
    assert.equal(winFiles['Claude Desktop'], join('/appdata', 'Claude', 'claude_desktop_config.json'));
    assert.equal(winFiles['VS Code (user)'], join('/appdata', 'Code', 'User', 'mcp.json'));
    assert.equal(winFiles['Zed'], join('/appdata', 'Zed', 'settings.json'));
    // Without APPDATA, its default location under the profile.
    const bare = Object.fromEntries(configSources({ ...win, env: {} }).map((s) => [s.label, s.file]));
    assert.equal(bare['Claude Desktop'], join(win.home, 'AppData', 'Roaming', 'Claude', 'claude_desktop_config.json'));
  });

  it('reads Claude Desktop from the platform location it computed', () => {
    const mac = machine('darwin');
    mac.put('~/Library/Application Support/Claude/claude_desktop_config.json', { mcpServers: { time: { command: 'uvx', args: ['mcp-server-time'] } } });
    assert.deepEqual(summary(discoverServers(mac)), [['time', 'stdio', 'Claude Desktop']]);

    const win = machine('win32');
    const appdata = join(win.home, 'AppData', 'Roaming');
    win.env = { APPDATA: appdata };
    win.put(join(appdata, 'Claude', 'claude_desktop_config.json'), { mcpServers: { time: { command: 'uvx', args: ['mcp-server-time'] } } });
    assert.deepEqual(summary(discoverServers(win)), [['time', 'stdio', 'Claude Desktop']]);
    // The same file is not where Linux looks.
    assert.deepEqual(discoverServers({ ...win, platform: 'linux' }).servers, []);
  });
});

describe('discovery across clients', () => {
  /** One realistic machine with every client configured. */
  function everyClient(): ReturnType<typeof machine> {
    const m = machine('linux');
    m.put('~/.config/Claude/claude_desktop_config.json', {
      mcpServers: {
        filesystem: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/home/alice/Documents', '/home/alice/Desktop'] },
        memory: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-memory'] },
      },
      globalShortcut: 'Ctrl+Space',
    });
    m.put('~/.claude.json', {
      numStartups: 42,
      mcpServers: { sentry: { type: 'http', url: 'https://mcp.sentry.dev/mcp' } },
      projects: {
        [m.cwd]: {
          allowedTools: [],
          mcpServers: { 'shop-db': { type: 'stdio', command: 'node', args: ['scripts/db-mcp.js'], env: {} } },
        },
        '/some/other/project': { mcpServers: { elsewhere: { command: 'nope' } } },
      },
    });
    m.put('./.mcp.json', { mcpServers: { playwright: { command: 'npx', args: ['@playwright/mcp@latest'] } } });
    m.put('~/.cursor/mcp.json', {
      mcpServers: {
        fs: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/home/alice/Documents', '/home/alice/Desktop'] },
        linear: { url: 'https://mcp.linear.app/sse' },
      },
    });
    m.put('./.cursor/mcp.json', { mcpServers: { 'shop api': { url: 'http://localhost:8080/mcp' } } });
    m.put(
      '~/.config/Code/User/mcp.json',
      `{
  // user-level servers
  "servers": {
    "fetch": { "type": "stdio", "command": "uvx", "args": ["mcp-server-fetch"] },
  },
}`,
    );
    m.put(
      './.vscode/mcp.json',
      `{
  "inputs": [{ "type": "promptString", "id": "github_token", "description": "GitHub PAT", "password": true }],
  "servers": {
    /* the hosted GitHub server */
    "github": { "type": "http", "url": "https://api.githubcopilot.com/mcp/", "headers": { "Authorization": "Bearer \${input:github_token}" } },
    "docs": { "type": "sse", "url": "http://localhost:3001/events" }
  }
}`,
    );
    m.put('~/.codeium/windsurf/mcp_config.json', {
      mcpServers: {
        deepwiki: { serverUrl: 'https://mcp.deepwiki.com/mcp' },
        legacy: { command: 'legacy-mcp', disabled: true },
      },
    });
    m.put(
      '~/.gemini/settings.json',
      `{
  "theme": "Dracula", // Gemini allows comments too
  "mcpServers": {
    "stripe-events": { "url": "https://mcp.example.org/events" },
    "context7": { "httpUrl": "https://mcp.context7.com/mcp" }
  }
}`,
    );
    m.put(
      '~/.config/zed/settings.json',
      `// Zed settings
{
  "ui_font_size": 16,
  "context_servers": {
    "postgres": { "command": { "path": "npx", "args": ["-y", "@modelcontextprotocol/server-postgres"], "env": {} }, "settings": {} },
    "git": { "source": "custom", "command": "uvx", "args": ["mcp-server-git"], "env": {} },
    "remote-zed": { "url": "https://zed.example.com/mcp" },
    "mcp-server-context7": { "source": "extension", "settings": {} },
    "off": { "command": "off-mcp", "enabled": false },
  },
}`,
    );
    return m;
  }

  it('finds every configured server, in source order, with its transport', () => {
    const r = discoverServers(everyClient());
    assert.deepEqual(r.problems, []);
    assert.deepEqual(summary(r), [
      ['filesystem', 'stdio', 'Claude Desktop'],
      ['memory', 'stdio', 'Claude Desktop'],
      ['sentry', 'streamable_http', 'Claude Code (user)'],
      ['shop-db', 'stdio', 'Claude Code (user)'],
      ['playwright', 'stdio', 'Claude Code (project)'],
      ['linear', 'sse', 'Cursor (user)'],
      ['shop-api', 'streamable_http', 'Cursor (project)'],
      ['fetch', 'stdio', 'VS Code (user)'],
      ['github', 'streamable_http', 'VS Code (workspace)'],
      ['docs', 'sse', 'VS Code (workspace)'],
      ['deepwiki', 'streamable_http', 'Windsurf'],
      ['stripe-events', 'sse', 'Gemini CLI (user)'],
      ['context7', 'streamable_http', 'Gemini CLI (user)'],
      ['postgres', 'stdio', 'Zed'],
      ['git', 'stdio', 'Zed'],
      ['remote-zed', 'streamable_http', 'Zed'],
    ]);
  });

  it('takes only the current project from ~/.claude.json and says where', () => {
    const m = everyClient();
    const r = discoverServers(m);
    const db = byName(r, 'shop-db');
    assert.equal(db.source.where, `projects[${JSON.stringify(m.cwd)}].mcpServers`);
    assert.deepEqual([db.command, db.args], ['node', ['scripts/db-mcp.js']]);
    assert.ok(!r.servers.some((s) => s.name === 'elsewhere'));
  });

  it('keeps one server for the same command and args, under the first name', () => {
    const r = discoverServers(everyClient());
    const fs = byName(r, 'filesystem');
    assert.equal(fs.source.label, 'Claude Desktop');
    assert.deepEqual(
      fs.duplicates.map((d) => [d.label, d.key]),
      [['Cursor (user)', 'fs']],
    );
    assert.ok(!r.servers.some((s) => s.name === 'fs'));
  });

  it('reports skipped entries as notes, not problems', () => {
    const r = discoverServers(everyClient());
    const notes = r.notes.map((n) => `${n.server}: ${n.message}`);
    assert.deepEqual(notes, [
      'legacy: skipped: disabled in the client',
      'mcp-server-context7: skipped: managed by a Zed extension (no command or url in settings)',
      'off: skipped: disabled in the client',
    ]);
  });

  it('maps the legacy nested Zed command', () => {
    const pg = byName(discoverServers(everyClient()), 'postgres');
    assert.deepEqual([pg.command, pg.args], ['npx', ['-y', '@modelcontextprotocol/server-postgres']]);
  });

  it('reads a file once when the project is the home directory', () => {
    const m = machine();
    m.put('~/.cursor/mcp.json', { mcpServers: { a: { command: 'a-mcp' } } });
    m.put('~/.gemini/settings.json', { mcpServers: { b: { httpUrl: 'https://b.example.com/mcp' } } });
    const r = discoverServers({ ...m, cwd: m.home });
    assert.deepEqual(summary(r), [
      ['a', 'stdio', 'Cursor (user)'],
      ['b', 'streamable_http', 'Gemini CLI (user)'],
    ]);
    assert.deepEqual(r.servers[0]!.duplicates, []);
    assert.equal(r.checked.filter((c) => c.file === join(m.home, '.cursor', 'mcp.json')).length, 1);
  });

  it('lists every place it looked and whether the file was there', () => {
    const m = machine();
    m.put('~/.cursor/mcp.json', { mcpServers: {} });
    const r = discoverServers(m);
    assert.equal(r.checked.length, configSources(m).length);
    assert.deepEqual(
      r.checked.filter((c) => c.exists).map((c) => c.label),
      ['Cursor (user)'],
    );
  });
});

describe('entry mapping', () => {
  const rows: Array<[string, Record<string, unknown>, string]> = [
    ['command only', { command: 'x-mcp' }, 'stdio'],
    ['url', { url: 'https://a.example.com/mcp' }, 'streamable_http'],
    ['url ending in /sse', { url: 'https://a.example.com/v1/sse' }, 'sse'],
    ['url ending in /sse/ with a query', { url: 'https://a.example.com/sse/?x=1' }, 'sse'],
    ['url ending in /SSE (the failed-probe hint reads it as /sse too)', { url: 'https://a.example.com/SSE' }, 'sse'],
    ['url still holding an ${env:} host, ending in /sse', { url: '${env:MCP_HOST}/sse?x=1' }, 'sse'],
    ['url with sse elsewhere in its path', { url: 'https://a.example.com/sse/mcp' }, 'streamable_http'],
    ['type sse on any path', { type: 'sse', url: 'https://a.example.com/events' }, 'sse'],
    ['transport sse', { transport: 'sse', url: 'https://a.example.com/events' }, 'sse'],
    ['type http on an /sse path', { type: 'http', url: 'https://a.example.com/sse' }, 'streamable_http'],
    ['type streamable-http', { type: 'streamable-http', url: 'https://a.example.com/mcp' }, 'streamable_http'],
    ['serverUrl', { serverUrl: 'https://a.example.com/mcp' }, 'streamable_http'],
    ['httpUrl', { httpUrl: 'https://a.example.com/mcp' }, 'streamable_http'],
    ['type stdio', { type: 'stdio', command: 'x-mcp', args: ['--port', 3] }, 'stdio'],
  ];
  for (const [label, entry, transport] of rows) {
    it(`${label} → ${transport}`, () => {
      const m = machine();
      m.put('~/.cursor/mcp.json', { mcpServers: { s: entry } });
      const r = discoverServers(m);
      assert.deepEqual(r.problems, []);
      assert.equal(r.servers.length, 1);
      assert.equal(r.servers[0]!.transport, transport);
    });
  }

  it('gives apart a command written with its arguments in one string (a shell line), so a secret among them is caught; an executable of that whole name stays', () => {
    const m = machine('linux', { PATH: dirname(process.execPath) });
    const spaced = join(m.cwd, 'my server');
    writeFileSync(spaced, '#!/bin/sh\n');
    chmodSync(spaced, 0o755);
    m.put('~/.cursor/mcp.json', {
      mcpServers: {
        line: { command: `node '/opt/my server.js' --api-key "sk-live-0123456789abcdef" -v`, args: ['--extra'] },
        spaced: { command: spaced },
        elsewhere: { command: 'no-such-runner pkg --token sk-live-abcdef0123456789' },
      },
    });
    const r = discoverServers(m);
    assert.deepEqual([byName(r, 'line').command, byName(r, 'line').args], ['node', ['/opt/my server.js', '--api-key', '${env:LINE_API_KEY}', '-v', '--extra']]);
    assert.deepEqual([byName(r, 'spaced').command, byName(r, 'spaced').args], [spaced, []]);
    // A runner this machine does not have (the file may be for another): given apart all the same,
    // so the token among its words is withheld too.
    assert.deepEqual([byName(r, 'elsewhere').command, byName(r, 'elsewhere').args], ['no-such-runner', ['pkg', '--token', '${env:ELSEWHERE_TOKEN}']]);
    assert.ok(!JSON.stringify(r).includes('sk-live-0123456789abcdef'), 'the secret is withheld');
    assert.ok(!JSON.stringify(r).includes('sk-live-abcdef0123456789'), 'the secret is withheld');
    assert.deepEqual(r.notes.filter((n) => n.server === 'line').map((n) => n.message), ['command "node" is written with its arguments in one string: they are given apart in args']);
  });

  it('reads Gemini CLI url as SSE and httpUrl as Streamable HTTP', () => {
    const m = machine();
    m.put('~/.gemini/settings.json', { mcpServers: { a: { url: 'https://a.example.com/mcp' }, b: { httpUrl: 'https://b.example.com/mcp' } } });
    assert.deepEqual(
      discoverServers(m).servers.map((s) => [s.name, s.transport]),
      [
        ['a', 'sse'],
        ['b', 'streamable_http'],
      ],
    );
  });

  it('keeps cwd, resolving a relative one against the project', () => {
    const m = machine();
    m.put('~/.gemini/settings.json', { mcpServers: { rel: { command: 'python', args: ['server.py'], cwd: './tools' }, abs: { command: 'python', args: ['other.py'], cwd: '/srv/mcp' } } });
    const r = discoverServers(m);
    assert.equal(byName(r, 'rel').cwd, join(m.cwd, 'tools'));
    assert.equal(byName(r, 'abs').cwd, '/srv/mcp');
  });

  it('reads a leading ~ in command and cwd as the home directory, since nothing expands it later', () => {
    const m = machine();
    m.put('./.mcp.json', { mcpServers: { t: { command: '~/bin/mcp-t', args: ['~/data'], cwd: '~/proj' }, h: { command: 'mcp-h', cwd: '~' } } });
    const r = discoverServers(m);
    assert.equal(byName(r, 't').command, join(m.home, 'bin', 'mcp-t'));
    assert.equal(byName(r, 't').cwd, join(m.home, 'proj'));
    assert.equal(byName(r, 'h').cwd, m.home);
    // An argument is the server's to read: some take a literal ~ (a glob, a pattern).
    assert.deepEqual(byName(r, 't').args, ['~/data']);
  });

  it('sanitises names and suffixes a clash between different servers', () => {
    const m = machine();
    m.put('~/.config/Claude/claude_desktop_config.json', {
      mcpServers: { github: { command: 'github-mcp-server', args: ['stdio'] }, 'brave search': { command: 'brave' }, '@acme/tools (beta)': { command: 'acme' } },
    });
    m.put('./.vscode/mcp.json', { servers: { github: { type: 'http', url: 'https://api.githubcopilot.com/mcp/' }, 'github-2': { type: 'http', url: 'https://gh2.example.com/mcp' } } });
    const r = discoverServers(m);
    assert.deepEqual(
      r.servers.map((s) => s.name),
      ['github', 'brave-search', 'acme/tools-beta', 'github-2', 'github-2-2'],
    );
    assert.equal(byName(r, 'github-2').url, 'https://api.githubcopilot.com/mcp/');
    assert.equal(sanitiseName('  '), 'server');
    assert.equal(sanitiseName('a..b:c/d_e'), 'a..b:c/d_e');
  });

  it('treats the same URL written twice as one server', () => {
    const m = machine();
    m.put('~/.cursor/mcp.json', { mcpServers: { linear: { url: 'https://mcp.linear.app/sse' } } });
    m.put('~/.codeium/windsurf/mcp_config.json', { mcpServers: { 'linear-ws': { serverUrl: 'https://MCP.linear.app/sse/' } } });
    const r = discoverServers(m);
    assert.deepEqual(summary(r), [['linear', 'sse', 'Cursor (user)']]);
    assert.deepEqual(r.servers[0]!.duplicates.map((d) => d.key), ['linear-ws']);
  });

  it("keeps a duplicate's credentials that the kept entry lacks, and says which differ", () => {
    const m = machine();
    m.put('~/.cursor/mcp.json', { mcpServers: { linear: { url: 'https://mcp.linear.app/mcp', headers: { 'X-Team': 'core' } } } });
    m.put('~/.codeium/windsurf/mcp_config.json', { mcpServers: { 'linear-ws': { serverUrl: 'https://mcp.linear.app/mcp', headers: { Authorization: 'Bearer lin_secret_1', 'x-team': 'core' } } } });
    const r = discoverServers(m);
    assert.equal(r.servers.length, 1);
    const linear = r.servers[0]!;
    assert.deepEqual(Object.keys(linear.headers).sort(), ['Authorization', 'X-Team']);
    assert.equal(linear.headers['X-Team'], 'core', "the kept entry's own value stays");
    assert.ok(!JSON.stringify(linear).includes('lin_secret_1'), 'the added token is a reference, as any secret');
    assert.deepEqual(
      r.notes.filter((n) => n.server === 'linear-ws').map((n) => n.message),
      ['the same server as one kept from another file: its header Authorization is added to it'],
    );
  });

  it("takes nothing from a duplicate configured differently: one entry's token would go with the other's settings", () => {
    const m = machine();
    // The same command for two GitHub hosts: the enterprise entry's host must not get the personal token.
    m.put('~/.cursor/mcp.json', { mcpServers: { github: { command: 'github-mcp-server', args: ['stdio'], env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'ghp_personal000000000000000000000000000' } } } });
    m.put('~/.codeium/windsurf/mcp_config.json', {
      mcpServers: { 'github-work': { command: 'github-mcp-server', args: ['stdio'], env: { GITHUB_PERSONAL_ACCESS_TOKEN: 'ghp_work00000000000000000000000000000000', GITHUB_HOST: 'https://ghe.example.com' } } },
    });
    // Header names differ in case only: two Authorization headers would send the duplicate's token.
    m.put('./.mcp.json', { mcpServers: { linear: { type: 'http', url: 'https://mcp.linear.app/mcp', headers: { authorization: 'Bearer lin_secret_1' } } } });
    m.put('~/.gemini/settings.json', { mcpServers: { 'linear-2': { httpUrl: 'https://mcp.linear.app/mcp', headers: { Authorization: 'Bearer lin_secret_2', 'X-Team': 'web' } } } });
    const r = discoverServers(m);
    assert.deepEqual(Object.keys(byName(r, 'github').env), ['GITHUB_PERSONAL_ACCESS_TOKEN'], 'GITHUB_HOST is not added');
    assert.deepEqual(Object.keys(byName(r, 'linear').headers), ['authorization'], 'neither a second Authorization nor X-Team is added');
    assert.deepEqual(
      r.notes.filter((n) => n.server === 'github-work' || n.server === 'linear-2').map((n) => [n.server, n.message]),
      [
        ['github-work', 'the same server as one kept from another file, configured differently (env GITHUB_PERSONAL_ACCESS_TOKEN differs): nothing of it is added to the kept one'],
        ['linear-2', 'the same server as one kept from another file, configured differently (header Authorization differs): nothing of it is added to the kept one'],
      ],
    );
  });

  it('turns editor variables into values and VS Code inputs into env references', () => {
    const m = machine();
    m.put(
      './.vscode/mcp.json',
      JSON.stringify({
        inputs: [{ type: 'promptString', id: 'api-key', password: true }],
        servers: {
          local: { type: 'stdio', command: '${userHome}/.local/bin/mcp', args: ['${workspaceFolder}/data', '--key', '${input:api-key}', '${command:pickFile}'], env: { API_KEY: '${input:api-key}' } },
        },
      }),
    );
    const r = discoverServers(m);
    const s = byName(r, 'local');
    assert.equal(s.command, `${m.home}/.local/bin/mcp`);
    assert.deepEqual(s.args, [`${m.cwd}/data`, '--key', '${env:API_KEY}', '${command:pickFile}']);
    assert.deepEqual(s.env, { API_KEY: '${env:API_KEY}' });
    assert.ok(r.notes.some((n) => n.server === 'local' && n.message.includes('${command:pickFile}')), JSON.stringify(r.notes));
  });

  it('writes an env reference mcpwatch cannot expand as the literal text it was, so the file it writes loads', () => {
    const m = machine();
    m.put('~/.cursor/mcp.json', { mcpServers: { odd: { command: 'odd-mcp', args: ['${env:ODD-NAME}', '${env:OK}'] } } });
    const r = discoverServers(m);
    assert.deepEqual(byName(r, 'odd').args, ['$${env:ODD-NAME}', '${env:OK}']);
    assert.ok(r.notes.some((n) => n.server === 'odd' && n.message.includes('${env:ODD-NAME}')), JSON.stringify(r.notes));
    const cfg = parseConfig(`servers:\n  - { name: odd, transport: stdio, command: odd-mcp, args: ${JSON.stringify(byName(r, 'odd').args)} }\n`, 'mcpwatch.yaml', { OK: 'yes' });
    assert.deepEqual(cfg.servers[0]!.args, ['${env:ODD-NAME}', 'yes']);
  });
});

describe('secrets', () => {
  const SECRETS = [
    'ghp_R3alLookingGitHubToken0123456789ab',
    'sk-live-0123456789abcdefABCDEF',
    'lin_api_linearSecret123456',
    'hunter2-db-password',
    'xoxb-1234-5678-slackbot',
    'q9Xv2LmN8pR4tZ7wK1yB5cD3',
    'plain-env-secret',
    'brave-key-BSA12345',
    'query-secret-999',
  ];

  function secretMachine(): ReturnType<typeof machine> {
    const m = machine();
    m.put('~/.config/Claude/claude_desktop_config.json', {
      mcpServers: {
        github: {
          command: 'docker',
          args: ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', '-e', `GITHUB_HOST_TOKEN=${SECRETS[0]}`, 'ghcr.io/github/github-mcp-server'],
          env: { GITHUB_PERSONAL_ACCESS_TOKEN: SECRETS[0], GITHUB_TOOLSETS: 'repos,issues' },
        },
        brave: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-brave-search', '--api-key', SECRETS[7], '--token-file', '/etc/brave/token'] },
        postgres: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-postgres', `postgresql://app:${SECRETS[3]}@db.internal:5432/app`] },
        slack: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-slack', `--bot-token=${SECRETS[4]}`], env: { SLACK_TEAM_ID: 'T01234', EMPTY: '' } },
        remote: { command: 'npx', args: ['mcp-remote', 'https://mcp.example.com/sse', '--header', `Authorization: Bearer ${SECRETS[1]}`] },
      },
    });
    m.put('~/.cursor/mcp.json', {
      mcpServers: {
        stripe: { url: 'https://mcp.stripe.com', headers: { Authorization: `Bearer ${SECRETS[1]}`, 'X-Stripe-Account': 'acct_public', 'X-Request-Source': SECRETS[5] } },
        linear: { url: `https://mcp.linear.app/mcp?api_key=${SECRETS[8]}&team=core`, headers: { 'x-api-key': SECRETS[2] } },
        kept: { url: 'https://kept.example.com/mcp', headers: { Authorization: 'Bearer ${KEPT_TOKEN}', 'X-Api-Key': '${env:KEPT_KEY}' }, type: 'http' },
      },
    });
    m.put('~/.gemini/settings.json', { mcpServers: { gem: { command: 'gem-mcp', env: { API_KEY: '$MY_API_TOKEN', OTHER: `${SECRETS[6]}`, PORT: '${PORT:-8080}' } } } });
    return m;
  }

  it('never lets a secret value into the result', () => {
    const r = discoverServers(secretMachine());
    assert.deepEqual(r.problems, []);
    const text = JSON.stringify(r);
    for (const secret of SECRETS) assert.ok(!text.includes(secret), `secret ${secret} leaked: ${text}`);
  });

  it('writes every env value as a reference to the variable of the same name', () => {
    const r = discoverServers(secretMachine());
    assert.deepEqual(byName(r, 'github').env, { GITHUB_PERSONAL_ACCESS_TOKEN: '${env:GITHUB_PERSONAL_ACCESS_TOKEN}', GITHUB_TOOLSETS: '${env:GITHUB_TOOLSETS}' });
    assert.deepEqual(byName(r, 'slack').env, { SLACK_TEAM_ID: '${env:SLACK_TEAM_ID}', EMPTY: '' });
    // Existing references are kept (and written in mcpwatch's ${env:} form); a default survives.
    assert.deepEqual(byName(r, 'gem').env, { API_KEY: '${env:MY_API_TOKEN}', OTHER: '${env:OTHER}', PORT: '${env:PORT:-8080}' });
  });

  it('replaces credential headers, keeping a Bearer prefix and plain headers', () => {
    const r = discoverServers(secretMachine());
    assert.deepEqual(byName(r, 'stripe').headers, {
      Authorization: 'Bearer ${env:STRIPE_TOKEN}',
      'X-Stripe-Account': 'acct_public',
      // Not a credential by its name, but by its shape.
      'X-Request-Source': '${env:STRIPE_X_REQUEST_SOURCE}',
    });
    assert.deepEqual(byName(r, 'linear').headers, { 'x-api-key': '${env:LINEAR_X_API_KEY}' });
    assert.deepEqual(byName(r, 'kept').headers, { Authorization: 'Bearer ${env:KEPT_TOKEN}', 'X-Api-Key': '${env:KEPT_KEY}' });
  });

  it('replaces credentials in arguments and URLs', () => {
    const r = discoverServers(secretMachine());
    assert.deepEqual(byName(r, 'github').args, ['run', '-i', '--rm', '-e', 'GITHUB_PERSONAL_ACCESS_TOKEN', '-e', 'GITHUB_HOST_TOKEN=${env:GITHUB_HOST_TOKEN}', 'ghcr.io/github/github-mcp-server']);
    assert.deepEqual(byName(r, 'brave').args, ['-y', '@modelcontextprotocol/server-brave-search', '--api-key', '${env:BRAVE_API_KEY}', '--token-file', '/etc/brave/token']);
    assert.deepEqual(byName(r, 'postgres').args.at(-1), 'postgresql://app:${env:POSTGRES_PASSWORD}@db.internal:5432/app');
    assert.deepEqual(byName(r, 'slack').args.at(-1), '--bot-token=${env:SLACK_BOT_TOKEN}');
    assert.deepEqual(byName(r, 'remote').args, ['mcp-remote', 'https://mcp.example.com/sse', '--header', 'Authorization: Bearer ${env:REMOTE_TOKEN}']);
    assert.equal(byName(r, 'linear').url, 'https://mcp.linear.app/mcp?api_key=${env:LINEAR_API_KEY}&team=core');
  });

  it('lists the variables to set, with who uses them and whether a value was withheld', () => {
    const r = discoverServers(secretMachine());
    const vars = Object.fromEntries(r.envVars.map((v) => [v.name, v]));
    assert.deepEqual(vars.STRIPE_TOKEN, { name: 'STRIPE_TOKEN', usedBy: ['stripe: header Authorization'], replacedLiteral: true });
    assert.deepEqual(vars.KEPT_TOKEN, { name: 'KEPT_TOKEN', usedBy: ['kept: header Authorization'], replacedLiteral: false });
    assert.deepEqual(vars.MY_API_TOKEN?.replacedLiteral, false);
    // A reference with a default needs nothing set.
    assert.equal(vars.PORT, undefined);
    assert.deepEqual(
      r.envVars.map((v) => v.name),
      [
        'BRAVE_API_KEY',
        'GITHUB_HOST_TOKEN',
        'GITHUB_PERSONAL_ACCESS_TOKEN',
        'GITHUB_TOOLSETS',
        'KEPT_KEY',
        'KEPT_TOKEN',
        'LINEAR_API_KEY',
        'LINEAR_X_API_KEY',
        'MY_API_TOKEN',
        'OTHER',
        'POSTGRES_PASSWORD',
        'REMOTE_TOKEN',
        'SLACK_BOT_TOKEN',
        'SLACK_TEAM_ID',
        'STRIPE_TOKEN',
        'STRIPE_X_REQUEST_SOURCE',
      ],
    );
  });

  it('warns when one variable name held different values in two servers', () => {
    const m = machine();
    m.put('~/.cursor/mcp.json', { mcpServers: { a: { command: 'a-mcp', env: { API_KEY: 'first-value' } }, b: { command: 'b-mcp', env: { API_KEY: 'second-value' } }, c: { command: 'c-mcp', env: { API_KEY: 'first-value' } } } });
    const r = discoverServers(m);
    assert.deepEqual(
      r.notes.map((n) => n.message),
      ['API_KEY held different values in different servers (a, b, c); one variable cannot hold both: rename it in mcpwatch.yaml for one of them'],
    );
    assert.ok(!JSON.stringify(r).includes('first-value'));
  });

  it('derives environment variable names from client names', () => {
    assert.equal(envName('github-token'), 'GITHUB_TOKEN');
    assert.equal(envName('2fa'), 'MCP_2FA');
  });
});

describe('malformed client files', () => {
  it('reports a file with bad JSON by line and column and keeps the other sources', () => {
    const m = machine();
    const bad = m.put('~/.cursor/mcp.json', '{\n  "mcpServers": {\n    "a": { "command": "a" }\n    "b": { "command": "b" }\n  }\n}\n');
    m.put('~/.codeium/windsurf/mcp_config.json', { mcpServers: { ok: { command: 'ok-mcp' } } });
    const r = discoverServers(m);
    assert.deepEqual(summary(r), [['ok', 'stdio', 'Windsurf']]);
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]!.file, bad);
    assert.equal(r.problems[0]!.client, 'cursor');
    assert.match(r.problems[0]!.reason, /^invalid JSON: line 4, column 5: /);
  });

  it('reports comments in a strict-JSON client and accepts them in VS Code', () => {
    const m = machine();
    const body = '{\n  // my servers\n  "mcpServers": { "a": { "command": "a-mcp", }, },\n}\n';
    m.put('~/.config/Claude/claude_desktop_config.json', body);
    m.put('./.vscode/mcp.json', body.replace('mcpServers', 'servers'));
    const r = discoverServers(m);
    assert.deepEqual(summary(r), [['a', 'stdio', 'VS Code (workspace)']]);
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]!.client, 'claude-desktop');
    assert.match(r.problems[0]!.reason, /line 2, column 3: .*\(this client does not allow comments\)$/);
  });

  it('reports wrong shapes per file and per entry, and keeps the good entries', () => {
    const m = machine();
    m.put('~/.config/Claude/claude_desktop_config.json', { mcpServers: ['not', 'a', 'map'] });
    m.put('~/.cursor/mcp.json', {
      mcpServers: {
        good: { command: 'good-mcp' },
        str: 'npx something',
        nothing: { description: 'no command, no url' },
        badArgs: { command: 'x', args: 'one two' },
        badEnv: { command: 'x', env: { NESTED: { a: 1 } } },
        ws: { type: 'ws', url: 'ws://localhost:9000' },
        ftp: { url: 'ftp://example.com/mcp' },
      },
    });
    m.put('~/.gemini/settings.json', '[1, 2]');
    mkdirSync(join(m.home, '.codeium', 'windsurf', 'mcp_config.json'), { recursive: true });
    const r = discoverServers(m);
    assert.deepEqual(summary(r), [['good', 'stdio', 'Cursor (user)']]);
    assert.deepEqual(
      r.problems.map((p) => [p.client, p.server ?? null, p.reason]),
      [
        ['claude-desktop', null, 'mcpServers must be an object mapping server names to settings'],
        ['cursor', 'str', 'entry must be an object'],
        ['cursor', 'nothing', 'has neither command nor url'],
        ['cursor', 'badArgs', 'args must be an array of strings'],
        ['cursor', 'badEnv', 'env.NESTED must be a string'],
        ['cursor', 'ws', 'unsupported transport type "ws" (mcpwatch probes stdio, sse and streamable_http)'],
        ['cursor', 'ftp', 'url: must be an http(s) URL (got scheme "ftp:")'],
        ['windsurf', null, 'cannot read: is a directory'],
        ['gemini', null, 'expected a JSON object at the top level, got an array'],
      ],
    );
  });

  it('treats an empty file as no servers and a missing file as not there', () => {
    const m = machine();
    m.put('./.vscode/mcp.json', '   \n');
    const r = discoverServers(m);
    assert.deepEqual(r.servers, []);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(
      r.checked.filter((c) => c.exists).map((c) => c.label),
      ['VS Code (workspace)'],
    );
  });
});

describe('JSON with comments', () => {
  it('blanks comments and trailing commas but nothing inside strings', () => {
    const text = `{
  // line comment
  "url": "https://example.com/a//b", /* block */
  "quote": "say \\"hi\\" // not a comment",
  "glob": "/* not a comment */",
  "list": [1, 2, /* x */ 3,],
  "obj": { "a": 1, },
}`;
    const stripped = stripJsonc(text);
    assert.equal(stripped.length, text.length);
    assert.equal(stripped.split('\n').length, text.split('\n').length);
    assert.deepEqual(JSON.parse(stripped), {
      url: 'https://example.com/a//b',
      quote: 'say "hi" // not a comment',
      glob: '/* not a comment */',
      list: [1, 2, 3],
      obj: { a: 1 },
    });
  });

  it('keeps a comma before a closing bracket inside a string', () => {
    assert.deepEqual(parseJsonText('{ "a": ",]", "b": ",}" }', true), { a: ',]', b: ',}' });
  });

  it('rejects an unterminated block comment and strict JSON with comments', () => {
    assert.throws(() => parseJsonText('{ /* open', true), /unterminated \/\* comment/);
    assert.throws(() => parseJsonText('{ "a": 1, }', false), /line 1, column 11/);
    assert.deepEqual(parseJsonText('\ufeff{ "a": 1 }', false), { a: 1 });
  });
});
