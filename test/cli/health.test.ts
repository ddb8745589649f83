import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { alive, CLI, STDIO_FIXTURE } from '../helpers.js';
import type { ServerJson } from '../../src/pipeline/server-view.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function mcpwatch(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

type JsonServer = ServerJson;

/**
 * For an ad-hoc target that must answer: a deadline far beyond any probe here (the default is 5 s),
 * so a loaded machine slows the test down but never turns a healthy fixture into a timeout.
 */
const PATIENT = ['--timeout', '60s'];

describe('mcpwatch health', () => {
  let http: HttpFixture;
  let dir: string;
  let config: string;

  before(async () => {
    http = await startHttpFixture('streamable');
    dir = mkdtempSync(join(tmpdir(), 'mcpwatch-cli-'));
    config = join(dir, 'mcpwatch.yaml');
    // A deadline far beyond any probe here, so a loaded machine slows the run down but never turns a
    // healthy fixture into a timeout.
    writeFileSync(
      config,
      `monitoring:
  timeout: 60s
servers:
  - name: healthy-stdio
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(STDIO_FIXTURE)}, ok]
    tags: [critical, "team:data"]
  - name: crashing
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(STDIO_FIXTURE)}, exit-at-start]
    tags: ["team:data"]
  - name: notes
    transport: streamable_http
    url: ${http.url}
    tags: [critical, "team:platform"]
  - name: slow
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(STDIO_FIXTURE)}, slow]
    env: { SLOW_MS: "200" }
    thresholds: { latency_warning: 50ms }
`,
    );
  });
  after(async () => {
    await http.close();
  });

  it('prints the table and one line per problem, exit 1', async () => {
    const r = await mcpwatch(['health', '-c', config]);
    assert.equal(r.code, 1, r.stderr);
    for (const header of ['Server', 'Transport', 'Status', 'Latency', 'Tools', 'Notes']) assert.ok(r.stdout.includes(header), header);
    // Latencies print as fmtMs does (`237ms`, `8.4ms`, or `1.01s` for a slow answer on a busy machine).
    const latency = String.raw`\d+(?:\.\d+)?m?s`;
    assert.match(r.stdout, new RegExp(String.raw`│ healthy-stdio\s+│ stdio\s+│ UP\s+│ ${latency}\s+│ 3\s+│`));
    assert.match(r.stdout, /^CRITICAL crashing DOWN — exited with code 3: boom: missing DATABASE_URL$/m);
    assert.match(r.stdout, new RegExp(String.raw`^WARNING slow DEGRADED — latency ${latency} over warning threshold 50ms$`, 'm'));
    assert.match(r.stdout, /^2\/4 up$/m);
    assert.doesNotMatch(r.stdout, /\u001b\[/, 'no colour codes when stdout is not a terminal');
  });

  it('colours the status when asked to (as on a terminal), never with NO_COLOR', async () => {
    const coloured = await mcpwatch(['health', '-c', config, '--server', 'crashing'], { NO_COLOR: undefined, FORCE_COLOR: '1' });
    assert.match(coloured.stdout, /\u001b\[31mDOWN\u001b\[39m/, 'DOWN in red');
    const plain = await mcpwatch(['health', '-c', config, '--server', 'crashing'], { NO_COLOR: '1', FORCE_COLOR: undefined });
    assert.doesNotMatch(plain.stdout, /\u001b\[/);
  });

  it('prints JSON with every documented field', async () => {
    const r = await mcpwatch(['health', '-c', config, '--json']);
    assert.equal(r.code, 1);
    const { servers } = JSON.parse(r.stdout) as { servers: JsonServer[] };
    assert.deepEqual(servers.map((s) => [s.name, s.status]), [['healthy-stdio', 'up'], ['crashing', 'down'], ['notes', 'up'], ['slow', 'degraded']]);
    const ok = servers[0]!;
    assert.deepEqual(Object.keys(ok), ['name', 'transport', 'status', 'latency_ms', 'tools', 'protocol_version', 'era', 'server_info', 'tags', 'phases', 'notes', 'error', 'checks']);
    assert.deepEqual(ok.checks, []);
    assert.equal(ok.tools, 3);
    assert.equal(ok.protocol_version, '2025-11-25');
    assert.equal(ok.era, 'legacy');
    assert.deepEqual(ok.server_info, { name: 'fixture-healthy', version: '1.2.3' });
    assert.deepEqual(ok.tags, ['critical', 'team:data']);
    assert.equal(ok.error, null);
    assert.equal(typeof ok.phases.initialize, 'number');
    assert.deepEqual(servers[1]!.error, { type: 'process_exited', category: 'transient', phase: 'initialize', message: 'exited with code 3: boom: missing DATABASE_URL' });
    assert.equal(ok.tool_list, undefined);
  });

  it('adds the tool list with --verbose', async () => {
    const r = await mcpwatch(['health', '-c', config, '--json', '--verbose', '--server', 'notes']);
    assert.equal(r.code, 0, r.stderr);
    const { servers } = JSON.parse(r.stdout) as { servers: JsonServer[] };
    assert.equal(servers.length, 1);
    assert.deepEqual((servers[0]!.tool_list as Array<{ name: string }> | undefined)?.map((t) => t.name), ['echo', 'add', 'fail']);
  });

  it('selects by tag, filter and server; exit 0 when all selected are up', async () => {
    const byTag = await mcpwatch(['health', '-c', config, '--json', '--tag', 'critical']);
    assert.equal(byTag.code, 0);
    assert.deepEqual((JSON.parse(byTag.stdout) as { servers: JsonServer[] }).servers.map((s) => s.name), ['healthy-stdio', 'notes']);
    const byFilter = await mcpwatch(['health', '-c', config, '--json', '--filter', 'transport=stdio', '--filter', 'status!=up']);
    assert.equal(byFilter.code, 1);
    assert.deepEqual((JSON.parse(byFilter.stdout) as { servers: JsonServer[] }).servers.map((s) => s.name), ['crashing', 'slow']);
    const tagFilter = await mcpwatch(['health', '-c', config, '--json', '--filter', 'tag=team:platform']);
    assert.deepEqual((JSON.parse(tagFilter.stdout) as { servers: JsonServer[] }).servers.map((s) => s.name), ['notes']);
  });

  it('groups rows by a tag prefix', async () => {
    const r = await mcpwatch(['health', '-c', config, '--group-by', 'tag:team']);
    const data = r.stdout.indexOf('tag:team = data');
    const platform = r.stdout.indexOf('tag:team = platform');
    assert.ok(data >= 0 && platform > data, r.stdout);
    assert.ok(r.stdout.indexOf('notes') > platform);
  });

  it('probes ad-hoc targets: --url and --stdio', async () => {
    const url = await mcpwatch(['health', '--url', http.url, '--json', ...PATIENT]);
    assert.equal(url.code, 0, url.stderr);
    assert.equal((JSON.parse(url.stdout) as { servers: JsonServer[] }).servers[0]!.tools, 3);
    const stdio = await mcpwatch(['health', '--json', ...PATIENT, '--stdio', '--', process.execPath, STDIO_FIXTURE, 'paginated']);
    assert.equal(stdio.code, 0, stdio.stderr);
    assert.equal((JSON.parse(stdio.stdout) as { servers: JsonServer[] }).servers[0]!.tools, 25);
  });

  it('--url of a legacy SSE server (a path ending in /sse) is probed as SSE, as init would configure it; --transport still decides', async () => {
    const sse = await startHttpFixture('sse');
    try {
      assert.match(sse.url, /\/sse$/);
      const inferred = await mcpwatch(['health', '--url', sse.url, '--json', ...PATIENT]);
      assert.equal(inferred.code, 0, inferred.stdout + inferred.stderr);
      const [server] = (JSON.parse(inferred.stdout) as { servers: JsonServer[] }).servers;
      assert.equal(server!.transport, 'sse');
      assert.equal(server!.tools, 3);
      // An explicit choice wins over the path, as an explicit `type` does in init.
      const forced = await mcpwatch(['health', '--url', sse.url, '--transport', 'streamable_http', '--json', ...PATIENT]);
      assert.equal(forced.code, 1, forced.stderr);
      const [asStreamable] = (JSON.parse(forced.stdout) as { servers: JsonServer[] }).servers;
      assert.equal(asStreamable!.transport, 'streamable_http');
      assert.match(asStreamable!.error?.message ?? '', /set transport: sse \(with --url: --transport sse\)/);
    } finally {
      await sse.close();
    }
  });

  it('--timeout is the whole probe\'s deadline, a stdio server\'s start included (start_timeout is 60 s by default)', async () => {
    const deadlineMs = 1_000;
    const r = await mcpwatch(['health', '--json', '--timeout', '1s', '--stdio', '--', process.execPath, STDIO_FIXTURE, 'hang']);
    assert.equal(r.code, 1, r.stderr);
    const server = (JSON.parse(r.stdout) as { servers: JsonServer[] }).servers[0]!;
    assert.equal(server.error?.type, 'timeout');
    assert.equal(server.error?.message, `timeout after ${deadlineMs}ms waiting for server/discover`);
  });

  it('--timeout bounds the close too: a stdio server that ignores SIGTERM is killed at once, without its grace', async () => {
    // The server never answers, so the deadline is spent when the close begins. Before the fix the
    // close still gave it its grace (end of stdin, then SIGTERM, then SIGKILL), on top of the deadline.
    const pidFile = join(dir, 'stubborn.pid');
    const signalLog = join(dir, 'stubborn-signals.log');
    const file = join(dir, 'stubborn.yaml');
    writeFileSync(
      file,
      `servers:
  - name: stubborn
    transport: stdio
    command: ${JSON.stringify(process.execPath)}
    args: [${JSON.stringify(STDIO_FIXTURE)}, hang-stubborn]
    env: { PIDFILE: ${JSON.stringify(pidFile)}, SIGNAL_LOG: ${JSON.stringify(signalLog)} }
`,
    );
    const r = await mcpwatch(['health', '-c', file, '--json', '--timeout', '3s']);
    assert.equal(r.code, 1, r.stderr);
    const server = (JSON.parse(r.stdout) as { servers: JsonServer[] }).servers[0]!;
    assert.equal(server.error?.type, 'timeout');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(alive(pid), false, 'the server was killed before the command returned');
    assert.equal(existsSync(signalLog), false, 'no SIGTERM: no time was left to wait on one');
  });

  it('the stdio wave starts while a remote probe still waits on its server, so a hung remote and a hung stdio server cost one timeout', async () => {
    // The remote server holds its first request until the stdio server has started (it writes its pid
    // as it does), then refuses it with a 503. Before the fix the stdio wave waited for the remote
    // probe's end, so the request was held until --timeout ran out. Nothing here races a clock: with
    // the fix the run ends as soon as the stdio server starts, however long that takes.
    const pidFile = join(dir, 'waves.pid');
    let answered = 0;
    const held = new Set<NodeJS.Timeout>();
    const hung = createServer((req, res) => {
      req.resume();
      const refuse = (): void => {
        answered++;
        res.writeHead(503, { 'content-type': 'text/plain' }).end('held until the stdio server started');
      };
      if (answered > 0) return refuse();
      const poll = setInterval(() => {
        if (!existsSync(pidFile)) return;
        clearInterval(poll);
        held.delete(poll);
        refuse();
      }, 20);
      held.add(poll);
      // The response's close, not the request's: that comes once the body is read.
      res.once('close', () => {
        clearInterval(poll);
        held.delete(poll);
      });
    });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const file = join(dir, 'waves.yaml');
    writeFileSync(
      file,
      `servers:
  - name: stdio
    transport: stdio
    command: /bin/sh
    args: ["-c", 'echo $$ > "$PIDFILE" && exec "$0" "$@"', ${JSON.stringify(process.execPath)}, ${JSON.stringify(STDIO_FIXTURE)}, ok]
    env: { PIDFILE: ${JSON.stringify(pidFile)} }
  - name: held-http
    transport: streamable_http
    url: http://127.0.0.1:${(hung.address() as AddressInfo).port}/mcp
`,
    );
    try {
      const r = await mcpwatch(['health', '-c', file, '--json', '--timeout', '60s']);
      const servers = (JSON.parse(r.stdout) as { servers: JsonServer[] }).servers;
      assert.deepEqual(servers.map((s) => [s.name, s.status, s.error?.type]), [['stdio', 'up', undefined], ['held-http', 'down', 'http_status']], r.stderr);
    } finally {
      for (const poll of held) clearInterval(poll);
      hung.closeAllConnections();
      await new Promise((resolve) => hung.close(resolve));
    }
  });

  it('--timeout bounds the close too: no DELETE is waited on once it has run out', async () => {
    // tools/list never answers, so the deadline is spent when the close begins, and the DELETE would
    // never be answered either. Before the fix the close sent it and waited for it.
    const stalled = await startHttpFixture('streamable', { stallDelete: true, hangListsAfter: 0 });
    try {
      const r = await mcpwatch(['health', '--json', '--timeout', '3s', '--url', stalled.url]);
      assert.equal(r.code, 1, r.stderr);
      const server = (JSON.parse(r.stdout) as { servers: JsonServer[] }).servers[0]!;
      assert.equal(server.error?.type, 'timeout');
      assert.equal(server.error?.phase, 'tools/list');
      assert.equal(stalled.deletes, 0, 'no DELETE was sent');
      assert.equal(stalled.openSessions.size, 1, 'the session is left to the server to expire');
    } finally {
      await stalled.close();
    }
  });

  it('exits 2 with a clear message for usage and config errors', async () => {
    const badFilter = await mcpwatch(['health', '-c', config, '--filter', 'colour=red']);
    assert.equal(badFilter.code, 2);
    assert.match(badFilter.stderr, /--filter: expected KEY=VALUE/);
    const unknownServer = await mcpwatch(['health', '-c', config, '--server', 'nope']);
    assert.equal(unknownServer.code, 2);
    assert.match(unknownServer.stderr, /--server: no server named "nope" \(known: healthy-stdio, crashing, notes, slow\)/);
    const missing = await mcpwatch(['health', '-c', join(dir, 'absent.yaml')]);
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr.trim(), 'absent.yaml: cannot read configuration: file not found');
    const badUrl = await mcpwatch(['health', '--url', 'ftp://x']);
    assert.equal(badUrl.code, 2);
    assert.match(badUrl.stderr, /url: must be an http\(s\) URL/);
    // Named by the option, and only the URL: the name derived from it is not blamed as well.
    const schemeless = await mcpwatch(['health', '--url', 'localhost:3000/mcp']);
    assert.equal(schemeless.code, 2);
    assert.equal(schemeless.stderr, '--url: must be an http(s) URL: the scheme is missing (got "localhost:3000/mcp"; did you mean "http://localhost:3000/mcp"?)\n');
    const badHeader = await mcpwatch(['health', '--url', 'http://127.0.0.1:1/mcp', '-H', 'X Key: v']);
    assert.equal(badHeader.code, 2);
    assert.equal(badHeader.stderr, `--header: "X Key" is not a header name: letters, digits and !#$%&'*+-.^_\`|~ only (no spaces, no colon)\n`);
    const unknownOption = await mcpwatch(['health', '--frobnicate']);
    assert.equal(unknownOption.code, 2);
  });

  it('--stdio with the command line quoted as one word is a usage error that shows it split', async () => {
    const r = await mcpwatch(['health', '--stdio', '--', `${process.execPath} ${STDIO_FIXTURE} ok`, '--flag']);
    assert.equal(r.code, 2, r.stdout);
    assert.equal(r.stderr, `--stdio: ${JSON.stringify(`${process.execPath} ${STDIO_FIXTURE} ok`)} is run as one executable, without a shell, and there is none by that name: give the command and its arguments as separate words (mcpwatch health --stdio -- ${process.execPath} ${STDIO_FIXTURE} ok --flag)\n`);
  });

  it('refuses a --timeout longer than a timer holds, as the configuration does, instead of timing out at once', async () => {
    // Past 2^31 − 1 ms Node fires the timer at once: the healthy fixture was reported down on a
    // "timeout after 2592000000ms", with exit 1.
    const r = await mcpwatch(['health', '--json', '--timeout', '30d', '--url', http.url]);
    assert.equal(r.code, 2, r.stdout);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /--timeout: must be at most 24d/);
    const longest = await mcpwatch(['health', '--json', '--timeout', '24d', '--url', http.url]);
    assert.equal(longest.code, 0, longest.stderr);
    assert.equal((JSON.parse(longest.stdout) as { servers: JsonServer[] }).servers[0]?.status, 'up');
  });
});

describe('mcpwatch without -c and without a configuration file', () => {
  it('says where it looked and what to do, exit 2, for every command that reads one', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'mcpwatch-noconfig-'));
    const xdg = join(cwd, 'xdg');
    for (const command of ['health', 'validate', 'scorecard', 'run']) {
      const r = await new Promise<Run>((resolve) => {
        execFile(process.execPath, [CLI, command], { cwd, env: { ...process.env, NO_COLOR: '1', XDG_CONFIG_HOME: xdg }, timeout: 60_000 }, (err, stdout, stderr) => {
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
      });
      assert.equal(r.code, 2, command);
      assert.equal(r.stderr.trim(), `no configuration file: looked for ${join(cwd, 'mcpwatch.yaml')} and ${join(xdg, 'mcpwatch', 'mcpwatch.yaml')}; name one with -c FILE, or write one with \`mcpwatch init\``, command);
    }
  });
});

describe('mcpwatch validate', () => {
  it('prints a one-line summary for a valid file', async () => {
    const r = await mcpwatch(['validate', '-c', 'examples/mcpwatch.yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'mcpwatch.yaml: ok, 5 servers (2 stdio, 2 streamable_http, 1 sse)\n');
  });

  it('warns on stderr about a removed setting and still passes the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-val-'));
    const file = join(dir, 'mcpwatch.yaml');
    writeFileSync(file, 'servers: []\nruntime:\n  memory: compact\n');
    const r = await mcpwatch(['validate', '-c', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'mcpwatch.yaml: ok, 0 servers\n');
    assert.match(r.stderr, /^warning: mcpwatch\.yaml:2: runtime: removed and ignored: .*NODE_OPTIONS/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  it('prints every error and exits 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-val-'));
    const file = join(dir, 'mcpwatch.yaml');
    writeFileSync(file, 'servers:\n  - name: a\n    transport: stdio\n  - name: b\n    transport: sse\n    url: nope\n');
    const r = await mcpwatch(['validate', '-c', file]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'mcpwatch.yaml:2: servers[0].command: is required for a stdio server\nmcpwatch.yaml:6: servers[1].url: must be an http(s) URL (got "nope")\n');
  });
});
