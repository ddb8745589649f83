import { basename } from 'node:path';
import { Option, type Command } from 'commander';
import pLimit from 'p-limit';
import { configSchema, resolveServer, timerDuration, TRANSPORTS, urlTransport, type Config, type ServerConfig, type TransportName } from '../config/schema.js';
import { formatPath } from '../config/load.js';
import type { ProbeOutcome } from '../probe/prober.js';
import { fmtMs, probeVerdict, type ProbeVerdict } from '../pipeline/status.js';
import { CliExit, collect, colorsFor, EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, loadConfigOrExit } from './common.js';
import { stdioServerName } from '../config/stdio-name.js';
import { splitCommand } from '../config/files.js';
import { inWaves, probeWaves } from '../pipeline/waves.js';
import { ownServers, type Sharding } from '../pipeline/shard.js';
import { serverJson, type AgentServerJson, type AgentView, type ServerJson } from '../pipeline/server-view.js';
import type { AffectedAgents } from '../pipeline/events.js';
import { redactText } from '../pipeline/redact.js';
import { affectedEntries } from '../export/notifiers/format.js';

interface HealthOptions {
  config?: string;
  json?: boolean;
  verbose?: boolean;
  server?: string[];
  tag?: string[];
  filter?: string[];
  groupBy?: string;
  url?: string;
  transport?: TransportName;
  stdio?: boolean;
  header?: string[];
  name?: string;
  timeout?: string;
  concurrency?: string;
  /** false with --no-checks. */
  checks?: boolean;
  /** --shard: true for the configured shard, or the shard given. */
  shard?: string | boolean;
  from?: string;
}

export function registerHealth(program: Command): void {
  program
    .command('health')
    .description('probe every configured MCP server once and print which are up, how fast, and why not')
    .argument('[command...]', 'with --stdio: the server command and its arguments (after --)')
    .option('-c, --config <file>', 'configuration file (default ./mcpwatch.yaml, then $XDG_CONFIG_HOME/mcpwatch/mcpwatch.yaml)')
    .option('--json', 'print JSON instead of a table')
    .option('-v, --verbose', 'with --json: include each server\'s tool list')
    .option('--server <name>', 'only this server (repeatable)', collect)
    .option('--tag <tag>', 'only servers with this tag (repeatable: all must match)', collect)
    .option('--filter <expr>', 'KEY=VALUE or KEY!=VALUE on name, transport, tag, status (repeatable)', collect)
    .option('--group-by <key>', 'group rows by transport, status, or tag:PREFIX (e.g. tag:team)')
    .option('--url <url>', 'probe this URL without a configuration file')
    .addOption(new Option('--transport <transport>', 'with --url: the transport (default: sse for a URL whose path ends in /sse, as init configures it, else streamable_http)').choices(TRANSPORTS.filter((t) => t !== 'stdio')))
    .option('--stdio', 'probe the command given after -- without a configuration file')
    .option('--name <name>', 'with --url or --stdio: the name shown (default: the URL\'s host, or the package or script the command runs)')
    .option('-H, --header <header>', 'with --url: a request header "Name: value" (repeatable)', collect)
    .option('--timeout <duration>', "deadline for each server's whole probe, e.g. 5s, its checks and its close included (overrides the servers' timeout and start_timeout, and cuts a check's own longer timeout)")
    .option('--concurrency <n>', 'probes in flight at once (default: monitoring.concurrency, 32)')
    .option('--shard [index]', 'only the servers of the configured shard (sharding.shard), or of the shard given: what that agent of a sharded fleet probes (default: every server)')
    .option('--no-checks', 'skip the configured checks (tools/call, resources/read, prompts/get): only list tools')
    .option('--from <url>', 'print what a running agent last saw (its health endpoint, e.g. http://127.0.0.1:13133), with the agents calling each server, without probing')
    .action(async (command: string[], opts: HealthOptions) => {
      process.exitCode = await runHealth(command, opts);
    });
}

async function runHealth(command: string[], opts: HealthOptions): Promise<number> {
  if (opts.from !== undefined) return runFrom(command, opts);
  if (opts.name !== undefined && !opts.url && !opts.stdio) throw new CliExit(EXIT_USAGE, '--name names an ad-hoc target: use it with --url or --stdio');
  adHocUsage(command, opts);
  const loaded = opts.url || opts.stdio ? undefined : loadConfigOrExit(opts.config, { isolateServerEnv: true, ignoreSharding: opts.shard === undefined, shardCountOnly: typeof opts.shard === 'string', probeOnly: true });
  // "0/0 up" and exit 0 passed a CI gate that checked nothing (a template that rendered no servers).
  if (loaded && loaded.config.servers.length === 0) throw new CliExit(EXIT_USAGE, `${basename(loaded.file)} configures no servers: nothing to probe`);
  const config = loaded?.config ?? adHocConfig(command, opts);
  const shard = opts.shard === undefined ? undefined : selectedShard(config, opts);
  const filters = (opts.filter ?? []).map((f) => parseFilter(f));
  let timeout: number | undefined;
  if (opts.timeout) {
    // Bounded as a configured timeout is: a longer deadline overflows Node's timer, which then fires at
    // once, and every server was reported down on a timeout it never had.
    const t = timerDuration.safeParse(opts.timeout);
    if (!t.success) throw new CliExit(EXIT_USAGE, `--timeout: ${t.error.issues[0]?.message}`);
    timeout = t.data;
  }
  // The whole probe's deadline, a stdio server's start included: start_timeout (60 s by default, for
  // npx downloads) kept `--timeout 2s` waiting a minute on a server that never answered. Set before the
  // server is resolved, so that its checks without a timeout of their own inherit it too: applied
  // after, a check kept the configured timeout and `--timeout 2s` waited on it for as long.
  let servers = config.servers.map((s) => resolveServer(config, timeout === undefined ? s : { ...s, timeout, start_timeout: timeout }));
  // Against every server, not those --server kept: a tag another server has is no unknown tag.
  const configured = servers;
  if (opts.server?.length) {
    const unknown = opts.server.filter((n) => !servers.some((s) => s.name === n));
    if (unknown.length) throw new CliExit(EXIT_USAGE, `--server: no server named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (known: ${servers.map((s) => s.name).join(', ') || 'none'})`);
    servers = servers.filter((s) => opts.server!.includes(s.name));
  }
  const unknownTags = (opts.tag ?? []).filter((tag) => !configured.some((s) => s.tags.includes(tag)));
  if (unknownTags.length) {
    const known = [...new Set(configured.flatMap((s) => s.tags))];
    throw new CliExit(EXIT_USAGE, `--tag: no server has the tag ${unknownTags.map((t) => JSON.stringify(t)).join(', ')} (tags in use: ${known.join(', ') || 'none'})`);
  }
  for (const tag of opts.tag ?? []) servers = servers.filter((s) => s.tags.includes(tag));
  servers = servers.filter((s) => filters.every((f) => f.key === 'status' || f.test(s, undefined)));
  const beforeShard = servers;
  if (shard) servers = ownServers(servers, shard);
  // An empty selection is a mistake in the command, not "0/0 up": say so the way --server does.
  if (servers.length === 0) throw new CliExit(EXIT_USAGE, emptySelection(opts, filters, shard, beforeShard));
  const concurrency = opts.concurrency ? Number(opts.concurrency) : config.monitoring.concurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new CliExit(EXIT_USAGE, `--concurrency: must be a positive integer (got "${opts.concurrency}")`);

  // Loaded here, not at the top: main.ts registers every command, and `run` (an OTLP-only agent in
  // particular) would otherwise carry the MCP SDK's client and schemas for nothing.
  const { probeServer } = await import('../probe/probe.js');
  const limit = pLimit(concurrency);
  const results: Array<{ server: ServerConfig; outcome: ProbeOutcome; verdict: ReturnType<typeof probeVerdict> }> = [];
  const waves = probeWaves(servers.map((server, i) => ({ server, i, transport: server.transport })));
  await inWaves(waves, ({ server: s, i }) =>
    limit(async () => {
      // --timeout is the whole answer's: a check with a longer timeout of its own is cut by it
      // (the servers' timeouts above bound only the handshake and the listing, each check its own).
      const bound = timeout === undefined ? undefined : { signal: AbortSignal.timeout(timeout), ms: timeout, name: `health --timeout ${opts.timeout}` };
      const outcome = await probeServer(s, { maxToolPages: config.monitoring.max_tool_pages, ...(opts.checks === false ? { checks: [] } : {}), ...(bound ? { bound } : {}) });
      results[i] = { server: s, outcome, verdict: probeVerdict(outcome, s.thresholds) };
    }),
  );
  const shown = results.filter((r) => filters.every((f) => f.key !== 'status' || f.test(r.server, r.verdict.status)));

  if (opts.json) {
    process.stdout.write(JSON.stringify({ servers: shown.map((r) => serverJson(r.server, r.outcome, r.verdict.status, r.verdict.note, Boolean(opts.verbose))) }, null, 2) + '\n');
  } else {
    await printTable(shown.map((r) => ({ json: serverJson(r.server, r.outcome, r.verdict.status, r.verdict.note), severity: r.verdict.severity })), opts.groupBy);
  }
  return shown.every((r) => r.verdict.status === 'up') ? EXIT_OK : EXIT_PROBLEM;
}

/** Why no server is left to probe, naming only the options that were given. */
function emptySelection(opts: HealthOptions, filters: Filter[], shard: Pick<Sharding, 'shards' | 'shard'> | undefined, beforeShard: readonly ServerConfig[]): string {
  const given = [opts.server?.length && '--server', opts.tag?.length && (opts.tag.length > 1 ? 'every --tag' : '--tag'), filters.some((f) => f.key !== 'status') && '--filter'].filter((o): o is string => Boolean(o));
  if (shard && beforeShard.length > 0) {
    const counts = Array.from({ length: shard.shards }, (_, k) => ownServers(beforeShard, { shards: shard.shards, shard: k }).length);
    const of = `${beforeShard.length === 1 ? 'the one server' : `the ${beforeShard.length} servers`}${given.length ? ` ${given.join(' and ')} select${given.length === 1 ? 's' : ''}` : ''}`;
    return `--shard: shard ${shard.shard} of ${shard.shards} has none of ${of} (by shard: ${counts.join(', ')}): its agent probes nothing`;
  }
  return `no server matches ${given.length > 1 ? `all of ${given.join(' and ')} together` : (given[0] ?? 'the selection')}`;
}

/** The shard `--shard` asks for: the configured one, or the index given, of the configured shard count. */
function selectedShard(config: Config, opts: HealthOptions): Pick<Sharding, 'shards' | 'shard'> {
  if (opts.url || opts.stdio) throw new CliExit(EXIT_USAGE, '--shard selects among configured servers: not with --url or --stdio');
  const sharding = config.sharding;
  if (!sharding) throw new CliExit(EXIT_USAGE, '--shard: the configuration has no `sharding` section, so every agent probes every server');
  if (opts.shard === true) return sharding;
  const text = String(opts.shard);
  const index = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(index < sharding.shards)) throw new CliExit(EXIT_USAGE, `--shard: must be a shard from 0 to ${sharding.shards - 1} (sharding.shards is ${sharding.shards}; got "${text}")`);
  return { shards: sharding.shards, shard: index };
}

/** `mcpwatch health --from URL`: a running agent's view, selected and printed as a probe run's. */
async function runFrom(command: string[], opts: HealthOptions): Promise<number> {
  const probing: Array<[string, unknown]> = [
    ['--config', opts.config],
    ['--url', opts.url],
    ['--stdio', opts.stdio || command.length > 0],
    ['--timeout', opts.timeout],
    ['--concurrency', opts.concurrency],
    ['--no-checks', opts.checks === false],
    ['--shard', opts.shard !== undefined],
  ];
  for (const [flag, set] of probing) if (set) throw new CliExit(EXIT_USAGE, `${flag} is for probing: --from prints what the running agent last saw`);
  // Parsed first: a mistyped filter is said without reaching out to the agent.
  const filters = (opts.filter ?? []).map((f) => parseFilter(f, true));
  const view = await fetchAgentView(opts.from!);
  // As a configuration without servers: an agent that only receives OTLP traffic has no state to show.
  if (view.servers.length === 0) throw new CliExit(EXIT_USAGE, `the agent at ${redactText(opts.from!)} monitors no servers: nothing to show`);
  let servers = view.servers;
  if (opts.server?.length) {
    const unknown = opts.server.filter((n) => !servers.some((s) => s.name === n));
    if (unknown.length) throw new CliExit(EXIT_USAGE, `--server: the agent monitors no server named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (it monitors: ${servers.map((s) => s.name).join(', ') || 'none'})`);
    servers = servers.filter((s) => opts.server!.includes(s.name));
  }
  const unknownTags = (opts.tag ?? []).filter((tag) => !view.servers.some((s) => s.tags.includes(tag)));
  if (unknownTags.length) throw new CliExit(EXIT_USAGE, `--tag: no server has the tag ${unknownTags.map((t) => JSON.stringify(t)).join(', ')}`);
  for (const tag of opts.tag ?? []) servers = servers.filter((s) => s.tags.includes(tag));
  servers = servers.filter((s) => filters.every((f) => f.key === 'status' || f.test(s, s.status)));
  if (servers.length === 0) throw new CliExit(EXIT_USAGE, emptySelection(opts, filters, undefined, []));
  servers = servers.filter((s) => filters.every((f) => f.key !== 'status' || f.test(s, s.status)));
  if (opts.json) process.stdout.write(JSON.stringify({ servers }, null, 2) + '\n');
  else {
    const severity = (status: string): ProbeVerdict['severity'] => (status === 'up' ? 'ok' : status === 'down' || status === 'stale' ? 'critical' : 'warning');
    await printTable(servers.map((json) => ({ json, severity: severity(json.status), agents: json.agents, at: view.generated_at })), opts.groupBy);
  }
  return servers.every((s) => s.status === 'up') ? EXIT_OK : EXIT_PROBLEM;
}

/** GET <from>/api/v1/servers; anything but a server list from an mcpwatch agent ends the command with why. */
export async function fetchAgentView(from: string): Promise<AgentView> {
  let url: URL;
  try {
    url = new URL(from);
  } catch {
    throw new CliExit(EXIT_USAGE, `--from: expected the agent's health endpoint as a URL, e.g. http://127.0.0.1:13133 (got "${redactText(from)}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliExit(EXIT_USAGE, `--from: expected an http(s) URL (got scheme "${url.protocol}")`);
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/api/v1/servers';
  const shown = redactText(url.toString());
  let res: Response;
  let text: string;
  try {
    // A bound against an agent that accepts and never answers, not a measurement.
    res = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(30_000) });
    text = await res.text();
  } catch (err) {
    // fetch says only "fetch failed"; what went wrong (ECONNREFUSED, a port fetch refuses) is its cause.
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' && cause.message ? cause.message : err instanceof Error ? err.message : String(err);
    throw new CliExit(EXIT_PROBLEM, `cannot reach the mcpwatch agent at ${shown}: ${why}`);
  }
  const notAgent = `is not an mcpwatch agent's health endpoint (health.endpoint) serving /api/v1/servers`;
  if (res.status !== 200) throw new CliExit(EXIT_PROBLEM, `${shown} answered HTTP ${res.status}: it ${notAgent}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CliExit(EXIT_PROBLEM, `${shown} answered something other than JSON: it ${notAgent}`);
  }
  if (!isAgentView(body)) throw new CliExit(EXIT_PROBLEM, `${shown} answered JSON that is not a server list: it ${notAgent}`);
  return body;
}

function isAgentView(v: unknown): v is AgentView {
  const o = v as Partial<AgentView> | null;
  if (!o || typeof o !== 'object' || typeof o.generated_at !== 'string' || !Array.isArray(o.servers)) return false;
  return o.servers.every((s: Partial<AgentServerJson> | null) => {
    if (!s || typeof s !== 'object') return false;
    return typeof s.name === 'string' && typeof s.transport === 'string' && typeof s.status === 'string' && Array.isArray(s.tags) && Array.isArray(s.checks) && typeof s.agents === 'object' && s.agents !== null && Array.isArray(s.agents.agents);
  });
}

/** One line of the table: a server as JSON (probed here, or served by a running agent). */
interface TableRow {
  json: ServerJson;
  severity: ProbeVerdict['severity'];
  /** With --from: the agents that call the server, and when the agent answered. */
  agents?: AffectedAgents;
  at?: string;
}

async function printTable(rows: TableRow[], groupBy: string | undefined): Promise<void> {
  const { default: Table } = await import('cli-table3');
  const c = colorsFor(process.stdout);
  const paint: Record<string, (s: string) => string> = { up: c.green, degraded: c.yellow, down: c.red, stale: c.red };
  const groups = new Map<string, TableRow[]>();
  for (const r of rows) {
    const key = groupBy ? groupKey(r.json, groupBy) : '';
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const out: string[] = [];
  for (const [group, members] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
    if (groupBy) out.push(c.bold(`${groupBy} = ${group}`));
    const table = new Table({
      head: ['Server', 'Transport', 'Status', 'Latency', 'Tools', 'Notes'],
      style: { head: c.isColorSupported ? ['cyan'] : [], border: c.isColorSupported ? ['grey'] : [] },
      colWidths: [null, null, null, null, null, Math.max(30, Math.min(70, (process.stdout.columns ?? 120) - 60))],
      wordWrap: true,
    });
    for (const { json: j } of members) {
      table.push([
        j.name,
        j.transport,
        (paint[j.status] ?? ((s: string) => s))(j.status.toUpperCase()),
        j.latency_ms === null ? '—' : fmtMs(j.latency_ms),
        j.tools === null ? '—' : String(j.tools),
        j.error ? `${j.error.type}: ${j.error.message}` : [protocolNote(j), j.notes].filter(Boolean).join('; '),
      ]);
    }
    out.push(table.toString());
  }
  // Only a status filter empties the rows: every other selection that leaves nothing is refused first.
  if (rows.length === 0) out.push('no server has the status --filter asks for');
  const problems = rows.filter((r) => r.json.status !== 'up');
  if (problems.length) out.push('');
  const said = new Map<TableRow, string>();
  for (const r of problems) {
    const level = r.severity === 'critical' ? c.red('CRITICAL') : c.yellow('WARNING');
    const why = r.json.error ? r.json.error.message : (r.json.notes ?? (r.json.status === 'unknown' ? 'not probed yet' : ''));
    said.set(r, why);
    out.push(`${level} ${r.json.name} ${r.json.status.toUpperCase()} — ${why}`);
  }
  // A refused check is a finding about the configuration, said plainly even when the server is up;
  // once, where a degraded server's line above already carries it among its notes.
  for (const r of rows) {
    for (const ch of r.json.checks) {
      const refusal = `check ${ch.name} ${ch.error?.message ?? 'not run'}`;
      if (ch.status === 'refused' && !said.get(r)?.includes(refusal)) out.push(`${c.yellow('WARNING')} ${r.json.name} ${refusal}`);
    }
  }
  // A running agent knows who calls each server: the blast radius of every problem above.
  const called = rows.filter((r) => r.agents && r.at && r.agents.total_calls > 0);
  if (called.length) out.push('');
  for (const r of called) out.push(`${r.json.name} is called by ${affectedEntries(r.agents!, r.at!).join(', ')}`);
  const up = rows.length - problems.length;
  out.push('', `${up}/${rows.length} up`);
  process.stdout.write(out.join('\n') + '\n');
}

/** Which MCP a server speaks, so a fleet's move to 2026-07-28 shows in the table. */
function protocolNote(j: Pick<ServerJson, 'protocol_version' | 'era'>): string {
  return j.protocol_version ? `MCP ${j.protocol_version}${j.era === 'modern' ? ' (stateless)' : ''}` : '';
}

function groupKey(j: ServerJson, groupBy: string): string {
  if (groupBy === 'transport') return j.transport;
  if (groupBy === 'status') return j.status;
  if (groupBy.startsWith('tag:')) {
    const prefix = groupBy.slice(4) + ':';
    const tag = j.tags.find((t) => t.startsWith(prefix));
    return tag ? tag.slice(prefix.length) : '(none)';
  }
  throw new CliExit(EXIT_USAGE, `--group-by: expected transport, status or tag:PREFIX (got "${groupBy}")`);
}

interface Filter {
  key: 'name' | 'transport' | 'tag' | 'status';
  test(s: { name: string; transport: string; tags: string[] }, status: string | undefined): boolean;
}

/** Statuses a probe run gives; a running agent also says stale (a silent SSE stream) and unknown (not probed yet). */
const PROBE_STATUSES = ['up', 'degraded', 'down'];
const AGENT_STATUSES = [...PROBE_STATUSES, 'stale', 'unknown'];

function parseFilter(expr: string, fromAgent = false): Filter {
  const m = /^\s*(name|server|transport|tag|status)\s*(!=|=)\s*(.+?)\s*$/.exec(expr);
  if (!m) throw new CliExit(EXIT_USAGE, `--filter: expected KEY=VALUE or KEY!=VALUE with KEY one of name, transport, tag, status (got "${expr}")`);
  const key = (m[1] === 'server' ? 'name' : m[1]) as Filter['key'];
  const negate = m[2] === '!=';
  const value = m[3]!;
  if (key === 'status' && !(fromAgent ? AGENT_STATUSES : PROBE_STATUSES).includes(value)) {
    const agentOnly = !fromAgent && AGENT_STATUSES.includes(value) ? `; ${value} is a running agent's, with --from` : '';
    throw new CliExit(EXIT_USAGE, `--filter: status is one of ${(fromAgent ? AGENT_STATUSES : PROBE_STATUSES).join(', ')} (got "${value}"${agentOnly})`);
  }
  if (key === 'transport' && !(TRANSPORTS as readonly string[]).includes(value)) throw new CliExit(EXIT_USAGE, `--filter: transport is one of ${TRANSPORTS.join(', ')} (got "${value}")`);
  const match = (s: { name: string; transport: string; tags: string[] }, status: string | undefined): boolean =>
    key === 'name' ? s.name === value : key === 'transport' ? s.transport === value : key === 'tag' ? s.tags.includes(value) : status === value;
  return { key, test: (s, status) => match(s, status) !== negate };
}

/**
 * Options of one mode given in the other would otherwise be dropped without a word: `health github`
 * (meaning --server github) probed every server, `-H` beside a configuration sent no header.
 */
function adHocUsage(command: string[], opts: HealthOptions): void {
  if (command.length > 0 && !opts.stdio) {
    throw new CliExit(EXIT_USAGE, `unexpected argument${command.length > 1 ? 's' : ''} ${command.map((a) => JSON.stringify(a)).join(' ')}: select servers with --server NAME, or probe a command with --stdio -- CMD ARGS…`);
  }
  if (opts.verbose && !opts.json) throw new CliExit(EXIT_USAGE, '--verbose adds each server\'s tool list to the JSON: use it with --json');
  if (opts.config !== undefined && (opts.url || opts.stdio)) throw new CliExit(EXIT_USAGE, `--config and ${opts.url ? '--url' : '--stdio'} are two ways to name what to probe: give one`);
  if (opts.header?.length && !opts.url) throw new CliExit(EXIT_USAGE, '--header is sent to a --url target: a configured server takes `headers:` in the configuration');
  if (opts.transport !== undefined && !opts.url) throw new CliExit(EXIT_USAGE, '--transport goes with --url: a configured server takes `transport:` in the configuration');
}

/** A one-server configuration from --url or --stdio, validated by the same schema as a file. */
/** The option of `health --url` / `--stdio` each key of the server it builds comes from. */
const AD_HOC_OPTION: Record<string, string> = { name: '--name', url: '--url', transport: '--transport', headers: '--header', command: '--stdio', args: '--stdio' };

function adHocConfig(command: string[], opts: HealthOptions): Config {
  if (opts.url && opts.stdio) throw new CliExit(EXIT_USAGE, 'use either --url or --stdio, not both');
  const headers: Record<string, string> = {};
  for (const h of opts.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new CliExit(EXIT_USAGE, `--header: expected "Name: value" (got "${h}")`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  let server: Record<string, unknown>;
  if (opts.stdio) {
    if (command.length === 0) throw new CliExit(EXIT_USAGE, '--stdio needs a command after --, e.g. mcpwatch health --stdio -- npx -y @modelcontextprotocol/server-everything');
    // `--stdio -- "npx -y pkg"`, quoted whole as a client's configuration writes it, is one
    // executable by that name and failed as spawn_failed: a file's `command:` is refused the same way.
    const words = splitCommand(command[0]!, process.env.PATH ?? '');
    if (words) {
      const line = [...words, ...command.slice(1)].map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
      throw new CliExit(EXIT_USAGE, `--stdio: ${JSON.stringify(command[0])} is run as one executable, without a shell, and there is none by that name: give the command and its arguments as separate words (mcpwatch health --stdio -- ${line})`);
    }
    server = { name: opts.name ?? stdioServerName(command), transport: 'stdio', command: command[0], args: command.slice(1) };
  } else {
    let name = 'server';
    try {
      // `localhost:3000/mcp` parses with an empty host (its scheme taken as `localhost:`): the name
      // stays `server` rather than fail as an empty --name the user never gave.
      name = new URL(opts.url!).host.replace(/[^A-Za-z0-9._:\/-]/g, '_') || name;
    } catch {
      // The schema reports the bad URL below.
    }
    server = { name: opts.name ?? name, transport: opts.transport ?? urlTransport(opts.url!), url: opts.url, headers };
  }
  const parsed = configSchema.safeParse({ servers: [server] });
  if (!parsed.success) {
    // Named as the option that gave the value: there is no file, and `url:` read as a key of one.
    const lines = parsed.error.issues.map((i) => `${AD_HOC_OPTION[String(i.path[2])] ?? (formatPath(i.path.slice(2)) || 'target')}: ${i.message}`);
    throw new CliExit(EXIT_USAGE, lines.join('\n'));
  }
  return parsed.data;
}
