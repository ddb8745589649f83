// discovery/ owns what `mcpwatch init` finds: the MCP servers a developer already configured in
// their AI clients (Claude Desktop, Claude Code, Cursor, VS Code, Windsurf, Gemini CLI, Zed), mapped
// to mcpwatch server entries. It reads files and returns data: it never writes, prompts or prints
// (cli/init.ts does), never lets a secret value from a client file into its result (every secret
// becomes an ${env:NAME} reference), and never probes, exports or touches state.
import { readFileSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { configSchema, urlTransport, type TransportName } from '../config/schema.js';
import { expandEnv, formatPath, hasBrokenReference, type ConfigIssue } from '../config/load.js';
import { AUTH_SCHEME, isSecretFlag, looksLikeSecret, TOKEN_PREFIX } from '../config/secrets.js';
import { splitCommand } from '../config/files.js';

/** Where discovery looks. Everything is injectable so tests can point it at a fake home. */
export interface DiscoverContext {
  home: string;
  cwd: string;
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
}

type ClientId = 'claude-desktop' | 'claude-code' | 'cursor' | 'vscode' | 'windsurf' | 'gemini' | 'zed';

/**
 * Field conventions differ between clients in ways that change the meaning of an entry, so each
 * source names its dialect: Gemini's `url` is SSE (its Streamable HTTP field is `httpUrl`), Zed nests
 * `command` in older settings and hides extension-managed servers under the same key.
 */
type Dialect = 'standard' | 'gemini' | 'zed';

/** One config file (and the key inside it) that may hold MCP servers. */
interface ConfigSource {
  client: ClientId;
  /** Human label, e.g. "Cursor (project)". */
  label: string;
  file: string;
  /** VS Code, Zed and Gemini CLI accept comments and trailing commas; the others are strict JSON. */
  jsonc: boolean;
  dialect: Dialect;
  /** The sections of the parsed document that hold server maps, with a printable path for each. */
  sections(doc: Record<string, unknown>): Array<{ where: string; value: unknown }>;
}

/** Where a server was found: the file and the key path of the server map inside it. */
export interface SourceRef {
  client: ClientId;
  label: string;
  file: string;
  where: string;
  /** The server's key in that map, as the client spelled it. */
  key: string;
}

/** An environment variable the written configuration references and the user must set. */
interface RequiredEnvVar {
  name: string;
  /** e.g. "github: header Authorization", "fs: env ROOT". */
  usedBy: string[];
  /** True when the client file held a literal value (a secret init declined to copy). */
  replacedLiteral: boolean;
}

export interface DiscoveredServer extends MappedServer {
  /** Unique, schema-valid name (sanitised, `-2` on a clash). */
  name: string;
  source: SourceRef;
  /** Other places that configure the same server (same command and args, or same URL). */
  duplicates: SourceRef[];
  /** The client signs in to this server with OAuth: mcpwatch's machine-credential stub for it. */
  auth?: AuthStub;
}

/** A file or entry that could not be used; discovery goes on with everything else. */
interface DiscoveryProblem {
  file: string;
  client: ClientId;
  /** Set when only one entry was bad, not the whole file. */
  server?: string;
  reason: string;
}

/** Something the user should know that is not an error: a disabled entry, an ignored field. */
interface DiscoveryNote {
  /** Absent for notes about the result as a whole. */
  file?: string;
  client?: ClientId;
  server?: string;
  message: string;
}

export interface DiscoveryResult {
  servers: DiscoveredServer[];
  problems: DiscoveryProblem[];
  notes: DiscoveryNote[];
  envVars: RequiredEnvVar[];
  /** Every file looked at, in order, and whether it existed. */
  checked: Array<{ file: string; label: string; exists: boolean }>;
}

// ---------------------------------------------------------------------------------------------
// Where each client keeps its configuration.

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `%APPDATA%`, falling back to its default location when the variable is missing. */
function appData(ctx: DiscoverContext): string {
  return ctx.env.APPDATA || join(ctx.home, 'AppData', 'Roaming');
}

/** `$XDG_CONFIG_HOME`, which must be absolute to count (the XDG spec says relative values are ignored). */
function xdgConfig(ctx: DiscoverContext): string {
  const xdg = ctx.env.XDG_CONFIG_HOME;
  return xdg && isAbsolute(xdg) ? xdg : join(ctx.home, '.config');
}

/** The platform's per-user application config directory (where Electron apps such as Claude and Code live). */
function appConfigDir(ctx: DiscoverContext): string {
  if (ctx.platform === 'darwin') return join(ctx.home, 'Library', 'Application Support');
  if (ctx.platform === 'win32') return appData(ctx);
  return xdgConfig(ctx);
}

function key(name: string): (doc: Record<string, unknown>) => Array<{ where: string; value: unknown }> {
  return (doc) => (name in doc ? [{ where: name, value: doc[name] }] : []);
}

/** Claude Code keys projects by absolute path; Windows entries use forward slashes. */
function samePath(a: string, b: string, platform: NodeJS.Platform): boolean {
  const norm = (p: string): string => {
    const s = p.replace(/\\/g, '/').replace(/\/+$/, '');
    return platform === 'win32' || platform === 'darwin' ? s.toLowerCase() : s;
  };
  return norm(a) === norm(b);
}

/** Every file discovery reads, in priority order: on a duplicate, the earlier source keeps its name. */
export function configSources(ctx: DiscoverContext): ConfigSource[] {
  const { home, cwd } = ctx;
  const std = { jsonc: false, dialect: 'standard' as const };
  const zedDir = ctx.platform === 'win32' ? join(appData(ctx), 'Zed') : ctx.platform === 'darwin' ? join(home, '.config', 'zed') : join(xdgConfig(ctx), 'zed');
  return [
    { client: 'claude-desktop', label: 'Claude Desktop', file: join(appConfigDir(ctx), 'Claude', 'claude_desktop_config.json'), ...std, sections: key('mcpServers') },
    {
      client: 'claude-code',
      label: 'Claude Code (user)',
      file: join(home, '.claude.json'),
      ...std,
      sections: (doc) => {
        const out = key('mcpServers')(doc);
        // Local-scope servers live under the project's absolute path; only the current project counts.
        if (isObject(doc.projects)) {
          for (const [path, project] of Object.entries(doc.projects)) {
            if (samePath(path, cwd, ctx.platform) && isObject(project) && 'mcpServers' in project) {
              out.push({ where: `projects[${JSON.stringify(path)}].mcpServers`, value: project.mcpServers });
            }
          }
        }
        return out;
      },
    },
    { client: 'claude-code', label: 'Claude Code (project)', file: join(cwd, '.mcp.json'), ...std, sections: key('mcpServers') },
    { client: 'cursor', label: 'Cursor (user)', file: join(home, '.cursor', 'mcp.json'), ...std, sections: key('mcpServers') },
    { client: 'cursor', label: 'Cursor (project)', file: join(cwd, '.cursor', 'mcp.json'), ...std, sections: key('mcpServers') },
    { client: 'vscode', label: 'VS Code (user)', file: join(appConfigDir(ctx), 'Code', 'User', 'mcp.json'), jsonc: true, dialect: 'standard', sections: key('servers') },
    { client: 'vscode', label: 'VS Code (workspace)', file: join(cwd, '.vscode', 'mcp.json'), jsonc: true, dialect: 'standard', sections: key('servers') },
    { client: 'windsurf', label: 'Windsurf', file: join(home, '.codeium', 'windsurf', 'mcp_config.json'), ...std, sections: key('mcpServers') },
    { client: 'gemini', label: 'Gemini CLI (user)', file: join(home, '.gemini', 'settings.json'), jsonc: true, dialect: 'gemini', sections: key('mcpServers') },
    { client: 'gemini', label: 'Gemini CLI (project)', file: join(cwd, '.gemini', 'settings.json'), jsonc: true, dialect: 'gemini', sections: key('mcpServers') },
    { client: 'zed', label: 'Zed', file: join(zedDir, 'settings.json'), jsonc: true, dialect: 'zed', sections: key('context_servers') },
  ];
}

// ---------------------------------------------------------------------------------------------
// JSON with comments.

/**
 * Blanks out `//` and `/* *\/` comments and trailing commas outside strings. Removed characters become
 * spaces (newlines are kept) so JSON.parse positions still point at the right line and column.
 */
export function stripJsonc(text: string): string {
  const out = text.split('');
  let i = 0;
  const n = text.length;
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (out[k] !== '\n' && out[k] !== '\r') out[k] = ' ';
  };
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      i++;
      while (i < n && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? n : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) throw new SyntaxError(`unterminated /* comment at position ${i}`);
      blank(i, end + 2);
      i = end + 2;
    } else {
      i++;
    }
  }
  // Second pass on the comment-free text: a comma whose next significant character closes a container.
  const s = out.join('');
  i = 0;
  while (i < n) {
    const c = s[i];
    if (c === '"') {
      i++;
      while (i < n && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === ',') {
      let j = i + 1;
      while (j < n && /\s/.test(s[j]!)) j++;
      if (s[j] === '}' || s[j] === ']') out[i] = ' ';
    }
    i++;
  }
  return out.join('');
}

/** JSON.parse with a message that names the line and column (Node 20 gives only a character offset). */
export function parseJsonText(text: string, jsonc: boolean): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const prepared = jsonc ? stripJsonc(body) : body;
  try {
    return JSON.parse(prepared);
  } catch (err) {
    const message = (err as Error).message;
    const m = /position (\d+)/.exec(message);
    const detail = message.replace(/\s*in JSON at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '');
    if (!m) throw new SyntaxError(detail);
    const pos = Number(m[1]);
    const before = prepared.slice(0, pos);
    const line = before.split('\n').length;
    const column = pos - before.lastIndexOf('\n');
    const hint = !jsonc && /\/[/*]/.test(body) && hasCommentOutsideStrings(body) ? ' (this client does not allow comments)' : '';
    throw new SyntaxError(`line ${line}, column ${column}: ${detail}${hint}`);
  }
}

function hasCommentOutsideStrings(text: string): boolean {
  try {
    return stripJsonc(text) !== text;
  } catch {
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Variables in client files.

/** `${VAR}`, `${env:VAR}`, optionally with `:-default`: the forms mcpwatch's loader expands too. */
const REF_G = /\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_REF = /^\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;
/** Gemini CLI expands `$VAR` as well; a value that is nothing else is a reference, not a secret. */
const BARE_REF = /^\$([A-Za-z_][A-Za-z0-9_]*)$/;
/** Non-global, so `.test` keeps no state between calls. */
const HAS_REF = /\$\{(?:env:)?[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}/;

/** Upper snake case usable as an environment variable name. */
export function envName(text: string): string {
  const s = text.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '').toUpperCase();
  if (!s) return 'MCP';
  return /^[0-9]/.test(s) ? `MCP_${s}` : s;
}

/**
 * `~` or `~/…` as the home directory it means to the user who wrote it. mcpwatch spawns without a
 * shell, so a `~` kept as written would be a directory named `~` under the project (cwd) or an
 * executable nobody has (command); `validate` refuses both.
 */
function homeRelative(path: string, ctx: DiscoverContext): string {
  if (path === '~') return ctx.home;
  return path.startsWith('~/') || (ctx.platform === 'win32' && path.startsWith('~\\')) ? join(ctx.home, path.slice(2)) : path;
}

/**
 * Replaces editor variables that mcpwatch cannot expand at run time with what they mean now
 * (`${workspaceFolder}` is the project init runs in) and turns VS Code `${input:id}` prompts into
 * `${env:ID}`. Unknown editor variables are left as they are and reported.
 */
function substituteVars(value: string, ctx: DiscoverContext, unknown: Set<string>): string {
  const sep = ctx.platform === 'win32' ? '\\' : '/';
  return value.replace(/\$\{([^}]*)\}/g, (whole, inner: string) => {
    if (inner === 'workspaceFolder' || inner === 'workspaceRoot') return ctx.cwd;
    if (inner === 'workspaceFolderBasename') return basename(ctx.cwd);
    if (inner === 'userHome') return ctx.home;
    if (inner === 'pathSeparator' || inner === '/') return sep;
    if (inner.startsWith('input:')) return `\${env:${envName(inner.slice(6))}}`;
    if (/^(?:env:)?[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?$/.test(inner)) return whole;
    unknown.add(whole);
    // Written as the loader reads it back: as the text the client had, not a reference it refuses.
    return hasBrokenReference(whole) ? `$${whole}` : whole;
  });
}

// ---------------------------------------------------------------------------------------------
// Entry mapping.

/** One client entry as an mcpwatch server, before it is named and deduplicated. */
interface MappedServer {
  transport: TransportName;
  command?: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  url?: string;
  headers: Record<string, string>;
  /** The client's own OAuth settings for a remote server (made into an `auth:` stub, secrets as references). */
  oauth?: ClientOAuth;
}

/** What a client file says about signing in to a remote server: Gemini CLI and Claude Code `oauth`, Cursor `auth`. */
interface ClientOAuth {
  clientId?: string;
  clientSecret?: string;
  tokenUrl?: string;
  /** Left out where the client names none: mcpwatch then asks for what the server names (docs/oauth.md). */
  scopes?: string[];
}

/** An `auth:` entry for mcpwatch.yaml: client credentials whose secret is an ${env:} reference. */
export interface AuthStub {
  type: 'oauth2_client_credentials';
  client_id: string;
  client_secret: string;
  scopes?: string[];
  token_url?: string;
}

type MapOutcome = { kind: 'server'; server: MappedServer; notes: string[] } | { kind: 'skip'; reason: string } | { kind: 'problem'; reason: string };

function stringRecord(v: unknown, field: string): Record<string, string> | string {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) return `${field} must be an object of strings`;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    // Numbers and booleans in env are common in hand-written files and mean their text.
    if (typeof val === 'string') out[k] = val;
    else if (typeof val === 'number' || typeof val === 'boolean') out[k] = String(val);
    else return `${field}.${k} must be a string`;
  }
  return out;
}

function transportFromType(type: unknown): TransportName | 'unsupported' | undefined {
  if (type === undefined || type === null) return undefined;
  if (typeof type !== 'string') return 'unsupported';
  const t = type.toLowerCase().replace(/[-_]/g, '');
  if (t === 'stdio' || t === 'local') return 'stdio';
  if (t === 'sse') return 'sse';
  if (t === 'http' || t === 'streamablehttp' || t === 'streamable') return 'streamable_http';
  return 'unsupported';
}

function mapEntry(raw: unknown, dialect: Dialect, ctx: DiscoverContext): MapOutcome {
  if (!isObject(raw)) return { kind: 'problem', reason: 'entry must be an object' };
  if (raw.disabled === true) return { kind: 'skip', reason: 'disabled in the client' };
  if (raw.enabled === false) return { kind: 'skip', reason: 'disabled in the client' };

  let command: unknown = raw.command;
  let args: unknown = raw.args;
  let envRaw: unknown = raw.env;
  if (dialect === 'zed' && isObject(command)) {
    // Older Zed settings nest the launch under command: { path, args, env }.
    const nested = command;
    command = nested.path;
    args = nested.args ?? args;
    envRaw = nested.env ?? envRaw;
  }
  const urlFields: Array<[string, unknown]> = [
    ['url', raw.url],
    ['serverUrl', raw.serverUrl],
    ['httpUrl', raw.httpUrl],
  ];
  const urlField = urlFields.find(([, v]) => v !== undefined && v !== null);
  const typed = transportFromType(raw.type ?? raw.transport);
  if (typed === 'unsupported') return { kind: 'problem', reason: `unsupported transport type ${JSON.stringify(raw.type ?? raw.transport)} (mcpwatch probes stdio, sse and streamable_http)` };

  const hasCommand = command !== undefined && command !== null;
  if (!hasCommand && !urlField) {
    if (dialect === 'zed') return { kind: 'skip', reason: 'managed by a Zed extension (no command or url in settings)' };
    return { kind: 'problem', reason: 'has neither command nor url' };
  }

  const unknownVars = new Set<string>();
  const sub = (s: string): string => substituteVars(s, ctx, unknownVars);
  const notes: string[] = [];
  if (raw.envFile !== undefined) notes.push('envFile is not imported: set the variables it defines in the environment mcpwatch runs in');

  const wantsStdio = typed === 'stdio' || (typed === undefined && hasCommand);
  if (wantsStdio) {
    if (typeof command !== 'string' || command.trim() === '') return { kind: 'problem', reason: 'command must be a non-empty string' };
    if (args !== undefined && args !== null && (!Array.isArray(args) || args.some((a) => typeof a !== 'string' && typeof a !== 'number'))) {
      return { kind: 'problem', reason: 'args must be an array of strings' };
    }
    const env = stringRecord(envRaw, 'env');
    if (typeof env === 'string') return { kind: 'problem', reason: env };
    if (raw.cwd !== undefined && typeof raw.cwd !== 'string') return { kind: 'problem', reason: 'cwd must be a string' };
    // A command line in one string (`"npx -y pkg"`), which a client that runs it through a shell
    // accepts: spawned without one, it is no executable, and a secret among its words escaped the
    // argument checks below. Split even when its runner is not installed where init runs: the file
    // may be for another machine, and the words must be checked either way.
    const line = splitCommand(command, ctx.env.PATH ?? '', false);
    if (line) notes.push(`command ${JSON.stringify(line[0])} is written with its arguments in one string: they are given apart in args`);
    const server: MappedServer = {
      transport: 'stdio',
      command: homeRelative(sub(line ? line[0]! : command), ctx),
      args: [...(line ? line.slice(1) : []), ...((args as unknown[] | undefined) ?? [])].map((a) => sub(String(a))),
      env: Object.fromEntries(Object.entries(env).map(([k, v]) => [k, sub(v)])),
      headers: {},
    };
    if (typeof raw.cwd === 'string' && raw.cwd !== '') {
      const c = homeRelative(sub(raw.cwd), ctx);
      server.cwd = isAbsolute(c) || c.startsWith('${') ? c : resolve(ctx.cwd, c);
    }
    for (const v of unknownVars) notes.push(`${v} is an editor variable mcpwatch cannot expand; edit it in mcpwatch.yaml`);
    return { kind: 'server', server, notes };
  }

  if (!urlField) return { kind: 'problem', reason: `type ${JSON.stringify(raw.type ?? raw.transport)} needs a url` };
  const [field, urlValue] = urlField;
  if (typeof urlValue !== 'string' || urlValue.trim() === '') return { kind: 'problem', reason: `${field} must be a non-empty string` };
  const headers = stringRecord(raw.headers, 'headers');
  if (typeof headers === 'string') return { kind: 'problem', reason: headers };
  const url = sub(urlValue.trim());
  const subHeaders = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, sub(v)]));
  let transport: TransportName;
  if (typed) transport = typed;
  else if (dialect === 'gemini') transport = field === 'httpUrl' ? 'streamable_http' : 'sse';
  else transport = urlTransport(url);
  for (const v of unknownVars) notes.push(`${v} is an editor variable mcpwatch cannot expand; edit it in mcpwatch.yaml`);
  const server: MappedServer = { transport, url, args: [], env: {}, headers: subHeaders };
  const oauth = clientOAuth(raw);
  if (oauth) server.oauth = oauth;
  return { kind: 'server', server, notes };
}

function clientOAuth(raw: Record<string, unknown>): ClientOAuth | undefined {
  const block = isObject(raw.oauth) ? raw.oauth : isObject(raw.auth) ? raw.auth : undefined;
  if (!block || block.enabled === false) return undefined;
  const text = (...keys: string[]): string | undefined => {
    for (const k of keys) if (typeof block[k] === 'string' && (block[k] as string).trim() !== '') return (block[k] as string).trim();
    return undefined;
  };
  const scopes = Array.isArray(block.scopes) ? block.scopes.filter((s): s is string => typeof s === 'string' && s !== '') : typeof block.scope === 'string' ? block.scope.split(/\s+/).filter(Boolean) : [];
  // An empty list names no scope either: written as `scopes: []`, it would ask for none at all.
  const out: ClientOAuth = scopes.length ? { scopes } : {};
  const clientId = text('clientId', 'client_id', 'CLIENT_ID');
  const clientSecret = text('clientSecret', 'client_secret', 'CLIENT_SECRET');
  const tokenUrl = text('tokenUrl', 'token_url', 'TOKEN_URL');
  if (clientId) out.clientId = clientId;
  if (clientSecret) out.clientSecret = clientSecret;
  if (tokenUrl && /^https?:\/\//i.test(tokenUrl)) out.tokenUrl = tokenUrl;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Secrets.

/** Header and query names whose value is a credential. */
const SECRET_NAME = /authorization|token|key|secret|passw(?:or)?d|cookie|credential|auth|signature|\bsig\b/i;

function isReferenceOnly(value: string): boolean {
  return WHOLE_REF.test(value) || BARE_REF.test(value);
}

/** `${VAR}` and `$VAR` written as `${env:VAR}`; a default that looks like a secret is dropped. */
function normaliseRefs(value: string): string {
  const bare = BARE_REF.exec(value);
  if (bare) return `\${env:${bare[1]}}`;
  return value.replace(REF_G, (_m, name: string, def: string | undefined) =>
    def !== undefined && !looksLikeSecret(def) ? `\${env:${name}:-${def}}` : `\${env:${name}}`,
  );
}

/**
 * Hands out environment variable names for replaced secrets. Two places that held the same literal
 * share a name; a different literal under a taken name gets `_2`, so no secret silently wins.
 */
class VarRegistry {
  private readonly literals = new Map<string, string>();
  readonly conflicts = new Set<string>();

  /** A variable named by the client (an env key): the name is fixed, a different literal is a conflict. */
  own(name: string, literal: string): string {
    const prev = this.literals.get(name);
    if (prev === undefined) this.literals.set(name, literal);
    else if (prev !== literal) this.conflicts.add(name);
    return name;
  }

  derive(base: string, literal: string): string {
    for (let i = 1; ; i++) {
      const name = i === 1 ? base : `${base}_${i}`;
      const prev = this.literals.get(name);
      if (prev === undefined) {
        this.literals.set(name, literal);
        return name;
      }
      if (prev === literal) return name;
    }
  }
}

interface Redactor {
  prefix: string;
  vars: VarRegistry;
  replaced: Set<string>;
}

function ref(r: Redactor, base: string, literal: string): string {
  const name = r.vars.derive(base, literal);
  r.replaced.add(name);
  return `\${env:${name}}`;
}

/** The client's OAuth settings as client credentials: the id as written (or a reference), the secret always a reference. */
function authStub(r: Redactor, o: ClientOAuth): AuthStub {
  const id = o.clientId === undefined ? `\${env:${r.prefix}_CLIENT_ID}` : isReferenceOnly(o.clientId) ? normaliseRefs(o.clientId) : looksLikeSecret(o.clientId) ? ref(r, `${r.prefix}_CLIENT_ID`, o.clientId) : o.clientId;
  const secret = o.clientSecret === undefined ? `\${env:${r.prefix}_CLIENT_SECRET}` : isReferenceOnly(o.clientSecret) ? normaliseRefs(o.clientSecret) : ref(r, `${r.prefix}_CLIENT_SECRET`, o.clientSecret);
  const stub: AuthStub = { type: 'oauth2_client_credentials', client_id: id, client_secret: secret, ...(o.scopes ? { scopes: o.scopes } : {}) };
  if (o.tokenUrl) stub.token_url = redactUrl(r, o.tokenUrl);
  return stub;
}

function redactHeader(r: Redactor, name: string, value: string): string {
  if (value === '') return value;
  if (isReferenceOnly(value)) return normaliseRefs(value);
  const rest = value.replace(REF_G, '').replace(AUTH_SCHEME, '').trim();
  if (rest === '' && HAS_REF.test(value)) return normaliseRefs(value);
  if (!SECRET_NAME.test(name) && !looksLikeSecret(value)) return normaliseRefs(value);
  const base = /^(?:proxy-)?authorization$/i.test(name) ? `${r.prefix}_TOKEN` : `${r.prefix}_${envName(name)}`;
  const scheme = AUTH_SCHEME.exec(value);
  return scheme ? `${scheme[1]}${scheme[2]}${ref(r, base, value.slice(scheme[0].length))}` : ref(r, base, value);
}

/** Credentials inside a URL: the userinfo password, secret-looking path segments, secret query values. */
function redactUrl(r: Redactor, url: string): string {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^/?#]*@)?([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(url);
  if (!m) return normaliseRefs(url);
  const [, scheme, userinfo = '', host, path = '', query = '', fragment = ''] = m;
  let user = userinfo;
  if (userinfo) {
    const info = userinfo.slice(0, -1);
    const colon = info.indexOf(':');
    if (colon >= 0) {
      const pass = info.slice(colon + 1);
      if (pass && !isReferenceOnly(pass)) user = `${info.slice(0, colon)}:${ref(r, `${r.prefix}_PASSWORD`, pass)}@`;
    } else if (looksLikeSecret(info)) {
      user = `${ref(r, `${r.prefix}_TOKEN`, info)}@`;
    }
  }
  const newPath = path
    .split('/')
    .map((seg) => (seg && !seg.includes('${') && (TOKEN_PREFIX.test(seg) || looksLikeSecret(seg, 32)) ? ref(r, `${r.prefix}_URL_TOKEN`, seg) : seg))
    .join('/');
  const newQuery = query
    ? '?' +
      query
        .slice(1)
        .split('&')
        .map((pair) => {
          const eq = pair.indexOf('=');
          if (eq < 0) return pair;
          const k = pair.slice(0, eq);
          const v = pair.slice(eq + 1);
          if (!v || v.includes('${')) return pair;
          let decodedKey = k;
          try {
            decodedKey = decodeURIComponent(k);
          } catch {
            // A malformed escape is still a name to test as written.
          }
          return SECRET_NAME.test(decodedKey) || looksLikeSecret(v) ? `${k}=${ref(r, `${r.prefix}_${envName(decodedKey)}`, v)}` : pair;
        })
        .join('&')
    : '';
  return normaliseRefs(`${scheme}${user}${host}${newPath}${newQuery}${fragment}`);
}

function redactHeaderArg(r: Redactor, text: string): string {
  const colon = text.indexOf(':');
  if (colon <= 0) return looksLikeSecret(text) ? ref(r, `${r.prefix}_TOKEN`, text) : normaliseRefs(text);
  const name = text.slice(0, colon).trim();
  const after = text.slice(colon + 1);
  const lead = /^\s*/.exec(after)![0];
  return `${text.slice(0, colon)}:${lead}${redactHeader(r, name, after.slice(lead.length))}`;
}

/**
 * Arguments are not named secrets the way env and headers are, but servers are often given a token
 * on the command line (`--api-key X`, `mcp-remote URL --header "Authorization: Bearer X"`, a
 * connection string with a password): those values are replaced as well.
 */
function redactArgs(r: Redactor, args: string[]): string[] {
  const out: string[] = [];
  let pending: 'header' | { flag: string } | undefined;
  for (const a of args) {
    if (pending === 'header') {
      out.push(redactHeaderArg(r, a));
      pending = undefined;
      continue;
    }
    if (pending) {
      const flag = pending.flag;
      pending = undefined;
      if (!a.startsWith('-')) {
        out.push(a === '' || isReferenceOnly(a) ? normaliseRefs(a) : ref(r, `${r.prefix}_${envName(flag)}`, a));
        continue;
      }
    }
    const withValue = /^(--?[A-Za-z][\w-]*)=([\s\S]*)$/.exec(a);
    if (withValue) {
      const flag = withValue[1]!;
      const value = withValue[2]!;
      if (/^(?:--header|-H)$/.test(flag)) out.push(`${flag}=${redactHeaderArg(r, value)}`);
      else if (isSecretFlag(flag) && value !== '' && !isReferenceOnly(value)) out.push(`${flag}=${ref(r, `${r.prefix}_${envName(flag)}`, value)}`);
      else out.push(redactPositional(r, a));
      continue;
    }
    if (/^--?[A-Za-z][\w-]*$/.test(a)) {
      if (/^(?:--header|-H)$/.test(a)) pending = 'header';
      else if (isSecretFlag(a)) pending = { flag: a };
      out.push(a);
      continue;
    }
    out.push(redactPositional(r, a));
  }
  return out;
}

function redactPositional(r: Redactor, a: string): string {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(a)) return redactUrl(r, a);
  // `docker run -e NAME=value`: the variable keeps its own name, as in an env block.
  const assign = /^([A-Za-z_][A-Za-z0-9_]*)=([\s\S]+)$/.exec(a);
  if (assign && !isReferenceOnly(assign[2]!) && (SECRET_NAME.test(assign[1]!) || looksLikeSecret(assign[2]!))) {
    r.replaced.add(r.vars.own(assign[1]!, assign[2]!));
    return `${assign[1]}=\${env:${assign[1]}}`;
  }
  if (!a.includes('${') && (TOKEN_PREFIX.test(a) || (AUTH_SCHEME.test(a) && a.trim().split(/\s+/).length === 2))) return ref(r, `${r.prefix}_TOKEN`, a);
  return normaliseRefs(a);
}

// ---------------------------------------------------------------------------------------------
// Discovery.

/** A name the schema accepts: anything else becomes `-`. */
export function sanitiseName(name: string): string {
  const s = name
    .trim()
    .replace(/[^A-Za-z0-9._:/-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^-+|-+$/g, '');
  return s || 'server';
}

/**
 * A duplicate's credentials and settings the kept entry lacks are added to it: the same server
 * written twice often carries its token in only one client's file, and dropping it would probe the
 * server without it. A duplicate that sets one differently is another configuration of that command
 * or URL (another account, tenant or host): nothing of it is added, or one entry's token would go out
 * with the other's settings, and a note names what differs. Header names compare without case, as
 * HTTP does, so a second spelling of a header is not sent beside the kept one.
 */
function fillIn(kept: MappedServer, dup: MappedServer): string[] {
  const sets = [
    ['header', kept.headers, dup.headers, (k: string) => k.toLowerCase()],
    ['env', kept.env, dup.env, (k: string) => k],
  ] as const;
  const differs: string[] = [];
  const adds: Array<[Record<string, string>, string, string, string]> = [];
  for (const [what, mine, theirs, norm] of sets) {
    const own = new Map(Object.entries(mine).map(([k, v]) => [norm(k), v]));
    for (const [k, v] of Object.entries(theirs)) {
      const have = own.get(norm(k));
      if (have === undefined) adds.push([mine, k, v, `${what} ${k}`]);
      else if (have !== v) differs.push(`${what} ${k}`);
    }
  }
  if (dup.oauth && kept.oauth && JSON.stringify(dup.oauth) !== JSON.stringify(kept.oauth)) differs.push('OAuth settings');
  if (differs.length) return [`the same server as one kept from another file, configured differently (${differs.join(', ')} ${differs.length > 1 ? 'differ' : 'differs'}): nothing of it is added to the kept one`];
  const said: string[] = [];
  for (const [into, k, v, what] of adds) {
    into[k] = v;
    said.push(`the same server as one kept from another file: its ${what} is added to it`);
  }
  if (dup.oauth && !kept.oauth) {
    kept.oauth = dup.oauth;
    said.push('the same server as one kept from another file: its OAuth settings are added to it');
  }
  return said;
}

function dedupKey(s: MappedServer): string {
  if (s.transport === 'stdio') return JSON.stringify(['stdio', s.command, ...s.args]);
  let url = s.url!;
  try {
    url = new URL(url).href;
  } catch {
    // Compared as written when it does not parse.
  }
  return JSON.stringify(['url', url.replace(/\/+$/, '')]);
}

/** Every `${env:NAME}` / `${NAME}` in the values, mapped to a value that satisfies the schema. */
export function placeholderEnv(servers: ReadonlyArray<Pick<DiscoveredServer, 'url' | 'command' | 'args' | 'env' | 'headers' | 'cwd' | 'auth'>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const s of servers) {
    const values = [s.command ?? '', s.cwd ?? '', ...s.args, ...Object.values(s.env), ...Object.values(s.headers), s.auth?.client_id ?? '', s.auth?.client_secret ?? ''];
    for (const v of values) for (const m of v.matchAll(REF_G)) env[m[1]!] ??= 'placeholder';
    // A reference at the very start of a URL stands for its scheme and host.
    const lead = s.url ? /^\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)/.exec(s.url) : null;
    if (lead) env[lead[1]!] = 'http://placeholder.invalid';
    for (const m of (s.url ?? '').matchAll(REF_G)) env[m[1]!] ??= 'placeholder';
  }
  return env;
}

/** Checks one mapped entry against the real schema so a bad entry is reported, not written. */
function schemaProblem(s: MappedServer): string | undefined {
  // The client's OAuth settings become a stub of a fixed, valid shape later.
  const { oauth: _oauth, ...fields } = s;
  const candidate = { name: 'candidate', ...fields };
  const issues: ConfigIssue[] = [];
  const expanded = expandEnv({ servers: [candidate] }, [], placeholderEnv([candidate]), issues, () => undefined);
  const parsed = configSchema.safeParse(expanded);
  if (parsed.success) return undefined;
  return parsed.error.issues.map((i) => `${formatPath(i.path.slice(2)) || 'entry'}: ${i.message}`).join('; ');
}

function readSource(src: ConfigSource, problems: DiscoveryProblem[]): { exists: boolean; doc?: Record<string, unknown> } {
  let text: string;
  try {
    text = readFileSync(src.file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { exists: false };
    const why = code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    problems.push({ file: src.file, client: src.client, reason: `cannot read: ${why}` });
    return { exists: true };
  }
  if (text.trim() === '') return { exists: true };
  let doc: unknown;
  try {
    doc = parseJsonText(text, src.jsonc);
  } catch (err) {
    problems.push({ file: src.file, client: src.client, reason: `invalid JSON: ${(err as Error).message}` });
    return { exists: true };
  }
  if (!isObject(doc)) {
    problems.push({ file: src.file, client: src.client, reason: `expected a JSON object at the top level, got ${Array.isArray(doc) ? 'an array' : typeof doc}` });
    return { exists: true };
  }
  return { exists: true, doc };
}

/** Finds the MCP servers configured in every known client, mapped, de-duplicated and with secrets replaced. */
export function discoverServers(ctx: DiscoverContext): DiscoveryResult {
  const problems: DiscoveryProblem[] = [];
  const notes: DiscoveryNote[] = [];
  const checked: DiscoveryResult['checked'] = [];
  const found: Array<{ mapped: MappedServer; source: SourceRef; duplicates: SourceRef[] }> = [];
  const byKey = new Map<string, number>();
  const seenFiles = new Set<string>();

  for (const src of configSources(ctx)) {
    // With cwd = home, project and user files are the same file; read it once.
    const id = resolve(src.file);
    if (seenFiles.has(id)) continue;
    seenFiles.add(id);
    const { exists, doc } = readSource(src, problems);
    checked.push({ file: src.file, label: src.label, exists });
    if (!doc) continue;
    for (const section of src.sections(doc)) {
      if (section.value === null || section.value === undefined) continue;
      if (!isObject(section.value)) {
        problems.push({ file: src.file, client: src.client, reason: `${section.where} must be an object mapping server names to settings` });
        continue;
      }
      for (const [serverKey, entry] of Object.entries(section.value)) {
        const outcome = mapEntry(entry, src.dialect, ctx);
        if (outcome.kind === 'skip') {
          notes.push({ file: src.file, client: src.client, server: serverKey, message: `skipped: ${outcome.reason}` });
          continue;
        }
        const reason = outcome.kind === 'problem' ? outcome.reason : schemaProblem(outcome.server);
        if (outcome.kind === 'problem' || reason) {
          problems.push({ file: src.file, client: src.client, server: serverKey, reason: reason! });
          continue;
        }
        for (const message of outcome.notes) notes.push({ file: src.file, client: src.client, server: serverKey, message });
        const source: SourceRef = { client: src.client, label: src.label, file: src.file, where: section.where, key: serverKey };
        const k = dedupKey(outcome.server);
        const first = byKey.get(k);
        if (first !== undefined) {
          found[first]!.duplicates.push(source);
          for (const message of fillIn(found[first]!.mapped, outcome.server)) notes.push({ file: src.file, client: src.client, server: serverKey, message });
          continue;
        }
        byKey.set(k, found.length);
        found.push({ mapped: outcome.server, source, duplicates: [] });
      }
    }
  }

  const taken = new Set<string>();
  const vars = new VarRegistry();
  const required = new Map<string, RequiredEnvVar>();
  const servers: DiscoveredServer[] = [];
  for (const f of found) {
    const base = sanitiseName(f.source.key);
    let name = base;
    for (let i = 2; taken.has(name); i++) name = `${base}-${i}`;
    taken.add(name);
    const r: Redactor = { prefix: envName(name), vars, replaced: new Set() };
    const m = f.mapped;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(m.env)) {
      if (v === '') env[k] = '';
      else if (isReferenceOnly(v)) env[k] = normaliseRefs(v);
      else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
        r.replaced.add(vars.own(k, v));
        env[k] = `\${env:${k}}`;
      } else env[k] = ref(r, `${r.prefix}_${envName(k)}`, v);
    }
    const server: DiscoveredServer = {
      name,
      transport: m.transport,
      args: redactArgs(r, m.args),
      env,
      headers: Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k, redactHeader(r, k, v)])),
      source: f.source,
      duplicates: f.duplicates,
    };
    if (m.command !== undefined) server.command = normaliseRefs(m.command);
    if (m.cwd !== undefined) server.cwd = normaliseRefs(m.cwd);
    if (m.url !== undefined) server.url = redactUrl(r, m.url);
    if (m.oauth) {
      server.auth = authStub(r, m.oauth);
      notes.push({
        file: f.source.file,
        client: f.source.client,
        server: f.source.key,
        message: `signs in with OAuth: written as auth: oauth2_client_credentials; the client's own sign-in is interactive, so register a client for mcpwatch that may use the client_credentials grant and set ${/\$\{env:(\w+)\}/.exec(server.auth.client_secret)![1]} to its secret (docs/oauth.md)`,
      });
    }
    servers.push(server);

    const uses: Array<[string, string]> = [
      ['command', server.command ?? ''],
      ['cwd', server.cwd ?? ''],
      ['url', server.url ?? ''],
      ...server.args.map((a, i): [string, string] => [`args[${i}]`, a]),
      ...Object.entries(server.env).map(([k, v]): [string, string] => [`env ${k}`, v]),
      ...Object.entries(server.headers).map(([k, v]): [string, string] => [`header ${k}`, v]),
      ...(server.auth ? ([['auth client_id', server.auth.client_id], ['auth client_secret', server.auth.client_secret]] as Array<[string, string]>) : []),
    ];
    for (const [where, value] of uses) {
      for (const match of value.matchAll(REF_G)) {
        if (match[2] !== undefined) continue;
        const varName = match[1]!;
        const entry = required.get(varName) ?? { name: varName, usedBy: [], replacedLiteral: false };
        entry.usedBy.push(`${name}: ${where}`);
        if (r.replaced.has(varName)) entry.replacedLiteral = true;
        required.set(varName, entry);
      }
    }
  }
  for (const name of vars.conflicts) {
    const users = [...new Set(required.get(name)?.usedBy.map((u) => u.slice(0, u.indexOf(': '))) ?? [])].join(', ');
    notes.push({
      message: `${name} held different values in different servers (${users}); one variable cannot hold both: rename it in mcpwatch.yaml for one of them`,
    });
  }
  return {
    servers,
    problems,
    notes,
    envVars: [...required.values()].sort((a, b) => a.name.localeCompare(b.name)),
    checked,
  };
}
