// wire/version.ts: mcpwatch's own version, as it introduces itself (User-Agent, MCP clientInfo,
// service.version, `--version`). Read once from package.json, the one place a release changes it.
// The compiled file is dist/src/wire/version.js, so the package root is three levels up; the image
// copies package.json to /app beside dist/ for this reason.
import { readFileSync } from 'node:fs';

function readVersion(): string {
  const file = new URL('../../../package.json', import.meta.url);
  let pkg: unknown;
  try {
    pkg = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`mcpwatch cannot read its version from ${file.pathname}: ${(err as Error).message}`);
  }
  const version = (pkg as { version?: unknown } | null)?.version;
  if (typeof version !== 'string' || version === '') throw new Error(`mcpwatch cannot read its version: ${file.pathname} has no "version"`);
  return version;
}

export const VERSION = readVersion();
