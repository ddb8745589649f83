import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { StateStore } from '../store/state.js';
import { fmtMs } from '../pipeline/status.js';
import { DIMENSIONS, GRADE_BANDS, gradeRank, scoreFleet, type DimensionScore, type Grade, type ScoreResult } from '../pipeline/scorecard.js';
import { CliExit, collect, colorsFor, EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, loadConfigOrExit } from './common.js';

interface ScorecardOptions {
  config?: string;
  json?: boolean;
  server?: string[];
  failBelow?: string;
}

export function registerScorecard(program: Command): void {
  program
    .command('scorecard')
    .description('grade each configured MCP server A–F from the local state (availability, latency, reliability) and its configuration (security)')
    .option('-c, --config <file>', 'configuration file (default ./mcpwatch.yaml, then $XDG_CONFIG_HOME/mcpwatch/mcpwatch.yaml)')
    .option('--json', 'print JSON instead of a table')
    .option('--server <name>', 'only this server (repeatable)', collect)
    .option('--fail-below <grade>', 'exit 1 when any shown server grades below GRADE (A–F)')
    .action(async (opts: ScorecardOptions) => {
      process.exitCode = await runScorecard(opts);
    });
}

const GRADES = GRADE_BANDS.map((b) => b.grade);

function parseGrade(text: string): Grade {
  const g = text.trim().toUpperCase();
  if (!(GRADES as string[]).includes(g)) throw new CliExit(EXIT_USAGE, `--fail-below: expected one of ${GRADES.join(', ')} (got "${text}")`);
  return g as Grade;
}

async function runScorecard(opts: ScorecardOptions): Promise<number> {
  // Checked before anything is read, so a typo fails fast and the same way with or without state.
  const failBelow = opts.failBelow === undefined ? undefined : parseGrade(opts.failBelow);
  const { config, text, file } = loadConfigOrExit(opts.config, { isolateServerEnv: true, probeOnly: true, reads: ['monitoring', 'servers', 'state'] });
  // A report of nothing, not a failure (as a server without data is not below any grade); said on
  // stderr, so that a gate and a --json reader do not pass over it without a word.
  if (config.servers.length === 0) {
    process.stderr.write(`${basename(file)} configures no servers: nothing to grade\n`);
    if (opts.json) process.stdout.write(JSON.stringify({ servers: [] }, null, 2) + '\n');
    return EXIT_OK;
  }
  const names = config.servers.map((s) => s.name);
  if (opts.server?.length) {
    const unknown = opts.server.filter((n) => !names.includes(n));
    if (unknown.length) throw new CliExit(EXIT_USAGE, `--server: no server named ${unknown.map((n) => JSON.stringify(n)).join(', ')} (known: ${names.join(', ') || 'none'})`);
  }

  const path = resolve(config.state.path);
  let store: StateStore | null = null;
  if (!existsSync(path)) {
    process.stderr.write(
      `no state file at ${path} (state.path): availability, latency and reliability are "no data", and there is no overall grade until \`mcpwatch run\` has collected probes; security (configuration) is graded on its own\n`,
    );
  } else {
    // Loaded on use: SQLite's native module is not something every command should pay for.
    const { StateError, StateStore } = await import('../store/state.js');
    try {
      store = new StateStore(path, { readonly: true });
    } catch (err) {
      // A file that exists but cannot be read is not "no data": saying so would hide a broken agent.
      throw new CliExit(EXIT_PROBLEM, err instanceof StateError ? err.message : `state file ${path}: ${(err as Error).message}`);
    }
  }
  let results: ScoreResult[];
  try {
    // The whole fleet is scored and then filtered: raw YAML entries are matched by position as a
    // fallback, which a pre-filtered server list would break.
    results = scoreFleet(config, text, store, Date.now());
  } catch (err) {
    throw new CliExit(EXIT_PROBLEM, `state file ${path}: ${(err as Error).message}`);
  } finally {
    store?.close();
  }
  if (opts.server?.length) results = results.filter((r) => opts.server!.includes(r.server));

  if (opts.json) process.stdout.write(JSON.stringify({ servers: results.map(toJson) }, null, 2) + '\n');
  else await printTable(results);

  if (failBelow !== undefined) {
    // A server without data is not below any grade; it is named so a gate does not pass unnoticed.
    const ungraded = results.filter((r) => r.grade === null);
    if (ungraded.length) process.stderr.write(`no data, not graded: ${ungraded.map((r) => r.server).join(', ')}\n`);
    const below = results.filter((r) => r.grade !== null && gradeRank(r.grade) > gradeRank(failBelow));
    if (below.length) {
      process.stderr.write(`below ${failBelow}: ${below.map((r) => `${r.server} (${r.grade})`).join(', ')}\n`);
      return EXIT_PROBLEM;
    }
  }
  return EXIT_OK;
}

function toJson(r: ScoreResult): Record<string, unknown> {
  const dims: Record<string, DimensionScore> = {};
  for (const d of DIMENSIONS) dims[d] = r.dimensions[d];
  const m = r.measures;
  return {
    name: r.server,
    grade: r.grade,
    points: r.points,
    dimensions: dims,
    rules: r.rules,
    top_finding: r.topFinding,
    measures: {
      availability_7d: m.availability,
      p95_ms: m.p95Ms,
      latency_warning_ms: m.warningMs,
      latency_critical_ms: m.criticalMs,
      error_rate_7d: m.errorRate,
      breaking_changes_7d: m.breakingChanges,
      incidents_7d: m.incidents,
      mtbf_ms: m.mtbfMs,
    },
  };
}

async function printTable(results: ScoreResult[]): Promise<void> {
  // Loaded on use, like health's: every command module is imported by main.ts for every command.
  const { default: Table } = await import('cli-table3');
  const c = colorsFor(process.stdout);
  const paint = (g: Grade | null, text: string): string => (g === null ? c.dim(text) : g === 'A' || g === 'B' ? c.green(text) : g === 'C' ? c.yellow(text) : c.red(text));
  const dim = (d: DimensionScore, value: string): string => (d.points === null ? c.dim('no data') : paint(d.grade, `${value} ${d.grade}`));
  const table = new Table({
    head: ['Server', 'Grade', 'Availability 7d', 'p95', 'Reliability', 'Security', 'Top finding'],
    style: { head: c.isColorSupported ? ['cyan'] : [], border: c.isColorSupported ? ['grey'] : [] },
    colWidths: [null, null, null, null, null, null, Math.max(30, Math.min(70, (process.stdout.columns ?? 120) - 75))],
    wordWrap: true,
  });
  for (const r of results) {
    const d = r.dimensions;
    table.push([
      r.server,
      r.grade === null ? c.dim('no data') : paint(r.grade, `${r.grade} (${r.points})`),
      dim(d.availability, r.measures.availability === null ? '' : `${(r.measures.availability * 100).toFixed(2)}%`),
      dim(d.latency, r.measures.p95Ms === null ? '' : fmtMs(r.measures.p95Ms)),
      dim(d.reliability, String(d.reliability.points)),
      dim(d.security, String(d.security.points)),
      r.topFinding ?? '—',
    ]);
  }
  const counts = [...GRADES, null].map((g) => [g ?? 'no data', results.filter((r) => r.grade === g).length] as const).filter(([, n]) => n > 0);
  process.stdout.write([table.toString(), '', counts.map(([g, n]) => `${n} ${g}`).join(', ')].join('\n') + '\n');
}
