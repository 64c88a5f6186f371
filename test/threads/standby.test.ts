import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerProtocol } from '../fixtures/tree.js';
import type { Ref } from '../../src/index.js';
import { GenServer, Process, Registry, Supervisor, Threads } from '../../src/index.js';
import { NodeThreads } from '../../src/threads/node-threads.js';
import { waitFor } from '../../src/testing.js';
import type { TestNode } from './helpers.js';
import { BOOT_MS, TREE, startNode } from './helpers.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.shutdown();
  node = undefined;
});

describe('thread.standby', () => {
  it('restarts a crashed subtree on the booted spare, boots the next spare, and retires it on stop', async () => {
    node = await startNode([{ id: 'sb', thread: { module: TREE, args: { name: 'sb' }, standby: true } }], {
      restartIntensity: { maxRestarts: 10, withinMs: 60_000 },
    });
    const threads = NodeThreads.of(node.rt);
    const first = Registry.lookup<WorkerProtocol>('sb');
    // One subtree thread plus one spare: the spare is connected but not counted.
    await waitFor(() => threads.links.threads().length === 2, BOOT_MS, 'spare to boot');
    expect(Threads.count()).toBe(1);
    const spare = threads.links.threads().find((t) => t !== first.thread);

    GenServer.call(first, { type: 'uncaught' }).catch(() => {});
    await waitFor(
      () => {
        const now = Registry.whereis('sb');
        return now !== undefined && now.thread !== first.thread;
      },
      BOOT_MS,
      'restart on another thread',
    );
    const second = Registry.lookup<WorkerProtocol>('sb') as Ref<WorkerProtocol>;
    // The restarted subtree runs on the thread that was the spare.
    expect(second.thread).toBe(spare);
    expect(await GenServer.call(second, { type: 'echo', value: 'ok' })).toBe('ok');
    // A new spare follows.
    await waitFor(() => threads.links.threads().length === 2, BOOT_MS, 'next spare to boot');
    expect(Threads.count()).toBe(1);

    await Supervisor.stop(node.sup);
    await waitFor(() => threads.links.threads().length === 0, BOOT_MS, 'spare to be retired');
  });

  it('retires the spare when the supervisor gives up after a crash loop: no worker is left', async () => {
    node = await startNode([{ id: 'sb', thread: { module: TREE, args: { name: 'loop' }, standby: true } }], {
      restartIntensity: { maxRestarts: 1, withinMs: 60_000 },
    });
    const threads = NodeThreads.of(node.rt);
    const gaveUp = Process.awaitExit(node.sup);
    /** Waits for the subtree (on a thread other than `previous`) and its spare, then crashes that thread. */
    const crash = async (previous: number): Promise<number> => {
      const up = () => {
        const ref = Registry.whereis('loop');
        return ref !== undefined && ref.thread !== previous && threads.links.threads().length === 2;
      };
      await waitFor(up, BOOT_MS, 'subtree and spare');
      const ref = Registry.lookup<WorkerProtocol>('loop');
      GenServer.call(ref, { type: 'uncaught' }).catch(() => {});
      return ref.thread;
    };
    const first = await crash(0); // restart 1: on the spare; a new spare follows
    await crash(first); // restart 2 would exceed the intensity: the supervisor exits
    expect(await gaveUp).toEqual({ shutdown: 'reached_max_restart_intensity' });
    await waitFor(() => threads.links.threads().length === 0, 10_000, 'spare retired');
    expect(Threads.count()).toBe(0);
    await waitFor(() => !process.getActiveResourcesInfo().includes('Worker'), 10_000, 'no live worker');
  });
});
