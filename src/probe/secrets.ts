// probe/secrets.ts: the one place where the texts of a probe's outcome (its error, its warnings, its
// checks' failures) lose every secret value the server was configured with before they leave the
// probe layer. Those texts quote what servers said: a tool result echoing its environment, a stderr
// line with a token, an HTTP error body repeating the Authorization header. From here they reach
// `health` output, logs, alerts, spans, the state file and the API alike, so masking here covers all
// of them once. URLs' credentials are redacted where messages are made (probe/classify.ts).
import { configuredSecrets } from '../config/secrets.js';
import type { ServerConfig } from '../config/schema.js';
import { secretMasker } from '../pipeline/redact.js';
import { credentialsFor } from './auth.js';
import type { CheckRun, ProbeError, ProbeOutcome } from './prober.js';

/**
 * `out` with its texts masked of the server's secrets (config/secrets.ts) and of the credentials
 * probe/auth.ts holds for it (an OAuth token, a token_file's content). Errors are replaced, not
 * changed, since a session may hand the same one out again. An outcome without text costs nothing.
 */
export function maskSecrets<T extends ProbeOutcome>(server: ServerConfig, out: T): T {
  const failing = out.checks?.some((c) => c.error !== null) ?? false;
  if (!out.error && out.warnings.length === 0 && !failing) return out;
  const mask = maskerFor(server);
  const error = (e: ProbeError | null): ProbeError | null => {
    if (!e) return e;
    const message = mask(e.message);
    return message === e.message ? e : { ...e, message };
  };
  out.error = error(out.error);
  out.warnings = out.warnings.map(mask);
  if (failing) out.checks = out.checks!.map((c): CheckRun => (c.error ? { ...c, error: error(c.error) } : c));
  return out;
}

/**
 * Kept per server configuration (a reload brings a new one) and remade only when the credentials
 * mcpwatch holds for it change (an OAuth token renewed): a fleet whose servers all fail would
 * otherwise build every server's secret list and masker again at every check.
 */
const maskers = new WeakMap<ServerConfig, { held: string; mask: (text: string) => string }>();

function maskerFor(server: ServerConfig): (text: string) => string {
  const heldValues = credentialsFor(server)?.secretValues() ?? [];
  const held = heldValues.join('\0');
  const known = maskers.get(server);
  if (known?.held === held) return known.mask;
  const mask = secretMasker([...configuredSecrets(server), ...heldValues]);
  maskers.set(server, { held, mask });
  return mask;
}
