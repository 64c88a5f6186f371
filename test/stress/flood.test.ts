/**
 * Stress, bounded to a few seconds each: a burst of CPU-bound casts against a short watchdog,
 * floods against bounded channels and mailboxes, and a thread killed under load. What must
 * hold: no healthy worker is taken for hung, every call settles, and every cast is accounted
 * for: handled + counted as dropped or lost = sent.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef } from '../../src/index.js';
import { ChannelBusyError, GenServer, Process, Supervisor, ThreadExitError, Threads, isErrorExit, onLifecycle } from '../../src/index.js';
import { freshRuntime, waitFor } from '../../src/testing.js';
import { NodeThreads } from '../../src/threads/node-threads.js';
import type { SinkProtocol } from '../fixtures/stress-tree.js';
import type { TestNode } from '../threads/helpers.js';
import { STRESS, eventually, startNode, threadChild, whereisEventually } from '../threads/helpers.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.shutdown();
  node = undefined;
});

const sinkRef = () => whereisEventually<SinkProtocol>('sink');

describe('stress', () => {
  it('a burst of 100k CPU-bound casts (~10 µs each, ~1 s of work) does not trip a 500 ms watchdog; every cast is handled', async () => {
    const shared = new SharedArrayBuffer(4);
    const counter = new Int32Array(shared);
    const events: string[] = [];
    node = await startNode([threadChild('t', STRESS, { shared }, { watchdogMs: 500 })]);
    const stop = onLifecycle((e) => {
      if (e.type === 'crashed' || e.type === 'restarted') events.push(e.type);
    });
    try {
      const sink = await sinkRef();
      const [before] = await Supervisor.getChildren(node.sup);
      for (let i = 0; i < 100_000; i++) GenServer.cast(sink, { type: 'work', us: 10 });
      // Replies interleave with the flood: a call made now is answered long before the end.
      await expect(GenServer.call(sink, 'ping', { timeout: 20_000 })).resolves.toBe('pong');
      await waitFor(() => Atomics.load(counter, 0) === 100_000, 30_000, 'all casts handled');
      const [after] = await Supervisor.getChildren(node.sup);
      expect(after?.ref).toEqual(before?.ref);
      expect(after?.restartCount).toBe(0);
      expect(events).toEqual([]);
    } finally {
      stop();
    }
  });

  it('a flood past maxInFlight: calls fail fast with ChannelBusyError, casts are dropped and counted, handled + dropped = sent', async () => {
    const shared = new SharedArrayBuffer(4);
    const counter = new Int32Array(shared);
    node = await startNode([threadChild('t', STRESS, { shared })], {}, { maxInFlight: 5_000 });
    const sink = await sinkRef();
    const dropped0 = node.rt.stats.droppedCasts;
    const sent = 200_000;
    for (let i = 0; i < sent; i++) GenServer.cast(sink, { type: 'work', us: 0 });
    // The receiver cannot have handled 5,000 of them yet: the channel is over its bound.
    await expect(GenServer.call(sink, 'ping')).rejects.toSatisfy((e: unknown) => ChannelBusyError.is(e));
    const threads = NodeThreads.of(node.rt);
    const stats = Threads.channels().find((c) => c.thread === sink.thread);
    expect(stats?.busyDrops).toBeGreaterThan(0);
    const dropped = node.rt.stats.droppedCasts - dropped0;
    expect(dropped).toBe(stats?.busyDrops);
    await waitFor(() => Atomics.load(counter, 0) + dropped === sent, 30_000, 'handled + dropped = sent');
    // Once drained, the channel takes calls again.
    await eventually(
      () => GenServer.call(sink, 'ping'),
      (v) => v === 'pong',
      30_000,
    );
    await waitFor(() => threads.links.channelStats(sink.thread)?.inFlight === 0, 30_000, 'in-flight back to 0');
  });

  it('a thread killed under load: every call settles, handled + lost in flight + dropped = sent', async () => {
    const shared = new SharedArrayBuffer(4);
    const counter = new Int32Array(shared);
    node = await startNode([threadChild('t', STRESS, { shared })]);
    const sink = await sinkRef();
    const rt = node.rt;
    const [host] = await Supervisor.getChildren(node.sup);
    const hostExit = Process.awaitExit(host?.ref as AnyRef);
    const lost0 = rt.stats.lostInFlight;
    const dropped0 = rt.stats.droppedCasts;
    let sent = 0;
    const calls: Promise<unknown>[] = [];
    const settled: ('ok' | 'typed' | 'other')[] = [];
    const track = (p: Promise<unknown>): void => {
      calls.push(
        p.then(
          () => settled.push('ok'),
          (e: unknown) => settled.push(typeof (e as { code?: unknown })?.code === 'string' ? 'typed' : 'other'),
        ),
      );
    };
    // Three waves of casts and calls; the thread exits inside a handler during the second.
    for (let wave = 0; wave < 3; wave++) {
      for (let i = 0; i < 20_000; i++) {
        GenServer.cast(sink, { type: 'work', us: 1 });
        sent++;
        if (i % 1000 === 0) track(GenServer.call(sink, 'count', { timeout: 20_000 }));
      }
      if (wave === 1) track(GenServer.call(sink, { type: 'exit' } as never, { timeout: 20_000 }));
      await new Promise<void>((r) => setImmediate(r));
    }
    await Promise.all(calls);
    expect(settled).not.toContain('other');
    expect(settled.length).toBe(calls.length);
    await waitFor(() => !NodeThreads.of(rt).links.threads().includes(sink.thread), 20_000, 'thread gone');
    const handled = Atomics.load(counter, 0);
    const lost = rt.stats.lostInFlight - lost0;
    const dropped = rt.stats.droppedCasts - dropped0;
    expect(lost).toBeGreaterThan(0);
    expect(handled + lost + dropped).toBe(sent);
    // The thread's exit reason reports what the main thread lost with it.
    const reason = await hostExit;
    expect(isErrorExit(reason) && ThreadExitError.is(reason.error) ? reason.error.lostCasts : -1).toBe(lost);
  });

  it('a bounded mailbox under a same-thread flood keeps its bound and counts the drops', async () => {
    const env = freshRuntime();
    const seen: number[] = [];
    const ref = await GenServer.start<number, { cast: number; call: ['n', number] }>(
      {
        init: () => 0,
        handleCast: (m, n) => {
          seen.push(m);
          return n + 1;
        },
        handleCall: (_m, n) => [n, n],
      },
      { maxMailbox: 1000 },
    );
    try {
      for (let i = 0; i < 100_000; i++) GenServer.cast(ref, i);
      const full = GenServer.call(ref, 'n');
      const info = await Process.info(ref as AnyRef);
      expect(info?.mailbox).toBe(1000);
      expect(info?.dropped).toBe(99_001);
      await expect(full).rejects.toMatchObject({ code: 'ERR_MAILBOX_FULL' });
      await waitFor(() => seen.length === 1000);
      expect(seen.slice(0, 3)).toEqual([0, 1, 2]);
    } finally {
      await GenServer.stop(ref);
      env.dispose();
    }
  });
});
