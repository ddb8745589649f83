// OTLP/JSON → OTLP protobuf, for forwarding: gRPC carries protobuf only, and an agent whose SDK
// exports OTLP/HTTP JSON (the default of OpenTelemetry JS's exporter-*-otlp-http) must not lose its
// data because the backend behind mcpwatch speaks gRPC. The JSON form is the protobuf one with
// lowerCamelCase keys (or the original names, wire/json-names.ts), hex trace and span ids, base64
// bytes, int64 as decimal strings (or numbers) and enums as integers (names accepted). Fields a newer OTLP adds than the tables below know are not
// carried over (an unknown JSON key has no field number to be written under).

import protobuf from 'protobufjs/minimal.js';
import { FieldNameConflict, withFieldNamesInCamelCase } from '../wire/json-names.js';
import type { OtlpSignal } from '../wire/otlp.js';

// protobufjs is CommonJS and assigns Writer at run time, which Node's ESM named exports cannot see.
const { Writer } = protobuf;
type ProtoWriter = InstanceType<typeof Writer>;

type Scalar = 'string' | 'bool' | 'int32' | 'uint32' | 'sint32' | 'fixed32' | 'int64' | 'uint64' | 'fixed64' | 'sfixed64' | 'double' | 'bytes' | 'traceId' | 'spanId';
interface Field {
  no: number;
  type: Scalar | Message | EnumNames;
  repeated?: true;
  /** Written even when it holds its default: a oneof member or an `optional` field. */
  presence?: true;
}
interface Message {
  [jsonName: string]: Field;
}
/** An enum's value names, for senders that write names instead of numbers. */
interface EnumNames {
  enum: Readonly<Record<string, number>>;
}

/** What could not be encoded, and where: `traces.resourceSpans[0].scopeSpans[0].spans[3].traceId: …`. */
export class TranscodeError extends Error {
  private readonly segments: string[] = [];

  constructor(private readonly detail: string) {
    super(detail);
  }

  /** Prepends one step of the path (errors travel outwards, so steps arrive innermost first). */
  within(segment: string): this {
    this.segments.push(segment);
    this.message = `${[...this.segments].reverse().join('')}: ${this.detail}`;
    return this;
  }
}

const f = (no: number, type: Field['type'], repeated?: true): Field => (repeated ? { no, type, repeated } : { no, type });
/** A field with explicit presence. */
const p = (no: number, type: Scalar): Field => ({ no, type, presence: true });
const names = (...list: string[]): EnumNames => ({ enum: Object.fromEntries(list.map((n, i) => [n, i])) });

// ---- opentelemetry/proto/common/v1, resource/v1 ---------------------------------------------------

const AnyValue: Message = {};
const KeyValue: Message = { key: f(1, 'string'), value: f(2, AnyValue) };
const ArrayValue: Message = { values: f(1, AnyValue, true) };
const KeyValueList: Message = { values: f(1, KeyValue, true) };
Object.assign(AnyValue, {
  stringValue: p(1, 'string'),
  boolValue: p(2, 'bool'),
  intValue: p(3, 'int64'),
  doubleValue: p(4, 'double'),
  arrayValue: f(5, ArrayValue),
  kvlistValue: f(6, KeyValueList),
  bytesValue: p(7, 'bytes'),
});
const InstrumentationScope: Message = { name: f(1, 'string'), version: f(2, 'string'), attributes: f(3, KeyValue, true), droppedAttributesCount: f(4, 'uint32') };
const EntityRef: Message = { schemaUrl: f(1, 'string'), type: f(2, 'string'), idKeys: f(3, 'string', true), descriptionKeys: f(4, 'string', true) };
const Resource: Message = { attributes: f(1, KeyValue, true), droppedAttributesCount: f(2, 'uint32'), entityRefs: f(3, EntityRef, true) };

// ---- trace/v1 ------------------------------------------------------------------------------------

const SpanKind = names('SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER');
const StatusCode = names('STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR');
const Event: Message = { timeUnixNano: f(1, 'fixed64'), name: f(2, 'string'), attributes: f(3, KeyValue, true), droppedAttributesCount: f(4, 'uint32') };
const Link: Message = {
  traceId: f(1, 'traceId'),
  spanId: f(2, 'spanId'),
  traceState: f(3, 'string'),
  attributes: f(4, KeyValue, true),
  droppedAttributesCount: f(5, 'uint32'),
  flags: f(6, 'fixed32'),
};
const Status: Message = { message: f(2, 'string'), code: f(3, StatusCode) };
const Span: Message = {
  traceId: f(1, 'traceId'),
  spanId: f(2, 'spanId'),
  traceState: f(3, 'string'),
  parentSpanId: f(4, 'spanId'),
  name: f(5, 'string'),
  kind: f(6, SpanKind),
  startTimeUnixNano: f(7, 'fixed64'),
  endTimeUnixNano: f(8, 'fixed64'),
  attributes: f(9, KeyValue, true),
  droppedAttributesCount: f(10, 'uint32'),
  events: f(11, Event, true),
  droppedEventsCount: f(12, 'uint32'),
  links: f(13, Link, true),
  droppedLinksCount: f(14, 'uint32'),
  status: f(15, Status),
  flags: f(16, 'fixed32'),
};
const ScopeSpans: Message = { scope: f(1, InstrumentationScope), spans: f(2, Span, true), schemaUrl: f(3, 'string') };
const ResourceSpans: Message = { resource: f(1, Resource), scopeSpans: f(2, ScopeSpans, true), schemaUrl: f(3, 'string') };

// ---- metrics/v1 ----------------------------------------------------------------------------------

const Temporality = names('AGGREGATION_TEMPORALITY_UNSPECIFIED', 'AGGREGATION_TEMPORALITY_DELTA', 'AGGREGATION_TEMPORALITY_CUMULATIVE');
const Exemplar: Message = {
  timeUnixNano: f(2, 'fixed64'),
  asDouble: p(3, 'double'),
  spanId: f(4, 'spanId'),
  traceId: f(5, 'traceId'),
  asInt: p(6, 'sfixed64'),
  filteredAttributes: f(7, KeyValue, true),
};
const NumberDataPoint: Message = {
  startTimeUnixNano: f(2, 'fixed64'),
  timeUnixNano: f(3, 'fixed64'),
  asDouble: p(4, 'double'),
  exemplars: f(5, Exemplar, true),
  asInt: p(6, 'sfixed64'),
  attributes: f(7, KeyValue, true),
  flags: f(8, 'uint32'),
};
const HistogramDataPoint: Message = {
  startTimeUnixNano: f(2, 'fixed64'),
  timeUnixNano: f(3, 'fixed64'),
  count: f(4, 'fixed64'),
  sum: p(5, 'double'),
  bucketCounts: f(6, 'fixed64', true),
  explicitBounds: f(7, 'double', true),
  exemplars: f(8, Exemplar, true),
  attributes: f(9, KeyValue, true),
  flags: f(10, 'uint32'),
  min: p(11, 'double'),
  max: p(12, 'double'),
};
const Buckets: Message = { offset: f(1, 'sint32'), bucketCounts: f(2, 'uint64', true) };
const ExponentialHistogramDataPoint: Message = {
  attributes: f(1, KeyValue, true),
  startTimeUnixNano: f(2, 'fixed64'),
  timeUnixNano: f(3, 'fixed64'),
  count: f(4, 'fixed64'),
  sum: p(5, 'double'),
  scale: f(6, 'sint32'),
  zeroCount: f(7, 'fixed64'),
  positive: f(8, Buckets),
  negative: f(9, Buckets),
  flags: f(10, 'uint32'),
  exemplars: f(11, Exemplar, true),
  min: p(12, 'double'),
  max: p(13, 'double'),
  zeroThreshold: f(14, 'double'),
};
const ValueAtQuantile: Message = { quantile: f(1, 'double'), value: f(2, 'double') };
const SummaryDataPoint: Message = {
  startTimeUnixNano: f(2, 'fixed64'),
  timeUnixNano: f(3, 'fixed64'),
  count: f(4, 'fixed64'),
  sum: f(5, 'double'),
  quantileValues: f(6, ValueAtQuantile, true),
  attributes: f(7, KeyValue, true),
  flags: f(8, 'uint32'),
};
const Metric: Message = {
  name: f(1, 'string'),
  description: f(2, 'string'),
  unit: f(3, 'string'),
  gauge: f(5, { dataPoints: f(1, NumberDataPoint, true) }),
  sum: f(7, { dataPoints: f(1, NumberDataPoint, true), aggregationTemporality: f(2, Temporality), isMonotonic: f(3, 'bool') }),
  histogram: f(9, { dataPoints: f(1, HistogramDataPoint, true), aggregationTemporality: f(2, Temporality) }),
  exponentialHistogram: f(10, { dataPoints: f(1, ExponentialHistogramDataPoint, true), aggregationTemporality: f(2, Temporality) }),
  summary: f(11, { dataPoints: f(1, SummaryDataPoint, true) }),
  metadata: f(12, KeyValue, true),
};
const ScopeMetrics: Message = { scope: f(1, InstrumentationScope), metrics: f(2, Metric, true), schemaUrl: f(3, 'string') };
const ResourceMetrics: Message = { resource: f(1, Resource), scopeMetrics: f(2, ScopeMetrics, true), schemaUrl: f(3, 'string') };

// ---- logs/v1 -------------------------------------------------------------------------------------

const SEVERITIES = ['UNSPECIFIED', 'TRACE', 'TRACE2', 'TRACE3', 'TRACE4', 'DEBUG', 'DEBUG2', 'DEBUG3', 'DEBUG4', 'INFO', 'INFO2', 'INFO3', 'INFO4', 'WARN', 'WARN2', 'WARN3', 'WARN4', 'ERROR', 'ERROR2', 'ERROR3', 'ERROR4', 'FATAL', 'FATAL2', 'FATAL3', 'FATAL4'];
const SeverityNumber = names(...SEVERITIES.map((s) => `SEVERITY_NUMBER_${s}`));
const LogRecord: Message = {
  timeUnixNano: f(1, 'fixed64'),
  severityNumber: f(2, SeverityNumber),
  severityText: f(3, 'string'),
  body: f(5, AnyValue),
  attributes: f(6, KeyValue, true),
  droppedAttributesCount: f(7, 'uint32'),
  flags: f(8, 'fixed32'),
  traceId: f(9, 'traceId'),
  spanId: f(10, 'spanId'),
  observedTimeUnixNano: f(11, 'fixed64'),
  eventName: f(12, 'string'),
};
const ScopeLogs: Message = { scope: f(1, InstrumentationScope), logRecords: f(2, LogRecord, true), schemaUrl: f(3, 'string') };
const ResourceLogs: Message = { resource: f(1, Resource), scopeLogs: f(2, ScopeLogs, true), schemaUrl: f(3, 'string') };

/** Export{Trace,Metrics,Logs}ServiceRequest. */
const REQUESTS: Record<OtlpSignal, Message> = {
  traces: { resourceSpans: f(1, ResourceSpans, true) },
  metrics: { resourceMetrics: f(1, ResourceMetrics, true) },
  logs: { resourceLogs: f(1, ResourceLogs, true) },
};

// ---- encoding ------------------------------------------------------------------------------------

const WIRE: Record<Scalar, number> = {
  string: 2,
  bytes: 2,
  traceId: 2,
  spanId: 2,
  bool: 0,
  int32: 0,
  uint32: 0,
  sint32: 0,
  int64: 0,
  uint64: 0,
  fixed32: 5,
  fixed64: 1,
  sfixed64: 1,
  double: 1,
};

const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const ID_BYTES = { traceId: 16, spanId: 8 } as const;

/**
 * proto3 leaves a field without presence out when it holds its default, so a JSON sender's explicit
 * `"unit": ""` or `"isMonotonic": false` encodes to what the same data's protobuf form would be.
 */
function isDefault(value: unknown): boolean {
  return value === '' || value === false || value === 0 || value === '0';
}

/** A 64-bit integer as protobufjs takes it: decimal strings stay exact (it has long.js). */
function int64(value: unknown): number | string {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return value;
  throw new TranscodeError(`expected an integer (number or decimal string), got ${JSON.stringify(value)}`);
}

function number(value: unknown): number {
  const n = typeof value === 'string' ? Number(value) : value;
  if (typeof n !== 'number' || (Number.isNaN(n) && value !== 'NaN')) throw new TranscodeError(`expected a number, got ${JSON.stringify(value)}`);
  return n;
}

function writeScalar(w: ProtoWriter, type: Scalar, value: unknown): void {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') throw new TranscodeError(`expected a string, got ${JSON.stringify(value)}`);
      w.string(value);
      return;
    case 'bytes':
      if (typeof value !== 'string') throw new TranscodeError(`expected base64, got ${JSON.stringify(value)}`);
      w.bytes(Buffer.from(value, 'base64'));
      return;
    case 'traceId':
    case 'spanId': {
      if (typeof value !== 'string' || !HEX.test(value)) throw new TranscodeError(`expected a hex id, got ${JSON.stringify(value)}`);
      // OTLP's ids have one length (empty: absent, left out before here). The backend refuses a
      // whole request for one id of another length, which the sender, answered 200, never hears.
      const bytes = ID_BYTES[type];
      if (value.length !== 2 * bytes) throw new TranscodeError(`expected a hex id of ${bytes} bytes, got ${value.length / 2}: ${JSON.stringify(value)}`);
      w.bytes(Buffer.from(value, 'hex'));
      return;
    }
    case 'bool':
      if (typeof value !== 'boolean') throw new TranscodeError(`expected true or false, got ${JSON.stringify(value)}`);
      w.bool(value);
      return;
    case 'int32':
    case 'uint32':
    case 'sint32':
    case 'fixed32': {
      const n = number(value);
      if (!Number.isInteger(n)) throw new TranscodeError(`expected an integer, got ${JSON.stringify(value)}`);
      w[type](n);
      return;
    }
    case 'int64':
    case 'uint64':
    case 'fixed64':
    case 'sfixed64':
      w[type](int64(value));
      return;
    case 'double':
      w.double(number(value));
      return;
  }
}

function enumValue(names: EnumNames, value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && names.enum[value] !== undefined) return names.enum[value]!;
  const known = Object.keys(names.enum);
  // SeverityNumber has 25 names: the message goes back to the sender, so a few show the form.
  const shown = known.length > 6 ? `${known.slice(0, 3).join(', ')}, … ${known[known.length - 1]}` : known.join(', ');
  throw new TranscodeError(`expected an enum number or one of ${shown}, got ${JSON.stringify(value)}`);
}

/** A message's fields in field-number order, as protobuf encoders write them; computed once. */
const ORDER = new WeakMap<Message, ReadonlyArray<readonly [string, Field]>>();
function fieldsInOrder(message: Message): ReadonlyArray<readonly [string, Field]> {
  let order = ORDER.get(message);
  if (!order) ORDER.set(message, (order = Object.entries(message).sort(([, a], [, b]) => a.no - b.no)));
  return order;
}

/** Adds where an error happened on its way out; the happy path builds no path strings. */
function at(err: unknown, segment: string): unknown {
  return err instanceof TranscodeError ? err.within(segment) : err;
}

function writeMessage(w: ProtoWriter, message: Message, json: unknown): void {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new TranscodeError('expected an object');
  const obj = json as Record<string, unknown>;
  for (const [name, field] of fieldsInOrder(message)) {
    const value = obj[name];
    if (value == null) continue;
    try {
      if (field.repeated) {
        if (!Array.isArray(value)) throw new TranscodeError('expected an array');
        if (value.length === 0) continue;
        let i = 0;
        try {
          if (typeof field.type === 'string' && WIRE[field.type] !== 2) {
            // Repeated numbers are packed, as proto3 writes them.
            w.uint32((field.no << 3) | 2).fork();
            for (; i < value.length; i++) writeScalar(w, field.type, value[i]);
            w.ldelim();
          } else {
            for (; i < value.length; i++) writeField(w, field, value[i]);
          }
        } catch (err) {
          throw at(err, `[${i}]`);
        }
      } else if (field.presence || isMessage(field.type) || !(isDefault(value) || isZeroName(field.type, value))) {
        writeField(w, field, value);
      }
    } catch (err) {
      throw at(err, `.${name}`);
    }
  }
}

/** An enum written by the name of its zero value (`"SPAN_KIND_UNSPECIFIED"`) is a default too. */
function isZeroName(type: Field['type'], value: unknown): boolean {
  return typeof type !== 'string' && 'enum' in type && typeof value === 'string' && (type as EnumNames).enum[value] === 0;
}

function isMessage(type: Field['type']): type is Message {
  return typeof type !== 'string' && !('enum' in type);
}

function writeField(w: ProtoWriter, field: Field, value: unknown): void {
  const { no, type } = field;
  if (typeof type === 'string') {
    w.uint32((no << 3) | WIRE[type]);
    writeScalar(w, type, value);
  } else if ('enum' in type) {
    w.uint32(no << 3).int32(enumValue(type as EnumNames, value));
  } else {
    w.uint32((no << 3) | 2).fork();
    writeMessage(w, type, value);
    w.ldelim();
  }
}

/**
 * The protobuf encoding of an OTLP/JSON Export*ServiceRequest body. Throws TranscodeError, naming
 * the field, when the body is not JSON or a value has the wrong type.
 */
export function jsonToProtobuf(signal: OtlpSignal, body: Buffer): Buffer {
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = withFieldNamesInCamelCase(JSON.parse(text), text);
  } catch (err) {
    if (err instanceof FieldNameConflict) throw new TranscodeError(err.detail).within(err.where).within(signal);
    const why = err instanceof RangeError ? 'nested too deeply to read' : `not JSON: ${(err as Error).message}`;
    throw new TranscodeError(why).within(signal);
  }
  return encodeParsedRequest(signal, json);
}

/**
 * jsonToProtobuf for a body that is already parsed (the receiver parses every request anyway), its
 * keys already in camelCase (wire/json-names.ts).
 */
export function encodeParsedRequest(signal: OtlpSignal, json: unknown): Buffer {
  const w = Writer.create();
  try {
    writeMessage(w, REQUESTS[signal], json);
  } catch (err) {
    throw at(err, signal);
  }
  return Buffer.from(w.finish());
}
