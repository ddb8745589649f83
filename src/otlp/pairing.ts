// One MCP call reaches the receiver as one span per instrumented party: the caller's (kind CLIENT),
// the MCP server's own (kind SERVER, the client span's child through the trace context the MCP
// conventions carry in params._meta), an agent framework's GenAI execute_tool span around the client's.
// Each process exports on its own schedule, so they arrive in any order, seconds apart. This counts
// every call once, from its client's span when there is one (docs/traffic.md, "One call, several
// spans"). Span-metrics connectors avoid the double count by labelling span kinds and leaving the
// choice to each query; mcpwatch's metrics are calls, so it pairs the spans as service-graph
// connectors do: by parent span id, in a bounded store with an age limit, a server span waiting a
// while for its client's. A server span whose parent is no MCP span (the server's HTTP span, when
// HTTP instrumentation stands between the two MCP spans) is paired at the end of its wait with the
// client span of the same call and JSON-RPC request id in the same trace that no server span has
// paired, by count where a side has no request id. Pure but for the sink: time is passed in.
import { SPAN_KIND_CLIENT, SPAN_KIND_SERVER, type DecodedSpan } from './decode.js';
import type { Observation } from './recognise.js';

/** What the agent reads of a span besides its observation: who sent it (pipeline/callers.ts). */
export type SpanOrigin = Pick<DecodedSpan, 'kind' | 'resource'>;

export interface PairingSink {
  /** A call to count, as the span that describes it saw it. */
  count(obs: Observation, origin: SpanOrigin): void;
  /** A span not counted, because another span of its call is or was. */
  duplicate(): void;
}

export type PairingOutcome = 'counted' | 'held' | 'duplicate';


/** Which side of a call a remembered span is on; or, for a trace's entry, that it is one. */
const SIDE_OTHER = 0;
const SIDE_CLIENT = 1;
const SIDE_SERVER = 2;
const SIDE_TRACE = 3;

/**
 * Span ids remembered, a power of two: fixed memory (STRIDE words a slot), allocated at the first MCP
 * span with ids. An MCP span takes one slot, and one in its parent's bucket while the parent is
 * unseen (shared by the parent's children of one method); a wrapper of a tool (neither CLIENT nor
 * SERVER) one more, its key by method (a SERVER span's one key is by method); a call with a client's
 * side counted takes one more in its trace (shared by the calls of one tool there), and one more
 * with a request id until a server span takes it.
 */
export const SLOTS = 1 << 17;
/** 32-bit words a slot: two of key, when written, side and wait. */
const STRIDE = 4;
/** Slots a bucket: one 64-byte cache line. A new key takes an expired slot, else its bucket's oldest. */
const WAYS = 4;
const BUCKET_MASK = SLOTS / WAYS - 1;
/**
 * How long ids are remembered at least (and at least twice the wait), while the slots last: as long
 * as the Collector's OTLP exporter goes on resending a batch by default (`retry_on_failure`'s
 * `max_elapsed_time`), so that a resent span is known for what it is.
 */
export const REMEMBER_MIN_MS = 300_000;
/** Server spans waiting at once; past it the one waiting longest is counted at once. */
export const MAX_WAITING = 10_000;
/** Waits are numbered in the 30 bits a slot keeps beside the side (a trace's entry: two counts). */
const WAIT_MASK = 0x3fffffff;
/**
 * A trace's entry keeps two counts in those 30 bits, of 15 bits each. "Call C in trace T": the
 * client's sides counted that no server span has taken, high those with a request id, low those
 * without. "Call C of request R in trace T": low, those of request id R; high, the server spans of
 * request id R counted alone.
 */
const HALF = 15;
const HALF_MAX = 0x7fff;
/** Tool names whose call keys are kept; past it the cache starts over (names come from senders). */
const MAX_CALL_KEYS = 4096;

/** One span's ids as little-endian 32-bit words: trace 0–3, span 4–5, parent 6–7. */
const words = new Uint32Array(8);
const NO_IDS = 0;
const OWN_IDS = 1;
const WITH_PARENT = 2;

interface Waiting {
  obs: Observation;
  origin: SpanOrigin;
  /**
   * A client's span waiting for its server's (`awaitsServer`), rather than a server span for its
   * client's: `obs` and `origin` are then what is counted, the outermost client-side span of the call.
   */
  client?: true;
  until: number;
  /** The key of its call's entry in its trace, which settles it when its wait is over. */
  traceA: number;
  traceB: number;
}

/**
 * What was seen of recent spans, by key: "span S, of call C" and "a child of span S, of call C". Both
 * keys share a bucket, placed by span and method, so a span costs two cache lines, its own and its
 * parent's; the children of one parent mark it with one key for their method (SERVER spans: for
 * their call). A third kind, "call C in trace T", counts the client's sides of C in T that no server
 * span has paired.
 */
class Slots {
  private readonly w = new Uint32Array(SLOTS * STRIDE);
  /** Per process, so that no sender can aim its ids at one bucket of everyone's. */
  private readonly seed = (Math.random() * 2 ** 32) >>> 0;

  /**
   * `rememberMs`: how old a slot may be and still count. Slot times are milliseconds mod 2^32,
   * compared by their difference, so they wrap without harm; 0 marks an empty slot.
   */
  constructor(private readonly rememberMs: number) {}

  /** The first word of the bucket of the span and call whose "span S, of call C" key is (a, b). */
  bucket(a: number, b: number): number {
    let h = Math.imul(a ^ this.seed, 0xcc9e2d51) ^ b;
    h = Math.imul(h ^ (h >>> 15), 0x1b873593);
    return ((h ^ (h >>> 13)) & BUCKET_MASK) * WAYS * STRIDE;
  }

  /** The word of the slot holding key (a, b), not older than `rememberMs` at `now`, or -1. */
  find(bucket: number, a: number, b: number, now: number): number {
    const w = this.w;
    for (let i = bucket; i < bucket + WAYS * STRIDE; i += STRIDE) {
      if (w[i] === a && w[i + 1] === b && this.age(w[i + 2]!, now) <= this.rememberMs) return i;
    }
    return -1;
  }

  /** The side and wait kept at slot word `i`. */
  meta(i: number): number {
    return this.w[i + 3]!;
  }

  /**
   * Adds `high` and `low` to the two counts kept at key (a, b) of bucket `bucket`, each within
   * 0…HALF_MAX, and returns what the key held (`high << HALF | low`, 0 when it was not there). The
   * key is written when it is not there and a count is to grow, and let go when both fall to 0.
   */
  shift(bucket: number, a: number, b: number, now: number, high: number, low: number, waits: (meta: number) => boolean): number {
    const i = this.find(bucket, a, b, now);
    const had = i >= 0 ? this.w[i + 3]! & WAIT_MASK : 0;
    const count = (Math.min(HALF_MAX, Math.max(0, (had >>> HALF) + high)) << HALF) | Math.min(HALF_MAX, Math.max(0, (had & HALF_MAX) + low));
    if (i >= 0) {
      // An empty slot is one whose time is 0.
      this.w[i + 2] = count === 0 ? 0 : now;
      this.w[i + 3] = ((SIDE_TRACE << 30) | count) >>> 0;
    } else if (count > 0) {
      this.put(bucket, a, b, now, ((SIDE_TRACE << 30) | count) >>> 0, -1, waits);
    }
    return had;
  }

  /**
   * Writes key (a, b) over `reuse` (a slot of its bucket no longer needed), else its own slot, else an
   * empty or forgotten one, else the oldest of the bucket not marking a server span that still waits
   * (`waits`, given the slot's side and wait): those are what pairs a call, and waiting they are few.
   */
  put(bucket: number, a: number, b: number, now: number, meta: number, reuse: number, waits: (meta: number) => boolean): void {
    const w = this.w;
    let slot = reuse;
    if (slot < 0) {
      let oldest = -1;
      let free = false;
      for (let i = bucket; i < bucket + WAYS * STRIDE; i += STRIDE) {
        const age = this.age(w[i + 2]!, now);
        if ((w[i] === a && w[i + 1] === b) || age > this.rememberMs) {
          slot = i;
          free = true;
          break;
        }
        if (age > oldest) {
          oldest = age;
          slot = i;
        }
      }
      if (!free && waits(w[slot + 3]!)) {
        // The oldest marks a wait: the oldest of the others that mark none, if there is one.
        let other = -1;
        let otherAge = -1;
        for (let i = bucket; i < bucket + WAYS * STRIDE; i += STRIDE) {
          const age = this.age(w[i + 2]!, now);
          if (age > otherAge && !waits(w[i + 3]!)) {
            other = i;
            otherAge = age;
          }
        }
        if (other >= 0) slot = other;
      }
    }
    w[slot] = a;
    w[slot + 1] = b;
    w[slot + 2] = now;
    w[slot + 3] = meta;
  }

  /** How long ago `at` was, in ms; past any limit for an empty slot or a time ahead of `now`. */
  private age(at: number, now: number): number {
    const age = (now - at) | 0;
    return at === 0 || age < 0 ? Number.MAX_SAFE_INTEGER : age;
  }
}

/**
 * Counts each MCP call once, however many of its spans arrive, in whatever order. Two recognised
 * spans of one trace are one call when one is the other's parent, both are the same method (and
 * tool; but a parent other than a CLIENT span and its child find each other by method alone, in
 * whichever order they come: a wrapper of a renamed tool and its client span, a server's span and
 * the span under it delegating to a mounted server, that span and the mounted server's SERVER span;
 * a CLIENT span finds a child of another tool name only when the child came first),
 * and the child is not a CLIENT span on the server's side of the call (under its SERVER span,
 * directly or through the server's own spans): that is a call the server makes itself (a gateway
 * calling its upstream). A SERVER span under the server's side of a call, with no CLIENT span between,
 * received no request of its own: a mounted server's, the call handed to it in the server's process.
 * The first span of a call is counted at once, except a SERVER span with a parent, which waits up to
 * `waitMs` for its client's span and is counted alone when none comes, and a span naming no tool
 * (`unnamedTool`) with a parent, which waits likewise for one that does; of the server's spans that
 * wait, the outermost SERVER span is the one counted. A span neither CLIENT nor SERVER above a SERVER
 * span that waits, from the same process (`service.name`), is the server's own; from another, the
 * caller's. A later span of a counted call is a duplicate. A span whose trace and span ids (and call) were seen before is the same span
 * sent again, and a duplicate too: an exporter resends a request whose answer it did not get (a
 * time-out, a connection reset) though the receiver took it.
 *
 * A server span whose wait ends with no client span as its parent may still have one further up: an
 * HTTP client span and the server's HTTP span between them, which are no MCP spans and are never
 * read. It is then matched within its trace by the JSON-RPC request id that its span and its
 * client's both carry (`jsonrpc.request.id`). Each client's side of a call counted (a CLIENT span,
 * an execute_tool span) joins its call's entries in its trace: "call C in trace T", two counts (with
 * a request id, without one), and with an id "call C of request R in trace T"; each server span
 * paired with one takes it away (take). A server span settling takes the one of its request id and
 * is a duplicate; else it is counted alone, and marks its request id's entry, so that a client span
 * of that request coming later is not counted again. Where a side has no request id, what is left is
 * a count: a server span with an id takes a client's side without one; one without, any. Waiting to
 * settle, rather than taking a client span at once, lets a server span that has its own client span
 * as its parent claim that client span first.
 *
 * A client's span that records less than its server's (`awaitsServer`: the MCP Python SDK's, which
 * records no tool's isError result and no server) waits too, for its child server span, and is then
 * counted with the failure and the server that span adds; a client span around it (FastMCP's) takes
 * its place in the wait; with no server span it is counted alone when the wait is over.
 */
export class CallPairing {
  private slots: Slots | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private lastWait = 0;
  /** The receiver stopped (drain): a request still being read then has no sweep left to count its wait. */
  private drained = false;
  private readonly rememberMs: number;
  private readonly toolKeys = new Map<string, number>();
  private readonly methodKeys = new Map<string, number>();
  /** Mixed into the keys of trace entries: no sender can make a span's ids the key of one. */
  private readonly traceSaltA = (Math.random() * 2 ** 32) >>> 0;
  private readonly traceSaltB = (Math.random() * 2 ** 32) >>> 0;

  constructor(
    private readonly waitMs: number,
    private readonly sink: PairingSink,
  ) {
    this.rememberMs = Math.max(REMEMBER_MIN_MS, 2 * waitMs);
  }

  /** Server spans waiting for their client's now. */
  get waitingSpans(): number {
    return this.waiting.size;
  }

  /** One recognised span, at `now` (ms, monotonic): counted, waiting, or part of a call counted already. */
  add(obs: Observation, span: DecodedSpan, now: number): PairingOutcome {
    const ids = readIds(span);
    if (ids === NO_IDS) {
      this.sink.count(obs, span);
      return 'counted';
    }
    const t = (this.slots ??= new Slots(this.rememberMs));
    const at = slotTime(now);
    const ta = words[0]! ^ rotl13(words[2]!);
    const tb = words[1]! ^ rotl13(words[3]!);
    const selfA = ta ^ words[4]!;
    const selfB = tb ^ words[5]!;
    const parentA = ta ^ words[6]!;
    const parentB = tb ^ words[7]!;
    // Keys carry the call (method and tool): spans of other calls never match, but for a wrapper and
    // the CLIENT span under it, which it finds by method alone (frameworks rename a server's tools).
    const call = this.callKey(obs);
    const callB = Math.imul(call ^ 0x5bd1e995, 0x9e3779b1);
    const method = obs.tool === undefined ? call : TOOLS_CALL_KEY;
    const methodB = Math.imul(method ^ 0x5bd1e995, 0x9e3779b1);
    const side = span.kind === SPAN_KIND_CLIENT ? SIDE_CLIENT : span.kind === SPAN_KIND_SERVER ? SIDE_SERVER : SIDE_OTHER;
    // A SERVER span is kept by method: the spans of its call that find it, its client's span above and
    // the server's own spans below, may name the tool otherwise (a mounted server names its own).
    const ownA = (selfA ^ (side === SIDE_SERVER ? method : call)) >>> 0;
    const ownB = seenKey(selfB, side === SIDE_SERVER ? methodB : callB);
    const upA = (parentA ^ call) >>> 0;
    const upB = seenKey(parentB, callB);
    // "Call C in trace T".
    const traceA = (ta ^ call ^ this.traceSaltA) >>> 0;
    const traceB = seenKey(tb ^ this.traceSaltB, callB);
    // A span's entries, its keys by call and by method alike, share one bucket: placed by method.
    const own = t.bucket((selfA ^ method) >>> 0, seenKey(selfB, methodB));
    // The same span again: a request resent by its exporter. Whatever its first coming did stands.
    if (t.find(own, ownA, ownB, at) >= 0) {
      this.sink.duplicate();
      return 'duplicate';
    }
    const up = ids === WITH_PARENT ? t.bucket((parentA ^ method) >>> 0, seenKey(parentB, methodB)) : -1;
    // Its parent, when that is a span of the same call (not a server calling out: a CLIENT span under a SERVER one).
    // A span finds a parent of another tool name by method, as the parent finds it: a wrapper renaming
    // the tool, a server span, or a server's own span around a mounted server's, which names the tool
    // as the mounted server knows it. A CLIENT span is kept by call only: a server span under it that
    // names another tool finds it only by coming first.
    let upMeta = -1;
    let renamedUp = false;
    if (up >= 0) {
      let i = t.find(up, upA, upB, at);
      if (i < 0 && method !== call) renamedUp = (i = t.find(up, (parentA ^ method) >>> 0, seenKey(parentB, methodB), at)) >= 0;
      if (i >= 0 && !(t.meta(i) >>> 30 === SIDE_SERVER && side === SIDE_CLIENT)) upMeta = t.meta(i);
      else renamedUp = false;
    }
    // The server's side of a call is its SERVER span and what runs under it: a CLIENT span there calls out.
    let onSide = side === SIDE_OTHER && upMeta >= 0 && upMeta >>> 30 === SIDE_SERVER ? SIDE_SERVER : side;
    // A child of the same call seen before it: children end first, and are often sent first.
    // Spans mark their parent by method, which a parent of another tool name finds too.
    let downMeta = -1;
    let downSlot = t.find(own, ownA, childKey(ownB), at);
    if (downSlot < 0 && method !== call && side !== SIDE_SERVER) downSlot = t.find(own, (selfA ^ method) >>> 0, childKey(seenKey(selfB, methodB)), at);
    if (downSlot >= 0 && !(onSide === SIDE_SERVER && t.meta(downSlot) >>> 30 === SIDE_CLIENT)) downMeta = t.meta(downSlot);
    const upWait = upMeta >= 0 ? this.live(upMeta & WAIT_MASK) : 0;
    const downWait = downMeta >= 0 ? this.live(downMeta & WAIT_MASK) : 0;
    const waitsForClient = side === SIDE_SERVER && ids === WITH_PARENT && !this.drained;
    // A span that names no tool, neither CLIENT nor SERVER (FastMCP's span delegating to a mounted
    // server), is not the span to count a call from: first of its call, it waits like a server span.
    const waitsForCall = side === SIDE_OTHER && obs.unnamedTool === true && ids === WITH_PARENT && !this.drained;
    let wait = 0;
    let outcome: PairingOutcome = 'duplicate';
    if ((upMeta >= 0 && upWait === 0) || (downMeta >= 0 && downWait === 0)) {
      // Counted already from another of its spans; a server span waiting for this call need wait no more.
      const fromParent = upMeta >= 0 && upWait === 0;
      const counted = fromParent ? upMeta : downMeta;
      const above = this.cancel(upWait);
      const below = this.cancel(downWait);
      // A server span waiting above this one (a server's own span, whose child was counted) pairs with that call.
      if (above) this.take(above.traceA, above.traceB, requestIdOf(above.obs), at);
      if (fromParent && onSide !== SIDE_SERVER) {
        this.underCounted(traceA, traceB, requestIdOf(obs), renamedUp, below !== undefined, at);
      } else {
        // Not a mounted server's span below (its own tool name): no client's side of its call was counted.
        if (below && below.traceA === traceA && below.traceB === traceB) this.take(below.traceA, below.traceB, requestIdOf(below.obs), at);
        // A server span paired with its call's client's side (not with another of the server's spans).
        if (side === SIDE_SERVER && counted >>> 30 !== SIDE_SERVER) this.take(traceA, traceB, requestIdOf(obs), at);
        // The client's side of a call whose server span was counted alone before it came: its mark has served.
        else if (onSide !== SIDE_SERVER && counted >>> 30 === SIDE_SERVER) this.clientCame(traceA, traceB, requestIdOf(obs), at);
      }
    } else if (upWait !== 0 && side === SIDE_SERVER && this.waiting.get(upWait)!.client) {
      // The server's span of a client's span that waits for it: counted now, from the client's side.
      // Its own spans that wait (a mounted server's span, with the span delegating to it) are that call.
      const w = this.waiting.get(upWait)!;
      this.waiting.delete(upWait);
      this.cancel(downWait);
      this.sink.count(withServerSide(w.obs, obs), w.origin);
    } else if (upWait !== 0) {
      // Under a server span that waits: the server's own spans of the call wait with it. A SERVER span
      // under a span that names no tool (a mounted server's) is the one its call would be counted from.
      if (downWait !== upWait) this.cancel(downWait);
      wait = upWait;
      if (side === SIDE_SERVER && this.waiting.get(upWait)!.origin.kind !== SPAN_KIND_SERVER) this.waitFor(upWait, obs, span, traceA, traceB);
    } else if (downWait !== 0 && waitsForClient) {
      // The server span of a call whose own spans wait (a mounted server's SERVER span among them):
      // the call is what this, the outermost, span says, under the name its client called.
      wait = downWait;
      this.waitFor(downWait, obs, span, traceA, traceB);
    } else if (downWait !== 0 && side === SIDE_OTHER && this.sameSender(span, this.waiting.get(downWait)!)) {
      // The server's own span around its server span that waits (FastMCP's span delegating to a
      // mounted server, before the outer server's span came): the server's side, waiting with it.
      // A span of another process around it is its caller's (an agent framework's), counted below.
      wait = downWait;
      onSide = SIDE_SERVER;
    } else if (downWait !== 0 && this.waiting.get(downWait)!.client) {
      // Around a client's span that waits for its server's, it waits with it. A client span (FastMCP's
      // around the SDK's) is the one counted, with what the server's span adds; a framework's wrapper is not.
      wait = downWait;
      if (side === SIDE_CLIENT) {
        const w = this.waiting.get(downWait)!;
        w.obs = obs.requestId === undefined && w.obs.requestId !== undefined ? { ...obs, requestId: w.obs.requestId } : obs;
        w.origin = { kind: span.kind, resource: span.resource };
        // The span it takes the place of is now the one not counted.
        this.sink.duplicate();
        outcome = 'held';
      }
    } else if (downWait !== 0) {
      // The client's side of a call whose server span waits: it is the one counted, and paired at once.
      const server = this.cancel(downWait);
      this.sink.count(obs.awaitsServer && server ? withServerSide(obs, server.obs) : obs, span);
      outcome = 'counted';
    } else if (waitsForClient || waitsForCall || (side === SIDE_CLIENT && obs.awaitsServer === true && !this.drained)) {
      wait = this.wait(obs, span, now, traceA, traceB, side === SIDE_CLIENT);
      outcome = 'held';
    } else if (side === SIDE_SERVER && ids === WITH_PARENT) {
      // The receiver has stopped: no wait, settled now.
      outcome = this.settle(obs, span, traceA, traceB, requestIdOf(obs), at);
    } else if (onSide === SIDE_SERVER || this.clientSide(traceA, traceB, requestIdOf(obs), at)) {
      this.sink.count(obs, span);
      outcome = 'counted';
    } // else the client's side of a call whose server span, under HTTP spans, was counted alone before it came.
    if (outcome === 'duplicate') this.sink.duplicate();
    const meta = ((onSide << 30) | wait) >>> 0;
    // Paired, the child's mark has served: this span's own entry, which says as much, takes its slot.
    t.put(own, ownA, ownB, at, meta, downMeta >= 0 ? downSlot : -1, this.waits);
    // A wrapper is found by method too, in the same bucket: by its client span when that comes after it.
    if (side === SIDE_OTHER && method !== call) t.put(own, (selfA ^ method) >>> 0, seenKey(selfB, methodB), at, meta, -1, this.waits);
    if (up >= 0 && upMeta < 0) t.put(up, (parentA ^ method) >>> 0, childKey(seenKey(parentB, methodB)), at, meta, -1, this.waits);
    return outcome;
  }

  /** Settles the server spans whose wait is over at `now`. */
  expire(now: number): void {
    const at = slotTime(now);
    for (const [key, w] of this.waiting) {
      if (w.until > now) break;
      this.waiting.delete(key);
      this.settleWaiting(w, at);
    }
  }

  /** Settles every waiting server span at `now` (the receiver is stopping). */
  drain(now: number): void {
    this.drained = true;
    const at = slotTime(now);
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const w of all) this.settleWaiting(w, at);
  }

  private wait(obs: Observation, span: DecodedSpan, now: number, traceA: number, traceB: number, client: boolean): number {
    if (this.waiting.size >= MAX_WAITING) {
      const [key, oldest] = this.waiting.entries().next().value as [number, Waiting];
      this.waiting.delete(key);
      this.settleWaiting(oldest, slotTime(now));
    }
    this.lastWait = (this.lastWait + 1) & WAIT_MASK || 1;
    // Only what the count needs: the span holds the whole request body.
    const w: Waiting = { obs, origin: { kind: span.kind, resource: span.resource }, until: now + this.waitMs, traceA, traceB };
    if (client) w.client = true;
    this.waiting.set(this.lastWait, w);
    return this.lastWait;
  }

  /** The server's side of a call that waits is now counted, if it comes to that, from this span. */
  private waitFor(wait: number, obs: Observation, span: DecodedSpan, traceA: number, traceB: number): void {
    const w = this.waiting.get(wait)!;
    w.obs = obs;
    w.origin = { kind: span.kind, resource: span.resource };
    w.traceA = traceA;
    w.traceB = traceB;
  }

  private settleWaiting(w: Waiting, at: number): void {
    if (w.client) {
      // No server span came: the client's side alone, as it would have been counted when it came.
      if (this.clientSide(w.traceA, w.traceB, requestIdOf(w.obs), at)) this.sink.count(w.obs, w.origin);
      else this.sink.duplicate();
      return;
    }
    if (this.settle(w.obs, w.origin, w.traceA, w.traceB, requestIdOf(w.obs), at) === 'duplicate') this.sink.duplicate();
  }

  /**
   * A server span no client span has paired as its parent: a duplicate when its call has a client's
   * side in the trace that no server span has paired (the client span above its HTTP spans) and that
   * is its own (take), else counted alone. Counted alone, it leaves a mark by its request id: a
   * client span of that request that comes later is its call's, not counted again.
   */
  private settle(obs: Observation, origin: SpanOrigin, traceA: number, traceB: number, rid: number, at: number): PairingOutcome {
    if (this.take(traceA, traceB, rid, at)) return 'duplicate';
    if (rid !== 0) {
      const t = this.slots!;
      const a = ridKeyA(traceA, rid);
      const b = ridKeyB(traceB, rid);
      t.shift(t.bucket(a, b), a, b, at, 1, 0, this.waits);
    }
    this.sink.count(obs, origin);
    return 'counted';
  }

  /**
   * The client's side of a call counted (a CLIENT span, a wrapper), request id `rid` (0: none): it
   * joins its call's entries in its trace. False, and nothing joined, when a server span of its
   * request id was counted alone before it came: then it is that span's call, counted already.
   */
  private clientSide(traceA: number, traceB: number, rid: number, at: number): boolean {
    const t = this.slots!;
    if (rid !== 0) {
      const a = ridKeyA(traceA, rid);
      const b = ridKeyB(traceB, rid);
      const bucket = t.bucket(a, b);
      if (t.shift(bucket, a, b, at, 0, 1, this.waits) >>> HALF !== 0) {
        t.shift(bucket, a, b, at, -1, -1, this.waits);
        return false;
      }
    }
    t.shift(t.bucket(traceA, traceB), traceA, traceB, at, rid !== 0 ? 1 : 0, rid !== 0 ? 0 : 1, this.waits);
    return true;
  }

  /**
   * A server span, request id `rid` (0: none), takes a client's side of its call in its trace that
   * no server span has taken: the one of its request id; else, as a count, one without a request id
   * (a client instrumented without them); a server span without one takes one without first, else
   * any. False when there is none for it: a client's side of another request id is another call.
   */
  private take(traceA: number, traceB: number, rid: number, at: number): boolean {
    const t = this.slots!;
    const bucket = t.bucket(traceA, traceB);
    if (rid !== 0) {
      const a = ridKeyA(traceA, rid);
      const b = ridKeyB(traceB, rid);
      if ((t.shift(t.bucket(a, b), a, b, at, 0, -1, this.waits) & HALF_MAX) !== 0) {
        t.shift(bucket, traceA, traceB, at, -1, 0, this.waits);
        return true;
      }
      return (t.shift(bucket, traceA, traceB, at, 0, -1, this.waits) & HALF_MAX) !== 0;
    }
    if ((t.shift(bucket, traceA, traceB, at, 0, -1, this.waits) & HALF_MAX) !== 0) return true;
    return t.shift(bucket, traceA, traceB, at, -1, 0, this.waits) >>> HALF !== 0;
  }

  /**
   * The client's side of a call (request id `rid`) under a span of its call counted before it: an
   * agent framework's wrapper, whose side is in the entries already, without a request id. This
   * span's side takes its place, so that the server span of its request id finds it; a wrapper of
   * another tool name (`renamed`) left it in its own call's entries, so this span's joins its own.
   * `paired`: its server span, waiting, has just been paired with it, which takes its side again.
   */
  private underCounted(traceA: number, traceB: number, rid: number, renamed: boolean, paired: boolean, at: number): void {
    if (renamed) {
      if (!paired) this.clientSide(traceA, traceB, rid, at);
    } else if (paired) {
      this.take(traceA, traceB, rid, at);
    } else if (rid !== 0 && this.take(traceA, traceB, rid, at)) {
      this.clientSide(traceA, traceB, rid, at);
    }
  }

  /** A client span came after its server span, counted alone: that span's mark has served. */
  private clientCame(traceA: number, traceB: number, rid: number, at: number): void {
    if (rid === 0) return;
    const t = this.slots!;
    const a = ridKeyA(traceA, rid);
    const b = ridKeyB(traceB, rid);
    t.shift(t.bucket(a, b), a, b, at, -1, 0, this.waits);
  }

  /**
   * Whether `span` comes from the process whose server span waits in `w`: the same resource, or one
   * of the same `service.name`. A resource without one names no process, nor does the SDKs' default
   * (`unknown_service`, `unknown_service:node`), which an agent and its server left unnamed share.
   */
  private sameSender(span: DecodedSpan, w: Waiting): boolean {
    if (w.client) return false;
    const mine = span.resource;
    const its = w.origin.resource;
    return mine === its || (mine.serviceName !== undefined && !mine.serviceName.startsWith('unknown_service') && mine.serviceName === its.serviceName);
  }

  /** `wait` if that server span still waits, else 0. */
  private live(wait: number): number {
    return wait !== 0 && this.waiting.has(wait) ? wait : 0;
  }

  /** Whether a slot's side and wait mark a server span that still waits. */
  private readonly waits = (meta: number): boolean => meta >>> 30 !== SIDE_TRACE && this.live(meta & WAIT_MASK) !== 0;

  /** Ends a server span's wait, its call counted from another span: what waited, if it still did. */
  private cancel(wait: number): Waiting | undefined {
    const w = wait === 0 ? undefined : this.waiting.get(wait);
    if (w === undefined) return undefined;
    this.waiting.delete(wait);
    this.sink.duplicate();
    return w;
  }

  /** Which call a span is of, as 32 bits: its method, and for a tool call its tool. */
  private callKey(obs: Observation): number {
    const tool = obs.tool;
    const keys = tool === undefined ? this.methodKeys : this.toolKeys;
    const name = tool ?? obs.method;
    let key = keys.get(name);
    if (key === undefined) {
      if (keys.size >= MAX_CALL_KEYS) keys.clear();
      key = fnv1a(tool === undefined ? `method ${name}` : `tool ${name}`);
      keys.set(name, key);
    }
    return key;
  }
}

/**
 * A client's call as its server's span completes it: a tool's failure the client's span does not
 * record (an `isError` result) or records only as `tool_error` where the server's names what failed
 * (FastMCP's client calls every failed tool a ToolError, its server a refused argument a pydantic
 * ValidationError), and the server, where the client's span names none it could match.
 */
function withServerSide(client: Observation, server: Observation): Observation {
  const obs: Observation = { ...client };
  if (server.outcome === 'error' && (client.outcome === 'success' || (client.errorType === 'tool_error' && server.errorType !== '_other'))) {
    obs.outcome = 'error';
    obs.errorType = server.errorType;
    obs.errorCategory = server.errorCategory;
  }
  if (client.server === 'unknown' && server.server !== 'unknown') {
    obs.server = server.server;
    delete obs.ambiguous;
  }
  delete obs.awaitsServer;
  return obs;
}

/** A hash of the span's request id, never 0; 0 when it has none. */
function requestIdOf(obs: Observation): number {
  const id = obs.requestId;
  return id === undefined ? 0 : fnv1a(id) || 1;
}

/** Key halves of "call C of request R in trace T", from those of "call C in trace T": never those. */
function ridKeyA(traceA: number, rid: number): number {
  return (traceA ^ Math.imul(rid, 0x85ebca6b)) >>> 0;
}

function ridKeyB(traceB: number, rid: number): number {
  return (traceB ^ Math.imul(rid ^ 0x27d4eb2f, 0xc2b2ae35)) & 0x7fffffff;
}

/** A slot's time: whole ms mod 2^32, never 0 (an empty slot). */
function slotTime(now: number): number {
  return Math.floor(now) >>> 0 || 1;
}

function rotl13(x: number): number {
  return (x << 13) | (x >>> 19);
}

/** Key halves of "span S, of call C" and of "a child of span S, of call C": one bit apart, never equal. */
function seenKey(b: number, callB: number): number {
  return (b ^ callB) & 0x7fffffff;
}

function childKey(seen: number): number {
  return (seen | 0x80000000) >>> 0;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The key of tools/call whatever the tool: the key callKey gives the method. */
const TOOLS_CALL_KEY = fnv1a('method tools/call');

/** Reads the span's ids into `words`: NO_IDS when it has no usable trace and span id (absent, all zero). */
function readIds(span: DecodedSpan): number {
  let parent = false;
  const bytes = span.idBytes;
  if (bytes !== undefined) {
    const trace = span.traceIdAt ?? -1;
    const own = span.spanIdAt ?? -1;
    const up = span.parentSpanIdAt ?? -1;
    if (trace < 0 || own < 0) return NO_IDS;
    for (let i = 0; i < 4; i++) words[i] = wordAt(bytes, trace + 4 * i);
    words[4] = wordAt(bytes, own);
    words[5] = wordAt(bytes, own + 4);
    if (up >= 0) {
      words[6] = wordAt(bytes, up);
      words[7] = wordAt(bytes, up + 4);
      parent = true;
    }
  } else {
    const trace = span.traceId;
    const own = span.spanId;
    // OTLP/JSON ids come as sent, in either case (otlp/json.ts), or are absent.
    if (!isHexId(trace, 32) || !isHexId(own, 16)) return NO_IDS;
    for (let i = 0; i < 4; i++) words[i] = hexWord(trace, 8 * i);
    words[4] = hexWord(own, 0);
    words[5] = hexWord(own, 8);
    const up = span.parentSpanId;
    if (isHexId(up, 16)) {
      words[6] = hexWord(up, 0);
      words[7] = hexWord(up, 8);
      parent = true;
    }
  }
  if ((words[0]! | words[1]! | words[2]! | words[3]!) === 0 || (words[4]! | words[5]!) === 0) return NO_IDS;
  return parent && (words[6]! | words[7]!) !== 0 ? WITH_PARENT : OWN_IDS;
}

/** The decoder checked that the id lies within the body. */
function wordAt(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24);
}

/** Four bytes written as eight hex digits from `at`, as the little-endian word the bytes make. */
function hexWord(hex: string, at: number): number {
  return (hexByte(hex, at) | (hexByte(hex, at + 2) << 8) | (hexByte(hex, at + 4) << 16) | (hexByte(hex, at + 6) << 24)) >>> 0;
}

function hexByte(hex: string, at: number): number {
  return (nibble(hex.charCodeAt(at)) << 4) | nibble(hex.charCodeAt(at + 1));
}

function nibble(c: number): number {
  // Upper-case hex gives the same value as lower-case.
  return c <= 0x39 ? (c - 0x30) & 15 : (c - 0x57) & 15;
}

/** `length` hex digits, either case. */
function isHexId(id: string | undefined, length: number): id is string {
  if (id === undefined || id.length !== length) return false;
  for (let i = 0; i < length; i++) {
    const c = id.charCodeAt(i);
    const lower = c | 0x20;
    if (!((c >= 0x30 && c <= 0x39) || (lower >= 0x61 && lower <= 0x66))) return false;
  }
  return true;
}
