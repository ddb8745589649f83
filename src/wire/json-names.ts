// wire/json-names.ts: OTLP/JSON field names as the Collector reads them. OTLP/JSON asks senders for
// lowerCamelCase keys, but the Collector's reader takes a field's original protobuf name
// (`trace_id`) as well, in every object and independently of the object's other keys, and senders
// that print protobuf messages with their original names exist. The receiver and the forwarder's
// transcoder read camelCase only: a request is brought to it here, once, when its text can hold an
// original name at all. OTLP/JSON has no map fields (attributes are lists of key and value), so
// every object key is a field name.

type JsonObject = Record<string, unknown>;

/** Two keys of one object that name the same field; `within` adds where, on the way out. */
export class FieldNameConflict extends Error {
  private readonly segments: string[] = [];

  constructor(readonly detail: string) {
    super(detail);
  }

  within(segment: string): this {
    this.segments.push(segment);
    this.message = `${this.where}: ${this.detail}`;
    return this;
  }

  /** The path from the object the walk started at (`.links[0]`), '' when it is that object. */
  get where(): string {
    return [...this.segments].reverse().join('');
  }
}

const ORIGINAL_NAME = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$/;

/**
 * A field's lowerCamelCase JSON name from its original one (`resource_spans` → `resourceSpans`).
 * Only a name of lower-case words joined by underscores is one; the Collector takes no other
 * spelling (`parent_spanId` is an unknown field to it), and `__proto__` stays what it is.
 */
export function camelName(key: string): string {
  return key.includes('_') && ORIGINAL_NAME.test(key) ? key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()) : key;
}

/**
 * Whether the JSON text may have a key with an underscore. An `_` byte is only ever inside a string
 * (no other JSON token has one); that string is a key when the quote that closes it is followed by
 * a colon. The scan is linear: every `_` before one closing quote shares the answer. A key can
 * also write its underscore as an escape, which is rare enough to be taken as a maybe.
 */
export function mayHaveOriginalNames(text: string): boolean {
  let at = text.indexOf('_');
  while (at !== -1) {
    const close = closingQuote(text, at);
    if (close === -1) return true;
    let next = close + 1;
    while (isSpace(text.charCodeAt(next))) next++;
    if (text.charCodeAt(next) === 0x3a) return true;
    at = text.indexOf('_', next);
  }
  return text.includes('\\u005f') || text.includes('\\u005F');
}

/** The first quote at or after `from` that no backslash escapes. */
function closingQuote(text: string, from: number): number {
  for (let q = text.indexOf('"', from); q !== -1; q = text.indexOf('"', q + 1)) {
    let slashes = 0;
    while (text.charCodeAt(q - 1 - slashes) === 0x5c) slashes++;
    if (slashes % 2 === 0) return q;
  }
  return -1;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * The parsed request with every key in camelCase, or the request itself when `text`, its JSON,
 * has no original name. Throws FieldNameConflict for an object that names a field under both of its
 * names; RangeError for nesting deeper than a walk can follow.
 */
export function withFieldNamesInCamelCase(root: unknown, text: string): unknown {
  return mayHaveOriginalNames(text) ? camelKeys(root) : root;
}

/** Every key of `value`, at every depth, in camelCase. */
export function camelKeys(value: unknown): unknown {
  if (Array.isArray(value)) return camelArray(value, camelKeys);
  if (typeof value !== 'object' || value === null) return value;
  return camelObject(value as JsonObject, (_, v) => camelKeys(v));
}

/** `list` with `each` applied to its elements; a conflict is told where. */
export function camelArray(list: readonly unknown[], each: (value: unknown) => unknown): unknown[] {
  const out = new Array<unknown>(list.length);
  for (let i = 0; i < list.length; i++) {
    try {
      out[i] = each(list[i]);
    } catch (err) {
      throw err instanceof FieldNameConflict ? err.within(`[${i}]`) : err;
    }
  }
  return out;
}

/** `obj` with its keys in camelCase and `child(name, value)` for each value. */
export function camelObject(obj: JsonObject, child: (name: string, value: unknown) => unknown): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(obj)) {
    const name = camelName(key);
    if (Object.prototype.hasOwnProperty.call(out, name)) {
      // Which of two the Collector takes depends on the field (the last value, or both lists
      // joined): a sender that writes both is not guessed at but told.
      const other = Object.keys(obj).find((k) => camelName(k) === name)!;
      throw new FieldNameConflict(`one field sent under two names, "${other}" and "${key}"`);
    }
    let value: unknown;
    try {
      value = child(name, obj[key]);
    } catch (err) {
      throw err instanceof FieldNameConflict ? err.within(`.${name}`) : err;
    }
    // JSON.parse makes a `__proto__` key an own property; assigning it would set the prototype.
    if (name === '__proto__') Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
    else out[name] = value;
  }
  return out;
}
