import type { Command } from 'commander';
import type { Agent } from '../agent/agent.js';
import { ConfigError, formatIssue, reloadIssues, settingLine, type LoadedConfig } from '../config/load.js';
import { loadConfigOffThread } from '../config/off-thread.js';
import { CliExit, EXIT_USAGE, loadConfigOrExit } from './common.js';

/** SIGTERM must end the agent within this, even if a backend or a child will not let go. */
const SHUTDOWN_BUDGET_MS = 5000;

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run the monitoring agent: probe continuously, export metrics, send alerts')
    .option('-c, --config <file>', 'configuration file (default ./mcpwatch.yaml, then $XDG_CONFIG_HOME/mcpwatch/mcpwatch.yaml)')
    .action(async (opts: { config?: string }) => {
      const loaded = loadConfigOrExit(opts.config, { printWarnings: false, isolateServerEnv: true });
      // Loaded here, not at the top: the agent pulls in OpenTelemetry, gRPC and SQLite, which the
      // other commands (health, validate, init) never need — about 35 MiB and 200 ms at start-up.
      const { Agent } = await import('../agent/agent.js');
      const { StateError } = await import('../store/state.js');
      let agent: Agent;
      try {
        agent = new Agent(loaded);
      } catch (err) {
        // Located as a configuration error is: the setting to change is state.path, in this file.
        if (err instanceof StateError) throw new CliExit(EXIT_USAGE, `mcpwatch: ${formatIssue(loaded.file, { path: 'state.path', line: settingLine(loaded.text, ['state', 'path']), message: err.message })}`);
        throw err;
      }
      const warn = (l: LoadedConfig): void => {
        for (const w of l.warnings ?? []) agent.log.warn({ config: l.file, line: w.line, key: w.path }, `configuration: ${w.path}: ${w.message}`);
      };
      warn(loaded);
      // Signals are handled from here on, not only once the agent has started: a SIGHUP's default
      // action ends the process, and a SIGTERM's would leave stdio servers started so far running.
      // Whatever arrives during start-up is acted on as soon as it is done.
      let started = false;
      let pendingReload = false;
      let stopRequested: NodeJS.Signals | undefined;
      let stopNow: ((signal: NodeJS.Signals) => void) | undefined;
      let stopping = false;
      let current: LoadedConfig = loaded;
      // One reload at a time, in the order the signals came: each parses on a worker thread.
      let reloading = Promise.resolve();
      const reload = (): void => {
        if (stopping) return; // the agent is closing its store and notifiers
        if (!started) {
          pendingReload = true;
          return;
        }
        const failed = (err: unknown): void => {
          const message = err instanceof ConfigError ? err.message : (err as Error).message;
          agent.log.error({ config: loaded.file, errors: message.split('\n') }, 'reload failed: keeping the previous configuration');
        };
        reloading = reloading.then(async () => {
          try {
            const next = await loadConfigOffThread(loaded.file, process.env, { isolateServerEnv: true });
            if (stopping) return;
            warn(next);
            const refused = reloadIssues(current, next);
            if (refused.length > 0) throw new ConfigError(next.file, refused);
            await agent.reload(next);
            current = next;
          } catch (err) {
            failed(err);
          }
        });
      };
      // Every signal is handled, not only the first: a second Ctrl-C must not kill the process while
      // it ends its stdio servers (the shutdown budget below bounds the wait instead).
      const onStop = (signal: NodeJS.Signals): void => {
        if (stopping) return;
        if (stopNow) {
          stopping = true;
          stopNow(signal);
        } else stopRequested ??= signal;
      };
      process.on('SIGHUP', reload);
      process.on('SIGTERM', onStop);
      process.on('SIGINT', onStop);
      try {
        await agent.start();
      } catch (err) {
        throw new CliExit(EXIT_USAGE, `mcpwatch: ${(err as Error).message}`);
      }
      started = true;
      await new Promise<void>((resolve) => {
        stopNow = (signal: NodeJS.Signals): void => {
          agent.log.info({ signal }, 'shutting down');
          const force = setTimeout(() => {
            agent.log.error(`shutdown took longer than ${SHUTDOWN_BUDGET_MS}ms; exiting anyway`);
            resolve();
          }, SHUTDOWN_BUDGET_MS);
          void agent.stop().finally(() => {
            clearTimeout(force);
            resolve();
          });
        };
        if (stopRequested) onStop(stopRequested);
        else if (pendingReload) reload();
      });
    });
}
