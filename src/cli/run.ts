import type { Command } from 'commander';
import type { Agent } from '../agent/agent.js';
import { ConfigError, loadConfigFile } from '../config/load.js';
import { CliExit, EXIT_USAGE, loadConfigOrExit } from './common.js';

/** SIGTERM must end the agent within this, even if a backend or a child will not let go. */
const SHUTDOWN_BUDGET_MS = 5000;

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the monitoring agent: probe continuously, export metrics, send alerts')
    .option('-c, --config <file>', 'configuration file (default ./mcpwatch.yaml, then $XDG_CONFIG_HOME/mcpwatch/mcpwatch.yaml)')
    .action(async (opts: { config?: string }) => {
      const loaded = loadConfigOrExit(opts.config);
      // Loaded here, not at the top: the agent pulls in OpenTelemetry, gRPC and SQLite, which the
      // other commands (health, validate, init) never need — about 35 MiB and 200 ms at start-up.
      const { Agent } = await import('../agent/agent.js');
      const { StateError } = await import('../store/state.js');
      let agent: Agent;
      try {
        agent = new Agent(loaded);
      } catch (err) {
        if (err instanceof StateError) throw new CliExit(EXIT_USAGE, `mcpwatch: ${err.message}`);
        throw err;
      }
      try {
        await agent.start();
      } catch (err) {
        throw new CliExit(EXIT_USAGE, `mcpwatch: ${(err as Error).message}`);
      }
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals): void => {
          agent.log.info({ signal }, 'shutting down');
          const force = setTimeout(() => {
            agent.log.error(`shutdown took longer than ${SHUTDOWN_BUDGET_MS}ms; exiting anyway`);
            resolve();
          }, SHUTDOWN_BUDGET_MS);
          force.unref();
          void agent.stop().finally(() => {
            clearTimeout(force);
            resolve();
          });
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
        process.on('SIGHUP', () => {
          const failed = (err: unknown): void => {
            const message = err instanceof ConfigError ? err.message : (err as Error).message;
            agent.log.error({ config: loaded.file, errors: message.split('\n') }, 'reload failed: keeping the previous configuration');
          };
          try {
            agent.reload(loadConfigFile(loaded.file)).catch(failed);
          } catch (err) {
            failed(err);
          }
        });
      });
    });
}
