// cli/ owns the commands: parsing arguments and printing. One file per command. It calls into
// config/, discovery/, probe/, pipeline/ and export/ but holds no monitoring logic of its own; only
// main.ts exits.
import pc from 'picocolors';
import { ConfigError, findConfigFile, loadConfigFile, type LoadedConfig } from '../config/load.js';

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

export function loadConfigOrExit(explicit: string | undefined): LoadedConfig {
  const file = findConfigFile(explicit);
  try {
    return loadConfigFile(file);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(EXIT_USAGE, err.message);
    throw err;
  }
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
