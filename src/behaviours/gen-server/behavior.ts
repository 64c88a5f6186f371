/**
 * The GenServer behaviour: the callbacks a user writes. The runtime owns the machinery
 * (mailbox, replies, timeouts, supervision); user code is only these callbacks.
 */
import type { ExitReason } from '../../core/exit-reason.js';
import type { AnyReply, CallMsg, CastMsg, InfoMsg, Protocol } from '../../core/protocol.js';
import type { AnyRef, MonitorRef } from '../../core/ref.js';
import type { From } from '../../core/runtime.js';
import type { Directive } from './result.js';

/** A callback's result: the value, or a promise of it (an async callback). */
export type MaybePromise<T> = T | Promise<T>;

/** An exit signal from a linked process, delivered as an info message when trapping exits. */
export interface ExitMessage {
  /** Always `'EXIT'`. */
  readonly type: 'EXIT';
  /** The linked process that exited. */
  readonly from: AnyRef;
  /** Its exit reason. */
  readonly reason: ExitReason;
}

/** A monitored process exited. */
export interface DownMessage {
  /** Always `'DOWN'`. */
  readonly type: 'DOWN';
  /** The monitor that fired (what `Process.monitor` returned). */
  readonly monitor: MonitorRef;
  /** The monitored process. */
  readonly ref: AnyRef;
  /** Its exit reason (`'noproc'` when it was not alive when monitored). */
  readonly reason: ExitReason;
}

/** Messages the runtime itself may deliver to `handleInfo`. */
export type SystemMessage = ExitMessage | DownMessage;

/** True for an EXIT info message. */
export function isExitMessage(m: unknown): m is ExitMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'EXIT' && 'reason' in m && 'from' in m;
}

/** True for a DOWN info message. */
export function isDownMessage(m: unknown): m is DownMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'DOWN' && 'monitor' in m;
}

/**
 * The callbacks of a GenServer with state `S`, protocol `P` and init argument `A`.
 * Only `init` is required. Any callback may be async: the next message waits for it.
 */
export interface GenServerBehavior<S, P extends Protocol = Protocol, A = undefined> {
  /** Builds the initial state. Throwing fails `GenServer.start` with InitFailedError. */
  init(args: A): MaybePromise<S | Directive<S>>;
  /** Answers a call: return `[reply, newState]` or a {@link Result} directive. */
  handleCall?(msg: CallMsg<P>, state: S, from: From): MaybePromise<readonly [AnyReply<P>, S] | Directive<S, AnyReply<P>>>;
  /** Handles a cast: return the new state or a directive. */
  handleCast?(msg: CastMsg<P>, state: S): MaybePromise<S | Directive<S>>;
  /** Handles any other message (`send`, `sendAfter`, EXIT, DOWN): return the new state or a directive. */
  handleInfo?(msg: InfoMsg<P> | SystemMessage, state: S): MaybePromise<S | Directive<S>>;
  /** Post-init / post-message work requested with `Result.continue` or `{ continue }`. */
  handleContinue?(cont: unknown, state: S): MaybePromise<S | Directive<S>>;
  /** Runs on a graceful stop or a crash in a handler (not on a kill). Bounded by the shutdown timeout. */
  terminate?(reason: ExitReason, state: S): MaybePromise<void>;
}
