// pipeline/scorecard.ts owns the A–F grading of a server: the rule table (exported as data, so
// docs/scorecard.md is rendered from it and a test holds the two together), the pure grading
// function, and the gathering of its inputs from the local state and the configuration. Grading is
// pure and clock-free; only `gatherInput` / `scoreFleet` read the store, and they never write it.
import { parse as parseYaml } from 'yaml';
import { resolveServer, type Config, type ServerConfig, type TransportName } from '../config/schema.js';
import { isSecretName, looksLikeSecret, urlCredentials } from '../config/secrets.js';
import type { Incident, MinuteAggregate } from '../store/state.js';
import { durationText, fmtMs } from './status.js';
import { uptimeRatio } from './uptime.js';

export type Grade = 'A' | 'B' | 'C' | 'D' | 'F';
type Dimension = 'availability' | 'latency' | 'reliability' | 'security';
export const DIMENSIONS: readonly Dimension[] = ['availability', 'latency', 'reliability', 'security'];

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

// ---------------------------------------------------------------------------------------------
// The rules, as data. Every number the grading uses is here; the code below reads only these.

/** Bands are checked top down; the first whose minimum the points reach gives the grade. */
export const GRADE_BANDS: ReadonlyArray<{ grade: Grade; min: number }> = [
  { grade: 'A', min: 90 },
  { grade: 'B', min: 80 },
  { grade: 'C', min: 70 },
  { grade: 'D', min: 60 },
  { grade: 'F', min: 0 },
];

/** Availability, latency, error rate, drift and incidents are all judged over this window. */
const SCORE_WINDOW_MS = 7 * DAY;

const AVAILABILITY_TIERS: ReadonlyArray<{ min: number; points: number }> = [
  { min: 0.999, points: 100 },
  { min: 0.995, points: 90 },
  { min: 0.99, points: 80 },
  { min: 0.98, points: 70 },
  { min: 0.95, points: 60 },
];
/**
 * Below the last tier, points fall on a straight line to 0 at `zeroAt`. A line from 0 % would give a
 * server that is down one hour in ten 57 points, nearly a D; the steep line keeps such a server an F.
 */
const AVAILABILITY_BELOW = { zeroAt: 0.8 } as const;

/** Used when neither the server nor `monitoring.thresholds` sets one: the same as the dashboards. */
const LATENCY_DEFAULTS = { warningMs: 500, criticalMs: 2000 } as const;

type LatencyLimit = 'warning' | 'midpoint' | 'critical';
/** p95 ≤ factor × limit gives the points; `midpoint` is halfway between warning and critical. */
const LATENCY_TIERS: ReadonlyArray<{ limit: LatencyLimit; factor: number; points: number }> = [
  { limit: 'warning', factor: 1, points: 100 },
  { limit: 'midpoint', factor: 1, points: 85 },
  { limit: 'critical', factor: 1, points: 70 },
  { limit: 'critical', factor: 2, points: 50 },
];
const LATENCY_BEYOND_POINTS = 25;
/** The percentile of per-minute maximum latencies that is graded. */
const LATENCY_PERCENTILE = 0.95;

/** Worst first: only the first tier whose rate is exceeded applies. */
const ERROR_RATE_PENALTIES: ReadonlyArray<{ above: number; penalty: number }> = [
  { above: 0.05, penalty: 40 },
  { above: 0.01, penalty: 20 },
  { above: 0.001, penalty: 10 },
];
const DRIFT_PENALTY = { each: 15, max: 45 } as const;
const INCIDENT_PENALTIES: Readonly<Record<'down' | 'stale' | 'degraded', number>> = { down: 10, stale: 8, degraded: 5 };
const INCIDENT_PENALTY_MAX = 40;
/** Shortest first: only the first tier the MTBF is under applies. */
const MTBF_PENALTIES: ReadonlyArray<{ below: number; penalty: number }> = [
  { below: 6 * HOUR, penalty: 30 },
  { below: 24 * HOUR, penalty: 20 },
  { below: 72 * HOUR, penalty: 10 },
];

const SECURITY_PENALTIES = { plainHttp: 50, insecureSkipVerify: 30, noAuth: 20, inlinedSecret: 30 } as const;

/** In percent: integers keep the mean exact, so a mean of x.5 always rounds up. */
const WEIGHTS: Readonly<Record<Dimension, number>> = { availability: 35, latency: 20, reliability: 25, security: 20 };
/**
 * A weighted mean lets strengths hide a failure (perfect uptime and plain-text HTTP with no auth
 * would average to a B), so an F in any graded dimension caps the overall grade at D.
 */
const OVERALL_CAP = { anyBelow: 60, max: 69 } as const;

// ---------------------------------------------------------------------------------------------
// The rule table rendered for docs/scorecard.md.

interface ScoreRule {
  /** Stable id, also listed in each dimension's `rules` when it applied. */
  id: string;
  dimension: Dimension | 'overall' | 'grade';
  when: string;
  effect: string;
}

function pct(ratio: number): string {
  return `${Number((ratio * 100).toFixed(2))} %`;
}

function dur(ms: number): string {
  if (ms % DAY === 0 && ms > 3 * DAY) return `${ms / DAY} d`;
  if (ms % HOUR === 0) return `${ms / HOUR} h`;
  if (ms % 1000 === 0) return `${ms / 1000} s`;
  return `${ms} ms`;
}

function limitText(limit: LatencyLimit, factor: number): string {
  const name = limit === 'midpoint' ? 'midpoint of warning and critical' : limit;
  return factor === 1 ? name : `${factor} × ${name}`;
}

export const SCORE_RULES: readonly ScoreRule[] = [
  ...GRADE_BANDS.map((b, i): ScoreRule => ({
    id: `grade.${b.grade}`,
    dimension: 'grade',
    when: i === GRADE_BANDS.length - 1 ? `points < ${GRADE_BANDS[i - 1]!.min}` : `points ≥ ${b.min}`,
    effect: b.grade,
  })),
  ...AVAILABILITY_TIERS.map((t, i): ScoreRule => ({
    id: `availability.tier${i + 1}`,
    dimension: 'availability',
    when: `time up / time observed over ${dur(SCORE_WINDOW_MS)} ≥ ${pct(t.min)}`,
    effect: `${t.points}`,
  })),
  {
    id: 'availability.below',
    dimension: 'availability',
    when: `availability a < ${pct(AVAILABILITY_TIERS.at(-1)!.min)}`,
    effect: `${AVAILABILITY_TIERS.at(-1)!.points} × (a − ${pct(AVAILABILITY_BELOW.zeroAt)}) / (${pct(AVAILABILITY_TIERS.at(-1)!.min)} − ${pct(AVAILABILITY_BELOW.zeroAt)}), rounded down, at least 0`,
  },
  { id: 'availability.no-data', dimension: 'availability', when: `no time observed in ${dur(SCORE_WINDOW_MS)} (fewer than two probes, or none)`, effect: 'not graded ("no data"), left out of overall' },
  {
    id: 'latency.defaults',
    dimension: 'latency',
    when: 'latency_warning / latency_critical unset (server and monitoring)',
    effect: `warning ${dur(LATENCY_DEFAULTS.warningMs)}, critical ${dur(LATENCY_DEFAULTS.criticalMs)}; a default that would fall on the wrong side of the one that is set is derived from it (× or ÷ ${LATENCY_DEFAULTS.criticalMs / LATENCY_DEFAULTS.warningMs})`,
  },
  ...LATENCY_TIERS.map((t, i): ScoreRule => ({ id: `latency.tier${i + 1}`, dimension: 'latency', when: `p95 of per-minute max latency ≤ ${limitText(t.limit, t.factor)}`, effect: `${t.points}` })),
  { id: 'latency.beyond', dimension: 'latency', when: `p95 > ${limitText(LATENCY_TIERS.at(-1)!.limit, LATENCY_TIERS.at(-1)!.factor)}`, effect: `${LATENCY_BEYOND_POINTS}` },
  { id: 'latency.no-data', dimension: 'latency', when: `no minute in ${dur(SCORE_WINDOW_MS)} in which every probe succeeded`, effect: 'not graded ("no data"), left out of overall' },
  { id: 'reliability.base', dimension: 'reliability', when: 'always', effect: 'start at 100, subtract every deduction that applies, at least 0' },
  ...ERROR_RATE_PENALTIES.map((p, i): ScoreRule => ({
    id: `reliability.error-rate${i + 1}`,
    dimension: 'reliability',
    when: `failed / (ok + failed) over ${dur(SCORE_WINDOW_MS)} > ${pct(p.above)}${i === 0 ? '' : ' (only the worst error-rate row applies)'}`,
    effect: `−${p.penalty}`,
  })),
  { id: 'reliability.breaking-drift', dimension: 'reliability', when: `each breaking tool-schema change in ${dur(SCORE_WINDOW_MS)}`, effect: `−${DRIFT_PENALTY.each}, at most −${DRIFT_PENALTY.max}` },
  ...(Object.keys(INCIDENT_PENALTIES) as Array<keyof typeof INCIDENT_PENALTIES>).map((state): ScoreRule => ({
    id: `reliability.incident-${state}`,
    dimension: 'reliability',
    when: `each ${state} incident open at any time in the ${dur(SCORE_WINDOW_MS)}`,
    effect: `−${INCIDENT_PENALTIES[state]}`,
  })),
  { id: 'reliability.incident-cap', dimension: 'reliability', when: 'incident deductions together', effect: `at most −${INCIDENT_PENALTY_MAX}` },
  ...MTBF_PENALTIES.map((p, i): ScoreRule => ({
    id: `reliability.mtbf${i + 1}`,
    dimension: 'reliability',
    when: `mean time between failures (down/stale) < ${dur(p.below)}, over two failures or more or at least ${dur(p.below)} observed${i === 0 ? '' : ' (only the shortest MTBF row applies)'}`,
    effect: `−${p.penalty}`,
  })),
  { id: 'reliability.no-data', dimension: 'reliability', when: `no probe in ${dur(SCORE_WINDOW_MS)}`, effect: 'not graded ("no data"), left out of overall' },
  { id: 'security.base', dimension: 'security', when: 'always (from the configuration, needs no state)', effect: 'start at 100, subtract every deduction that applies, at least 0' },
  { id: 'security.plain-http', dimension: 'security', when: 'remote server (sse, streamable_http) on http:// to a host that is not loopback', effect: `−${SECURITY_PENALTIES.plainHttp}` },
  { id: 'security.insecure-skip-verify', dimension: 'security', when: 'tls.insecure_skip_verify: true', effect: `−${SECURITY_PENALTIES.insecureSkipVerify}` },
  {
    id: 'security.no-auth',
    dimension: 'security',
    when: 'remote server on a host that is not loopback, with no `auth:` (OAuth or bearer), no credential header (Authorization, Cookie, *-Api-Key, *-Token …), no credential in the URL and no client certificate',
    effect: `−${SECURITY_PENALTIES.noAuth}`,
  },
  {
    id: 'security.inlined-secret',
    dimension: 'security',
    when: 'a literal secret in the YAML: credential header, secret-named env var or argument, URL password or secret query value, `auth.client_secret` or `auth.token`, or a secret-shaped value (e.g. `ghp_…`, `sk-…`); `${env:VAR}` references are fine',
    effect: `−${SECURITY_PENALTIES.inlinedSecret} once per server; every place named in the findings`,
  },
  { id: 'security.stdio', dimension: 'security', when: 'stdio server', effect: 'plain-http, insecure-skip-verify and no-auth do not apply' },
  {
    id: 'security.config-error',
    dimension: 'security',
    when: 'a `${env:VAR}` of the server is not set (`config_error`: not probed)',
    effect: 'judged from the entry as written; plain-http and no-auth only when its URL is written without a reference',
  },
  {
    id: 'overall.weights',
    dimension: 'overall',
    when: 'always',
    effect: `weighted mean of the graded dimensions: ${DIMENSIONS.map((d) => `${d} ${WEIGHTS[d]} %`).join(', ')}; weights of ungraded dimensions are shared out`,
  },
  { id: 'overall.cap', dimension: 'overall', when: `any graded dimension < ${OVERALL_CAP.anyBelow} (F)`, effect: `at most ${OVERALL_CAP.max} (D)` },
  {
    id: 'overall.no-data',
    dimension: 'overall',
    when: 'availability not graded (no data)',
    effect: 'no overall grade ("no data", `grade: null` in `--json`): configuration alone says nothing about how a server serves',
  },
];

/** The markdown table docs/scorecard.md holds between `<!-- scorecard-rules:start/end -->`. */
export function renderRulesTable(): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return ['| rule | dimension | when | points |', '| --- | --- | --- | --- |', ...SCORE_RULES.map((r) => `| \`${r.id}\` | ${r.dimension} | ${esc(r.when)} | ${esc(r.effect)} |`)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Inputs and results.

/** What `security` judges, all from the configuration. */
export interface SecurityInput {
  transport: TransportName;
  /** The URL as connected to, after `${env:…}` expansion. */
  url?: string;
  /** Header names as configured (names are never expanded). */
  headerNames: string[];
  insecureSkipVerify: boolean;
  clientCertificate: boolean;
  /** `auth:` is configured: mcpwatch obtains or reads a token for the server (docs/oauth.md). */
  auth?: boolean;
  /**
   * The server's entry as written in the YAML, before `${env:…}` expansion: the only place where a
   * literal secret can be told from a reference. Null when the raw text was not available.
   */
  raw: RawServer | null;
  /**
   * The server's configuration could not be used (an unset `${env:…}`): `url` and `headerNames` come
   * from its entry as written, since the loader put a stand-in in its place.
   */
  configError?: boolean;
}

export interface RawServer {
  url?: string;
  headers: Record<string, string>;
  env: Record<string, string>;
  args: string[];
  /** `tls` as written; only read for a server with a configuration error (SecurityInput.configError). */
  tls?: { insecureSkipVerify: boolean; clientCertificate: boolean };
  /** `auth` as written (its text values), when the entry has one. */
  auth?: Record<string, string>;
}

export interface ScoreInput {
  server: string;
  /** Probe counts over the score window. */
  probes: { ok: number; failed: number };
  /** Time observed up and not up over the score window (pipeline/uptime.ts). */
  uptime: { upMs: number; downMs: number };
  /** See `latencyP95`; null without a fully successful minute in the window. */
  p95Ms: number | null;
  /** As configured (after `monitoring.thresholds`); undefined when unset, so the defaults apply. */
  thresholds: { warningMs?: number; criticalMs?: number };
  breakingChanges: number;
  incidents: { down: number; degraded: number; stale: number };
  /** See `meanTimeBetweenFailures`; null without a failure in the window. */
  mtbfMs: number | null;
  /** The failures `mtbfMs` divides by, and the time it was observed over (from the first probe). */
  mtbfBasis: { failures: number; observedMs: number };
  security: SecurityInput;
}

export interface DimensionScore {
  /** 0–100, or null when not graded (no data). */
  points: number | null;
  grade: Grade | null;
  /** Problems, the costliest first; "no data …" when not graded. Empty for a clean dimension. */
  findings: string[];
  /** Ids of the SCORE_RULES rows that applied. */
  rules: string[];
}

export interface ScoreResult {
  server: string;
  /** Null without availability data: the other dimensions alone do not grade a server. */
  grade: Grade | null;
  points: number | null;
  dimensions: Record<Dimension, DimensionScore>;
  /** Ids of the `overall` rules that applied (the weights, the cap when it bit, or no-data). */
  rules: string[];
  /** The finding that cost the most overall points (weighted), "dimension: no data …" when nothing did, else null. */
  topFinding: string | null;
  /** The measured values the points came from, for tables and JSON. */
  measures: {
    availability: number | null;
    p95Ms: number | null;
    warningMs: number;
    criticalMs: number;
    errorRate: number | null;
    breakingChanges: number;
    incidents: { down: number; degraded: number; stale: number };
    mtbfMs: number | null;
  };
}

export function gradeFor(points: number): Grade {
  return GRADE_BANDS.find((b) => points >= b.min)?.grade ?? 'F';
}

export function gradeRank(grade: Grade): number {
  return GRADE_BANDS.findIndex((b) => b.grade === grade);
}

// ---------------------------------------------------------------------------------------------
// Grading.

interface Finding {
  text: string;
  /** Points this finding cost its dimension, to order findings and pick the top one. */
  cost: number;
}

interface DimensionDraft {
  points: number | null;
  findings: Finding[];
  rules: string[];
}

export function scoreServer(input: ScoreInput): ScoreResult {
  const thresholds = effectiveThresholds(input.thresholds);
  const parts: Record<Dimension, DimensionDraft> = {
    availability: scoreAvailability(input),
    latency: scoreLatency(input.p95Ms, thresholds),
    reliability: scoreReliability(input),
    security: scoreSecurity(input.security),
  };
  if (thresholds.defaulted && parts.latency.points !== null) parts.latency.rules.unshift('latency.defaults');

  // Without availability there is no overall grade: security alone (configuration) gave servers that
  // never started an A. Availability graded means `weight` is never 0.
  const graded = DIMENSIONS.filter((d) => parts[d].points !== null);
  let points: number | null = null;
  const rules: string[] = [];
  if (parts.availability.points === null) {
    rules.push('overall.no-data');
  } else {
    const weight = graded.reduce((sum, d) => sum + WEIGHTS[d], 0);
    points = Math.round(graded.reduce((sum, d) => sum + WEIGHTS[d] * parts[d].points!, 0) / weight);
    rules.push('overall.weights');
    if (graded.some((d) => parts[d].points! < OVERALL_CAP.anyBelow) && points > OVERALL_CAP.max) {
      points = OVERALL_CAP.max;
      rules.push('overall.cap');
    }
  }

  const dimensions = {} as Record<Dimension, DimensionScore>;
  let top: { text: string; weighted: number } | null = null;
  let noData: string | null = null;
  for (const d of DIMENSIONS) {
    const p = parts[d];
    const findings = [...p.findings].sort((a, b) => b.cost - a.cost);
    dimensions[d] = { points: p.points, grade: p.points === null ? null : gradeFor(p.points), findings: findings.map((f) => f.text), rules: p.rules };
    for (const f of findings) {
      if (f.cost > 0 && (!top || f.cost * WEIGHTS[d] > top.weighted)) top = { text: f.text, weighted: f.cost * WEIGHTS[d] };
    }
    if (p.points === null) noData ??= `${d}: ${findings[0]?.text ?? 'no data'}`;
  }

  const total = input.probes.ok + input.probes.failed;
  return {
    server: input.server,
    grade: points === null ? null : gradeFor(points),
    points,
    dimensions,
    rules,
    topFinding: top?.text ?? noData,
    measures: {
      availability: uptimeRatio(input.uptime.upMs, input.uptime.downMs),
      p95Ms: input.p95Ms,
      warningMs: thresholds.warningMs,
      criticalMs: thresholds.criticalMs,
      errorRate: total ? input.probes.failed / total : null,
      breakingChanges: input.breakingChanges,
      incidents: { ...input.incidents },
      mtbfMs: input.mtbfMs,
    },
  };
}

const WINDOW_TEXT = dur(SCORE_WINDOW_MS).replace(' ', '');

function scoreAvailability(input: ScoreInput): DimensionDraft {
  const { upMs, downMs } = input.uptime;
  const ratio = uptimeRatio(upMs, downMs);
  if (ratio === null) return { points: null, findings: [{ text: `no data: no time observed in the last ${WINDOW_TEXT}`, cost: 0 }], rules: ['availability.no-data'] };
  const i = AVAILABILITY_TIERS.findIndex((t) => ratio >= t.min);
  let points: number;
  let rule: string;
  if (i >= 0) {
    points = AVAILABILITY_TIERS[i]!.points;
    rule = `availability.tier${i + 1}`;
  } else {
    const last = AVAILABILITY_TIERS.at(-1)!;
    // Floored so that anything under the last tier stays below its points; the epsilon keeps
    // 90 % at 40 rather than the 39.999… that binary fractions give.
    points = Math.max(0, Math.floor((last.points * (ratio - AVAILABILITY_BELOW.zeroAt)) / (last.min - AVAILABILITY_BELOW.zeroAt) + 1e-9));
    rule = 'availability.below';
  }
  const findings = points < 100 ? [{ text: `availability ${pctText(ratio)} over ${WINDOW_TEXT} (not up for ${spanText(downMs)} of ${spanText(upMs + downMs)} observed)`, cost: 100 - points }] : [];
  return { points, findings, rules: [rule] };
}

interface EffectiveThresholds {
  warningMs: number;
  criticalMs: number;
  defaulted: boolean;
}

/**
 * Fills in unset thresholds. A lone `latency_warning: 3s` must not be paired with the 2 s default
 * critical (the tiers would be upside down), so a default on the wrong side is scaled from the one
 * that is set by the default ratio (×4). Two set the wrong way round are taken in order.
 */
export function effectiveThresholds(t: { warningMs?: number; criticalMs?: number }): EffectiveThresholds {
  const ratio = LATENCY_DEFAULTS.criticalMs / LATENCY_DEFAULTS.warningMs;
  let warningMs = t.warningMs;
  let criticalMs = t.criticalMs;
  const defaulted = warningMs === undefined || criticalMs === undefined;
  if (warningMs === undefined && criticalMs === undefined) {
    warningMs = LATENCY_DEFAULTS.warningMs;
    criticalMs = LATENCY_DEFAULTS.criticalMs;
  } else if (criticalMs === undefined) {
    criticalMs = warningMs! < LATENCY_DEFAULTS.criticalMs ? LATENCY_DEFAULTS.criticalMs : warningMs! * ratio;
  } else if (warningMs === undefined) {
    warningMs = criticalMs > LATENCY_DEFAULTS.warningMs ? LATENCY_DEFAULTS.warningMs : criticalMs / ratio;
  }
  return { warningMs: Math.min(warningMs!, criticalMs), criticalMs: Math.max(warningMs!, criticalMs), defaulted };
}

function scoreLatency(p95: number | null, t: EffectiveThresholds): DimensionDraft {
  if (p95 === null) return { points: null, findings: [{ text: `no data: no minute in the last ${WINDOW_TEXT} where every probe succeeded`, cost: 0 }], rules: ['latency.no-data'] };
  const limitMs = (limit: LatencyLimit): number => (limit === 'warning' ? t.warningMs : limit === 'critical' ? t.criticalMs : (t.warningMs + t.criticalMs) / 2);
  const i = LATENCY_TIERS.findIndex((tier) => p95 <= tier.factor * limitMs(tier.limit));
  const points = i >= 0 ? LATENCY_TIERS[i]!.points : LATENCY_BEYOND_POINTS;
  const rule = i >= 0 ? `latency.tier${i + 1}` : 'latency.beyond';
  const findings: Finding[] = [];
  if (points < 100) {
    const over = p95 > 2 * t.criticalMs ? `over 2 × the critical threshold ${fmtMs(t.criticalMs)}` : p95 > t.criticalMs ? `over the critical threshold ${fmtMs(t.criticalMs)}` : `over the warning threshold ${fmtMs(t.warningMs)}`;
    findings.push({ text: `p95 latency ${fmtMs(p95)} ${over}`, cost: 100 - points });
  }
  return { points, findings, rules: [rule] };
}

function scoreReliability(input: ScoreInput): DimensionDraft {
  const { ok, failed } = input.probes;
  const total = ok + failed;
  if (total === 0) return { points: null, findings: [{ text: `no data: no probe in the last ${WINDOW_TEXT}`, cost: 0 }], rules: ['reliability.no-data'] };
  const rules = ['reliability.base'];
  const findings: Finding[] = [];

  const rate = failed / total;
  const e = ERROR_RATE_PENALTIES.findIndex((p) => rate > p.above);
  if (e >= 0) {
    rules.push(`reliability.error-rate${e + 1}`);
    findings.push({ text: `error rate ${pctText(rate)} over ${WINDOW_TEXT}`, cost: ERROR_RATE_PENALTIES[e]!.penalty });
  }

  if (input.breakingChanges > 0) {
    rules.push('reliability.breaking-drift');
    const n = input.breakingChanges;
    findings.push({ text: `${n} breaking tool-schema change${n === 1 ? '' : 's'} in ${WINDOW_TEXT}`, cost: Math.min(DRIFT_PENALTY.max, n * DRIFT_PENALTY.each) });
  }

  let incidentCost = 0;
  const parts: string[] = [];
  for (const state of Object.keys(INCIDENT_PENALTIES) as Array<keyof typeof INCIDENT_PENALTIES>) {
    const n = input.incidents[state];
    if (n <= 0) continue;
    rules.push(`reliability.incident-${state}`);
    incidentCost += n * INCIDENT_PENALTIES[state];
    parts.push(`${n} ${state}`);
  }
  if (incidentCost > 0) {
    if (incidentCost > INCIDENT_PENALTY_MAX) {
      incidentCost = INCIDENT_PENALTY_MAX;
      rules.push('reliability.incident-cap');
    }
    const n = input.incidents.down + input.incidents.degraded + input.incidents.stale;
    findings.push({ text: `${n} incident${n === 1 ? '' : 's'} in ${WINDOW_TEXT} (${parts.join(', ')})`, cost: incidentCost });
  }

  if (input.mtbfMs !== null) {
    // One failure in a window shorter than a row's bound puts the MTBF under that bound whatever the
    // server's real rate: a server watched for an hour that failed once is not shown to fail every
    // six hours. Two failures are a time between failures actually seen.
    const { failures, observedMs } = input.mtbfBasis;
    const m = MTBF_PENALTIES.findIndex((p) => input.mtbfMs! < p.below && (failures >= 2 || observedMs >= p.below));
    if (m >= 0) {
      rules.push(`reliability.mtbf${m + 1}`);
      findings.push({ text: `mean time between failures ${spanText(input.mtbfMs)}`, cost: MTBF_PENALTIES[m]!.penalty });
    }
  }

  const points = Math.max(0, 100 - findings.reduce((s, f) => s + f.cost, 0));
  return { points, findings, rules };
}

function scoreSecurity(s: SecurityInput): DimensionDraft {
  const rules = ['security.base'];
  const findings: Finding[] = [];
  if (s.configError) rules.push('security.config-error');
  if (s.transport === 'stdio') {
    rules.push('security.stdio');
  } else {
    const url = safeUrl(s.url);
    const loopback = url !== null && isLoopback(url.hostname);
    if (url && url.protocol === 'http:' && !loopback) {
      rules.push('security.plain-http');
      findings.push({ text: `plain http:// to ${url.hostname}, which is not loopback: use https://`, cost: SECURITY_PENALTIES.plainHttp });
    }
    if (s.insecureSkipVerify) {
      rules.push('security.insecure-skip-verify');
      findings.push({ text: 'tls.insecure_skip_verify is true: any certificate is accepted', cost: SECURITY_PENALTIES.insecureSkipVerify });
    }
    const credentialHeader = s.headerNames.some((h) => isSecretName(h) && (s.raw === null || (s.raw.headers[h] ?? '') !== ''));
    const credentialInUrl = urlCredentials(s.raw?.url ?? s.url).length > 0;
    // Only this machine reaches a loopback server: authentication would protect nothing more. A URL
    // that is an unset reference names no host, loopback or not.
    if (url !== null && !loopback && !s.auth && !credentialHeader && !credentialInUrl && !s.clientCertificate) {
      rules.push('security.no-auth');
      findings.push({ text: 'no authentication configured (no auth:, no Authorization or API-key header, no client certificate)', cost: SECURITY_PENALTIES.noAuth });
    }
  }
  if (s.raw) {
    const inlined = inlinedSecrets(s.raw);
    if (inlined.length > 0) {
      rules.push('security.inlined-secret');
      findings.push({ text: `secret written in the configuration: ${inlined.join(', ')} (use \${env:VAR})`, cost: SECURITY_PENALTIES.inlinedSecret });
    }
  }
  const points = Math.max(0, 100 - findings.reduce((sum, f) => sum + f.cost, 0));
  return { points, findings, rules };
}

function pctText(ratio: number): string {
  return `${(ratio * 100).toFixed(2)}%`;
}

/** A span of time in a finding, to its two largest units (`42s`, `1m 42s`, `3h 12m`, `2d 2h`), as alerts say durations. */
function spanText(ms: number): string {
  return durationText(ms / 1000, 2);
}

// ---------------------------------------------------------------------------------------------
// Secrets and URLs.

const REF = /\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const AUTH_SCHEME = /^\s*(bearer|basic|token|bot)\s+/i;

/**
 * Whether a raw YAML value under `name` is a literal secret. A value made only of `${env:…}`
 * references (with an auth scheme such as `Bearer ` and separators around them) is not. A default
 * (`${env:T:-…}`) under a secret name, or shaped like a token, is: it sits in the file.
 */
export function isInlinedSecret(name: string, value: string): boolean {
  if (value.trim() === '') return false;
  // `$${` is the loader's escape for a literal `${`: not a reference.
  const text = value.replace(/\$\$\{/g, '\u0000{');
  let hasRef = false;
  let literalDefault = false;
  const rest = text
    .replace(REF, (_m, _var: string, def: string | undefined) => {
      hasRef = true;
      if (def && (isSecretName(name) || looksLikeSecret(def))) literalDefault = true;
      return '';
    })
    .replace(AUTH_SCHEME, '')
    .replace(/[\s:;,]/g, '');
  if (literalDefault) return true;
  if (rest === '') return false;
  // A literal glued to a reference (`${env:HOST}/v1`) is a secret only by its shape.
  if (hasRef) return looksLikeSecret(rest);
  return isSecretName(name) || looksLikeSecret(value);
}

/** Every place in a raw server entry where a literal secret sits, e.g. `headers.Authorization`. */
export function inlinedSecrets(raw: RawServer): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(raw.headers)) if (isInlinedSecret(name, value)) out.push(`headers.${name}`);
  for (const [name, value] of Object.entries(raw.env)) if (isInlinedSecret(name, value)) out.push(`env.${name}`);
  const FLAG = /^--?([A-Za-z0-9][A-Za-z0-9_-]*)$/;
  raw.args.forEach((arg, i) => {
    const withValue = /^--?([A-Za-z0-9][A-Za-z0-9_-]*)=(.*)$/.exec(arg);
    const prevFlag = i > 0 ? FLAG.exec(raw.args[i - 1]!) : null;
    let inlined: boolean;
    if (withValue) inlined = isInlinedSecret(withValue[1]!, withValue[2]!);
    else if (FLAG.test(arg)) inlined = false;
    // `--token abc`: the value is judged under the flag's name; a lone argument only by its shape.
    else inlined = isInlinedSecret(prevFlag?.[1] ?? '', arg);
    if (inlined) out.push(`args[${i}]`);
  });
  for (const c of urlCredentials(raw.url)) if (isInlinedSecret(c.name, c.value)) out.push(c.where);
  // The other auth keys name a client, a file, a URL or a choice, never a credential.
  for (const key of AUTH_SECRET_KEYS) {
    const value = raw.auth?.[key];
    if (value !== undefined && isInlinedSecret(key, value)) out.push(`auth.${key}`);
  }
  return out;
}

const AUTH_SECRET_KEYS = ['client_secret', 'token'] as const;

function safeUrl(text: string | undefined): URL | null {
  if (!text) return null;
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::1' || h === '0:0:0:0:0:0:0:1' || h === '::ffff:127.0.0.1';
}

// ---------------------------------------------------------------------------------------------
// Derived measures (pure, from store rows).

/**
 * p95 (nearest rank) of per-minute *maximum* latency, over minutes in which every probe succeeded.
 * The store keeps only sum and max per minute. The mean was rejected: a failed probe without a
 * latency adds 0 to the sum and would pull it down. Minutes with a failure are left out because a
 * failed probe's latency is its timeout, which reliability already judges. With one probe a minute
 * (interval ≥ 60 s) this is exactly the p95 of probe latencies; with more it reads high.
 */
export function latencyP95(minutes: readonly Pick<MinuteAggregate, 'ok' | 'failed' | 'latencyMax'>[]): number | null {
  const values = minutes.filter((m) => m.failed === 0 && m.ok > 0).map((m) => m.latencyMax);
  if (values.length === 0) return null;
  values.sort((a, b) => a - b);
  return values[Math.ceil(LATENCY_PERCENTILE * values.length) - 1]!;
}

/**
 * Uptime observed in [from, now] divided by the number of failures (down or stale incidents;
 * degraded still answers). Failures that follow each other without an up in between (down → stale)
 * are one failure. Null without a failure.
 */
export function meanTimeBetweenFailures(incidents: readonly Pick<Incident, 'state' | 'startedAt' | 'endedAt'>[], from: number, now: number): number | null {
  const merged = failurePeriods(incidents, from, now);
  if (merged.length === 0) return null;
  const down = merged.reduce((sum, f) => sum + (f.end - f.start), 0);
  return Math.max(0, now - from - down) / merged.length;
}

/** The failures `meanTimeBetweenFailures` counts: down or stale, clipped to [from, now], back-to-back ones merged. */
export function failurePeriods(incidents: readonly Pick<Incident, 'state' | 'startedAt' | 'endedAt'>[], from: number, now: number): Array<{ start: number; end: number }> {
  const failures = incidents
    .filter((i) => (i.state === 'down' || i.state === 'stale') && i.startedAt <= now && (i.endedAt ?? now) >= from)
    .map((i) => ({ start: Math.max(from, i.startedAt), end: Math.min(now, i.endedAt ?? now) }))
    .sort((a, b) => a.start - b.start);
  const merged: Array<{ start: number; end: number }> = [];
  for (const f of failures) {
    const last = merged.at(-1);
    if (last && f.start <= last.end) last.end = Math.max(last.end, f.end);
    else merged.push({ ...f });
  }
  return merged;
}

// ---------------------------------------------------------------------------------------------
// Gathering inputs from the store and the configuration.

/** The read-only part of StateStore the scorecard uses. */
interface ScoreStore {
  minutesSince(server: string, since: number): MinuteAggregate[];
  incidentsSince(server: string, since: number): Incident[];
  driftSince(server: string, since: number): Array<{ at: number; severity: string }>;
}

function strings(v: unknown): Record<string, string> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, x === null || x === undefined ? '' : String(x)]));
}

/**
 * The servers as written in the YAML, without `${env:…}` expansion, matched to `names` by name and
 * else by position (a name that is itself a reference differs once expanded). Null per server when
 * the text cannot be read.
 */
export function rawServers(rawText: string | null, names: readonly string[]): Array<RawServer | null> {
  let list: unknown[] = [];
  if (rawText !== null) {
    try {
      // As the loader reads it (config/load.ts): an entry built with `<<: *base` has the base's keys.
      const doc: unknown = parseYaml(rawText, { merge: true });
      const servers = (doc as { servers?: unknown } | null)?.servers;
      if (Array.isArray(servers)) list = servers;
    } catch {
      // The loader has validated this text already; a failure here only loses the inlined-secret check.
    }
  }
  // By name, once: a search per name was quadratic in the fleet (an agent scores thousands).
  const byName = new Map<unknown, unknown>();
  for (const s of list) {
    const name = (s as { name?: unknown } | null)?.name;
    if (name !== undefined && !byName.has(name)) byName.set(name, s);
  }
  return names.map((name, i) => {
    const entry = (byName.get(name) ?? list[i]) as Record<string, unknown> | undefined;
    if (!entry || typeof entry !== 'object') return null;
    return {
      url: typeof entry.url === 'string' ? entry.url : undefined,
      headers: strings(entry.headers),
      env: strings(entry.env),
      args: Array.isArray(entry.args) ? entry.args.map((a) => String(a)) : [],
      tls: rawTls(entry.tls),
      ...(entry.auth && typeof entry.auth === 'object' ? { auth: strings(entry.auth) } : {}),
    };
  });
}

function rawTls(v: unknown): RawServer['tls'] {
  const tls = v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  return { insecureSkipVerify: tls.insecure_skip_verify === true, clientCertificate: Boolean(tls.cert_file && tls.key_file) };
}

function securityInput(server: ServerConfig, raw: RawServer | null): SecurityInput {
  if (server.config_error !== undefined) {
    // The loader put a stand-in in the server's place (no headers, a made-up URL): grading that would
    // say "plain http to unset-environment-variable.invalid, no authentication" of a server that has
    // neither. Its entry as written says what is configured; a URL that is a reference names no host.
    const url = raw?.url !== undefined && !raw.url.includes('${') ? raw.url : undefined;
    return {
      transport: server.transport,
      url,
      headerNames: Object.keys(raw?.headers ?? {}),
      insecureSkipVerify: raw?.tls?.insecureSkipVerify ?? false,
      clientCertificate: raw?.tls?.clientCertificate ?? false,
      auth: raw?.auth !== undefined,
      raw,
      configError: true,
    };
  }
  return {
    transport: server.transport,
    url: server.url,
    headerNames: Object.keys(server.headers ?? {}),
    insecureSkipVerify: server.tls?.insecure_skip_verify === true,
    clientCertificate: Boolean(server.tls?.cert_file && server.tls?.key_file),
    auth: server.auth !== undefined,
    raw,
  };
}

/** Everything `scoreServer` needs for one server; `store` null grades on configuration only. */
function gatherInput(server: ServerConfig, raw: RawServer | null, store: ScoreStore | null, now: number): ScoreInput {
  const since = Math.floor((now - SCORE_WINDOW_MS) / MINUTE) * MINUTE;
  const minutes = store ? store.minutesSince(server.name, since).filter((m) => m.minute <= now) : [];
  const incidents = store ? store.incidentsSince(server.name, since).filter((i) => i.startedAt <= now) : [];
  const drift = store ? store.driftSince(server.name, since).filter((d) => d.at <= now) : [];
  const probes = minutes.reduce((acc, m) => ({ ok: acc.ok + m.ok, failed: acc.failed + m.failed }), { ok: 0, failed: 0 });
  const uptime = minutes.reduce((acc, m) => ({ upMs: acc.upMs + m.upMs, downMs: acc.downMs + m.downMs }), { upMs: 0, downMs: 0 });
  // Uptime is counted from the first probe: a server added yesterday has one day to fail in, not seven.
  const observedFrom = minutes.length ? Math.max(since, minutes[0]!.minute) : since;
  const count = (state: string): number => incidents.filter((i) => i.state === state).length;
  return {
    server: server.name,
    probes,
    uptime,
    p95Ms: latencyP95(minutes),
    thresholds: { warningMs: server.thresholds.latency_warning, criticalMs: server.thresholds.latency_critical },
    breakingChanges: drift.filter((d) => d.severity === 'breaking').length,
    incidents: { down: count('down'), degraded: count('degraded'), stale: count('stale') },
    mtbfMs: meanTimeBetweenFailures(incidents, observedFrom, now),
    mtbfBasis: { failures: failurePeriods(incidents, observedFrom, now).length, observedMs: now - observedFrom },
    security: securityInput(server, raw),
  };
}

/**
 * Grades every configured server. The agent calls this periodically for the `mcp.server.score` gauge;
 * `rawText` is the configuration file's text (LoadedConfig.text), null when it is not at hand.
 */
export function scoreFleet(config: Config, rawText: string | null, store: ScoreStore | null, now: number): ScoreResult[] {
  const servers = config.servers.map((s) => resolveServer(config, s));
  const raws = rawServers(rawText, servers.map((s) => s.name));
  return servers.map((s, i) => scoreOne(s, raws[i] ?? null, store, now));
}

/** Grades one server, given its entry as written (rawServers), for a caller that grades a fleet piecemeal. */
export function scoreOne(server: ServerConfig, raw: RawServer | null, store: ScoreStore | null, now: number): ScoreResult {
  return scoreServer(gatherInput(server, raw, store, now));
}
