// The agent's log: JSON lines on stderr. Every record passes through the one URL redaction
// (pipeline/redact.ts) before it is written: errors from fetch, the SDK or a notifier quote URLs with
// their credentials, and a log line is read by more people than the configuration is.
import pino, { type Logger } from 'pino';
import { redactDeep } from '../pipeline/redact.js';

export function createLogger(level: string, destination: pino.DestinationStream = pino.destination(2)): Logger {
  return pino(
    {
      level,
      base: { service: 'mcpwatch' },
      hooks: {
        logMethod(args, method) {
          // pino's signature is (obj?, msg?, ...interpolation); every part may quote a URL. A bare
          // Error first is what pino logs under `err`: kept there once it is a plain object.
          const [first, ...rest] = args as unknown[];
          const obj = first instanceof Error ? { err: first } : first;
          method.apply(this, redactDeep([obj, ...rest]) as typeof args);
        },
      },
    },
    destination,
  );
}
