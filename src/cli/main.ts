#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { VERSION } from '../wire/version.js';
import { CliExit, EXIT_USAGE } from './common.js';
import { registerHealth } from './health.js';
import { registerValidate } from './validate.js';
import { registerRun } from './run.js';
import { registerInit } from './init.js';
import { registerScorecard } from './scorecard.js';

function buildProgram(): Command {
  const program = new Command('mcpwatch')
    .description('Monitoring for MCP servers: synthetic probes, tool-call metrics from OTLP traffic, alerts.')
    .version(VERSION)
    .exitOverride()
    .showHelpAfterError('(run mcpwatch help for usage)');
  registerHealth(program);
  registerRun(program);
  registerValidate(program);
  registerInit(program);
  registerScorecard(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (err) {
    if (err instanceof CliExit) {
      if (err.message) process.stderr.write(err.message.endsWith('\n') ? err.message : err.message + '\n');
      return err.code;
    }
    if (err instanceof CommanderError) {
      // Help and --version are successful exits; everything else commander rejects is usage.
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    process.stderr.write(`mcpwatch: internal error: ${(err as Error).stack ?? String(err)}\n`);
    return 70;
  }
}

const code = await main(process.argv.slice(2));
// Exit explicitly: pooled keep-alive sockets must not hold a finished command open. stdout and
// stderr are synchronous for files and pipes on Linux, so nothing printed is lost.
process.exit(code);
