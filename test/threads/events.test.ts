import { afterEach, describe, expect, it } from 'vitest';
import type { WorkerProtocol } from '../fixtures/tree.js';
import type { LifecycleEvent } from '../../src/index.js';
import { GenServer, Registry, onLifecycle } from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import type { TestNode } from './helpers.js';
import { BOOT_MS, TREE, startNode } from './helpers.js';

let node: TestNode | undefined;
let off: (() => void) | undefined;
afterEach(async () => {
  off?.();
  await node?.shutdown();
  node = undefined;
});

describe('lifecycle events across threads', () => {
  it("reach the main thread's subscribers, with the crash reason rebuilt", async () => {
    node = await startNode([{ id: 't', thread: { module: TREE, args: { name: 'ev' } } }]);
    const events: LifecycleEvent[] = [];
    off = onLifecycle((e) => events.push(e));
    const w = Registry.lookup<WorkerProtocol>('ev');
    await expect(GenServer.call(w, { type: 'throw' })).rejects.toThrow();
    await waitFor(() => events.some((e) => e.type === 'restarted'), BOOT_MS, 'restarted event from the worker');
    const crashed = events.find((e) => e.type === 'crashed');
    expect(crashed?.type === 'crashed' && crashed.ref.thread).toBe(w.thread);
    const reason = crashed?.type === 'crashed' ? (crashed.reason.error as Error) : undefined;
    expect(reason).toBeInstanceOf(Error);
    expect(reason?.message).toBe('handler failed');
    const restarted = events.find((e) => e.type === 'restarted');
    expect(restarted?.type === 'restarted' && restarted.ref.thread).toBe(w.thread);
  });
});
