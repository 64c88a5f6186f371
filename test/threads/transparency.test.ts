/**
 * Location transparency: call, cast, send, stop, supervisor queries, links,
 * monitors and typed errors work the same when the process lives on a worker thread. One
 * thread subtree (test/fixtures/thread-extras.ts: probes `p1` and `p1.b`) serves the file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRef, DownMessage, ExitMessage, GenServerBehavior, Ref } from '../../src/index.js';
import {
  CallTimeoutError,
  ErrorCode,
  GenServer,
  NoProcessError,
  NotCloneableError,
  Process,
  Registry,
  Result,
  ServerExitedError,
  Supervisor,
  Threads,
  isDownMessage,
  isExitMessage,
  sameRef,
} from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import type { ProbeProtocol } from '../fixtures/thread-extras.js';
import { failure } from '../helpers.js';
import type { TestNode } from './helpers.js';
import { BOOT_MS, EXTRAS, eventually, recorder, startNode, threadChild } from './helpers.js';

type Probe = Ref<ProbeProtocol>;

let node: TestNode;
let host: AnyRef;
let thread: number;
let root: AnyRef;

beforeAll(async () => {
  node = await startNode([threadChild('t1', EXTRAS, { name: 'p1', maxRestarts: 100 })]);
  const [child] = await Supervisor.getChildren(node.sup);
  host = child?.ref as AnyRef;
  ({ thread, root } = await Threads.info(host));
}, BOOT_MS);

afterAll(() => node?.shutdown(), BOOT_MS);

/** The current ref of a probe (it changes when the worker's supervisor restarts it). */
const probe = (name = 'p1'): Probe => Registry.lookup<ProbeProtocol>(name);

/** Waits until `name` is registered to a process other than `old` (restarted by the worker's supervisor). */
async function restarted(name: string, old: AnyRef): Promise<Probe> {
  await waitFor(
    () => {
      const r = Registry.whereis(name);
      return r !== undefined && !sameRef(r, old);
    },
    BOOT_MS,
    `${name} restarted`,
  );
  return probe(name);
}

describe('a process on a worker thread, seen from the main thread', () => {
  it('answers calls, by ref and by name, with structured-clone value semantics', async () => {
    expect(thread).toBeGreaterThan(0);
    const ref = probe();
    expect(ref.thread).toBe(thread);
    expect(await GenServer.call(ref, { type: 'self' })).toEqual(ref);
    expect(await GenServer.call('p1', { type: 'thread' })).toBe(thread);

    const cyclic: { name: string; self?: unknown } = { name: 'loop' };
    cyclic.self = cyclic;
    const value = {
      map: new Map<unknown, unknown>([
        [1, { a: 1 }],
        ['k', [1, 2]],
      ]),
      set: new Set(['x', 'y']),
      date: new Date(1_700_000_000_000),
      re: /a+b/gi,
      big: 2n ** 70n,
      bytes: new Uint8Array([1, 2, 3]),
      floats: new Float64Array([0.5, -1]),
      error: new TypeError('carried'),
      cyclic,
      nothing: undefined,
      nan: Number.NaN,
    };
    const back = (await GenServer.call(ref, { type: 'echo', value })) as typeof value;
    expect(back).not.toBe(value);
    expect(back.map).toEqual(value.map);
    expect(back.set).toEqual(value.set);
    expect(back.date).toBeInstanceOf(Date);
    expect(back.date.getTime()).toBe(value.date.getTime());
    expect(back.re).toBeInstanceOf(RegExp);
    expect([back.re.source, back.re.flags]).toEqual(['a+b', 'gi']);
    expect(back.big).toBe(2n ** 70n);
    expect(back.bytes).toBeInstanceOf(Uint8Array);
    expect([...back.bytes]).toEqual([1, 2, 3]);
    expect([...back.floats]).toEqual([0.5, -1]);
    expect(back.error).toBeInstanceOf(TypeError);
    expect(back.error.message).toBe('carried');
    expect(back.cyclic.self).toBe(back.cyclic);
    expect('nothing' in back).toBe(true);
    expect(back.nan).toBeNaN();
  });

  it('casts and info messages arrive in order, before a later call from the same sender', async () => {
    const ref = probe('p1.b');
    const before = await GenServer.call(ref, { type: 'state' });
    for (let i = 1; i <= 100; i++) GenServer.cast(ref, { type: 'add', n: i });
    GenServer.send(ref, { hello: 'by ref' });
    GenServer.send('p1.b', { hello: 'by name' });
    const after = await GenServer.call(ref, { type: 'state' });
    expect(after.total - before.total).toBe(5050);
    expect(after.infos.slice(before.infos.length)).toEqual([{ hello: 'by ref' }, { hello: 'by name' }]);
  });

  it('GenServer.stop stops it (the worker supervisor restarts it); a call to the old ref fails with NoProcessError', async () => {
    const old = probe('p1.b');
    await GenServer.stop(old, 'normal');
    const err = await failure(() => GenServer.call(old, { type: 'thread' }));
    expect(err).toBeInstanceOf(NoProcessError);
    expect((err as NoProcessError).code).toBe(ErrorCode.NO_PROCESS);
    expect((err as NoProcessError).message).toContain(`/${thread}/${old.id}`);
    // As for a local process, stopping one that is gone rejects (here and on a thread that never existed).
    expect(await failure(() => GenServer.stop(old))).toBeInstanceOf(NoProcessError);
    expect(await failure(() => GenServer.stop({ ...old, thread: 999 }))).toBeInstanceOf(NoProcessError);
    const fresh = await restarted('p1.b', old);
    expect(fresh.thread).toBe(thread);
    expect(await GenServer.call(fresh, { type: 'thread' })).toBe(thread);
    // The stop did not touch the thread: same host, same thread, no restart at the top.
    const [child] = await Supervisor.getChildren(node.sup);
    expect(child?.restartCount).toBe(0);
    expect((await Threads.info(host)).thread).toBe(thread);
  });

  it('Supervisor.getChildren and countChildren work on the root supervisor inside the worker', async () => {
    expect(root.thread).toBe(thread);
    const children = await Supervisor.getChildren(root as never);
    expect(children.map((c) => c.id)).toEqual(['a', 'b']);
    for (const c of children) expect(c.ref?.thread).toBe(thread);
    expect(sameRef(children[0]?.ref as AnyRef, probe('p1'))).toBe(true);
    expect(await Supervisor.countChildren(root as never)).toEqual({ specs: 2, active: 2, supervisors: 0, workers: 2 });
  });
});

describe('links and monitors across threads', () => {
  it('a main-thread monitor gets DOWN with the reason; a trapping linked process gets EXIT; a plain linked one dies', async () => {
    const target = probe('p1');
    const seen: unknown[] = [];
    const watcher = await GenServer.start(
      recorder(seen, () => {
        Process.monitor(target);
        Process.link(target);
      }),
      { trapExit: true },
    );
    const linked = await GenServer.start(recorder([], () => Process.link(target)));
    const linkedExit = Process.awaitExit(linked);

    const err = await failure(() => GenServer.call(target, { type: 'throw', message: 'crash for monitors' }));
    expect(err).toBeInstanceOf(ServerExitedError);

    await waitFor(() => seen.length >= 2, 10_000, 'DOWN and EXIT on the main thread');
    const down = seen.find(isDownMessage) as DownMessage;
    expect(sameRef(down.ref, target)).toBe(true);
    const downError = (down.reason as { error: Error }).error;
    expect(downError).toBeInstanceOf(Error);
    expect(downError.message).toBe('crash for monitors');
    const exit = seen.find(isExitMessage) as ExitMessage;
    expect(sameRef(exit.from, target)).toBe(true);
    expect(((exit.reason as { error: Error }).error as Error).message).toBe('crash for monitors');

    const reason = await linkedExit;
    expect((reason as { error: Error }).error.message).toBe('crash for monitors');
    expect(GenServer.isRunning(watcher)).toBe(true);
    await GenServer.stop(watcher);
    await restarted('p1', target);
  });

  it('a crash on the main thread propagates over a link into the worker', async () => {
    const target = probe('p1');
    const targetExit = Process.awaitExit(target);
    const main = await GenServer.start(recorder([], () => Process.link(target)));
    // The link must be established on the worker before the crash: a round trip settles it.
    await GenServer.call(target, { type: 'thread' });
    GenServer.cast(main, 'crash');
    const reason = await targetExit;
    expect((reason as { error: Error }).error.message).toBe('recorder crashed on purpose');
    const fresh = await restarted('p1', target);
    expect(fresh.thread).toBe(thread);
  });

  it('a worker process monitoring a main-thread process gets DOWN with the reason', async () => {
    const mainProc = await GenServer.start(recorder([]));
    const p = probe('p1.b');
    expect(await GenServer.call(p, { type: 'monitor', target: mainProc })).toBe('ok');
    const infos = (await GenServer.call(p, { type: 'state' })).infos.length;
    GenServer.cast(mainProc, 'crash');
    const state = await eventually(
      () => GenServer.call(p, { type: 'state' }),
      (st) => st.infos.length > infos,
      10_000,
      'DOWN in the worker',
    );
    const down = state.infos[infos] as DownMessage;
    expect(isDownMessage(down)).toBe(true);
    expect(sameRef(down.ref, mainProc)).toBe(true);
    expect((down.reason as { error: Error }).error.message).toBe('recorder crashed on purpose');
  });

  it('a monitor on a process that is already gone reports noproc; demonitor delivers nothing', async () => {
    const old = probe('p1.b');
    await GenServer.stop(old, 'normal');
    const seen: unknown[] = [];
    await GenServer.start(recorder(seen, () => Process.monitor(old)));
    await waitFor(() => seen.length === 1, 10_000, 'DOWN noproc');
    expect((seen[0] as DownMessage).reason).toBe('noproc');
    const current = await restarted('p1.b', old);

    const quiet: unknown[] = [];
    const watcherBehavior: GenServerBehavior<unknown, { call: ['demonitor', 'ok'] }> = {
      init: () => Process.monitor(current),
      handleCall: (_m, m) => {
        Process.demonitor(m as never);
        return ['ok', m];
      },
      handleInfo: (msg, s) => {
        quiet.push(msg);
        return s;
      },
    };
    const w = await GenServer.start(watcherBehavior);
    await GenServer.call(w, 'demonitor');
    await GenServer.stop(current, 'normal');
    await restarted('p1.b', current);
    await GenServer.call(w, 'demonitor'); // a round trip through w's mailbox
    expect(quiet).toEqual([]);
  });
});

describe('errors keep their class and code after crossing threads', () => {
  const silent: GenServerBehavior<null, { call: ['never', never] }> = {
    init: () => null,
    handleCall: (_m, s) => Result.noreply(s),
  };

  it('ServerExitedError carries the handler error as cause', async () => {
    const err = (await failure(() => GenServer.call(probe(), { type: 'throw', message: 'handler blew up' }))) as ServerExitedError;
    expect(err).toBeInstanceOf(ServerExitedError);
    expect(err.code).toBe(ErrorCode.SERVER_EXITED);
    expect(err.cause).toBeInstanceOf(Error);
    expect((err.cause as Error).message).toBe('handler blew up');
    expect(err.message).toContain('handler blew up');
    await waitFor(() => Registry.whereis('p1') !== undefined, BOOT_MS, 'p1 back');
  });

  it('CallTimeoutError and NoProcessError raised in the worker come back as causes, rebuilt', async () => {
    const mute = await GenServer.start(silent);
    const timeout = (await failure(() =>
      GenServer.call(probe(), { type: 'call', target: mute, msg: 'never', timeout: 100 }),
    )) as ServerExitedError;
    expect(timeout).toBeInstanceOf(ServerExitedError);
    expect(timeout.cause).toBeInstanceOf(CallTimeoutError);
    expect((timeout.cause as CallTimeoutError).code).toBe(ErrorCode.CALL_TIMEOUT);
    expect((timeout.cause as CallTimeoutError).timeoutMs).toBe(100);
    await waitFor(() => Registry.whereis('p1') !== undefined, BOOT_MS, 'p1 back');

    await GenServer.stop(mute);
    const noproc = (await failure(() => GenServer.call(probe(), { type: 'call', target: mute, msg: 'never' }))) as ServerExitedError;
    expect(noproc).toBeInstanceOf(ServerExitedError);
    expect(noproc.cause).toBeInstanceOf(NoProcessError);
    expect((noproc.cause as NoProcessError).code).toBe(ErrorCode.NO_PROCESS);
    await waitFor(() => Registry.whereis('p1') !== undefined, BOOT_MS, 'p1 back');
  });

  it('a call from main to a busy worker process times out with CallTimeoutError; the later failure is not delivered again', async () => {
    const mute = await GenServer.start(silent);
    const p = probe('p1.b');
    const busy = failure(() => GenServer.call(p, { type: 'call', target: mute, msg: 'never', timeout: 300 }, { timeout: 50 }));
    const queued = failure(() => GenServer.call(p, { type: 'thread' }, { timeout: 50 }));
    expect(await busy).toBeInstanceOf(CallTimeoutError);
    const q = (await queued) as CallTimeoutError;
    expect(q).toBeInstanceOf(CallTimeoutError);
    expect(q.timeoutMs).toBe(50);
    // The probe's own call then times out and crashes it; both callers already gave up.
    await restarted('p1.b', p);
    await GenServer.stop(mute);
  });
});

describe('values that cannot cross', () => {
  it('a function or a class instance fails the send with NotCloneableError naming the field; both sides keep running', async () => {
    const ref = probe();
    const fnErr = (await failure(() => GenServer.call(ref, { type: 'echo', value: { list: [1, () => 2] } }))) as NotCloneableError;
    expect(fnErr).toBeInstanceOf(NotCloneableError);
    expect(fnErr.code).toBe(ErrorCode.NOT_CLONEABLE);
    expect(fnErr.path).toBe('message.value.list[1]');
    expect(fnErr.valueType).toBe('function');

    class Point {
      constructor(readonly x: number) {}
      norm() {
        return Math.abs(this.x);
      }
    }
    const castErr = (await failure(() => GenServer.cast(ref, { type: 'add', n: new Point(1) as never }))) as NotCloneableError;
    expect(castErr).toBeInstanceOf(NotCloneableError);
    expect(castErr.path).toBe('message.n');
    expect(castErr.valueType).toContain('Point');
    expect(() => GenServer.send(ref, { cb: () => 1 })).toThrow(NotCloneableError);

    // A reply that cannot cross: the caller gets NotCloneableError from the worker.
    const replyErr = await failure(() => GenServer.call(ref, { type: 'badReply' }));
    expect(replyErr).toBeInstanceOf(NotCloneableError);
    expect((replyErr as NotCloneableError).path).toBe('reply');

    // Nothing crashed.
    expect(sameRef(probe(), ref)).toBe(true);
    expect(await GenServer.call(ref, { type: 'echo', value: 'still here' })).toBe('still here');
  });

  it('a message that only fails at post time (a detached buffer) fails the call fast and counts a dropped cast', async () => {
    const ref = probe();
    const detached = new ArrayBuffer(16);
    structuredClone(detached, { transfer: [detached] });
    expect(detached.byteLength).toBe(0);
    const t0 = Date.now();
    const err = await failure(() => GenServer.call(ref, { type: 'echo', value: detached }, { timeout: 20_000 }));
    expect(err).toBeInstanceOf(NotCloneableError);
    expect(Date.now() - t0).toBeLessThan(5000);

    const dropped = node.rt.stats.droppedCasts;
    GenServer.cast(ref, { type: 'buffer', buf: detached });
    expect(node.rt.stats.droppedCasts).toBe(dropped + 1);
    expect(await GenServer.call(ref, { type: 'echo', value: 'ok' })).toBe('ok');
  });
});

describe('transfer', () => {
  it('an ArrayBuffer cast with { transfer } arrives whole and is detached on the sender', async () => {
    const ref = probe();
    const size = 1 << 20;
    const buf = new ArrayBuffer(size);
    const v = new Uint8Array(buf);
    v[0] = 7;
    v[size - 1] = 9;
    const before = (await GenServer.call(ref, { type: 'state' })).buffers.length;
    GenServer.cast(ref, { type: 'buffer', buf }, { transfer: [buf] });
    expect(buf.byteLength).toBe(0);
    const state = await GenServer.call(ref, { type: 'state' });
    expect(state.buffers.slice(before)).toEqual([{ byteLength: size, first: 7, last: 9 }]);

    // Calls transfer too; without the option the sender keeps its copy.
    const out = new Uint8Array([1, 2, 3]).buffer;
    const echoed = (await GenServer.call(ref, { type: 'echo', value: out }, { transfer: [out] })) as ArrayBuffer;
    expect(out.byteLength).toBe(0);
    expect([...new Uint8Array(echoed)]).toEqual([1, 2, 3]);
    const kept = new Uint8Array([4]).buffer;
    GenServer.cast(ref, { type: 'buffer', buf: kept });
    expect(kept.byteLength).toBe(1);
  });
});
