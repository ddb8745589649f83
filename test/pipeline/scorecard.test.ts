import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../../src/config/load.js';
import { resolveServer } from '../../src/config/schema.js';
import { isSecretName } from '../../src/config/secrets.js';
import { StateStore } from '../../src/store/state.js';
import {
  effectiveThresholds,
  gradeFor,
  inlinedSecrets,
  isInlinedSecret,
  isLoopback,
  latencyP95,
  meanTimeBetweenFailures,
  rawServers,
  renderRulesTable,
  SCORE_RULES,
  scoreFleet,
  scoreServer,
  type RawServer,
  type ScoreInput,
  type ScoreResult,
  type SecurityInput,
} from '../../src/pipeline/scorecard.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

const stdio: SecurityInput = { transport: 'stdio', headerNames: [], insecureSkipVerify: false, clientCertificate: false, raw: { headers: {}, env: {}, args: [] } };

function remote(url: string, headers: Record<string, string> = {}, extra: Partial<SecurityInput> = {}, rawUrl = url): SecurityInput {
  return { transport: 'streamable_http', url, headerNames: Object.keys(headers), insecureSkipVerify: false, clientCertificate: false, raw: { url: rawUrl, headers, env: {}, args: [] }, ...extra };
}

const AUTHED = { Authorization: 'Bearer ${env:TOKEN}' };

/** A clean server: every dimension 100 unless a test changes it. */
function input(over: Partial<ScoreInput> = {}): ScoreInput {
  return {
    server: 's',
    probes: { ok: 10_000, failed: 0 },
    uptime: { upMs: 10_000 * MIN, downMs: 0 },
    p95Ms: 100,
    thresholds: {},
    breakingChanges: 0,
    incidents: { down: 0, degraded: 0, stale: 0 },
    mtbfMs: null,
    mtbfBasis: { failures: 0, observedMs: 7 * DAY },
    security: stdio,
    ...over,
  };
}

/** Probes one minute apart: each result holds for a minute, so time and counts agree. */
const probes = (ok: number, failed: number): Partial<ScoreInput> => ({ probes: { ok, failed }, uptime: { upMs: ok * MIN, downMs: failed * MIN } });
const incidents = (down: number, degraded: number, stale: number): Partial<ScoreInput> => ({ incidents: { down, degraded, stale } });

/** Asserts a dimension's points and that `rule` is among the rules that applied. */
function expectDim(r: ScoreResult, dim: keyof ScoreResult['dimensions'], points: number | null, rule: string): void {
  assert.equal(r.dimensions[dim].points, points, `${dim} points`);
  assert.ok(r.dimensions[dim].rules.includes(rule), `${dim} rules ${JSON.stringify(r.dimensions[dim].rules)} include ${rule}`);
}

/**
 * One case per row of SCORE_RULES, so a row added to the table (and so to the docs) without a test
 * fails the coverage check below.
 */
const RULE_CASES: Record<string, () => void> = {
  'grade.A': () => {
    for (const p of [100, 90]) assert.equal(gradeFor(p), 'A');
  },
  'grade.B': () => {
    for (const p of [89, 80]) assert.equal(gradeFor(p), 'B');
  },
  'grade.C': () => {
    for (const p of [79, 70]) assert.equal(gradeFor(p), 'C');
  },
  'grade.D': () => {
    for (const p of [69, 60]) assert.equal(gradeFor(p), 'D');
  },
  'grade.F': () => {
    for (const p of [59, 0]) assert.equal(gradeFor(p), 'F');
  },
  'availability.tier1': () => {
    expectDim(scoreServer(input(probes(9990, 10))), 'availability', 100, 'availability.tier1');
    expectDim(scoreServer(input(probes(10_000, 0))), 'availability', 100, 'availability.tier1');
    assert.deepEqual(scoreServer(input(probes(10_000, 0))).dimensions.availability.findings, []);
  },
  'availability.tier2': () => {
    expectDim(scoreServer(input(probes(9989, 11))), 'availability', 90, 'availability.tier2');
    expectDim(scoreServer(input(probes(9950, 50))), 'availability', 90, 'availability.tier2');
    assert.deepEqual(scoreServer(input(probes(9950, 50))).dimensions.availability.findings, ['availability 99.50% over 7d (not up for 50m of 6d 23h observed)']);
  },
  'availability.tier3': () => {
    expectDim(scoreServer(input(probes(9949, 51))), 'availability', 80, 'availability.tier3');
    expectDim(scoreServer(input(probes(9900, 100))), 'availability', 80, 'availability.tier3');
  },
  'availability.tier4': () => {
    expectDim(scoreServer(input(probes(9899, 101))), 'availability', 70, 'availability.tier4');
    expectDim(scoreServer(input(probes(9800, 200))), 'availability', 70, 'availability.tier4');
  },
  'availability.tier5': () => {
    expectDim(scoreServer(input(probes(9799, 201))), 'availability', 60, 'availability.tier5');
    expectDim(scoreServer(input(probes(9500, 500))), 'availability', 60, 'availability.tier5');
  },
  'availability.below': () => {
    // Just under 95 % must already be an F: the line is floored, never rounded up to 60.
    expectDim(scoreServer(input(probes(9499, 501))), 'availability', 59, 'availability.below');
    expectDim(scoreServer(input(probes(9000, 1000))), 'availability', 40, 'availability.below');
    expectDim(scoreServer(input(probes(8000, 2000))), 'availability', 0, 'availability.below');
    expectDim(scoreServer(input(probes(100, 900))), 'availability', 0, 'availability.below');
  },
  'availability.no-data': () => {
    const r = scoreServer(input(probes(0, 0)));
    expectDim(r, 'availability', null, 'availability.no-data');
    assert.equal(r.dimensions.availability.grade, null);
    assert.deepEqual(r.dimensions.availability.findings, ['no data: no time observed in the last 7d']);
    assert.equal(r.measures.availability, null);
  },
  'latency.defaults': () => {
    const r = scoreServer(input({ p95Ms: 600 }));
    expectDim(r, 'latency', 85, 'latency.defaults');
    assert.equal(r.measures.warningMs, 500);
    assert.equal(r.measures.criticalMs, 2000);
    assert.ok(!scoreServer(input({ thresholds: { warningMs: 100, criticalMs: 300 } })).dimensions.latency.rules.includes('latency.defaults'));
    // A lone threshold is paired with a default on the right side of it.
    assert.deepEqual(effectiveThresholds({ warningMs: 1000 }), { warningMs: 1000, criticalMs: 2000, defaulted: true });
    assert.deepEqual(effectiveThresholds({ warningMs: 3000 }), { warningMs: 3000, criticalMs: 12_000, defaulted: true });
    assert.deepEqual(effectiveThresholds({ criticalMs: 5000 }), { warningMs: 500, criticalMs: 5000, defaulted: true });
    assert.deepEqual(effectiveThresholds({ criticalMs: 400 }), { warningMs: 100, criticalMs: 400, defaulted: true });
    assert.deepEqual(effectiveThresholds({ warningMs: 900, criticalMs: 300 }), { warningMs: 300, criticalMs: 900, defaulted: false });
  },
  'latency.tier1': () => {
    expectDim(scoreServer(input({ p95Ms: 500 })), 'latency', 100, 'latency.tier1');
    assert.deepEqual(scoreServer(input({ p95Ms: 500 })).dimensions.latency.findings, []);
  },
  'latency.tier2': () => {
    expectDim(scoreServer(input({ p95Ms: 501 })), 'latency', 85, 'latency.tier2');
    expectDim(scoreServer(input({ p95Ms: 1250 })), 'latency', 85, 'latency.tier2');
    // Configured thresholds replace the defaults: midpoint of 100 and 300 is 200.
    expectDim(scoreServer(input({ p95Ms: 150, thresholds: { warningMs: 100, criticalMs: 300 } })), 'latency', 85, 'latency.tier2');
    assert.deepEqual(scoreServer(input({ p95Ms: 600 })).dimensions.latency.findings, ['p95 latency 600ms over the warning threshold 500ms']);
  },
  'latency.tier3': () => {
    expectDim(scoreServer(input({ p95Ms: 1251 })), 'latency', 70, 'latency.tier3');
    expectDim(scoreServer(input({ p95Ms: 2000 })), 'latency', 70, 'latency.tier3');
  },
  'latency.tier4': () => {
    expectDim(scoreServer(input({ p95Ms: 2001 })), 'latency', 50, 'latency.tier4');
    expectDim(scoreServer(input({ p95Ms: 4000 })), 'latency', 50, 'latency.tier4');
    assert.deepEqual(scoreServer(input({ p95Ms: 3000 })).dimensions.latency.findings, ['p95 latency 3.00s over the critical threshold 2.00s']);
  },
  'latency.beyond': () => {
    expectDim(scoreServer(input({ p95Ms: 4001 })), 'latency', 25, 'latency.beyond');
    expectDim(scoreServer(input({ p95Ms: 60_000 })), 'latency', 25, 'latency.beyond');
  },
  'latency.no-data': () => {
    const r = scoreServer(input({ p95Ms: null }));
    expectDim(r, 'latency', null, 'latency.no-data');
    assert.equal(r.dimensions.latency.grade, null);
    assert.match(r.dimensions.latency.findings[0]!, /^no data/);
  },
  'reliability.base': () => {
    const r = scoreServer(input());
    expectDim(r, 'reliability', 100, 'reliability.base');
    assert.deepEqual(r.dimensions.reliability.rules, ['reliability.base']);
    // Never below 0, however much is deducted.
    expectDim(scoreServer(input({ ...probes(50, 50), breakingChanges: 9, ...incidents(9, 0, 0), mtbfMs: HOUR })), 'reliability', 0, 'reliability.base');
  },
  'reliability.error-rate1': () => {
    expectDim(scoreServer(input(probes(94, 6))), 'reliability', 60, 'reliability.error-rate1');
    assert.deepEqual(scoreServer(input(probes(94, 6))).dimensions.reliability.findings, ['error rate 6.00% over 7d']);
  },
  'reliability.error-rate2': () => {
    expectDim(scoreServer(input(probes(98, 2))), 'reliability', 80, 'reliability.error-rate2');
    // Exactly 5 % is not above 5 %.
    expectDim(scoreServer(input(probes(95, 5))), 'reliability', 80, 'reliability.error-rate2');
  },
  'reliability.error-rate3': () => {
    // Exactly 1 % is not above 1 %.
    expectDim(scoreServer(input(probes(99, 1))), 'reliability', 90, 'reliability.error-rate3');
    expectDim(scoreServer(input(probes(998, 2))), 'reliability', 90, 'reliability.error-rate3');
    // 0.1 % exactly costs nothing.
    assert.deepEqual(scoreServer(input(probes(999, 1))).dimensions.reliability.rules, ['reliability.base']);
  },
  'reliability.breaking-drift': () => {
    expectDim(scoreServer(input({ breakingChanges: 1 })), 'reliability', 85, 'reliability.breaking-drift');
    expectDim(scoreServer(input({ breakingChanges: 3 })), 'reliability', 55, 'reliability.breaking-drift');
    expectDim(scoreServer(input({ breakingChanges: 7 })), 'reliability', 55, 'reliability.breaking-drift');
    assert.deepEqual(scoreServer(input({ breakingChanges: 1 })).dimensions.reliability.findings, ['1 breaking tool-schema change in 7d']);
  },
  'reliability.incident-down': () => {
    expectDim(scoreServer(input(incidents(2, 0, 0))), 'reliability', 80, 'reliability.incident-down');
  },
  'reliability.incident-stale': () => {
    expectDim(scoreServer(input(incidents(0, 0, 1))), 'reliability', 92, 'reliability.incident-stale');
  },
  'reliability.incident-degraded': () => {
    const r = scoreServer(input(incidents(1, 1, 0)));
    expectDim(r, 'reliability', 85, 'reliability.incident-degraded');
    assert.deepEqual(r.dimensions.reliability.findings, ['2 incidents in 7d (1 down, 1 degraded)']);
  },
  'reliability.incident-cap': () => {
    const r = scoreServer(input(incidents(3, 2, 1)));
    expectDim(r, 'reliability', 60, 'reliability.incident-cap');
    assert.ok(!scoreServer(input(incidents(4, 0, 0))).dimensions.reliability.rules.includes('reliability.incident-cap'), '−40 exactly is not capped');
  },
  'reliability.mtbf1': () => {
    expectDim(scoreServer(input({ mtbfMs: 5 * HOUR })), 'reliability', 70, 'reliability.mtbf1');
    assert.deepEqual(scoreServer(input({ mtbfMs: 5 * HOUR })).dimensions.reliability.findings, ['mean time between failures 5h']);
    // Failures minutes or seconds apart are said in minutes or seconds, not as 0.0h.
    const rows: Array<[number, string]> = [
      [42_000, '42s'],
      [59_700, '1m'],
      [102_000, '1m 42s'],
      [HOUR - 1_000, '59m 59s'],
      [3.2 * HOUR, '3h 12m'],
    ];
    for (const [mtbfMs, text] of rows) assert.deepEqual(scoreServer(input({ mtbfMs })).dimensions.reliability.findings, [`mean time between failures ${text}`]);
  },
  'reliability.mtbf2': () => {
    expectDim(scoreServer(input({ mtbfMs: 6 * HOUR })), 'reliability', 80, 'reliability.mtbf2');
    expectDim(scoreServer(input({ mtbfMs: 23 * HOUR })), 'reliability', 80, 'reliability.mtbf2');
  },
  'reliability.mtbf3': () => {
    expectDim(scoreServer(input({ mtbfMs: DAY })), 'reliability', 90, 'reliability.mtbf3');
    expectDim(scoreServer(input({ mtbfMs: 71 * HOUR })), 'reliability', 90, 'reliability.mtbf3');
    assert.deepEqual(scoreServer(input({ mtbfMs: 2.1 * DAY })).dimensions.reliability.findings, ['mean time between failures 2d 2h']);
    assert.equal(scoreServer(input({ mtbfMs: 72 * HOUR })).dimensions.reliability.points, 100);
  },
  'reliability.no-data': () => {
    const r = scoreServer(input({ ...probes(0, 0), ...incidents(1, 0, 0) }));
    expectDim(r, 'reliability', null, 'reliability.no-data');
  },
  'security.base': () => {
    expectDim(scoreServer(input({ security: remote('https://mcp.example.com/mcp', AUTHED) })), 'security', 100, 'security.base');
    // Every deduction at once floors at 0.
    const worst = remote('http://mcp.example.com/mcp', {}, { insecureSkipVerify: true, raw: { url: 'http://mcp.example.com/mcp', headers: {}, env: {}, args: ['--token', 'hunter2'] } });
    expectDim(scoreServer(input({ security: worst })), 'security', 0, 'security.base');
  },
  'security.plain-http': () => {
    const r = scoreServer(input({ security: remote('http://mcp.example.com/mcp', AUTHED) }));
    expectDim(r, 'security', 50, 'security.plain-http');
    assert.deepEqual(r.dimensions.security.findings, ['plain http:// to mcp.example.com, which is not loopback: use https://']);
    for (const url of ['http://127.0.0.1:3000/mcp', 'http://localhost:8080/mcp', 'http://[::1]:8080/mcp', 'http://api.localhost/mcp']) {
      assert.equal(scoreServer(input({ security: remote(url, AUTHED) })).dimensions.security.points, 100, url);
    }
  },
  'security.insecure-skip-verify': () => {
    expectDim(scoreServer(input({ security: remote('https://mcp.example.com/mcp', AUTHED, { insecureSkipVerify: true }) })), 'security', 70, 'security.insecure-skip-verify');
  },
  'security.no-auth': () => {
    const r = scoreServer(input({ security: remote('https://mcp.example.com/mcp') }));
    expectDim(r, 'security', 80, 'security.no-auth');
    // Each of these is authentication.
    const authed: SecurityInput[] = [
      remote('https://mcp.example.com/mcp', { 'X-API-Key': '${env:KEY}' }),
      remote('https://mcp.example.com/mcp', { Cookie: '${env:SESSION}' }),
      remote('https://mcp.example.com/mcp', {}, { clientCertificate: true }),
      remote('https://mcp.example.com/mcp?api_key=k', {}, {}, 'https://mcp.example.com/mcp?api_key=${env:KEY}'),
    ];
    for (const s of authed) assert.equal(scoreServer(input({ security: s })).dimensions.security.points, 100, JSON.stringify(s));
    // Only this machine reaches a loopback server: no authentication costs nothing there.
    for (const url of ['http://127.0.0.1:3000/mcp', 'http://localhost:8080/mcp', 'http://[::1]:9000/mcp']) {
      const loop = scoreServer(input({ security: remote(url) })).dimensions.security;
      assert.equal(loop.points, 100, url);
      assert.ok(!loop.rules.includes('security.no-auth'), url);
    }
    // A header that is not a credential is not authentication.
    assert.equal(scoreServer(input({ security: remote('https://mcp.example.com/mcp', { 'User-Agent': 'x' }) })).dimensions.security.points, 80);
    // `auth:` is authentication: mcpwatch obtains (OAuth) or reads (bearer) the token itself.
    const text = [
      'servers:',
      '  - { name: oauth, transport: streamable_http, url: "https://mcp.example.com/mcp", auth: { type: oauth2_client_credentials, client_id: p, client_secret: "${env:CS}" } }',
      '  - { name: jwt, transport: streamable_http, url: "https://mcp.example.com/b", auth: { type: private_key_jwt, client_id: p, private_key_file: /k.pem } }',
      '  - { name: bearer, transport: sse, url: "https://mcp.example.com/sse", auth: { type: bearer, token_file: /t } }',
      '',
    ].join('\n');
    for (const r of scoreFleet(parseConfig(text, 'mcpwatch.yaml', { CS: 'x' }), text, null, NOW)) {
      assert.equal(r.dimensions.security.points, 100, `${r.server}: ${JSON.stringify(r.dimensions.security.findings)}`);
    }
  },
  'security.inlined-secret': () => {
    const raw: RawServer = { headers: { Authorization: 'Bearer abc123', 'X-Trace': 'on' }, env: {}, args: [] };
    const r = scoreServer(input({ security: remote('https://mcp.example.com/mcp', raw.headers, { raw }) }));
    expectDim(r, 'security', 70, 'security.inlined-secret');
    assert.deepEqual(r.dimensions.security.findings, ['secret written in the configuration: headers.Authorization (use ${env:VAR})']);
    // Several secrets cost once, and all are named.
    const env = { GITHUB_TOKEN: 'ghp_abcdefghijklmnopqrstuvwxyz012345', OPENAI_API_KEY: 'sk-proj-1234567890abcdef', LOG_LEVEL: 'debug' };
    const s = scoreServer(input({ security: { ...stdio, raw: { headers: {}, env, args: [] } } }));
    expectDim(s, 'security', 70, 'security.inlined-secret');
    assert.deepEqual(s.dimensions.security.findings, ['secret written in the configuration: env.GITHUB_TOKEN, env.OPENAI_API_KEY (use ${env:VAR})']);
    // Without the raw text the check cannot run and costs nothing.
    assert.equal(scoreServer(input({ security: { ...stdio, raw: null } })).dimensions.security.points, 100);
    // auth's secrets: a literal is one, a reference is not; the other auth keys are not secrets.
    const text = [
      'servers:',
      '  - { name: oauth, transport: streamable_http, url: "https://mcp.example.com/mcp", auth: { type: oauth2_client_credentials, client_id: prober-secret-client, client_secret: "hunter2", token_url: "https://auth.example.com/token" } }',
      '  - { name: bearer, transport: sse, url: "https://mcp.example.com/sse", auth: { type: bearer, token: "ghp_abcdefghijklmnopqrstuvwxyz0123456789" } }',
      '  - { name: refs, transport: sse, url: "https://mcp.example.com/sse2", auth: { type: bearer, token: "${env:T}" } }',
      '',
    ].join('\n');
    const byName = new Map(scoreFleet(parseConfig(text, 'mcpwatch.yaml', { T: 'x' }), text, null, NOW).map((r) => [r.server, r.dimensions.security]));
    assert.deepEqual(byName.get('oauth')!.findings, ['secret written in the configuration: auth.client_secret (use ${env:VAR})']);
    assert.deepEqual(byName.get('bearer')!.findings, ['secret written in the configuration: auth.token (use ${env:VAR})']);
    assert.deepEqual(byName.get('refs')!.findings, []);
  },
  'security.stdio': () => {
    const r = scoreServer(input());
    expectDim(r, 'security', 100, 'security.stdio');
    assert.deepEqual(r.dimensions.security.rules, ['security.base', 'security.stdio']);
  },
  'security.config-error': () => {
    // An unset variable puts a stand-in in the server's place (config/load.ts): the entry as written
    // is graded, not the stand-in's made-up URL and missing headers.
    const text = [
      'servers:',
      '  - { name: local, transport: streamable_http, url: "http://127.0.0.1:3000/mcp", headers: { Authorization: "Bearer ${env:LOCAL_TOKEN}" } }',
      '  - { name: remote, transport: sse, url: "https://mcp.example.com/sse", headers: { X-Api-Key: "${env:REMOTE_KEY}" } }',
      '  - { name: plain, transport: streamable_http, url: "http://mcp.example.com/mcp", tls: { insecure_skip_verify: true }, headers: { Authorization: "${env:PLAIN_TOKEN}" } }',
      '  - { name: hidden, transport: streamable_http, url: "${env:HIDDEN_URL}" }',
      '  - { name: tool, transport: stdio, command: node, env: { API_TOKEN: "${env:TOOL_TOKEN}" } }',
      '',
    ].join('\n');
    const config = parseConfig(text, 'mcpwatch.yaml', {}, { isolateServerEnv: true });
    assert.ok(config.servers.every((s) => resolveServer(config, s).config_error !== undefined), 'every server is isolated');
    const security = new Map(scoreFleet(config, text, null, NOW).map((r) => [r.server, r.dimensions.security]));
    for (const name of ['local', 'remote', 'hidden', 'tool']) {
      const d = security.get(name)!;
      assert.equal(d.points, 100, `${name}: ${JSON.stringify(d.findings)}`);
      assert.ok(d.rules.includes('security.config-error'), name);
    }
    const plain = security.get('plain')!;
    assert.equal(plain.points, 20);
    assert.deepEqual(plain.findings, ['plain http:// to mcp.example.com, which is not loopback: use https://', 'tls.insecure_skip_verify is true: any certificate is accepted']);
    // A server whose configuration can be used is graded as configured, without the rule.
    assert.ok(!scoreServer(input()).dimensions.security.rules.includes('security.config-error'));
  },
  'overall.weights': () => {
    // 0.35 × 90 + 0.20 × 70 + 0.25 × 90 + 0.20 × 100 = 88
    const r = scoreServer(input({ ...probes(9950, 50), p95Ms: 1500 }));
    assert.deepEqual([r.dimensions.availability.points, r.dimensions.latency.points, r.dimensions.reliability.points, r.dimensions.security.points], [90, 70, 90, 100]);
    assert.equal(r.points, 88);
    assert.equal(r.grade, 'B');
    assert.deepEqual(r.rules, ['overall.weights']);
    // 0.35 × 70 + 0.20 × 100 + 0.25 × 80 + 0.20 × 100 = 84.5 rounds up.
    assert.equal(scoreServer(input(probes(9800, 200))).points, 85);
    // Ungraded dimensions are left out: (0.35 × 100 + 0.25 × 100 + 0.20 × 80) / 0.80 = 95
    const partial = scoreServer(input({ p95Ms: null, security: remote('https://mcp.example.com/mcp') }));
    assert.equal(partial.points, 95);
  },
  'overall.no-data': () => {
    // Security alone (the configuration) grades no server: one that never started got an A.
    for (const security of [stdio, remote('https://mcp.example.com/mcp', {}, { insecureSkipVerify: true })]) {
      const r = scoreServer(input({ ...probes(0, 0), p95Ms: null, security }));
      assert.equal(r.grade, null);
      assert.equal(r.points, null);
      assert.deepEqual(r.rules, ['overall.no-data']);
      assert.notEqual(r.dimensions.security.points, null, 'the dimension keeps its own grade');
    }
    // Probes without observed time (a single probe) are still no availability data.
    assert.equal(scoreServer(input({ probes: { ok: 1, failed: 0 }, uptime: { upMs: 0, downMs: 0 } })).grade, null);
  },
  'overall.cap': () => {
    // Perfect elsewhere, security 30: the mean would be 86 (B), capped to D.
    const r = scoreServer(input({ security: remote('http://mcp.example.com/mcp') }));
    assert.equal(r.dimensions.security.points, 30);
    assert.equal(r.points, 69);
    assert.equal(r.grade, 'D');
    assert.deepEqual(r.rules, ['overall.weights', 'overall.cap']);
    // The cap never raises a lower mean.
    const low = scoreServer(input({ ...probes(80, 20), p95Ms: 9000 }));
    assert.ok(low.points! < 69);
    assert.ok(low.rules.includes('overall.weights') && !low.rules.includes('overall.cap'));
  },
};

describe('scorecard rules table', () => {
  it('docs/scorecard.md holds exactly the table rendered from the code', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'scorecard.md'), 'utf8');
    const start = '<!-- scorecard-rules:start -->';
    const end = '<!-- scorecard-rules:end -->';
    assert.ok(doc.includes(start) && doc.includes(end), 'markers present');
    const table = doc.slice(doc.indexOf(start) + start.length, doc.indexOf(end)).trim();
    assert.equal(table, renderRulesTable(), 'regenerate with: node -e "import(\'./dist/src/pipeline/scorecard.js\').then((m) => console.log(m.renderRulesTable()))"');
  });

  it('has unique rule ids and a test case for every row', () => {
    const ids = SCORE_RULES.map((r) => r.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(Object.keys(RULE_CASES).sort(), [...ids].sort());
  });

  it('names only rule ids from the table in results', () => {
    const ids = new Set(SCORE_RULES.map((r) => r.id));
    const results = [input(), input({ ...probes(50, 50), p95Ms: null, breakingChanges: 2, ...incidents(5, 1, 1), mtbfMs: HOUR, security: remote('http://x.example/', {}, { insecureSkipVerify: true }) })].map(scoreServer);
    for (const r of results) for (const id of [...r.rules, ...Object.values(r.dimensions).flatMap((d) => d.rules)]) assert.ok(ids.has(id), id);
  });
});

describe('scorecard rules, row by row', () => {
  for (const [id, check] of Object.entries(RULE_CASES)) it(id, check);
});

describe('scorecard findings', () => {
  it('orders findings by cost and picks the weighted costliest as the top finding', () => {
    const r = scoreServer(input({ ...probes(985, 15), breakingChanges: 1, ...incidents(0, 1, 0) }));
    // error rate 1.5 % (−20) before drift (−15) before incidents (−5)
    assert.deepEqual(r.dimensions.reliability.findings, ['error rate 1.50% over 7d', '1 breaking tool-schema change in 7d', '1 incident in 7d (1 degraded)']);
    // availability 98.5 % costs 30 × 0.35 = 10.5, more than the error rate's 20 × 0.25 = 5.
    assert.equal(r.topFinding, 'availability 98.50% over 7d (not up for 15m of 16h 40m observed)');
  });

  it('has no top finding for a clean server and names missing data otherwise', () => {
    assert.equal(scoreServer(input()).topFinding, null);
    assert.equal(scoreServer(input({ ...probes(0, 0), p95Ms: null })).topFinding, 'availability: no data: no time observed in the last 7d');
  });
});

describe('scorecard measures', () => {
  it('p95 is taken over per-minute maxima of minutes without a failure (nearest rank)', () => {
    const minute = (latencyMax: number, failed = 0) => ({ ok: 1, failed, latencyMax });
    assert.equal(latencyP95([]), null);
    assert.equal(latencyP95([minute(900, 1)]), null, 'a minute with a failure is left out');
    assert.equal(latencyP95([{ ok: 0, failed: 0, latencyMax: 0 }]), null);
    const twenty = Array.from({ length: 20 }, (_, i) => minute((i + 1) * 10));
    assert.equal(latencyP95(twenty), 190, 'ceil(0.95 × 20) = 19th value');
    assert.equal(latencyP95([...twenty, minute(10_000, 1)]), 190, 'a timed-out minute does not move it');
    const hundred = Array.from({ length: 100 }, (_, i) => minute(i < 94 ? 100 : 3000));
    assert.equal(latencyP95(hundred), 3000, '6 slow minutes in 100 are inside the top 5 %');
    const fewSlow = Array.from({ length: 100 }, (_, i) => minute(i < 95 ? 100 : 3000));
    assert.equal(latencyP95(fewSlow), 100, '5 slow minutes in 100 are the top 5 %');
  });

  it('MTBF rows: one failure judges only the rows whose bound the watch has lasted; two judge them all', () => {
    // One failure an hour into watching: the MTBF is under every bound only because the watch is short.
    const once = (observedMs: number, mtbfMs: number): ScoreResult => scoreServer(input({ mtbfMs, mtbfBasis: { failures: 1, observedMs } }));
    assert.equal(once(HOUR, 55 * 60_000).dimensions.reliability.points, 100);
    assert.deepEqual(once(HOUR, 55 * 60_000).dimensions.reliability.rules, ['reliability.base']);
    // Watched a day, failed once, down for 20 h of it: under 6 h, and the day shows it.
    expectDim(once(DAY, 4 * HOUR), 'reliability', 70, 'reliability.mtbf1');
    // Watched 30 h, failed once: only the 24-h row is judged by then (the 72-h one needs 72 h).
    expectDim(once(30 * HOUR, 23 * HOUR), 'reliability', 80, 'reliability.mtbf2');
    assert.equal(once(30 * HOUR, 29 * HOUR).dimensions.reliability.points, 100);
    // Two failures within the first hour are a time between failures seen.
    expectDim(scoreServer(input({ mtbfMs: 25 * 60_000, mtbfBasis: { failures: 2, observedMs: HOUR } })), 'reliability', 70, 'reliability.mtbf1');
  });

  it('MTBF: uptime over failures, down → stale merged, degraded not a failure', () => {
    const from = 0;
    const now = 100 * HOUR;
    assert.equal(meanTimeBetweenFailures([], from, now), null);
    assert.equal(meanTimeBetweenFailures([{ state: 'degraded', startedAt: HOUR, endedAt: 2 * HOUR }], from, now), null);
    // Two failures of 1 h each: (100 − 2) h / 2.
    const two = [
      { state: 'down' as const, startedAt: 10 * HOUR, endedAt: 11 * HOUR },
      { state: 'down' as const, startedAt: 50 * HOUR, endedAt: 51 * HOUR },
    ];
    assert.equal(meanTimeBetweenFailures(two, from, now), 49 * HOUR);
    // down then stale back to back is one failure of 2 h.
    const chained = [
      { state: 'down' as const, startedAt: 10 * HOUR, endedAt: 11 * HOUR },
      { state: 'stale' as const, startedAt: 11 * HOUR, endedAt: 12 * HOUR },
    ];
    assert.equal(meanTimeBetweenFailures(chained, from, now), 98 * HOUR);
    // An open failure runs to now; one begun before the window is clipped to it.
    assert.equal(meanTimeBetweenFailures([{ state: 'down', startedAt: 90 * HOUR, endedAt: null }], from, now), 90 * HOUR);
    assert.equal(meanTimeBetweenFailures([{ state: 'down', startedAt: -5 * HOUR, endedAt: 5 * HOUR }], from, now), 95 * HOUR);
  });

  it('tells secret names and inlined values from references', () => {
    for (const name of ['Authorization', 'Proxy-Authorization', 'X-API-Key', 'x-goog-api-key', 'apikey', 'X-Auth-Token', 'Cookie', 'GITHUB_PERSONAL_ACCESS_TOKEN', 'AWS_SECRET_ACCESS_KEY', 'DB_PASSWORD', 'apiKey', 'REDIS_PASS', 'MY_CREDS', 'SMTP_PW', 'dbPass']) {
      assert.equal(isSecretName(name), true, name);
    }
    for (const name of ['User-Agent', 'Accept', 'KEYBOARD_LAYOUT', 'PATH', 'LOG_LEVEL', 'MONKEY', 'NODE_OPTIONS', 'BYPASS_CACHE', 'PASSENGER_ID']) assert.equal(isSecretName(name), false, name);

    const rows: Array<[string, string, boolean]> = [
      ['Authorization', 'Bearer abc123', true],
      ['Authorization', 'Bearer ${env:TOKEN}', false],
      ['Authorization', '${env:AUTH_HEADER}', false],
      ['Authorization', 'Basic ${USER_PASS}', false],
      ['Authorization', '${env:TOKEN:-changeme}', true],
      ['Authorization', '', false],
      ['X-API-Key', 'k-123', true],
      ['X-Trace', 'on', false],
      ['X-Custom', 'ghp_abcdefghijklmnopqrstuvwxyz0123', true],
      ['LOG_LEVEL', '${env:LOG_LEVEL:-info}', false],
      ['GITHUB_TOKEN', '${env:GITHUB_TOKEN}', false],
      ['BASE_URL', '${env:HOST}/v1', false],
      ['USERPASS', '${env:USER}:${env:PASS}', false],
    ];
    for (const [name, value, expected] of rows) assert.equal(isInlinedSecret(name, value), expected, `${name}: ${value}`);

    assert.deepEqual(
      inlinedSecrets({
        url: 'https://bot:s3cret@mcp.example.com/mcp?api_key=abc&mode=fast&token=${env:T}',
        headers: {},
        env: {},
        args: ['--api-key', 'sk-live-abcdef', '--token=${env:T}', '--port', '8080', 'ghp_abcdefghijklmnopqrstuvwxyz0123', '--verbose'],
      }),
      ['args[1]', 'args[5]', 'url password', 'url query api_key'],
    );
  });

  it('knows loopback hosts', () => {
    for (const h of ['localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1', 'mcp.localhost']) assert.equal(isLoopback(h), true, h);
    for (const h of ['example.com', '10.0.0.1', '0.0.0.0', 'localhost.example.com', '128.0.0.1']) assert.equal(isLoopback(h), false, h);
  });
});

// ---------------------------------------------------------------------------------------------
// A real StateStore filled through its public methods.

const NOW = Date.UTC(2025, 0, 15, 12, 0, 0);

/** One probe every 10 minutes for the last 7 days, oldest first. */
function fill(store: StateStore, server: string, now: number, probe: (i: number) => { ok: boolean; latency: number }): number {
  const count = (7 * DAY) / (10 * MIN) - 1;
  for (let i = 0; i < count; i++) {
    const at = now - (count - i) * 10 * MIN + 1000;
    const p = probe(i);
    store.recordProbe(server, at, p.ok, p.latency, 10 * MIN);
  }
  return count;
}

const tool = { name: 't', inputSchema: { type: 'object' } };

/** Fills `store` with three servers relative to `now`: alpha (A), charlie (C) and foxtrot (F). */
function fillFleet(store: StateStore, now: number): void {
  // alpha: every probe fine and fast. Old trouble outside the 7-day window must not count.
  fill(store, 'alpha', now, () => ({ ok: true, latency: 80 }));
  store.recordProbe('alpha', now - 8 * DAY, false, null, 10 * MIN);
  store.saveSnapshot({ server: 'alpha', hash: 'h0', tools: [tool], takenAt: now - 9 * DAY });
  store.saveSnapshot({ server: 'alpha', hash: 'h1', tools: [], takenAt: now - 8 * DAY }, { severity: 'breaking', diff: { tools_removed: ['t'] } });
  store.transition('alpha', now - 9 * DAY, { state: 'down', cause: 'refused', errorType: 'connection_refused' });
  store.transition('alpha', now - 8 * DAY, null);

  // charlie: 9 failed of 1007 (99.11 %: 80), every tenth probe 1.5 s (p95 1.5 s: 70), error rate
  // 0.89 % (−10), one breaking change (−15), one down (−10) and one degraded (−5) incident: 60.
  fill(store, 'charlie', now, (i) => ({ ok: !(i % 100 === 50 && i < 900), latency: i % 10 === 3 ? 1500 : 300 }));
  store.saveSnapshot({ server: 'charlie', hash: 'c0', tools: [tool], takenAt: now - 6 * DAY });
  store.saveSnapshot({ server: 'charlie', hash: 'c1', tools: [], takenAt: now - 3 * DAY }, { severity: 'breaking', diff: { tools_removed: ['t'] } });
  store.saveSnapshot({ server: 'charlie', hash: 'c2', tools: [tool], takenAt: now - 2 * DAY }, { severity: 'compatible', diff: { tools_added: ['t'] } });
  store.transition('charlie', now - 5 * DAY, { state: 'down', cause: 'refused', errorType: 'connection_refused' });
  store.transition('charlie', now - 5 * DAY + 20 * MIN, null);
  store.transition('charlie', now - 2 * DAY, { state: 'degraded', cause: 'slow', errorType: null });
  store.transition('charlie', now - 2 * DAY + 30 * MIN, null);

  // foxtrot: every tenth probe fails (89.97 % of the time), slow, drifting, down every other day.
  fill(store, 'foxtrot', now, (i) => ({ ok: i % 10 !== 0, latency: 2500 }));
  for (let d = 1; d <= 3; d++) {
    store.saveSnapshot({ server: 'foxtrot', hash: `f${d}`, tools: d % 2 ? [tool] : [], takenAt: now - d * DAY }, { severity: 'breaking', diff: {} });
    store.transition('foxtrot', now - 2 * d * DAY, { state: 'down', cause: 'exited', errorType: 'process_exited' });
    store.transition('foxtrot', now - 2 * d * DAY + HOUR, null);
  }
}

const FLEET_YAML = (statePath: string): string => `state:
  path: ${JSON.stringify(statePath)}
servers:
  - name: alpha
    transport: stdio
    command: node
    args: [server.js]
    env:
      GITHUB_TOKEN: \${env:GITHUB_TOKEN}
  - name: charlie
    transport: streamable_http
    url: https://charlie.example.com/mcp
    headers:
      Authorization: Bearer \${env:CHARLIE_TOKEN}
  - name: foxtrot
    transport: sse
    url: http://foxtrot.example.com/sse
    headers:
      Authorization: Bearer sk-live-0123456789abcdef
`;

const FLEET_ENV = { GITHUB_TOKEN: 'ghp_fromtheenvironment0123456789abcdef', CHARLIE_TOKEN: 'charlie-secret-from-env' };

describe('scoreFleet on a real state file', () => {
  let dir: string;
  let store: StateStore;
  let results: Map<string, ScoreResult>;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcpwatch-scorecard-'));
    const path = join(dir, 'state.db');
    store = new StateStore(path);
    fillFleet(store, NOW);
    const text = FLEET_YAML(path);
    const config = parseConfig(text, 'mcpwatch.yaml', FLEET_ENV);
    // The loader expanded the references: the values alone would look inlined.
    assert.equal(config.servers[1]!.headers.Authorization, 'Bearer charlie-secret-from-env');
    results = new Map(scoreFleet(config, text, store, NOW).map((r) => [r.server, r]));
  });
  after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('grades alpha A: everything outside the window is ignored', () => {
    const a = results.get('alpha')!;
    assert.equal(a.grade, 'A');
    assert.equal(a.points, 100);
    assert.equal(a.measures.availability, 1);
    assert.equal(a.measures.p95Ms, 80);
    assert.equal(a.measures.breakingChanges, 0);
    assert.deepEqual(a.measures.incidents, { down: 0, degraded: 0, stale: 0 });
    assert.equal(a.topFinding, null);
    // GITHUB_TOKEN is a reference in the file although its expanded value looks like a token.
    assert.deepEqual(a.dimensions.security.findings, []);
  });

  it('grades charlie C from its state', () => {
    const c = results.get('charlie')!;
    assert.deepEqual(
      Object.fromEntries(Object.entries(c.dimensions).map(([d, s]) => [d, [s.points, s.grade]])),
      { availability: [80, 'B'], latency: [70, 'C'], reliability: [60, 'D'], security: [100, 'A'] },
    );
    // 0.35 × 80 + 0.20 × 70 + 0.25 × 60 + 0.20 × 100 = 77
    assert.equal(c.points, 77);
    assert.equal(c.grade, 'C');
    assert.equal(c.measures.p95Ms, 1500);
    assert.equal(c.measures.breakingChanges, 1, 'the compatible change does not count');
    assert.deepEqual(c.measures.incidents, { down: 1, degraded: 1, stale: 0 });
    assert.deepEqual(c.dimensions.reliability.findings, ['1 breaking tool-schema change in 7d', '2 incidents in 7d (1 down, 1 degraded)', 'error rate 0.89% over 7d']);
    assert.ok(c.measures.mtbfMs! > 6 * DAY, 'one short failure in seven days');
  });

  it('grades foxtrot F, with the inlined token found in the raw YAML', () => {
    const f = results.get('foxtrot')!;
    assert.equal(f.grade, 'F');
    assert.equal(f.dimensions.availability.points, 39);
    assert.equal(f.dimensions.latency.points, 50);
    assert.equal(f.dimensions.reliability.points, 0);
    assert.equal(f.dimensions.security.points, 20);
    // 0.35 × 39 + 0.20 × 50 + 0.25 × 0 + 0.20 × 20 = 27.65
    assert.equal(f.points, 28);
    assert.deepEqual(f.dimensions.security.findings, [
      'plain http:// to foxtrot.example.com, which is not loopback: use https://',
      'secret written in the configuration: headers.Authorization (use ${env:VAR})',
    ]);
    assert.deepEqual(f.measures.incidents, { down: 3, degraded: 0, stale: 0 });
    assert.equal(f.measures.breakingChanges, 3);
  });

  it('grades on configuration only without a store', () => {
    const config = parseConfig(FLEET_YAML('/nonexistent/state.db'), 'mcpwatch.yaml', FLEET_ENV);
    const bare = scoreFleet(config, FLEET_YAML('/nonexistent/state.db'), null, NOW);
    assert.deepEqual(bare.map((r) => [r.server, r.grade, r.points, r.dimensions.security.points]), [['alpha', null, null, 100], ['charlie', null, null, 100], ['foxtrot', null, null, 20]]);
    for (const r of bare) for (const d of ['availability', 'latency', 'reliability'] as const) assert.equal(r.dimensions[d].points, null);
  });

  it('reads an entry built with a YAML merge key as the loader does', () => {
    const text = 'servers:\n  - &base { name: a, transport: sse, url: "https://a.example.com/sse", headers: { Authorization: "Bearer ${env:T}" } }\n  - <<: *base\n    name: b\n';
    assert.deepEqual(rawServers(text, ['a', 'b'])[1]?.headers, { Authorization: 'Bearer ${env:T}' });
    const b = scoreFleet(parseConfig(text, 'mcpwatch.yaml', { T: 'tok' }), text, null, NOW)[1]!;
    assert.equal(b.dimensions.security.points, 100, JSON.stringify(b.dimensions.security.findings));
  });

  it('matches raw entries by name, else by position', () => {
    const text = 'servers:\n  - name: ${env:NAME}\n    headers: { Authorization: "Bearer lit" }\n  - name: b\n    env: { A_TOKEN: "${env:A}" }\n';
    const raws = rawServers(text, ['expanded-name', 'b']);
    assert.deepEqual(raws[0]?.headers, { Authorization: 'Bearer lit' });
    assert.deepEqual(raws[1]?.env, { A_TOKEN: '${env:A}' });
    assert.deepEqual(rawServers(null, ['a']), [null]);
    assert.deepEqual(rawServers(': not yaml: [', ['a']), [null]);
  });
});
