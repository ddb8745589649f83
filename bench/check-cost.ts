// What one check over a kept session costs the agent, apart from the fleet: a ServerSession (the
// agent's own check path: tools/list over the kept connection, outcome, listing cache) against one
// fixture server in a child process, checked back to back so the connection is reused and no TCP
// set-up is counted. Prints, per era, process CPU (user + system) per check over `checks` checks, and
// the bytes allocated per check (V8's sampling heap profiler with collected objects included, so it
// is allocation volume, not what stays live), the garbage every check leaves for the collector; the
// sampler runs over a tenth as many checks after the timed ones, so it does not weigh on the CPU figure.
// Rounds alternate the eras; the median round is printed. Prints figures only; never fails on time.
// --new-connections: the server says `Keep-Alive: timeout=1`, so every check goes out without the
// pool on a connection of its own (`Connection: close`), as in a fleet whose servers drop idle
// connections before the next interval (Node's 5 s against a 10 s interval).
//
// --in-flight K: K servers (one fixture process) and a session each, checked K at a time instead of
// one after another, as a fleet's checks overlap when its servers answer slowly or its rate is high.
// --against DIR: this build against another (DIR: a copy of that build's dist/), in one process against
// the same fixture server: each round checks --checks times over this build's ServerSession and as many
// over the other's, which goes first alternating, and prints the CPU per check of each build and in how
// many rounds this one was the cheaper. On a shared machine whose load moves, separate runs differ by
// more than a change is worth; batches a fraction of a second apart see the same load.
//
//   npm run build && node dist/bench/check-cost.js [--checks 2000] [--rounds 3] [--era legacy|modern|both] [--new-connections] [--in-flight 1]
//   node dist/bench/check-cost.js --against ../base/dist --checks 200 --rounds 40 --era modern --new-connections
import { Session } from 'node:inspector/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseConfig } from '../src/config/load.js';
import { resolveServer } from '../src/config/schema.js';
import { ServerSession } from '../src/probe/session.js';
import { arg, argOneOf, load, machine } from './agent-harness.js';
import { spawnFleet, type FleetEra } from './fixture-fleet.js';

const CHECKS = Number(arg('checks', '2000'));
const ROUNDS = Number(arg('rounds', '3'));
const ERA = argOneOf('era', ['legacy', 'modern', 'both'], 'both');
const NEW_CONNECTIONS = process.argv.includes('--new-connections');
const AGAINST = arg('against', '');
const IN_FLIGHT = Number(arg('in-flight', '1'));
if (!Number.isInteger(IN_FLIGHT) || IN_FLIGHT < 1) {
  console.error('--in-flight: a positive integer');
  process.exit(2);
}
if (!Number.isInteger(CHECKS) || CHECKS < 1 || !Number.isInteger(ROUNDS) || ROUNDS < 1) {
  console.error('--checks and --rounds: positive integers');
  process.exit(2);
}
const ERAS: FleetEra[] = ERA === 'both' ? ['legacy', 'modern'] : [ERA];
const WARM_UP = 1000;

interface Round {
  cpuUs: number;
  bytes: number;
}

/** `n` checks over these sessions, one in flight per session. */
async function checks(sessions: ServerSession[], n: number): Promise<void> {
  let left = n;
  await Promise.all(
    sessions.map(async (session) => {
      while (left-- > 0) {
        const out = await session.check();
        if (out.error) throw new Error(`check failed: ${out.error.type}: ${out.error.message}`);
      }
    }),
  );
}

/** CPU with no profiler attached, then allocations over a tenth as many checks with the sampler on. */
async function round(sessions: ServerSession[], inspector: Session): Promise<Round> {
  const before = process.cpuUsage();
  await checks(sessions, CHECKS);
  const cpu = process.cpuUsage(before);
  const sampled = Math.max(100, Math.round(CHECKS / 10));
  await inspector.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  await checks(sessions, sampled);
  const { profile } = await inspector.post('HeapProfiler.stopSampling');
  let bytes = 0;
  const walk = (node: typeof profile.head): void => {
    bytes += node.selfSize;
    node.children.forEach(walk);
  };
  walk(profile.head);
  return { cpuUs: (cpu.user + cpu.system) / CHECKS, bytes: bytes / sampled };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** `n` fixture servers of this era in a child process (their keep-alive as --new-connections says). */
async function fixtureServers(era: FleetEra, n = 1): Promise<{ servers: Array<ReturnType<typeof resolveServer>>; stop: () => Promise<void> }> {
  const fleet = await spawnFleet(n, { era, ...(NEW_CONNECTIONS ? { keepAliveMs: 1000 } : {}) });
  const servers = fleet.urls.map((url, i) => {
    const config = parseConfig(`servers:\n  - name: target-${i}\n    transport: streamable_http\n    url: ${url}\n`, 'check-cost.yaml');
    return resolveServer(config, config.servers[0]!);
  });
  return { servers, stop: fleet.stop };
}

async function compare(dir: string): Promise<void> {
  const other = (await import(pathToFileURL(join(resolve(dir), 'src/probe/session.js')).href)) as { ServerSession: typeof ServerSession };
  console.log(`## One check, this build against ${dir} — ${machine()}`);
  console.log(`${ROUNDS} rounds of ${CHECKS} checks per build, in one process; ${NEW_CONNECTIONS ? 'a new connection per check' : 'one kept connection'}\n`);
  console.log('| era | build | CPU µs per check, mean of rounds | median | cheaper in |');
  console.log('| --- | --- | ---: | ---: | --- |');
  for (const era of ERAS) {
    const { servers, stop } = await fixtureServers(era);
    const sessions = [new ServerSession(servers[0]!, { onSignal: () => {} }), new other.ServerSession(servers[0]!, { onSignal: () => {} })];
    for (const session of sessions) await checks([session], WARM_UP);
    const cpu: number[][] = [[], []];
    for (let r = 0; r < ROUNDS; r++) {
      for (const i of r % 2 ? [1, 0] : [0, 1]) {
        const before = process.cpuUsage();
        await checks([sessions[i]!], CHECKS);
        const used = process.cpuUsage(before);
        cpu[i]!.push((used.user + used.system) / CHECKS);
      }
    }
    const wins = cpu[0]!.filter((us, r) => us < cpu[1]![r]!).length;
    const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
    console.log(`| ${era} | this | ${mean(cpu[0]!).toFixed(0)} | ${median(cpu[0]!).toFixed(0)} | ${wins} of ${ROUNDS} rounds |`);
    console.log(`| ${era} | ${dir} | ${mean(cpu[1]!).toFixed(0)} | ${median(cpu[1]!).toFixed(0)} | ${ROUNDS - wins} of ${ROUNDS} |`);
    for (const session of sessions) await session.close();
    await stop();
  }
  console.log(`\nload average at the end: ${load()}`);
}

async function main(): Promise<void> {
  console.log(`## One check over a kept session — ${machine()}`);
  console.log(`${CHECKS} checks a round, ${ROUNDS} rounds alternating the eras, after ${WARM_UP} warm-up checks; ${NEW_CONNECTIONS ? 'a new connection per check' : 'one kept connection'}; ${IN_FLIGHT} in flight\n`);
  const inspector = new Session();
  inspector.connect();
  const targets: Array<{ era: FleetEra; sessions: ServerSession[]; stop: () => Promise<void>; rounds: Round[] }> = [];
  for (const era of ERAS) {
    const { servers, stop } = await fixtureServers(era, IN_FLIGHT);
    const sessions = servers.map((server) => new ServerSession(server, { onSignal: () => {} }));
    await checks(sessions, WARM_UP);
    targets.push({ era, sessions, stop, rounds: [] });
  }
  for (let r = 0; r < ROUNDS; r++) for (const t of targets) t.rounds.push(await round(t.sessions, inspector));
  console.log('| era | CPU µs per check (median round) | rounds | bytes allocated per check (median) |');
  console.log('| --- | ---: | --- | ---: |');
  for (const t of targets) {
    console.log(`| ${t.era} | ${median(t.rounds.map((x) => x.cpuUs)).toFixed(0)} | ${t.rounds.map((x) => x.cpuUs.toFixed(0)).join(' / ')} | ${median(t.rounds.map((x) => x.bytes)).toFixed(0)} |`);
    for (const session of t.sessions) await session.close();
    await t.stop();
  }
  console.log(`\nload average at the end: ${load()}`);
  inspector.disconnect();
}

await (AGAINST ? compare(AGAINST) : main());
