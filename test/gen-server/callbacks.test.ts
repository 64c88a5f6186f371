/**
 * GenServer callbacks: init (success, crash, timeout, Result.stop, Result.continue), crashes in
 * every handler (sync and async), result directives, terminate, lifecycle events, timers.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExitReason, GenServerBehavior, LifecycleEvent, Ref } from '../../src/index.js';
import {
  BadReturnValueError,
  ErrorCode,
  GenServer,
  InitFailedError,
  InitTimeoutError,
  isErrorExit,
  Process,
  Registry,
  Result,
  ServerExitedError,
  sameRef,
} from '../../src/index.js';
import { flush, freshRuntime, VirtualClock, waitFor } from '../../src/testing.js';
import { failure, gate, track } from '../helpers.js';

let env: ReturnType<typeof freshRuntime>;
let clock: VirtualClock;
beforeEach(() => {
  clock = new VirtualClock();
  env = freshRuntime({ clock });
});
afterEach(() => env.dispose());

describe('GenServer.start / init', () => {
  it('resolves with a ref once a synchronous init returns the state', async () => {
    const ref = await GenServer.start<number, { call: ['get', number] }, number>(
      { init: (n) => n * 2, handleCall: (_m, s) => [s, s] },
      { args: 21 },
    );
    expect(await GenServer.call(ref, 'get')).toBe(42);
  });

  it('waits for an async init before handling messages', async () => {
    const g = gate<number>();
    const started = track(
      GenServer.start<number, { call: ['get', number] }>({ init: () => g.promise, handleCall: (_m, s) => [s, s] }, { name: 'slow' }),
    );
    // A call by name made during init is queued, then served with the initialised state.
    const reply = GenServer.call<{ call: ['get', number] }, 'get'>('slow', 'get');
    await flush();
    expect(started.settled).toBe(false);
    g.open(7);
    expect(await reply).toBe(7);
    expect(started.value).toBeDefined();
  });

  it('rejects with InitFailedError carrying the cause when init throws', async () => {
    const boom = new Error('init boom');
    const events: LifecycleEvent[] = [];
    env.rt.onLifecycle((e) => events.push(e));
    const err = await failure(() =>
      GenServer.start({
        init: () => {
          throw boom;
        },
      }),
    );
    expect(err).toBeInstanceOf(InitFailedError);
    expect((err as InitFailedError).code).toBe(ErrorCode.INIT_FAILED);
    expect((err as InitFailedError).cause).toBe(boom);
    expect((err as InitFailedError).reason).toEqual({ error: boom });
    expect(env.rt.procs.size).toBe(0);
    expect(events.some((e) => e.type === 'crashed' && e.reason.error === boom)).toBe(true);
  });

  it('rejects with InitFailedError carrying the cause when an async init rejects', async () => {
    const boom = new Error('async init boom');
    const err = await failure(() =>
      GenServer.start({
        init: async () => {
          await Promise.resolve();
          throw boom;
        },
      }),
    );
    expect(InitFailedError.is(err)).toBe(true);
    expect((err as Error).cause).toBe(boom);
    expect(env.rt.procs.size).toBe(0);
  });

  it('rejects with InitTimeoutError and kills the process when init takes longer than initTimeout', async () => {
    const never = new Promise<number>(() => {});
    const started = track(GenServer.start({ init: () => never }, { initTimeout: 100, name: 'stuck' }));
    await clock.advance(99);
    expect(started.settled).toBe(false);
    await clock.advance(1);
    expect(started.settled).toBe(true);
    expect(started.error).toBeInstanceOf(InitTimeoutError);
    expect((started.error as InitTimeoutError).code).toBe(ErrorCode.INIT_TIMEOUT);
    expect((started.error as InitTimeoutError).timeoutMs).toBe(100);
    expect(env.rt.procs.size).toBe(0);
    // Its name was released with it.
    expect(GenServer.isRunning('stuck')).toBe(false);
    await GenServer.start({ init: () => 0 }, { name: 'stuck' });
  });

  it('rejects with InitFailedError (reason killed) when the process is killed while an async init is pending', async () => {
    const started = track(GenServer.start({ init: () => new Promise<number>(() => {}) }, { name: 'doomed', initTimeout: 60_000 }));
    Process.exit(Registry.lookup('doomed'), 'kill');
    await flush();
    expect(started.settled).toBe(true);
    expect(InitFailedError.is(started.error)).toBe(true);
    expect((started.error as InitFailedError).reason).toBe('killed');
    expect(Registry.whereis('doomed')).toBeUndefined();
  });

  it('rejects with InitFailedError holding the reason when init returns Result.stop', async () => {
    const terminated: unknown[] = [];
    const err = await failure(() =>
      GenServer.start({
        init: () => Result.stop({ shutdown: 'not today' }, 0),
        terminate: (r) => {
          terminated.push(r);
        },
      }),
    );
    expect(InitFailedError.is(err)).toBe(true);
    expect((err as InitFailedError).reason).toEqual({ shutdown: 'not today' });
    expect((err as Error).cause).toBeUndefined();
    // OTP: terminate is not called when init stops.
    expect(terminated).toEqual([]);
    expect(env.rt.procs.size).toBe(0);
  });

  it('runs handleContinue after init and before the first message', async () => {
    const log: string[] = [];
    type P = { call: ['get', string[]] };
    const ref = await GenServer.start<string[], P>({
      init: () => {
        log.push('init');
        return Result.continue(['init'], 'warm-up');
      },
      handleContinue: async (cont, s) => {
        await Promise.resolve();
        log.push(`continue:${String(cont)}`);
        return [...s, 'continued'];
      },
      handleCall: (_m, s) => {
        log.push('call');
        return [s, s];
      },
    });
    expect(await GenServer.call(ref, 'get')).toEqual(['init', 'continued']);
    expect(log).toEqual(['init', 'continue:warm-up', 'call']);
  });

  it('fails start with InitFailedError when init returns a reply directive', async () => {
    const err = await failure(() => GenServer.start({ init: () => Result.reply(1, 0) as never }));
    expect(InitFailedError.is(err)).toBe(true);
    expect(env.rt.procs.size).toBe(0);
  });
});

type CrashP = {
  call: ['crash', never] | ['ok', 'ok'] | ['noreply', never];
  cast: 'crash';
  info: 'crash';
};

type Where = 'handleCall' | 'handleCast' | 'handleInfo' | 'handleContinue';

/** A server that crashes in `where`, synchronously or after an await. */
function crasher(where: Where, async: boolean, boom: Error, terminated: ExitReason[]): GenServerBehavior<number, CrashP> {
  const fail = async
    ? async () => Promise.reject(boom)
    : () => {
        throw boom;
      };
  return {
    init: () => 0,
    handleCall: (msg, s) => {
      if (msg === 'crash' && where === 'handleCall') return fail() as never;
      if (msg === 'noreply') return Result.noreply(s);
      return ['ok', s];
    },
    handleCast: (_m, s) => {
      if (where === 'handleCast') return fail() as never;
      if (where === 'handleContinue') return Result.continue(s, 'go');
      return s;
    },
    handleInfo: (_m, s) => (where === 'handleInfo' ? (fail() as never) : s),
    handleContinue: () => fail() as never,
    terminate: (reason) => {
      terminated.push(reason);
    },
  };
}

/** Triggers the crash: a call for handleCall, a cast/info otherwise (handleContinue is reached from a cast). */
function trigger(ref: Ref<CrashP>, where: Where): Promise<unknown> | undefined {
  switch (where) {
    case 'handleCall':
      return GenServer.call(ref, 'crash');
    case 'handleInfo':
      GenServer.send(ref, 'crash');
      return undefined;
    default:
      GenServer.cast(ref, 'crash');
      return undefined;
  }
}

describe.each(['handleCall', 'handleCast', 'handleInfo', 'handleContinue'] as const)('a crash in %s', (where) => {
  describe.each([
    ['synchronous', false],
    ['asynchronous', true],
  ] as const)('(%s)', (_label, async) => {
    it('exits with { error }, runs terminate, rejects pending and queued callers with ServerExitedError, emits crashed', async () => {
      const boom = new Error(`boom in ${where}`);
      const terminated: ExitReason[] = [];
      const events: LifecycleEvent[] = [];
      env.rt.onLifecycle((e) => events.push(e));
      const ref = await GenServer.start(crasher(where, async, boom, terminated));
      const exited = Process.awaitExit(ref);
      // A caller whose reply was deferred, the crashing message, then a queued caller.
      const deferred = track(GenServer.call(ref, 'noreply'));
      const pending = trigger(ref, where);
      const pendingState = pending === undefined ? undefined : track(pending);
      const queued = track(GenServer.call(ref, 'ok'));

      const reason = await exited;
      expect(reason).toEqual({ error: boom });
      expect(terminated).toEqual([{ error: boom }]);
      await flush();

      for (const st of [deferred, pendingState, queued]) {
        if (st === undefined) continue;
        expect(st.settled).toBe(true);
        expect(st.error).toBeInstanceOf(ServerExitedError);
        const e = st.error as ServerExitedError;
        expect(e.code).toBe(ErrorCode.SERVER_EXITED);
        expect(e.cause).toBe(boom);
        expect(e.reason).toEqual({ error: boom });
        expect(e.message).toContain(boom.message);
      }
      const crashed = events.filter((e) => e.type === 'crashed');
      expect(crashed).toHaveLength(1);
      const ev = crashed[0] as Extract<LifecycleEvent, { type: 'crashed' }>;
      expect(sameRef(ev.ref, ref)).toBe(true);
      expect(ev.reason.error).toBe(boom);
      expect(GenServer.isRunning(ref)).toBe(false);
    });
  });
});

describe('callback results', () => {
  type P = {
    call:
      | ['later', number]
      | ['later-continue', number]
      | ['release', true]
      | ['reply-continue', string]
      | ['stop-reply', string]
      | ['stop', never]
      | ['bad', never]
      | ['log', string[]];
    cast: 'bad-reply';
  };

  function server(log: string[]): GenServerBehavior<{ waiting: unknown[] }, P> {
    return {
      init: () => ({ waiting: [] }),
      handleCall: (msg, s, from) => {
        log.push(`call:${msg}`);
        switch (msg) {
          case 'later':
            return Result.noreply({ waiting: [...s.waiting, from] });
          case 'later-continue':
            return Result.noreply({ waiting: [...s.waiting, from] }, { continue: 'after-noreply' });
          case 'release':
            for (const [i, f] of s.waiting.entries()) GenServer.reply(f as typeof from, i + 100);
            return [true, { waiting: [] }];
          case 'reply-continue':
            return Result.reply('replied', s, { continue: 'after-reply' });
          case 'stop-reply':
            return Result.stop('normal', s, { reply: 'bye' });
          case 'stop':
            return Result.stop({ shutdown: 'asked' }, s);
          case 'bad':
            return 42 as never;
          default:
            return [log.slice(), s];
        }
      },
      handleCast: (_m, s) => Result.reply('x', s) as never,
      handleContinue: (cont, s) => {
        log.push(`continue:${String(cont)}`);
        return s;
      },
      terminate: (reason) => {
        log.push(`terminate:${typeof reason === 'string' ? reason : JSON.stringify(reason)}`);
      },
    };
  }

  it('Result.noreply defers the reply until GenServer.reply, and later calls are still served', async () => {
    const log: string[] = [];
    const ref = await GenServer.start(server(log));
    const a = track(GenServer.call(ref, 'later'));
    const b = track(GenServer.call(ref, 'later'));
    await flush();
    expect(a.settled).toBe(false);
    expect(b.settled).toBe(false);
    expect(await GenServer.call(ref, 'release')).toBe(true);
    await flush();
    expect(a.value).toBe(100);
    expect(b.value).toBe(101);
  });

  it('Result.noreply with continue runs handleContinue before the next message, and the reply still comes later', async () => {
    const log: string[] = [];
    const ref = await GenServer.start(server(log));
    const later = track(GenServer.call(ref, 'later-continue'));
    expect(await GenServer.call(ref, 'log')).toEqual(['call:later-continue', 'continue:after-noreply', 'call:log']);
    expect(later.settled).toBe(false);
    await GenServer.call(ref, 'release');
    await flush();
    expect(later.value).toBe(100);
  });

  it('Result.reply with continue answers the caller, then runs handleContinue before the next message', async () => {
    const log: string[] = [];
    const ref = await GenServer.start(server(log));
    const first = GenServer.call(ref, 'reply-continue');
    const second = GenServer.call(ref, 'log');
    expect(await first).toBe('replied');
    expect(await second).toEqual(['call:reply-continue', 'continue:after-reply', 'call:log']);
  });

  it('Result.stop with a reply answers the caller, then terminates with the reason', async () => {
    const log: string[] = [];
    const ref = await GenServer.start(server(log));
    const exited = Process.awaitExit(ref);
    expect(await GenServer.call(ref, 'stop-reply')).toBe('bye');
    expect(await exited).toBe('normal');
    expect(log).toEqual(['call:stop-reply', 'terminate:normal']);
  });

  it('Result.stop without a reply rejects the caller with ServerExitedError carrying the reason', async () => {
    const log: string[] = [];
    const ref = await GenServer.start(server(log));
    const exited = Process.awaitExit(ref);
    const err = await failure(() => GenServer.call(ref, 'stop'));
    expect(ServerExitedError.is(err)).toBe(true);
    expect((err as ServerExitedError).reason).toEqual({ shutdown: 'asked' });
    expect((err as Error).cause).toBeUndefined();
    expect(await exited).toEqual({ shutdown: 'asked' });
    expect(log).toContain('terminate:{"shutdown":"asked"}');
  });

  it('a malformed handleCall result crashes the server with BadReturnValueError', async () => {
    const ref = await GenServer.start(server([]));
    const exited = Process.awaitExit(ref);
    const err = await failure(() => GenServer.call(ref, 'bad'));
    expect(ServerExitedError.is(err)).toBe(true);
    expect((err as Error).cause).toBeInstanceOf(BadReturnValueError);
    expect(((err as Error).cause as BadReturnValueError).code).toBe(ErrorCode.BAD_RETURN_VALUE);
    const reason = await exited;
    expect(isErrorExit(reason) && reason.error instanceof BadReturnValueError).toBe(true);
  });

  it('Result.reply from handleCast crashes the server with BadReturnValueError', async () => {
    const ref = await GenServer.start(server([]));
    const exited = Process.awaitExit(ref);
    GenServer.cast(ref, 'bad-reply');
    const reason = await exited;
    expect(isErrorExit(reason) && reason.error instanceof BadReturnValueError).toBe(true);
  });
});

describe('terminate', () => {
  it('runs on GenServer.stop with the reason, and stop resolves after it finished', async () => {
    const g = gate();
    const log: string[] = [];
    const ref = await GenServer.start({
      init: () => 0,
      terminate: async (reason) => {
        log.push(`start:${String(reason)}`);
        await g.promise;
        log.push('end');
      },
    });
    const stopped = track(GenServer.stop(ref, 'shutdown'));
    await flush();
    expect(log).toEqual(['start:shutdown']);
    expect(stopped.settled).toBe(false);
    expect(GenServer.isRunning(ref)).toBe(true);
    g.open();
    await waitFor(() => stopped.settled);
    expect(log).toEqual(['start:shutdown', 'end']);
    expect(GenServer.isRunning(ref)).toBe(false);
  });

  it('is cut short by GenServer.stop timeout: the process is killed', async () => {
    const ref = await GenServer.start({ init: () => 0, terminate: () => new Promise<void>(() => {}) }, { shutdownTimeout: 10_000 });
    const exited = track(Process.awaitExit(ref));
    const stopped = track(GenServer.stop(ref, 'normal', { timeout: 200 }));
    await clock.advance(199);
    expect(stopped.settled).toBe(false);
    await clock.advance(1);
    expect(stopped.settled).toBe(true);
    expect(exited.value).toBe('killed');
  });

  it('is cut short by the shutdownTimeout start option: the process is killed', async () => {
    const ref = await GenServer.start({ init: () => 0, terminate: () => new Promise<void>(() => {}) }, { shutdownTimeout: 300 });
    const exited = track(Process.awaitExit(ref));
    const stopped = track(GenServer.stop(ref, 'shutdown', { timeout: Number.POSITIVE_INFINITY }));
    await clock.advance(299);
    expect(exited.settled).toBe(false);
    await clock.advance(1);
    expect(exited.value).toBe('killed');
    await flush();
    expect(stopped.settled).toBe(true);
  });

  it('does not run on a kill', async () => {
    const log: string[] = [];
    const ref = await GenServer.start({
      init: () => 0,
      terminate: () => {
        log.push('terminate');
      },
    });
    const exited = Process.awaitExit(ref);
    Process.exit(ref, 'kill');
    expect(await exited).toBe('killed');
    expect(log).toEqual([]);
  });

  it('a throwing terminate does not stop the exit', async () => {
    const ref = await GenServer.start({
      init: () => 0,
      terminate: () => {
        throw new Error('terminate boom');
      },
    });
    await GenServer.stop(ref, 'normal');
    expect(GenServer.isRunning(ref)).toBe(false);
  });
});

describe('lifecycle events', () => {
  it('reports started and terminated, and stops reporting after unsubscribe', async () => {
    const events: LifecycleEvent[] = [];
    const off = env.rt.onLifecycle((e) => events.push(e));
    const ref = await GenServer.start({ init: () => 0 }, { name: 'watched' });
    await GenServer.stop(ref, 'shutdown');
    expect(events.map((e) => e.type)).toEqual(['started', 'terminated']);
    expect(events[0]).toMatchObject({ type: 'started', name: 'watched' });
    expect(events[1]).toMatchObject({ type: 'terminated', reason: 'shutdown' });
    off();
    await GenServer.start({ init: () => 0 });
    expect(events).toHaveLength(2);
  });
});

describe('GenServer.sendAfter', () => {
  type P = { call: ['got', string[]]; info: string };
  const collector: GenServerBehavior<string[], P> = {
    init: () => [],
    handleCall: (_m, s) => [s, s],
    handleInfo: (m, s) => [...s, String(m)],
  };

  it('delivers the info message after the delay, on the virtual clock', async () => {
    const ref = await GenServer.start(collector);
    GenServer.sendAfter(ref, 'tick', 1000);
    await clock.advance(999);
    expect(await GenServer.call(ref, 'got')).toEqual([]);
    await clock.advance(1);
    expect(await GenServer.call(ref, 'got')).toEqual(['tick']);
  });

  it('cancelTimer prevents delivery and reports whether the timer was active', async () => {
    const ref = await GenServer.start(collector);
    const t = GenServer.sendAfter(ref, 'tick', 1000);
    expect(GenServer.cancelTimer(t)).toBe(true);
    expect(GenServer.cancelTimer(t)).toBe(false);
    await clock.advance(2000);
    expect(await GenServer.call(ref, 'got')).toEqual([]);
  });

  it('timers aimed at a process are cancelled when it exits', async () => {
    const ref = await GenServer.start(collector);
    GenServer.sendAfter(ref, 'tick', 1000);
    expect(clock.pending).toBe(1);
    await GenServer.stop(ref);
    expect(clock.pending).toBe(0);
  });
});

describe('GenServer.self', () => {
  it('is the running process inside a callback', async () => {
    type P = { call: ['me', Ref] };
    const ref = await GenServer.start<number, P>({ init: () => 0, handleCall: (_m, s) => [GenServer.self(), s] });
    expect(sameRef(await GenServer.call(ref, 'me'), ref)).toBe(true);
  });
});
