/**
 * Callback results beyond the plain forms. A `handleCall` returns `[reply, newState]`, a
 * `handleCast`/`handleInfo`/`handleContinue` returns the new state, `init` returns the
 * initial state; these directives cover the rest (OTP's `{noreply, …}`, `{stop, …}`,
 * `{continue, …}`).
 */
import type { ExitReason } from '../../core/exit-reason.js';
import { exitReasonProblem } from '../../core/exit-reason.js';
import { checkOptions } from '../../core/validate.js';
import { InvalidArgumentError } from '../../errors.js';

const DIRECTIVE: unique symbol = Symbol('spindle.directive');

/**
 * What a GenServer callback returns when a plain value cannot say it: made by {@link Result}
 * (OTP's `{reply, …}`, `{noreply, …}`, `{continue, …}` and `{stop, …}` tuples). Opaque.
 */
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

/**
 * The directive helpers: return one from a GenServer callback for the cases a plain return
 * value cannot express (a delayed reply, `handleContinue`, stopping). OTP's callback return
 * tuples. They never throw; a directive returned where it does not fit crashes the server
 * with `BadReturnValueError`.
 */
export const Result = {
  /**
   * From `handleCall`: reply later with `GenServer.reply(from, value)` (OTP `{noreply, State}`).
   * Optionally run `handleContinue(cont)` before the next message.
   */
  noreply<S>(state: S, options?: { continue?: unknown }): Directive<S, never> {
    const o = directiveOptions('Result.noreply', options);
    return {
      [DIRECTIVE]: 'noreply',
      state,
      continue: o.continue,
      hasContinue: 'continue' in o,
    };
  },
  /**
   * From `handleCall`: reply, then run `handleContinue(cont)` before the next message (OTP
   * `{reply, Reply, State, {continue, Cont}}`). Without `continue`, the same as returning
   * `[reply, state]`.
   */
  reply<S, R>(reply: R, state: S, options?: { continue?: unknown }): Directive<S, R> {
    const o = directiveOptions('Result.reply', options);
    return {
      [DIRECTIVE]: 'reply',
      reply,
      state,
      continue: o.continue,
      hasContinue: 'continue' in o,
    };
  },
  /**
   * From `init`, `handleCast`, `handleInfo` or `handleContinue`: new state, then
   * `handleContinue(cont)` before the next message (OTP `{noreply, State, {continue, Cont}}`).
   */
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
   * OTP `{stop, Reason, State}` / `{stop, Reason, Reply, State}`.
   */
  stop<S, R = never>(reason: ExitReason, state: S, options?: { reply?: R }): Directive<S, R> {
    const problem = exitReasonProblem(reason);
    if (problem !== undefined) throw new InvalidArgumentError('reason passed to Result.stop', problem);
    const o = directiveOptions<{ reply?: R }>('Result.stop', options);
    return {
      [DIRECTIVE]: 'stop',
      reason,
      state,
      reply: o.reply,
      hasReply: 'reply' in o,
    };
  },
} as const;

/**
 * The options bag of a directive: undefined is `{}`; anything but a plain object (a bare
 * value where `{ continue: value }` was meant, say) is an InvalidArgumentError, thrown from
 * the callback that built it, so the process fails with a typed error.
 */
function directiveOptions<T extends object = { continue?: unknown }>(fn: string, v: unknown): Partial<T> {
  return checkOptions<T>(`options passed to ${fn}`, v);
}

/** True when `v` is a directive made by {@link Result}. */
export function isDirective(v: unknown): v is Directive<unknown> {
  return typeof v === 'object' && v !== null && DIRECTIVE in v;
}

export function directiveKind(d: Directive<unknown>): Directive<unknown>[typeof DIRECTIVE] {
  return d[DIRECTIVE];
}
