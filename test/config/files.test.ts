import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError, loadConfigFile } from '../../src/config/load.js';
import { makeCerts, type Certs } from '../fixtures/certs.js';
import { startHttpFixture, type HttpFixture } from '../fixtures/http-server.js';
import { CLI, STDIO_FIXTURE } from '../helpers.js';
import { startAgent } from '../fixtures/agent-process.js';

function mcpwatch(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function issues(file: string, opts: Parameters<typeof loadConfigFile>[2] = {}): string[] {
  try {
    loadConfigFile(file, {}, opts);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message.split('\n');
  }
  assert.fail('expected a ConfigError');
}

describe('files the configuration names', () => {
  let certs: Certs;
  let dir: string;
  const write = (name: string, text: string): string => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  before(() => {
    certs = makeCerts();
    dir = mkdtempSync(join(tmpdir(), 'mcpwatch-files-'));
    mkdirSync(join(dir, 'certs'));
    writeFileSync(join(dir, 'certs', 'not.pem'), 'hello\n');
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(certs.dir, { recursive: true, force: true });
  });

  it('an unreadable, missing, directory or non-PEM TLS or key file is an error at its key and line', () => {
    const file = write(
      'bad.yaml',
      `servers:
  - name: api
    transport: streamable_http
    url: https://127.0.0.1:1/mcp
    tls:
      ca_file: /nonexistent/ca.pem
      cert_file: ${JSON.stringify(dir)}
      key_file: certs/not.pem
  - name: jwt
    transport: streamable_http
    url: https://127.0.0.1:1/mcp
    auth: { type: private_key_jwt, client_id: c, private_key_file: /nonexistent/key.pem }
receivers:
  otlp:
    grpc: null
    http: { tls: { cert_file: ${JSON.stringify(certs.serverCert)}, key_file: /nonexistent/server.key } }
`,
    );
    assert.deepEqual(issues(file), [
      'bad.yaml:6: servers[0].tls.ca_file: cannot read /nonexistent/ca.pem: no such file',
      `bad.yaml:7: servers[0].tls.cert_file: ${dir} is a directory: name the file in it`,
      // Relative to where mcpwatch runs (the test's cwd), not to the file: there is no certs/ there.
      `bad.yaml:8: servers[0].tls.key_file: cannot read certs/not.pem (${join(process.cwd(), 'certs/not.pem')}: a relative path is taken from the directory mcpwatch runs in): no such file`,
      'bad.yaml:12: servers[1].auth.private_key_file: cannot read /nonexistent/key.pem: no such file',
      'bad.yaml:16: receivers.otlp.http.tls.key_file: cannot read /nonexistent/server.key: no such file',
    ]);
  });

  it('a file that is there and PEM passes; a non-PEM one is named as such', () => {
    const ok = write('ok.yaml', `servers:\n  - { name: api, transport: streamable_http, url: "https://127.0.0.1:1/mcp", tls: { ca_file: ${JSON.stringify(certs.ca)} } }\n`);
    assert.equal(loadConfigFile(ok, {}).config.servers[0]!.tls?.ca_file, certs.ca);
    const notPem = write('not-pem.yaml', `servers:\n  - { name: api, transport: streamable_http, url: "https://127.0.0.1:1/mcp", tls: { ca_file: ${JSON.stringify(join(dir, 'certs', 'not.pem'))} } }\n`);
    assert.deepEqual(issues(notPem), [
      `not-pem.yaml:2: servers[0].tls.ca_file: ${join(dir, 'certs', 'not.pem')} is not a PEM file (no -----BEGIN line): mcpwatch reads certificates and keys in PEM form (openssl converts a DER file)`,
    ]);
  });

  it('inside a server, health and run warn and probe it (the file may yet appear); an unread section is not looked at', () => {
    const file = write(
      'isolated.yaml',
      `servers:
  - name: api
    transport: streamable_http
    url: https://127.0.0.1:1/mcp
    tls: { ca_file: /nonexistent/ca.pem }
  - name: fine
    transport: streamable_http
    url: https://127.0.0.1:1/mcp
exporters:
  otlp: { endpoint: "https://127.0.0.1:1", tls: { ca_file: /nonexistent/exporter-ca.pem } }
`,
    );
    const loaded = loadConfigFile(file, {}, { isolateServerEnv: true, probeOnly: true });
    // Not a config_error, which only a reload would clear: each connection reads the file again, so a
    // certificate a sidecar writes after start heals the server by itself.
    assert.deepEqual(
      loaded.config.servers.map((s) => (s as { config_error?: string }).config_error),
      [undefined, undefined],
    );
    assert.deepEqual(
      (loaded.warnings ?? []).filter((w) => w.path.startsWith('servers')),
      [{ path: 'servers[0].tls.ca_file', line: 5, message: "cannot read /nonexistent/ca.pem: no such file: this server's probes fail until it is there" }],
    );
    // run reads exporters: the exporter's file fails the whole configuration there.
    assert.deepEqual(issues(file, { isolateServerEnv: true }), ['isolated.yaml:10: exporters.otlp.tls.ca_file: cannot read /nonexistent/exporter-ca.pem: no such file']);
  });

  it("a stdio server's working directory that is missing or a file is an error at its key", () => {
    const file = write(
      'cwd.yaml',
      `servers:
  - { name: a, transport: stdio, command: node, cwd: /nonexistent/dir }
  - { name: b, transport: stdio, command: node, cwd: ${JSON.stringify(join(dir, 'cwd.yaml'))} }
  - { name: c, transport: stdio, command: node, cwd: ${JSON.stringify(dir)} }
`,
    );
    assert.deepEqual(issues(file), [
      'cwd.yaml:2: servers[0].cwd: working directory /nonexistent/dir does not exist',
      `cwd.yaml:3: servers[1].cwd: working directory ${join(dir, 'cwd.yaml')} is not a directory`,
    ]);
  });

  it('an OTLP exporter in plain text does not read its tls files: a missing one is a warning that it is ignored, not an error', () => {
    const exporter = (otlp: string): string => write('plain.yaml', `servers: []\nexporters:\n  otlp: ${otlp}\n`);
    const insecure = exporter('{ endpoint: "https://collector:4317", tls: { insecure: true, ca_file: /nonexistent/ca.pem, cert_file: /nonexistent/c.pem } }');
    assert.deepEqual(
      loadConfigFile(insecure, {}).warnings?.map((w) => `${w.line}: ${w.path}: ${w.message}`),
      [
        '3: exporters.otlp.tls.ca_file: not read: tls.insecure: true makes the gRPC connection plain text, so no certificate file is used (remove ca_file, or make the connection TLS)',
        '3: exporters.otlp.tls.cert_file: not read: tls.insecure: true makes the gRPC connection plain text, so no certificate file is used (remove cert_file, or make the connection TLS)',
      ],
    );
    const httpGrpc = exporter('{ endpoint: "http://collector:4317", tls: { ca_file: /nonexistent/ca.pem } }');
    assert.deepEqual(loadConfigFile(httpGrpc, {}).warnings?.map((w) => w.message), ['not read: the endpoint is http://, so the gRPC connection is plain text, so no certificate file is used (remove ca_file, or make the connection TLS)']);
    const httpProto = exporter('{ endpoint: "http://collector:4318", protocol: http/protobuf, tls: { ca_file: /nonexistent/ca.pem } }');
    assert.deepEqual(loadConfigFile(httpProto, {}).warnings?.map((w) => w.message), ['not read: the endpoint is not https://, so exports are plain text, so no certificate file is used (remove ca_file, or make the connection TLS)']);
    // Over http/protobuf `insecure` is gRPC's alone: an https endpoint reads the file, so it must be there.
    const httpsProto = exporter('{ endpoint: "https://collector:4318", protocol: http/protobuf, tls: { insecure: true, ca_file: /nonexistent/ca.pem } }');
    assert.deepEqual(issues(httpsProto), ['plain.yaml:3: exporters.otlp.tls.ca_file: cannot read /nonexistent/ca.pem: no such file']);
  });

  it('a state.path under a regular file, or naming a directory, is an error at state.path; one whose directories are missing is not', () => {
    const state = (path: string): string => write('state.yaml', `servers: []\nstate:\n  path: ${JSON.stringify(path)}\n`);
    const plain = write('plain-file', 'x');
    assert.deepEqual(issues(state(join(plain, 'state.db'))), [`state.yaml:3: state.path: ${join(plain, 'state.db')} cannot be made: ${plain}, on its path, is a file, not a directory`]);
    assert.deepEqual(issues(state(join(plain, 'deeper', 'state.db'))), [`state.yaml:3: state.path: ${join(plain, 'deeper', 'state.db')} cannot be made: ${plain}, on its path, is a file, not a directory`]);
    assert.deepEqual(issues(state(dir)), [`state.yaml:3: state.path: ${dir} is a directory: name the state file in it (e.g. ${join(dir, 'state.db')})`]);
    assert.deepEqual(loadConfigFile(state(join(dir, 'not', 'yet', 'state.db')), {}).warnings, []);
    // health does not read state: a file in the way is no reason to refuse a probe.
    assert.deepEqual(loadConfigFile(state(join(plain, 'state.db')), {}, { probeOnly: true }).warnings, []);
  });

  it('a path that starts with ~ is an error at its key: nothing expands it, so it named a directory called ~', () => {
    const file = write('tilde.yaml', 'servers:\n  - { name: a, transport: stdio, command: ~/bin/mcp, cwd: ~/mcp }\n  - { name: b, transport: sse, url: "https://h.example/sse", tls: { ca_file: ~/ca.pem }, auth: { type: bearer, token_file: ~/.config/tok } }\nstate: { path: ~/.mcpwatch/state.db }\n');
    const why = (key: string, path: string): string => `${key}: ${path}: ~ is not expanded (no shell reads this file): write the full path, or \${env:HOME}${path.slice(1)}`;
    assert.deepEqual(issues(file), [
      `tilde.yaml:2: ${why('servers[0].command', '~/bin/mcp')}`,
      `tilde.yaml:2: ${why('servers[0].cwd', '~/mcp')}`,
      `tilde.yaml:3: ${why('servers[1].tls.ca_file', '~/ca.pem')}`,
      `tilde.yaml:3: ${why('servers[1].auth.token_file', '~/.config/tok')}`,
      `tilde.yaml:4: ${why('state.path', '~/.mcpwatch/state.db')}`,
    ]);
  });

  it('a stdio command written with its arguments is an error at command that splits it; a path with spaces that is an executable stands', () => {
    const spaced = join(dir, 'my server');
    writeFileSync(spaced, '#!/bin/sh\n');
    chmodSync(spaced, 0o755);
    const file = write(
      'command.yaml',
      `servers:
  - { name: a, transport: stdio, command: "node ${STDIO_FIXTURE} ok", env: { PATH: ${JSON.stringify(dirname(process.execPath))} } }
  - { name: b, transport: stdio, command: ${JSON.stringify(`${process.execPath} -e ""`)}, args: [x] }
  - { name: c, transport: stdio, command: ${JSON.stringify(spaced)} }
  - { name: d, transport: stdio, command: "/nonexistent/bin/server --flag" }
  - { name: e, transport: stdio, command: "no-such-runner x", env: { PATH: ${JSON.stringify(dirname(process.execPath))} } }
`,
    );
    assert.deepEqual(issues(file), [
      `command.yaml:2: servers[0].command: "node ${STDIO_FIXTURE} ok" is run as one executable, without a shell, and there is none by that name: give the arguments apart (command: node, args: ["${STDIO_FIXTURE}", "ok"])`,
      `command.yaml:3: servers[1].command: ${JSON.stringify(`${process.execPath} -e ""`)} is run as one executable, without a shell, and there is none by that name: give the arguments apart (command: ${process.execPath}, args: ["-e", "", …the args it has])`,
    ]);
    // health and run probe the others: the server fails to start, and the warning says why.
    const warnings = loadConfigFile(file, {}, { isolateServerEnv: true, probeOnly: true }).warnings?.map((w) => w.path + ': ' + w.message.slice(w.message.lastIndexOf(': ') + 2));
    assert.deepEqual(warnings, ['servers[0].command: this server cannot start (spawn_failed) until it is split', 'servers[1].command: this server cannot start (spawn_failed) until it is split']);
  });

  it('a command line whose words come from a reference is shown as written, never with what the variable holds', () => {
    const secret = 'sk-live-7f3a9c2e5b1d4f6a8c0e2b4d';
    const path = { PATH: dirname(process.execPath) };
    const file = write(
      'command-secret.yaml',
      `servers:
  - { name: a, transport: stdio, command: "node ${STDIO_FIXTURE} --api-key \${env:API_KEY}", env: { PATH: ${JSON.stringify(path.PATH)} } }
  - { name: b, transport: stdio, command: "\${env:LINE}", env: { PATH: ${JSON.stringify(path.PATH)} } }
`,
    );
    const env = { API_KEY: secret, LINE: `node ${STDIO_FIXTURE} --api-key ${secret}` };
    let said: string[] = [];
    try {
      loadConfigFile(file, env);
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      said = err.message.split('\n');
    }
    assert.deepEqual(said, [
      `command-secret.yaml:2: servers[0].command: "node ${STDIO_FIXTURE} --api-key \${env:API_KEY}" is run as one executable, without a shell, and there is none by that name: give the arguments apart (command: node, args: ["${STDIO_FIXTURE}", "--api-key", "\${env:API_KEY}"])`,
      'command-secret.yaml:3: servers[1].command: what ${env:LINE} holds is run as one executable, without a shell, and there is none by that name: give the executable in command and its arguments apart in args',
    ]);
    const warnings = loadConfigFile(file, env, { isolateServerEnv: true, probeOnly: true }).warnings ?? [];
    assert.equal(warnings.length, 2);
    for (const w of warnings) assert.ok(!w.message.includes(secret), w.message);
  });

  it('a file under an unknown key is reported as that key alone', () => {
    const file = write('unknown.yaml', 'tls: { ca_file: /nonexistent/ca.pem }\nservers: []\n');
    assert.deepEqual(issues(file), ['unknown.yaml:1: tls: unknown key']);
  });

  it('a token_file that is missing or empty is a warning (a sidecar may write it later)', () => {
    write('empty.token', '\n');
    const file = write(
      'token.yaml',
      `servers:
  - { name: a, transport: streamable_http, url: "https://127.0.0.1:1/mcp", auth: { type: bearer, token_file: /nonexistent/token } }
  - { name: b, transport: streamable_http, url: "https://127.0.0.1:1/mcp", auth: { type: bearer, token_file: ${JSON.stringify(join(dir, 'empty.token'))} } }
`,
    );
    const loaded = loadConfigFile(file, {});
    assert.deepEqual(
      loaded.warnings?.map((w) => `${w.line}: ${w.path}: ${w.message}`),
      [
        '2: servers[0].auth.token_file: cannot read /nonexistent/token: no such file: probes fail as auth_unavailable until it holds the token',
        `3: servers[1].auth.token_file: ${join(dir, 'empty.token')} is empty: probes fail as auth_unavailable until it holds the token`,
      ],
    );
  });

  describe('from the command line', () => {
    let http: HttpFixture;
    before(async () => {
      http = await startHttpFixture('streamable');
    });
    after(async () => {
      await http.close();
    });

    it('validate and run agree on a plain-text OTLP exporter naming a missing CA: both start, with the warning', async () => {
      const file = write(
        'plain-cli.yaml',
        `servers: []
state: { path: ${JSON.stringify(join(dir, 'plain-state.db'))} }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: { grpc: null, http: { endpoint: "127.0.0.1:0" } } }
exporters:
  prometheus: null
  otlp:
    endpoint: "https://127.0.0.1:1"
    tls: { insecure: true, ca_file: /missing }
`,
      );
      const warning = 'plain-cli.yaml:9: exporters.otlp.tls.ca_file: not read: tls.insecure: true makes the gRPC connection plain text, so no certificate file is used (remove ca_file, or make the connection TLS)';
      const v = await mcpwatch(['validate', '-c', file], dir);
      assert.equal(v.code, 0, v.stderr);
      assert.equal(v.stderr, `warning: ${warning}\n`);
      const agent = startAgent(file);
      await agent.waitLog(/mcpwatch agent started/);
      assert.ok(agent.logs.some((l) => l.includes('"key":"exporters.otlp.tls.ca_file"') && l.includes('not read: tls.insecure: true')), agent.logs.join('\n'));
      agent.proc.kill('SIGTERM');
      assert.equal((await agent.exit).code, 0);
    });

    it('validate, run and scorecard name state.path, its line, and the file on its path', async () => {
      const plain = write('in-the-way', 'x');
      const file = write('state-cli.yaml', `servers: []\nhealth: { endpoint: "127.0.0.1:0" }\nstate:\n  path: ${JSON.stringify(join(plain, 'state.db'))}\n`);
      const expected = `state-cli.yaml:4: state.path: ${join(plain, 'state.db')} cannot be made: ${plain}, on its path, is a file, not a directory\n`;
      for (const command of ['validate', 'run', 'scorecard']) {
        const r = await mcpwatch([command, '-c', file], dir);
        assert.deepEqual([command, r.code, r.stderr], [command, 2, expected]);
      }
    });

    it('validate fails naming the file and line; health warns of it and probes every server', async () => {
      const file = write(
        'cli.yaml',
        `monitoring: { timeout: 60s }
servers:
  - name: internal
    transport: streamable_http
    url: https://127.0.0.1:1/mcp
    tls: { ca_file: /nonexistent/ca.pem }
  - name: notes
    transport: streamable_http
    url: ${http.url}
`,
      );
      const v = await mcpwatch(['validate', '-c', file], dir);
      assert.equal(v.code, 2);
      assert.equal(v.stderr, 'cli.yaml:6: servers[0].tls.ca_file: cannot read /nonexistent/ca.pem: no such file\n');
      const h = await mcpwatch(['health', '-c', file, '--json'], dir);
      assert.equal(h.code, 1, h.stderr);
      const servers = (JSON.parse(h.stdout) as { servers: Array<{ name: string; status: string; error: { type: string; message: string } | null }> }).servers;
      assert.deepEqual(
        servers.map((s) => [s.name, s.status, s.error?.type ?? null]),
        [
          ['internal', 'down', 'tls'],
          ['notes', 'up', null],
        ],
      );
      assert.match(servers[0]!.error!.message, /tls\.ca_file: cannot read \/nonexistent\/ca\.pem \(ENOENT\)/);
      assert.match(h.stderr, /cli\.yaml:6: servers\[0\]\.tls\.ca_file: cannot read \/nonexistent\/ca\.pem: no such file: this server's probes fail until it is there/);
    });
  });
});
