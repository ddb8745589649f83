// Time from a server's death to the `down` alert, end to end: the agent runs as a child process
// (`node dist/src/cli/main.js run -c FILE`) with a webhook notifier pointed at an HTTP receiver in this
// process, and the clock runs from the SIGKILL to the moment the receiver has the `{"event":"down"}`
// POST.
//
// (a) stdio: one stdio fixture server (`node dist/test/fixtures/stdio-server.js ok`), interval 30s.
//     Once it is up, its process (the agent's child, from /proc/PID/task/*/children) is SIGKILLed at a
//     random moment; then the bench waits for `recovered` (the agent restarts it) and repeats.
//     Target ≤ 1 s.
// (b) Streamable HTTP: one SDK fixture server in a child process (bench/fixture-fleet.ts), interval
//     30s, consecutive_failures_before_down 3. The server process is SIGKILLed at a uniformly random
//     moment in the 30 s interval after the first check; a fresh agent and server per repetition.
//     Target ≤ 15 s.
// (c) Through the user's Alertmanager (Debian's prometheus-alertmanager, group_wait 0s): the same
//     HTTP kill as (b), measured to the Alertmanager webhook receiver by both paths at once — the
//     `alertmanager` notifier (mcpwatch posts its `down` event to /api/v2/alerts) and the shipped
//     rules (a real Prometheus scraping the agent and evaluating deploy/prometheus/alerts.yaml every
//     15 s). Targets ≤ 15 s (notifier) and ≤ 40 s (rules).
// The agent logs at debug level so each repetition's timeline (what triggered the first check after
// the kill, each failed check) can be printed from its JSON logs; one server makes that cheap.
// Prints figures only; never fails on time.
// `--http-era modern` runs (b) against a 2026-07-28 server, whose death shows on its listen stream.
//
//   npm run build && node dist/bench/alert-latency.js [--stdio-runs 10] [--http-runs 5] [--am-runs 3] [--only stdio|http|alertmanager] [--http-era legacy|modern]
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STDIO_FIXTURE } from '../test/helpers.js';
import { ANY_PORT, arg, childPids, load, machine, quantile, sleep, spawnAgent, waitFor, type AgentChild } from './agent-harness.js';
import { spawnFleet, type FleetEra } from './fixture-fleet.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { ROOT } from '../test/deploy/common.js';
import { startAlertmanager } from '../test/fixtures/alertmanager.js';
import { listeningPort } from '../test/fixtures/listening.js';

const STDIO_RUNS = Number(arg('stdio-runs', '10'));
const HTTP_RUNS = Number(arg('http-runs', '5'));
const AM_RUNS = Number(arg('am-runs', '3'));
/** Prometheus scrape and evaluation interval for case (c). */
const PROM_INTERVAL = '15s';
const ONLY = arg('only', '');
/** (b)'s server: legacy (SDK 1.32, 2025-11-25, a session and its GET stream) or modern (SDK v2, 2026-07-28, a listen stream). */
const HTTP_ERA = arg('http-era', 'legacy') as FleetEra;
const INTERVAL_MS = 30_000;

interface Hook {
  /** performance.now() when the POST body was complete. */
  at: number;
  event: string;
  server: string;
  message: string;
}

/** The webhook receiver: every POST body is an AlertEvent. */
class Receiver {
  readonly hooks: Hook[] = [];
  private server: Server | undefined;
  private waiters: Array<() => void> = [];
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const at = performance.now();
        try {
          const e = JSON.parse(Buffer.concat(chunks).toString()) as { event: string; server: string; message: string };
          this.hooks.push({ at, event: e.event, server: e.server, message: e.message });
        } catch {
          // not an alert
        }
        res.writeHead(204).end();
        for (const w of this.waiters.splice(0)) w();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/hook`;
  }

  /** The first `event` received after `since` (performance.now()). */
  async next(event: string, since: number, timeoutMs: number): Promise<Hook> {
    const end = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.hooks.find((h) => h.event === event && h.at >= since);
      if (hit) return hit;
      const left = end - performance.now();
      if (left <= 0) throw new Error(`no "${event}" webhook within ${timeoutMs} ms (received: ${this.hooks.filter((h) => h.at >= since).map((h) => h.event).join(', ') || 'nothing'})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(t), resolve()));
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function baseConfig(dir: string, hookUrl: string, servers: object[], monitoring: object): Record<string, unknown> {
  return {
    monitoring,
    servers,
    alerts: [{ type: 'webhook', url: hookUrl, retry: { max_attempts: 5, initial_backoff: '100ms', max_backoff: '1s' } }],
    receivers: { otlp: null },
    exporters: { prometheus: null },
    health: { endpoint: ANY_PORT },
    state: { path: join(dir, 'state.db') },
    log: { level: 'debug' },
  };
}

/** pino JSON lines from the agent's stderr at or after `sinceEpochMs`, for a timeline. */
function timeline(agent: AgentChild, sinceEpochMs: number, untilEpochMs: number): string[] {
  const out: string[] = [];
  for (const line of agent.stderr().split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: { time: number; msg: string; signal?: string; error?: { type?: string; phase?: string }; status?: string; to?: string; event?: string };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      continue;
    }
    if (rec.time < sinceEpochMs || rec.time > untilEpochMs + 50) continue;
    let what = rec.msg;
    if (rec.msg === 'checking now') what = `check triggered (${rec.signal})`;
    else if (rec.msg === 'checked') what = `check: ${rec.status}${rec.error ? `, ${rec.error.type} in ${rec.error.phase}` : ''}`;
    else if (rec.msg === 'state changed') what = `state → ${rec.to}`;
    else if (rec.msg === 'alert') what = `alert ${rec.event}`;
    out.push(`+${String(rec.time - sinceEpochMs).padStart(5)} ms ${what}`);
  }
  return out;
}

function summary(label: string, values: number[], targetMs: number): string {
  const s = [...values].sort((a, b) => a - b);
  return `${label}: n=${s.length}, min ${s[0]!.toFixed(0)} ms, median ${quantile(s, 0.5).toFixed(0)} ms, max ${s[s.length - 1]!.toFixed(0)} ms — target ≤ ${targetMs / 1000} s ${s[s.length - 1]! <= targetMs ? 'met (every run)' : quantile(s, 0.5) <= targetMs ? 'met on the median, NOT on the max' : 'NOT met'}`;
}

async function stdioCase(receiver: Receiver): Promise<number[]> {
  console.log(`\n### (a) stdio: SIGKILL of the server process → "down" webhook (interval 30s, ${STDIO_RUNS} runs, one agent, wait for "recovered" between runs)\n`);
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-alert-stdio-'));
  const servers = [{ name: 'stdio-ok', transport: 'stdio', command: process.execPath, args: [STDIO_FIXTURE, 'ok'] }];
  const agent = spawnAgent({ config: baseConfig(dir, receiver.url, servers, { interval: '30s' }), dir, name: 'alert-stdio' });
  const results: number[] = [];
  try {
    await agent.ready(30_000);
    let lastPid = 0;
    for (let run = 1; run <= STDIO_RUNS; run++) {
      // The agent's only child is the stdio server it keeps running (started without a shell).
      const pid = await waitFor(
        'the stdio server process',
        async () => {
          const r = await agent.readyz();
          const kids = childPids(agent.pid).filter((p) => p !== lastPid);
          return r?.servers['stdio-ok'] === 'up' && kids.length === 1 ? kids[0] : undefined;
        },
        30_000,
      );
      await sleep(500 + Math.random() * 2000);
      const killedEpoch = Date.now();
      const t = performance.now();
      process.kill(pid, 'SIGKILL');
      const down = await receiver.next('down', t, 30_000);
      const ms = down.at - t;
      results.push(ms);
      const recovered = await receiver.next('recovered', down.at, 60_000);
      console.log(`run ${String(run).padStart(2)}: pid ${pid} killed → down webhook in ${ms.toFixed(1)} ms ("${down.message}"); recovered ${((recovered.at - t) / 1000).toFixed(1)} s after the kill`);
      for (const line of timeline(agent, killedEpoch, killedEpoch + Math.ceil(ms))) console.log(`        ${line}`);
      lastPid = pid;
    }
  } finally {
    const exit = await agent.stop();
    if (exit.code !== 0) console.log(`agent exited ${JSON.stringify(exit)}:\n${agent.stderr().slice(-3000)}`);
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('');
  console.log(summary('stdio kill → down webhook', results, 1000));
  return results;
}

async function httpCase(receiver: Receiver): Promise<number[]> {
  console.log(`\n### (b) Streamable HTTP (${HTTP_ERA} era): SIGKILL of the server process at a random moment of the 30 s interval → "down" webhook (consecutive_failures_before_down 3, ${HTTP_RUNS} runs, fresh agent and server each)\n`);
  const results: number[] = [];
  for (let run = 1; run <= HTTP_RUNS; run++) {
    const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-alert-http-'));
    const fleet = await spawnFleet(1, { era: HTTP_ERA });
    const servers = [{ name: 'http', transport: 'streamable_http', url: fleet.urls[0] }];
    const agent = spawnAgent({ config: baseConfig(dir, receiver.url, servers, { interval: '30s', consecutive_failures_before_down: 3 }), dir, name: 'alert-http' });
    try {
      const ready = await agent.ready(30_000);
      if (ready.servers.http !== 'up') throw new Error(`server not up after the first check: ${JSON.stringify(ready)}`);
      const offset = Math.random() * INTERVAL_MS;
      await sleep(offset);
      const killedEpoch = Date.now();
      const t = performance.now();
      process.kill(fleet.pid, 'SIGKILL');
      const down = await receiver.next('down', t, 60_000);
      const ms = down.at - t;
      results.push(ms);
      console.log(`run ${run}: killed ${(offset / 1000).toFixed(1)} s after the first check → down webhook in ${(ms / 1000).toFixed(2)} s ("${down.message}")`);
      for (const line of timeline(agent, killedEpoch, killedEpoch + Math.ceil(ms))) console.log(`        ${line}`);
    } finally {
      const exit = await agent.stop();
      if (exit.code !== 0) console.log(`agent exited ${JSON.stringify(exit)}:\n${agent.stderr().slice(-3000)}`);
      await fleet.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log('');
  console.log(summary('Streamable HTTP kill → down webhook', results, 15_000));
  return results;
}

async function alertmanagerCase(): Promise<{ notifier: number[]; rules: number[] }> {
  console.log(`\n### (c) Streamable HTTP kill → Alertmanager receiver, through the alertmanager notifier and through the rules (scrape and evaluation ${PROM_INTERVAL}, group_wait 0s; interval 30s, consecutive_failures_before_down 3, ${AM_RUNS} runs)\n`);
  const am = await startAlertmanager();
  const dir = mkdtempSync(join(tmpdir(), 'mcpwatch-alert-am-'));
  // Each run's agent listens on a port of its own (port 0): Prometheus is told its target by a
  // reload (SIGHUP), before the run waits for the scrapes that see the server up.
  const scrapeOnly = (targets: string[]): void =>
    writeFileSync(
      join(dir, 'prometheus.yml'),
      JSON.stringify({
        global: { scrape_interval: PROM_INTERVAL, evaluation_interval: PROM_INTERVAL },
        rule_files: [join(ROOT, 'deploy', 'prometheus', 'alerts.yaml')],
        alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${am.port}`] }] }] },
        scrape_configs: [{ job_name: 'mcpwatch', static_configs: [{ targets }] }],
      }),
    );
  scrapeOnly([]);
  const prom: ChildProcess = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${ANY_PORT}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const promPort = listeningPort(prom);
  const notifier: number[] = [];
  const rules: number[] = [];
  try {
    const port = await promPort;
    if (port === undefined) throw new Error('Prometheus exited before it listened');
    // Its log is not read past that line: what it writes later is let go.
    prom.stdout!.resume();
    prom.stderr!.resume();
    await waitFor('Prometheus ready', async () => ((await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => undefined))?.ok ? true : undefined), 30_000, 200);
    for (let run = 1; run <= AM_RUNS; run++) {
      const name = `http-${run}`;
      const fleet = await spawnFleet(1);
      const config = baseConfig(dir, 'http://127.0.0.1:9/unused', [{ name, transport: 'streamable_http', url: fleet.urls[0] }], { interval: '30s', consecutive_failures_before_down: 3 });
      config.alerts = [{ type: 'alertmanager', url: am.url }];
      config.exporters = { prometheus: { endpoint: ANY_PORT } };
      const agent = spawnAgent({ config, dir, name: `alert-am-${run}` });
      try {
        scrapeOnly([(await agent.started).metrics!]);
        prom.kill('SIGHUP');
        const ready = await agent.ready(30_000);
        if (ready.servers[name] !== 'up') throw new Error(`server not up after the first check: ${JSON.stringify(ready)}`);
        // Prometheus must have scraped the agent as up before the kill, or the rule cannot see a change.
        await sleep(Math.random() * INTERVAL_MS + 16_000);
        const t = performance.now();
        process.kill(fleet.pid, 'SIGKILL');
        const isDown = (n: { status: string; labels: Record<string, string> }): boolean => n.status === 'firing' && n.labels.alertname === 'McpServerDown' && n.labels.mcp_server_name === name;
        // The rules' alert carries the scrape's job label; the notifier's does not.
        const viaNotifier = await am.waitFor((n) => isDown(n) && n.at >= t && n.labels.job === undefined, 'notifier alert', 120_000);
        const viaRules = await am.waitFor((n) => isDown(n) && n.at >= t && n.labels.job !== undefined, 'rule alert', 120_000);
        notifier.push(viaNotifier.at - t);
        rules.push(viaRules.at - t);
        console.log(`run ${run}: kill → Alertmanager receiver: notifier ${((viaNotifier.at - t) / 1000).toFixed(2)} s, rules ${((viaRules.at - t) / 1000).toFixed(2)} s`);
      } finally {
        const exit = await agent.stop();
        if (exit.code !== 0) console.log(`agent exited ${JSON.stringify(exit)}:\n${agent.stderr().slice(-3000)}`);
        await fleet.stop();
      }
    }
  } finally {
    prom.kill('SIGTERM');
    await am.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('');
  console.log(summary('HTTP kill → Alertmanager receiver via the alertmanager notifier', notifier, 15_000));
  console.log(summary(`HTTP kill → Alertmanager receiver via the rules (${PROM_INTERVAL} scrape and evaluation)`, rules, 40_000));
  return { notifier, rules };
}

async function main(): Promise<void> {
  console.log(`## alert latency: server death → "down" webhook — ${machine()}`);
  const receiver = new Receiver();
  await receiver.start();
  try {
    if (ONLY === '' || ONLY === 'stdio') await stdioCase(receiver);
    if (ONLY === '' || ONLY === 'http') await httpCase(receiver);
    if (ONLY === '' || ONLY === 'alertmanager') await alertmanagerCase();
  } finally {
    await receiver.close();
  }
  console.log(`\nload average at the end: ${load()}`);
}

await main();
