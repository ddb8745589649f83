// How a server's tags become labels: one rule for the metrics (export/recorder.ts), the alerts
// (export/notifiers/alertmanager.ts) and the configuration check that refuses tags whose labels
// would collide (config/schema.ts). Pure and dependency-free, so config/ can use it.

/** `team:data` → `mcp.tag.team` = `data`; `critical` → `mcp.tag.critical` = `true`. */
export function tagAttribute(tag: string): { key: string; value: string } {
  const i = tag.indexOf(':');
  const key = (i > 0 ? tag.slice(0, i) : tag).replace(/[^A-Za-z0-9_]/g, '_');
  return { key: `mcp.tag.${key}`, value: i > 0 ? tag.slice(i + 1) : 'true' };
}

/**
 * The Prometheus label name an attribute key becomes, by the exporter's rule: characters outside
 * [a-zA-Z0-9_] become `_`, and runs of `_` one `_`. So `team-a`, `team_a` and `team__a` are one label.
 */
export function prometheusLabelName(key: string): string {
  return key.replace(/[^a-z0-9_]/gi, '_').replace(/_{2,}/g, '_');
}
