/**
 * The process: a mailbox, a server (the behaviour engine), links and monitors, and the exit
 * sequence. It knows nothing of GenServer callbacks; the engine implements {@link Server}.
 *
 * Invariants:
 * - One message is handled at a time. When a handler is synchronous the drain loop runs the
 *   next message in the same turn (no per-message microtask); when it returns a promise the
 *   process is `busy` until it settles.
 * - Exit signals and stop requests are not queued behind messages: a brutal exit happens at
 *   once; a graceful stop runs after the handler in flight, ahead of queued messages.
 * - Every call the process owes (queued, in flight, deferred) is answered with a typed error
 *   when it dies, at any distance.
 */
import { MailboxOverflowError, ServerExitedError } from '../errors.js';
import type { ExitReason } from './exit-reason.js';
import { isErrorExit, isNormalExit } from './exit-reason.js';
import { crashReport } from './events.js';
import type { AnyRef, MonitorRef } from './ref.js';
import { formatRef, refKey, sameRef } from './ref.js';
import type { From, Runtime } from './runtime.js';

/** Message kinds in the mailbox. */
export const CALL = 0;
export const CAST = 1;
export const INFO = 2;

export const Status = {
  Init: 0,
  Running: 1,
  Stopping: 2,
  Dead: 3,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

/** What a behaviour engine provides to the process loop. Neither method may throw. */
export interface Server {
  /** Handles one message. Returns a promise when the handler went asynchronous. */
  handle(kind: number, msg: unknown, from: From | undefined): undefined | Promise<void>;
  /** Runs the behaviour's terminate callback. */
  terminate(reason: ExitReason): undefined | Promise<void>;
  /** Message of the call being handled (for error messages), if any. */
  inflight(): { from: From; msg: unknown } | undefined;
  /** Calls answered later with `GenServer.reply` that are still open. */
  deferred(): Iterable<[From, unknown]>;
}

/** Who watches a process: another process, or a callback held by a runtime. */
export interface Watcher {
  readonly ref: AnyRef;
  readonly monitor: MonitorRef;
}

/** Mailbox segment size: a longer queue chains segments instead of growing one array. */
const SEGMENT = 4096;

/** A mailbox entry that is not a cast. Private, so no user message is ever mistaken for one. */
class Envelope {
  constructor(
    readonly kind: number,
    readonly msg: unknown,
    readonly from: From | undefined,
  ) {}
}

/** What a bounded mailbox does with a message that does not fit (see `StartOptions.overflow`). */
export type OverflowPolicy = 'drop_new' | 'reject' | 'crash';

/** A bounded mailbox: its size, its policy and what it refused. */
export class MailboxBound {
  /** User messages refused by the full mailbox (casts and infos dropped, calls rejected). */
  dropped = 0;
  constructor(
    /** Most user messages the mailbox holds. */
    readonly max: number,
    readonly overflow: OverflowPolicy,
  ) {}
}

/**
 * Where a mailbox's messages came from, run-length encoded: [src, count] pairs, oldest first
 * (src -1: this thread), in runs[head, tail). Runs rather than a tag per message: a flood from
 * another thread allocates nothing per message (an envelope per remote cast was measured to
 * make a million-cast flood a GC problem).
 */
class Sources {
  private runs: number[] = [];
  private head = 0;
  private tail = 0;

  add(src: number): void {
    const r = this.runs;
    const t = this.tail;
    if (t > this.head && r[t - 2] === src) {
      r[t - 1] = (r[t - 1] as number) + 1;
      return;
    }
    if (t < r.length) {
      r[t] = src;
      r[t + 1] = 1;
    } else r.push(src, 1);
    this.tail = t + 2;
  }

  /** Takes one message off the oldest run; returns its source. */
  take(): number {
    const r = this.runs;
    const h = this.head;
    const src = r[h] as number;
    const left = (r[h + 1] as number) - 1;
    if (left > 0) r[h + 1] = left;
    else if (h + 2 === this.tail) {
      this.head = 0;
      this.tail = 0;
      if (r.length > 256) this.runs = [];
    } else this.head = h + 2;
    return src;
  }
}

/** Whether a new user message may enter a mailbox. */
export const Admit = {
  /** Take it. */
  Yes: 0,
  /** Full: drop it (a call is rejected with MailboxFullError). */
  Full: 1,
  /** Full, and the policy is `crash`: the process has been told to exit. */
  Crashed: 2,
} as const;
export type Admit = (typeof Admit)[keyof typeof Admit];

export class Proc {
  status: Status = Status.Init as Status;
  /** Set while an async handler runs. */
  busy = false;
  /** True while queued on the runtime's ready list. */
  scheduled = false;
  trapExit = false;
  name: string | undefined;
  /** Every unique name this process holds (released when it dies). */
  registered: Set<string> | undefined;
  server!: Server;
  /** Graceful stop requested while busy or initialising. */
  pendingStop: ExitReason | undefined;
  /** Calls whose handler crashed the process get this cause attached. */
  exitPromise: Promise<ExitReason> | undefined;
  private exitResolve: ((r: ExitReason) => void) | undefined;
  /** Linked processes by key (lazily created: most processes have none). */
  links: Map<string, AnyRef> | undefined;
  /** Monitors on this process, by monitor key. */
  watchers: Map<string, Watcher> | undefined;
  /** Monitors this process holds on others, by monitor key. */
  monitoring: Map<string, AnyRef> | undefined;
  /** Timers whose target is this process (cancelled when it dies). */
  timers: Set<unknown> | undefined;
  /** The exit reason once dead. */
  reason: ExitReason | undefined;
  /** The supervisor (or other parent) that started it; exit signals from it are shutdowns. */
  parent: AnyRef | undefined;
  // Mailbox: one slot per message, a cast's message as it is (the common case costs no
  // allocation), anything else in an Envelope. Read from slots[head], written at
  // wslots[tail]; up to SEGMENT messages that is one array, reused when it empties (truncating
  // it is a runtime call per turn), slid down in place when full and mostly consumed, and
  // dropped once it has grown and emptied. A longer queue chains SEGMENT-sized arrays (segs)
  // instead of growing one huge array, whose every regrowth copies it.
  private slots: unknown[] = [];
  private head = 0;
  /** The segment written to: `slots` itself unless the queue outgrew one segment. */
  private wslots: unknown[] = this.slots;
  private tail = 0;
  /** Segments after `slots` (the last is `wslots`), once the queue outgrew one segment. */
  private segs: unknown[][] | undefined;
  /** The mailbox bound; undefined: unbounded, as in OTP (the common case costs one field). */
  bound: MailboxBound | undefined;
  /** Messages handed to the behaviour so far. */
  handledCount = 0;

  constructor(
    readonly rt: Runtime,
    readonly ref: AnyRef,
  ) {}

  get queued(): number {
    if (this.segs === undefined) return this.tail - this.head;
    let n = this.slots.length - this.head + this.tail;
    for (let i = 0; i < this.segs.length - 1; i++) n += (this.segs[i] as unknown[]).length;
    return n;
  }

  get alive(): boolean {
    return this.status !== Status.Dead;
  }

  /**
   * May one more user message (cast, info, call) enter? Only called when `maxMailbox` is
   * finite: system messages (EXIT, DOWN) always enter. A refusal is counted here; under the
   * `crash` policy the process exits with `{ error: MailboxOverflowError }`.
   */
  admit(): Admit {
    const b = this.bound as MailboxBound;
    if (this.queued < b.max) return Admit.Yes;
    b.dropped++;
    if (b.overflow !== 'crash') return Admit.Full;
    if ((this.status === Status.Running || this.status === Status.Init) && this.pendingStop === undefined) {
      // Ahead of the queue, after the handler in flight (terminate still runs); never inside
      // the sender's own call stack.
      this.pendingStop = { error: new MailboxOverflowError(formatRef(this.ref), b.max) };
      if (this.status === Status.Running && !this.busy && !this.scheduled) this.rt.schedule(this);
    }
    return Admit.Crashed;
  }

  /**
   * Queues a message that came from peer thread `src`; once handled (or dropped with the
   * process) it is counted back to that peer (acks: its in-flight bound, and its exact count
   * of casts lost if this thread dies).
   */
  enqueueFrom(src: number, kind: number, msg: unknown, from: From | undefined): void {
    (this.sources ??= new Sources()).add(src);
    this.push(kind === CAST ? msg : new Envelope(kind, msg, from));
  }

  /** Where the queued messages came from; kept once a message from another thread arrived. */
  private sources: Sources | undefined;

  /** The oldest queued message left the mailbox: count it back to its source thread. */
  private takeRun(kind: number): void {
    const src = (this.sources as Sources).take();
    if (src >= 0) this.rt.handledFrom(src, kind !== CALL);
  }

  enqueue(kind: number, msg: unknown, from: From | undefined): void {
    if (this.sources !== undefined) this.sources.add(-1);
    this.push(kind === CAST ? msg : new Envelope(kind, msg, from));
  }

  private push(item: unknown): void {
    let w = this.wslots;
    let t = this.tail;
    if (t >= SEGMENT && t === w.length) {
      const h = this.head;
      if (w === this.slots && h * 2 >= t) {
        // One full segment, mostly consumed: slide the live part down.
        w.copyWithin(0, h, t);
        w.fill(undefined, t - h, t);
        t -= h;
        this.head = 0;
      } else {
        // Start another segment rather than grow (and copy) one huge array.
        w = [];
        (this.segs ??= []).push(w);
        this.wslots = w;
        t = 0;
      }
    }
    if (t < w.length) w[t] = item;
    else w.push(item);
    this.tail = t + 1;
    if (!this.scheduled && !this.busy && this.status === Status.Running) this.rt.schedule(this);
  }

  /**
   * Handles up to `budget` messages, and for at most about `sliceMs` of wall time. Returns true
   * if messages remain and it should run again after the event loop has had a turn.
   *
   * The time bound matters for slow handlers (CPU work on a thread): without it a backlog of
   * 5 ms calls would hold the thread for `budget` × 5 ms, delaying every reply (they leave at
   * the end of the turn), timers, and the watchdog heartbeat. The clock is read after messages
   * 1, 2, 4 … 64 and then every 64th, so fast handlers pay almost nothing for it.
   */
  drain(budget: number, sliceMs: number): boolean {
    this.scheduled = false;
    const rt = this.rt;
    let handled = 0;
    let nextCheck = 1;
    let deadline = 0;
    while (this.status === Status.Running && !this.busy) {
      if (this.pendingStop !== undefined) {
        this.stop(this.pendingStop);
        return false;
      }
      const s = this.slots;
      const h = this.head;
      if (s === this.wslots) {
        if (h >= this.tail) return false;
      } else if (h >= s.length) {
        // This segment is done: read the next.
        const segs = this.segs as unknown[][];
        this.slots = segs.shift() as unknown[];
        this.head = 0;
        if (segs.length === 0) this.segs = undefined;
        continue;
      }
      if (budget-- <= 0) return true;
      // Only when another message is waiting: a drain of one message never reads the clock.
      if (handled === nextCheck) {
        const t = performance.now();
        if (deadline === 0) deadline = t + sliceMs;
        else if (t > deadline) return true;
        nextCheck = handled < 64 ? handled * 2 : handled + 64;
      }
      const item = s[h];
      s[h] = undefined;
      let kind: number;
      let msg: unknown;
      let from: From | undefined;
      if (item instanceof Envelope) {
        kind = item.kind;
        msg = item.msg;
        from = item.from;
      } else {
        kind = CAST;
        msg = item;
        from = undefined;
      }
      if (h + 1 === this.tail && s === this.wslots) {
        this.head = 0;
        this.tail = 0;
        if (s.length > 128) this.slots = this.wslots = [];
      } else this.head = h + 1;
      if (this.sources !== undefined) this.takeRun(kind);
      rt.current = this;
      this.handledCount++;
      const p = this.server.handle(kind, msg, from);
      rt.current = undefined;
      if (p !== undefined) {
        this.busy = true;
        p.then(() => this.resume());
        return false;
      }
      handled++;
    }
    return false;
  }

  /** Called when an async handler (or init) settles. */
  resume(): void {
    this.busy = false;
    if (this.status !== Status.Running) return;
    if (this.pendingStop !== undefined) {
      this.stop(this.pendingStop);
      return;
    }
    if (this.hasQueued() && !this.scheduled) this.rt.schedule(this);
  }

  private hasQueued(): boolean {
    return this.head < this.tail || this.slots !== this.wslots;
  }

  /** The queued messages' slots, oldest first (cold paths only). */
  private queuedItems(): unknown[] {
    if (this.segs === undefined) return this.slots.slice(this.head, this.tail);
    const out = this.slots.slice(this.head);
    const last = this.segs.length - 1;
    for (let i = 0; i < last; i++) out.push(...(this.segs[i] as unknown[]));
    out.push(...this.wslots.slice(0, this.tail));
    return out;
  }

  /** Init finished: start handling messages. */
  markRunning(): void {
    if (this.status !== Status.Init) return;
    this.status = Status.Running;
    if (this.pendingStop !== undefined) {
      this.stop(this.pendingStop);
      return;
    }
    if (this.hasQueued() && !this.scheduled) this.rt.schedule(this);
  }

  /**
   * Graceful stop: runs `terminate`, then exits with `reason`. Deferred while a handler runs
   * or during init (the engine decides what init does with it).
   */
  requestStop(reason: ExitReason): void {
    if (this.status === Status.Dead || this.status === Status.Stopping) return;
    if (this.busy || this.status === Status.Init) {
      if (this.pendingStop === undefined) this.pendingStop = reason;
      return;
    }
    this.stop(reason);
  }

  /** Runs terminate now (must not be busy), then dies. */
  stop(reason: ExitReason): void {
    if (this.status === Status.Dead || this.status === Status.Stopping) return;
    this.pendingStop = undefined;
    this.status = Status.Stopping;
    const rt = this.rt;
    const prev = rt.current;
    rt.current = this;
    const p = this.server.terminate(reason);
    rt.current = prev;
    if (p === undefined) this.die(reason);
    else p.then(() => this.die(reason));
  }

  /** Receives an exit signal from `from` (a linked process, or `Process.exit`). */
  exitSignal(from: AnyRef, reason: ExitReason, viaLink: boolean): void {
    if (this.status === Status.Dead) return;
    if (viaLink) this.links?.delete(refKey(from));
    if (reason === 'killed' && !viaLink) {
      // Process.exit(ref, 'kill'): untrappable.
      this.die('killed');
      return;
    }
    const fromParent = this.parent !== undefined && sameRef(this.parent, from);
    // As OTP's gen_server: the parent's exit signal ends a trapping process through terminate.
    // A 'shutdown' from the parent also runs terminate when not trapping (docs/decisions.md).
    if (fromParent && (this.trapExit || (reason !== 'normal' && isNormalExit(reason)))) {
      this.requestStop(reason);
      return;
    }
    if (this.trapExit) {
      this.enqueue(INFO, { type: 'EXIT', from, reason }, undefined);
      return;
    }
    if (reason === 'normal') return;
    this.die(reason);
  }

  /** Removes this process and tells everyone who cares. Idempotent. */
  die(reason: ExitReason): void {
    if (this.status === Status.Dead) return;
    const rt = this.rt;
    this.status = Status.Dead;
    this.reason = reason;
    this.busy = false;
    rt.procs.delete(this.ref.id);
    if (this.registered !== undefined) {
      for (const n of this.registered) rt.names.releaseFor(n, this.ref);
      this.registered = undefined;
    }
    if (this.timers !== undefined) {
      for (const t of this.timers) rt.clock.clearTimeout(t);
      this.timers = undefined;
    }
    this.answerOwedCalls(reason);
    const router = rt.router;
    if (this.links !== undefined) {
      const links = this.links;
      this.links = undefined;
      for (const r of links.values()) router.exitSignal(r, this.ref, reason, true);
    }
    if (this.monitoring !== undefined) {
      for (const [key, target] of this.monitoring) router.demonitor(target, key);
      this.monitoring = undefined;
    }
    if (this.watchers !== undefined) {
      const ws = this.watchers;
      this.watchers = undefined;
      for (const w of ws.values()) router.down(w, this.ref, reason);
    }
    if (isErrorExit(reason)) {
      rt.logger.error(crashReport(this.ref, this.name, reason), {
        ref: this.ref,
        name: this.name,
      });
      if (rt.events.active) rt.events.emit({ type: 'crashed', ref: this.ref, reason, name: this.name }, rt.logger);
    } else {
      if (!isNormalExit(reason) && reason !== 'killed') rt.logger.warn(crashReport(this.ref, this.name, reason));
      if (rt.events.active) rt.events.emit({ type: 'terminated', ref: this.ref, reason, name: this.name }, rt.logger);
    }
    this.exitResolve?.(reason);
    rt.onProcessExit(this);
  }

  /** The caller of a queued call from another thread/node gave up: never handle it. */
  withdrawCall(node: string, thread: number, call: number): void {
    for (const e of this.queuedItems()) {
      if (!(e instanceof Envelope) || e.kind !== CALL) continue;
      const f = e.from as { node?: string; thread?: number; call?: number; done?: boolean };
      if (f.call === call && f.thread === thread && f.node === node) {
        f.done = true;
        return;
      }
    }
  }

  /** A promise for the exit reason (used by GenServer.stop and external watchers). */
  exited(): Promise<ExitReason> {
    if (this.reason !== undefined) return Promise.resolve(this.reason);
    if (this.exitPromise === undefined) {
      this.exitPromise = new Promise((resolve) => {
        this.exitResolve = resolve;
      });
    }
    return this.exitPromise;
  }

  private answerOwedCalls(reason: ExitReason): void {
    const router = this.rt.router;
    const inflight = this.server?.inflight();
    if (inflight !== undefined) router.replyError(inflight.from, ServerExitedError.for(this.ref, reason, inflight.msg));
    if (this.server !== undefined) {
      for (const [from, msg] of this.server.deferred()) router.replyError(from, ServerExitedError.for(this.ref, reason, msg));
    }
    const items = this.queuedItems();
    let dropped = 0;
    for (const e of items) {
      const kind = e instanceof Envelope ? e.kind : CAST;
      // Consumed, as far as the thread that sent it is concerned (it is counted here).
      if (this.sources !== undefined) this.takeRun(kind);
      if (e instanceof Envelope && e.kind === CALL) {
        router.replyError(e.from as From, ServerExitedError.for(this.ref, reason, e.msg));
        continue;
      }
      dropped++;
    }
    this.slots = this.wslots = [];
    this.segs = undefined;
    this.head = 0;
    this.tail = 0;
    if (dropped > 0) this.rt.stats.droppedOnExit += dropped;
  }
}
