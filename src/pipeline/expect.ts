// pipeline/expect.ts: what a check's `expect` means for a result (pure, no I/O). The probe calls the
// tool, reads the resource or gets the prompt; this decides whether the answer meets the
// expectations and, if not, says which one, what was expected and what came back (bounded).

/** One step of a JSONPath-style path: a property name or an array index. */
export type PathSegment = string | number;

const NAME = /^[A-Za-z_$][A-Za-z0-9_$-]*/;

/**
 * Parses the subset of JSONPath the `structured` expectation accepts: `$`, then any of `.name`,
 * `[0]`, `["name"]` or `['name']`. Returns the segments, or an error message saying where it broke.
 */
export function parsePath(path: string): PathSegment[] | { error: string } {
  if (!path.startsWith('$')) return { error: `must start with $ (got "${path}")` };
  const out: PathSegment[] = [];
  let i = 1;
  while (i < path.length) {
    const rest = path.slice(i);
    if (rest[0] === '.') {
      const m = NAME.exec(rest.slice(1));
      if (!m) return { error: `expected a property name after "." at position ${i + 1} of "${path}"` };
      out.push(m[0]);
      i += 1 + m[0].length;
      continue;
    }
    const index = /^\[(\d+)\]/.exec(rest);
    if (index) {
      out.push(Number(index[1]));
      i += index[0].length;
      continue;
    }
    const quoted = /^\[(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\]/.exec(rest);
    if (quoted) {
      out.push((quoted[1] ?? quoted[2]!).replace(/\\(.)/g, '$1'));
      i += quoted[0].length;
      continue;
    }
    return { error: `unexpected "${rest[0]}" at position ${i + 1} of "${path}" (use .name, [0] or ["name"])` };
  }
  return out;
}

/** The value at `path` in `root`, or `found: false` when a step is missing. */
export function valueAt(root: unknown, path: readonly PathSegment[]): { found: boolean; value?: unknown } {
  let node = root;
  for (const seg of path) {
    if (typeof seg === 'number') {
      if (!Array.isArray(node) || seg >= node.length) return { found: false };
      node = node[seg];
    } else {
      if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.prototype.hasOwnProperty.call(node, seg)) return { found: false };
      node = (node as Record<string, unknown>)[seg];
    }
  }
  return { found: true, value: node };
}

/** JSON equality: same type and value, objects key by key whatever their order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => jsonEqual(v, bb[i]));
  }
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The expectations a check may state (config: `checks[].expect`; durations already in ms). */
export interface Expectations {
  is_error?: boolean;
  text_contains?: string;
  structured?: Record<string, unknown>;
  max_latency?: number;
}

/** What came back, reduced to what expectations look at. */
export interface Observed {
  /** Every text block of the result (tool content, resource contents, prompt messages). */
  texts: string[];
  structured?: unknown;
  latencyMs: number;
}

/** Longest excerpt of what came back quoted in a message: a result may be megabytes. */
export const MAX_EXCERPT = 200;

export function bounded(text: string, max = MAX_EXCERPT): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}… (${flat.length} chars)` : flat;
}

function show(value: unknown): string {
  return bounded(value === undefined ? 'nothing' : JSON.stringify(value));
}

/**
 * The expectations (besides is_error, which the caller settles first) that `observed` fails, each
 * as one line naming the expectation, what was expected and what came back. Empty: all met.
 */
export function unmet(expect: Expectations, observed: Observed): string[] {
  const out: string[] = [];
  if (expect.text_contains !== undefined && !observed.texts.some((t) => t.includes(expect.text_contains!))) {
    const got = observed.texts.length === 0 ? 'no text content' : `"${bounded(observed.texts.join(' | '))}"`;
    out.push(`text_contains: expected a text block containing ${JSON.stringify(expect.text_contains)}, got ${got}`);
  }
  for (const [path, want] of Object.entries(expect.structured ?? {})) {
    const segs = parsePath(path);
    if (!Array.isArray(segs)) {
      out.push(`structured ${path}: ${segs.error}`);
      continue;
    }
    if (observed.structured === undefined) {
      out.push(`structured ${path}: expected ${show(want)}, got no structuredContent`);
      continue;
    }
    const at = valueAt(observed.structured, segs);
    if (!at.found) out.push(`structured ${path}: expected ${show(want)}, got nothing (no such path)`);
    else if (!jsonEqual(at.value, want)) out.push(`structured ${path}: expected ${show(want)}, got ${show(at.value)}`);
  }
  if (expect.max_latency !== undefined && observed.latencyMs > expect.max_latency) {
    out.push(`max_latency: expected at most ${expect.max_latency}ms, got ${Math.round(observed.latencyMs)}ms`);
  }
  return out;
}
