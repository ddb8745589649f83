// Metrics and logs requests are not decoded (nothing in them is MCP traffic), but a body that is not
// an OTLP request at all must still be refused to its sender as bad input, as the OTLP spec asks of
// a receiver: accepted, it was forwarded, the backend refused it, and the sender never heard. This
// checks the framing down to each metric and log record, skipping their contents, so that every
// field's wire type and every length is checked at those levels and a truncated body (its outermost
// length runs past the end) is always caught, at the cost of a walk over a few bytes per record.

import protobuf from 'protobufjs/minimal.js';
import { OtlpDecodeError, WIRE_I32, WIRE_I64, WIRE_LEN, WIRE_VARINT } from './decode.js';
import { isObject, withFieldNamesInCamelCase } from './json.js';

// protobufjs is CommonJS and assigns Reader at run time, which Node's ESM named exports cannot see.
const { Reader } = protobuf;
type Reader = protobuf.Reader;

export type UndecodedSignal = 'metrics' | 'logs';

const VARINT = WIRE_VARINT;
const I64 = WIRE_I64;
const LEN = WIRE_LEN;
const I32 = WIRE_I32;

/** A message's known fields: field number → wire type, and the message to walk into for some. */
interface Shape {
  readonly name: string;
  readonly wire: Readonly<Record<number, number>>;
  readonly into?: Readonly<Record<number, Shape>>;
}

const SCOPE: Shape = { name: 'InstrumentationScope', wire: { 1: LEN, 2: LEN, 3: LEN, 4: VARINT } };
const RESOURCE: Shape = { name: 'Resource', wire: { 1: LEN, 2: VARINT, 3: LEN } };
const METRIC: Shape = { name: 'Metric', wire: { 1: LEN, 2: LEN, 3: LEN, 5: LEN, 7: LEN, 9: LEN, 10: LEN, 11: LEN, 12: LEN } };
const LOG_RECORD: Shape = { name: 'LogRecord', wire: { 1: I64, 2: VARINT, 3: LEN, 5: LEN, 6: LEN, 7: VARINT, 8: I32, 9: LEN, 10: LEN, 11: I64, 12: LEN } };
const scoped = (name: string, item: Shape): Shape => ({ name, wire: { 1: LEN, 2: LEN, 3: LEN }, into: { 1: SCOPE, 2: item } });
const resourced = (name: string, scope: Shape): Shape => ({ name, wire: { 1: LEN, 2: LEN, 3: LEN }, into: { 1: RESOURCE, 2: scope } });

const REQUESTS: Readonly<Record<UndecodedSignal, Shape>> = {
  metrics: { name: 'ExportMetricsServiceRequest', wire: { 1: LEN }, into: { 1: resourced('ResourceMetrics', scoped('ScopeMetrics', METRIC)) } },
  logs: { name: 'ExportLogsServiceRequest', wire: { 1: LEN }, into: { 1: resourced('ResourceLogs', scoped('ScopeLogs', LOG_RECORD)) } },
};

/**
 * Throws OtlpDecodeError (the receiver answers INVALID_ARGUMENT / 400) when `body` is not an OTLP
 * metrics or logs request in its content type. Returns the parsed body of a JSON request, so that
 * the forwarder does not parse it again.
 */
export function checkRequest(signal: UndecodedSignal, body: Buffer, contentType: 'application/x-protobuf' | 'application/json'): { parsed?: unknown } {
  if (contentType === 'application/json') return { parsed: checkJson(signal, body) };
  const r = new Reader(body);
  try {
    walk(r, r.len, REQUESTS[signal]);
  } catch (err) {
    throw new OtlpDecodeError('OTLP_INVALID_PROTOBUF', `invalid OTLP protobuf ${signal} request: ${err instanceof Error ? err.message : String(err)}`, r.pos);
  }
  return {};
}

function walk(r: Reader, end: number, shape: Shape): void {
  while (r.pos < end) {
    const at = r.pos;
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    // OTLP is proto3: no groups (wire types 3 and 4) anywhere, and no field 0.
    if (field === 0 || (wire !== VARINT && wire !== I64 && wire !== LEN && wire !== I32)) {
      throw new RangeError(`${shape.name}: invalid tag ${tag} at offset ${at}`);
    }
    const expected = shape.wire[field];
    if (expected !== undefined && expected !== wire) throw new RangeError(`${shape.name}: field ${field} has wire type ${wire}, expected ${expected}`);
    if (wire !== LEN) {
      r.skipType(wire);
      if (r.pos > end) throw new RangeError(`${shape.name}: field ${field} runs past the end of its message`);
      continue;
    }
    const len = r.uint32();
    const subEnd = r.pos + len;
    if (subEnd > end) throw new RangeError(`${shape.name}: field ${field} of ${len} bytes at offset ${r.pos} runs past the end of its message (${end})`);
    const inner = shape.into?.[field];
    if (inner) walk(r, subEnd, inner);
    r.pos = subEnd;
  }
}

/** A JSON request must be an object whose list of resources, if any, is an array of objects. */
function checkJson(signal: UndecodedSignal, body: Buffer): unknown {
  let parsed: unknown;
  const text = body.toString('utf8');
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new OtlpDecodeError('OTLP_INVALID_JSON', `invalid OTLP JSON ${signal} request: not JSON: ${(err as Error).message}`);
  }
  parsed = withFieldNamesInCamelCase(parsed, text);
  const key = signal === 'metrics' ? 'resourceMetrics' : 'resourceLogs';
  const why = !isObject(parsed)
    ? 'the request must be a JSON object'
    : parsed[key] != null && !(Array.isArray(parsed[key]) && (parsed[key] as unknown[]).every(isObject))
      ? `${key} must be an array of objects`
      : undefined;
  if (why) throw new OtlpDecodeError('OTLP_INVALID_JSON', `invalid OTLP JSON ${signal} request: ${why}`);
  return parsed;
}
