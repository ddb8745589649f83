// The Helm chart's values, checked without Helm: values.yaml and every ci/*-values.yaml (merged over
// values.yaml as Helm merges them) against values.schema.json with ajv; the schema's own strictness;
// a comment on every key of values.yaml; every .Values reference in the templates; and the
// configuration the chart (and the other deploy files) render, through mcpwatch's own parser.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { isMap, isPair, isScalar, isSeq, parse, parseAllDocuments, parseDocument, stringify, type Node as YamlNode } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { parseListen, schemaKeys } from '../../src/config/schema.js';
import { helmMerge, isObject, read, ROOT, sizingProblems, type Values } from './common.js';

const CHART = join(ROOT, 'helm', 'mcpwatch');

const defaults = (): Values => parse(read('helm', 'mcpwatch', 'values.yaml')) as Values;
const ciFiles = (): string[] => readdirSync(join(CHART, 'ci')).filter((f) => f.endsWith('-values.yaml')).sort();

/** Every values set the chart is expected to render: defaults (plus a mode), each CI file, the sidecar example. */
function valueSets(): Array<{ name: string; values: Values }> {
  const base = defaults();
  return [
    { name: 'values.yaml + mode=daemonset', values: helmMerge(base, { mode: 'daemonset' }) },
    { name: 'values.yaml + mode=deployment', values: helmMerge(base, { mode: 'deployment' }) },
    ...ciFiles().map((f) => ({ name: `ci/${f}`, values: helmMerge(base, parse(readFileSync(join(CHART, 'ci', f), 'utf8')) as Values) })),
    { name: 'deploy/kubernetes/sidecar/values.yaml', values: helmMerge(base, parse(read('deploy', 'kubernetes', 'sidecar', 'values.yaml')) as Values) },
  ];
}

let compiled: ValidateFunction | undefined;
function validator(): ValidateFunction {
  if (compiled) return compiled;
  const schema = JSON.parse(read('helm', 'mcpwatch', 'values.schema.json')) as object;
  // strict: unknown or misplaced keywords in the schema are errors, not ignored. strictRequired is
  // off because the servers' cross-field rule (`then: {not: {required: [url]}}`) names a property
  // declared in the enclosing object, which is the draft-07 idiom for "must not be set".
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  compiled = ajv.compile(schema);
  return compiled;
}

function schemaErrors(values: Values): string[] {
  const validate = validator();
  if (validate(values)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

const ENV_REF = /\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}/g;

/** Variables a configuration needs from the environment (references without a default). */
function envRefs(config: unknown): Set<string> {
  const text = JSON.stringify(config);
  return new Set([...text.matchAll(ENV_REF)].filter((m) => !m[2]).map((m) => m[1]!));
}

/** mcpwatch's own parser on a configuration, with a placeholder for each secret. */
function parseWithPlaceholders(config: unknown, file: string): ReturnType<typeof parseConfig> {
  const env = Object.fromEntries([...envRefs(config)].map((n) => [n, n.includes('URL') ? 'https://example.com/placeholder' : 'placeholder']));
  const text = typeof config === 'string' ? config : stringify(config);
  try {
    return parseConfig(text, file, env);
  } catch (err) {
    if (err instanceof ConfigError) assert.fail(`${file} is not a valid mcpwatch configuration:\n${err.message}`);
    throw err;
  }
}

interface SchemaNode {
  type?: string | string[];
  description?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  oneOf?: SchemaNode[];
}

describe('helm chart values', () => {
  it('values.schema.json is draft-07, every object closed (additionalProperties: false) and every property described', () => {
    const schema = JSON.parse(read('helm', 'mcpwatch', 'values.schema.json')) as SchemaNode & { $schema: string };
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    const problems: string[] = [];
    const walk = (node: SchemaNode, path: string): void => {
      const types = [node.type ?? []].flat();
      if (types.includes('object')) {
        if (node.properties) {
          if (node.additionalProperties !== false) problems.push(`${path}: additionalProperties must be false`);
        } else if (!isObject(node.additionalProperties)) {
          // A map (labels, annotations, headers): its values must have a type, never be open-ended.
          problems.push(`${path}: an object without properties must type its values (additionalProperties: {type: ...})`);
        }
      }
      for (const [k, child] of Object.entries(node.properties ?? {})) {
        if (!child.description?.trim()) problems.push(`${path}.${k}: no description`);
        walk(child, `${path}.${k}`);
      }
      if (node.items) walk(node.items, `${path}[]`);
      node.oneOf?.forEach((b, i) => walk(b, `${path}<oneOf ${i}>`));
      if (isObject(node.additionalProperties)) walk(node.additionalProperties as SchemaNode, `${path}.*`);
    };
    walk(schema, '');
    assert.deepEqual(problems, []);
  });

  it('values.yaml, every ci/*-values.yaml and the sidecar values pass the schema', () => {
    assert.ok(ciFiles().length >= 3, 'ci/ has daemonset, deployment and full values');
    for (const need of ['daemonset-values.yaml', 'deployment-values.yaml', 'full-values.yaml']) assert.ok(ciFiles().includes(need), need);
    assert.deepEqual(schemaErrors(defaults()), [], 'values.yaml');
    for (const { name, values } of valueSets()) assert.deepEqual(schemaErrors(values), [], name);
  });

  it('the schema rejects unknown keys, a bad mode, inline secrets and incomplete servers', () => {
    const base = helmMerge(defaults(), { mode: 'deployment' });
    const bad: Array<[string, Values]> = [
      ['unknown top-level key', { replica: 2 }],
      ['mode sidecar', { mode: 'sidecar' }],
      ['typo in config', { config: { monitoring: { intervall: '30s' } } }],
      ['typo in a nested chart key', { service: { internalTraficPolicy: 'Local' } }],
      ['inline secret value', { secretEnv: [{ name: 'TOKEN', secretName: 's', secretKey: 'k', value: 'ghp_123' }] }],
      ['stdio server without command', { config: { servers: [{ name: 'x', transport: 'stdio' }] } }],
      ['http server without url', { config: { servers: [{ name: 'x', transport: 'streamable_http' }] } }],
      ['bad duration', { config: { monitoring: { interval: 'soon' } } }],
      ['unknown notifier type', { config: { alerts: [{ type: 'email' }] } }],
      ['bad state type', { state: { type: 'nfs' } }],
      ['nodeOptions not a string', { nodeOptions: 256 }],
      ['the removed runtime section', { config: { runtime: { memory: 'compact' } } }],
      ['no shards', { mode: 'statefulset', replicas: 0 }],
      ['replicasPerShard below one', { mode: 'statefulset', replicasPerShard: 0 }],
      ['a notifier on the second replica', { config: { alerts: [{ type: 'stdout', replicas: 'second' }] } }],
      ['a sharding section without shards', { config: { sharding: { shard: 0 } } }],
      ['a credential file from neither a Secret nor a token', { credentialFiles: [{ name: 'key' }] }],
      ['a credential file from both', { credentialFiles: [{ name: 'key', secret: { secretName: 's', secretKey: 'k.pem' }, serviceAccountToken: { audience: 'https://a' } }] }],
      ['a credential file whose name is no volume name', { credentialFiles: [{ name: 'Prober_Key', secret: { secretName: 's', secretKey: 'k.pem' } }] }],
      ['a credential file with its content inline', { credentialFiles: [{ name: 'key', secret: { secretName: 's', secretKey: 'k.pem', value: '-----BEGIN' } }] }],
      ['a token shorter than the kubelet issues', { credentialFiles: [{ name: 't', serviceAccountToken: { audience: 'https://a', expirationSeconds: 60 } }] }],
      ['a check that calls nothing', { config: { servers: [{ name: 'x', transport: 'stdio', command: 'x', checks: [{ name: 'c' }] }] } }],
      ['a check that calls a tool and a prompt', { config: { servers: [{ name: 'x', transport: 'stdio', command: 'x', checks: [{ tool: 't', prompt: 'p' }] }] } }],
    ];
    for (const [what, override] of bad) {
      assert.notDeepEqual(schemaErrors(helmMerge(base, override)), [], `${what} must be rejected`);
    }
    // A check without a name is named after what it calls, as mcpwatch's own parser does.
    assert.deepEqual(schemaErrors(helmMerge(base, { config: { servers: [{ name: 'x', transport: 'stdio', command: 'x', checks: [{ tool: 't' }] }] } })), []);
  });

  it('config takes a whole ${env:…} reference wherever mcpwatch does: every number and boolean', () => {
    // mcpwatch gives such a value the type its key wants (`concurrency: ${env:CONCURRENCY}`); the
    // schema refused at install what the agent would have run.
    const base = helmMerge(defaults(), { mode: 'deployment' });
    const referenced = { config: { monitoring: { concurrency: '${env:CONCURRENCY}', fresh_connection: '${env:FRESH}' }, servers: [{ name: 'x', transport: 'stdio', command: 'node', consecutive_failures_before_down: '${env:FAILURES}' }] } };
    assert.deepEqual(schemaErrors(helmMerge(base, referenced)), []);
    assert.notDeepEqual(schemaErrors(helmMerge(base, { config: { monitoring: { concurrency: 'many' } } })), [], 'text that is no reference is still refused');
    const refused: string[] = [];
    const walk = (node: SchemaNode & { pattern?: string }, path: string): void => {
      const types = [node.type ?? []].flat();
      if (types.some((t) => t === 'integer' || t === 'number' || t === 'boolean') && !(types.includes('string') && (node.pattern === undefined || new RegExp(node.pattern).test('${env:X}')))) refused.push(path);
      for (const [k, v] of Object.entries(node.properties ?? {})) walk(v, `${path}.${k}`);
      if (node.items) walk(node.items, `${path}[]`);
      (node.oneOf ?? []).forEach((v, i) => walk(v, `${path}<${i}>`));
      if (typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}.*`);
    };
    walk((JSON.parse(read('helm', 'mcpwatch', 'values.schema.json')) as { properties: { config: SchemaNode } }).properties.config, 'config');
    assert.deepEqual(refused, []);
  });

  it('every key in values.yaml has a comment line above it', () => {
    const doc = parseDocument(read('helm', 'mcpwatch', 'values.yaml'));
    const missing: string[] = [];
    const walk = (node: YamlNode | null, path: string): void => {
      if (isMap(node)) {
        node.items.forEach((pair, i) => {
          if (!isPair(pair) || !isScalar(pair.key)) return;
          const key = String(pair.key.value);
          // The yaml package puts the comment above a map's first key on the map itself.
          const comment = pair.key.commentBefore ?? (i === 0 ? node.commentBefore : undefined);
          if (!comment?.trim()) missing.push(`${path}${key}`);
          walk(pair.value as YamlNode | null, `${path}${key}.`);
        });
      } else if (isSeq(node)) {
        // List items are data (alerts: [{type: stdout}]): the list's key carries the comment.
      }
    };
    walk(doc.contents, '');
    assert.deepEqual(missing, []);
  });

  it('every .Values reference in the templates exists in values.yaml', () => {
    const values = defaults();
    const files = readdirSync(join(CHART, 'templates'));
    const missing: string[] = [];
    let refs = 0;
    for (const f of files) {
      const text = readFileSync(join(CHART, 'templates', f), 'utf8');
      for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        refs++;
        let node: unknown = values;
        for (const key of m[1]!.slice(1).split('.')) {
          if (!isObject(node) || !(key in node)) {
            missing.push(`${f}: .Values${m[1]}`);
            break;
          }
          node = node[key];
        }
      }
    }
    assert.ok(refs > 40, `found ${refs} references`);
    assert.deepEqual(missing, []);
  });

  it('the schema of `config` has exactly the keys of mcpwatch\'s configuration schema', () => {
    const schema = JSON.parse(read('helm', 'mcpwatch', 'values.schema.json')) as SchemaNode;
    const chartKeys = new Set<string>();
    const walk = (node: SchemaNode, path: string): void => {
      node.oneOf?.forEach((b) => walk(b, path));
      if (node.items) walk(node.items, `${path}[]`);
      for (const [k, child] of Object.entries(node.properties ?? {})) {
        const p = path ? `${path}.${k}` : k;
        chartKeys.add(p);
        walk(child, p);
      }
    };
    walk(schema.properties!.config!, '');
    // schemaKeys() writes union members as `alerts[].url (webhook)` and lists the `servers[]` element.
    const agentKeys = new Set(
      schemaKeys()
        .map((k) => k.path.replace(/ \(\w+\)/g, ''))
        .filter((p) => !p.endsWith('[]')),
    );
    const onlyChart = [...chartKeys].filter((k) => !agentKeys.has(k));
    const onlyAgent = [...agentKeys].filter((k) => !chartKeys.has(k));
    assert.deepEqual({ onlyChart, onlyAgent }, { onlyChart: [], onlyAgent: [] }, 'update helm/mcpwatch/values.schema.json (config) to match src/config/schema.ts');
  });

  it('the configuration every values set renders passes mcpwatch\'s parser, with every secret from a Secret', () => {
    for (const { name, values } of valueSets()) {
      const config = parseWithPlaceholders(values.config, name);
      assert.ok(config.state.path.startsWith('/var/lib/mcpwatch/'), `${name}: state.path is on the state volume`);
      // Every ${env:X} the configuration needs must reach the container (the sidecar snippet sets its own env).
      if (!name.includes('sidecar')) {
        const provided = new Set([...((values.secretEnv as Array<{ name: string }>) ?? []), ...((values.extraEnv as Array<{ name: string }>) ?? [])].map((e) => e.name));
        for (const ref of envRefs(values.config)) assert.ok(provided.has(ref), `${name}: \${env:${ref}} has no secretEnv entry`);
      }
    }
  });

  it('nodeOptions sets only the two heap sizes, the heap fits resources.limits.memory, and limit_mib refuses before the heap is full', () => {
    const problems: string[] = [];
    for (const { name, values } of valueSets()) {
      if (name.includes('sidecar')) continue; // its container is agent-pod-snippet.yaml's (manifests.test.ts)
      const config = parseWithPlaceholders(values.config, name);
      const limits = (values.resources as { limits: { memory: string } }).limits;
      problems.push(...sizingProblems(name, values.nodeOptions as string, limits.memory, config.receivers.otlp?.limit_mib ?? 0));
    }
    assert.deepEqual(problems, []);
    // The check itself: a cap too large for the limit, or below what limit_mib admits, is found.
    assert.equal(sizingProblems('x', '--max-old-space-size=512 --max-semi-space-size=2', '384Mi', 256).length, 1);
    assert.equal(sizingProblems('x', '--max-old-space-size=128 --max-semi-space-size=2', '384Mi', 256).length, 1);
    assert.throws(() => sizingProblems('x', '--max-old-space-size=256 --max-semi-space-size=2 --optimize-for-size', '384Mi', 256), /unexpected NODE_OPTIONS word "--optimize-for-size"/);
  });

  it('the chart\'s listeners are on 0.0.0.0 and on the ports the pod template exposes', () => {
    for (const { name, values } of valueSets()) {
      const config = parseWithPlaceholders(values.config, name);
      const ports = values.ports as Record<string, number>;
      const listeners: Array<[string, string | undefined, number]> = [
        ['receivers.otlp.grpc', config.receivers.otlp?.grpc?.endpoint, ports.otlpGrpc!],
        ['receivers.otlp.http', config.receivers.otlp?.http?.endpoint, ports.otlpHttp!],
        ['exporters.prometheus', config.exporters.prometheus?.endpoint, ports.metrics!],
        ['health', config.health.endpoint, ports.health!],
      ];
      for (const [key, endpoint, port] of listeners) {
        assert.ok(endpoint, `${name}: ${key} is enabled`);
        const listen = parseListen(endpoint);
        assert.equal(listen?.port, port, `${name}: ${key}.endpoint port matches ports`);
        // The sidecar keeps OTLP on the pod's loopback on purpose; everything else must be reachable.
        const loopbackOk = name.includes('sidecar') && key.startsWith('receivers');
        assert.equal(listen?.host, loopbackOk ? '127.0.0.1' : '0.0.0.0', `${name}: ${key}.endpoint host`);
      }
    }
  });

  it('deploy/docker/mcpwatch.yaml is a valid configuration for the image', () => {
    const config = parseWithPlaceholders(read('deploy', 'docker', 'mcpwatch.yaml'), 'deploy/docker/mcpwatch.yaml');
    assert.equal(config.state.path, '/var/lib/mcpwatch/state.db');
    for (const e of [config.receivers.otlp?.grpc?.endpoint, config.receivers.otlp?.http?.endpoint, config.exporters.prometheus?.endpoint, config.health.endpoint]) {
      assert.equal(parseListen(e ?? '')?.host, '0.0.0.0', `${e} listens on all interfaces`);
    }
    assert.deepEqual(
      [config.receivers.otlp?.grpc?.endpoint, config.receivers.otlp?.http?.endpoint, config.exporters.prometheus?.endpoint, config.health.endpoint].map((e) => parseListen(e ?? '')?.port),
      [4317, 4318, 9464, 13133],
    );
  });

  it('the ConfigMaps of deploy/kubernetes are valid configurations, with every secret in the container env', () => {
    const docs = parseAllDocuments(read('deploy', 'kubernetes', 'daemonset.yaml')).map((d) => d.toJS() as Values | null).filter(isObject);
    const cm = docs.find((d) => d.kind === 'ConfigMap') as { data: Record<string, string> } | undefined;
    assert.ok(cm, 'daemonset.yaml has a ConfigMap');
    const text = cm.data['mcpwatch.yaml']!;
    parseWithPlaceholders(text, 'deploy/kubernetes/daemonset.yaml (ConfigMap)');
    const ds = docs.find((d) => d.kind === 'DaemonSet') as { spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string }> }> } } } };
    const env = new Set((ds.spec.template.spec.containers[0]!.env ?? []).map((e) => e.name));
    for (const ref of envRefs(parse(text))) assert.ok(env.has(ref), `\${env:${ref}} is set in the DaemonSet`);

    const sidecar = parse(read('deploy', 'kubernetes', 'sidecar', 'values.yaml')) as Values;
    const snippet = parse(read('deploy', 'kubernetes', 'sidecar', 'agent-pod-snippet.yaml')) as { containers: Array<{ env?: Array<{ name: string }> }> };
    const sidecarEnv = new Set((snippet.containers[0]!.env ?? []).map((e) => e.name));
    for (const ref of envRefs(sidecar.config)) assert.ok(sidecarEnv.has(ref), `sidecar: \${env:${ref}} is set in agent-pod-snippet.yaml`);
  });
});
