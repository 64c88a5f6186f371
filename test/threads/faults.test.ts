/**
 * A worker thread that dies is an ordinary child exit: an uncaught exception,
 * `process.exit()`, out of memory under `resourceLimits`, or a hung event loop killed by the
 * watchdog. For each: the host's exit reason names the kind, pending calls reject at once
 * (not at their timeout), main-thread links and monitors fire, the dead thread's names go,
 * and the root supervisor restarts the subtree on a new thread. Each test starts its own node
 * (one thread, plus the restart).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, DownMessage, ExitMessage, ExitReason, Ref } from '../../src/index.js';
import {
  GenServer,
  Process,
  Registry,
  ServerExitedError,
  Supervisor,
  ThreadExitError,
  Threads,
  isDownMessage,
  isExitMessage,
  sameRef,
} from '../../src/index.js';
import type { ThreadExitKind } from '../../src/errors.js';
import { waitFor } from '../../src/testing.js';
import type { ProbeProtocol } from '../fixtures/thread-extras.js';
import type { WorkerProtocol } from '../fixtures/tree.js';
import { failure } from '../helpers.js';
import type { TestNode } from './helpers.js';
import { BOOT_MS, EXTRAS, TREE, eventually, recorder, startNode, threadChild } from './helpers.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.shutdown();
  node = undefined;
}, BOOT_MS);

const w1 = () => Registry.lookup<WorkerProtocol>('w1');

function threadError(reason: ExitReason): ThreadExitError {
  expect(typeof reason === 'object' && reason !== null && 'error' in reason).toBe(true);
  const e = (reason as { error: unknown }).error;
  expect(e).toBeInstanceOf(ThreadExitError);
  return e as ThreadExitError;
}

async function scenario(trigger: WorkerProtocol['call'][0], kind: ThreadExitKind, watchdogMs = 5000): Promise<void> {
  node = await startNode([threadChild('t1', TREE, { name: 'w1' }, { watchdogMs, resourceLimits: { maxOldGenerationSizeMb: 32 } })]);
  const [child] = await Supervisor.getChildren(node.sup);
  const host = child?.ref as AnyRef;
  const before = await Threads.info(host);
  const target = w1();
  expect(target.thread).toBe(before.thread);

  // Main-thread watchers: a trapping process linked to w1, monitoring w1 and the worker's root.
  const seen: unknown[] = [];
  await GenServer.start(
    recorder(seen, () => {
      Process.link(target);
      Process.monitor(target);
      Process.monitor(before.root);
    }),
    { trapExit: true },
  );
  // Make sure the link and monitors are in place on the worker before it dies.
  expect(await GenServer.call(target, { type: 'echo', value: 1 })).toBe(1);
  const hostExit = Process.awaitExit(host);

  const t0 = Date.now();
  // The trigger itself is the pending call (it never replies); a long timeout it must not wait for.
  const err = await failure(() => GenServer.call(target, trigger, { timeout: 30_000 }));
  const elapsed = Date.now() - t0;
  expect(elapsed).toBeLessThan(10_000);
  expect(err).toBeInstanceOf(ServerExitedError);
  const cause = (err as ServerExitedError).cause as ThreadExitError;
  expect(cause).toBeInstanceOf(ThreadExitError);
  expect(cause.kind).toBe(kind);
  // The dead thread's names are gone by the time the caller hears of it.
  expect(Registry.whereis('w1')?.thread).not.toBe(before.thread);

  const hostReason = threadError(await hostExit);
  expect(hostReason.kind).toBe(kind);
  expect(hostReason.thread).toBe(before.thread);
  expect(hostReason.message).toContain(`worker thread ${before.thread}`);

  // Links and monitors from the main thread fired with the same reason.
  await waitFor(() => seen.length >= 3, 10_000, 'EXIT and two DOWNs');
  const exit = seen.find(isExitMessage) as ExitMessage;
  expect(sameRef(exit.from, target)).toBe(true);
  expect(threadError(exit.reason).kind).toBe(kind);
  const downs = seen.filter(isDownMessage) as DownMessage[];
  expect(downs.map((d) => d.ref).sort((a, b) => a.id - b.id)).toEqual([before.root, target].sort((a, b) => a.id - b.id));
  for (const d of downs) expect(threadError(d.reason).kind).toBe(kind);

  // Restarted on a new thread, with its name back.
  const [again] = await eventually(
    () => Supervisor.getChildren(node!.sup),
    (cs) => cs[0]?.restartCount === 1 && cs[0]?.ref !== undefined,
    BOOT_MS,
    'thread child restarted',
  );
  const after = await Threads.info(again?.ref as AnyRef);
  expect(after.thread).not.toBe(before.thread);
  await waitFor(() => Registry.whereis('w1')?.thread === after.thread, BOOT_MS, 'w1 registered on the new thread');
  expect(await GenServer.call(w1(), { type: 'thread' })).toBe(after.thread);
  expect(Threads.count()).toBe(1);
}

describe('a worker thread that dies', () => {
  it("(1) an uncaught exception escaping everything → 'crashed'", async () => {
    await scenario({ type: 'uncaught' }, 'crashed');
  });

  it("(1b) process.exit() inside the thread → 'exited'", async () => {
    await scenario({ type: 'exit', code: 3 }, 'exited');
  });

  it("(2) out of memory under resourceLimits → 'out_of_memory'; the node survives", async () => {
    await scenario({ type: 'oom' }, 'out_of_memory');
    expect(process.memoryUsage().rss).toBeGreaterThan(0);
  });

  it("(3) a hung event loop is terminated by the watchdog → 'hung'", async () => {
    await scenario({ type: 'spin' }, 'hung', 1000);
  });
});

describe('the watchdog', () => {
  it('does not take a healthy worker for hung while the main thread is blocked past watchdogMs', async () => {
    node = await startNode([threadChild('t1', TREE, { name: 'w1' }, { watchdogMs: 500 })]);
    const [child] = await Supervisor.getChildren(node.sup);
    const before = await Threads.info(child?.ref as AnyRef);
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      // Block the main thread for three watchdog periods: the worker's heartbeats queue up unread.
    }
    // A negative check needs a window: give a wrongly fired watchdog time to kill the thread.
    await new Promise<void>((r) => setTimeout(r, 600));
    expect(await GenServer.call(w1(), { type: 'thread' })).toBe(before.thread);
    const [after] = await Supervisor.getChildren(node.sup);
    expect(after?.restartCount).toBe(0);
  });
});

describe('a thread death seen from another worker', () => {
  it("a worker's pending call into a thread that crashes rejects at once, with the thread's reason as the cause", async () => {
    node = await startNode([threadChild('t1', TREE, { name: 'w1' }), threadChild('t2', EXTRAS, { name: 'q', maxRestarts: 10 })]);
    const q = Registry.lookup<ProbeProtocol>('q');
    // A second process on t2 monitors w1 across the two workers.
    const qb = Registry.lookup<ProbeProtocol>('q.b');
    const deadThread = w1().thread;
    expect(await GenServer.call(qb, { type: 'monitor', target: w1() })).toBe('ok');
    const t0 = Date.now();
    const err = (await failure(() =>
      GenServer.call(q, { type: 'call', target: 'w1', msg: { type: 'uncaught' }, timeout: 30_000 }, { timeout: 40_000 }),
    )) as ServerExitedError;
    expect(Date.now() - t0).toBeLessThan(10_000);
    // q's call failed (ServerExitedError: w1's thread died), which crashed q, which failed ours.
    expect(err).toBeInstanceOf(ServerExitedError);
    const inner = err.cause as ServerExitedError;
    expect(inner).toBeInstanceOf(ServerExitedError);
    expect(inner.cause).toBeInstanceOf(ThreadExitError);
    expect((inner.cause as ThreadExitError).kind).toBe('crashed');
    const { infos } = await eventually(
      () => GenServer.call(qb, { type: 'state' }),
      (st) => st.infos.length > 0,
      10_000,
      'DOWN in q.b',
    );
    // t2's copy of the name table no longer points into the dead thread.
    expect((await GenServer.call(qb, { type: 'whereis', name: 'w1' }))?.thread).not.toBe(deadThread);
    const down = infos[0] as DownMessage;
    expect(isDownMessage(down)).toBe(true);
    // The DOWN came back to us inside a reply, i.e. structured-cloned as user data: the error
    // keeps its message, not its class.
    expect(((down.reason as { error: Error }).error as Error).message).toMatch(/^worker thread \d+ crashed: uncaught/);
    // q's thread was not affected: q is back on the same thread, and reaches the restarted w1.
    await waitFor(() => Registry.whereis('q') !== undefined, BOOT_MS, 'q restarted');
    expect(Registry.lookup('q').thread).toBe(q.thread);
    await waitFor(() => Registry.whereis('w1') !== undefined, BOOT_MS, 'w1 restarted');
    expect(
      await eventually(
        () => GenServer.call(Registry.lookup<ProbeProtocol>('q'), { type: 'call', target: 'w1', msg: { type: 'echo', value: 'x' } }),
        (v) => v === 'x',
        BOOT_MS,
        'q reaches the new w1',
      ),
    ).toBe('x');
  });
});

describe('a crash inside a worker', () => {
  it("is restarted by the worker's own supervisor and does not restart the thread", async () => {
    node = await startNode([threadChild('t1', TREE, { name: 'w1' })]);
    const [child] = await Supervisor.getChildren(node.sup);
    const info = await Threads.info(child?.ref as AnyRef);
    const old = w1();
    const err = (await failure(() => GenServer.call(old, { type: 'throw' }))) as ServerExitedError;
    expect(err).toBeInstanceOf(ServerExitedError);
    expect((err.cause as Error).message).toBe('handler failed');
    await waitFor(
      () => {
        const r = Registry.whereis('w1');
        return r !== undefined && !sameRef(r, old);
      },
      BOOT_MS,
      'w1 restarted',
    );
    expect(w1().thread).toBe(info.thread);
    const inner = await Supervisor.getChildren(info.root as never);
    expect(inner[0]?.restartCount).toBe(1);
    const [top] = await Supervisor.getChildren(node.sup);
    expect(top?.restartCount).toBe(0);
    expect(sameRef(top?.ref as AnyRef, child?.ref as AnyRef)).toBe(true);
    expect((await Threads.info(top?.ref as AnyRef)).thread).toBe(info.thread);
    expect(await GenServer.call(w1(), { type: 'echo', value: 'alive' })).toBe('alive');
  });

  it("escalates to a thread restart when the worker's root supervisor gives up; the host exits with the root's reason", async () => {
    node = await startNode([threadChild('t1', EXTRAS, { name: 'e1', maxRestarts: 0 })]);
    const [child] = await Supervisor.getChildren(node.sup);
    const host = child?.ref as AnyRef;
    const before = await Threads.info(host);
    const hostExit = Process.awaitExit(host);
    await failure(() =>
      GenServer.call('e1' as unknown as Ref<{ call: [{ type: 'throw'; message: string }, never] }>, { type: 'throw', message: 'x' }),
    );
    expect(await hostExit).toEqual({ shutdown: 'reached_max_restart_intensity' });
    const [again] = await eventually(
      () => Supervisor.getChildren(node!.sup),
      (cs) => cs[0]?.restartCount === 1 && cs[0]?.ref !== undefined,
      BOOT_MS,
      'thread child restarted',
    );
    const after = await Threads.info(again?.ref as AnyRef);
    expect(after.thread).not.toBe(before.thread);
    await waitFor(() => Registry.whereis('e1')?.thread === after.thread, BOOT_MS, 'e1 on the new thread');
  });
});
