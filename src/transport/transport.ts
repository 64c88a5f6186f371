/**
 * The Transport seam: an adapter only posts and receives batches (arrays of frame words,
 * see frames.ts) and reports close. Batching, routing and every decision live above it.
 * MessagePort, the in-memory loopback and (later) TCP implement this one interface, and one
 * conformance suite runs against each.
 */

/** A transferable object (ArrayBuffer, MessagePort). */
export type Transferable = ArrayBuffer | import('node:worker_threads').MessagePort;

export interface Transport {
  /** Posts one batch. Throws if the batch cannot be cloned (the channel then retries frame by frame). */
  post(batch: unknown[], transfer?: readonly Transferable[]): void;
  /** Installs the receiver of incoming batches. */
  onBatch(handler: (batch: unknown[]) => void): void;
  /** Installs the close handler: called once when either side closes. */
  onClose(handler: () => void): void;
  /** Closes this end. */
  close(): void;
  /**
   * Optional flow control: stop delivering batches until `resume` (they wait, in order, in the
   * transport). Transports that cannot hold messages back leave these out.
   */
  pause?(): void;
  resume?(): void;
  /** True when {@link pause} really holds messages back. */
  readonly canPause?: boolean;
}

/**
 * Runs `fn` in a microtask. A reaction on one resolved promise costs about half of Node's
 * `queueMicrotask` (which creates an async resource per call), and a channel queues one per
 * turn; the order is the same (one microtask queue).
 */
const resolved = Promise.resolve();
export function microtask(fn: () => void): void {
  void resolved.then(fn);
}

/**
 * When an {@link afterTurn} callback runs: every `Batches` callback of the turn (channels let
 * go of what they held) before any `Writes` callback (sockets write what coalesced), so one
 * turn's batches leave in one write.
 */
export const Late = { Batches: 0, Writes: 1 } as const;
export type Late = (typeof Late)[keyof typeof Late];

const lateBatches: (() => void)[] = [];
const lateWrites: (() => void)[] = [];
let lateArmed = false;

/**
 * Runs `fn` at the end of this turn: once the microtask queue is empty, so promise reactions
 * to what arrived this turn (however many hops deep) have run and written what they send.
 * A nextTick queued from a microtask runs only after the microtask queue drains, which is
 * the hook. Callbacks queued while the late ones run (a flush that posts to a socket) run in
 * the same pass, batches before writes.
 */
export function afterTurn(fn: () => void, when: Late): void {
  (when === Late.Batches ? lateBatches : lateWrites).push(fn);
  if (!lateArmed) {
    lateArmed = true;
    microtask(armLate);
  }
}

const armLate = (): void => {
  process.nextTick(runLate);
};

function runLate(): void {
  let b = 0;
  let w = 0;
  try {
    while (b < lateBatches.length || w < lateWrites.length) {
      if (b < lateBatches.length) (lateBatches[b++] as () => void)();
      else (lateWrites[w++] as () => void)();
    }
  } finally {
    lateBatches.splice(0, b);
    lateWrites.splice(0, w);
    lateArmed = false;
    // A callback threw: the rest still run, in the next pass.
    if (lateBatches.length > 0 || lateWrites.length > 0) {
      lateArmed = true;
      microtask(armLate);
    }
  }
}

/**
 * Binary bytes (see `lastBinaryBytes` in cloneable.ts) from which a message is a `heavy` frame:
 * posted at once with what is pending rather than coalesced into the turn's batch. Cloning
 * one batch of 64 one-megabyte buffers measured 5-8x slower than posting them one by one
 * (the msg-size bench): one huge copy, which the receiver cannot start on until it is whole.
 */
export const HEAVY_BYTES = 64 * 1024;

/** Words of a turn's first batch array (8 frames); past them it is remade at the batch size. */
const FIRST_WORDS = 32;

/** A batch array of `size` holding the `n` words of `buf`. */
function grown(buf: unknown[], n: number, size: number): unknown[] {
  const big = new Array(size);
  for (let i = 0; i < n; i++) big[i] = buf[i];
  return big;
}

/**
 * Eager per-destination batching (docs/architecture.md): with nothing pending a frame is posted at
 * once; frames written later in the same turn are coalesced and posted together at the end
 * of the turn (or as soon as a batch is full). Never "always wait, then flush": that turns
 * a stream into lock-step rounds.
 *
 * A batch is full at 64 frames (256 words). Larger batches barely lower the per-message
 * cost, but they make the receiver wait for the sender's whole burst: with 128 calls in flight,
 * 64-frame batches let both threads work at once and measured ~2× the throughput of
 * 256-frame batches (same cast throughput). Within one turn that fills batch after batch (a
 * backlog: 1024 calls in flight), each full batch doubles the next one's size, up to 4×: fewer
 * posts per message where there is plenty to overlap anyway (pipelined calls at 1024 in
 * flight went from 71–75 % to 83 % of raw). The next turn starts again at the base size.
 */
export class Channel {
  private buf: unknown[] | undefined;
  private transfer: Transferable[] | undefined;
  private closed = false;
  /** Frames whose batch could not be posted, one by one, with the error (e.g. DataCloneError). */
  onFrameError: ((frame: unknown[], error: unknown) => void) | undefined;
  /**
   * Called with each batch just before it is posted; may append frames (acks ride along with
   * traffic that goes out anyway instead of costing a post of their own).
   */
  onPost: ((batch: unknown[]) => void) | undefined;

  constructor(
    readonly transport: Transport,
    private readonly maxWords = 256,
  ) {
    this.limit = maxWords;
    transport.onClose(() => {
      this.closed = true;
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Appends one frame. Returns false if the channel is closed (nothing sent). A `heavy` frame
   * (one that carries much binary data) is posted at once with what is pending before it,
   * as a transfer is: coalescing megabytes into one batch only makes one huge copy that the
   * receiver cannot start on until all of it is there.
   */
  write(tag: number, to: number, a: unknown, b: unknown, transfer?: readonly Transferable[], heavy = false): boolean {
    if (this.closed) return false;
    let buf = this.buf;
    if (buf === undefined) {
      this.buf = [];
      microtask(this.flush);
      this.postSafely([tag, to, a, b], transfer);
      return true;
    }
    // The batch array is made small, then once at its full size, and filled: pushing frame by
    // frame reallocated and copied it a dozen times a batch (most of a cast's garbage), and a
    // full-size array for every turn cost a lone call's round trip ~5 %.
    const n = this.words;
    if (n === 0 && buf.length === 0) buf = this.buf = new Array(Math.min(this.limit, FIRST_WORDS));
    else if (n === buf.length) buf = this.buf = grown(buf, n, this.limit);
    buf[n] = tag;
    buf[n + 1] = to;
    buf[n + 2] = a;
    buf[n + 3] = b;
    this.words = n + 4;
    let full = heavy || n + 4 >= this.limit;
    if (transfer !== undefined && transfer.length > 0) {
      (this.transfer ??= []).push(...transfer);
      // A transfer moves ownership at the send, as on the eager path: post it now, with the
      // frames pending before it (order is kept), rather than at the end of the turn.
      full = true;
    }
    if (full) {
      const t = this.transfer;
      this.buf = [];
      this.transfer = undefined;
      this.postSafely(this.take(buf), t);
      // A turn that fills batch after batch has a backlog: its later batches grow (up to 4×),
      // so a deep pipeline pays fewer posts per message. The next turn starts small again.
      if (this.limit < this.maxWords * 4) this.limit *= 2;
    }
    return true;
  }

  /** Words written into {@link buf} so far (its length is the batch size it was made with). */
  private words = 0;

  /** The filled part of `buf` as the batch to post (cut to length in place), and a fresh count. */
  private take(buf: unknown[]): unknown[] {
    const n = this.words;
    this.words = 0;
    if (buf.length > n) buf.length = n;
    return buf;
  }

  /** The batch size now: `maxWords`, doubled for each full batch of this turn (at most 4×). */
  private limit: number;

  /**
   * Suspends the eager first frame until the next {@link flush}: frames written meanwhile are
   * only coalesced. For a thread that is already awake and working through an incoming batch:
   * what it writes in reply goes out in full batches at the end of that turn, so the batch
   * sizes of a busy stream are kept instead of splitting off one lone frame per post at every
   * hop.
   * The caller must flush (at the end of the turn).
   */
  hold(): void {
    if (this.buf === undefined && !this.closed) this.buf = [];
  }

  /** Posts what is pending now. */
  readonly flush = (): void => {
    this.limit = this.maxWords;
    const buf = this.buf;
    const t = this.transfer;
    this.buf = undefined;
    this.transfer = undefined;
    if (buf === undefined) return;
    const batch = this.take(buf);
    if (batch.length > 0 && !this.closed) this.postSafely(batch, t);
  };

  close(): void {
    this.flush();
    if (this.closed) return;
    this.closed = true;
    this.transport.close();
  }

  /** Hands one batch to the transport (a subclass may send it in another form). */
  protected send(batch: unknown[], transfer: readonly Transferable[] | undefined): void {
    this.transport.post(batch, transfer);
  }

  private postSafely(batch: unknown[], transfer: readonly Transferable[] | undefined): void {
    this.onPost?.(batch);
    try {
      this.send(batch, transfer);
    } catch (e) {
      if (batch.length === 4) {
        this.onFrameError?.(batch, e);
        return;
      }
      // One frame spoiled the batch: send the others, report the bad ones.
      for (let i = 0; i < batch.length; i += 4) {
        const frame = batch.slice(i, i + 4);
        try {
          this.transport.post(frame, transfer?.filter((x) => carries(frame, x, new Set())) ?? []);
        } catch (err) {
          this.onFrameError?.(frame, err);
        }
      }
    }
  }
}

/**
 * True when `x` (a transferable) is reachable from `v`: which of a failed batch's transfers
 * belong to each frame when its frames are re-posted one by one (error path only).
 */
function carries(v: unknown, x: unknown, seen: Set<object>): boolean {
  if (v === x) return true;
  if (typeof v !== 'object' || v === null || seen.has(v)) return false;
  seen.add(v);
  if (ArrayBuffer.isView(v)) return v.buffer === x;
  if (v instanceof Map) {
    for (const [k, e] of v) if (carries(k, x, seen) || carries(e, x, seen)) return true;
    return false;
  }
  if (v instanceof Set) {
    for (const e of v) if (carries(e, x, seen)) return true;
    return false;
  }
  for (const k of Object.keys(v)) if (carries((v as Record<string, unknown>)[k], x, seen)) return true;
  return false;
}
