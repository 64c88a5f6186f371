/**
 * GenServer client API: call, cast, send, stop; call timeouts on the virtual clock, and the
 * guarantee that a call always settles.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GenServerBehavior, Ref } from '../../src/index.js';
import { CallTimeoutError, ErrorCode, GenServer, NoProcessError, Process, ServerExitedError } from '../../src/index.js';
import { flush, freshRuntime, VirtualClock } from '../../src/testing.js';
import type { Gate } from '../helpers.js';
import { failure, gate, track } from '../helpers.js';

let env: ReturnType<typeof freshRuntime>;
let clock: VirtualClock;
beforeEach(() => {
  clock = new VirtualClock();
  env = freshRuntime({ clock });
});
afterEach(() => env.dispose());

type P = {
  call: ['block', 'unblocked'] | [{ echo: number }, number] | ['handled', number[]] | ['slow', 'slow-done'];
  cast: { add: number };
  info: { add: number };
};

interface S {
  handled: number[];
  gates: Gate[];
}

/** `block` waits on the next gate the test provides; `echo` records what it handled. */
function server(gates: Gate[]): GenServerBehavior<S, P> {
  return {
    init: () => ({ handled: [], gates }),
    handleCall: async (msg, s) => {
      if (msg === 'block') {
        await (s.gates.shift() as Gate).promise;
        return ['unblocked', s];
      }
      if (msg === 'slow') {
        await (s.gates.shift() as Gate).promise;
        return ['slow-done', s];
      }
      if (msg === 'handled') return [s.handled, s];
      s.handled.push(msg.echo);
      return [msg.echo, s];
    },
    handleCast: (msg, s) => ({ ...s, handled: [...s.handled, msg.add] }),
    handleInfo: (msg, s) => ('add' in msg ? { ...s, handled: [...s.handled, -msg.add] } : s),
  };
}

describe('GenServer.call', () => {
  it('resolves with the reply', async () => {
    const ref = await GenServer.start(server([]));
    expect(await GenServer.call(ref, { echo: 5 })).toBe(5);
  });

  it('rejects with CallTimeoutError (ERR_CALL_TIMEOUT) when no reply arrives in time', async () => {
    const g = gate();
    const ref = await GenServer.start(server([g]));
    const st = track(GenServer.call(ref, 'slow', { timeout: 300 }));
    await clock.advance(299);
    expect(st.settled).toBe(false);
    await clock.advance(1);
    expect(st.settled).toBe(true);
    expect(st.error).toBeInstanceOf(CallTimeoutError);
    const e = st.error as CallTimeoutError;
    expect(e.code).toBe(ErrorCode.CALL_TIMEOUT);
    expect(e.timeoutMs).toBe(300);
    expect(e.messageTag).toBe('"slow"');
    expect(e.message).toContain('300 ms');
    // The late reply is dropped and the server keeps serving.
    g.open();
    await flush();
    expect(await GenServer.call(ref, { echo: 1 })).toBe(1);
  });

  it('uses a 5000 ms default timeout', async () => {
    const ref = await GenServer.start(server([gate()]));
    const st = track(GenServer.call(ref, 'slow'));
    await clock.advance(4999);
    expect(st.settled).toBe(false);
    await clock.advance(1);
    expect(CallTimeoutError.is(st.error)).toBe(true);
  });

  it('never handles a timed-out call that had not started (it is withdrawn from the queue)', async () => {
    const g = gate();
    const ref = await GenServer.start(server([g]));
    const blocker = GenServer.call(ref, 'block', { timeout: Number.POSITIVE_INFINITY });
    const queued = track(GenServer.call(ref, { echo: 7 }, { timeout: 100 }));
    await clock.advance(100);
    expect(CallTimeoutError.is(queued.error)).toBe(true);
    g.open();
    expect(await blocker).toBe('unblocked');
    expect(await GenServer.call(ref, 'handled')).toEqual([]);
  });

  it('waits forever with timeout Infinity', async () => {
    const g = gate();
    const ref = await GenServer.start(server([g]));
    const st = track(GenServer.call(ref, 'slow', { timeout: Number.POSITIVE_INFINITY }));
    await clock.advance(1_000_000);
    expect(st.settled).toBe(false);
    g.open();
    await flush();
    expect(st.value).toBe('slow-done');
  });

  it('expires calls with different timeouts each at its own deadline', async () => {
    const ref = await GenServer.start(server([gate()]));
    const long = track(GenServer.call(ref, 'slow', { timeout: 500 }));
    const short = track(GenServer.call(ref, { echo: 1 }, { timeout: 200 }));
    await clock.advance(200);
    expect(short.settled).toBe(true);
    expect(long.settled).toBe(false);
    await clock.advance(300);
    expect(long.settled).toBe(true);
    expect((short.error as CallTimeoutError).timeoutMs).toBe(200);
    expect((long.error as CallTimeoutError).timeoutMs).toBe(500);
  });

  it('rejects with NoProcessError for a dead ref or an unregistered name', async () => {
    const ref = await GenServer.start(server([]));
    await GenServer.stop(ref);
    const e1 = await failure(() => GenServer.call(ref, { echo: 1 }));
    expect(NoProcessError.is(e1)).toBe(true);
    expect((e1 as NoProcessError).code).toBe(ErrorCode.NO_PROCESS);
    const e2 = await failure(() => GenServer.call<P, 'handled'>('nobody', 'handled'));
    expect(NoProcessError.is(e2)).toBe(true);
  });

  it('rejects the in-flight and queued callers with ServerExitedError when the server is killed', async () => {
    const ref = await GenServer.start(server([gate()]));
    const inflight = track(GenServer.call(ref, 'slow', { timeout: Number.POSITIVE_INFINITY }));
    const queued = track(GenServer.call(ref, { echo: 1 }, { timeout: Number.POSITIVE_INFINITY }));
    await flush();
    Process.exit(ref, 'kill');
    await flush();
    for (const st of [inflight, queued]) {
      expect(ServerExitedError.is(st.error)).toBe(true);
      expect((st.error as ServerExitedError).reason).toBe('killed');
    }
  });

  it('handles messages one at a time, in order, waiting for async handlers', async () => {
    const g = gate();
    const ref = await GenServer.start(server([g]));
    const replies: unknown[] = [];
    const all = Promise.all([
      GenServer.call(ref, 'slow').then((r) => replies.push(r)),
      GenServer.call(ref, { echo: 1 }).then((r) => replies.push(r)),
      GenServer.call(ref, { echo: 2 }).then((r) => replies.push(r)),
    ]);
    await flush();
    expect(replies).toEqual([]);
    g.open();
    await all;
    expect(replies).toEqual(['slow-done', 1, 2]);
  });
});

describe('GenServer.cast and GenServer.send', () => {
  it('deliver in order per sender, interleaved with calls', async () => {
    const ref = await GenServer.start(server([]));
    GenServer.cast(ref, { add: 1 });
    GenServer.send(ref, { add: 2 });
    GenServer.cast(ref, { add: 3 });
    expect(await GenServer.call(ref, 'handled')).toEqual([1, -2, 3]);
  });

  it('to a dead process are counted and observable, never thrown', async () => {
    const ref = await GenServer.start(server([]));
    await GenServer.stop(ref);
    const dropped: string[] = [];
    env.rt.onLifecycle((e) => {
      if (e.type === 'cast_dropped') dropped.push(e.why);
    });
    const before = env.rt.stats.droppedCasts;
    GenServer.cast(ref, { add: 1 });
    GenServer.send(ref, { add: 1 });
    GenServer.cast('nobody' as unknown as Ref<P>, { add: 1 });
    expect(env.rt.stats.droppedCasts - before).toBe(3);
    // Each drop is also observable as a lifecycle event saying why.
    expect(dropped).toHaveLength(3);
    expect(dropped.slice(0, 2)).toEqual(['no process', 'no process']);
  });

  it('reach a server by its registered name', async () => {
    await GenServer.start(server([]), { name: 'named' });
    GenServer.cast<P>('named', { add: 9 });
    expect(await GenServer.call<P, 'handled'>('named', 'handled')).toEqual([9]);
  });
});

describe('GenServer.stop', () => {
  it('resolves once the process has exited and rejects with NoProcessError when it is not alive', async () => {
    const ref = await GenServer.start(server([]));
    expect(GenServer.isRunning(ref)).toBe(true);
    await GenServer.stop(ref);
    expect(GenServer.isRunning(ref)).toBe(false);
    expect(NoProcessError.is(await failure(() => GenServer.stop(ref)))).toBe(true);
  });

  it('waits for the handler in flight, then stops ahead of queued messages', async () => {
    const g = gate();
    const ref = await GenServer.start(server([g]));
    const inflight = GenServer.call(ref, 'slow');
    const queued = track(GenServer.call(ref, { echo: 1 }));
    await flush();
    const stopped = GenServer.stop(ref, 'shutdown');
    g.open();
    expect(await inflight).toBe('slow-done');
    await stopped;
    await flush();
    expect(ServerExitedError.is(queued.error)).toBe(true);
    expect((queued.error as ServerExitedError).reason).toBe('shutdown');
  });
});
