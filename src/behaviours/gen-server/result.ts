/**
 * Callback results beyond the plain forms. A `handleCall` returns `[reply, newState]`, a
 * `handleCast`/`handleInfo`/`handleContinue` returns the new state, `init` returns the
 * initial state; these directives cover the rest (OTP's `{noreply, …}`, `{stop, …}`,
 * `{continue, …}`).
 */
import type { ExitReason } from '../../core/exit-reason.js';

const DIRECTIVE: unique symbol = Symbol('spindle.directive');

export type Directive<S, R = unknown> =
  | {
      readonly [DIRECTIVE]: 'noreply';
      readonly state: S;
      readonly continue?: unknown;
      readonly hasContinue: boolean;
    }
  | {
      readonly [DIRECTIVE]: 'reply';
      readonly reply: R;
      readonly state: S;
      readonly continue?: unknown;
      readonly hasContinue: boolean;
    }
  | {
      readonly [DIRECTIVE]: 'continue';
      readonly state: S;
      readonly continue: unknown;
      readonly hasContinue: true;
    }
  | {
      readonly [DIRECTIVE]: 'stop';
      readonly reason: ExitReason;
      readonly state: S;
      readonly reply?: R;
      readonly hasReply: boolean;
    };

/** The directive helpers. */
export const Result = {
  /**
   * From `handleCall`: reply later with `GenServer.reply(from, value)`. Optionally run
   * `handleContinue(cont)` before the next message.
   */
  noreply<S>(state: S, options: { continue?: unknown } = {}): Directive<S, never> {
    return {
      [DIRECTIVE]: 'noreply',
      state,
      continue: options.continue,
      hasContinue: 'continue' in options,
    };
  },
  /** From `handleCall`: reply, then run `handleContinue(cont)` before the next message. */
  reply<S, R>(reply: R, state: S, options: { continue?: unknown } = {}): Directive<S, R> {
    return {
      [DIRECTIVE]: 'reply',
      reply,
      state,
      continue: options.continue,
      hasContinue: 'continue' in options,
    };
  },
  /** From `init`, `handleCast`, `handleInfo` or `handleContinue`: new state, then `handleContinue(cont)`. */
  continue<S>(state: S, cont: unknown): Directive<S, never> {
    return {
      [DIRECTIVE]: 'continue',
      state,
      continue: cont,
      hasContinue: true,
    };
  },
  /**
   * From any callback: stop with `reason` (terminate runs with `state`). From `handleCall`,
   * pass `{ reply }` to answer the caller first; otherwise the caller gets ServerExitedError.
   */
  stop<S, R = never>(reason: ExitReason, state: S, options: { reply?: R } = {}): Directive<S, R> {
    return {
      [DIRECTIVE]: 'stop',
      reason,
      state,
      reply: options.reply,
      hasReply: 'reply' in options,
    };
  },
} as const;

/** True when `v` is a directive made by {@link Result}. */
export function isDirective(v: unknown): v is Directive<unknown> {
  return typeof v === 'object' && v !== null && DIRECTIVE in v;
}

export function directiveKind(d: Directive<unknown>): Directive<unknown>[typeof DIRECTIVE] {
  return d[DIRECTIVE];
}
