// The files a configuration names (TLS certificates, keys and CAs, a private_key_jwt key, a bearer
// token_file, a stdio server's working directory, the state file's place), looked at when the configuration is loaded from disk. Found only when a probe or an
// exporter first read them, an unreadable one was a `tls` failure of the server at its probe, with
// no line of the file, and `mcpwatch validate` called the file ok.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';

type PathSeg = string | number;

/** Keys whose value is a PEM file, wherever they appear (servers, alerts, exporters, receivers). */
const PEM_KEYS = new Set(['ca_file', 'cert_file', 'key_file', 'client_ca_file', 'private_key_file']);

/**
 * A bearer token file: read again whenever it changes (a sidecar may write it after the agent starts),
 * so its absence now is a warning, not an error.
 */
const TOKEN_KEYS = new Set(['token_file']);

export interface FileProblem {
  path: PathSeg[];
  /** As written in the configuration. */
  file: string;
  message: string;
  /** The file may yet appear before it is needed: said, but the configuration stands. */
  warning: boolean;
  /** What it means for a server that is still probed (health, run): by default, that it fails until the file is there. */
  consequence?: string;
}

/**
 * Every named file that cannot be used, by the path of its key, in document order. `written` is the
 * document before `${env:…}` references were expanded: a message shows a value as written there, as
 * what a variable holds may be a credential.
 */
export function fileProblems(value: unknown, cwd: string = process.cwd(), written: unknown = value): FileProblem[] {
  const out: FileProblem[] = [];
  const walk = (v: unknown, path: PathSeg[]): void => {
    if (Array.isArray(v)) v.forEach((item, i) => walk(item, [...path, i]));
    else if (v && typeof v === 'object') {
      const plain = path.length === 2 && path[0] === 'exporters' && path[1] === 'otlp' ? plainTextExport(v) : undefined;
      for (const [key, child] of Object.entries(v)) {
        if (plain && key === 'tls' && child && typeof child === 'object') {
          for (const [k, file] of Object.entries(child)) {
            if (PEM_KEYS.has(k) && typeof file === 'string' && file !== '') {
              out.push({ path: [...path, key, k], file, message: `not read: ${plain}, so no certificate file is used (remove ${k}, or make the connection TLS)`, warning: true });
            }
          }
          continue;
        }
        if (key === 'path' && path.length === 1 && path[0] === 'state' && typeof child === 'string' && child !== '') {
          // Found only when the agent opened it, this was an ENOTDIR after validate said ok.
          const message = notExpanded(child) ?? unusableStatePath(child, cwd);
          if (message) out.push({ path: [...path, key], file: child, message, warning: false });
          continue;
        }
        if (key === 'command' && path.length === 2 && path[0] === 'servers' && typeof child === 'string') {
          const { transport, env } = v as { transport?: unknown; env?: unknown };
          const searched = env && typeof env === 'object' && typeof (env as { PATH?: unknown }).PATH === 'string' ? (env as { PATH: string }).PATH : (process.env.PATH ?? '');
          const as = valueAt(written, [...path, key]);
          const tilde = transport === 'stdio' ? notExpanded(child) : undefined;
          const message = tilde ?? (transport === 'stdio' ? commandWithArguments(child, typeof as === 'string' ? as : child, searched, Array.isArray((v as { args?: unknown }).args) && (v as { args: unknown[] }).args.length > 0) : undefined);
          if (message) out.push({ path: [...path, key], file: child, message, warning: false, consequence: tilde ? 'this server cannot start (spawn_failed) until the path is written out' : 'this server cannot start (spawn_failed) until it is split' });
          continue;
        }
        if (key === 'cwd' && path[0] === 'servers' && typeof child === 'string' && child !== '') {
          // Found only at the spawn, a missing one failed the server there while validate said ok.
          const message = notExpanded(child) ?? notADirectory(child, cwd);
          if (message) out.push({ path: [...path, key], file: child, message, warning: false });
          continue;
        }
        const pem = PEM_KEYS.has(key);
        if ((pem || TOKEN_KEYS.has(key)) && typeof child === 'string' && child !== '') {
          const tilde = notExpanded(child);
          const message = tilde ?? problem(child, pem, cwd);
          // The token is read again at each probe: until the file is there, they fail as auth_unavailable.
          // A `~` path is never there, however long it is waited for.
          if (message) out.push({ path: [...path, key], file: child, message: pem || tilde ? message : `${message}: probes fail as auth_unavailable until it holds the token`, warning: !pem && !tilde });
        } else walk(child, [...path, key]);
      }
    }
  };
  walk(value, []);
  return out;
}

/**
 * Why `exporters.otlp` connects in plain text, which leaves its `tls` files unread (export/ and
 * wire/tls.ts decide so: gRPC is plain text for an http:// endpoint or `tls.insecure`; over
 * http/protobuf the scheme alone decides); undefined when it uses TLS. A file that is never read is
 * no reason to refuse start-up, but a setting that does nothing is said.
 */
function plainTextExport(otlp: object): string | undefined {
  const { endpoint, protocol, tls } = otlp as { endpoint?: unknown; protocol?: unknown; tls?: unknown };
  if (typeof endpoint !== 'string') return undefined;
  const httpScheme = /^http:/i.test(endpoint.trim());
  if (protocol === 'http/protobuf') return /^https:/i.test(endpoint.trim()) ? undefined : 'the endpoint is not https://, so exports are plain text';
  if (httpScheme) return 'the endpoint is http://, so the gRPC connection is plain text';
  const insecure = (tls as { insecure?: unknown } | null | undefined)?.insecure;
  return insecure === true ? 'tls.insecure: true makes the gRPC connection plain text' : undefined;
}

const WHY: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', ENOTDIR: 'a directory on its path is a file', ELOOP: 'too many symbolic links' };

/**
 * A path that starts with `~`, as a shell line or a client's README writes it: nothing expands it
 * here (no shell reads the file, and spawn does not), so it named a directory called `~` under the
 * working directory: a state file made there, a server that could not start.
 */
function notExpanded(file: string): string | undefined {
  if (!/^~(?:\/|$)/.test(file)) return undefined;
  return `${file}: ~ is not expanded (no shell reads this file): write the full path, or \${env:HOME}${file.slice(1)}`;
}

/** A relative path is the usual surprise: it is taken from where mcpwatch runs, not from the file. */
function shownPath(file: string, cwd: string): string {
  return isAbsolute(file) ? file : `${file} (${resolve(cwd, file)}: a relative path is taken from the directory mcpwatch runs in)`;
}

function notADirectory(dir: string, cwd: string): string | undefined {
  const shown = shownPath(dir, cwd);
  try {
    if (!statSync(dir).isDirectory()) return `working directory ${shown} is not a directory`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    return `working directory ${shown} ${code === 'ENOENT' ? 'does not exist' : `cannot be used: ${WHY[code] ?? (code || (err as Error).message)}`}`;
  }
  return undefined;
}

/**
 * Why the state file cannot be made where `state.path` says: the path is a directory, or one of the
 * directories it goes through is a file. A directory still missing is not a problem: the agent makes it.
 */
function unusableStatePath(file: string, cwd: string): string | undefined {
  const shown = shownPath(file, cwd);
  const full = resolve(cwd, file);
  if (kindOf(full) === 'directory') return `${shown} is a directory: name the state file in it (e.g. ${join(full, 'state.db')})`;
  for (let d = dirname(full); ; d = dirname(d)) {
    const found = kindOf(d);
    if (found === 'directory') return undefined;
    if (found === 'other') return `${shown} cannot be made: ${d}, on its path, is a file, not a directory`;
    if (dirname(d) === d) return undefined;
  }
}

/**
 * A stdio command written with its arguments (`npx -y @scope/server`, as a shell line or a client's
 * README has it): run without a shell, it is one executable of that whole name, which does not
 * exist, and the spawn failed as "command not found" naming the line the user can run. Said only
 * when the whole is no executable and its first word is one, so a path with spaces stands.
 */
function commandWithArguments(command: string, written: string, searched: string, hasArgs: boolean): string | undefined {
  const words = splitCommand(command, searched);
  if (!words) return undefined;
  // A reference among the words (`--api-key ${env:KEY}`) is where a credential goes: the split is
  // shown in the file's words, which is also what to write; a line that one reference holds whole is not shown.
  const shown = written === command ? words : shellWords(written);
  const none = 'is run as one executable, without a shell, and there is none by that name';
  if (!shown || shown.length < 2) return `what ${written} holds ${none}: give the executable in command and its arguments apart in args`;
  const args = `[${shown.slice(1).map((w) => JSON.stringify(w)).join(', ')}${hasArgs ? ', …the args it has' : ''}]`;
  return `${JSON.stringify(written)} ${none}: give the arguments apart (command: ${shown[0]}, args: ${args})`;
}

/** The value at `path` in a parsed document, undefined where the path leads nowhere. */
export function valueAt(root: unknown, path: readonly PathSeg[]): unknown {
  let v = root;
  for (const seg of path) v = v && typeof v === 'object' ? (v as Record<PathSeg, unknown>)[seg] : undefined;
  return v;
}

/**
 * `command` as executable and arguments when it is a command line rather than an executable's name
 * (commandWithArguments' rule); undefined otherwise. `installedHere: false` drops the rule's second
 * half, for a line copied from a client whose runner this machine may not have (`init`).
 */
export function splitCommand(command: string, searched: string, installedHere = true): string[] | undefined {
  const words = shellWords(command);
  if (!words || words.length < 2 || findExecutable(command, searched) || (installedHere && !findExecutable(words[0]!, searched))) return undefined;
  return words;
}

/**
 * The words a POSIX shell makes of `line` with its quotes ('…', "…") and backslashes, nothing
 * expanded; undefined for a quote left open.
 */
function shellWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'" || c === '"') {
      let end = i + 1;
      // Inside "…" a backslash escapes the quote; inside '…' nothing is escaped.
      while (end < line.length && line[end] !== c) end += c === '"' && line[end] === '\\' ? 2 : 1;
      if (end >= line.length) return undefined;
      const quoted = line.slice(i + 1, end);
      word = (word ?? '') + (c === '"' ? quoted.replace(/\\(["\\$`])/g, '$1') : quoted);
      i = end;
    } else if (c === '\\' && i + 1 < line.length) word = (word ?? '') + line[++i];
    else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Whether `command` names an executable file, as spawn would find it: a path as it is, a bare name on `searched` (PATH). */
function findExecutable(command: string, searched: string): boolean {
  const candidates = command.includes('/') ? [command] : searched.split(delimiter).filter(Boolean).map((dir) => join(dir, command));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return statSync(file).isFile();
    } catch {
      return false;
    }
  });
}

function kindOf(path: string): 'directory' | 'other' | undefined {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'other';
  } catch {
    // Missing (or not reachable): the agent makes missing directories, and says what stops it then.
    return undefined;
  }
}

function problem(file: string, pem: boolean, cwd: string): string | undefined {
  const shown = shownPath(file, cwd);
  let text: Buffer;
  try {
    // Only a regular file is read: a FIFO or a device named by mistake would block or never end.
    const st = statSync(file);
    if (st.isDirectory()) return `${shown} is a directory: name the file in it`;
    if (!st.isFile()) return `${shown} is not a regular file`;
    text = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    return `cannot read ${shown}: ${WHY[code] ?? (code || (err as Error).message)}`;
  }
  if (pem && !text.includes('-----BEGIN ')) return `${shown} is not a PEM file (no -----BEGIN line): mcpwatch reads certificates and keys in PEM form (openssl converts a DER file)`;
  if (!pem && text.toString('utf8').trim() === '') return `${shown} is empty`;
  return undefined;
}
