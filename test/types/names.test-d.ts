/**
 * Type tests: typed names. `GenServer.name<P>('counter')` is a registered name that carries
 * the protocol `P`, so a call by name is checked and typed as a call through a `Ref<P>`; a
 * plain string stays an untyped name. `Supervisor.start` carries a `simple_one_for_one`
 * template's args type to `startChild`. Checked by `tsc` (see vitest.config.ts).
 */
import { describe, expectTypeOf, it } from 'vitest';
import type { AnyRef, GenServerBehavior, Name, Ref, ServerRef, SupervisorRef } from '../../src/index.js';
import { GenServer, Registry, Supervisor } from '../../src/index.js';

type Counter = {
  call: ['get', number] | [{ type: 'add'; n: number }, number] | ['label', string];
  cast: 'inc' | { type: 'reset'; to: number };
  info: { type: 'tick' };
};

type Other = { call: ['ping', 'pong'] };

declare const counterBehavior: GenServerBehavior<number, Counter>;
declare const otherBehavior: GenServerBehavior<null, Other>;

const counter = GenServer.name<Counter>('counter');

describe('GenServer.name', () => {
  it('returns a string carrying the protocol', () => {
    expectTypeOf(counter).toEqualTypeOf<Name<Counter>>();
    expectTypeOf(counter).toMatchTypeOf<string>();
    expectTypeOf(counter).toMatchTypeOf<ServerRef<Counter>>();
  });

  it('needs a string', () => {
    // @ts-expect-error: a name is a string
    GenServer.name<Counter>(42);
  });
});

describe('calls by typed name', () => {
  it('infer the reply type', () => {
    expectTypeOf(GenServer.call(counter, 'get')).toEqualTypeOf<Promise<number>>();
    expectTypeOf(GenServer.call(counter, 'label')).toEqualTypeOf<Promise<string>>();
    expectTypeOf(GenServer.call(counter, { type: 'add', n: 1 })).toEqualTypeOf<Promise<number>>();
    expectTypeOf(GenServer.call(counter, 'get', { timeout: 100 })).toEqualTypeOf<Promise<number>>();
  });

  it('reject a message outside the protocol', () => {
    // @ts-expect-error: not a call message of Counter
    void GenServer.call(counter, 'nope');
    // @ts-expect-error: wrong payload type
    void GenServer.call(counter, { type: 'add', n: 'one' });
    // @ts-expect-error: a cast message is not a call message
    void GenServer.call(counter, 'inc');
  });

  it('check cast and send messages', () => {
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

  it('work with stop and isRunning', () => {
    expectTypeOf(GenServer.stop(counter)).toEqualTypeOf<Promise<void>>();
    expectTypeOf(GenServer.isRunning(counter)).toEqualTypeOf<boolean>();
  });

  it('leave a plain string untyped', () => {
    expectTypeOf(GenServer.call('counter', { anything: true })).toEqualTypeOf<Promise<unknown>>();
    GenServer.cast('counter', 'whatever');
    const untyped = GenServer.name('counter');
    expectTypeOf(GenServer.call(untyped, 'x')).toEqualTypeOf<Promise<unknown>>();
  });
});

describe('Registry with typed names', () => {
  it('whereis and lookup return a typed ref', () => {
    expectTypeOf(Registry.whereis(counter)).toEqualTypeOf<Ref<Counter> | undefined>();
    expectTypeOf(Registry.lookup(counter)).toEqualTypeOf<Ref<Counter>>();
    expectTypeOf(GenServer.call(Registry.lookup(counter), 'get')).toEqualTypeOf<Promise<number>>();
  });

  it('a plain string gives an untyped ref unless a type argument is given', () => {
    expectTypeOf(Registry.whereis('counter')).toEqualTypeOf<Ref | undefined>();
    expectTypeOf(Registry.lookup<Counter>('counter')).toEqualTypeOf<Ref<Counter>>();
  });

  it('a typed name is still a string for the other Registry functions', () => {
    void Registry.register(counter, {} as AnyRef);
    expectTypeOf(Registry.unregister(counter)).toEqualTypeOf<boolean>();
  });
});

describe('GenServer.start with a typed name', () => {
  it('accepts a name of the behaviour protocol, or a plain string', () => {
    expectTypeOf(GenServer.start(counterBehavior, { name: counter })).toEqualTypeOf<Promise<Ref<Counter>>>();
    expectTypeOf(GenServer.start(counterBehavior, { name: 'counter' })).toEqualTypeOf<Promise<Ref<Counter>>>();
  });

  it('a typed name fits a child spec name option', () => {
    void Supervisor.start({ children: [{ id: 'counter', behavior: counterBehavior, options: { name: counter } }] });
  });

  it('rejects a name of another protocol', () => {
    // @ts-expect-error: counter names a Counter, not an Other
    void GenServer.start(otherBehavior, { name: counter });
    const other = GenServer.name<Other>('other');
    // @ts-expect-error: other names an Other, not a Counter
    void GenServer.start(counterBehavior, { name: other });
    const untyped = GenServer.name('untyped');
    // @ts-expect-error: a name made without its protocol does not fit a typed behaviour
    void GenServer.start(counterBehavior, { name: untyped });
  });
});

describe('a client API module (Elixir style)', () => {
  it('is a typed facade over call and cast', () => {
    const Client = {
      start: () => GenServer.start(counterBehavior, { name: counter }),
      get: () => GenServer.call(counter, 'get'),
      add: (n: number) => GenServer.call(counter, { type: 'add', n }),
      inc: () => GenServer.cast(counter, 'inc'),
    };
    expectTypeOf(Client.start()).toEqualTypeOf<Promise<Ref<Counter>>>();
    expectTypeOf(Client.get()).toEqualTypeOf<Promise<number>>();
    expectTypeOf(Client.add(2)).toEqualTypeOf<Promise<number>>();
    expectTypeOf(Client.inc()).toEqualTypeOf<void>();
  });
});

describe('Supervisor templates', () => {
  it('carry the template args type to startChild', async () => {
    const sup = await Supervisor.start({
      strategy: 'simple_one_for_one',
      template: { id: 'conn', start: (args: { port: number }) => GenServer.start(counterBehavior, { name: `c${args.port}` }) },
    });
    expectTypeOf(sup).toEqualTypeOf<SupervisorRef<{ port: number }>>();
    expectTypeOf(Supervisor.startChild(sup, { port: 80 })).toEqualTypeOf<Promise<AnyRef>>();
    // @ts-expect-error: the template takes { port: number }
    void Supervisor.startChild(sup, { port: '80' });
    // @ts-expect-error: the template takes { port: number }
    void Supervisor.startChild(sup, 'x');
  });

  it('take an explicit args type for a behaviour template', async () => {
    const sup = await Supervisor.start<string>({
      strategy: 'simple_one_for_one',
      template: { id: 'e', behavior: counterBehavior },
    });
    void Supervisor.startChild(sup, 'tag');
    // @ts-expect-error: the template takes a string
    void Supervisor.startChild(sup, 1);
  });

  it('a child spec is always accepted, and an untyped supervisor takes any args', async () => {
    const sup = await Supervisor.start({
      strategy: 'simple_one_for_one',
      template: { id: 'w', start: (a: number) => GenServer.start(counterBehavior, { name: String(a) }) },
    });
    void Supervisor.startChild(sup, { id: 'extra', behavior: counterBehavior });
    const untyped = {} as SupervisorRef;
    void Supervisor.startChild(untyped, { anything: true });
    void Supervisor.startChild('sup', 42);
    expectTypeOf(Supervisor.start({})).toEqualTypeOf<Promise<SupervisorRef>>();
  });

  it('a typed supervisor ref still works with the other Supervisor functions', async () => {
    const sup = {} as SupervisorRef<{ port: number }>;
    void Supervisor.getChildren(sup);
    void Supervisor.stop(sup);
  });
});
