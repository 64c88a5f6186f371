/**
 * Links, monitors and trapping exits (Elixir's Process module), and watching processes from
 * outside any process.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef, ExitReason, GenServerBehavior, MonitorRef, Ref, SystemMessage } from '../../src/index.js';
import { GenServer, InvalidArgumentError, isDownMessage, isExitMessage, NotInProcessError, Process, sameRef } from '../../src/index.js';
import { flush, freshRuntime } from '../../src/testing.js';
import type { ExitKind } from '../helpers.js';
import { exitProcess, failure, worker } from '../helpers.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

/** A process that links/monitors on request and records the system messages it receives. */
type ObserverP = {
  call:
    | [{ link: AnyRef }, true]
    | [{ unlink: AnyRef }, true]
    | [{ monitor: AnyRef }, MonitorRef]
    | [{ demonitor: MonitorRef }, true]
    | [{ trap: boolean }, boolean]
    | ['inbox', SystemMessage[]];
};

function observer(trapExit = false): GenServerBehavior<SystemMessage[], ObserverP> {
  return {
    init: () => {
      if (trapExit) Process.trapExit(true);
      return [];
    },
    handleCall: (msg, s) => {
      if (msg === 'inbox') return [s, s];
      if ('link' in msg) {
        Process.link(msg.link);
        return [true, s];
      }
      if ('unlink' in msg) {
        Process.unlink(msg.unlink);
        return [true, s];
      }
      if ('monitor' in msg) return [Process.monitor(msg.monitor), s];
      if ('demonitor' in msg) {
        Process.demonitor(msg.demonitor);
        return [true, s];
      }
      return [Process.trapExit(msg.trap), s];
    },
    handleInfo: (msg, s) => (isExitMessage(msg) || isDownMessage(msg) ? [...s, msg] : s),
  };
}

async function inbox(ref: Ref<ObserverP>): Promise<SystemMessage[]> {
  return GenServer.call(ref, 'inbox');
}

function expectedReason(kind: ExitKind, reason: ExitReason): void {
  if (kind === 'error') expect(typeof reason === 'object' && 'error' in reason).toBe(true);
  else expect(reason).toBe(kind);
}

describe('Process.link', () => {
  it.each(['error', 'shutdown', 'killed'] as const)('propagates an abnormal exit (%s) to the linked process', async (kind) => {
    const a = await GenServer.start(observer());
    const b = await GenServer.start(worker('b'));
    await GenServer.call(a, { link: b });
    const aExit = Process.awaitExit(a);
    await exitProcess(b, kind);
    const reason = await aExit;
    expectedReason(kind, reason);
  });

  it('does not propagate a normal exit', async () => {
    const a = await GenServer.start(observer());
    const b = await GenServer.start(worker('b'));
    await GenServer.call(a, { link: b });
    await exitProcess(b, 'normal');
    await flush();
    expect(Process.alive(a)).toBe(true);
  });

  it('is bidirectional: the linking process crashing takes the other one down', async () => {
    const a = await GenServer.start(observer());
    const b = await GenServer.start(worker('b'));
    await GenServer.call(a, { link: b });
    const bExit = Process.awaitExit(b);
    Process.exit(a, 'kill');
    expect(await bExit).toBe('killed');
  });

  it('with trapExit turns the exit signal into an EXIT info message', async () => {
    const a = await GenServer.start(observer(true));
    const b = await GenServer.start(worker('b'));
    await GenServer.call(a, { link: b });
    await exitProcess(b, 'error');
    await exitProcess(await linkedWorker(a), 'normal');
    const msgs = await inbox(a);
    expect(msgs).toHaveLength(2);
    const [first, second] = msgs;
    expect(first).toMatchObject({ type: 'EXIT', from: b, reason: { error: expect.any(Error) } });
    // Trapping processes also see normal exits of linked processes.
    expect(second).toMatchObject({ type: 'EXIT', reason: 'normal' });
    expect(Process.alive(a)).toBe(true);
  });

  it('unlink stops propagation', async () => {
    const a = await GenServer.start(observer());
    const b = await GenServer.start(worker('b'));
    await GenServer.call(a, { link: b });
    await GenServer.call(a, { unlink: b });
    await exitProcess(b, 'error');
    await flush();
    expect(Process.alive(a)).toBe(true);
  });

  it('linking to a dead process delivers noproc', async () => {
    const a = await GenServer.start(observer(true));
    const b = await GenServer.start(worker('b'));
    await GenServer.stop(b);
    await GenServer.call(a, { link: b });
    expect(await inbox(a)).toEqual([{ type: 'EXIT', from: b, reason: 'noproc' }]);
  });

  it('the start option link ties the new process to the parent', async () => {
    const parent = await GenServer.start(observer(true));
    const child = await GenServer.start(worker('c'), { link: parent });
    await exitProcess(child, 'error');
    const [msg] = await inbox(parent);
    expect(msg?.type).toBe('EXIT');
  });
});

/** Starts a worker linked to `a` (through `a`), for a second EXIT. */
async function linkedWorker(a: Ref<ObserverP>): Promise<AnyRef> {
  const w = await GenServer.start(worker('w2'));
  await GenServer.call(a, { link: w });
  return w;
}

describe('Process.exit', () => {
  it("'kill' kills even a process that traps exits, with reason killed", async () => {
    const a = await GenServer.start(observer(true));
    const exit = Process.awaitExit(a);
    Process.exit(a, 'kill');
    expect(await exit).toBe('killed');
  });

  it('a trapping process receives other exit signals as EXIT messages from the sender', async () => {
    const a = await GenServer.start(observer(true));
    Process.exit(a, 'shutdown');
    const [msg] = await inbox(a);
    expect(msg).toMatchObject({ type: 'EXIT', reason: 'shutdown', from: env.rt.selfRef });
  });

  it("'normal' is ignored by a process that does not trap exits; 'shutdown' stops it", async () => {
    const a = await GenServer.start(observer());
    Process.exit(a, 'normal');
    await flush();
    expect(Process.alive(a)).toBe(true);
    const exit = Process.awaitExit(a);
    Process.exit(a, 'shutdown');
    expect(await exit).toBe('shutdown');
  });

  it('rejects an invalid reason with InvalidArgumentError', async () => {
    const a = await GenServer.start(observer());
    expect(() => Process.exit(a, 'bogus' as ExitReason)).toThrow(InvalidArgumentError);
    expect(Process.alive(a)).toBe(true);
  });
});

describe('Process.monitor', () => {
  it.each(['normal', 'shutdown', 'error', 'killed'] as const)(
    'delivers DOWN with the reason (%s) to the monitoring process handleInfo',
    async (kind) => {
      const a = await GenServer.start(observer());
      const b = await GenServer.start(worker('b'));
      const m = await GenServer.call(a, { monitor: b });
      await exitProcess(b, kind);
      const msgs = await inbox(a);
      expect(msgs).toHaveLength(1);
      const down = msgs[0];
      if (down?.type !== 'DOWN') throw new Error('expected a DOWN message');
      expect(down.monitor).toEqual(m);
      expect(sameRef(down.ref, b)).toBe(true);
      expectedReason(kind, down.reason);
      // A monitor is one-way: the watcher lives on.
      expect(Process.alive(a)).toBe(true);
    },
  );

  it('demonitor stops the DOWN', async () => {
    const a = await GenServer.start(observer());
    const b = await GenServer.start(worker('b'));
    const m = await GenServer.call(a, { monitor: b });
    await GenServer.call(a, { demonitor: m });
    await exitProcess(b, 'error');
    expect(await inbox(a)).toEqual([]);
  });

  it('of a dead ref delivers DOWN with noproc', async () => {
    const a = await GenServer.start(observer());
    const b = await GenServer.start(worker('b'));
    await GenServer.stop(b);
    const m = await GenServer.call(a, { monitor: b });
    expect(await inbox(a)).toEqual([{ type: 'DOWN', monitor: m, ref: b, reason: 'noproc' }]);
  });

  it('two monitors on one process each deliver their own DOWN', async () => {
    const a = await GenServer.start(observer());
    const b = await GenServer.start(worker('b'));
    const m1 = await GenServer.call(a, { monitor: b });
    const m2 = await GenServer.call(a, { monitor: b });
    expect(m1).not.toEqual(m2);
    await exitProcess(b, 'normal');
    const msgs = await inbox(a);
    expect(msgs.map((d) => (d.type === 'DOWN' ? d.monitor : undefined))).toEqual([m1, m2]);
  });
});

describe('outside any process', () => {
  it('Process.watch runs once with the exit reason; its cancel function stops it', async () => {
    const b = await GenServer.start(worker('b'));
    const c = await GenServer.start(worker('c'));
    const seen: [ExitReason, AnyRef][] = [];
    Process.watch(b, (reason, ref) => seen.push([reason, ref]));
    const cancel = Process.watch(c, (reason, ref) => seen.push([reason, ref]));
    cancel();
    await exitProcess(b, 'shutdown');
    await exitProcess(c, 'shutdown');
    expect(seen).toEqual([['shutdown', b]]);
  });

  it('Process.awaitExit resolves with the reason, or noproc for a dead ref', async () => {
    const b = await GenServer.start(worker('b'));
    const exit = Process.awaitExit(b);
    await GenServer.stop(b, { shutdown: 'bye' });
    expect(await exit).toEqual({ shutdown: 'bye' });
    expect(await Process.awaitExit(b)).toBe('noproc');
  });

  it('Process.alive tells live from dead', async () => {
    const b = await GenServer.start(worker('b'));
    expect(Process.alive(b)).toBe(true);
    await GenServer.stop(b);
    expect(Process.alive(b)).toBe(false);
  });

  it('functions about the current process throw NotInProcessError', async () => {
    const b = await GenServer.start(worker('b'));
    expect(() => Process.self()).toThrow(NotInProcessError);
    expect(() => Process.link(b)).toThrow(NotInProcessError);
    expect(() => Process.monitor(b)).toThrow(NotInProcessError);
    expect(() => Process.trapExit(true)).toThrow(NotInProcessError);
    expect(() => GenServer.self()).toThrow(NotInProcessError);
  });

  it('after an await inside an async callback, they throw NotInProcessError too', async () => {
    type P = { call: ['late-self', unknown] };
    const ref = await GenServer.start<number, P>({
      init: () => 0,
      handleCall: async (_m, s) => {
        await Promise.resolve();
        try {
          Process.self();
          return ['no error', s];
        } catch (e) {
          return [e, s];
        }
      },
    });
    expect(await GenServer.call(ref, 'late-self')).toBeInstanceOf(NotInProcessError);
  });

  it('invalid refs are rejected with InvalidArgumentError', async () => {
    expect(() => Process.watch({} as AnyRef, () => {})).toThrow(InvalidArgumentError);
    expect(() => Process.alive(null as unknown as AnyRef)).toThrow(InvalidArgumentError);
    expect(await failure(() => Process.exit('x' as unknown as AnyRef, 'kill'))).toBeInstanceOf(InvalidArgumentError);
  });
});
