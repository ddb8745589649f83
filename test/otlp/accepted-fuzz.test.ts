// Generated OTLP/JSON trace requests, some spans made invalid: cutting them out of the text must
// keep every other byte, give the parsed request without them, and decode to the accepted spans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonTextWithoutSpans, jsonWithoutSpans } from '../../src/otlp/accepted.js';
import { decodeTraceRequestJson, parseJsonRequest, withFieldNamesInCamelCase } from '../../src/otlp/json.js';

/** mulberry32: a fixed seed gives the same requests on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  readonly full: Buffer[] = [];
  readonly kept: Buffer[] = [];
  /** The path objects (`top`, `r0`, `r0s1`) that name a field twice. */
  readonly ambiguous = new Set<string>();
  constructor(
    readonly rnd: () => number,
    /** Fields take their original name half the time, each apart, at every level. */
    readonly original: boolean,
  ) {}
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)]!;
  }
  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }
  /** Both outputs. */
  put(s: string | Buffer): void {
    const b = typeof s === 'string' ? Buffer.from(s) : s;
    this.full.push(b);
    this.kept.push(b);
  }
  ws(): void {
    if (this.chance(0.6)) return;
    this.put(Array.from({ length: 1 + this.int(3) }, () => this.pick([' ', '\n', '\t', '\r\n', '  '])).join(''));
  }
  /** A string's bytes, quotes included, with escapes, brackets, quotes and raw non-ASCII. */
  str(): Buffer {
    const parts: Buffer[] = [Buffer.from('"')];
    const n = this.int(6);
    for (let i = 0; i < n; i++) {
      const p = this.pick(['a', 'spans', '\\"', '\\\\', '\\u005d', '\\u007b', ']', '}', '[', '{', ',', ':', 'é', '😀', '\\ud83d\\ude00', '\\/', '\\n', '\\\\\\"', 'raw']);
      parts.push(p === 'raw' ? Buffer.from([0xff, 0xc3]) : Buffer.from(p));
    }
    parts.push(Buffer.from('"'));
    return Buffer.concat(parts);
  }
  /** One of a field's names; `alt` is its original name. */
  spelling(name: string, alt?: string): string {
    return this.original && alt !== undefined && this.chance(0.5) ? alt : name;
  }
  /** A key, possibly written with escapes. */
  key(name: string, alt?: string): Buffer {
    let k = this.spelling(name, alt);
    if (this.chance(0.2)) {
      const at = this.int(k.length);
      k = `${k.slice(0, at)}\\u${k.charCodeAt(at).toString(16).padStart(4, '0')}${k.slice(at + 1)}`;
    }
    return Buffer.from(`"${k}"`);
  }
  number(): string {
    return this.pick(['0', '-0', '1', '-12', '1.5e3', '2E-7', '-0.25e+2', '9007199254740993', '18446744073709551615', '1e400']);
  }
  /** Any JSON value, into both outputs. */
  value(depth: number): void {
    const r = this.rnd();
    if (depth > 3 || r < 0.3) this.put(this.pick([this.number(), 'true', 'false', 'null']));
    else if (r < 0.55) this.put(this.str());
    else if (r < 0.8) {
      this.put('{');
      this.ws();
      const n = this.int(4);
      for (let i = 0; i < n; i++) {
        if (i > 0) this.put(','), this.ws();
        this.put(this.chance(0.3) ? this.key('spans') : this.str());
        this.ws(), this.put(':'), this.ws();
        this.value(depth + 1);
        this.ws();
      }
      this.put('}');
    } else {
      this.put('['), this.ws();
      const n = this.int(4);
      for (let i = 0; i < n; i++) {
        if (i > 0) this.put(','), this.ws();
        this.value(depth + 1);
        this.ws();
      }
      this.put(']');
    }
  }
  /** An object of members, each written by its callback, with unknown members mixed in. */
  object(members: Array<() => void>, path = false): void {
    const all = [...members];
    // On the way to the spans an unknown member must not take a path field's name.
    const unknownKey = (): Buffer => (path ? Buffer.concat([Buffer.from('"x'), this.str().subarray(1)]) : this.chance(0.5) ? this.key('spans') : this.str());
    const extra = this.int(3);
    for (let i = 0; i < extra; i++) {
      all.splice(this.int(all.length + 1), 0, () => {
        this.put(unknownKey()), this.ws(), this.put(':'), this.ws(), this.value(1);
      });
    }
    this.put('{'), this.ws();
    all.forEach((m, i) => {
      if (i > 0) this.put(','), this.ws();
      m();
      this.ws();
    });
    this.put('}');
  }
  member(name: string, alt: string | undefined, value: () => void): () => void {
    return () => {
      this.put(this.key(name, alt)), this.ws(), this.put(':'), this.ws();
      value();
    };
  }
  /** A member on the way to the spans, sometimes preceded by a decoy of the same name the parse drops. */
  pathMember(where: string, name: string, alt: string | undefined, value: () => void): Array<() => void> {
    // The decoy under the field's other name would have the request refused (json.test.ts).
    const spelled = this.spelling(name, alt);
    const out = [this.member(spelled, undefined, value)];
    if (this.chance(0.04)) {
      this.ambiguous.add(where);
      out.unshift(this.member(spelled, undefined, () => this.put(this.pick(['null', '[]', '{}']))));
    }
    // No prototype is set from the request: to the decoder `__proto__` is an unknown field.
    if (this.chance(0.03)) out.push(this.member('__proto__', undefined, () => this.put(this.pick(['null', '[]', '{}']))));
    return out;
  }
}

type Place = { resource: number; scope: number; span: number };

const HEX32 = '5b8efff798038103d269b633813fc60c';
const HEX16 = 'eee19b7ec3c1b174';

/** One span's text; `bad` makes it one the decoder rejects. */
function spanText(rnd: () => number, original: boolean, bad: boolean): Buffer {
  const g = new Gen(rnd, original);
  const id = (hex: string): string => g.pick([JSON.stringify(hex), JSON.stringify(hex.toUpperCase()), '""', 'null']);
  const links = (): void => {
    if (g.chance(0.3)) return g.put(g.pick(['null', '[]']));
    g.put('[');
    const n = 1 + g.int(2);
    for (let i = 0; i < n; i++) {
      if (i > 0) g.put(',');
      g.object([g.member('traceId', 'trace_id', () => g.put(id(HEX32))), g.member('spanId', 'span_id', () => g.put(id(HEX16)))]);
    }
    g.put(']');
  };
  const attrs = (): void => {
    g.put('['), g.ws();
    const n = g.int(3);
    for (let i = 0; i < n; i++) {
      if (i > 0) g.put(','), g.ws();
      g.object([
        g.member('key', undefined, () => g.put(g.str())),
        g.member('value', undefined, () =>
          g.object([
            g.pick([
              g.member('stringValue', 'string_value', () => g.put(g.str())),
              g.member('intValue', 'int_value', () => g.put(g.pick(['9007199254740993', '"-42"', '12']))),
              g.member('doubleValue', 'double_value', () => g.put(g.pick(['1.5e3', '-2E-7', '"NaN"', '0']))),
              g.member('boolValue', 'bool_value', () => g.put('true')),
              g.member('kvlistValue', 'kvlist_value', () => g.value(1)),
            ]),
          ]),
        ),
      ]);
      g.ws();
    }
    g.put(']');
  };
  const members = [
    g.member('name', undefined, () => g.put(g.str())),
    g.member('startTimeUnixNano', 'start_time_unix_nano', () => g.put(g.pick(['1700000000000000001', '"1700000000000000001"']))),
    g.member('endTimeUnixNano', 'end_time_unix_nano', () => g.put(g.pick(['1700000000050000001', '"1700000000050000001"']))),
  ];
  if (g.chance(0.5)) members.push(g.member('traceId', 'trace_id', () => g.put(id(HEX32))));
  if (g.chance(0.5)) members.push(g.member('spanId', 'span_id', () => g.put(id(HEX16))));
  if (g.chance(0.5)) members.push(g.member('kind', undefined, () => g.put(g.pick(['2', '"SPAN_KIND_CLIENT"', 'null']))));
  if (g.chance(0.5)) members.push(g.member('attributes', undefined, attrs));
  if (g.chance(0.5)) members.push(g.member('links', undefined, links));
  if (!bad) {
    g.object(members);
    return Buffer.concat(g.full);
  }
  const how = g.int(8);
  if (how === 0) {
    g.put(g.pick(['null', '5', '"span"', '[]', '[{"spans":[]}]']));
    return Buffer.concat(g.full);
  }
  if (how === 1) members.push(g.member('kind', undefined, () => g.put('"CLIENT"')));
  else if (how === 2) members.splice(2, 1);
  else if (how === 3) members.push(g.member('links', undefined, () => g.put(`[{"traceId":"${HEX16}"}]`)));
  else if (how === 4) members.push(g.member('links', undefined, () => g.put(`[{}, {"spanId":"${HEX16.replace('e', 'x')}"}]`)));
  else if (how === 5) members.push(g.member('links', undefined, () => g.put(g.pick(['{}', '[null]', '"x"']))));
  else if (how === 6) members.push(g.member('traceId', 'trace_id', () => g.put('"zz"')));
  else members.push(g.member('attributes', undefined, () => g.put('{"spans":[1]}')));
  // Last among the span's own members: JSON.parse keeps the last of a key sent twice.
  g.object(members);
  return Buffer.concat(g.full);
}

function request(seed: number): { body: Buffer; kept: Buffer; bad: Place[]; accepted: number; ambiguous: boolean } {
  const rnd = prng(seed);
  const original = rnd() < 0.35;
  const g = new Gen(rnd, original);
  const bad: Place[] = [];
  let accepted = 0;
  const spans = (resource: number, scope: number): void => {
    const n = g.int(5);
    const items = Array.from({ length: n }, (_, span) => {
      const isBad = g.chance(0.35);
      if (isBad) bad.push({ resource, scope, span });
      else accepted++;
      return { text: spanText(rnd, original, isBad), isBad };
    });
    const pad = (): string => (g.chance(0.5) ? '' : g.pick([' ', '\n  ', '\t']));
    const whole = Buffer.from(`[${pad()}${items.map((s) => s.text.toString('latin1')).join(`${pad()},${pad()}`)}${pad()}]`, 'latin1');
    g.full.push(whole);
    const kept = items.filter((s) => !s.isBad);
    g.kept.push(kept.length === items.length ? whole : Buffer.concat([Buffer.from('['), ...kept.flatMap((s, i) => (i > 0 ? [Buffer.from(','), s.text] : [s.text])), Buffer.from(']')]));
  };
  const scopes = (resource: number): void => {
    g.put('['), g.ws();
    const n = g.int(3);
    for (let j = 0; j < n; j++) {
      if (j > 0) g.put(','), g.ws();
      const scope = g.chance(0.5) ? [g.member('scope', undefined, () => g.object([g.member('name', undefined, () => g.put(g.str()))]))] : [];
      g.object([...scope, ...g.pathMember(`r${resource}s${j}`, 'spans', undefined, () => spans(resource, j))], true);
      g.ws();
    }
    g.put(']');
  };
  g.ws();
  const top: Array<() => void> = [];
  top.push(
    ...g.pathMember('top', 'resourceSpans', 'resource_spans', () => {
      g.put('['), g.ws();
      const n = 1 + g.int(3);
      for (let i = 0; i < n; i++) {
        if (i > 0) g.put(','), g.ws();
        g.object([g.member('resource', undefined, () => g.put('{"attributes":[{"key":"service.name","value":{"stringValue":"s"}}]}')), ...g.pathMember(`r${i}`, 'scopeSpans', 'scope_spans', () => scopes(i))], true);
        g.ws();
      }
      g.put(']');
    }),
  );
  g.object(top, true);
  g.ws();
  return { body: Buffer.concat(g.full), kept: Buffer.concat(g.kept), bad, accepted, ambiguous: bad.length > 0 && (g.ambiguous.has('top') || bad.some((b) => g.ambiguous.has(`r${b.resource}`) || g.ambiguous.has(`r${b.resource}s${b.scope}`))) };
}

test('rejected spans cut out of generated OTLP/JSON text: every other byte kept, the parsed request without them', () => {
  let cut = 0;
  let fellBack = 0;
  for (let seed = 1; seed <= 600; seed++) {
    const { body, kept, bad, accepted, ambiguous } = request(seed);
    // The seed alone brings the request back: request(seed).
    const what = `seed ${seed}`;
    const parsed = parseJsonRequest(body);
    const decoded = decodeTraceRequestJson(body);
    assert.deepEqual(decoded.rejectedSpans ?? [], bad, `${what}: the decoder rejects exactly the spans made invalid`);
    assert.equal(decoded.spans.length, accepted, what);
    if (bad.length === 0) continue;
    const out = jsonTextWithoutSpans(body, decoded.rejectedSpans!);
    const expected = jsonWithoutSpans(parsed, decoded.rejectedSpans!);
    if (ambiguous) {
      assert.equal(out, undefined, `${what}: a field named twice on the way falls back`);
      fellBack++;
      continue;
    }
    assert.ok(out, what);
    assert.equal(out.toString('latin1'), kept.toString('latin1'), `${what}: only the rewritten arrays changed`);
    assert.deepEqual(withFieldNamesInCamelCase(JSON.parse(out.toString()), out.toString()), expected, `${what}: the parsed request without the rejected spans`);
    const again = decodeTraceRequestJson(out);
    assert.equal(again.rejected, 0, what);
    assert.equal(again.spans.length, accepted, what);
    cut++;
  }
  assert.ok(cut > 200 && fellBack > 10, `${cut} cut, ${fellBack} fell back`);
});
