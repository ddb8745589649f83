import type { Command } from 'commander';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { Document, isMap, isScalar, isSeq } from 'yaml';
import { discoverServers, placeholderEnv, type DiscoveredServer, type DiscoveryResult, type SourceRef } from '../discovery/clients.js';
import { ConfigError, parseConfig } from '../config/load.js';
import { CliExit, EXIT_PROBLEM, EXIT_USAGE } from './common.js';
import { makeDirectory } from '../store/directory.js';

interface InitOptions {
  output?: string;
  force?: boolean;
  yes?: boolean;
  dryRun?: boolean;
}

interface Writer {
  write(text: string): unknown;
}

/** Everything init touches outside its arguments, so tests can run it against a fake home. */
export interface InitDeps {
  home: string;
  cwd: string;
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  stdout: Writer;
  stderr: Writer;
  /** Whether a person can answer a prompt (stdin is a terminal). */
  interactive: boolean;
  confirm(question: string): Promise<boolean>;
}

interface InitOutcome {
  file: string;
  yaml: string;
  written: boolean;
  discovery: DiscoveryResult;
}

/** The monitoring defaults written into a new file: the schema's own defaults, spelled out to be edited. */
const MONITORING_DEFAULTS = { interval: '30s', timeout: '5s', start_timeout: '60s', consecutive_failures_before_down: 3 };

export function registerInit(program: Command, deps: Partial<InitDeps> = {}): void {
  program
    .command('init')
    .description('find the MCP servers your AI clients already use (Claude, Cursor, VS Code, Windsurf, Gemini CLI, Zed) and write an mcpwatch.yaml')
    .option('-o, --output <file>', 'file to write (default ./mcpwatch.yaml)')
    .option('-f, --force', 'overwrite the output file if it already exists')
    .option('-y, --yes', 'write without asking (required when stdin is not a terminal)')
    .option('--dry-run', 'print the configuration to stdout and write nothing')
    .action(async (opts: InitOptions) => {
      await runInit(opts, deps);
    });
}

/** The real process for whatever the caller did not inject; process.stdin is only touched when needed. */
function withDefaults(p: Partial<InitDeps>): InitDeps {
  return {
    home: p.home ?? homedir(),
    cwd: p.cwd ?? process.cwd(),
    platform: p.platform ?? process.platform,
    env: p.env ?? process.env,
    stdout: p.stdout ?? process.stdout,
    stderr: p.stderr ?? process.stderr,
    interactive: p.interactive ?? Boolean(process.stdin.isTTY),
    confirm:
      p.confirm ??
      (async (question) => {
        const rl = createInterface({ input: process.stdin, output: process.stderr });
        try {
          const answer = (await rl.question(question)).trim().toLowerCase();
          return answer === '' || answer === 'y' || answer === 'yes';
        } finally {
          rl.close();
        }
      }),
  };
}

/**
 * Discovers, prints what it found, renders and validates the YAML, then writes it unless told not to.
 * Every refusal is a CliExit; the outcome is returned for callers that want to inspect it.
 */
export async function runInit(opts: InitOptions, partial: Partial<InitDeps> = {}): Promise<InitOutcome> {
  const deps = withDefaults(partial);
  const file = resolve(deps.cwd, opts.output ?? 'mcpwatch.yaml');
  const shown = displayPath(file, deps);
  // --force cannot overwrite a directory: said before discovery, not as a failed write after it.
  if (!opts.dryRun && existsSync(file) && statSync(file).isDirectory()) {
    throw new CliExit(EXIT_USAGE, `${shown} is a directory; nothing was changed. Name the file to write: --output ${shown.replace(/\/+$/, '')}/mcpwatch.yaml`);
  }
  if (!opts.dryRun && !opts.force && existsSync(file)) {
    throw new CliExit(EXIT_USAGE, `${shown} already exists; nothing was changed. Re-run with --force to overwrite it, or --output FILE to write somewhere else.`);
  }
  // When the YAML itself goes to stdout, the report must not mix into it.
  const yamlToStdout = Boolean(opts.dryRun) || (!opts.yes && !deps.interactive);
  const info = yamlToStdout ? deps.stderr : deps.stdout;

  const discovery = discoverServers({ home: deps.home, cwd: deps.cwd, platform: deps.platform, env: deps.env });
  printReport(discovery, deps, info);
  if (discovery.servers.length === 0) {
    const looked = discovery.checked.map((c) => `  ${displayPath(c.file, deps)}${c.exists ? '' : ' (not found)'}`).join('\n');
    throw new CliExit(EXIT_PROBLEM, `no MCP servers found; nothing written. Looked in:\n${looked}`);
  }

  const yaml = renderConfigYaml(discovery.servers, deps);
  try {
    // References stay unexpanded: every ${env:NAME} is given a placeholder, so no real value is read.
    parseConfig(yaml, file, placeholderEnv(discovery.servers));
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(EXIT_PROBLEM, `internal error: the generated configuration does not validate (please report this):\n${err.message}`);
    throw err;
  }

  const outcome: InitOutcome = { file, yaml, written: false, discovery };
  if (opts.dryRun) {
    deps.stdout.write(yaml);
    printEnvVars(discovery, deps.env, info);
    return outcome;
  }
  if (!opts.yes) {
    if (!deps.interactive) {
      deps.stdout.write(yaml);
      throw new CliExit(
        EXIT_USAGE,
        `not writing ${shown}: stdin is not a terminal, so init cannot ask before writing. The configuration it would write is printed above; re-run with --yes to write it, or --dry-run to only print it.`,
      );
    }
    const n = discovery.servers.length;
    if (!(await deps.confirm(`Write ${n} server${n === 1 ? '' : 's'} to ${shown}? [Y/n] `))) throw new CliExit(EXIT_PROBLEM, 'nothing written.');
  }
  try {
    makeDirectory(dirname(file));
    // 'wx' closes the gap between the existence check above and this write.
    writeFileSync(file, yaml, { flag: opts.force ? 'w' : 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CliExit(EXIT_USAGE, `${shown} already exists; nothing was changed. Re-run with --force to overwrite it.`);
    throw new CliExit(EXIT_PROBLEM, `cannot write ${shown}: ${(err as Error).message}`);
  }
  outcome.written = true;
  const n = discovery.servers.length;
  info.write(`\nWrote ${shown} with ${n} server${n === 1 ? '' : 's'}.\n`);
  printEnvVars(discovery, deps.env, info);
  const flag = opts.output ? ` -c ${shown}` : '';
  info.write(`Next: mcpwatch validate${flag}, then mcpwatch health${flag}\n`);
  return outcome;
}

// ---------------------------------------------------------------------------------------------
// Rendering.

function serverEntry(s: DiscoveredServer): Record<string, unknown> {
  const e: Record<string, unknown> = { name: s.name, transport: s.transport };
  if (s.transport === 'stdio') {
    e.command = s.command;
    if (s.args.length) e.args = s.args;
    if (Object.keys(s.env).length) e.env = s.env;
    if (s.cwd) e.cwd = s.cwd;
  } else {
    e.url = s.url;
    if (Object.keys(s.headers).length) e.headers = s.headers;
    if (s.auth) e.auth = s.auth;
  }
  return e;
}

function sourceText(ref: SourceRef, deps: Pick<InitDeps, 'home' | 'cwd'>): string {
  const plain = ref.where === 'mcpServers' || ref.where === 'servers' || ref.where === 'context_servers';
  return `${displayPath(ref.file, deps)}${plain ? '' : ` ${ref.where}`}`;
}

/** The mcpwatch.yaml text for these servers: a header, the monitoring defaults, and one entry per server. */
export function renderConfigYaml(servers: DiscoveredServer[], deps: Pick<InitDeps, 'home' | 'cwd'>): string {
  const doc = new Document({ monitoring: MONITORING_DEFAULTS, servers: servers.map(serverEntry) });
  doc.commentBefore = [
    ' mcpwatch configuration, written by `mcpwatch init` from the MCP servers your AI clients use.',
    ' No secret was copied: every env value and credential is an ${env:NAME} reference, to be set',
    ' in the environment mcpwatch runs in. Check with `mcpwatch validate`, try with `mcpwatch health`.',
  ].join('\n');
  const monitoring = doc.get('monitoring', true);
  if (isMap(monitoring)) {
    // The first start has its own deadline: raising `timeout` for a slow npx download would only
    // hide hangs of a server already running.
    const start = monitoring.items.find((p) => isScalar(p.key) && p.key.value === 'start_timeout');
    if (start && isScalar(start.key)) start.key.commentBefore = ' stdio: from spawn through the first answer, for servers that npx/uvx/docker download on their first start';
  }
  const seq = doc.get('servers', true);
  if (isSeq(seq)) {
    servers.forEach((s, i) => {
      const node = seq.items[i];
      const also = s.duplicates.length ? `; also in ${s.duplicates.map((d) => sourceText(d, deps)).join(', ')}` : '';
      if (node && typeof node === 'object') (node as { commentBefore?: string }).commentBefore = ` from ${sourceText(s.source, deps)}${also}`;
    });
  }
  return doc.toString({ lineWidth: 0 });
}

// ---------------------------------------------------------------------------------------------
// Printing.

/** Files under the project as `./…`, under home as `~/…`: shorter, and no user name in pasted output. */
function displayPath(file: string, deps: Pick<InitDeps, 'home' | 'cwd'>): string {
  for (const [root, shown] of [
    [deps.cwd, '.'],
    [deps.home, '~'],
  ] as const) {
    const r = root.replace(/[\\/]+$/, '');
    if (file === r) return shown;
    if (r && file.startsWith(r + sep)) return `${shown}${sep}${file.slice(r.length + 1)}`;
  }
  return file;
}

function target(s: DiscoveredServer): string {
  const text = s.transport === 'stdio' ? [s.command ?? '', ...s.args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ') : s.url ?? '';
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n') + '\n';
}

function printReport(d: DiscoveryResult, deps: InitDeps, info: Writer): void {
  const n = d.servers.length;
  if (n > 0) {
    info.write(`Found ${n} MCP server${n === 1 ? '' : 's'}:\n\n`);
    const rows = [['NAME', 'TRANSPORT', 'TARGET', 'SOURCE']];
    for (const s of d.servers) rows.push([s.name, s.transport, target(s), sourceText(s.source, deps)]);
    info.write(table(rows));
    const dups = d.servers.filter((s) => s.duplicates.length);
    if (dups.length) info.write('\n');
    for (const s of dups) info.write(`${s.name} is also configured in ${s.duplicates.map((x) => `${sourceText(x, deps)} (as "${x.key}")`).join(', ')}; kept once.\n`);
  }
  if (d.notes.length) {
    info.write('\n');
    for (const note of d.notes) {
      const where = note.file ? `${displayPath(note.file, deps)}${note.server ? ` "${note.server}"` : ''}: ` : '';
      info.write(`note: ${where}${note.message}\n`);
    }
  }
  if (d.problems.length) {
    deps.stderr.write(`\n${d.problems.length} configuration problem${d.problems.length === 1 ? '' : 's'} (skipped; everything else was used):\n`);
    for (const p of d.problems) deps.stderr.write(`  ${displayPath(p.file, deps)}${p.server ? ` "${p.server}"` : ''}: ${p.reason}\n`);
  }
}

function printEnvVars(d: DiscoveryResult, env: NodeJS.ProcessEnv, info: Writer): void {
  if (d.envVars.length === 0) return;
  info.write('\nSet these environment variables where mcpwatch runs (their values were not copied):\n');
  // Only whether a variable is set is shown, never its value.
  const rows = d.envVars.map((v) => [`  ${v.name}`, `${v.usedBy.join(', ')}${env[v.name] ? ' (set in this shell)' : ''}`]);
  info.write(table(rows));
}
