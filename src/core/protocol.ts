/**
 * Typed protocols. A server declares its messages once:
 *
 * ```ts
 * type CounterProtocol = {
 *   call: ['get', number] | [{ type: 'add'; n: number }, number];
 *   cast: 'inc' | { type: 'reset' };
 *   info: never;
 * };
 * ```
 *
 * `call` is a union of `[message, reply]` pairs, so `GenServer.call(ref, 'get')` has type
 * `Promise<number>` and a message outside the union fails to compile.
 */

/** A server's message protocol. Every field is optional. */
export interface Protocol {
  call?: readonly [unknown, unknown];
  cast?: unknown;
  info?: unknown;
}

/** Messages accepted by `call`. */
export type CallMsg<P extends Protocol> = P['call'] extends readonly [infer M, unknown] ? M : never;

/** The reply type for call message `M`. */
export type ReplyOf<P extends Protocol, M> = P['call'] extends infer C
  ? C extends readonly [infer Msg, infer R]
    ? [M] extends [Msg]
      ? R
      : never
    : never
  : never;

/** Every reply type of the protocol (what `handleCall` may return). */
export type AnyReply<P extends Protocol> = P['call'] extends readonly [unknown, infer R] ? R : never;

/** Messages accepted by `cast`. */
export type CastMsg<P extends Protocol> = unknown extends P['cast'] ? never : P['cast'];

/** User messages accepted by `send` / `handleInfo`. */
export type InfoMsg<P extends Protocol> = unknown extends P['info'] ? unknown : P['info'];
