/**
 * Remote spawn (`GenServer.startRemote`) and the allow-list behind it (`BehaviorRegistry`),
 * with nodes in one OS process over real TCP (kit/in-process.ts): withdrawing a behaviour,
 * the options a caller may pass, and exit signals sent to a process of another node.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, ExitReason, GenServerBehavior } from '../../src/index.js';
import {
  BehaviorRegistry,
  GenServer,
  InvalidArgumentError,
  NodeDownError,
  NotRegisteredError,
  Process,
  isExitMessage,
  sameRef,
} from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import { failure } from '../helpers.js';
import { startPair, stopNodes, type TestNode } from './kit/in-process.js';

afterEach(stopNodes);

const pair = (): Promise<[TestNode, TestNode]> => startPair(['127.0.0.171', '127.0.0.172']);

type CounterP = { call: ['get', number] };

const counter: GenServerBehavior<number, CounterP, number> = {
  init: (n) => n ?? 0,
  handleCall: (_m, s) => [s, s],
};

/** The InvalidArgumentError `e` is, naming `argument` (fails the test otherwise). */
function invalid(e: unknown, argument: string): void {
  expect(e).toBeInstanceOf(InvalidArgumentError);
  expect((e as InvalidArgumentError).argument).toBe(argument);
}

describe('BehaviorRegistry', () => {
  it('unregister withdraws a behaviour: has() turns false and startRemote of it is refused, from another node and from the node itself', async () => {
    const [a, b] = await pair();
    expect(a.on(() => BehaviorRegistry.has('counter'))).toBe(false);
    a.on(() => BehaviorRegistry.register('counter', counter));
    expect(a.on(() => BehaviorRegistry.has('counter'))).toBe(true);
    // The list is per node: b offers nothing.
    expect(b.on(() => BehaviorRegistry.has('counter'))).toBe(false);
    const running = await b.on(() => GenServer.startRemote<CounterP>('counter', { targetNode: a.id, args: 7 }));
    expect(await b.on(() => GenServer.call(running, 'get'))).toBe(7);

    expect(a.on(() => BehaviorRegistry.unregister('counter'))).toBe(true);
    expect(a.on(() => BehaviorRegistry.has('counter'))).toBe(false);
    expect(a.on(() => BehaviorRegistry.names())).toEqual([]);
    expect(a.on(() => BehaviorRegistry.unregister('counter'))).toBe(false);

    const remote = await failure(() => b.on(() => GenServer.startRemote('counter', { targetNode: a.id })));
    expect(NotRegisteredError.is(remote)).toBe(true);
    expect((remote as Error).message).toContain('counter');
    const here = await failure(() => a.on(() => GenServer.startRemote('counter', { targetNode: a.id })));
    expect(NotRegisteredError.is(here)).toBe(true);
    // What was started before keeps running.
    expect(await b.on(() => GenServer.call(running, 'get'))).toBe(7);

    // Listed again, it can be started again.
    a.on(() => BehaviorRegistry.register('counter', counter));
    expect(a.on(() => BehaviorRegistry.has('counter'))).toBe(true);
    const again = await b.on(() => GenServer.startRemote<CounterP>('counter', { targetNode: a.id, args: 8 }));
    expect(await b.on(() => GenServer.call(again, 'get'))).toBe(8);
  });

  it('has() is false for anything but a listed name; unregister refuses a bad name', async () => {
    const [a] = await pair();
    a.on(() => BehaviorRegistry.register('counter', counter));
    expect(a.on(() => BehaviorRegistry.has('Counter'))).toBe(false);
    expect(a.on(() => BehaviorRegistry.has(1 as never))).toBe(false);
    expect(() => a.on(() => BehaviorRegistry.unregister('' as never))).toThrow(InvalidArgumentError);
    expect(a.on(() => BehaviorRegistry.has('counter'))).toBe(true);
  });
});

describe('GenServer.startRemote options', () => {
  it('initTimeout: NaN, negative and Infinity are refused; 2^31 ms is accepted and waits as long as it says', async () => {
    const [a, b] = await pair();
    a.on(() =>
      BehaviorRegistry.register('slow-init', {
        // Longer than the 1 ms that Node would clamp an overlong timer to.
        init: () => new Promise<number>((r) => setTimeout(() => r(1), 30)),
        handleCall: (_m: 'get', s: number) => [s, s],
      }),
    );
    const before = a.rt.procs.size;
    for (const bad of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      invalid(await failure(() => b.on(() => GenServer.startRemote('slow-init', { targetNode: a.id, initTimeout: bad }))), 'initTimeout');
    }
    // Checked on the caller, before the target is even looked up.
    invalid(
      await failure(() => b.on(() => GenServer.startRemote('slow-init', { targetNode: 'zz@127.0.0.99:1', initTimeout: -1 }))),
      'initTimeout',
    );
    expect(a.rt.procs.size).toBe(before);

    const ref = await b.on(() => GenServer.startRemote<CounterP>('slow-init', { targetNode: a.id, initTimeout: 2 ** 31 }));
    expect(await b.on(() => GenServer.call(ref, 'get'))).toBe(1);
    const zero = await failure(() => b.on(() => GenServer.startRemote('slow-init', { targetNode: a.id, initTimeout: 0 })));
    expect((zero as Error).name).toBe('InitTimeoutError');
  });

  it("registration: an unknown value, a name with 'none', and 'local' or 'global' without a name are refused, and nothing starts", async () => {
    const [a, b] = await pair();
    a.on(() => BehaviorRegistry.register('counter', counter));
    const before = a.rt.procs.size;
    const start = (options: Record<string, unknown>) =>
      failure(() => b.on(() => GenServer.startRemote('counter', { targetNode: a.id, ...options } as never)));
    invalid(await start({ name: 'x1', registration: 'cluster' }), 'registration');
    invalid(await start({ registration: 'Local' }), 'registration');
    invalid(await start({ name: 'x2', registration: 'none' }), 'name');
    invalid(await start({ registration: 'local' }), 'name');
    invalid(await start({ registration: 'global' }), 'name');
    invalid(await start({ name: '', registration: 'local' }), 'name');
    expect(a.rt.procs.size).toBe(before);
    expect(a.rt.names.get('x1')).toBeUndefined();
    expect(a.rt.names.get('x2')).toBeUndefined();
    // 'none' without a name, and a name alone (registered locally there), are fine.
    const anonymous = await b.on(() => GenServer.startRemote('counter', { targetNode: a.id, registration: 'none' }));
    expect(a.rt.procs.has(anonymous.id)).toBe(true);
    const named = await b.on(() => GenServer.startRemote('counter', { targetNode: a.id, name: 'x3' }));
    expect(sameRef(a.rt.names.get('x3') as AnyRef, named)).toBe(true);
  });

  it('targetNode: a missing or empty one is refused; a node that is not connected rejects with NodeDownError', async () => {
    const [a, b] = await pair();
    a.on(() => BehaviorRegistry.register('counter', counter));
    invalid(await failure(() => b.on(() => GenServer.startRemote('counter', {} as never))), 'targetNode');
    invalid(await failure(() => b.on(() => GenServer.startRemote('counter', { targetNode: '' }))), 'targetNode');
    invalid(await failure(() => b.on(() => GenServer.startRemote('counter', { targetNode: 42 } as never))), 'targetNode');
    invalid(await failure(() => b.on(() => GenServer.startRemote('counter', undefined as never))), 'targetNode');
    invalid(await failure(() => b.on(() => GenServer.startRemote('counter', a.id as never))), 'options passed to GenServer.startRemote');
    const down = await failure(() => b.on(() => GenServer.startRemote('counter', { targetNode: 'zz@127.0.0.99:1' })));
    expect(NodeDownError.is(down)).toBe(true);
    expect((down as NodeDownError).node).toBe('zz@127.0.0.99:1');
    expect((down as NodeDownError).reason).toBe('not_connected');
  });
});

describe('Process.exit to a process of another node', () => {
  type KillerP = { call: [{ target: AnyRef; reason: ExitReason | 'kill' }, 'sent'] };
  /** A process on a node that sends exit signals on request. */
  const killer: GenServerBehavior<null, KillerP> = {
    init: () => null,
    handleCall: (msg, s) => {
      Process.exit(msg.target, msg.reason);
      return ['sent', s];
    },
  };

  /** A process that records its info messages (EXIT among them). */
  function recorder(log: unknown[], trapExit: boolean): Promise<AnyRef> {
    return GenServer.start(
      {
        init: () => null,
        handleInfo: (msg: unknown, s: null) => {
          log.push(msg);
          return s;
        },
        handleCall: (_m: unknown, s: null) => ['ok', s],
      },
      { trapExit },
    );
  }

  /** Watches `ref` from node `n`; `reason()` is its exit reason once it has exited. */
  function watchExit(n: TestNode, ref: AnyRef): { reason(): ExitReason | undefined; exited(what: string): Promise<ExitReason> } {
    let seen: ExitReason | undefined;
    n.on(() => Process.watch(ref, (r) => (seen = r)));
    return {
      reason: () => seen,
      async exited(what) {
        await waitFor(() => seen !== undefined, 5000, what);
        return seen as ExitReason;
      },
    };
  }

  it("a non-trapping target dies with the reason ('normal' aside); a trapping one gets the EXIT; 'kill' kills even a trapping one", async () => {
    const [a, b] = await pair();
    const k = await a.on(() => GenServer.start(killer));
    const send = (target: AnyRef, reason: ExitReason | 'kill') => a.on(() => GenServer.call(k, { target, reason }));

    // Not trapping: it exits with the reason sent from a.
    const plain = await b.on(() => recorder([], false));
    const plainExit = watchExit(b, plain);
    await send(plain, { shutdown: 'from a' });
    expect(await plainExit.exited('the non-trapping target to exit')).toEqual({ shutdown: 'from a' });
    expect(b.rt.procs.has(plain.id)).toBe(false);

    // 'normal' does not end a process that does not trap exits (as in OTP).
    const calm = await b.on(() => recorder([], false));
    const calmExit = watchExit(b, calm);
    await send(calm, 'normal');
    expect(await a.on(() => GenServer.call(calm, 'still there?'))).toBe('ok');
    expect(calmExit.reason()).toBeUndefined();

    // Trapping: the signal arrives as an EXIT message naming the sender on a; it lives on.
    const log: unknown[] = [];
    const trapping = await b.on(() => recorder(log, true));
    await send(trapping, { shutdown: 'from a' });
    await send(trapping, 'normal');
    await waitFor(() => log.length === 2, 5000, 'two EXIT messages');
    for (const [msg, reason] of [
      [log[0], { shutdown: 'from a' }],
      [log[1], 'normal'],
    ] as const) {
      expect(isExitMessage(msg)).toBe(true);
      if (!isExitMessage(msg)) continue;
      expect(sameRef(msg.from, k)).toBe(true);
      expect(msg.reason).toEqual(reason);
    }
    expect(b.rt.procs.has(trapping.id)).toBe(true);

    // 'kill' cannot be trapped: it exits with 'killed', and no EXIT is queued.
    const trappingExit = watchExit(b, trapping);
    await send(trapping, 'kill');
    expect(await trappingExit.exited('the trapping target to be killed')).toBe('killed');
    expect(log.length).toBe(2);
    // Watched from a, across the nodes, a killed process reads the same.
    const other = await b.on(() => recorder([], false));
    const seenFromA = watchExit(a, other);
    await a.on(() => GenServer.call(other, 'sync')); // the monitor is in place on b
    await send(other, 'kill');
    expect(await seenFromA.exited('DOWN on a')).toBe('killed');
  });
});
