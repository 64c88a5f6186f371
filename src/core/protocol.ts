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
 * `Promise<number>` and a message outside the union fails to compile. A protocol without a
 * `cast` field accepts no casts; without `info`, any info message. The base `Protocol`
 * (an untyped ref) accepts anything and replies `unknown`.
 */

/** A server's message protocol. Every field is optional. */
export interface Protocol {
  /** The calls: a union of `[message, reply]` pairs. Absent: the server takes no calls. */
  call?: readonly [unknown, unknown];
  /** The messages `cast` accepts (a union). Absent: the server takes no casts. */
  cast?: unknown;
  /** The messages `send` accepts and `handleInfo` receives. Absent: any message. */
  info?: unknown;
}

/** Messages accepted by `call`. */
export type CallMsg<P extends Protocol> = 'call' extends keyof P
  ? NonNullable<P['call']> extends readonly [infer M, unknown]
    ? M
    : never
  : never;

/**
 * The reply type for call message `M`: the replies of the pairs whose message `M` fits (after
 * making a `const`-inferred `M` writable). When `M` is wider than one message (a variable typed
 * as the union), the replies of every pair whose message fits `M`.
 */
export type ReplyOf<P extends Protocol, M> =
  ExactReply<P, M> extends infer R
    ? [R] extends [never]
      ? ExactReply<P, Writable<M>> extends infer W
        ? [W] extends [never]
          ? LooseReply<P, M>
          : W
        : never
      : R
    : never;

/** `M` with readonly arrays and object-literal properties made writable (a `const`-inferred message). */
type Writable<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends readonly unknown[] | { readonly [k: string]: unknown }
    ? { -readonly [K in keyof T]: Writable<T[K]> }
    : T;

type ExactReply<P extends Protocol, M> =
  NonNullable<P['call']> extends infer C ? (C extends readonly [infer Msg, infer R] ? ([M] extends [Msg] ? R : never) : never) : never;

type LooseReply<P extends Protocol, M> =
  NonNullable<P['call']> extends infer C ? (C extends readonly [infer Msg, infer R] ? ([Msg] extends [M] ? R : never) : never) : never;

/** Every reply type of the protocol (what `handleCall` may return). */
export type AnyReply<P extends Protocol> = NonNullable<P['call']> extends readonly [unknown, infer R] ? R : never;

/** Messages accepted by `cast`. */
export type CastMsg<P extends Protocol> = 'cast' extends keyof P ? P['cast'] : never;

/** User messages accepted by `send` / `handleInfo`. */
export type InfoMsg<P extends Protocol> = 'info' extends keyof P ? P['info'] : unknown;

declare const nameProtocol: unique symbol;

/**
 * A registered name that carries the protocol of the process registered under it, made by
 * `GenServer.name<P>('counter')`. At run time it is the plain string: it works with every API
 * that takes a name (`Registry.*`, `GenServer.start`'s `name` option) and crosses threads
 * unchanged. At compile time `GenServer.call(name, msg)` checks `msg` and infers the reply, as
 * for a `Ref<P>`. A plain `string` is a `Name` of the untyped `Protocol`.
 */
export type Name<P extends Protocol = Protocol> = string & {
  /** Phantom: never present at run time. */
  readonly [nameProtocol]?: P;
};
