import { readFileSync, existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { LineCounter, parseDocument, isAlias, isMap, isScalar, isSeq, visit, type Document, type YAMLError } from 'yaml';
import type { ZodIssue } from 'zod/v3';
import { MIN_SECRET_CHARS } from '../pipeline/redact.js';
import { fileProblems, valueAt } from './files.js';
import { isSecretFlag, isSecretName, urlCredentials } from './secrets.js';
import { closestName } from './similar.js';
import { sanitiseName } from '../discovery/clients.js';
import { alertLabelWarnings, cadenceWarnings, expectationWarnings, exporterWarnings, tagWarnings, configIssues, configSchema, REMOVED_KEYS, schemaKeys, shardingShape, TRANSPORTS, type Config, type ConfigProblem, type TransportName } from './schema.js';

/** One problem in a configuration file, located by its path in the document and, when known, its line. */
export interface ConfigIssue {
  path: string;
  line?: number;
  message: string;
}

/** A configuration that cannot be used. `issues` holds every problem found, not just the first. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    super(issues.map((i) => formatIssue(file, i)).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(file: string, issue: ConfigIssue): string {
  const where = issue.line !== undefined ? `${basename(file)}:${issue.line}` : basename(file);
  return issue.path ? `${where}: ${issue.path}: ${issue.message}` : `${where}: ${issue.message}`;
}

/** Where a configuration is looked for without `-c`: `./mcpwatch.yaml`, then `$XDG_CONFIG_HOME/mcpwatch/mcpwatch.yaml` (XDG default `~/.config`). */
export function configCandidates(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  const xdg = env.XDG_CONFIG_HOME || (env.HOME ? join(env.HOME, '.config') : undefined);
  return [join(cwd, 'mcpwatch.yaml'), ...(xdg ? [join(xdg, 'mcpwatch', 'mcpwatch.yaml')] : [])];
}

/** `-c FILE`, else the first of configCandidates() that exists, else `./mcpwatch.yaml`. */
export function findConfigFile(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (explicit) return explicit;
  const candidates = configCandidates(env, cwd);
  return candidates.find((f) => existsSync(f)) ?? candidates[0]!;
}

export interface LoadedConfig {
  file: string;
  config: Config;
  /** The raw text, kept so a reload can tell whether anything changed. */
  text: string;
  /** What the file says that is accepted but ignored (removed settings), for the user to fix; loadConfigFile always sets it. */
  warnings?: ConfigIssue[];
  /** Whether the file has a `servers:` key: only then may a reload remove every server. */
  serversStated?: boolean;
}

/**
 * The largest configuration file read. The YAML parser is slow (see docs/benchmarks.md): a bound keeps
 * one parse short, and a file this large is a mistake or an attack, not a configuration.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Alias expansions allowed while building the document (the `yaml` package's own default, stated):
 * a "billion laughs" document of nested aliases is refused instead of expanded.
 */
export const MAX_ALIAS_COUNT = 100;


export interface ParseOptions {
  /**
   * An unset `${env:…}` inside one server makes that server alone unusable (`config_error` on it,
   * the variable named) instead of failing the whole file. For health, run and scorecard; validate
   * keeps the default and fails.
   */
  isolateServerEnv?: boolean;
  /**
   * Leave `sharding` out (checked for its shape only, its variables not expanded): health probes
   * every server unless --shard asks, so the chart's `ordinal: ${env:POD_NAME}` must not stop it
   * where POD_NAME is unset.
   */
  ignoreSharding?: boolean;
  /**
   * Keep only `sharding.shards` (its other variables not expanded): `health --shard N` names the
   * shard itself, so the chart's `ordinal: ${env:POD_NAME}` must not stop it where POD_NAME is unset.
   */
  shardCountOnly?: boolean;
  /** The configuration will only be probed (health, scorecard): advice about received traffic does not apply. */
  probeOnly?: boolean;
  /**
   * The top-level sections the command reads (default: every one). An unset `${env:…}` in any other
   * section is a warning and leaves that section at its defaults: `health` sends no alert and serves
   * no /metrics, so a production file's `${env:SLACK_WEBHOOK_URL}` must not stop it on a laptop.
   * The section is still checked when its variables are set. Default with `probeOnly`: monitoring,
   * servers and sharding.
   */
  reads?: readonly string[];
  /**
   * Look at the files the configuration names (TLS certificates and keys, auth key and token files):
   * one that cannot be read, or is not PEM, is an error at its key (a warning for a token_file, which
   * may yet be written). Inside a server with `isolateServerEnv` it is a warning too: that server's
   * probes read the file again at each connection. loadConfigFile does this; text parsed on
   * its own (init's output, tests) names files of another machine.
   */
  checkFiles?: boolean;
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): LoadedConfig {
  let text: string;
  try {
    // Checked before reading: a huge file is refused without holding it in memory.
    if (statSync(file).size > MAX_CONFIG_BYTES) throw new ConfigError(file, [tooLarge()]);
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? `${file} is a directory: name the file in it (-c ${join(file, 'mcpwatch.yaml')})` : String((err as Error).message);
    throw new ConfigError(file, [{ path: '', message: `cannot read configuration: ${why}` }]);
  }
  return { file, text, ...readConfig(text, file, env, { checkFiles: true, ...opts }) };
}

function tooLarge(): ConfigIssue {
  return { path: '', message: `the file is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB, the most mcpwatch reads` };
}

/**
 * Why `next` must not replace `current` on a reload although it is valid on its own. A file caught
 * half-written (a `cp` in progress) is often valid YAML that stops before `servers:`; taking it as
 * "no servers" would stop every probe and end every stdio server. Removing them all must be said.
 */
export function reloadIssues(current: LoadedConfig, next: LoadedConfig): ConfigIssue[] {
  if (next.serversStated || current.config.servers.length === 0) return [];
  const n = current.config.servers.length;
  return [{ path: 'servers', message: `missing: this reload would remove all ${n} server${n === 1 ? '' : 's'}; write \`servers: []\` to mean that` }];
}

/** Parses and validates configuration text. Throws ConfigError listing every problem with its line. */
export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): Config {
  return readConfig(text, file, env, opts).config;
}

/**
 * The first YAML syntax error, which is the one to fix: the parser's later errors are mostly the
 * same mistake seen from further on. An unquoted `${env:…}` inside `{ }` or `[ ]` is the usual
 * cause in a file like this one (braces end a flow collection), so that gets a hint.
 */
function yamlIssue(text: string, errors: readonly YAMLError[], lines: LineCounter): ConfigIssue {
  const first = errors[0]!;
  const line = lines.linePos(first.pos[0]).line;
  const source = text.split('\n')[line - 1] ?? '';
  const hint = /[{[][^'"]*\$\{/.test(source) && /\$\{[^}]*\}/.test(source) ? ' (a ${…} reference inside { } or [ ] must be quoted: "${env:NAME}")' : '';
  const more = errors.length > 1 ? ` (then ${errors.length - 1} more, likely caused by this one)` : '';
  // The parser's own words for this one name its API (`YAML.parseAllDocuments()`), not the file's mistake.
  if (first.code === 'MULTIPLE_DOCS') return { path: '', line, message: 'invalid YAML: a second document starts here (a `---` line): the configuration is one YAML document' };
  // "Map keys must be unique" named no key: the one at the error's position is the repeated one.
  const key = first.code === 'DUPLICATE_KEY' ? /^\s*(?:"([^"\n]*)"|'([^'\n]*)'|([^:#\n]*?))\s*:/.exec(text.slice(first.pos[0])) : null;
  if (key) return { path: '', line, message: `invalid YAML: the key ${JSON.stringify(key[1] ?? key[2] ?? key[3])} is given twice in one mapping; keep one${more}` };
  return { path: '', line, message: `invalid YAML: ${firstLine(first.message)}${hint}${more}` };
}

/**
 * The first merge key (`<<:`) whose value is not a mapping or an alias of one (`<<: *base` with no
 * `&base` anchor, `<<: 5`), located: the yaml package only says "Merge sources must be maps".
 */
function badMerge(doc: Document, lines: LineCounter): ConfigIssue | undefined {
  let found: ConfigIssue | undefined;
  visit(doc, {
    Pair(_key, pair) {
      // With `merge` on, the parser gives a merge key a symbol for its value.
      if (!isScalar(pair.key) || typeof pair.key.value !== 'symbol') return undefined;
      const sources: unknown[] = isSeq(pair.value) ? pair.value.items : [pair.value];
      for (const source of sources) {
        const target = isAlias(source) ? source.resolve(doc) : source;
        if (isMap(target)) continue;
        const at = (source as { range?: [number, number, number] } | null)?.range?.[0] ?? pair.key.range?.[0] ?? 0;
        const what = isAlias(source) ? (target ? `*${source.source} is not a mapping` : `*${source.source} names no anchor (no &${source.source} above it)`) : 'its value is not a mapping';
        found = { path: '', line: lines.linePos(at).line, message: `invalid YAML: a merge key (<<:) takes a mapping or an alias of one (<<: *name); ${what}` };
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}

/** parseConfig, also returning the warnings about removed settings and whether `servers:` is there. */
export function readConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): { config: Config; warnings: ConfigIssue[]; serversStated: boolean } {
  if (Buffer.byteLength(text, 'utf8') > MAX_CONFIG_BYTES) throw new ConfigError(file, [tooLarge()]);
  const lineCounter = new LineCounter();
  // `merge`: `<<: *base` is how a YAML file shares settings between entries (Prometheus, Compose and
  // Kubernetes files read it); YAML 1.2 made it optional, and without it a server built on an anchor
  // failed as "servers[1].<<: unknown key".
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) throw new ConfigError(file, [yamlIssue(text, doc.errors, lineCounter)]);
  // An empty file is what a truncated write or a failed template leaves behind, not a request for
  // an agent with every default: said so, rather than monitoring nothing.
  if (doc.contents === null) {
    throw new ConfigError(file, [{ path: '', line: 1, message: 'the file is empty (an agent without servers says `servers: []`)' }]);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // The yaml package throws here for an alias bomb (a ReferenceError) and for a `<<:` that does not
    // name a mapping: properties of the file, not bugs.
    const bad = badMerge(doc, lineCounter);
    if (bad) throw new ConfigError(file, [bad]);
    throw new ConfigError(file, [{ path: '', message: `invalid YAML: ${firstLine((err as Error).message)} (more than ${MAX_ALIAS_COUNT} alias expansions)` }]);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '', line: 1, message: 'the top level must be a mapping (monitoring:, servers:)' }]);
  }
  const warnings: ConfigIssue[] = [];
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const removed = REMOVED_KEYS[key];
    if (removed !== undefined) warnings.push({ path: key, line: keyLine(doc, lineCounter, [], key), message: removed });
    else kept[key] = value;
  }
  const issues: ConfigIssue[] = [];
  if ((opts.ignoreSharding || opts.shardCountOnly) && Object.hasOwn(kept, 'sharding')) {
    const shape = shardingShape.safeParse(kept.sharding);
    if (!shape.success) for (const zi of shape.error.issues) issues.push(...fromZod({ ...zi, path: ['sharding', ...zi.path] }, doc, lineCounter));
    const { shards } = (shape.success ? shape.data : undefined) ?? {};
    // Shard 0 stands in for the one the caller names: any shard is valid once shards is.
    if (opts.shardCountOnly && shape.success) kept.sharding = { shards, shard: 0 };
    else delete kept.sharding;
  }
  const whole = new Map<string, string>();
  for (const w of shellVariables(kept, [])) warnings.push({ path: formatPath(w.path), line: lineOf(doc, lineCounter, w.path), message: w.message });
  const refs: Reference[] = [];
  const expanded = expandEnv(kept, [], env, issues, (path) => lineOf(doc, lineCounter, path), whole, refs);
  const isolated = opts.isolateServerEnv ? isolateServers(expanded as Record<string, unknown>, issues) : new Map<number, Unusable>();
  const reads = opts.reads ?? (opts.probeOnly ? PROBE_READS : undefined);
  if (reads) warnings.push(...setAsideUnread(expanded as Record<string, unknown>, issues, reads));
  if (opts.checkFiles) {
    for (const p of fileProblems(expanded, process.cwd(), kept)) {
      const section = String(p.path[0]);
      // A file under a key the schema does not have (a top-level `tls:`) is reported as that unknown key alone.
      if ((reads && !reads.includes(section)) || !schemaKeysAt(p.path.slice(0, -1))?.includes(String(p.path.at(-1)))) continue;
      const issue = { path: formatPath(p.path), line: lineOf(doc, lineCounter, p.path), message: p.message };
      // A server's file is read again at each connection it opens, so one that appears later (a
      // sidecar writing certificates, a directory made after start) heals the server by itself:
      // said at start, not made a config_error that only a reload would clear.
      if (p.warning) warnings.push(issue);
      else if (opts.isolateServerEnv && section === 'servers' && typeof p.path[1] === 'number') warnings.push({ ...issue, message: `${issue.message}: ${p.consequence ?? "this server's probes fail until it is there"}` });
      else issues.push(issue);
    }
  }
  let result = configSchema.safeParse(expanded);
  if (!result.success && whole.size > 0 && retypeReferences(expanded, result.error.issues, whole)) result = configSchema.safeParse(expanded);
  if (!result.success) {
    // A value whose variable is unset has been reported as such: its "must be …" would say it twice.
    const unset = new Set(issues.filter((i) => UNSET.test(i.message)).map((i) => i.path));
    // A value whose type or bound is wrong (an empty `command: ""`) is not also refused by a rule
    // across keys ("is required for a stdio server"): that second message sends the user elsewhere.
    // An unknown key is reported at its own path, not its mapping's: the mapping's rules across keys
    // (a check naming both tool and resource) still stand and are said in the same run.
    const refused = new Set(result.error.issues.filter((zi) => zi.code !== 'custom' && zi.code !== 'unrecognized_keys').map((zi) => formatPath(zi.path)));
    const zodIssues = result.error.issues.filter((zi) => zi.code !== 'custom' || !refused.has(formatPath(zi.path)));
    for (const zi of zodIssues) issues.push(...fromZod(zi, doc, lineCounter, whole, expanded).filter((i) => !unset.has(i.path)));
    for (const ci of configIssues(expanded)) if (!unset.has(formatPath(ci.path)) && !refused.has(formatPath(ci.path))) issues.push({ path: formatPath(ci.path), line: lineOf(doc, lineCounter, ci.path), message: ci.message });
  }
  if (issues.length > 0) {
    const unique = [...new Map(issues.map((i) => [`${i.path}\0${i.message}`, i])).values()];
    unique.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    throw new ConfigError(file, unique);
  }
  for (const [i, { message, problems }] of isolated) Object.assign(result.data!.servers[i]!, { config_error: message, config_problems: problems });
  for (const [i, values] of referencedSecrets(refs, result.data!.servers)) (result.data!.servers[i] as { referenced_secrets?: string[] }).referenced_secrets = values;
  const idle = opts.probeOnly || opts.reads ? undefined : idleAgent(result.data!);
  if (idle) warnings.push({ path: 'servers', line: lineOf(doc, lineCounter, ['servers']), message: idle });
  const advice = opts.probeOnly ? undefined : shardingAdvice(result.data!);
  if (advice) warnings.push({ path: 'sharding', line: lineOf(doc, lineCounter, ['sharding']), message: advice });
  // A one-shot probe (health, scorecard) has no interval.
  if (!opts.probeOnly) for (const w of cadenceWarnings(result.data!)) warnings.push({ path: formatPath(w.path), line: lineOf(doc, lineCounter, w.path), message: w.message });
  for (const w of [...tagWarnings(result.data!), ...expectationWarnings(result.data!), ...(opts.probeOnly ? [] : [...exporterWarnings(result.data!), ...alertLabelWarnings(result.data!)])]) warnings.push({ path: formatPath(w.path), line: lineOf(doc, lineCounter, w.path), message: w.message });
  return { config: result.data!, warnings, serversStated: Object.hasOwn(raw, 'servers') };
}

/** An unset variable's issue; one set to the empty string counts as unset (a `:-default` applies), but is said so. */
const UNSET = /^environment variable (\w+) is (?:not set|set but empty)/;

/** What a one-shot probe (`probeOnly`: health) reads of the file, when `reads` does not say. */
const PROBE_READS = ['monitoring', 'servers', 'sharding'];

/**
 * Takes the unset-variable issues of the sections outside `reads` out of `issues`, and those
 * sections out of `expanded` (their defaults apply); returns one warning per variable.
 */
function setAsideUnread(expanded: Record<string, unknown>, issues: ConfigIssue[], reads: readonly string[]): ConfigIssue[] {
  const warnings: ConfigIssue[] = [];
  for (let k = 0; k < issues.length; k++) {
    const issue = issues[k]!;
    const section = /^[A-Za-z_]+/.exec(issue.path)?.[0];
    if (!section || reads.includes(section) || !UNSET.test(issue.message)) continue;
    issues.splice(k--, 1);
    delete expanded[section];
    warnings.push({ ...issue, message: `${UNSET.exec(issue.message)![0]}: this command does not use ${section}, so it is left out` });
  }
  return warnings;
}

/**
 * A sharded agent attributes no span by its tool name (pipeline/traffic.ts: it cannot know the other
 * shards' tool lists), so spans that name only the tool stay `unknown` unless hints say whose they are.
 * Said at start-up and by validate rather than found on a dashboard.
 */
function shardingAdvice(config: Config): string | undefined {
  const otlp = config.receivers.otlp;
  if (!config.sharding || !otlp || (!otlp.grpc && !otlp.http) || config.servers.length === 0) return undefined;
  if (config.servers.some((s) => (s.traffic?.service_names.length ?? 0) + (s.traffic?.hosts.length ?? 0) > 0)) return undefined;
  return (
    'no server has traffic hints: a sharded agent does not attribute spans by tool name, so spans that name only the tool ' +
    '(OpenLLMetry: traceloop.entity.name, no server.address) stay `unknown`. Add `traffic: { service_names: [<calling agent\'s service.name>] }` ' +
    'or `traffic: { hosts: [<host:port>] }` to the servers they call (docs/traffic.md, Hints)'
  );
}

/**
 * An agent without servers is a passive one, fed by the OTLP receiver: with that off too, it would
 * start, serve its health endpoint and watch nothing.
 */
function idleAgent(config: Config): string | undefined {
  const otlp = config.receivers.otlp;
  if (config.servers.length > 0 || (otlp && (otlp.grpc || otlp.http))) return undefined;
  return 'no servers, and the OTLP receiver is off (receivers.otlp): `mcpwatch run` would watch nothing; add servers, or receive traffic';
}

/** Why a server cannot be used: the text health and the log show, and each problem for the log's fields. */
interface Unusable {
  message: string;
  problems: ConfigProblem[];
}

/**
 * Takes the unset-variable issues that sit inside one server out of `issues`, and puts a stand-in in
 * that server's place (its name, transport and tags where they could be read) so the others
 * validate and run. Returns each isolated server's message.
 */
function isolateServers(expanded: Record<string, unknown>, issues: ConfigIssue[]): Map<number, Unusable> {
  const byServer = new Map<number, ConfigIssue[]>();
  for (let k = issues.length - 1; k >= 0; k--) {
    const m = /^servers\[(\d+)\]/.exec(issues[k]!.path);
    if (!m || !UNSET.test(issues[k]!.message)) continue;
    const i = Number(m[1]);
    byServer.set(i, [issues[k]!, ...(byServer.get(i) ?? [])]);
    issues.splice(k, 1);
  }
  const servers = expanded.servers as unknown[];
  const out = new Map<number, Unusable>();
  if (byServer.size === 0) return out;
  // A stand-in name must not be a configured one: the file would fail as "duplicate server name".
  const names = new Set(servers.map((s) => (s as { name?: unknown } | null)?.name));
  const standIn = (i: number): string => {
    let name = `servers-${i}`;
    while (names.has(name)) name = `${name}-unset`;
    names.add(name);
    return name;
  };
  for (const [i, found] of byServer) {
    const s = (servers[i] ?? {}) as Record<string, unknown>;
    const nameUnset = found.some((f) => f.path === `servers[${i}].name`);
    const transport = (TRANSPORTS as readonly unknown[]).includes(s.transport) ? (s.transport as TransportName) : 'stdio';
    servers[i] = {
      name: !nameUnset && typeof s.name === 'string' && s.name ? s.name : standIn(i),
      transport,
      // Never run nor connected to: a server with config_error is reported, not probed.
      ...(transport === 'stdio' ? { command: 'unset-environment-variable' } : { url: 'http://unset-environment-variable.invalid/' }),
      ...(Array.isArray(s.tags) && s.tags.every((t) => typeof t === 'string') ? { tags: s.tags } : {}),
    };
    const vars = [...new Set(found.map((f) => `${UNSET.exec(f.message)![1]} (${f.path}${f.line ? `, line ${f.line}` : ''})`))];
    const problems = found.map((f) => ({ key: f.path, ...(f.line ? { line: f.line } : {}), variable: UNSET.exec(f.message)![1]! }));
    const state = found.some((f) => f.message.includes('set but empty')) ? 'not set or empty' : 'not set';
    out.set(i, { message: `environment variable${vars.length > 1 ? 's' : ''} ${vars.join(', ')} ${state}: this server is not probed until ${vars.length > 1 ? 'they are' : 'it is'} (mcpwatch validate lists every problem)`, problems });
  }
  return out;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

type PathSeg = string | number;

export function formatPath(path: readonly PathSeg[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out ? `.${seg}` : seg;
  }
  return out;
}

/** The line `path` is written on in `text`, or undefined when the file does not set it (its default applies). */
export function settingLine(text: string, path: readonly PathSeg[]): number | undefined {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true });
  const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
  return node && typeof node === 'object' && node.range ? lineCounter.linePos(node.range[0]).line : undefined;
}

function lineOf(doc: Document, lc: LineCounter, path: readonly PathSeg[]): number | undefined {
  // Walk up until a node exists: a missing key is reported on the line of its parent mapping.
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

/**
 * The issues of one zod issue, located. A value that one `${env:…}` reference put there is judged as
 * the variable held it, and the message says so: "must be at least 1 (got -1 from ${env:C})" rather
 * than a bound with no value, which sent the user to a file that does not hold it.
 */
function fromZod(zi: ZodIssue, doc: Document, lc: LineCounter, whole?: ReadonlyMap<string, string>, expanded?: unknown): ConfigIssue[] {
  const reference = whole?.get(formatPath(zi.path));
  const found = locatedIssues(zi, doc, lc, reference === undefined ? doc.getIn(zi.path) : valueAt(expanded, zi.path), reference);
  // A type error says what the variable holds itself (locatedIssues).
  if (reference === undefined || zi.code === 'invalid_type') return found;
  return found.map((i) => (i.path === formatPath(zi.path) ? { ...i, message: heldBy(i.message, reference, valueAt(expanded, zi.path)) } : i));
}

/** The message of a value a reference supplied, naming the reference beside the value it quotes, or with the value when it quotes none. */
function heldBy(message: string, reference: string, value: unknown): string {
  const quoted = /\(got ((?:scheme )?"(?:[^"\\]|\\.)*"|[^\s;)]+)/.exec(message) ?? /received '[^']*'/.exec(message);
  if (quoted) return `${message.slice(0, quoted.index + quoted[0].length)} from ${reference}${message.slice(quoted.index + quoted[0].length)}`;
  // Numbers and booleans only: a string may be a credential (a header, a token), never quoted.
  return `${message} (${typeof value === 'number' || typeof value === 'boolean' ? `got ${value} ` : ''}from ${reference})`;
}

function locatedIssues(zi: ZodIssue, doc: Document, lc: LineCounter, judged: unknown, reference: string | undefined): ConfigIssue[] {
  if (zi.code === 'unrecognized_keys') {
    return zi.keys.map((key) => {
      const path = [...zi.path, key];
      return { path: formatPath(path), line: keyLine(doc, lc, zi.path, key), message: 'unknown key' + (otherToolsKey(key, zi.path) || suggest(key, keysAt(zi.path))) };
    });
  }
  if (zi.code === 'invalid_enum_value') {
    // Values with digits name versions and algorithms: `HS256` one edit from `RS256` is a choice
    // mcpwatch does not support, not a typo, and the nearest one would be a different algorithm.
    const got = String(zi.received);
    // An MCP client's configuration (VS Code, Claude Code) says `"type": "http"` for Streamable HTTP.
    const client = zi.options.includes('streamable_http') && /^(?:http|https|streamablehttp)$/i.test(got) ? ' (did you mean "streamable_http"? an MCP client\'s "type": "http" is Streamable HTTP)' : undefined;
    const near = client ?? (/\d/.test(got) ? '' : suggest(got, zi.options.map(String)));
    return [{ path: formatPath(zi.path), line: lineOf(doc, lc, zi.path), message: zi.message + near }];
  }
  if (zi.code === 'invalid_union_discriminator') {
    const got = doc.getIn(zi.path);
    const near = typeof got === 'string' ? suggest(got, zi.options.map(String)) : '';
    return [{ path: formatPath(zi.path), line: lineOf(doc, lc, zi.path), message: zi.message + near }];
  }
  if (zi.code === 'invalid_union') {
    return [{ path: formatPath(zi.path), line: lineOf(doc, lc, zi.path), message: zi.message }];
  }
  let message = zi.message;
  if (zi.code === 'too_small' || zi.code === 'too_big') message = boundMessage(zi, judged) ?? message;
  // A server's or a check's name: the characters are the rule, the name as it could be is the help.
  if (zi.code === 'invalid_string' && zi.path.at(-1) === 'name' && typeof judged === 'string') message += ` (got ${JSON.stringify(judged)}; e.g. ${JSON.stringify(sanitiseName(judged))})`;
  if (zi.code === 'invalid_type') {
    // A type with a message of its own (a duration, an error rate) says what is wanted better than
    // its JSON type does: `timeout: 5` read "must be a string, got number", not "add a unit".
    const own = zi.message !== `Expected ${zi.expected}, received ${zi.received}`;
    const written = doc.getIn(zi.path);
    // `timeout: 30` is the most common duration mistake: which unit was meant is the user's to say.
    const unitless = own && typeof written === 'number' && Number.isFinite(written) && /duration/.test(zi.message) ? `${written}, a number without a unit: write ${written}s for seconds` : undefined;
    message = zi.received === 'undefined' ? 'is required' + transportHint(zi.path, judged, doc) : own ? `${zi.message} (got ${unitless ?? (zi.received === 'nan' ? 'a number' : zi.received === 'null' ? 'null' : article(zi.received))})` : `must be ${article(zi.expected)}, got ${zi.received}`;
    // A number or a boolean in quotes is text to YAML: `"3"` is no count.
    if (!own && reference === undefined && typeof written === 'string' && ((zi.expected === 'number' && /^\s*-?\d+(?:\.\d+)?\s*$/.test(written)) || (zi.expected === 'boolean' && /^(?:true|false)$/.test(written)))) message += ` (write ${written.trim()} without quotes)`;
    // YAML reads `PORT: 3000` and `DEBUG: true` as a number and a boolean; env values and headers are text.
    if (!own && zi.expected === 'string' && (typeof written === 'number' || typeof written === 'boolean')) {
      // Quoted as written: `3.10` is the number 3.1, and a version quoted from that would change.
      const node = doc.getIn(zi.path, true);
      message += ` (quote it: "${isScalar(node) && node.source !== undefined ? node.source : String(written)}")`;
    }
    // YAML 1.1 (and many examples) took yes/no/on/off for booleans; YAML 1.2, which mcpwatch reads, does not.
    if (!own && zi.expected === 'boolean' && typeof written === 'string' && /^(?:y|yes|n|no|on|off)$/i.test(written)) message += ` (write ${/^(?:y|yes|on)$/i.test(written) ? 'true' : 'false'}: YAML 1.2 reads ${written} as text)`;
    if (!own) message += shapeHint(zi.expected, zi.received, written);
    // `receivers:` with every key under it commented out: YAML reads the section as null.
    if (!own && zi.expected === 'object' && zi.received === 'null') message += ` (nothing is under it: indent its keys below it, or remove the line for the defaults${String(zi.path.at(-1)) === 'receivers' ? '; to turn the OTLP receiver off, write receivers: { otlp: null }' : ''})`;
    if (reference && zi.received === 'string') message += ` (what ${reference} holds is not ${article(zi.expected)})`;
  }
  return [{ path: formatPath(zi.path), line: lineOf(doc, lc, zi.path), message }];
}

/**
 * How to write a list or a mapping given in the other form: `servers:` with no `- `, `args: -y pkg`,
 * and the `env:` list of `KEY=value` that Compose files and many READMEs use. Values are not quoted
 * (env and args are where credentials go).
 */
function shapeHint(expected: string, received: string, written: unknown): string {
  if (expected === 'array' && received === 'object') return ' (a list: start each entry with "- ")';
  if (expected === 'array' && received === 'string') return ' (a list, one item each: [a, b], or a "- " line per item)';
  // The document gives a sequence as its node, not as an array.
  const items = isSeq(written) ? written.items.map((item) => (isScalar(item) ? item.value : undefined)) : undefined;
  if (expected === 'object' && received === 'array' && items) {
    const pair = items.find((item): item is string => typeof item === 'string' && /^[^=:\s]+\s*[=:]/.test(item));
    if (pair !== undefined) return ` (a mapping, NAME: value, not a list of NAME=value: write ${/^[^=:\s]+/.exec(pair)![0]}: …)`;
  }
  return '';
}

/**
 * Zod's own words for a bound ("Number must be greater than or equal to 1", "String must contain at
 * least 1 character(s)") in the file's terms, with the value that broke it. A message the schema
 * wrote itself is kept.
 */
function boundMessage(zi: ZodIssue & { code: 'too_small' | 'too_big' }, got: unknown): string | undefined {
  if (!/^(?:Number|String|Array) must /.test(zi.message)) return undefined;
  const small = zi.code === 'too_small';
  const bound = Number(small ? zi.minimum : zi.maximum);
  if (zi.type === 'number') {
    const rel = small ? (zi.inclusive ? 'at least' : 'greater than') : zi.inclusive ? 'at most' : 'less than';
    return `must be ${rel} ${bound}${typeof got === 'number' ? ` (got ${got})` : ''}`;
  }
  if (zi.type === 'string' || zi.type === 'array') {
    const unit = zi.type === 'string' ? 'character' : 'item';
    if (small && bound === 1) return zi.type === 'string' ? 'must not be empty' : 'must list at least one item';
    return `must have ${small ? 'at least' : 'at most'} ${bound} ${unit}${bound === 1 ? '' : 's'}`;
  }
  return undefined;
}

function keyLine(doc: Document, lc: LineCounter, parent: readonly PathSeg[], key: string): number | undefined {
  const map = doc.getIn(parent, true) as { items?: Array<{ key: unknown }> } | undefined;
  const pair = map?.items?.find((p) => isScalar(p.key) && p.key.value === key);
  const k = pair?.key as { range?: [number, number, number] } | undefined;
  return k?.range ? lc.linePos(k.range[0]).line : lineOf(doc, lc, parent);
}

/** Every key the schema knows, by the path of the mapping it belongs in (`servers[]`, `servers[].checks[].expect`; `''` for the top level). */
let keysByParent: Map<string, string[]> | undefined;
let allKeys: string[] | undefined;

/**
 * The keys valid where an unknown key was found, so a typo is matched against its neighbours:
 * `tag` in a server is `tags`, not `tls`, a key two edits away that also belongs to a server. A
 * mapping the schema does not list (a map of headers) falls back to every key.
 */
function keysAt(parent: readonly PathSeg[]): string[] {
  return schemaKeysAt(parent) ?? allKeys!;
}

/** The keys the schema lists for the mapping at `parent`, or undefined for one it does not list. */
function schemaKeysAt(parent: readonly PathSeg[]): string[] | undefined {
  if (!keysByParent) {
    keysByParent = new Map();
    for (const { path } of schemaKeys()) {
      const plain = path.replace(/ \(\w+\)/g, '');
      const dot = plain.lastIndexOf('.');
      const at = dot < 0 ? '' : plain.slice(0, dot);
      const key = (dot < 0 ? plain : plain.slice(dot + 1)).replace('[]', '');
      const list = keysByParent.get(at) ?? [];
      if (!list.includes(key)) list.push(key);
      keysByParent.set(at, list);
    }
    allKeys = [...new Set([...keysByParent.values()].flat())];
  }
  let at = '';
  for (const seg of parent) at += typeof seg === 'number' ? '[]' : at ? `.${seg}` : seg;
  return keysByParent.get(at);
}

/**
 * ` (did you mean "x"?)` for the closest of `candidates`, or nothing when none is close. A word cut
 * short or written out (`monitor` for `monitoring`, `environment` for `env`) is many edits away but
 * plainly meant: the one candidate that it begins, or that begins it, is suggested too.
 */
function suggest(got: string, candidates: readonly string[]): string {
  const lower = got.toLowerCase();
  const prefixed = lower.length < 3 ? [] : candidates.filter((c) => c.length >= 3 && c !== got && (c.startsWith(lower) || lower.startsWith(c)));
  const close = closestName(got, candidates) ?? (prefixed.length === 1 ? prefixed[0] : undefined);
  return close ? ` (did you mean "${close}"?)` : '';
}

/**
 * Keys other tools' files use for what mcpwatch calls otherwise, too far from it in spelling for
 * `suggest`, or nearer another key (`cmd` is one letter from `cwd`): an MCP client's server entry
 * (`type`, `cmd`), Prometheus's `global:`.
 */
function otherToolsKey(key: string, parent: readonly PathSeg[]): string {
  const lower = key.toLowerCase();
  if (parent.length === 0 && /^(?:defaults?|globals?)$/.test(lower)) return ' (did you mean "monitoring"? it holds what every server takes unless it sets its own: interval, timeout, thresholds)';
  if (parent.length === 2 && parent[0] === 'servers') {
    if (lower === 'type') return ' (did you mean "transport"? an MCP client\'s "type": "http" is transport: streamable_http)';
    if (lower === 'cmd') return ' (did you mean "command"?)';
    if (lower === 'endpoint') return ' (did you mean "url"?)';
  }
  return '';
}

/** For a server without `transport`: the one its `url` or `command` calls for. */
function transportHint(path: readonly PathSeg[], judged: unknown, doc: Document): string {
  if (path.length !== 3 || path[0] !== 'servers' || path[2] !== 'transport' || judged !== undefined) return '';
  const server = doc.getIn(path.slice(0, 2));
  if (!isMap(server)) return '';
  if (server.has('url')) return ': streamable_http or sse for a server with a url';
  if (server.has('command')) return ': stdio for a server with a command';
  return ': stdio (with a command), streamable_http or sse (with a url)';
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

const ENV_RE = /\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
/**
 * What is left of a value once its references are expanded and still opens one: a `${` never closed,
 * or a `${env:` whose name is not a variable name (`${env:GITHUB-TOKEN}`, `${ env:TOKEN }`, `${env.TOKEN}`). Left as
 * text, it would reach a server as a literal header or argument. Other closed `${…}` (an editor's
 * `${command:…}` that init carried over and names in its notes) stay text.
 */
const BROKEN_RE = /\$\{\s*env\s*[:.][^}]*\}?|\$\{[^}]*$/;

/**
 * `Bearer $TOKEN`: a shell's variable, which mcpwatch sends as written. Said, not refused: a `$`
 * before capitals can be part of a password. Only names in capitals, as environment variables are.
 */
function shellVariables(value: unknown, path: PathSeg[]): Array<{ path: PathSeg[]; message: string }> {
  if (typeof value === 'string') {
    const found = [...value.replace(/\$\$\{/g, '').matchAll(/(?<![$\w])\$([A-Z_][A-Z0-9_]*)\b(?![{(])/g)].map((m) => m[1]!);
    if (found.length === 0) return [];
    return [{ path, message: `${found.map((n) => `$${n}`).join(', ')} ${found.length === 1 ? 'is' : 'are'} sent as written: mcpwatch expands \${env:${found[0]}}, not $${found[0]}` }];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => shellVariables(v, [...path, i]));
  if (!value || typeof value !== 'object') return [];
  const { command, args } = value as { command?: unknown; args?: unknown };
  // `command: sh, args: [-c, "srv --token \"$TOKEN\""]`: the line after -c is the shell's, which expands it.
  const shellLine = typeof command === 'string' && Array.isArray(args) && SHELL.test(command) ? args.findIndex((_, i) => i > 0 && /^-[A-Za-z]*c[A-Za-z]*$/.test(String(args[i - 1]))) : -1;
  return Object.entries(value).flatMap(([k, v]) => {
    // What a check expects is compared with the answer, not sent: `$USD` there is the text looked for.
    if (k === 'expect' && path.at(-2) === 'checks') return [];
    if (k === 'args' && shellLine >= 0) return (v as unknown[]).flatMap((a, i) => (i === shellLine ? [] : shellVariables(a, [...path, k, i])));
    return shellVariables(v, [...path, k]);
  });
}

/** A POSIX shell, by path or name: what it runs after `-c` is a shell line. */
const SHELL = /(?:^|\/)(?:a|ba|da|k|mk|z)?sh$/;

/** Whether the loader refuses `value` as holding a reference it cannot expand (what init must escape). */
export function hasBrokenReference(value: string): boolean {
  return value.split('$${').some((part) => BROKEN_RE.test(part.replace(ENV_RE, '')));
}

function brokenReference(text: string): string {
  const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
  return `${JSON.stringify(shown)} is not a reference mcpwatch can expand: write \${env:NAME} (NAME of letters, digits and _), \${env:NAME:-default}, or $\${ for a literal \${`;
}

/** A value that is one reference and nothing else. */
const WHOLE_RE = /^\$\{(?:env:)?[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/**
 * A value that is one `${env:…}` reference alone takes the type its key wants, as in the
 * OpenTelemetry Collector's configuration: `concurrency: ${env:CONCURRENCY}` is a number when the
 * variable holds one. Only where the schema asked for a number or a boolean and got the text, so a
 * token of digits stays a string. Returns whether any value changed; what cannot be read so gets its
 * reference named in the type error (fromZod).
 */
function retypeReferences(expanded: unknown, zodIssues: readonly ZodIssue[], whole: ReadonlyMap<string, string>): boolean {
  let changed = false;
  for (const zi of zodIssues) {
    if (zi.code !== 'invalid_type' || zi.received !== 'string' || !whole.has(formatPath(zi.path)) || zi.path.length === 0) continue;
    let parent = expanded as Record<string | number, unknown>;
    for (const seg of zi.path.slice(0, -1)) parent = parent[seg] as Record<string | number, unknown>;
    const key = zi.path[zi.path.length - 1]!;
    const text = String(parent[key]).trim();
    const typed = zi.expected === 'number' ? (text !== '' && Number.isFinite(Number(text)) ? Number(text) : undefined) : zi.expected === 'boolean' ? ({ true: true, false: false } as Record<string, boolean>)[text.toLowerCase()] : undefined;
    if (typed === undefined) continue;
    parent[key] = typed;
    changed = true;
  }
  return changed;
}

/** A value an environment variable put into the configuration, at the path of the setting. */
export interface Reference {
  path: string;
  value: string;
  /** The variable's name. */
  variable: string;
  /** The value as written, with this reference as a NUL: what stands around it (`--token=`, `Bearer `). */
  shape: string;
}

/**
 * The settings of a server where what a reference puts is a credential: env, headers, args, the URL,
 * auth's client secret and token, check arguments. Not its name, command, cwd, tags, TLS or auth files,
 * client id, timings: a `${env:…}` there is configuration, not a secret.
 */
const SECRET_SETTING = /^servers\[(\d+)\]\.(?:env\.|headers\.|args\[\d+\]$|url$|command$|auth\.(?:client_secret|token)$|checks\[\d+\]\.arguments(?:[.[]|$))/;

/**
 * Per server (by index), the values references put into its credential settings: what mcpwatch
 * masks in everything the server says (probe/secrets.ts), as GitHub Actions masks its secrets. A
 * filesystem path (`${env:HOME}/data`) and a whole URL are not secrets (a URL's own credentials are
 * judged by config/secrets.ts); nor is the host a URL's reference names. A whole `command` is the
 * executable, configuration; but where the variable holds a command line (`mcp-srv --api-key sk-…`),
 * what follows the executable is its arguments, a secret as an args reference's value is (the
 * spawn_failed message quotes the line). A value shorter than MIN_SECRET_CHARS is kept only where
 * something names it a credential (shortCredential), and not where it is a number or a switch
 * (SETTING_WORD): a `${env:PORT}` of 8080 is not one, nor an `AUTH_REQUIRED` of 1.
 */
function referencedSecrets(refs: readonly Reference[], servers: ReadonlyArray<{ url?: string; command?: string; args?: string[] }>): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const ref of refs) {
    const { path } = ref;
    let value = ref.value;
    const m = SECRET_SETTING.exec(path);
    if (!m || /^(?:~|\.{1,2})?\//.test(value) || value.includes('://')) continue;
    const i = Number(m[1]);
    const url = path === `servers[${i}].url` ? servers[i]?.url : undefined;
    if (url !== undefined && (/^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^/?#]*)/i.exec(url)?.[1] ?? '').includes(value)) continue;
    if (path === `servers[${i}].command` && servers[i]?.command === value) {
      const executable = /^\s*\S+\s+/.exec(value);
      if (!executable) continue;
      value = value.slice(executable[0].length).trim();
    }
    if (value.length < MIN_SECRET_CHARS && (SETTING_WORD.test(value) || !shortCredential(ref, servers[i]?.args ?? []))) continue;
    const values = out.get(i) ?? [];
    if (!values.includes(value)) values.push(value);
    out.set(i, values);
  }
  return out;
}

/**
 * A short number or switch is what a name saying credential sets, not a credential
 * (`AUTH_REQUIRED: 1`, `TOKEN_TTL: 3600`, `--auth-enabled true`): masked as a word, it took every
 * `1` out of what the server said, and out of mcpwatch's own "exited with code 1".
 */
const SETTING_WORD = /^(?:\d+|true|false|yes|no|on|off)$/i;

/**
 * Whether a reference's value is a credential by a name, not by its length: the variable's
 * (`${env:API_TOKEN}`), the setting's (env `PASSWORD`, header `X-Api-Key`, auth's secret and token, a
 * check argument `token`), the flag before it in args (`--token ${env:T}`, `--api-key=${env:K}`), or
 * its place in a URL (the password, a `?token=` value).
 */
function shortCredential(ref: Reference, args: readonly string[]): boolean {
  if (isSecretName(ref.variable) || /\.auth\.(?:client_secret|token)$/.test(ref.path)) return true;
  if (urlCredentials(ref.shape).some((c) => c.value.includes('\0'))) return true;
  const keyed = /\.(?:env|headers)\.([^.[]+)$|\.arguments(?:\.([^.[]+)|\[\d+\])*$/.exec(ref.path);
  if (keyed && isSecretName(keyed[1] ?? keyed[2] ?? '')) return true;
  const arg = /\.args\[(\d+)\]$/.exec(ref.path);
  if (!arg) return false;
  const flag = /^(--?[A-Za-z0-9][\w-]*)=/.exec(ref.shape)?.[1] ?? (ref.shape === '\0' ? args[Number(arg[1]) - 1] : undefined);
  if (flag !== undefined && /^--?[A-Za-z0-9][\w-]*$/.test(flag) && isSecretFlag(flag)) return true;
  const named = /^([A-Za-z_][\w-]*)(?:=|:\s*(?:(?:bearer|basic|token)\s+)?)\0/i.exec(ref.shape);
  return named !== null && isSecretName(named[1]!);
}

/**
 * Expands `${env:VAR}`, `${VAR}` and `${env:VAR:-default}` in every string value. An unset variable
 * without a default is an issue at that value's path; `$${` escapes a literal `${`. Each value a
 * variable supplied (not a default, which is written in the file) is noted in `refs`.
 */
export function expandEnv(
  value: unknown,
  path: PathSeg[],
  env: NodeJS.ProcessEnv,
  issues: ConfigIssue[],
  lineAt: (path: readonly PathSeg[]) => number | undefined,
  whole?: Map<string, string>,
  refs?: Reference[],
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    if (whole && WHOLE_RE.test(value)) whole.set(formatPath(path), value);
    const escaped = value.split('$${');
    for (const part of escaped) {
      const bad = BROKEN_RE.exec(part.replace(ENV_RE, ''));
      if (bad) issues.push({ path: formatPath(path), line: lineAt(path), message: brokenReference(bad[0]) });
    }
    return escaped
      .map((part) =>
        part.replace(ENV_RE, (m: string, name: string, def: string | undefined, at: number) => {
          const v = env[name];
          if (v !== undefined && v !== '') {
            refs?.push({ path: formatPath(path), value: v, variable: name, shape: `${part.slice(0, at)}\0${part.slice(at + m.length)}` });
            return v;
          }
          if (def !== undefined) return def;
          // `export TOKEN=` sets it: "not set" sent the user to look for a variable `env` shows.
          issues.push({ path: formatPath(path), line: lineAt(path), message: `environment variable ${name} ${v === '' ? 'is set but empty' : 'is not set'} (give a default with \${env:${name}:-value})` });
          return '';
        }),
      )
      .join('${');
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, [...path, i], env, issues, lineAt, whole, refs));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnv(v, [...path, k], env, issues, lineAt, whole, refs);
    return out;
  }
  return value;
}
