// A server whose schema changes on every check, under `mcpwatch run`: one schema_drift alert with
// a count, not one per check.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { STDIO_FIXTURE } from '../helpers.js';
import { startAgent } from '../fixtures/agent-process.js';

describe('a flapping schema', () => {
  it('is alerted once per interval, while every change is still counted and stored', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-flap-'));
    const file = join(dir, 'mcpwatch.yaml');
    writeFileSync(
      file,
      `monitoring: { interval: 30s, timeout: 5s }
exporters: { prometheus: null }
health: { endpoint: "127.0.0.1:0" }
receivers: { otlp: null }
state: { path: ${JSON.stringify(join(dir, 'state.db'))} }
log: { level: debug }
servers:
  - { name: flap, transport: stdio, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(STDIO_FIXTURE)}, flapping-schema] }
`,
    );
    const agent = startAgent(file);
    t.after(() => void (agent.proc.exitCode === null && agent.proc.kill('SIGKILL')));
    // Every listing announces list_changed, and the agent checks again at once: wait for 25 checks.
    const checks = (): number => agent.logs.filter((l) => l.includes('"msg":"checked"')).length;
    await agent.waitUntil(() => checks() >= 25, '25 checks', 60_000);
    agent.proc.kill('SIGTERM');
    assert.equal((await agent.exit).code, 0);
    const checked = checks();
    const alerts = agent.logs.filter((l) => l.includes('"msg":"alert"') && l.includes('"event":"schema_drift"'));
    assert.equal(alerts.length, 1, alerts.join('\n'));
    assert.equal(agent.stdout.filter((l) => /SCHEMA_DRIFT|schema/i.test(l)).length, 1, agent.stdout.join('\n'));
    const db = new Database(join(dir, 'state.db'), { readonly: true });
    const stored = (db.prepare('SELECT COUNT(*) AS n FROM drift_events WHERE server = ?').get('flap') as { n: number }).n;
    db.close();
    // The first listing is the baseline; every later one changed the schema and is kept.
    assert.ok(stored >= checked - 2, `${stored} drift events stored for ${checked} checks`);
  });
});
