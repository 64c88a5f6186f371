/**
 * A deterministic in-memory network for cluster simulations: a discrete-event queue over an
 * integer virtual clock (1 tick = 0.1 ms), per-message latency with seeded jitter, FIFO
 * delivery per directed link (as a TCP stream), message counting per node and per kind, link
 * cuts (pairs or whole partitions) and node crashes.
 *
 * Events at the same tick fire in the order they were scheduled, so a run depends only on the
 * seed. Times are quantised to ticks so that events share buckets: a run of 1,000 nodes moves
 * about 10^9 messages, which a binary heap of single events could not carry.
 */

/** A seeded PRNG (mulberry32): [0, 1). */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** A Fisher–Yates shuffle of a copy. */
  shuffle<T>(xs: readonly T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j] as T, a[i] as T];
    }
    return a;
  }
}

/** Ticks per virtual millisecond. */
export const TICKS_PER_MS = 10;

/** A timer handle: `cancelled` stops it firing. */
export interface SimTimer {
  readonly kind: 'timer';
  readonly fn: () => void;
  cancelled: boolean;
}

/** A message in flight: delivered to `deliver` of the network's receiver. */
export interface SimMessage<P = unknown> {
  readonly kind: 'msg';
  readonly from: number;
  readonly to: number;
  /** What the message travels on (a connection object of the layer above), or undefined. */
  readonly conn: unknown;
  readonly payload: P;
  /** A name for counting (`hello`, `members`, `g_add`, …). */
  readonly type: string;
}

type Entry = SimTimer | SimMessage;

export interface NetworkOptions {
  nodes: number;
  seed: number;
  /** Mean one-way latency, ms (default 1). */
  latencyMs?: number;
  /** Uniform jitter ± ms around the mean (default 0.5). */
  jitterMs?: number;
}

/** A min-heap of integer ticks. */
class TickHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): number | undefined {
    return this.a[0];
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((a[p] as number) <= v) break;
      a[i] = a[p] as number;
      i = p;
    }
    a[i] = v;
  }
  pop(): number | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && (a[r] as number) < (a[l] as number) ? r : l;
        if ((a[c] as number) >= last) break;
        a[i] = a[c] as number;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

export class SimNetwork {
  /** Current tick. */
  tick = 0;
  readonly rng: Rng;
  readonly n: number;
  private readonly buckets = new Map<number, Entry[]>();
  private readonly ticks = new TickHeap();
  private readonly latTicks: number;
  private readonly jitTicks: number;
  /** Last delivery tick per directed link (FIFO). */
  private readonly lastAt: Float64Array;
  /** Partition side of each node (-1: none); nodes on different sides cannot talk. */
  private readonly side: Int32Array;
  private readonly cuts = new Set<number>();
  readonly crashed: Uint8Array;
  /** Messages sent / received per node (delivered ones only count as received). */
  readonly sent: Float64Array;
  readonly received: Float64Array;
  /** Messages sent per kind. */
  readonly byType = new Map<string, number>();
  dropped = 0;
  /** Receives every delivered message (set by the layer above). */
  deliver: (m: SimMessage) => void = () => {};

  constructor(o: NetworkOptions) {
    this.n = o.nodes;
    this.rng = new Rng(o.seed);
    this.latTicks = Math.round((o.latencyMs ?? 1) * TICKS_PER_MS);
    this.jitTicks = Math.round((o.jitterMs ?? 0.5) * TICKS_PER_MS);
    this.lastAt = new Float64Array(o.nodes * o.nodes);
    this.side = new Int32Array(o.nodes).fill(-1);
    this.crashed = new Uint8Array(o.nodes);
    this.sent = new Float64Array(o.nodes);
    this.received = new Float64Array(o.nodes);
  }

  /** Virtual milliseconds since the start. */
  get now(): number {
    return this.tick / TICKS_PER_MS;
  }

  private put(at: number, e: Entry): void {
    let b = this.buckets.get(at);
    if (b === undefined) {
      b = [];
      this.buckets.set(at, b);
      this.ticks.push(at);
    }
    b.push(e);
  }

  /** Runs `fn` after `ms` virtual ms (at least one tick later). */
  setTimeout(fn: () => void, ms: number): SimTimer {
    const t: SimTimer = { kind: 'timer', fn, cancelled: false };
    this.put(this.tick + Math.max(1, Math.round(ms * TICKS_PER_MS)), t);
    return t;
  }

  clearTimeout(t: SimTimer | undefined): void {
    if (t !== undefined) t.cancelled = true;
  }

  /** True when `a` and `b` cannot talk (cut pair, different partition sides, or a crash). */
  blocked(a: number, b: number): boolean {
    if (this.crashed[a] === 1 || this.crashed[b] === 1) return true;
    const sa = this.side[a] as number;
    const sb = this.side[b] as number;
    if (sa !== sb && sa !== -1 && sb !== -1) return true;
    return this.cuts.size > 0 && this.cuts.has(a < b ? a * this.n + b : b * this.n + a);
  }

  /** The sampled one-way latency in ticks (>= 1). */
  latency(): number {
    return Math.max(1, this.latTicks + (this.jitTicks === 0 ? 0 : this.rng.int(2 * this.jitTicks + 1) - this.jitTicks));
  }

  /**
   * Sends a message: counted as sent by `from`; delivered after the link's latency, in order
   * with the earlier messages of the same link, unless the link is blocked at send or delivery.
   */
  send<P>(from: number, to: number, type: string, payload: P, conn?: unknown): void {
    this.sent[from] = (this.sent[from] as number) + 1;
    this.byType.set(type, (this.byType.get(type) ?? 0) + 1);
    if (this.blocked(from, to)) {
      this.dropped++;
      return;
    }
    const k = from * this.n + to;
    const at = Math.max(this.tick + this.latency(), this.lastAt[k] as number);
    this.lastAt[k] = at;
    this.put(at, { kind: 'msg', from, to, conn, payload, type });
  }

  /** Cuts the pair `a`–`b` (both directions). */
  cut(a: number, b: number): void {
    this.cuts.add(a < b ? a * this.n + b : b * this.n + a);
  }

  heal(a: number, b: number): void {
    this.cuts.delete(a < b ? a * this.n + b : b * this.n + a);
  }

  /** Splits the nodes into sides (nodes not listed stay with everyone); replaces an earlier split. */
  partition(sides: readonly (readonly number[])[]): void {
    this.side.fill(-1);
    sides.forEach((s, i) => {
      for (const x of s) this.side[x] = i;
    });
  }

  /** Removes every cut and partition. */
  healAll(): void {
    this.cuts.clear();
    this.side.fill(-1);
  }

  /** The node stops: nothing more reaches it, and what it sent and is still in flight is lost. */
  crash(node: number): void {
    this.crashed[node] = 1;
  }

  /** Pending entries (timers included). */
  get pending(): number {
    let n = 0;
    for (const b of this.buckets.values()) n += b.length;
    return n;
  }

  /**
   * Runs events until `stop()` is true (checked after each tick), or until virtual time
   * `untilMs`. Returns true when `stop` ended it. The clock ends at the last tick run, or at
   * `untilMs` when the queue ran dry or the limit was reached.
   */
  run(untilMs: number, stop?: () => boolean): boolean {
    const end = Math.round(untilMs * TICKS_PER_MS);
    for (;;) {
      if (stop?.()) return true;
      const next = this.ticks.peek();
      if (next === undefined || next > end) {
        this.tick = Math.max(this.tick, end);
        return stop?.() ?? false;
      }
      this.ticks.pop();
      this.tick = next;
      const b = this.buckets.get(next) as Entry[];
      // Entries scheduled for this same tick while it runs are appended and run too.
      for (let i = 0; i < b.length; i++) {
        const e = b[i] as Entry;
        if (e.kind === 'timer') {
          if (!e.cancelled) e.fn();
        } else if (this.blocked(e.from, e.to)) this.dropped++;
        else {
          this.received[e.to] = (this.received[e.to] as number) + 1;
          this.deliver(e);
        }
      }
      this.buckets.delete(next);
    }
  }

  /** Runs for `ms` more virtual ms. */
  runFor(ms: number): void {
    this.run(this.now + ms);
  }

  /** Total messages sent. */
  totalSent(): number {
    let s = 0;
    for (const x of this.sent) s += x;
    return s;
  }
}
