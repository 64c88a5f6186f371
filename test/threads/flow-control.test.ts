/**
 * Bounded mailboxes at every distance, Process.info across threads, and the overflow
 * policies on one thread (reject, crash).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, GenServerBehavior, Ref } from '../../src/index.js';
import {
  GenServer,
  MailboxFullError,
  MailboxOverflowError,
  Process,
  Supervisor,
  Threads,
  isErrorExit,
  onLifecycle,
} from '../../src/index.js';
import { flush, freshRuntime, waitFor } from '../../src/testing.js';
import type { SinkProtocol } from '../fixtures/stress-tree.js';
import type { TestNode } from './helpers.js';
import { STRESS, eventually, startNode, threadChild, whereisEventually } from './helpers.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.shutdown();
  node = undefined;
});

type Counter = { cast: number; call: ['n', number] };
const counter: GenServerBehavior<number, Counter> = {
  init: () => 0,
  handleCast: (_m, n) => n + 1,
  handleCall: (_m, n) => [n, n],
};

describe('a bounded mailbox on a worker thread', () => {
  it('drops and counts casts from the main thread past the bound, rejects calls with MailboxFullError, and acks every cast', async () => {
    const shared = new SharedArrayBuffer(4);
    const handledCount = new Int32Array(shared);
    node = await startNode([threadChild('t', STRESS, { shared, maxMailbox: 10 })]);
    const sink = await whereisEventually<SinkProtocol>('sink');
    const events: string[] = [];
    const stop = onLifecycle((e) => {
      if (e.type === 'cast_dropped') events.push(e.why);
    });
    try {
      const sent = 2000;
      // 2 ms each: the sink cannot keep up, so its bound of 10 is reached at once.
      for (let i = 0; i < sent; i++) GenServer.cast(sink, { type: 'work', us: 2000 });
      const full = await GenServer.call(sink, 'ping').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(MailboxFullError.is(full)).toBe(true);
      expect((full as MailboxFullError).maxMailbox).toBe(10);
      // Process.info asks the worker thread itself.
      const info = await Process.info(sink as AnyRef);
      expect(info).toMatchObject({ thread: sink.thread, maxMailbox: 10, overflow: 'drop_new', status: 'running' });
      expect(info?.mailbox).toBeLessThanOrEqual(10);
      expect(info?.dropped).toBeGreaterThan(0);
      // Every cast is handled or dropped at the worker, and acked back: nothing stays in flight.
      await waitFor(() => Threads.channels().find((c) => c.thread === sink.thread)?.inFlight === 0, 30_000, 'all acked');
      const after = await Process.info(sink as AnyRef);
      // The rejected call counts as dropped too.
      expect(Atomics.load(handledCount, 0) + (after?.dropped ?? 0)).toBe(sent + 1);
      // The worker's drops reach main's listeners as cast_dropped events (forwarded while listened to).
      await waitFor(() => events.includes('mailbox_full'), 5000, 'forwarded drop events');
    } finally {
      stop();
    }
  });

  it('Process.info of a dead or unreachable process on another thread is undefined; a bad ref is refused', async () => {
    const shared = new SharedArrayBuffer(4);
    node = await startNode([threadChild('t', STRESS, { shared })]);
    const sink = (await whereisEventually<SinkProtocol>('sink')) as AnyRef;
    await expect(Process.info({ ...sink, id: sink.id + 1000 })).resolves.toBeUndefined();
    await expect(Process.info({ ...sink, thread: 99 })).resolves.toBeUndefined();
    await expect(Process.info({ ...sink, id: 0 })).resolves.toBeUndefined();
    await expect(Process.info(null as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    const info = await Process.info(sink);
    expect(info?.name).toBe('sink');
    expect(info?.handled).toBeGreaterThanOrEqual(0);
  });
});

describe('Threads.stats', () => {
  it("reports every thread's counters, main first, each read on its own thread", async () => {
    const shared = new SharedArrayBuffer(4);
    node = await startNode([threadChild('t', STRESS, { shared })]);
    const sink = await whereisEventually<SinkProtocol>('sink');
    for (let i = 0; i < 100; i++) GenServer.cast(sink, { type: 'work', us: 0 });
    GenServer.cast({ ...sink, id: sink.id + 1000 } as Ref<SinkProtocol>, { type: 'work', us: 0 }); // no such process there
    const stats = await eventually(
      () => Threads.stats(),
      (s) => s[0]?.channels.find((c) => c.thread === sink.thread)?.ackedCasts === 101,
      10_000,
    );
    expect(stats.map((s) => s.thread)).toEqual([0, sink.thread]);
    const [main, worker] = stats;
    expect(main?.channels.find((c) => c.thread === sink.thread)).toMatchObject({ sentCasts: 101, ackedCasts: 101, inFlight: 0 });
    // Read on the worker: its root supervisor and the sink; the cast to nobody was counted there.
    expect(worker?.processes).toBe(2);
    expect(worker?.droppedCasts).toBe(1);
    expect(worker?.channels.map((c) => c.thread)).toContain(0);
  });
});

describe('overflow policies on one thread', () => {
  it("'reject' throws MailboxFullError to a same-thread sender; the refusals are counted", async () => {
    const env = freshRuntime();
    try {
      const ref = await GenServer.start(counter, { maxMailbox: 2, overflow: 'reject' });
      GenServer.cast(ref, 1);
      GenServer.cast(ref, 2);
      expect(() => GenServer.cast(ref, 3)).toThrow(MailboxFullError);
      expect(() => GenServer.send(ref, 'x' as never)).toThrow(MailboxFullError);
      const info = Process.info(ref);
      await expect(GenServer.call(ref, 'n')).rejects.toSatisfy((e: unknown) => MailboxFullError.is(e));
      expect((await info)?.dropped).toBe(2);
      expect(env.rt.stats.droppedCasts).toBe(2);
      // Once drained, it takes messages again.
      await expect(GenServer.call(ref, 'n')).resolves.toBe(2);
      await GenServer.stop(ref);
    } finally {
      env.dispose();
    }
  });

  it("'crash' exits with MailboxOverflowError after the handler in flight; queued callers get ServerExitedError; terminate runs", async () => {
    const env = freshRuntime();
    try {
      const terminated: unknown[] = [];
      const b: GenServerBehavior<number, Counter> = { ...counter, terminate: (reason) => void terminated.push(reason) };
      const ref = await GenServer.start(b, { maxMailbox: 3, overflow: 'crash' });
      const exited = Process.awaitExit(ref as AnyRef);
      const queuedCall = GenServer.call(ref, 'n');
      GenServer.cast(ref, 1);
      GenServer.cast(ref, 2);
      GenServer.cast(ref, 3); // the 4th user message: over the bound
      const reason = await exited;
      expect(isErrorExit(reason) && MailboxOverflowError.is(reason.error)).toBe(true);
      expect(terminated).toHaveLength(1);
      await expect(queuedCall).rejects.toMatchObject({ code: 'ERR_SERVER_EXITED' });
      // Exit signals and DOWNs are not user messages: a full mailbox never hides them.
    } finally {
      env.dispose();
    }
  });

  it('exit signals (EXIT messages of a trapping process) enter a full mailbox', async () => {
    const env = freshRuntime();
    try {
      const seen: unknown[] = [];
      type P = { cast: 'block'; call: ['n', number] };
      let release: () => void = () => {};
      let blocked = false;
      const watcher: GenServerBehavior<null, P> = {
        init: () => null,
        handleCast: async (_m, s) => {
          if (blocked) return s;
          blocked = true;
          await new Promise<void>((r) => {
            release = r;
          });
          return s;
        },
        handleCall: (_m, s) => [0, s],
        handleInfo: (m, s) => {
          seen.push((m as { type?: string }).type);
          return s;
        },
      };
      const w = await GenServer.start(watcher, { maxMailbox: 1, trapExit: true });
      const other = await GenServer.start(counter);
      GenServer.cast(w, 'block');
      await flush(1); // the first is being handled (busy): the mailbox is empty
      GenServer.cast(w, 'block'); // queued: the mailbox is full
      expect(() => GenServer.cast(w, 'block')).not.toThrow(); // drop_new: dropped, counted
      await GenServer.call(other, 'n');
      // An exit signal to a trapping process is an EXIT message: it enters the full mailbox.
      Process.exit(w as AnyRef, { shutdown: 'test' });
      release();
      await waitFor(() => seen.includes('EXIT'), 2000, 'EXIT delivered');
      expect((await Process.info(w as AnyRef))?.dropped).toBe(1);
      await GenServer.stop(w);
      await GenServer.stop(other);
    } finally {
      env.dispose();
    }
  });
});

describe('Supervisor children take mailbox options', () => {
  it('a bounded child restarts with an empty mailbox after an overflow crash', async () => {
    const env = freshRuntime();
    try {
      const sup = await Supervisor.start({
        children: [{ id: 'c', behavior: counter, options: { maxMailbox: 5, overflow: 'crash' } }],
      });
      const [before] = await Supervisor.getChildren(sup);
      const first = before?.ref as Ref<Counter>;
      for (let i = 0; i < 10; i++) GenServer.cast(first, i);
      await waitFor(() => !GenServer.isRunning(first), 2000, 'crashed');
      const [after] = await eventually(
        () => Supervisor.getChildren(sup),
        (c) => c[0]?.ref !== undefined && c[0].restartCount === 1,
        5000,
      );
      expect((await Process.info(after?.ref as AnyRef))?.mailbox).toBe(0);
      await Supervisor.stop(sup);
    } finally {
      env.dispose();
    }
  });
});
