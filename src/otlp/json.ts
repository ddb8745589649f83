// OTLP/JSON (`application/json`) trace requests into the same records as the protobuf decoder.
// The JSON form differs from protobuf only in its encoding: lowerCamelCase keys (original field names
// are taken too, wire/json-names.ts), hex ids, int64 as decimal strings (or numbers), enums as
// integers (names are accepted too).

import { camelArray, camelKeys, camelObject, FieldNameConflict, mayHaveOriginalNames, withFieldNamesInCamelCase as withCamelNames } from '../wire/json-names.js';
import {
  DEFAULT_RESOURCE_KEYS,
  DEFAULT_SPAN_KEYS,
  countEntry,
  OtlpDecodeError,
  type AttrValue,
  type DecodeOptions,
  type DecodeResult,
  type DecodedResource,
  type DecodedSpan,
  type RejectedSpan,
} from './decode.js';

type JsonObject = Record<string, unknown>;

const SPAN_KINDS: Readonly<Record<string, number>> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};

const STATUS_CODES: Readonly<Record<string, number>> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

/** A span-level problem: the span is rejected, its batch goes on. */
class SpanRejection extends Error {}

/**
 * Decodes an OTLP/JSON `ExportTraceServiceRequest`. Throws OtlpDecodeError when the body is not
 * JSON or the request's structure is wrong; a span that is itself malformed is counted in
 * `rejected` instead.
 */
export function decodeTraceRequestJson(body: string | Uint8Array, options: DecodeOptions = {}): DecodeResult {
  return decodeParsedTraceRequest(parseJsonRequest(body), options);
}

/** An OTLP/JSON body parsed, once, for whoever needs it; OtlpDecodeError when it is not JSON. */
export function parseJsonRequest(body: string | Uint8Array): unknown {
  const text = typeof body === 'string' ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    throw invalid(`not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(root) || !mayHaveOriginalNames(text)) return root;
  return renamed(() => camelTraceRequest(root));
}

/**
 * A parsed OTLP/JSON request of any signal with its keys in camelCase (wire/json-names.ts), given
 * its text; OtlpDecodeError for a field sent under both its names.
 */
export function withFieldNamesInCamelCase(root: unknown, text: string): unknown {
  return renamed(() => withCamelNames(root, text));
}

function renamed<T>(rename: () => T): T {
  try {
    return rename();
  } catch (err) {
    // JSON.parse takes nesting deeper than a recursive walk can follow: bad input, not a crash.
    if (err instanceof RangeError) throw new OtlpDecodeError('OTLP_INVALID_JSON', 'invalid OTLP JSON request: nested too deeply to read');
    if (err instanceof FieldNameConflict) throw new OtlpDecodeError('OTLP_INVALID_JSON', `invalid OTLP JSON request: ${err.where ? `${err.where.slice(1)}: ` : ''}${err.detail}`);
    throw err;
  }
}

/**
 * Spans that name a field under both its names, with why: each is left as it came, for the decoder
 * to reject alone, as a span with any other fault is. Keyed by the span object, so nothing is held.
 */
const CONFLICTED_SPANS = new WeakMap<object, string>();
/** Requests holding such a span: only their spans are looked up. */
const WITH_CONFLICTS = new WeakSet<object>();

/** The trace request in camelCase, down to the spans, each of which is renamed apart. */
function camelTraceRequest(root: JsonObject): JsonObject {
  let conflicts = false;
  const span = (value: unknown): unknown => {
    try {
      return camelKeys(value);
    } catch (err) {
      if (!(err instanceof FieldNameConflict)) throw err;
      CONFLICTED_SPANS.set(value as object, `${err.where}: ${err.detail}`);
      conflicts = true;
      return value;
    }
  };
  const scope = (value: unknown): unknown => (isObject(value) ? camelObject(value, (name, v) => (name === 'spans' && Array.isArray(v) ? camelArray(v, span) : camelKeys(v))) : value);
  const resource = (value: unknown): unknown => (isObject(value) ? camelObject(value, (name, v) => (name === 'scopeSpans' && Array.isArray(v) ? camelArray(v, scope) : camelKeys(v))) : value);
  const out = camelObject(root, (name, v) => (name === 'resourceSpans' && Array.isArray(v) ? camelArray(v, resource) : camelKeys(v)));
  if (conflicts) WITH_CONFLICTS.add(out);
  return out;
}

/** decodeTraceRequestJson for a body parseJsonRequest has already parsed. */
export function decodeParsedTraceRequest(root: unknown, options: DecodeOptions = {}): DecodeResult {
  try {
    return decodeJson(root, options);
  } catch (err) {
    // Whatever the input provokes, the receiver only ever sees the one typed error.
    if (err instanceof OtlpDecodeError) throw err;
    throw invalid(err instanceof Error ? err.message : String(err));
  }
}

function decodeJson(root: unknown, options: DecodeOptions): DecodeResult {
  if (!isObject(root)) throw invalid('the request must be a JSON object');
  const spanKeys = (options.spanKeys ?? DEFAULT_SPAN_KEYS).keys;
  const resourceKeys = (options.resourceKeys ?? DEFAULT_RESOURCE_KEYS).keys;
  const ids = options.ids === true;
  const spans: DecodedSpan[] = [];
  let rejected = 0;
  let rejectionMessage: string | undefined;
  let rejectedSpans: RejectedSpan[] | undefined;

  const resourceSpans = arrayAt(root, 'resourceSpans', 'resourceSpans');
  const conflicts = WITH_CONFLICTS.has(root);
  const counted = { entries: 0 };
  for (let i = 0; i < resourceSpans.length; i++) {
    countEntry(counted);
    const rs = resourceSpans[i];
    const rsPath = `resourceSpans[${i}]`;
    if (!isObject(rs)) throw invalid(`${rsPath} must be an object`);
    const resource = decodeResource(rs.resource, resourceKeys, `${rsPath}.resource`);
    const scopeSpans = arrayAt(rs, 'scopeSpans', `${rsPath}.scopeSpans`);
    for (let j = 0; j < scopeSpans.length; j++) {
      countEntry(counted);
      const ss = scopeSpans[j];
      const ssPath = `${rsPath}.scopeSpans[${j}]`;
      if (!isObject(ss)) throw invalid(`${ssPath} must be an object`);
      const scope = scopeName(ss.scope, `${ssPath}.scope`);
      const list = arrayAt(ss, 'spans', `${ssPath}.spans`);
      for (let k = 0; k < list.length; k++) {
        countEntry(counted);
        const path = `${ssPath}.spans[${k}]`;
        try {
          const conflict = conflicts ? CONFLICTED_SPANS.get(list[k] as object) : undefined;
          if (conflict !== undefined) throw new SpanRejection(`${path}${conflict}`);
          spans.push(decodeSpan(list[k], spanKeys, ids, resource, scope, path));
        } catch (err) {
          if (!(err instanceof SpanRejection)) throw err;
          rejected++;
          rejectionMessage ??= err.message;
          (rejectedSpans ??= []).push({ resource: i, scope: j, span: k });
        }
      }
    }
  }
  const result: DecodeResult = { spans, rejected };
  if (rejectionMessage !== undefined) result.rejectionMessage = rejectionMessage;
  if (rejectedSpans !== undefined) result.rejectedSpans = rejectedSpans;
  return result;
}

function decodeResource(value: unknown, keys: ReadonlySet<string>, path: string): DecodedResource {
  const resource: DecodedResource = { serviceName: undefined, attrs: new Map() };
  if (value === undefined || value === null) return resource;
  if (!isObject(value)) throw invalid(`${path} must be an object`);
  try {
    readAttributes(value.attributes, keys, resource.attrs, `${path}.attributes`);
  } catch (err) {
    // A bad resource attribute spoils every span under it, so the request as a whole is invalid.
    if (err instanceof SpanRejection) throw invalid(err.message);
    throw err;
  }
  const service = resource.attrs.get('service.name');
  resource.serviceName = typeof service === 'string' ? service : undefined;
  return resource;
}

function scopeName(value: unknown, path: string): string {
  if (value === undefined || value === null) return '';
  if (!isObject(value)) throw invalid(`${path} must be an object`);
  const name = value.name;
  if (name === undefined || name === null) return '';
  if (typeof name !== 'string') throw invalid(`${path}.name must be a string`);
  return name;
}

function decodeSpan(
  value: unknown,
  keys: ReadonlySet<string>,
  ids: boolean,
  resource: DecodedResource,
  scope: string,
  path: string,
): DecodedSpan {
  if (!isObject(value)) throw new SpanRejection(`${path} must be an object`);
  const name = optionalString(value.name, `${path}.name`);
  const kind = enumValue(value.kind, SPAN_KINDS, `${path}.kind`);
  const start = nanos(value.startTimeUnixNano, `${path}.startTimeUnixNano`);
  const end = nanos(value.endTimeUnixNano, `${path}.endTimeUnixNano`);
  if (start === 0n || end === 0n) throw new SpanRejection(`${path}: missing start or end time`);
  if (end < start) throw new SpanRejection(`${path}: ends before it starts`);
  let statusCode = 0;
  let statusMessage = '';
  const status = value.status;
  if (status !== undefined && status !== null) {
    if (!isObject(status)) throw new SpanRejection(`${path}.status must be an object`);
    statusCode = enumValue(status.code, STATUS_CODES, `${path}.status.code`);
    statusMessage = optionalString(status.message, `${path}.status.message`);
  }
  const attrs = new Map<string, AttrValue>();
  readAttributes(value.attributes, keys, attrs, `${path}.attributes`);
  let traceId: string | undefined;
  let spanId: string | undefined;
  let parentSpanId: string | undefined;
  const parent = value.parentSpanId;
  const noParent = parent === undefined || parent === null || parent === '';
  if (ids) {
    traceId = hexId(value.traceId, 32, `${path}.traceId`);
    spanId = hexId(value.spanId, 16, `${path}.spanId`);
    parentSpanId = noParent ? undefined : hexId(parent, 16, `${path}.parentSpanId`);
  } else {
    // As sent, not lower-cased: only MCP spans' ids are read (otlp/pairing.ts). Checked all the same,
    // as the Collector refuses a whole request for one id that is not hex of its length, which
    // would lose the spans accepted with it; an empty one it takes, and so does this.
    traceId = sentId(value.traceId, 32, `${path}.traceId`);
    spanId = sentId(value.spanId, 16, `${path}.spanId`);
    parentSpanId = noParent ? undefined : sentId(parent, 16, `${path}.parentSpanId`);
  }
  const links = value.links;
  if (links !== undefined && links !== null) checkLinks(links, `${path}.links`);
  return {
    name,
    kind,
    startNs: Number(start),
    durationSeconds: Number(end - start) / 1e9,
    statusCode,
    statusMessage,
    attrs,
    resource,
    scope,
    traceId,
    spanId,
    parentSpanId,
    idBytes: undefined,
    traceIdAt: -1,
    spanIdAt: -1,
    parentSpanIdAt: -1,
  };
}

/**
 * A link's ids are checked as the span's own: the Collector refuses a whole request for one that is
 * not hex of its length, and so does a gRPC backend's re-encoding (export/transcode.ts).
 */
function checkLinks(links: unknown, path: string): void {
  if (!Array.isArray(links)) throw new SpanRejection(`${path} must be an array`);
  for (let i = 0; i < links.length; i++) {
    const link: unknown = links[i];
    if (!isObject(link)) throw new SpanRejection(`${path}[${i}] must be an object`);
    sentId(link.traceId, 32, `${path}[${i}].traceId`);
    sentId(link.spanId, 16, `${path}[${i}].spanId`);
  }
}

/** Reads the wanted keys of a KeyValue list; values of other keys are not even looked at. */
function readAttributes(value: unknown, keys: ReadonlySet<string>, out: Map<string, AttrValue>, path: string): void {
  if (value === undefined || value === null) return;
  if (!Array.isArray(value)) throw new SpanRejection(`${path} must be an array`);
  for (let i = 0; i < value.length; i++) {
    const kv: unknown = value[i];
    if (!isObject(kv) || typeof kv.key !== 'string') {
      throw new SpanRejection(`${path}[${i}] must be an object with a string key`);
    }
    if (!keys.has(kv.key)) continue;
    const scalar = scalarValue(kv.value, `${path}[${i}].value`);
    if (scalar !== undefined) out.set(kv.key, scalar);
  }
}

const INT64 = /^[+-]?\d{1,20}$/;
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function scalarValue(value: unknown, path: string): AttrValue | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) throw new SpanRejection(`${path} must be an object`);
  if (value.stringValue !== undefined && value.stringValue !== null) {
    if (typeof value.stringValue !== 'string') throw new SpanRejection(`${path}.stringValue must be a string`);
    return value.stringValue;
  }
  if (value.boolValue !== undefined && value.boolValue !== null) {
    if (typeof value.boolValue !== 'boolean') throw new SpanRejection(`${path}.boolValue must be a boolean`);
    return value.boolValue;
  }
  const int = value.intValue;
  if (int !== undefined && int !== null) {
    // proto3 JSON writes int64 as a string; JavaScript SDKs write a number.
    if (typeof int === 'number' && Number.isInteger(int)) return int;
    if (typeof int === 'string' && INT64.test(int)) return Number(int);
    throw new SpanRejection(`${path}.intValue must be an integer or a decimal string`);
  }
  const dbl = value.doubleValue;
  if (dbl !== undefined && dbl !== null) {
    if (typeof dbl === 'number') return dbl;
    if (dbl === 'NaN') return Number.NaN;
    if (dbl === 'Infinity') return Number.POSITIVE_INFINITY;
    if (dbl === '-Infinity') return Number.NEGATIVE_INFINITY;
    if (typeof dbl === 'string' && FLOAT.test(dbl)) return Number(dbl);
    throw new SpanRejection(`${path}.doubleValue must be a number`);
  }
  // arrayValue, kvlistValue and bytesValue: recognition needs scalars only.
  return undefined;
}

const UINT64 = /^\d{1,20}$/;

function nanos(value: unknown, path: string): bigint {
  if (value === undefined || value === null) return 0n;
  if (typeof value === 'string' && UINT64.test(value)) return BigInt(value);
  // Integral doubles above 2^53 are accepted as they are: a JSON number cannot say more.
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return BigInt(value);
  throw new SpanRejection(`${path} must be a non-negative integer or a decimal string`);
}

function enumValue(value: unknown, names: Readonly<Record<string, number>>, path: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(names, value)) return names[value]!;
  throw new SpanRejection(`${path} must be an integer or an enum name`);
}

function optionalString(value: unknown, path: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new SpanRejection(`${path} must be a string`);
  return value;
}

const HEX = /^[0-9a-fA-F]*$/;

function hexId(value: unknown, length: number, path: string): string {
  const id = validHexId(value, length);
  if (id === undefined) throw new SpanRejection(`${path} must be ${length} hex digits`);
  return id;
}

function validHexId(value: unknown, length: number): string | undefined {
  return typeof value === 'string' && value.length === length && HEX.test(value) ? value.toLowerCase() : undefined;
}

/** An id as sent: absent, empty, or `length` hex digits in either case; a span with another is rejected. */
function sentId(value: unknown, length: number, path: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || value.length !== length || !HEX.test(value)) throw new SpanRejection(`${path} must be ${length} hex digits`);
  return value;
}

/** An optional array member: absent or null is empty, anything else but an array is invalid. */
function arrayAt(obj: JsonObject, key: string, path: string): readonly unknown[] {
  const value = obj[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`${path} must be an array`);
  return value;
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string): OtlpDecodeError {
  return new OtlpDecodeError('OTLP_INVALID_JSON', `invalid OTLP JSON trace request: ${message}`);
}
