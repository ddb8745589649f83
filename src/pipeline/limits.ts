/** The label value that stands for every name past a cardinality limit. */
export const OTHER = '_other';

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
}
