// A trace request as it is forwarded when some of its spans were rejected: without them. The sender
// was answered partial_success for those spans, and a backend that cannot read one span refuses the
// whole request (the Collector's unmarshalling does), which would lose the spans the sender was told
// were accepted. Only this uncommon path pays for it: a request without rejections is forwarded as
// it came, byte for byte.

import { WIRE_LEN, type RejectedSpan } from './decode.js';
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
  const drop = new Map<number, Map<number, Set<number>>>();
  for (const r of rejected) {
    if (!('resource' in r)) continue;
    let scopes = drop.get(r.resource);
    if (!scopes) drop.set(r.resource, (scopes = new Map()));
    let spans = scopes.get(r.scope);
    if (!spans) scopes.set(r.scope, (spans = new Set()));
    spans.add(r.span);
  }
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
