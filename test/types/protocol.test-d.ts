/**
 * Type tests: a server's protocol is declared once; `call` infers the reply type from the
 * message, and a message outside the protocol is a compile error. Refs are plain data with the
 * protocol as a phantom type. Checked by `tsc` and by vitest's typecheck mode (never run).
 */
import { describe, expectTypeOf, it } from 'vitest';
import type {
  AgentRef,
  AnyRef,
  CallMsg,
  CastMsg,
  ChildInfo,
  DownMessage,
  ExitMessage,
  ExitReason,
  GenServerBehavior,
  InfoMsg,
  Ref,
  ReplyOf,
  SupervisorRef,
} from '../../src/index.js';
import { Agent, GenServer, Result, Supervisor } from '../../src/index.js';

type Counter = {
  call:
    | ['get', number]
    | [{ type: 'add'; n: number }, number]
    | [{ type: 'snapshot'; keys: string[] }, Map<string, number>]
    | ['name', string];
  cast: 'inc' | { type: 'reset'; to: number };
  info: { type: 'tick' };
};

declare const counter: Ref<Counter>;

describe('protocol helper types', () => {
  it('extract the call, cast and info messages', () => {
    expectTypeOf<CallMsg<Counter>>().toEqualTypeOf<'get' | { type: 'add'; n: number } | { type: 'snapshot'; keys: string[] } | 'name'>();
    expectTypeOf<CastMsg<Counter>>().toEqualTypeOf<'inc' | { type: 'reset'; to: number }>();
    expectTypeOf<InfoMsg<Counter>>().toEqualTypeOf<{ type: 'tick' }>();
  });

  it('map each call message to its reply', () => {
    expectTypeOf<ReplyOf<Counter, 'get'>>().toEqualTypeOf<number>();
    expectTypeOf<ReplyOf<Counter, 'name'>>().toEqualTypeOf<string>();
    expectTypeOf<ReplyOf<Counter, { type: 'snapshot'; keys: string[] }>>().toEqualTypeOf<Map<string, number>>();
  });

  it('a protocol without cast accepts no casts; without info, any info', () => {
    type CallOnly = { call: ['ping', 'pong'] };
    expectTypeOf<CastMsg<CallOnly>>().toBeNever();
    expectTypeOf<InfoMsg<CallOnly>>().toBeUnknown();
  });
});

describe('GenServer.call', () => {
  it('infers the reply type from a string message', () => {
    expectTypeOf(GenServer.call(counter, 'get')).toEqualTypeOf<Promise<number>>();
    expectTypeOf(GenServer.call(counter, 'name')).toEqualTypeOf<Promise<string>>();
  });

  it('infers the reply type from an object message', () => {
    expectTypeOf(GenServer.call(counter, { type: 'add', n: 2 })).toEqualTypeOf<Promise<number>>();
    expectTypeOf(GenServer.call(counter, { type: 'snapshot', keys: ['a'] })).toEqualTypeOf<Promise<Map<string, number>>>();
  });

  it('rejects a message outside the protocol at compile time', () => {
    // @ts-expect-error: not a call message of Counter
    GenServer.call(counter, 'nope');
    // @ts-expect-error: wrong payload type
    GenServer.call(counter, { type: 'add', n: 'two' });
    // @ts-expect-error: a cast message is not a call message
    GenServer.call(counter, 'inc');
  });

  it('accepts a timeout option', () => {
    expectTypeOf(GenServer.call(counter, 'get', { timeout: 100 })).toEqualTypeOf<Promise<number>>();
  });

  it('an untyped ref accepts any message and replies unknown', () => {
    const anyRef = counter as Ref;
    expectTypeOf(GenServer.call(anyRef, { whatever: true })).toEqualTypeOf<Promise<unknown>>();
  });
});

describe('GenServer.cast and GenServer.send', () => {
  it('accept only the protocol messages', () => {
    GenServer.cast(counter, 'inc');
    GenServer.cast(counter, { type: 'reset', to: 0 });
    GenServer.send(counter, { type: 'tick' });
    // @ts-expect-error: not a cast message
    GenServer.cast(counter, 'dec');
    // @ts-expect-error: a call message is not a cast message
    GenServer.cast(counter, 'get');
    // @ts-expect-error: not an info message
    GenServer.send(counter, { type: 'tock' });
  });
});

describe('GenServerBehavior', () => {
  it('types the callbacks from the protocol and state', () => {
    const b: GenServerBehavior<number, Counter> = {
      init: () => 0,
      handleCall: (msg, n) => {
        expectTypeOf(msg).toEqualTypeOf<CallMsg<Counter>>();
        return msg === 'name' ? ['counter', n] : [n, n];
      },
      handleCast: (msg, n) => {
        expectTypeOf(msg).toEqualTypeOf<CastMsg<Counter>>();
        return msg === 'inc' ? n + 1 : msg.to;
      },
      handleInfo: (msg, n) => {
        expectTypeOf(msg).toEqualTypeOf<{ type: 'tick' } | ExitMessage | DownMessage>();
        return n;
      },
      terminate: (reason) => {
        expectTypeOf(reason).toEqualTypeOf<ExitReason>();
      },
    };
    expectTypeOf(GenServer.start(b)).toEqualTypeOf<Promise<Ref<Counter>>>();
  });

  it('rejects a reply or state of the wrong type', () => {
    const b: GenServerBehavior<number, Counter> = {
      init: () => 0,
      // @ts-expect-error: a boolean is not a reply of Counter
      handleCall: (_msg, n) => [true, n],
      // @ts-expect-error: the state is a number
      handleCast: () => 'zero',
    };
    void b;
  });

  it('accepts Result directives', () => {
    const b: GenServerBehavior<number, Counter> = {
      init: () => Result.continue(0, 'warm'),
      handleCall: (_msg, n, from) => {
        GenServer.reply(from, 1);
        return Result.noreply(n);
      },
      handleCast: (_msg, n) => Result.stop('normal', n),
      handleContinue: (_c, n) => n,
    };
    void b;
  });

  it('types init arguments through start options', () => {
    const b: GenServerBehavior<string, Counter, { label: string }> = { init: (a) => a.label };
    void GenServer.start(b, { args: { label: 'x' } });
    // @ts-expect-error: args must match init's argument
    void GenServer.start(b, { args: { label: 1 } });
  });
});

describe('refs', () => {
  it('are plain data carrying the protocol only as a phantom', () => {
    expectTypeOf(counter).toMatchTypeOf<{ readonly node: string; readonly thread: number; readonly id: number }>();
    expectTypeOf(counter).toMatchTypeOf<AnyRef>();
    const cloned: Ref<Counter> = structuredClone(counter);
    expectTypeOf(GenServer.call(cloned, 'get')).toEqualTypeOf<Promise<number>>();
  });
});

describe('Supervisor and Agent', () => {
  it('type their results', () => {
    expectTypeOf(Supervisor.start({})).toEqualTypeOf<Promise<SupervisorRef>>();
    expectTypeOf(Supervisor.getChildren('sup')).toEqualTypeOf<Promise<ChildInfo[]>>();
    expectTypeOf(Agent.start(() => ({ n: 1 }))).toEqualTypeOf<Promise<AgentRef<{ n: number }>>>();
    const agent = {} as AgentRef<{ n: number }>;
    expectTypeOf(Agent.get(agent, (s) => s.n)).toEqualTypeOf<Promise<number>>();
    // @ts-expect-error: the update function must return the state type
    void Agent.update(agent, () => 'x');
  });
});
