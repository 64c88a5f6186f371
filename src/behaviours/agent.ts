/**
 * Agent: state behind a process, read and changed with functions (Elixir's `Agent`), as a
 * thin facade over a private GenServer. The functions run inside the agent process, so an
 * Agent lives in one thread: functions cannot cross a thread boundary.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Ref } from '../core/ref.js';
import { describeValue } from '../core/validate.js';
import type { GenServerBehavior } from './gen-server/behavior.js';
import type { CallOptions } from './gen-server/gen-server.js';
import { GenServer } from './gen-server/gen-server.js';

type Fn = (state: unknown) => unknown;
/**
 * The messages an agent's process answers (what {@link AgentRef} carries). Use the `Agent`
 * functions rather than calling it directly; its shape may change between versions.
 */
export type AgentProtocol = {
  call:
    | [{ op: 'get'; fn: (state: unknown) => unknown }, unknown]
    | [{ op: 'update'; fn: (state: unknown) => unknown }, true]
    | [{ op: 'getAndUpdate'; fn: (state: unknown) => unknown }, unknown];
  cast: { op: 'update'; fn: (state: unknown) => unknown };
};

/** An agent holding state `S`. */
export type AgentRef<S> = Ref<AgentProtocol> & { readonly __agentState?: S };

const server: GenServerBehavior<unknown, AgentProtocol, () => unknown> = {
  init: (initial) => initial(),
  handleCall(msg, state) {
    switch (msg.op) {
      case 'get':
        return [msg.fn(state), state];
      case 'update':
        return [true, msg.fn(state)];
      default: {
        const [reply, next] = msg.fn(state) as [unknown, unknown];
        return [reply, next];
      }
    }
  },
  handleCast: (msg, state) => msg.fn(state),
};

/**
 * Rejects a function argument that is not a function before it is sent: inside the agent it
 * would be a crash, and a bad argument must fail the caller, never the agent.
 */
function fnProblem(fn: unknown, option: string): InvalidArgumentError | undefined {
  return typeof fn === 'function' ? undefined : new InvalidArgumentError(option, `expected a function, got ${describeValue(fn)}`);
}

/** Options for {@link Agent.start}. */
export interface AgentStartOptions {
  /** Registers the agent under this name (a non-empty string). */
  name?: string;
  /** Milliseconds `initial` may take when it returns a promise (a duration); default 5000. */
  initTimeout?: number;
}

/**
 * State behind a process, read and changed with functions: Elixir's `Agent`. The functions
 * run inside the agent process, one at a time, so an agent lives on one thread.
 */
export const Agent = {
  /**
   * Starts an agent whose state is `initial()` (awaited when it returns a promise). Elixir's
   * `Agent.start/2`.
   *
   * Options: `name` registers it; `initTimeout` bounds an async `initial` (default 5000 ms).
   * Rejects with `InvalidArgumentError` (not a function, bad options), `InitFailedError`
   * (`initial` threw; `cause` is the error), `InitTimeoutError` or `AlreadyRegisteredError`.
   */
  start<S>(initial: () => S | Promise<S>, options: AgentStartOptions = {}): Promise<AgentRef<S>> {
    const bad = fnProblem(initial, 'initial');
    if (bad !== undefined) return Promise.reject(bad);
    if (typeof options !== 'object' || options === null || Array.isArray(options))
      return Promise.reject(new InvalidArgumentError('options', `expected an object, got ${describeValue(options)}`));
    const { name, initTimeout } = options;
    return GenServer.start(server, { name, initTimeout, args: initial }) as Promise<AgentRef<S>>;
  },
  /**
   * Resolves with `fn(state)`, run inside the agent (Elixir's `Agent.get/3`). `options.timeout`
   * defaults to 5000 ms. Rejects with `CallTimeoutError`, `NoProcessError` (not alive),
   * `ServerExitedError` (`fn` threw: the agent crashes, and `cause` is the error) or
   * `InvalidArgumentError` (`fn` is not a function).
   */
  get<S, R>(agent: AgentRef<S>, fn: (state: S) => R, options?: CallOptions): Promise<R> {
    const bad = fnProblem(fn, 'fn');
    if (bad !== undefined) return Promise.reject(bad);
    return GenServer.call(agent, { op: 'get', fn: fn as Fn }, options) as Promise<R>;
  },
  /**
   * Replaces the state with `fn(state)` and resolves once done (Elixir's `Agent.update/3`).
   * Timeout and errors as {@link Agent.get}.
   */
  async update<S>(agent: AgentRef<S>, fn: (state: S) => S, options?: CallOptions): Promise<void> {
    const bad = fnProblem(fn, 'fn');
    if (bad !== undefined) throw bad;
    await GenServer.call(agent, { op: 'update', fn: fn as Fn }, options);
  },
  /**
   * Runs `fn(state)`, which returns `[reply, newState]`: the state becomes `newState` and the
   * call resolves with `reply` (Elixir's `Agent.get_and_update/3`). Timeout and errors as
   * {@link Agent.get}.
   */
  getAndUpdate<S, R>(agent: AgentRef<S>, fn: (state: S) => [R, S], options?: CallOptions): Promise<R> {
    const bad = fnProblem(fn, 'fn');
    if (bad !== undefined) return Promise.reject(bad);
    return GenServer.call(agent, { op: 'getAndUpdate', fn: fn as Fn }, options) as Promise<R>;
  },
  /**
   * Replaces the state with `fn(state)` without waiting (Elixir's `Agent.cast/2`); dropped
   * when the agent is not alive. Throws `InvalidArgumentError` when `fn` is not a function.
   */
  cast<S>(agent: AgentRef<S>, fn: (state: S) => S): void {
    const bad = fnProblem(fn, 'fn');
    if (bad !== undefined) throw bad;
    GenServer.cast(agent, { op: 'update', fn: fn as Fn });
  },
  /**
   * Stops the agent with `reason` (default `'normal'`) and resolves once it has exited
   * (Elixir's `Agent.stop/3`). Rejects with `NoProcessError` when it is not alive.
   */
  stop(agent: AgentRef<unknown>, reason: 'normal' | 'shutdown' = 'normal'): Promise<void> {
    return GenServer.stop(agent, reason);
  },
} as const;
