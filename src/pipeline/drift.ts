// pipeline/drift.ts owns tool-schema drift: the canonical snapshot of a server's tool list, its hash,
// and a classified diff between two snapshots. It is pure (no I/O, no clock, no metrics): store/
// keeps the last snapshot, the agent decides when a diff becomes an alert, exporters send it.
//
// Classification follows who can be hurt by a change. Inputs are what callers send, so narrowing
// what a server accepts is breaking and widening it is compatible; outputs are what callers
// receive, so it is the other way round (a server that may now return a new enum value or null
// can break a caller that handled every old value).
import { createHash } from 'node:crypto';
import type { ToolInfo } from '../probe/prober.js';

export type ChangeKind = 'breaking' | 'compatible' | 'warning';

/** Worst first: the order severity is decided in and the order formatDiff lists changes in. */
const CHANGE_KINDS: readonly ChangeKind[] = ['breaking', 'warning', 'compatible'];

export interface FieldChange {
  tool: string;
  kind: ChangeKind;
  /**
   * Where in the tool the change is, as a dotted path: "inputSchema.properties.draft",
   * "annotations.readOnlyHint", "description". Empty for a whole tool added or removed.
   */
  field: string;
  message: string;
}

export interface DriftDiff {
  tools_added: string[];
  tools_removed: string[];
  tools_modified: Array<{ name: string; changes: string[] }>;
  /** Every change with its classification, including one per added or removed tool. */
  changes: FieldChange[];
  counts: Record<ChangeKind, number>;
  /** The worst kind present (breaking > warning > compatible); null when nothing changed. */
  severity: ChangeKind | null;
}

// ---------------------------------------------------------------------------------------------
// Canonical form

/**
 * Only the ToolInfo fields are snapshotted: extra fields a server attaches (`_meta`, icons) may
 * change on every listing and are not part of the contract, so they must not move the hash.
 */
const TOOL_FIELDS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;
const SCHEMA_FIELDS: ReadonlySet<string> = new Set(['inputSchema', 'outputSchema']);

/** Keywords whose array value is a set: order and repeats carry no meaning. */
const SET_KEYWORDS: ReadonlySet<string> = new Set(['required', 'type', 'enum']);
/** Keywords whose value is an instance, not a schema: nothing inside is a keyword. */
const DATA_KEYWORDS: ReadonlySet<string> = new Set(['const', 'default', 'examples', 'enum']);
/** Keywords whose value maps names to schemas: the keys there are names, not keywords. */
const MAP_KEYWORDS: ReadonlySet<string> = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']);

type Mode = 'schema' | 'map' | 'data';

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function cmp(a: string, b: string): number {
  // Code-unit order, not localeCompare: the hash must not depend on the host's locale.
  return a < b ? -1 : a > b ? 1 : 0;
}

function canonPrimitive(v: unknown): string {
  if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : 'null';
  // undefined, functions, symbols: what JSON.stringify makes of them inside an array.
  return 'null';
}

/**
 * JSON with keys sorted at every depth. `mode` says what the value is, so that set-valued
 * keywords are sorted only where they are keywords: a property named "required", or an array
 * inside a `default`, keeps its meaning.
 */
function canon(v: unknown, mode: Mode): string {
  if (Array.isArray(v)) return `[${v.map((x) => canon(x, mode === 'data' ? 'data' : 'schema')).join(',')}]`;
  if (isObj(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined).sort(cmp);
    const members = keys.map((k) => {
      const value = mode === 'data' ? canon(v[k], 'data') : mode === 'map' ? canon(v[k], 'schema') : canonKeyword(k, v[k]);
      return `${JSON.stringify(k)}:${value}`;
    });
    return `{${members.join(',')}}`;
  }
  return canonPrimitive(v);
}

function canonKeyword(key: string, value: unknown): string {
  if (SET_KEYWORDS.has(key) && Array.isArray(value)) {
    const items = [...new Set(value.map((x) => canon(x, 'data')))].sort(cmp);
    return `[${items.join(',')}]`;
  }
  if (DATA_KEYWORDS.has(key)) return canon(value, 'data');
  if (MAP_KEYWORDS.has(key) && isObj(value)) return canon(value, 'map');
  return canon(value, 'schema');
}

function canonTool(tool: ToolInfo): string {
  const rec = tool as unknown as Record<string, unknown>;
  const keys = [...TOOL_FIELDS].filter((k) => rec[k] !== undefined).sort(cmp);
  const members = keys.map((k) => `${JSON.stringify(k)}:${canon(rec[k], SCHEMA_FIELDS.has(k) ? 'schema' : 'data')}`);
  return `{${members.join(',')}}`;
}

/**
 * The canonical JSON of a tool list: keys sorted at every depth, tools sorted by name, `required`,
 * `enum` and `type` arrays sorted and de-duplicated. Two lists that mean the same give the same string.
 */
export function canonicalize(tools: readonly ToolInfo[]): string {
  const entries = tools
    .filter((t) => isObj(t))
    .map((t) => ({ name: String(t.name), text: canonTool(t) }))
    .sort((a, b) => cmp(a.name, b.name) || cmp(a.text, b.text));
  return `[${entries.map((e) => e.text).join(',')}]`;
}

/** sha256 (hex) of the canonical form: equal hashes mean there is nothing to diff. */
export function snapshotHash(tools: readonly ToolInfo[]): string {
  return createHash('sha256').update(canonicalize(tools)).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Types

/** A set of JSON Schema type names; null is "any" (no `type` keyword). */
type TypeSet = ReadonlySet<string> | null;

function subsumes(outer: ReadonlySet<string>, t: string): boolean {
  return outer.has(t) || (t === 'integer' && outer.has('number'));
}

/** Whether every value of type set `b` is also a value of `a`. */
function covers(a: TypeSet, b: TypeSet): boolean {
  if (a === null) return true;
  if (b === null) return false;
  for (const t of b) if (!subsumes(a, t)) return false;
  return true;
}

function sameTypes(a: TypeSet, b: TypeSet): boolean {
  if (a === null || b === null) return a === b;
  return a.size === b.size && [...a].every((t) => b.has(t));
}

/** No value has both types: the old and new schemas describe different things entirely. */
function disjoint(a: TypeSet, b: TypeSet): boolean {
  if (a === null || b === null) return false;
  return ![...a].some((t) => subsumes(b, t) || (t === 'number' && b.has('integer')));
}

function fmtTypes(t: TypeSet): string {
  if (t === null) return 'any';
  // null last: "string | null" reads as a nullable string.
  return [...t].sort((x, y) => (x === 'null' ? 1 : 0) - (y === 'null' ? 1 : 0) || cmp(x, y)).join(' | ');
}

// ---------------------------------------------------------------------------------------------
// Schema resolution

type Schema = Record<string, unknown>;

interface Resolved {
  schema: Schema;
  /** The $refs followed to get here, to notice recursion. */
  refs: string[];
}

function asSchema(raw: unknown): Schema {
  if (isObj(raw)) return raw;
  // The boolean schema false accepts nothing; keep that visible to the keyword comparison.
  if (raw === false) return { not: {} };
  return {};
}

/** A local JSON pointer ("#", "#/$defs/Filter"); undefined when it does not resolve. */
function pointer(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return undefined;
  let path = ref.slice(1);
  try {
    path = decodeURIComponent(path);
  } catch {
    return undefined;
  }
  if (path === '') return root;
  if (!path.startsWith('/')) return undefined;
  let node: unknown = root;
  for (const seg of path.slice(1).split('/')) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isObj(node) && Object.hasOwn(node, key)) node = node[key];
    else return undefined;
  }
  return node;
}

/** Follows local $refs (siblings of $ref override the target). Unresolvable refs stay as they are. */
function deref(root: unknown, raw: unknown): Resolved {
  let schema = asSchema(raw);
  const refs: string[] = [];
  for (let hops = 0; hops < 16 && typeof schema.$ref === 'string'; hops++) {
    const target = pointer(root, schema.$ref);
    if (target === undefined) break;
    refs.push(schema.$ref);
    const { $ref: _followed, ...siblings } = schema;
    schema = { ...asSchema(target), ...siblings };
  }
  return { schema, refs };
}

function isNullOnly(s: Schema): boolean {
  return s.type === 'null' && Object.keys(s).every((k) => k === 'type' || k === 'description' || k === 'title');
}

/**
 * Resolves refs, then rewrites the nullable wrapper that generators emit for optional values
 * (`anyOf: [X, {type: "null"}]`, e.g. pydantic's Optional[X]) as X with "null" added to its type,
 * so that `string` → `Optional[string]` compares as a type widening instead of a restructuring.
 */
function resolve(root: unknown, raw: unknown): Resolved {
  const r = deref(root, raw);
  const s = r.schema;
  if (s.type !== undefined) return r;
  for (const k of ['anyOf', 'oneOf'] as const) {
    const variants = s[k];
    if (!Array.isArray(variants) || variants.length !== 2) continue;
    const parts = variants.map((v) => deref(root, v));
    const nullAt = parts.findIndex((p) => isNullOnly(p.schema));
    const other = parts[1 - nullAt];
    if (nullAt < 0 || !other || isNullOnly(other.schema)) continue;
    const { [k]: _unwrapped, ...rest } = s;
    const merged: Schema = { ...other.schema, ...rest };
    const t = other.schema.type;
    if (typeof t === 'string') merged.type = [t, 'null'];
    else if (Array.isArray(t)) merged.type = [...t, 'null'];
    // An untyped variant already admits null: nothing to add.
    return { schema: merged, refs: [...r.refs, ...other.refs] };
  }
  return r;
}

/** The declared type, or the union of anyOf/oneOf variant types when every variant declares one. */
function effectiveType(root: unknown, s: Schema, depth = 0): TypeSet {
  const t = s.type;
  if (typeof t === 'string') return new Set([t]);
  if (Array.isArray(t)) {
    const names = t.filter((x): x is string => typeof x === 'string');
    return names.length > 0 ? new Set(names) : null;
  }
  if (depth > 8) return null;
  for (const k of ['anyOf', 'oneOf']) {
    const variants = s[k];
    if (!Array.isArray(variants) || variants.length === 0) continue;
    const union = new Set<string>();
    for (const v of variants) {
      const vt = effectiveType(root, resolve(root, v).schema, depth + 1);
      if (vt === null) return null;
      for (const name of vt) union.add(name);
    }
    return union;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Schema comparison

type Direction = 'input' | 'output';

interface Ctx {
  tool: string;
  dir: Direction;
  prevRoot: unknown;
  currRoot: unknown;
  out: FieldChange[];
  /** Ref pairs being compared further up the stack: a recursive schema is compared once. */
  active: Set<string>;
}

interface Pos {
  /** The parameter path as a human reads it: "filter.status", "labels[]"; "" at the root. */
  label: string;
  field: string;
  depth: number;
}

const MAX_DEPTH = 64;

/** Keywords compared by their own rules; every other keyword falls to the generic comparison. */
const STRUCTURAL: ReadonlySet<string> = new Set([
  'type', 'properties', 'required', 'enum', 'const', 'description', 'title', '$defs', 'definitions',
]);
const COMBINATORS = ['anyOf', 'oneOf', 'allOf'] as const;

function emit(ctx: Ctx, kind: ChangeKind, field: string, message: string): void {
  ctx.out.push({ tool: ctx.tool, kind, field, message });
}

function rootName(dir: Direction): string {
  return dir === 'input' ? 'inputSchema' : 'outputSchema';
}

function display(ctx: Ctx, pos: Pos): string {
  return pos.label || rootName(ctx.dir);
}

function child(label: string, name: string): string {
  return label ? `${label}.${name}` : name;
}

/** Input: widening is safe for callers. Output: narrowing is. */
function safeWhen(ctx: Ctx, widened: boolean): ChangeKind {
  return (ctx.dir === 'input') === widened ? 'compatible' : 'breaking';
}

function short(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function fmtValues(values: string[]): string {
  return values.map((v) => short(v, 40)).join(', ');
}

function compareSchema(ctx: Ctx, prevRaw: unknown, currRaw: unknown, pos: Pos): void {
  if (pos.depth > MAX_DEPTH) return;
  const prev = resolve(ctx.prevRoot, prevRaw);
  const curr = resolve(ctx.currRoot, currRaw);
  if (prev.refs.length === 0 && curr.refs.length === 0) {
    compareResolved(ctx, prev.schema, curr.schema, pos);
    return;
  }
  const key = `${prev.refs.join('>')}|${curr.refs.join('>')}`;
  if (ctx.active.has(key)) return;
  ctx.active.add(key);
  try {
    compareResolved(ctx, prev.schema, curr.schema, pos);
  } finally {
    ctx.active.delete(key);
  }
}

function compareResolved(ctx: Ctx, prev: Schema, curr: Schema, pos: Pos): void {
  compareText(ctx, prev, curr, pos, 'description');
  compareText(ctx, prev, curr, pos, 'title');

  const pt = effectiveType(ctx.prevRoot, prev);
  const ct = effectiveType(ctx.currRoot, curr);
  // When both sides are unions of the same combinator, the variant comparison says what changed
  // more precisely than the union of their types would.
  const variantsCompared = prev.type === undefined && curr.type === undefined
    && COMBINATORS.some((k) => Array.isArray(prev[k]) && Array.isArray(curr[k]));
  let typeReported = false;
  if (!variantsCompared && !sameTypes(pt, ct)) {
    typeReported = true;
    const name = display(ctx, pos);
    const change = `(${fmtTypes(pt)} → ${fmtTypes(ct)})`;
    if (ctx.dir === 'input') {
      // A schema without `type` accepts anything, so giving it one narrows what callers may send
      // (breaking); dropping it widens (compatible). integer → number is a widening too.
      if (covers(ct, pt)) emit(ctx, 'compatible', `${pos.field}.type`, `parameter type widened: ${name} ${change}`);
      else emit(ctx, 'breaking', `${pos.field}.type`, `parameter type changed: ${name} ${change}`);
    } else if (covers(pt, ct)) {
      emit(ctx, 'compatible', `${pos.field}.type`, `output type narrowed: ${name} ${change}`);
    } else {
      emit(ctx, 'breaking', `${pos.field}.type`, `output type changed: ${name} ${change}`);
    }
    // string → object: the old enum, properties or items say nothing about the new schema, and
    // listing them all as removed would bury the one change that matters.
    if (disjoint(pt, ct)) return;
  }

  compareEnum(ctx, prev, curr, pos);
  compareConst(ctx, prev, curr, pos);
  compareProperties(ctx, prev, curr, pos);
  const handled = new Set(STRUCTURAL);
  if (compareItems(ctx, prev, curr, pos)) handled.add('items');
  for (const k of COMBINATORS) {
    if (compareVariants(ctx, prev, curr, pos, k)) handled.add(k);
    // {type: string} → {anyOf: [string, integer]} was already reported as a type change.
    else if (typeReported && k !== 'allOf' && (prev[k] === undefined || curr[k] === undefined)) handled.add(k);
  }
  compareOtherKeywords(ctx, prev, curr, pos, handled);
}

function compareText(ctx: Ctx, prev: Schema, curr: Schema, pos: Pos, key: 'description' | 'title'): void {
  if (canon(prev[key], 'data') === canon(curr[key], 'data')) return;
  const where = pos.label === '' ? rootName(ctx.dir) : `${ctx.dir === 'input' ? 'parameter' : 'output field'} ${pos.label}`;
  emit(ctx, 'warning', `${pos.field}.${key}`, `${key} changed: ${where}`);
}

function enumValues(s: Schema): Set<string> | null {
  return Array.isArray(s.enum) ? new Set(s.enum.map((v) => canon(v, 'data'))) : null;
}

function compareEnum(ctx: Ctx, prev: Schema, curr: Schema, pos: Pos): void {
  const pe = enumValues(prev);
  const ce = enumValues(curr);
  if (pe === null && ce === null) return;
  const name = display(ctx, pos);
  const field = `${pos.field}.enum`;
  const prefix = ctx.dir === 'output' ? 'output ' : '';
  if (pe === null && ce !== null) {
    emit(ctx, safeWhen(ctx, false), field, `${prefix}enum added: ${name} (${fmtValues([...ce].sort(cmp))})`);
    return;
  }
  if (pe !== null && ce === null) {
    emit(ctx, safeWhen(ctx, true), field, `${prefix}enum removed: ${name}`);
    return;
  }
  if (pe === null || ce === null) return;
  const removed = [...pe].filter((v) => !ce.has(v)).sort(cmp);
  const added = [...ce].filter((v) => !pe.has(v)).sort(cmp);
  if (removed.length > 0) emit(ctx, safeWhen(ctx, false), field, `${prefix}enum narrowed: ${name} (removed ${fmtValues(removed)})`);
  if (added.length > 0) emit(ctx, safeWhen(ctx, true), field, `${prefix}enum widened: ${name} (added ${fmtValues(added)})`);
}

function compareConst(ctx: Ctx, prev: Schema, curr: Schema, pos: Pos): void {
  const had = prev.const !== undefined;
  const has = curr.const !== undefined;
  if (!had && !has) return;
  const pc = canon(prev.const, 'data');
  const cc = canon(curr.const, 'data');
  if (had && has && pc === cc) return;
  const name = display(ctx, pos);
  const field = `${pos.field}.const`;
  const prefix = ctx.dir === 'output' ? 'output ' : '';
  if (had && has) emit(ctx, 'breaking', field, `${prefix}const changed: ${name} (${short(pc, 40)} → ${short(cc, 40)})`);
  else if (has) emit(ctx, safeWhen(ctx, false), field, `${prefix}const added: ${name} (${short(cc, 40)})`);
  else emit(ctx, safeWhen(ctx, true), field, `${prefix}const removed: ${name}`);
}

function requiredSet(s: Schema): Set<string> {
  return new Set(Array.isArray(s.required) ? s.required.filter((x): x is string => typeof x === 'string') : []);
}

function compareProperties(ctx: Ctx, prev: Schema, curr: Schema, pos: Pos): void {
  const pp = isObj(prev.properties) ? prev.properties : {};
  const cp = isObj(curr.properties) ? curr.properties : {};
  const preq = requiredSet(prev);
  const creq = requiredSet(curr);
  const names = [...new Set([...Object.keys(pp), ...Object.keys(cp), ...preq, ...creq])].sort(cmp);
  const input = ctx.dir === 'input';
  for (const name of names) {
    const label = child(pos.label, name);
    const field = `${pos.field}.properties.${name}`;
    const inPrev = Object.hasOwn(pp, name);
    const inCurr = Object.hasOwn(cp, name);
    if (inPrev && !inCurr) {
      emit(ctx, 'breaking', field, input ? `parameter removed: ${label}` : `output property removed: ${label}`);
      continue;
    }
    if (!inPrev && inCurr) {
      const type = fmtTypes(effectiveType(ctx.currRoot, resolve(ctx.currRoot, cp[name]).schema));
      if (!input) emit(ctx, 'compatible', field, `output property added: ${label} (${type})`);
      else if (creq.has(name)) emit(ctx, 'breaking', field, `required parameter added: ${label} (${type})`);
      else emit(ctx, 'compatible', field, `optional parameter added: ${label} (${type})`);
      continue;
    }
    // Present on both sides, or named only in `required` (a property with an implicit schema).
    if (!preq.has(name) && creq.has(name)) {
      emit(ctx, input ? 'breaking' : 'compatible', field, input ? `parameter became required: ${label}` : `output field became required: ${label}`);
    } else if (preq.has(name) && !creq.has(name)) {
      emit(ctx, input ? 'compatible' : 'breaking', field, input ? `parameter became optional: ${label}` : `output field no longer required: ${label}`);
    }
    if (inPrev && inCurr) compareSchema(ctx, pp[name], cp[name], { label, field, depth: pos.depth + 1 });
  }
}

/** Returns whether `items` was compared (otherwise the generic keyword comparison reports it). */
function compareItems(ctx: Ctx, prev: Schema, curr: Schema, pos: Pos): boolean {
  const pi = prev.items;
  const ci = curr.items;
  if (pi === undefined && ci === undefined) return true;
  const depth = pos.depth + 1;
  if (!Array.isArray(pi) && !Array.isArray(ci)) {
    // Absent items accept anything, like the empty schema.
    compareSchema(ctx, pi ?? {}, ci ?? {}, { label: `${pos.label}[]`, field: `${pos.field}.items`, depth });
    return true;
  }
  if (Array.isArray(pi) && Array.isArray(ci) && pi.length === ci.length) {
    pi.forEach((p, i) => compareSchema(ctx, p, ci[i], { label: `${pos.label}[${i}]`, field: `${pos.field}.items[${i}]`, depth }));
    return true;
  }
  return false;
}

/**
 * anyOf/oneOf/allOf on both sides. Variants are matched by identity first, then the rest in order,
 * so reordering is not a change and an edited variant is compared field by field. Returns whether
 * the keyword was compared.
 */
function compareVariants(ctx: Ctx, prev: Schema, curr: Schema, pos: Pos, key: (typeof COMBINATORS)[number]): boolean {
  const pv = prev[key];
  const cv = curr[key];
  if (pv === undefined && cv === undefined) return true;
  if (!Array.isArray(pv) || !Array.isArray(cv)) return false;
  const sub = (i: number): Pos => ({ label: `${child(pos.label, key)}[${i}]`, field: `${pos.field}.${key}[${i}]`, depth: pos.depth + 1 });
  if (key === 'allOf') {
    // Every allOf member applies, so members are positional constraints, not alternatives.
    if (pv.length !== cv.length) return false;
    pv.forEach((p, i) => compareSchema(ctx, p, cv[i], sub(i)));
    return true;
  }
  const pc = pv.map((v) => canon(v, 'schema'));
  const cc = cv.map((v) => canon(v, 'schema'));
  const pairs: Array<[number, number]> = [];
  const usedCurr = new Set<number>();
  const unmatchedPrev: number[] = [];
  pc.forEach((text, i) => {
    const j = cc.findIndex((c, jj) => c === text && !usedCurr.has(jj));
    if (j >= 0) {
      usedCurr.add(j);
      pairs.push([i, j]);
    } else {
      unmatchedPrev.push(i);
    }
  });
  const unmatchedCurr = cc.map((_, j) => j).filter((j) => !usedCurr.has(j));
  while (unmatchedPrev.length > 0 && unmatchedCurr.length > 0) pairs.push([unmatchedPrev.shift()!, unmatchedCurr.shift()!]);
  // Identical text can still differ through a $ref whose target changed, so matched pairs are compared too.
  for (const [i, j] of pairs) compareSchema(ctx, pv[i], cv[j], sub(j));
  const what = ctx.dir === 'input' ? 'parameter variant' : 'output variant';
  for (const i of unmatchedPrev) emit(ctx, safeWhen(ctx, false), sub(i).field, `${what} removed: ${sub(i).label}`);
  for (const j of unmatchedCurr) emit(ctx, safeWhen(ctx, true), sub(j).field, `${what} added: ${sub(j).label}`);
  return true;
}

/**
 * Constraints without a rule of their own (minimum, pattern, format, additionalProperties,
 * default, …): reported as warnings, so a change is never silent even where its effect on callers
 * cannot be judged from the schema alone.
 */
function compareOtherKeywords(ctx: Ctx, prev: Schema, curr: Schema, pos: Pos, handled: ReadonlySet<string>): void {
  const keys = [...new Set([...Object.keys(prev), ...Object.keys(curr)])].filter((k) => !handled.has(k)).sort(cmp);
  for (const k of keys) {
    const before = prev[k] === undefined ? 'unset' : canonKeyword(k, prev[k]);
    const after = curr[k] === undefined ? 'unset' : canonKeyword(k, curr[k]);
    if (before === after) continue;
    emit(ctx, 'warning', `${pos.field}.${k}`, `${rootName(ctx.dir)} changed: ${child(pos.label, k)} (${short(before, 40)} → ${short(after, 40)})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Annotations

/** MCP's defaults for absent hints, and which value is the safe one. */
const HINTS: ReadonlyArray<{ key: string; absent: boolean; safe: boolean }> = [
  { key: 'readOnlyHint', absent: false, safe: true },
  { key: 'destructiveHint', absent: true, safe: false },
  { key: 'idempotentHint', absent: false, safe: true },
  { key: 'openWorldHint', absent: true, safe: false },
];

function compareAnnotations(ctx: Ctx, prevRaw: unknown, currRaw: unknown): void {
  const prev = isObj(prevRaw) ? prevRaw : {};
  const curr = isObj(currRaw) ? currRaw : {};
  for (const { key, absent, safe } of HINTS) {
    // A non-boolean hint is as good as none: clients fall back to the default.
    const p = typeof prev[key] === 'boolean' ? (prev[key] as boolean) : absent;
    const c = typeof curr[key] === 'boolean' ? (curr[key] as boolean) : absent;
    if (p === c) continue;
    const word = c === safe ? 'safer' : 'dangerous';
    emit(ctx, c === safe ? 'compatible' : 'breaking', `annotations.${key}`, `annotation turned ${word}: ${key} ${p} → ${c}`);
  }
  const hintKeys = new Set(HINTS.map((h) => h.key));
  const others = [...new Set([...Object.keys(prev), ...Object.keys(curr)])].filter((k) => !hintKeys.has(k)).sort(cmp);
  for (const k of others) {
    if (canon(prev[k], 'data') !== canon(curr[k], 'data')) emit(ctx, 'warning', `annotations.${k}`, `annotation changed: ${k}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Tools

function compareTool(prev: ToolInfo, curr: ToolInfo): FieldChange[] {
  const out: FieldChange[] = [];
  const base = { tool: curr.name, out, active: new Set<string>() };
  const top: Ctx = { ...base, dir: 'input', prevRoot: undefined, currRoot: undefined };
  if (canon(prev.title, 'data') !== canon(curr.title, 'data')) emit(top, 'warning', 'title', 'title changed');
  if (canon(prev.description, 'data') !== canon(curr.description, 'data')) emit(top, 'warning', 'description', 'description changed');

  compareRootSchema({ ...base, dir: 'input', prevRoot: prev.inputSchema, currRoot: curr.inputSchema });

  const hadOutput = prev.outputSchema !== undefined;
  const hasOutput = curr.outputSchema !== undefined;
  if (hadOutput && !hasOutput) emit(top, 'breaking', 'outputSchema', 'outputSchema removed');
  else if (!hadOutput && hasOutput) emit(top, 'compatible', 'outputSchema', 'outputSchema added');
  else if (hadOutput && hasOutput) compareRootSchema({ ...base, dir: 'output', prevRoot: prev.outputSchema, currRoot: curr.outputSchema });

  compareAnnotations(top, prev.annotations, curr.annotations);
  return out;
}

function compareRootSchema(ctx: Ctx): void {
  const before = ctx.out.length;
  const field = rootName(ctx.dir);
  compareSchema(ctx, ctx.prevRoot, ctx.currRoot, { label: '', field, depth: 0 });
  // The schema text changed but no rule saw it (an unused $defs entry, a restructuring into
  // $refs): say so rather than stay silent about a changed hash.
  if (ctx.out.length === before && canon(ctx.prevRoot, 'schema') !== canon(ctx.currRoot, 'schema')) {
    emit(ctx, 'warning', field, `${field} changed`);
  }
}

/**
 * Names are unique in a well-behaved server; when one repeats, the copy with the smallest
 * canonical text is kept so the diff, like the hash, does not depend on listing order.
 */
function byName(tools: readonly ToolInfo[]): Map<string, ToolInfo> {
  const map = new Map<string, { tool: ToolInfo; text: string }>();
  for (const tool of tools) {
    if (!isObj(tool)) continue;
    const name = String(tool.name);
    const text = canonTool(tool);
    const seen = map.get(name);
    if (!seen || cmp(text, seen.text) < 0) map.set(name, { tool: { ...tool, name }, text });
  }
  return new Map([...map].map(([name, v]) => [name, v.tool]));
}

/** Compares two tool lists and classifies every difference (see the header for the principle). */
export function diffTools(previous: readonly ToolInfo[], current: readonly ToolInfo[]): DriftDiff {
  const prev = byName(previous);
  const curr = byName(current);
  const tools_removed = [...prev.keys()].filter((n) => !curr.has(n)).sort(cmp);
  const tools_added = [...curr.keys()].filter((n) => !prev.has(n)).sort(cmp);
  const changes: FieldChange[] = [];
  for (const name of tools_removed) changes.push({ tool: name, kind: 'breaking', field: '', message: `tool removed: ${name}` });
  for (const name of tools_added) changes.push({ tool: name, kind: 'compatible', field: '', message: `tool added: ${name}` });
  const tools_modified: DriftDiff['tools_modified'] = [];
  for (const name of [...prev.keys()].filter((n) => curr.has(n)).sort(cmp)) {
    const found = compareTool(prev.get(name)!, curr.get(name)!);
    if (found.length === 0) continue;
    tools_modified.push({ name, changes: found.map((c) => c.message) });
    changes.push(...found);
  }
  const counts: Record<ChangeKind, number> = { breaking: 0, compatible: 0, warning: 0 };
  for (const c of changes) counts[c.kind]++;
  const severity = CHANGE_KINDS.find((k) => counts[k] > 0) ?? null;
  return { tools_added, tools_removed, tools_modified, changes, counts, severity };
}

/** A short summary for logs and stdout alerts: one header line, then the worst changes first. */
export function formatDiff(diff: DriftDiff, opts: { maxLines?: number } = {}): string {
  if (diff.severity === null) return 'tool schemas unchanged';
  const max = Math.max(1, opts.maxLines ?? 20);
  const { counts } = diff;
  const header = `tool schema drift (${diff.severity}): ${counts.breaking} breaking, ${counts.warning} warning, ${counts.compatible} compatible`;
  const rank = (k: ChangeKind): number => CHANGE_KINDS.indexOf(k);
  // Array.prototype.sort is stable, so within one kind the diff's own order is kept.
  const sorted = [...diff.changes].sort((a, b) => rank(a.kind) - rank(b.kind));
  const width = Math.max(...CHANGE_KINDS.map((k) => k.length));
  const lines = sorted.slice(0, max).map((c) => `  ${c.kind.padEnd(width)}  ${c.field === '' ? c.message : `${c.tool}: ${c.message}`}`);
  if (sorted.length > max) lines.push(`  … and ${sorted.length - max} more`);
  return [header, ...lines].join('\n');
}
