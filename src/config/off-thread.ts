// Loading a configuration on a worker thread, for reloads. The YAML parser takes long enough on a
// large file (docs/benchmarks.md) that parsing on the agent's event loop would hold every probe in
// flight and inflate the latency it measures; at start-up nothing is running yet, so the CLI parses
// there directly. This module is both sides: imported, it exports the call; run as the worker, it
// parses and posts the result back.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ConfigError, loadConfigFile, type ConfigIssue, type LoadedConfig, type ParseOptions } from './load.js';

interface Job {
  mcpwatchConfigFile: string;
  env: NodeJS.ProcessEnv;
  opts: ParseOptions;
}

type Reply = { ok: true; loaded: LoadedConfig } | { ok: false; issues: ConfigIssue[] };

/** `loadConfigFile` on a worker thread: the same result, or the same ConfigError. */
export function loadConfigOffThread(file: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): Promise<LoadedConfig> {
  return new Promise((resolve, reject) => {
    const job: Job = { mcpwatchConfigFile: file, env: { ...env }, opts };
    // The worker's own heap is bounded: whatever a file makes the parser build, it cannot take the
    // agent's memory with it (documents are at most MAX_CONFIG_BYTES and aliases are bounded too).
    const worker = new Worker(new URL(import.meta.url), { workerData: job, resourceLimits: { maxOldGenerationSizeMb: 256 } });
    let settled = false;
    worker.once('message', (reply: Reply) => {
      settled = true;
      if (reply.ok) resolve(reply.loaded);
      else reject(new ConfigError(file, reply.issues));
    });
    worker.once('error', (err) => {
      settled = true;
      reject(new ConfigError(file, [{ path: '', message: `cannot parse the configuration: ${err.message}` }]));
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new ConfigError(file, [{ path: '', message: `cannot parse the configuration: the parser exited with code ${code}` }]));
    });
  });
}

function isJob(data: unknown): data is Job {
  return typeof data === 'object' && data !== null && typeof (data as Job).mcpwatchConfigFile === 'string';
}

if (!isMainThread && parentPort && isJob(workerData)) {
  let reply: Reply;
  try {
    reply = { ok: true, loaded: loadConfigFile(workerData.mcpwatchConfigFile, workerData.env, workerData.opts) };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    reply = { ok: false, issues: err.issues };
  }
  parentPort.postMessage(reply);
}
