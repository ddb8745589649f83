// config/stdio-name.ts names a stdio server given only its command line (`health --stdio -- …`):
// after the package a runner fetches (npx, uvx, pnpm dlx, bunx, pipx run) or the script an
// interpreter runs (node, python, deno, bun), else after the command. Every row was called `npx`.
import { basename } from 'node:path';
import { sanitiseName } from '../discovery/clients.js';

const RUNNERS = new Set(['npx', 'uvx', 'bunx', 'pnpx']);
const SUBCOMMAND_RUNNERS: Record<string, string> = { pnpm: 'dlx', yarn: 'dlx', pipx: 'run', uv: 'run', npm: 'exec' };
const INTERPRETERS = /^(node|nodejs|python[0-9.]*|deno|bun|ruby|php|java|tsx|ts-node)$/;
/** Flags of runners and interpreters that take a value, so the value is not taken for the package. */
const FLAGS_WITH_VALUE = new Set(['-p', '--package', '--from', '--with', '-r', '--require', '--import', '--loader', '-m']);

/** `@scope/name@1.2` → `name`; `mcp-server-fetch==1.0` → `mcp-server-fetch`. */
function packageName(spec: string): string {
  const noVersion = spec.replace(/^(@[^/]+\/)?([^@=<>~ ]+).*$/, '$1$2');
  return noVersion.split('/').pop() ?? noVersion;
}

function firstOperand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') return args[i + 1];
    if (a.startsWith('-')) {
      if (FLAGS_WITH_VALUE.has(a)) i++;
      continue;
    }
    return a;
  }
  return undefined;
}

export function stdioServerName(command: readonly string[]): string {
  const [cmd, ...args] = command;
  if (!cmd) return 'stdio';
  const exe = basename(cmd).replace(/\.(exe|cmd)$/i, '');
  let pick: string | undefined;
  if (RUNNERS.has(exe)) {
    const spec = firstOperand(args);
    if (spec) pick = packageName(spec);
  } else if (SUBCOMMAND_RUNNERS[exe] && args[0] === SUBCOMMAND_RUNNERS[exe]) {
    const spec = firstOperand(args.slice(1));
    if (spec) pick = packageName(spec);
  } else if (INTERPRETERS.test(exe)) {
    if (args[0] === '-m' && args[1]) pick = args[1];
    else {
      const script = firstOperand(args);
      if (script) pick = basename(script).replace(/\.(m?[jt]s|c?js|py|rb|php)$/i, '');
    }
  }
  return sanitiseName(pick ?? exe);
}
