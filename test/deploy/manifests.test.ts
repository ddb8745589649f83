// The files for users without Helm, and the container image recipe, checked as far as this machine
// allows (no Docker engine, no Kubernetes): the plain manifests and the sidecar snippet are parsed
// and held to the same hardening as the chart; the Dockerfile is read instruction by instruction,
// its build context checked against .dockerignore, its HEALTHCHECK command run against real
// sockets, and its `mcpwatch` symlink reproduced against the compiled CLI.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { parseListen } from '../../src/config/schema.js';
import { heapFlags, read, ROOT, sizingProblems, type Container, type K8sObject } from './common.js';

interface Volume {
  name: string;
  configMap?: { name: string };
  emptyDir?: Record<string, unknown>;
  hostPath?: { path: string };
}

const SECRETISH = /TOKEN|SECRET|PASSWORD|API_?KEY|WEBHOOK|CREDENTIAL/i;

/** The container-level hardening every mcpwatch container must have, wherever it is deployed. */
function assertHardenedContainer(where: string, c: Container, healthPort: number): void {
  const sc = c.securityContext ?? {};
  assert.equal(sc.runAsNonRoot, true, `${where}: runAsNonRoot`);
  assert.equal(sc.runAsUser, 10001, `${where}: runAsUser`);
  assert.equal(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
  assert.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
  assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}: capabilities drop ALL`);
  assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' }, `${where}: seccomp`);
  assert.deepEqual(c.args, ['run', '-c', '/etc/mcpwatch/mcpwatch.yaml'], `${where}: args`);
  assert.equal(c.livenessProbe?.httpGet.path, '/healthz', `${where}: liveness on /healthz`);
  assert.equal(c.readinessProbe?.httpGet.path, '/readyz', `${where}: readiness on /readyz`);
  for (const probe of [c.livenessProbe!, c.readinessProbe!]) {
    const port = probe.httpGet.port;
    const number = typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort;
    assert.equal(number, healthPort, `${where}: probe port ${port} is the health listener`);
  }
  assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory && c.resources.limits?.memory, `${where}: resources`);
  const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
  assert.equal(mounts.get('/etc/mcpwatch')?.readOnly, true, `${where}: config mounted read-only`);
  assert.ok(mounts.has('/var/lib/mcpwatch') && mounts.has('/tmp'), `${where}: state and /tmp are volumes`);
  for (const e of c.env ?? []) {
    if (SECRETISH.test(e.name)) {
      assert.equal(e.value, undefined, `${where}: ${e.name} must not be inlined`);
      assert.ok(e.valueFrom?.secretKeyRef, `${where}: ${e.name} comes from a Secret`);
    }
  }
}

function docs(...p: string[]): K8sObject[] {
  return parseAllDocuments(read(...p)).flatMap((d) => {
    assert.deepEqual(d.errors, [], `${p.join('/')} parses`);
    const obj = d.toJS() as K8sObject | null;
    return obj ? [obj] : [];
  });
}

describe('deploy/kubernetes (plain manifests)', () => {
  it('daemonset.yaml: ServiceAccount, ConfigMap, DaemonSet and Service, with no namespace and no Secret', () => {
    const objs = docs('deploy', 'kubernetes', 'daemonset.yaml');
    assert.deepEqual(objs.map((o) => o.kind), ['ServiceAccount', 'ConfigMap', 'DaemonSet', 'Service']);
    for (const o of objs) assert.equal(o.metadata.namespace, undefined, `${o.kind} has no namespace (kubectl -n decides)`);
    assert.doesNotMatch(read('deploy', 'kubernetes', 'daemonset.yaml'), /^kind: Secret/m);
  });

  it('daemonset.yaml: a hardened pod with probes, OTLP hostPorts and a node-local Service', () => {
    const objs = docs('deploy', 'kubernetes', 'daemonset.yaml');
    const ds = objs.find((o) => o.kind === 'DaemonSet')!;
    const tpl = (ds.spec as { template: { metadata: { labels: Record<string, string> }; spec: { securityContext: Record<string, unknown>; containers: Container[]; volumes: Volume[]; automountServiceAccountToken: boolean } } }).template;
    const cm = objs.find((o) => o.kind === 'ConfigMap')!;
    const config = parse(cm.data!['mcpwatch.yaml']!) as { health: { endpoint: string }; exporters: { prometheus: { endpoint: string } }; receivers: { otlp: { grpc: { endpoint: string }; http: { endpoint: string } } } };
    const healthPort = parseListen(config.health.endpoint)!.port;
    assert.deepEqual(tpl.spec.securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    assert.equal(tpl.spec.automountServiceAccountToken, false);
    const c = tpl.spec.containers[0]!;
    assertHardenedContainer('DaemonSet', c, healthPort);
    const ports = Object.fromEntries((c.ports ?? []).map((p) => [p.name, [p.containerPort, p.hostPort]]));
    assert.deepEqual(ports, { 'otlp-grpc': [4317, 4317], 'otlp-http': [4318, 4318], metrics: [9464, undefined], health: [13133, undefined] });
    assert.equal(parseListen(config.receivers.otlp.grpc.endpoint)!.port, 4317);
    assert.equal(parseListen(config.receivers.otlp.http.endpoint)!.port, 4318);
    assert.equal(parseListen(config.exporters.prometheus.endpoint)!.port, 9464);
    assert.equal(tpl.spec.volumes.find((v) => v.name === 'config')?.configMap?.name, cm.metadata.name, 'mounts the ConfigMap');
    const svc = objs.find((o) => o.kind === 'Service')!.spec as { internalTrafficPolicy: string; selector: Record<string, string>; ports: Array<{ port: number; targetPort: string }> };
    assert.equal(svc.internalTrafficPolicy, 'Local');
    for (const [k, v] of Object.entries(svc.selector)) assert.equal(tpl.metadata.labels[k], v, 'the Service selects the pods');
    assert.deepEqual(svc.ports.map((p) => [p.port, p.targetPort]), [[4317, 'otlp-grpc'], [4318, 'otlp-http'], [9464, 'metrics']]);
    for (const p of svc.ports) assert.ok(c.ports!.some((cp) => cp.name === p.targetPort), `targetPort ${p.targetPort} exists`);
  });

  it('sidecar/agent-pod-snippet.yaml: a hardened container, OTLP on loopback, ports matching the sidecar config', () => {
    const snippet = parse(read('deploy', 'kubernetes', 'sidecar', 'agent-pod-snippet.yaml')) as { containers: Container[]; volumes: Volume[] };
    const values = parse(read('deploy', 'kubernetes', 'sidecar', 'values.yaml')) as { fullnameOverride: string; config: { health: { endpoint: string }; exporters: { prometheus: { endpoint: string } }; receivers: { otlp: { grpc: { endpoint: string }; http: { endpoint: string } } } } };
    assert.equal(snippet.containers.length, 1);
    const c = snippet.containers[0]!;
    assertHardenedContainer('sidecar', c, parseListen(values.config.health.endpoint)!.port);
    assert.equal(c.ports?.find((p) => p.name === 'mcpw-metrics')?.containerPort, parseListen(values.config.exporters.prometheus.endpoint)!.port);
    for (const p of c.ports ?? []) assert.ok(p.name.length <= 15, `port name ${p.name} fits 15 characters`);
    // The agent talks to localhost: OTLP must not be exposed beyond the pod.
    assert.equal(parseListen(values.config.receivers.otlp.grpc.endpoint)!.host, '127.0.0.1');
    assert.equal(parseListen(values.config.receivers.otlp.http.endpoint)!.host, '127.0.0.1');
    const volumes = new Map(snippet.volumes.map((v) => [v.name, v]));
    for (const m of c.volumeMounts ?? []) assert.ok(volumes.has(m.name), `volume ${m.name} is in the snippet`);
    assert.equal(volumes.get('mcpwatch-config')?.configMap?.name, values.fullnameOverride);
    assert.ok(volumes.get('mcpwatch-state')?.emptyDir && volumes.get('mcpwatch-tmp')?.emptyDir);
    assert.match(read('deploy', 'kubernetes', 'sidecar', 'README.md'), /OTEL_EXPORTER_OTLP_ENDPOINT[\s\S]*http:\/\/localhost:4318/);
  });

  it('NODE_OPTIONS: the DaemonSet has the chart\'s default and the image\'s, the sidecar a smaller heap that fits its limit', () => {
    const chartDefault = (parse(read('helm', 'mcpwatch', 'values.yaml')) as { nodeOptions: string }).nodeOptions;
    const ds = docs('deploy', 'kubernetes', 'daemonset.yaml').find((o) => o.kind === 'DaemonSet')!;
    const dsContainer = (ds.spec as { template: { spec: { containers: Container[] } } }).template.spec.containers[0]!;
    const envOf = (c: Container): string | undefined => c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
    assert.equal(envOf(dsContainer), chartDefault);
    const dockerEnv = instructions(read('Dockerfile')).filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    assert.equal(/NODE_OPTIONS="([^"]*)"/.exec(dockerEnv)?.[1], chartDefault, 'the image\'s ENV NODE_OPTIONS');
    const dsConfig = parse(docs('deploy', 'kubernetes', 'daemonset.yaml').find((o) => o.kind === 'ConfigMap')!.data!['mcpwatch.yaml']!) as { receivers: { otlp: { limit_mib?: number } } };
    assert.deepEqual(sizingProblems('DaemonSet', envOf(dsContainer)!, dsContainer.resources!.limits!.memory, dsConfig.receivers.otlp.limit_mib ?? 256), []);

    const snippet = parse(read('deploy', 'kubernetes', 'sidecar', 'agent-pod-snippet.yaml')) as { containers: Container[] };
    const sidecar = parse(read('deploy', 'kubernetes', 'sidecar', 'values.yaml')) as { config: { receivers: { otlp: { limit_mib?: number } } } };
    const c = snippet.containers[0]!;
    assert.deepEqual(sizingProblems('sidecar', envOf(c)!, c.resources!.limits!.memory, sidecar.config.receivers.otlp.limit_mib ?? 256), []);
  });

  it('the shipped NODE_OPTIONS values start node and size its heap as they say (old space + 3 semi-spaces)', () => {
    const chartDefault = (parse(read('helm', 'mcpwatch', 'values.yaml')) as { nodeOptions: string }).nodeOptions;
    const snippet = parse(read('deploy', 'kubernetes', 'sidecar', 'agent-pod-snippet.yaml')) as { containers: Container[] };
    const sidecar = snippet.containers[0]!.env!.find((e) => e.name === 'NODE_OPTIONS')!.value!;
    for (const nodeOptions of [chartDefault, sidecar]) {
      const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(require("node:v8").getHeapStatistics().heap_size_limit))'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: nodeOptions } });
      assert.equal(r.status, 0, r.stderr);
      const { oldSpaceMiB, semiSpaceMiB } = heapFlags(nodeOptions);
      assert.equal(Number(r.stdout) / 2 ** 20, oldSpaceMiB + 3 * semiSpaceMiB, nodeOptions);
    }
  });
});

// ---- Dockerfile ---------------------------------------------------------------------------------------

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions with line continuations joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const lines = text.split('\n').filter((l) => !/^\s*#/.test(l));
  const joined = lines.join('\n').replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(\w+)\s+([\s\S]*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]!.trim() };
    });
}

function stages(all: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [];
  for (const i of all) {
    if (i.op === 'FROM') out.push([]);
    out.at(-1)?.push(i);
  }
  return out;
}

/** .dockerignore semantics for the patterns used here: `*`, `**`, `!exceptions`, last match wins, parents count. */
function dockerIgnored(path: string, patterns: string[]): boolean {
  const toRe = (p: string): RegExp =>
    new RegExp(
      '^' +
        p
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*\*\/?/g, '\u0000')
          .replace(/\*/g, '[^/]*')
          .replace(/\?/g, '[^/]')
          .replace(/\u0000/g, '.*') +
        '$',
    );
  const parts = path.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const re = toRe(negate ? raw.slice(1) : raw);
    if (candidates.some((c) => re.test(c))) ignored = !negate;
  }
  return ignored;
}

function jsonArray(args: string): string[] {
  const v = JSON.parse(args) as unknown;
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === 'string'), `exec form: ${args}`);
  return v as string[];
}

describe('Dockerfile', () => {
  const all = instructions(read('Dockerfile'));
  const [build, runtime] = stages(all) as [Instruction[], Instruction[]];
  const argDefault = (name: string): string => all.find((i) => i.op === 'ARG' && i.args.startsWith(`${name}=`))!.args.split('=')[1]!;

  it('builds on node:22-bookworm and runs on node:22-bookworm-slim (a supported LTS; package.json still allows the Node it declares)', () => {
    assert.equal(stages(all).length, 2);
    assert.equal(argDefault('NODE_IMAGE'), 'node:22-bookworm');
    assert.equal(argDefault('NODE_RUNTIME_IMAGE'), 'node:22-bookworm-slim');
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
    const floor = /^>=(\d+)\./.exec(pkg.engines.node)?.[1];
    assert.ok(floor && Number(floor) <= 22, `engines ${pkg.engines.node} admits the image's Node`);
    assert.match(build[0]!.args, /^\$\{NODE_IMAGE\} AS build$/);
    assert.equal(runtime[0]!.args, '${NODE_RUNTIME_IMAGE}');
    const buildRuns = build.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');
    for (const step of [/python3 make g\+\+/, /npm ci\b/, /npm run build/, /npm prune --omit=dev/]) assert.match(buildRuns, step);
  });

  it('runtime: uid 10001, mcpwatch on PATH, the default command, ports, state volume, labels, healthcheck', () => {
    const get = (op: string): Instruction[] => runtime.filter((i) => i.op === op);
    assert.equal(get('USER').at(-1)!.args, '10001:10001');
    assert.deepEqual(jsonArray(get('ENTRYPOINT').at(-1)!.args), ['mcpwatch']);
    assert.deepEqual(jsonArray(get('CMD').at(-1)!.args), ['run', '-c', '/etc/mcpwatch/mcpwatch.yaml']);
    assert.deepEqual(get('EXPOSE').flatMap((i) => i.args.split(/\s+/)).sort(), ['13133', '4317', '4318', '9464']);
    assert.deepEqual(jsonArray(get('VOLUME')[0]!.args), ['/var/lib/mcpwatch']);
    const labels = get('LABEL').map((i) => i.args).join(' ');
    for (const l of ['title', 'description', 'licenses', 'version', 'revision', 'source']) assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${l}=`));
    // The symlink target is the package's bin entry.
    const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
    const runs = get('RUN').map((i) => i.args).join('\n');
    assert.match(runs, new RegExp(`ln -s /app/${pkg.bin.mcpwatch!.replace(/^\.\//, '').replace(/\./g, '\\.')} /usr/local/bin/mcpwatch`));
    assert.match(get('ENV').map((i) => i.args).join(' '), /HOME=\/tmp/);
    // Heap sizes only at start-up, and only in the runtime stage (the build's tsc keeps V8's defaults).
    assert.match(get('ENV').map((i) => i.args).join(' '), /NODE_OPTIONS="--max-old-space-size=\d+ --max-semi-space-size=\d+"/);
    assert.equal(build.filter((i) => i.op === 'ENV' && i.args.includes('NODE_OPTIONS')).length, 0);
    assert.match(get('HEALTHCHECK')[0]!.args, /CMD \["node", "-e"/);
    // The default configuration is copied where CMD reads it.
    assert.ok(get('COPY').some((i) => i.args === 'deploy/docker/mcpwatch.yaml /etc/mcpwatch/mcpwatch.yaml'));
  });

  it('every documented `docker run` of the agent passes --init (node as PID 1 leaves the orphans of stdio wrappers as zombies)', () => {
    const runs: string[] = [];
    for (const file of ['Dockerfile', 'README.md', join('docs', 'deployment.md')]) {
      const text = read(file).replace(/^#\s?/gm, '').replace(/\\\n\s*/g, ' ');
      for (const m of text.matchAll(/docker run ([^\n`]*?\bmcpwatch:\S+)([^\n`]*)/g)) if (/^\s*(run\b|$)/.test(m[2]!)) runs.push(`${file}: ${m[1]}`);
    }
    assert.ok(runs.length >= 3, runs.join('\n'));
    assert.deepEqual(runs.filter((r) => !/\s--init\s/.test(r)), []);
  });

  it('runtime: package.json sits at the package root beside dist/src, where wire/version.ts reads the version', () => {
    const copies = runtime.filter((i) => i.op === 'COPY').map((i) => i.args);
    assert.ok(copies.includes('--from=build /app/package.json /app/package.json'), copies.join('\n'));
    assert.ok(copies.includes('--from=build /app/dist/src /app/dist/src'), copies.join('\n'));
  });

  it('every file copied from the build context exists and is not excluded by .dockerignore', () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const sources = all
      .filter((i) => i.op === 'COPY' && !i.args.includes('--from='))
      .flatMap((i) => i.args.replace(/--\S+\s+/g, '').split(/\s+/).slice(0, -1));
    assert.ok(sources.length >= 4);
    for (const src of sources) {
      assert.ok(existsSync(join(ROOT, src)), `${src} exists`);
      assert.equal(dockerIgnored(src, patterns), false, `${src} is in the build context`);
      if (src === 'src') assert.equal(dockerIgnored('src/cli/main.ts', patterns), false, 'files under src/ too');
    }
    for (const secretish of ['node_modules/x', 'dist/src/cli/main.js', '.git/config', 'test/helpers.ts', '.mcpwatch/state.db', 'helm/mcpwatch/values.yaml']) {
      assert.equal(dockerIgnored(secretish, patterns), true, `${secretish} stays out of the build context`);
    }
  });

  it('the HEALTHCHECK command exits 0 for a 2xx /healthz and 1 for an error or no listener', async () => {
    const hc = runtime.find((i) => i.op === 'HEALTHCHECK')!.args;
    const cmd = jsonArray(hc.slice(hc.indexOf('CMD ') + 4));
    assert.equal(cmd[0], 'node');
    let status = 200;
    const server: Server = createServer((req, res) => {
      res.statusCode = req.url === '/healthz' ? status : 404;
      res.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const check = (url: string): Promise<number | null> =>
      new Promise((resolveExit) => {
        const child = spawn(process.execPath, cmd.slice(1), { env: { ...process.env, MCPWATCH_HEALTHCHECK_URL: url }, stdio: 'ignore' });
        child.on('exit', (code) => resolveExit(code));
      });
    try {
      assert.equal(await check(`http://127.0.0.1:${port}/healthz`), 0);
      status = 503;
      assert.equal(await check(`http://127.0.0.1:${port}/healthz`), 1);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
    assert.equal(await check(`http://127.0.0.1:${port}/healthz`), 1, 'nothing listening');
  });

  it('`mcpwatch` through a symlink (as in /usr/local/bin) runs the compiled CLI', () => {
    const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> };
    const main = join(ROOT, pkg.bin.mcpwatch!);
    assert.ok(existsSync(main), `${pkg.bin.mcpwatch} is built`);
    assert.match(readFileSync(main, 'utf8').split('\n')[0]!, /^#!\/usr\/bin\/env node$/, 'shebang for ENTRYPOINT ["mcpwatch"]');
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-bin-'));
    try {
      symlinkSync(main, join(dir, 'mcpwatch'));
      const r = spawnSync(process.execPath, [join(dir, 'mcpwatch'), '--version'], { encoding: 'utf8', cwd: dir });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^\d+\.\d+\.\d+/);
      const v = spawnSync(process.execPath, [join(dir, 'mcpwatch'), 'validate', '-c', join(ROOT, 'deploy', 'docker', 'mcpwatch.yaml')], { encoding: 'utf8', cwd: dir });
      assert.equal(v.status, 0, `${v.stdout}${v.stderr}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- Grafana dashboard ----------------------------------------------------------------------------

interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ datasource: { uid: string }; expr: string; refId: string }>;
}

describe('Grafana dashboard', () => {
  const dash = JSON.parse(read('deploy', 'grafana', 'mcpwatch-dashboard.json')) as {
    __inputs: Array<{ name: string; type: string; pluginId: string }>;
    schemaVersion: number;
    uid: string;
    panels: Panel[];
    templating: { list: Array<{ name: string; type: string; datasource?: { uid: string } }> };
  };

  it('is importable: a DS_PROMETHEUS input used by every query, server and tags variables', () => {
    assert.deepEqual(dash.__inputs.map((i) => [i.name, i.type, i.pluginId]), [['DS_PROMETHEUS', 'datasource', 'prometheus']]);
    assert.ok(dash.schemaVersion >= 36 && dash.schemaVersion <= 41, `schemaVersion ${dash.schemaVersion}`);
    assert.ok(dash.uid);
    const vars = new Map(dash.templating.list.map((v) => [v.name, v]));
    assert.equal(vars.get('server')?.type, 'query');
    assert.equal(vars.get('tags')?.type, 'adhoc');
    for (const v of vars.values()) assert.equal(v.datasource?.uid, '${DS_PROMETHEUS}', `variable ${v.name}`);
    for (const p of dash.panels.filter((x) => x.type !== 'row')) {
      assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `panel ${p.title}`);
      assert.ok(p.description, `panel ${p.title} has a description`);
      assert.ok((p.targets ?? []).length > 0, `panel ${p.title} has queries`);
      for (const t of p.targets ?? []) {
        assert.equal(t.datasource.uid, '${DS_PROMETHEUS}', `${p.title} ${t.refId}`);
        // Queries of per-server series (mcp_*, mcp:*; not mcpwatch_*) follow the Server variable.
        if (/\bmcp[_:]/.test(t.expr)) assert.match(t.expr, /mcp_server_name=~"\$server"/, `${p.title}: ${t.expr}`);
      }
    }
  });

  it('has unique panel ids and a layout without overlaps inside the 24-column grid', () => {
    const ids = dash.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'unique ids');
    const cells = new Set<string>();
    for (const p of dash.panels) {
      const g = p.gridPos;
      assert.ok(g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `${p.title}: within 24 columns`);
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          const cell = `${x},${y}`;
          assert.ok(!cells.has(cell), `${p.title} overlaps another panel at ${cell}`);
          cells.add(cell);
        }
      }
    }
  });

  it('shows what the brief asks for: fleet status, availability windows, latency by source, heatmap, tool calls, changes, self-health', () => {
    const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
    for (const needle of [
      'mcp_server_status',
      'window="1h"',
      'window="24h"',
      'window="7d"',
      'source="probe"',
      'source="traffic"',
      'histogram_quantile(0.5,',
      'histogram_quantile(0.99,',
      'mcp:tool_calls:success_ratio_5m',
      'error_category',
      'mcp_server_schema_changes_total',
      'mcp_server_session_expirations_total',
      'mcpwatch_forwarder_queue_size',
      'mcpwatch_forwarder_dropped_total',
      'mcpwatch_receiver_refused_spans_total',
      'mcpwatch_notifier_deliveries_total',
    ]) {
      assert.ok(exprs.includes(needle), `a panel queries ${needle}`);
    }
    assert.ok(dash.panels.some((p) => p.type === 'heatmap'), 'a latency heatmap');
  });
});
