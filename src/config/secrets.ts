// What makes a configuration value a credential by its shape alone, for the two readers that must
// tell: init's discovery (which replaces such values with ${env:} references) and the scorecard
// (which marks a configuration down for holding them). Pure; names that hold credentials are each
// reader's own judgement.

/** An HTTP auth scheme and the space after it (`Bearer `), as the start of a value. */
export const AUTH_SCHEME = /^(bearer|basic|token|bot)(\s+)/i;
/** Prefixes of widely used API tokens (OpenAI/Stripe, GitHub, GitLab, Slack, AWS, Google, Notion, Linear, JWT). */
export const TOKEN_PREFIX = /^(?:sk-|sk_|pk_|rk_|gh[pousr]_|github_pat_|glpat-|xox[abposr]-|AKIA[0-9A-Z]|ASIA[0-9A-Z]|AIza|eyJ[A-Za-z0-9_-]{8,}|ntn_|secret_|lin_api_)/;

/** A value that is a credential by its shape: an auth scheme, a known token prefix, or a long opaque string. */
export function looksLikeSecret(value: string, opaqueMin = 20): boolean {
  const v = value.trim();
  if (AUTH_SCHEME.test(v) && v.split(/\s+/).length === 2) return true;
  if (TOKEN_PREFIX.test(v)) return true;
  return v.length >= opaqueMin && /^[A-Za-z0-9._~+/=-]+$/.test(v) && /[A-Za-z]/.test(v) && /[0-9]/.test(v) && !/^[./~]/.test(v);
}
