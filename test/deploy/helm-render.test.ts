// Renders the Helm chart without Helm and checks the manifests it produces.
//
// There is no helm binary here, so this file carries a small renderer for the part of Go's
// text/template and Sprig that helm/mcpwatch uses: define/include, if/else if/else, with, range,
// variables, pipelines, and the functions listed in FUNCTIONS. Anything else (an unknown function,
// `template`, a range with variables) throws, so a template construct it does not understand fails
// this test instead of rendering wrongly. It approximates `helm template`: toYaml here is the yaml
// package's output with sorted keys, not Go's. `helm lint` and `helm template` in a real CI remain
// the reference.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { helmMerge, ROOT, type Container, type K8sObject, type Values } from './common.js';

const CHART = join(ROOT, 'helm', 'mcpwatch');

// ---- a Go text/template subset ----------------------------------------------------------------------

type Item = { t: 'text'; v: string } | { t: 'action'; v: string };
type TNode =
  | { n: 'text'; v: string }
  | { n: 'action'; v: string }
  | { n: 'if' | 'with' | 'range'; cond: string; body: TNode[]; elseBody: TNode[] };
type Tok = { k: 'str' | 'num' | 'bool' | 'nil' | 'var' | 'field' | 'ident' | '(' | ')' | '|' | ':=' | '='; v?: string | number | boolean };

/** Splits template source into text and `{{ }}` actions, applying `{{-` and `-}}` trimming. */
function lex(src: string, file: string): Item[] {
  const out: Item[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push({ t: 'text', v: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    let j = open + 2;
    if (src[j] === '-' && /\s/.test(src[j + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      j++;
    }
    out.push({ t: 'text', v: text });
    let k = j;
    let quote: string | null = null;
    for (; k < src.length; k++) {
      const c = src[k]!;
      if (quote) {
        if (c === '\\' && quote === '"') k++;
        else if (c === quote) quote = null;
      } else if (c === '"' || c === '`') quote = c;
      else if (src.startsWith('}}', k)) break;
    }
    if (k >= src.length) throw new Error(`${file}: unclosed {{`);
    let body = src.slice(j, k);
    i = k + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      i += /^\s*/.exec(src.slice(i))![0].length;
    }
    body = body.trim();
    if (body.startsWith('/*')) {
      if (!body.endsWith('*/')) throw new Error(`${file}: unterminated comment`);
      continue;
    }
    out.push({ t: 'action', v: body });
  }
  return out;
}

function tokens(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      let v = '';
      for (; s[j] !== '"'; j++) {
        if (j >= s.length) throw new Error(`unterminated string in: ${s}`);
        if (s[j] === '\\') v += ({ n: '\n', t: '\t' } as Record<string, string>)[s[++j]!] ?? s[j];
        else v += s[j];
      }
      out.push({ k: 'str', v });
      i = j + 1;
    } else if (c === '(' || c === ')' || c === '|') {
      out.push({ k: c });
      i++;
    } else if (s.startsWith(':=', i)) {
      out.push({ k: ':=' });
      i += 2;
    } else if (c === '=') {
      out.push({ k: '=' });
      i++;
    } else {
      const w = /^[^\s()|]+/.exec(s.slice(i))![0];
      if (/^-?\d+(\.\d+)?$/.test(w)) out.push({ k: 'num', v: Number(w) });
      else if (w === 'true' || w === 'false') out.push({ k: 'bool', v: w === 'true' });
      else if (w === 'nil') out.push({ k: 'nil' });
      else if (w.startsWith('$')) out.push({ k: 'var', v: w });
      else if (w.startsWith('.')) out.push({ k: 'field', v: w });
      else out.push({ k: 'ident', v: w });
      i += w.length;
    }
  }
  return out;
}

function parseTemplate(items: Item[], file: string, defines: Map<string, TNode[]>): TNode[] {
  let pos = 0;
  const block = (nested: boolean): { nodes: TNode[]; stop: string } => {
    const nodes: TNode[] = [];
    while (pos < items.length) {
      const it = items[pos]!;
      if (it.t === 'text') {
        if (it.v) nodes.push({ n: 'text', v: it.v });
        pos++;
        continue;
      }
      const kw = /^(\w+)\b/.exec(it.v)?.[1];
      if (kw === 'end' || kw === 'else') {
        if (!nested) throw new Error(`${file}: unexpected {{ ${it.v} }}`);
        return { nodes, stop: it.v };
      }
      pos++;
      if (kw === 'if' || kw === 'with' || kw === 'range') {
        const node: TNode = { n: kw, cond: it.v.slice(kw.length).trim(), body: [], elseBody: [] };
        if (kw === 'range' && /\$\w+/.test(node.cond.split('|')[0]!)) throw new Error(`${file}: range with variables is not supported here`);
        let r = block(true);
        node.body = r.nodes;
        let cur: Extract<TNode, { n: 'if' | 'with' | 'range' }> = node;
        while (r.stop.startsWith('else')) {
          pos++;
          const rest = r.stop.slice(4).trim();
          if (rest.startsWith('if ')) {
            const sub: TNode = { n: 'if', cond: rest.slice(3).trim(), body: [], elseBody: [] };
            r = block(true);
            sub.body = r.nodes;
            cur.elseBody = [sub];
            cur = sub;
          } else {
            r = block(true);
            cur.elseBody = r.nodes;
          }
        }
        pos++; // {{ end }}
        nodes.push(node);
      } else if (kw === 'define') {
        const name = JSON.parse(it.v.slice(6).trim()) as string;
        defines.set(name, block(true).nodes);
        pos++;
      } else if (kw === 'template' || kw === 'block') {
        throw new Error(`${file}: {{ ${kw} }} is not supported here, use include`);
      } else {
        nodes.push({ n: 'action', v: it.v });
      }
    }
    if (nested) throw new Error(`${file}: missing {{ end }}`);
    return { nodes, stop: '' };
  };
  return block(false).nodes;
}

const truthy = (v: unknown): boolean =>
  !(v === undefined || v === null || v === false || v === 0 || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0));
const text = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
/** Helm's toYaml drops the final newline. */
const toYaml = (v: unknown): string => (v === undefined || v === null ? 'null' : stringify(v, { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, ''));
const indentLines = (n: number, s: unknown): string =>
  text(s)
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');

type Fn = (...args: unknown[]) => unknown;

/** The Sprig and built-in functions the chart uses, with Sprig's argument order (piped value last). */
const FUNCTIONS: Record<string, Fn> = {
  default: (d, v) => (truthy(v) ? v : d),
  trunc: (n, s) => text(s).slice(0, Number(n)),
  trimSuffix: (suf, s) => (text(s).endsWith(text(suf)) ? text(s).slice(0, -text(suf).length) : text(s)),
  printf: (f, ...xs) => {
    let k = 0;
    return text(f).replace(/%[sdv]/g, () => text(xs[k++]));
  },
  print: (...xs) => xs.map(text).join(''),
  contains: (sub, s) => text(s).includes(text(sub)),
  hasPrefix: (pre, s) => text(s).startsWith(text(pre)),
  hasSuffix: (suf, s) => text(s).endsWith(text(suf)),
  toString: (v: unknown) => text(v),
  quote: (v) => JSON.stringify(text(v)),
  toYaml: (v) => toYaml(v),
  nindent: (n, s) => '\n' + indentLines(Number(n), s),
  indent: (n, s) => indentLines(Number(n), s),
  sha256sum: (s) => createHash('sha256').update(text(s)).digest('hex'),
  has: (needle, list) => Array.isArray(list) && list.includes(needle),
  list: (...xs) => xs,
  len: (x) => (Array.isArray(x) || typeof x === 'string' ? x.length : Object.keys(x as object).length),
  eq: (a, b) => a === b,
  ne: (a, b) => a !== b,
  gt: (a, b) => Number(a) > Number(b),
  and: (...xs) => xs.find((x) => !truthy(x)) ?? xs.at(-1),
  or: (...xs) => xs.find((x) => truthy(x)) ?? xs.at(-1),
  not: (x) => !truthy(x),
  int: (x) => Math.trunc(Number(x ?? 0)),
  mul: (...xs) => xs.reduce<number>((a, x) => a * Math.trunc(Number(x ?? 0)), 1),
  hasKey: (map, key) => typeof map === 'object' && map !== null && Object.hasOwn(map, text(key)),
  replace: (o, n, s) => text(s).split(text(o)).join(text(n)),
  fail: (msg) => {
    throw new HelmFail(text(msg));
  },
};

class HelmFail extends Error {}

interface Root {
  Values: unknown;
  Release: { Name: string; Namespace: string; Service: string };
  Chart: { Name: string; Version: string; AppVersion: string };
  Template: { BasePath: string };
  Files: { Get: (path: string) => string };
}

class Chart {
  readonly defines = new Map<string, TNode[]>();
  readonly templates = new Map<string, TNode[]>();
  private readonly meta: { name: string; version: string; appVersion: string };

  /** A chart directory, or (for the renderer's own tests) template sources given by file name. */
  constructor(
    readonly dir: string,
    sources?: Map<string, string>,
  ) {
    this.meta = parse(readFileSync(join(dir, 'Chart.yaml'), 'utf8')) as { name: string; version: string; appVersion: string };
    const files = sources ?? new Map(readdirSync(join(dir, 'templates')).map((f) => [f, readFileSync(join(dir, 'templates', f), 'utf8')]));
    for (const [f, src] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
      const tree = parseTemplate(lex(src, f), f, this.defines);
      if (!f.startsWith('_')) this.templates.set(f, tree);
    }
  }

  /** Every template rendered with these (already merged) values, by file name. */
  render(values: unknown, release = { Name: 'mcpwatch', Namespace: 'monitoring', Service: 'Helm' }): Map<string, string> {
    const root: Root = {
      Values: values,
      Release: release,
      Chart: { Name: this.meta.name, Version: this.meta.version, AppVersion: this.meta.appVersion },
      Template: { BasePath: `${this.meta.name}/templates` },
      Files: { Get: (p) => readFileSync(join(this.dir, p), 'utf8') },
    };
    const out = new Map<string, string>();
    for (const [f, tree] of this.templates) out.set(f, this.exec(tree, root, root, new Map([['$', root]])));
    return out;
  }

  private exec(nodes: TNode[], dot: unknown, root: Root, vars: Map<string, unknown>): string {
    let s = '';
    for (const node of nodes) {
      if (node.n === 'text') s += node.v;
      else if (node.n === 'action') {
        const assign = /^(\$\w+)\s*(?::=|=)\s*([\s\S]*)$/.exec(node.v);
        if (assign) vars.set(assign[1]!, this.pipeline(tokens(assign[2]!), dot, root, vars));
        else s += text(this.pipeline(tokens(node.v), dot, root, vars));
      } else {
        const v = this.pipeline(tokens(node.cond), dot, root, vars);
        if (!truthy(v)) s += this.exec(node.elseBody, dot, root, vars);
        else if (node.n === 'if') s += this.exec(node.body, dot, root, vars);
        else if (node.n === 'with') s += this.exec(node.body, v, root, vars);
        else for (const item of Array.isArray(v) ? v : Object.values(v as object)) s += this.exec(node.body, item, root, vars);
      }
    }
    return s;
  }

  private pipeline(toks: Tok[], dot: unknown, root: Root, vars: Map<string, unknown>): unknown {
    const commands: Tok[][] = [[]];
    let depth = 0;
    for (const t of toks) {
      if (t.k === '(') depth++;
      if (t.k === ')') depth--;
      if (t.k === '|' && depth === 0) commands.push([]);
      else commands.at(-1)!.push(t);
    }
    let value: unknown;
    commands.forEach((c, i) => {
      value = this.command(c, dot, root, vars, i === 0 ? [] : [value]);
    });
    return value;
  }

  private command(toks: Tok[], dot: unknown, root: Root, vars: Map<string, unknown>, piped: unknown[]): unknown {
    let i = 0;
    const term = (): { value?: unknown; fn?: string; field?: string } => {
      const t = toks[i++]!;
      if (t.k === '(') {
        let depth = 1;
        let j = i;
        for (; depth > 0; j++) {
          if (toks[j]!.k === '(') depth++;
          if (toks[j]!.k === ')') depth--;
        }
        const inner = toks.slice(i, j - 1);
        i = j;
        return { value: this.pipeline(inner, dot, root, vars) };
      }
      if (t.k === 'str' || t.k === 'num' || t.k === 'bool') return { value: t.v };
      if (t.k === 'nil') return { value: null };
      if (t.k === 'var') {
        const [name, ...path] = String(t.v).split('.');
        if (!vars.has(name!)) throw new Error(`undefined variable ${name}`);
        return { value: walk(vars.get(name!), path, String(t.v)) };
      }
      if (t.k === 'field') return { value: t.v === '.' ? dot : walk(dot, String(t.v).slice(1).split('.'), String(t.v)), field: String(t.v) };
      if (t.k === 'ident') return { fn: String(t.v) };
      throw new Error(`unexpected ${t.k}`);
    };
    const first = term();
    const args: unknown[] = [];
    if (first.fn) {
      while (i < toks.length) args.push(term().value);
      return this.call(first.fn, [...args, ...piped], root);
    }
    if (first.field === '.Files.Get') {
      while (i < toks.length) args.push(term().value);
      return root.Files.Get(text([...args, ...piped][0]));
    }
    if (i < toks.length || piped.length) throw new Error(`cannot call ${first.field ?? 'a value'}`);
    return first.value;
  }

  private call(fn: string, args: unknown[], root: Root): unknown {
    if (fn === 'include') {
      const [name, data] = args as [string, unknown];
      const tree = this.defines.get(name) ?? this.templates.get(name.replace(`${root.Template.BasePath}/`, ''));
      if (!tree) throw new Error(`include: no template "${name}"`);
      return this.exec(tree, data, root, new Map([['$', data]]));
    }
    const f = FUNCTIONS[fn];
    if (!f) throw new Error(`function "${fn}" is not supported by this renderer: add it to FUNCTIONS with Sprig's semantics`);
    return f(...args);
  }
}

function walk(v: unknown, path: string[], expr: string): unknown {
  for (const p of path) {
    if (!p) continue;
    if (v === undefined || v === null) throw new Error(`nil pointer evaluating ${expr}`);
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

// ---- helpers for the checks -----------------------------------------------------------------------

const chart = new Chart(CHART);
const defaults = (): Values => parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Values;
const ciValues = (file: string): Values => helmMerge(defaults(), parse(readFileSync(join(CHART, 'ci', file), 'utf8')) as Values);

interface PodSpec {
  securityContext: Record<string, unknown>;
  containers: Container[];
  initContainers?: Container[];
  volumes: Array<Record<string, unknown> & { name: string }>;
  automountServiceAccountToken?: boolean;
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: PodSpec;
}

/** Renders and parses every document; a YAML error or an empty name fails. */
function manifests(values: Values): K8sObject[] {
  const out: K8sObject[] = [];
  for (const [file, body] of chart.render(values)) {
    if (file === 'NOTES.txt') continue;
    for (const doc of parseAllDocuments(body)) {
      assert.deepEqual(doc.errors, [], `${file}: rendered YAML parses`);
      const obj = doc.toJS() as K8sObject | null;
      if (!obj) continue;
      assert.ok(obj.apiVersion && obj.kind && obj.metadata?.name, `${file}: apiVersion, kind, metadata.name`);
      assert.ok(obj.metadata.name.length <= 63, `${file}: name fits 63 characters`);
      out.push(obj);
    }
  }
  return out;
}

const byKind = (objs: K8sObject[], kind: string): K8sObject[] => objs.filter((o) => o.kind === kind);
const podTemplate = (o: K8sObject): PodTemplate => (o.spec as { template: PodTemplate }).template;
const workload = (objs: K8sObject[]): K8sObject => {
  const w = objs.filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment' || o.kind === 'StatefulSet');
  assert.equal(w.length, 1, 'exactly one workload');
  return w[0]!;
};

function renderError(values: Values): string {
  try {
    chart.render(values);
  } catch (err) {
    if (err instanceof HelmFail) return err.message;
    throw err;
  }
  return assert.fail('expected the render to fail');
}

function assertHardenedPod(name: string, tpl: PodTemplate, values: Values): void {
  const spec = tpl.spec;
  assert.equal(spec.securityContext.runAsNonRoot, true, `${name}: pod runAsNonRoot`);
  assert.equal(spec.securityContext.runAsUser, 10001, `${name}: pod runAsUser`);
  assert.equal(spec.securityContext.fsGroup, 10001, `${name}: pod fsGroup`);
  assert.deepEqual(spec.securityContext.seccompProfile, { type: 'RuntimeDefault' }, `${name}: seccomp`);
  assert.equal(spec.automountServiceAccountToken, false, `${name}: no API token`);
  assert.equal(spec.containers.length, 1);
  const c = spec.containers[0]!;
  const sc = c.securityContext!;
  assert.equal(sc.runAsNonRoot, true, `${name}: container runAsNonRoot`);
  assert.equal(sc.runAsUser, 10001, `${name}: container runAsUser`);
  assert.equal(sc.readOnlyRootFilesystem, true, `${name}: readOnlyRootFilesystem`);
  assert.equal(sc.allowPrivilegeEscalation, false, `${name}: allowPrivilegeEscalation`);
  assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${name}: drop ALL`);
  assert.equal(sc.capabilities?.add, undefined, `${name}: no added capabilities`);
  assert.deepEqual(c.args, ['run', '-c', '/etc/mcpwatch/mcpwatch.yaml']);
  // Probes: /healthz and /readyz on the named health port, which is the health listener's port.
  const ports = new Map((c.ports ?? []).map((p) => [p.name, p]));
  assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'health' }, `${name}: liveness`);
  assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'health' }, `${name}: readiness`);
  const vp = values.ports as Record<string, number>;
  assert.equal(ports.get('health')?.containerPort, vp.health);
  assert.equal(ports.get('otlp-grpc')?.containerPort, vp.otlpGrpc);
  assert.equal(ports.get('otlp-http')?.containerPort, vp.otlpHttp);
  assert.equal(ports.get('metrics')?.containerPort, vp.metrics);
  assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${name}: requests`);
  assert.ok(c.resources?.limits?.memory, `${name}: memory limit`);
  // Writable paths are volumes; the root filesystem stays read-only.
  const mounts = new Map((c.volumeMounts ?? []).map((m) => [m.mountPath, m]));
  assert.equal(mounts.get('/etc/mcpwatch')?.readOnly, true, `${name}: config read-only`);
  assert.ok(mounts.has('/var/lib/mcpwatch'), `${name}: state volume`);
  assert.ok(mounts.has('/tmp'), `${name}: /tmp volume`);
  const volumes = new Map(spec.volumes.map((v) => [v.name, v]));
  assert.ok(volumes.get('tmp')?.emptyDir, `${name}: /tmp is an emptyDir`);
  // Secrets only by reference.
  const secretNames = new Set(((values.secretEnv as Array<{ name: string }>) ?? []).map((s) => s.name));
  for (const e of c.env ?? []) {
    if (secretNames.has(e.name)) {
      assert.equal(e.value, undefined, `${name}: ${e.name} is not inlined`);
      assert.ok(e.valueFrom?.secretKeyRef?.name && e.valueFrom.secretKeyRef.key, `${name}: ${e.name} from a Secret`);
    }
  }
  for (const s of secretNames) assert.ok((c.env ?? []).some((e) => e.name === s), `${name}: env ${s}`);
}

// ---- tests ----------------------------------------------------------------------------------------

describe('helm chart rendering (approximate helm template)', () => {
  it('refuses to render without a mode, naming the setting', () => {
    assert.match(renderError(defaults()), /mode is required: set --set mode=daemonset \(.+\), --set mode=deployment \(.+\) or --set mode=statefulset \(splits the servers into `replicas` shards\)$/);
    assert.match(renderError(helmMerge(defaults(), { mode: 'sidecar' })), /mode is required/);
  });

  it('refuses state volumes that do not fit the mode', () => {
    assert.match(renderError(helmMerge(defaults(), { mode: 'daemonset', state: { type: 'persistentVolumeClaim' } })), /needs mode=deployment/);
    assert.match(renderError(helmMerge(defaults(), { mode: 'deployment', state: { type: 'hostPath' } })), /needs mode=daemonset/);
    assert.match(renderError(helmMerge(defaults(), { mode: 'deployment', replicaCount: 2, state: { type: 'persistentVolumeClaim' } })), /replicaCount=1/);
    assert.match(renderError(helmMerge(defaults(), { mode: 'deployment', service: { enabled: false }, serviceMonitor: { enabled: true } })), /needs service.enabled/);
    assert.match(renderError(helmMerge(defaults(), { mode: 'deployment', extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=64' }] })), /set NODE_OPTIONS with the nodeOptions value/);
  });

  it('refuses a health endpoint the kubelet\'s probes cannot reach and a state file outside the state volume: each would restart the pod forever', () => {
    const render = (config: Values): string => renderError(helmMerge(defaults(), { mode: 'deployment', config }));
    assert.equal(render({ health: { endpoint: '0.0.0.0:8080' } }), 'config.health.endpoint 0.0.0.0:8080: its port must be ports.health (13133), where the liveness and readiness probes call /healthz and /readyz; change one to match the other');
    assert.equal(render({ health: { endpoint: '127.0.0.1:13133' } }), "config.health.endpoint 127.0.0.1:13133: the kubelet's probes come from outside the pod's loopback; listen on 0.0.0.0:13133");
    assert.equal(render({ state: { path: '/data/state.db' } }), 'config.state.path /data/state.db: the root filesystem is read-only and the state volume is mounted at /var/lib/mcpwatch (/tmp is writable too, but goes with the pod); name the file under it, e.g. /var/lib/mcpwatch/state.db');
    // /tmp is an emptyDir the container can write: the agent runs, its state lasting as long as the pod.
    assert.equal(manifests(helmMerge(defaults(), { mode: 'deployment', config: { state: { path: '/tmp/state.db' } } })).length > 0, true);
    // Moved together, the endpoint and the port agree; a relative state path lands in the volume (the working directory).
    assert.equal(manifests(helmMerge(defaults(), { mode: 'deployment', ports: { health: 8080 }, config: { health: { endpoint: '0.0.0.0:8080' }, state: { path: 'state.db' } } })).length > 0, true);
  });

  it('the container gets NODE_OPTIONS from nodeOptions, once, and an empty value is still set (it overrides the image\'s)', () => {
    const nodeOptions = (values: Values): Array<string | undefined> =>
      (podTemplate(workload(manifests(values))).spec.containers[0]!.env ?? []).filter((e) => e.name === 'NODE_OPTIONS').map((e) => e.value);
    for (const values of [helmMerge(defaults(), { mode: 'daemonset' }), ...readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('-values.yaml')).map(ciValues)]) {
      assert.deepEqual(nodeOptions(values), [values.nodeOptions]);
    }
    assert.match(String(defaults().nodeOptions), /^--max-old-space-size=\d+ --max-semi-space-size=\d+$/);
    assert.deepEqual(nodeOptions(helmMerge(defaults(), { mode: 'deployment', nodeOptions: '' })), ['']);
  });

  it('mode=daemonset renders a DaemonSet with OTLP hostPorts and a node-local Service', () => {
    const values = helmMerge(defaults(), { mode: 'daemonset' });
    const objs = manifests(values);
    assert.deepEqual(objs.map((o) => o.kind).sort(), ['ConfigMap', 'DaemonSet', 'Service', 'ServiceAccount']);
    const c = podTemplate(workload(objs)).spec.containers[0]!;
    const ports = new Map((c.ports ?? []).map((p) => [p.name, p.hostPort]));
    assert.deepEqual(Object.fromEntries(ports), { 'otlp-grpc': 4317, 'otlp-http': 4318, metrics: undefined, health: undefined });
    const svc = byKind(objs, 'Service')[0]!.spec as { internalTrafficPolicy: string; ports: Array<{ name: string; port: number }> };
    assert.equal(svc.internalTrafficPolicy, 'Local');
    assert.deepEqual(svc.ports.map((p) => [p.name, p.port]), [['otlp-grpc', 4317], ['otlp-http', 4318], ['metrics', 9464]]);
    assertHardenedPod('daemonset defaults', podTemplate(workload(objs)), values);
    const off = manifests(helmMerge(values, { hostPorts: { enabled: false } }));
    assert.ok(podTemplate(workload(off)).spec.containers[0]!.ports!.every((p) => p.hostPort === undefined), 'hostPorts.enabled=false');
  });

  it('mode=deployment renders a Deployment without hostPorts and a cluster-wide Service', () => {
    const values = helmMerge(defaults(), { mode: 'deployment' });
    const objs = manifests(values);
    assert.deepEqual(objs.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'Service', 'ServiceAccount']);
    assert.ok(podTemplate(workload(objs)).spec.containers[0]!.ports!.every((p) => p.hostPort === undefined));
    assert.equal((byKind(objs, 'Service')[0]!.spec as { internalTrafficPolicy: string }).internalTrafficPolicy, 'Cluster');
    assertHardenedPod('deployment defaults', podTemplate(workload(objs)), values);
  });

  for (const file of readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('-values.yaml')).sort()) {
    it(`ci/${file}: hardened pod, probes, ports, secrets by reference, ConfigMap = config`, () => {
      const values = ciValues(file);
      const objs = manifests(values);
      const tpl = podTemplate(workload(objs));
      assertHardenedPod(file, tpl, values);
      const cm = byKind(objs, 'ConfigMap')[0]!;
      const rendered = cm.data!['mcpwatch.yaml']!;
      // mode=statefulset: the chart adds the sharding section, the pod's ordinal read from its name.
      const sharding = values.mode === 'statefulset' ? { sharding: { shards: (values as { replicas: number }).replicas, ordinal: '${env:POD_NAME}' } } : {};
      assert.deepEqual(parse(rendered), { ...(values.config as Values), ...sharding }, 'the ConfigMap holds .Values.config');
      const env = Object.fromEntries(((values.secretEnv as Array<{ name: string }>) ?? []).map((s) => [s.name, s.name.includes('URL') ? 'https://example.com/x' : 'x']));
      parseConfig(rendered, `${file} ConfigMap`, { ...env, POD_NAME: `${workload(objs).metadata.name}-0` });
      assert.equal(tpl.metadata.annotations['checksum/config'], createHash('sha256').update(chart.render(values).get('configmap.yaml')!).digest('hex'));
      assert.equal(byKind(objs, 'Secret').length, 0, 'the chart never creates Secrets');
    });
  }

  it('mode=statefulset: shards × replicasPerShard pods, pod N on shard N mod shards, a headless Service, a claim per pod', () => {
    const values = ciValues('statefulset-values.yaml');
    const objs = manifests(values);
    assert.deepEqual(objs.map((o) => o.kind).sort(), ['ConfigMap', 'Service', 'Service', 'ServiceAccount', 'StatefulSet']);
    const sts = workload(objs);
    const spec = sts.spec as { replicas: number; serviceName: string; podManagementPolicy: string; volumeClaimTemplates?: Array<{ metadata: { name: string }; spec: { resources: { requests: { storage: string } } } }> };
    assert.equal(spec.replicas, 6, '3 shards × 2 replicas');
    assert.equal(spec.podManagementPolicy, 'Parallel');
    const tpl = podTemplate(sts);
    assertHardenedPod('statefulset', tpl, values);
    const env = tpl.spec.containers[0]!.env ?? [];
    assert.deepEqual(env.find((e) => e.name === 'POD_NAME')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });

    // The governing Service is headless and has no "metrics" port: the ServiceMonitor, which selects
    // the chart's Services by label, scrapes each pod once through the main Service.
    const services = byKind(objs, 'Service');
    const headless = services.find((s) => s.metadata.name === spec.serviceName)!;
    assert.ok(headless, 'serviceName names a rendered Service');
    const hs = headless.spec as { clusterIP: string; ports: Array<{ name: string }> };
    assert.equal(hs.clusterIP, 'None');
    assert.ok(!hs.ports.some((p) => p.name === 'metrics'));
    assert.ok((services.find((s) => s !== headless)!.spec as { ports: Array<{ name: string }> }).ports.some((p) => p.name === 'metrics'));

    // Each pod's own configuration: the shared ConfigMap read with that pod's name.
    const text = byKind(objs, 'ConfigMap')[0]!.data!['mcpwatch.yaml']!;
    const secrets = { GITHUB_MCP_TOKEN: 'x', SLACK_WEBHOOK_URL: 'https://hooks.example.com/x' };
    const pods = Array.from({ length: spec.replicas }, (_, i) => parseConfig(text, `pod ${i}`, { ...secrets, POD_NAME: `${sts.metadata.name}-${i}` }).sharding);
    assert.deepEqual(pods, [0, 1, 2, 3, 4, 5].map((i) => ({ shards: 3, shard: i % 3, replica: Math.floor(i / 3) })));

    // State: one claim per pod from the template, no shared PVC, the pod's volume not listed twice.
    assert.deepEqual(spec.volumeClaimTemplates?.map((t) => [t.metadata.name, t.spec.resources.requests.storage]), [['state', '1Gi']]);
    assert.equal(byKind(objs, 'PersistentVolumeClaim').length, 0);
    assert.ok(!tpl.spec.volumes.some((v) => v.name === 'state'));
    assert.ok(tpl.spec.containers[0]!.volumeMounts!.some((m) => m.name === 'state' && m.mountPath === '/var/lib/mcpwatch'));

    // With an emptyDir, no claims: the pod lists the volume itself.
    const ephemeral = manifests(helmMerge(values, { state: { type: 'emptyDir' } }));
    assert.equal((workload(ephemeral).spec as { volumeClaimTemplates?: unknown }).volumeClaimTemplates, undefined);
    assert.ok(podTemplate(workload(ephemeral)).spec.volumes.some((v) => v.name === 'state' && v.emptyDir));
  });

  it('mode=statefulset refuses a hand-set config.sharding and a shared existing claim', () => {
    const values = ciValues('statefulset-values.yaml');
    assert.match(renderError(helmMerge(values, { config: { sharding: { shards: 3, shard: 0 } } })), /config\.sharding: leave it unset in mode=statefulset/);
    assert.match(renderError(helmMerge(values, { state: { persistentVolumeClaim: { existingClaim: 'shared' } } })), /existingClaim cannot be used in mode=statefulset/);
  });

  it('the config checksum changes with the configuration, so pods roll', () => {
    const a = helmMerge(defaults(), { mode: 'deployment' });
    const b = helmMerge(a, { config: { log: { level: 'debug' } } });
    const sum = (v: Values): string => podTemplate(workload(manifests(v))).metadata.annotations['checksum/config']!;
    assert.notEqual(sum(a), sum(b));
  });

  it('state: hostPath adds the chown init container, a PVC is created or reused', () => {
    const ds = manifests(ciValues('daemonset-values.yaml'));
    const spec = podTemplate(workload(ds)).spec;
    const init = spec.initContainers?.[0];
    assert.deepEqual(init?.command, ['chown', '10001:10001', '/var/lib/mcpwatch']);
    assert.deepEqual(init?.securityContext?.capabilities, { drop: ['ALL'], add: ['CHOWN'] });
    assert.deepEqual(spec.volumes.find((v) => v.name === 'state')?.hostPath, { path: '/var/lib/mcpwatch', type: 'DirectoryOrCreate' });

    const dep = manifests(ciValues('deployment-values.yaml'));
    const pvc = byKind(dep, 'PersistentVolumeClaim')[0]!;
    assert.equal((pvc.spec as { resources: { requests: { storage: string } } }).resources.requests.storage, '2Gi');
    assert.deepEqual((workload(dep).spec as { strategy: unknown }).strategy, { type: 'Recreate' });
    assert.deepEqual(podTemplate(workload(dep)).spec.volumes.find((v) => v.name === 'state')?.persistentVolumeClaim, { claimName: pvc.metadata.name });

    const existing = manifests(helmMerge(ciValues('deployment-values.yaml'), { state: { persistentVolumeClaim: { existingClaim: 'my-claim' } } }));
    assert.equal(byKind(existing, 'PersistentVolumeClaim').length, 0);
    assert.deepEqual(podTemplate(workload(existing)).spec.volumes.find((v) => v.name === 'state')?.persistentVolumeClaim, { claimName: 'my-claim' });
  });

  it('ci/full-values.yaml: ServiceMonitor on the metrics port and a PrometheusRule equal to alerts.yaml', () => {
    const objs = manifests(ciValues('full-values.yaml'));
    const sm = byKind(objs, 'ServiceMonitor')[0]!;
    assert.equal(sm.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(sm.metadata.labels!.release, 'kube-prometheus-stack');
    const smSpec = sm.spec as { jobLabel: string; endpoints: Array<{ port: string; path: string }>; selector: { matchLabels: Record<string, string> } };
    assert.deepEqual(smSpec.endpoints.map((e) => [e.port, e.path]), [['metrics', '/metrics']]);
    // job="mcpwatch" (the app.kubernetes.io/name label), as the rules' up{job=~".*mcpwatch.*"} expects.
    assert.equal(byKind(objs, 'Service')[0]!.metadata.labels![smSpec.jobLabel], 'mcpwatch');
    const svcSelector = (byKind(objs, 'Service')[0]!.metadata.labels ?? {}) as Record<string, string>;
    for (const [k, v] of Object.entries(smSpec.selector.matchLabels)) assert.equal(svcSelector[k], v, 'ServiceMonitor selects the Service');
    const rule = byKind(objs, 'PrometheusRule')[0]!;
    const alerts = parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'alerts.yaml'), 'utf8')) as unknown;
    assert.deepEqual(rule.spec, alerts, 'PrometheusRule spec is deploy/prometheus/alerts.yaml');
    assert.match(JSON.stringify(rule.spec), /\{\{ \$labels\.mcp_server_name \}\}/, 'rule templates reach Prometheus unrendered');
  });

  it('credentialFiles: the files servers\' auth names are there, each a read-only directory of its own (so rotation reaches the pod)', () => {
    const values = ciValues('full-values.yaml');
    const tpl = podTemplate(workload(manifests(values)));
    const c = tpl.spec.containers[0]!;
    const mounts = (c.volumeMounts ?? []).filter((m) => m.mountPath.startsWith('/var/run/secrets/mcpwatch/'));
    assert.deepEqual(mounts, [
      { name: 'cred-prober-key', mountPath: '/var/run/secrets/mcpwatch/prober-key', readOnly: true },
      { name: 'cred-mesh-token', mountPath: '/var/run/secrets/mcpwatch/mesh-token', readOnly: true },
    ]);
    const volumes = new Map(tpl.spec.volumes.map((v) => [v.name, v]));
    assert.deepEqual(volumes.get('cred-prober-key'), { name: 'cred-prober-key', secret: { secretName: 'mcp-oauth', defaultMode: 0o440, items: [{ key: 'prober.pem', path: 'prober.pem' }] } });
    assert.deepEqual(volumes.get('cred-mesh-token'), { name: 'cred-mesh-token', projected: { sources: [{ serviceAccountToken: { path: 'token', audience: 'https://mesh.example.com/mcp', expirationSeconds: 3600 } }] } });
    // Every file the configuration's auth names is inside one of these directories, as the file it mounts.
    const files = new Set(mounts.map((m) => {
      const v = volumes.get(m.name) as { secret?: { items: Array<{ path: string }> } };
      return `${m.mountPath}/${v.secret ? v.secret.items[0]!.path : 'token'}`;
    }));
    const servers = (values.config as { servers: Array<{ auth?: { private_key_file?: string; token_file?: string } }> }).servers;
    const named = servers.flatMap((s) => [s.auth?.private_key_file, s.auth?.token_file]).filter((f): f is string => f !== undefined);
    assert.deepEqual(named.sort(), [...files].sort());
    const defaultLifetime = podTemplate(workload(manifests(helmMerge(ciValues('deployment-values.yaml'), { credentialFiles: [{ name: 'm', serviceAccountToken: { audience: 'https://m' } }] }))));
    assert.deepEqual(defaultLifetime.spec.volumes.find((v) => v.name === 'cred-m'), { name: 'cred-m', projected: { sources: [{ serviceAccountToken: { path: 'token', audience: 'https://m', expirationSeconds: 3600 } }] } });
  });

  it('the sidecar values render the ConfigMap that agent-pod-snippet.yaml mounts', () => {
    const values = helmMerge(defaults(), parse(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'sidecar', 'values.yaml'), 'utf8')) as Values);
    const cm = parse(chart.render(values).get('configmap.yaml')!) as K8sObject;
    const snippet = parse(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'sidecar', 'agent-pod-snippet.yaml'), 'utf8')) as { volumes: Array<{ name: string; configMap?: { name: string } }> };
    const mounted = snippet.volumes.find((v) => v.configMap)?.configMap?.name;
    assert.equal(cm.metadata.name, mounted);
    parseConfig(cm.data!['mcpwatch.yaml']!, 'sidecar ConfigMap', { GITHUB_MCP_TOKEN: 'x' });
  });

  it('deploy/kubernetes/daemonset.yaml is what the chart renders with mode=daemonset (no drift)', () => {
    const chartObjs = manifests(helmMerge(defaults(), { mode: 'daemonset' }));
    const plain = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'daemonset.yaml'), 'utf8'))
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null);
    for (const kind of ['DaemonSet', 'Service']) {
      const fromChart = structuredClone(byKind(chartObjs, kind)[0]!.spec!);
      // The only difference allowed: the chart's checksum/config annotation.
      if (kind === 'DaemonSet') delete (fromChart as { template: { metadata: { annotations?: unknown } } }).template.metadata.annotations;
      assert.deepEqual(byKind(plain, kind)[0]!.spec, fromChart, `${kind} spec`);
    }
    const config = (objs: K8sObject[]): unknown => parse(byKind(objs, 'ConfigMap')[0]!.data!['mcpwatch.yaml']!);
    assert.deepEqual(config(plain), config(chartObjs), 'ConfigMap configuration');
  });

  it('NOTES.txt renders for every mode', () => {
    for (const values of [helmMerge(defaults(), { mode: 'daemonset' }), ciValues('deployment-values.yaml'), ciValues('full-values.yaml'), ciValues('statefulset-values.yaml')]) {
      const notes = chart.render(values).get('NOTES.txt')!;
      assert.match(notes, /OTEL_EXPORTER_OTLP_ENDPOINT/);
      assert.doesNotMatch(notes, /<no value>|\{\{/);
      // An SDK's default exporter speaks OTLP/HTTP: pointed at the gRPC port it loses every span.
      assert.doesNotMatch(notes, /OTEL_EXPORTER_OTLP_ENDPOINT[=\s\S]{0,40}:4317/, 'an endpoint on the gRPC port');
    }
  });

  it('the renderer itself: trimming, else-if chains, include, variables, pipelines, unknown functions', () => {
    const render = (src: string, values: unknown): string => new Chart(CHART, new Map([['t.yaml', src]])).render(values).get('t.yaml')!;
    assert.equal(render('a\n  {{- if .Values.x }}\nyes{{ else if .Values.y }}\nmaybe{{ else }}\nno{{ end }}', { y: 1 }), 'a\nmaybe');
    assert.equal(render('{{- define "n" }}[{{ . }}]{{ end }}{{ include "n" .Values.v | printf "<%s>" }}', { v: 1 }), '<[1]>');
    assert.equal(render('{{ $x := "a" }}{{ $x = printf "%s-b" $x }}{{ $x }}', {}), 'a-b');
    assert.equal(render('m:{{ .Values.m | toYaml | nindent 2 }}', { m: { b: 1, a: [2] } }), 'm:\n  a:\n    - 2\n  b: 1');
    assert.equal(render('{{ range .Values.l }}<{{ .n }}>{{ end }}{{ with .Values.none }}x{{ else }}empty{{ end }}', { l: [{ n: 1 }, { n: 2 }] }), '<1><2>empty');
    assert.equal(render('{{ .Values.a | default "d" }} {{ has "b" (list "a" "b") }} {{ and 1 0 }} {{ or 0 "" "z" }}', { a: '' }), 'd true 0 z');
    assert.throws(() => render('{{ .Values.v | upper }}', { v: 'a' }), /function "upper" is not supported/);
    assert.throws(() => render('{{ .Values.a.b }}', {}), /nil pointer/);
    assert.throws(() => render('{{ fail "stop here" }}', {}), /stop here/);
  });
});
