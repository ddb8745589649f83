// A trace request as it is forwarded when some of its spans were rejected: without them. The sender
// was answered partial_success for those spans, and a backend that cannot read one span refuses the
// whole request (the Collector's unmarshalling does), which would lose the spans the sender was told
// were accepted. Only this uncommon path pays for it: a request without rejections is forwarded as
// it came, byte for byte.

import { WIRE_LEN, type RejectedSpan } from './decode.js';
import { camelName } from '../wire/json-names.js';
import { isObject } from './json.js';

/** ExportTraceServiceRequest.resource_spans, ResourceSpans.scope_spans, ScopeSpans.spans. */
const RESOURCE_SPANS = 1;
const SCOPE_SPANS = 2;
const SPANS = 2;

type ByteRange = { start: number; end: number };

/**
 * The protobuf request without the spans at `rejected` (byte ranges from decodeTraceRequest, in
 * request order). Everything else is copied as it came; only the ResourceSpans and ScopeSpans that
 * held a rejected span get new length prefixes. The body's framing at those levels was checked when
 * it was decoded, so this walk does not check it again.
 */
export function protobufWithoutSpans(body: Buffer, rejected: readonly RejectedSpan[]): Buffer {
  const ranges = rejected.filter((r): r is ByteRange => 'start' in r);
  const out: Buffer[] = [];
  copyWithout(body, 0, body.length, 0, ranges, { next: 0 }, out);
  return Buffer.concat(out);
}

/**
 * Appends the fields of the message at [start, end) to `out`, leaving out the rejected spans. Depth
 * 0 is the request, 1 a ResourceSpans, 2 a ScopeSpans; `cursor.next` is the first range not yet
 * passed, as the ranges and the walk both go in byte order.
 */
function copyWithout(buf: Buffer, start: number, end: number, depth: number, ranges: readonly ByteRange[], cursor: { next: number }, out: Buffer[]): number {
  let written = 0;
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const tag = readVarint(buf, pos);
    pos = tag.end;
    const field = tag.value >>> 3;
    const wire = tag.value & 7;
    if (wire !== WIRE_LEN) {
      pos = skipScalar(buf, pos, wire);
      written += push(out, buf.subarray(fieldStart, pos));
      continue;
    }
    const len = readVarint(buf, pos);
    const contentStart = len.end;
    const fieldEnd = contentStart + len.value;
    pos = fieldEnd;
    const range = ranges[cursor.next];
    if (depth === 2 && field === SPANS && range !== undefined && range.start === fieldStart) {
      cursor.next++;
      continue;
    }
    const holdsRejected = range !== undefined && range.start < fieldEnd;
    const nests = (depth === 0 && field === RESOURCE_SPANS) || (depth === 1 && field === SCOPE_SPANS);
    if (!holdsRejected || !nests) {
      written += push(out, buf.subarray(fieldStart, fieldEnd));
      continue;
    }
    const inner: Buffer[] = [];
    const innerLen = copyWithout(buf, contentStart, fieldEnd, depth + 1, ranges, cursor, inner);
    written += push(out, buf.subarray(fieldStart, tag.end)) + push(out, varint(innerLen)) + innerLen;
    for (const chunk of inner) out.push(chunk);
  }
  return written;
}

function push(out: Buffer[], chunk: Buffer): number {
  out.push(chunk);
  return chunk.length;
}

function readVarint(buf: Buffer, pos: number): { value: number; end: number } {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++]!;
    // Tags and lengths here fit in 32 bits (a body is at most max_recv_msg_size_mib).
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return { value, end: pos };
  }
}

function skipScalar(buf: Buffer, pos: number, wire: number): number {
  if (wire === 0) return readVarint(buf, pos).end;
  if (wire === 1) return pos + 8;
  if (wire === 5) return pos + 4;
  // The decoder refuses a request with groups or other wire types before it gets here.
  throw new RangeError(`unexpected wire type ${wire} at offset ${pos}`);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

/**
 * The parsed OTLP/JSON request without the spans at `rejected` (indexes from the JSON decoder). Only
 * the objects on the way to a rejected span are copied; the rest is shared with `parsed`.
 */
export function jsonWithoutSpans(parsed: unknown, rejected: readonly RejectedSpan[]): unknown {
  if (!isObject(parsed) || !Array.isArray(parsed.resourceSpans)) return parsed;
  const drop = byScope(rejected);
  const resourceSpans = parsed.resourceSpans.map((rs: unknown, i) => {
    const scopes = drop.get(i);
    if (!scopes || !isObject(rs) || !Array.isArray(rs.scopeSpans)) return rs;
    const scopeSpans = rs.scopeSpans.map((ss: unknown, j) => {
      const spans = scopes.get(j);
      if (!spans || !isObject(ss) || !Array.isArray(ss.spans)) return ss;
      return { ...ss, spans: ss.spans.filter((_: unknown, k) => !spans.has(k)) };
    });
    return { ...rs, scopeSpans };
  });
  return { ...parsed, resourceSpans };
}

/** Rejected JSON spans by resource index, then scope index. */
function byScope(rejected: readonly RejectedSpan[]): Map<number, Map<number, Set<number>>> {
  const drop = new Map<number, Map<number, Set<number>>>();
  for (const r of rejected) {
    if (!('resource' in r)) continue;
    let scopes = drop.get(r.resource);
    if (!scopes) drop.set(r.resource, (scopes = new Map()));
    let spans = scopes.get(r.scope);
    if (!spans) scopes.set(r.scope, (spans = new Set()));
    spans.add(r.span);
  }
  return drop;
}

/**
 * The OTLP/JSON body without the spans at `rejected`, cut out of the text as it came: every other
 * byte is kept, where writing the parsed request again rounds an int64 sent as a JSON number past
 * 2^53 (a timestamp, an intValue) and drops what JSON.parse folds (a key sent twice). Only the
 * `spans` arrays that held a rejected span are written anew, their kept elements joined by commas.
 * Undefined when the text does not lead to those spans as the decoder's view of it did (a key sent
 * twice, which JSON.parse folds): the caller then writes the parsed request instead.
 * The body was parsed as JSON already, so this scan relies on its syntax being valid.
 */
export function jsonTextWithoutSpans(body: Buffer, rejected: readonly RejectedSpan[]): Buffer | undefined {
  try {
    return cutSpans(body, byScope(rejected));
  } catch (err) {
    if (err instanceof MismatchError) return undefined;
    throw err;
  }
}

/** The text does not lead where the decoder went. */
class MismatchError extends Error {}

type Member = { key: string; start: number; end: number };

function cutSpans(body: Buffer, drop: Map<number, Map<number, Set<number>>>): Buffer {
  const top = members(body, skipSpace(body, 0));
  // The decoder read every key by its camelCase name (a text without original names has no key
  // camelName changes), and refused a request naming a field on this way twice under its two names.
  const field = (fields: readonly Member[], name: string): Member => {
    const found = fields.filter((m) => camelName(m.key) === name);
    if (found.length !== 1) throw new MismatchError();
    return found[0]!;
  };
  const item = (list: readonly ByteRange[], index: number): Member[] => {
    if (index >= list.length) throw new MismatchError();
    return members(body, list[index]!.start);
  };
  const cuts: { range: ByteRange; kept: ByteRange[] }[] = [];
  const resources = elements(body, field(top, 'resourceSpans').start);
  for (const [i, scopes] of drop) {
    const scopeList = elements(body, field(item(resources, i), 'scopeSpans').start);
    for (const [j, rejectedSpans] of scopes) {
      const range = field(item(scopeList, j), 'spans');
      const spans = elements(body, range.start);
      for (const k of rejectedSpans) if (k >= spans.length) throw new MismatchError();
      cuts.push({ range, kept: spans.filter((_, k) => !rejectedSpans.has(k)) });
    }
  }
  cuts.sort((a, b) => a.range.start - b.range.start);
  const out: Buffer[] = [];
  let pos = 0;
  for (const { range, kept } of cuts) {
    out.push(body.subarray(pos, range.start), OPEN);
    kept.forEach((k, n) => {
      if (n > 0) out.push(COMMA);
      out.push(body.subarray(k.start, k.end));
    });
    out.push(CLOSE);
    pos = range.end;
  }
  out.push(body.subarray(pos));
  return Buffer.concat(out);
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function skipSpace(buf: Buffer, pos: number): number {
  for (;;) {
    const c = buf[pos];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return pos;
    pos++;
  }
}

/** Where the string opening at `pos` ends, past its closing quote. UTF-8 never repeats an ASCII byte. */
function stringEnd(buf: Buffer, pos: number): number {
  for (pos++; pos < buf.length; pos++) {
    const c = buf[pos];
    if (c === QUOTE) return pos + 1;
    if (c === BACKSLASH) pos++;
  }
  throw new MismatchError();
}

/** Where the value starting at `pos` ends; nesting is counted, not recursed into. */
function valueEnd(buf: Buffer, pos: number): number {
  const first = buf[pos];
  if (first === QUOTE) return stringEnd(buf, pos);
  if (first !== 0x7b && first !== 0x5b) {
    while (pos < buf.length && !isDelimiter(buf[pos]!)) pos++;
    return pos;
  }
  let depth = 0;
  while (pos < buf.length) {
    const c = buf[pos]!;
    if (c === QUOTE) {
      pos = stringEnd(buf, pos);
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return pos + 1;
    pos++;
  }
  throw new MismatchError();
}

function isDelimiter(c: number): boolean {
  return c === 0x2c || c === 0x5d || c === 0x7d || c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** The members of the object at `pos`, each key (unescaped) with its value's bytes. */
function members(buf: Buffer, pos: number): Member[] {
  if (buf[pos] !== 0x7b) throw new MismatchError();
  const out: Member[] = [];
  pos = skipSpace(buf, pos + 1);
  if (buf[pos] === 0x7d) return out;
  for (;;) {
    const keyEnd = stringEnd(buf, pos);
    const raw = buf.subarray(pos, keyEnd);
    const key = raw.includes(BACKSLASH) ? (JSON.parse(raw.toString('utf8')) as string) : raw.toString('utf8', 1, raw.length - 1);
    // Past the colon.
    const start = skipSpace(buf, skipSpace(buf, keyEnd) + 1);
    const end = valueEnd(buf, start);
    out.push({ key, start, end });
    pos = skipSpace(buf, end);
    if (buf[pos] === 0x7d) return out;
    pos = skipSpace(buf, pos + 1);
  }
}

/** The elements of the array at `pos`. */
function elements(buf: Buffer, pos: number): ByteRange[] {
  if (buf[pos] !== 0x5b) throw new MismatchError();
  const out: ByteRange[] = [];
  pos = skipSpace(buf, pos + 1);
  if (buf[pos] === 0x5d) return out;
  for (;;) {
    const end = valueEnd(buf, pos);
    out.push({ start: pos, end });
    pos = skipSpace(buf, end);
    if (buf[pos] === 0x5d) return out;
    pos = skipSpace(buf, pos + 1);
  }
}
