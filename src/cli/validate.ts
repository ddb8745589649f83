import type { Command } from 'commander';
import { basename } from 'node:path';
import { loadConfigOrExit } from './common.js';
import { ownServers } from '../pipeline/shard.js';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('check a configuration file and print a summary or every error')
    .option('-c, --config <file>', 'configuration file (default ./mcpwatch.yaml, then $XDG_CONFIG_HOME/mcpwatch/mcpwatch.yaml)')
    .action((opts: { config?: string }) => {
      const { file, config } = loadConfigOrExit(opts.config);
      const by = new Map<string, number>();
      for (const s of config.servers) by.set(s.transport, (by.get(s.transport) ?? 0) + 1);
      const parts = [...by].map(([t, n]) => `${n} ${t}`).join(', ');
      const checks = config.servers.reduce((n, s) => n + s.checks.length, 0);
      const withChecks = checks ? `, ${checks} check${checks === 1 ? '' : 's'}` : '';
      const s = config.sharding;
      // Every shard's count, not only this one's: hashing spreads names evenly only over many servers.
      const counts = s ? Array.from({ length: s.shards }, (_, shard) => ownServers(config.servers, { shards: s.shards, shard }).length) : [];
      const shard = s ? `; shard ${s.shard} of ${s.shards} (replica ${s.replica}) probes ${counts[s.shard]}${s.shards > 1 ? ` (by shard: ${counts.join(', ')})` : ''}` : '';
      const empty = counts.flatMap((n, i) => (n === 0 ? [i] : []));
      if (empty.length && config.servers.length) process.stderr.write(`warning: ${basename(file)}: sharding: shard${empty.length === 1 ? '' : 's'} ${empty.join(', ')} of ${s!.shards} probe${empty.length === 1 ? 's' : ''} none of the ${config.servers.length} servers: their agents would watch nothing\n`);
      process.stdout.write(`${basename(file)}: ok, ${config.servers.length} server${config.servers.length === 1 ? '' : 's'}${parts ? ` (${parts})` : ''}${withChecks}${shard}\n`);
    });
}
