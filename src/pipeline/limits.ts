// pipeline/limits.ts bounds what labels can take: names past a limit fold into `_other`, and
// decisions made once per distinct path of names are remembered without building a key per span.
/** The label value that stands for every name past a cardinality limit. */
const OTHER = '_other';

/**
 * The longest name (agent service.name and namespaces, tool name) kept from traffic. A sender chooses
 * these strings, and each is held in memory, written to the state file and put in labels and alerts,
 * so its length is bounded like the number of them. 128: MCP's own bound for tool names (the
 * specification's 1 to 128 characters) and above Kubernetes' 63 for namespace and pod names.
 */
export const MAX_NAME_LENGTH = 128;

/** `name` cut to MAX_NAME_LENGTH, ending in `…` when cut (never inside a surrogate pair). */
export function capName(name: string): string {
  if (name.length <= MAX_NAME_LENGTH) return name;
  let end = MAX_NAME_LENGTH - 1;
  const c = name.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${name.slice(0, end)}…`;
}

/**
 * Bounds the distinct values one label can take under each key (tool names per server, unconfigured
 * server names overall). The first `max` values seen are kept; later ones become `_other`, so a
 * client inventing tool names cannot grow the metric series without bound.
 */
export class NameLimiter {
  private readonly seen = new Map<string, Set<string>>();

  constructor(private readonly max: number) {}

  /** The value to use as the label, and whether it was folded into `_other`. */
  limit(key: string, value: string): { value: string; overflowed: boolean } {
    let names = this.seen.get(key);
    if (!names) {
      names = new Set();
      this.seen.set(key, names);
    }
    if (names.has(value)) return { value, overflowed: false };
    if (names.size < this.max) {
      names.add(value);
      return { value, overflowed: false };
    }
    return { value: OTHER, overflowed: true };
  }

  /** Frees `value`'s place under `key` (a name gone quiet): the next new name takes it. */
  release(key: string, value: string): void {
    const names = this.seen.get(key);
    if (!names?.delete(value)) return;
    if (names.size === 0) this.seen.delete(key);
  }
}

/**
 * Cells found by a path of string keys, one Map level per key. The strings come from the decoder's
 * cache or from the configuration, so each keeps its hash: a lookup costs no key string built and
 * hashed per span, which a joined key did (15 % of the agent's CPU at OTLP saturation).
 */
export class PathCells<T> {
  private readonly root = new Map<string, Map<string, Map<string, Map<string, Map<string, T>>>>>();
  all: T[] = [];

  /** Drops every cell whose path starts with `a`, `b`, or without `b` with `a` (rare: a server removed or relabelled). */
  remove(a: string, b?: string): void {
    const m1 = this.root.get(a);
    if (!m1) return;
    const subs = b === undefined ? [...m1.values()] : m1.has(b) ? [m1.get(b)!] : [];
    if (b === undefined) this.root.delete(a);
    else m1.delete(b);
    const gone = new Set<T>();
    for (const sub of subs) for (const m3 of sub.values()) for (const m4 of m3.values()) for (const cell of m4.values()) gone.add(cell);
    if (gone.size > 0) this.all = this.all.filter((c) => !gone.has(c));
  }

  cell(a: string, b: string, c: string, d: string, e: string, make: () => T): T {
    let m1 = this.root.get(a);
    if (!m1) this.root.set(a, (m1 = new Map()));
    let m2 = m1.get(b);
    if (!m2) m1.set(b, (m2 = new Map()));
    let m3 = m2.get(c);
    if (!m3) m2.set(c, (m3 = new Map()));
    let m4 = m3.get(d);
    if (!m4) m3.set(d, (m4 = new Map()));
    let cell = m4.get(e);
    if (!cell) {
      cell = make();
      m4.set(e, cell);
      this.all.push(cell);
    }
    return cell;
  }
}
