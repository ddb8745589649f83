// Shared by the deploy tests: the repository root, file reading, Helm's values merge and the shapes
// of the Kubernetes objects they inspect.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/deploy). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const read = (...p: string[]): string => readFileSync(join(ROOT, ...p), 'utf8');

export type Values = Record<string, unknown>;
export const isObject = (v: unknown): v is Values => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's merge of a values file over the chart's: maps merge deeply, lists and scalars replace, null deletes. */
export function helmMerge(base: Values, override: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(override)) {
    if (v === null) delete out[k];
    else if (isObject(v) && isObject(out[k])) out[k] = helmMerge(out[k] as Values, v);
    else out[k] = v;
  }
  return out;
}

export interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  ports?: Array<{ name: string; containerPort: number; hostPort?: number }>;
  livenessProbe?: { httpGet: { path: string; port: string | number } };
  readinessProbe?: { httpGet: { path: string; port: string | number } };
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[]; add?: string[] } };
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
}

/** Node's own memory beside the JS heap (binary, code, buffers, sockets), as the chart's comments assume. */
export const NODE_OVERHEAD_MIB = 64;

/**
 * The V8 heap sizes a NODE_OPTIONS value sets. Only the two supported heap flags may appear: anything
 * else in a shipped NODE_OPTIONS fails, so no other V8 flag rides along.
 */
export function heapFlags(nodeOptions: string): { oldSpaceMiB: number; semiSpaceMiB: number } {
  const out: Record<string, number> = {};
  for (const word of nodeOptions.split(/\s+/).filter(Boolean)) {
    const m = /^--(max-old-space-size|max-semi-space-size)=(\d+)$/.exec(word);
    if (!m) throw new Error(`unexpected NODE_OPTIONS word ${JSON.stringify(word)}`);
    out[m[1]!] = Number(m[2]);
  }
  if (out['max-old-space-size'] === undefined || out['max-semi-space-size'] === undefined) throw new Error(`NODE_OPTIONS ${JSON.stringify(nodeOptions)} must set both heap sizes`);
  return { oldSpaceMiB: out['max-old-space-size'], semiSpaceMiB: out['max-semi-space-size'] };
}

/** A Kubernetes memory quantity (`384Mi`, `1Gi`) in MiB. */
export function mebibytes(quantity: unknown): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(String(quantity));
  if (!m) throw new Error(`memory quantity ${JSON.stringify(quantity)}: expected Mi or Gi`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

/**
 * The sizing rules a deployment's NODE_OPTIONS, memory limit and receivers.otlp.limit_mib must
 * follow together: the heap at its cap (old generation + V8's three semi-spaces) plus Node's own
 * memory fits the limit, so a runaway heap ends in V8's out-of-memory error, not a kernel kill; the
 * receiver refuses requests (limit_mib, resident memory) before the heap can reach its cap; and
 * limit_mib leaves Node's own memory under the limit.
 */
export function sizingProblems(where: string, nodeOptions: string, memoryLimit: unknown, limitMib: number): string[] {
  const { oldSpaceMiB, semiSpaceMiB } = heapFlags(nodeOptions);
  const limit = mebibytes(memoryLimit);
  const problems: string[] = [];
  if (oldSpaceMiB + 3 * semiSpaceMiB + NODE_OVERHEAD_MIB > limit) problems.push(`${where}: heap cap ${oldSpaceMiB} + 3 × ${semiSpaceMiB} MiB + ${NODE_OVERHEAD_MIB} MiB exceeds the ${limit} MiB limit`);
  if (oldSpaceMiB < limitMib - NODE_OVERHEAD_MIB) problems.push(`${where}: heap cap ${oldSpaceMiB} MiB is reached before limit_mib ${limitMib} refuses requests`);
  if (limitMib + NODE_OVERHEAD_MIB > limit) problems.push(`${where}: limit_mib ${limitMib} + ${NODE_OVERHEAD_MIB} MiB exceeds the ${limit} MiB limit`);
  return problems;
}
