// cli/ owns the commands: parsing arguments and printing. One file per command. It calls into
// config/, discovery/, probe/, pipeline/ and export/ but holds no monitoring logic of its own; only
// main.ts exits.
import { existsSync } from 'node:fs';
import pc from 'picocolors';
import { ConfigError, configCandidates, findConfigFile, formatIssue, loadConfigFile, type LoadedConfig, type ParseOptions } from '../config/load.js';

export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_USAGE = 2;

/** An error that ends the command with a message and an exit code, raised instead of exiting. */
export class CliExit extends Error {
  constructor(
    readonly code: number,
    message = '',
  ) {
    super(message);
  }
}

/**
 * Loads the configuration; a ConfigError ends the command (exit 2). Its warnings go to stderr unless
 * `printWarnings` is false (`run` logs them as JSON instead, with the rest of its log).
 */
export function loadConfigOrExit(explicit: string | undefined, { printWarnings = true, ...parse }: { printWarnings?: boolean } & ParseOptions = {}): LoadedConfig {
  const file = findConfigFile(explicit);
  // Without -c, "mcpwatch.yaml: file not found" named neither where mcpwatch looked nor what to do.
  if (explicit === undefined && !existsSync(file)) {
    throw new CliExit(EXIT_USAGE, `no configuration file: looked for ${configCandidates().join(' and ')}; name one with -c FILE, or write one with \`mcpwatch init\``);
  }
  let loaded: LoadedConfig;
  try {
    loaded = loadConfigFile(file, process.env, parse);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(EXIT_USAGE, err.message);
    throw err;
  }
  if (printWarnings) for (const w of loaded.warnings ?? []) process.stderr.write(`warning: ${formatIssue(file, w)}\n`);
  return loaded;
}

/** Colours only for a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colorsFor(stream: NodeJS.WriteStream): ReturnType<typeof pc.createColors> {
  const forced = process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0';
  const enabled = forced || (Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb');
  return pc.createColors(enabled);
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
