/**
 * Threads.info answers only for a thread child's ref (its host). Anything else rejects at
 * once with a typed error, and no message reaches the process it names: a plain GenServer
 * would take 'info' for one of its own calls, a worker's supervisor would crash on it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef, SupervisorRef } from '../../src/index.js';
import { GenServer, InvalidArgumentError, NoProcessError, Supervisor, Threads } from '../../src/index.js';
import { failure } from '../helpers.js';
import type { TestNode } from './helpers.js';
import { TREE, startNode, threadChild } from './helpers.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.shutdown();
  node = undefined;
});

describe('Threads.info', () => {
  it('rejects refs that are not thread children with InvalidArgumentError or NoProcessError, without calling them', async () => {
    node = await startNode([threadChild('t1', TREE, { name: 'w1' })]);
    const [child] = await Supervisor.getChildren(node.sup);
    const host = child?.ref as AnyRef;
    const { thread, root } = await Threads.info(host);
    expect(root.thread).toBe(thread);

    // A plain GenServer that would answer any call.
    const calls: unknown[] = [];
    const plain = await GenServer.start({
      init: () => null,
      handleCall: (msg: unknown, s: null) => {
        calls.push(msg);
        return ['not thread info', s];
      },
    });
    for (const notAHost of [plain, root, node.sup as AnyRef]) {
      const e = (await failure(() => Threads.info(notAHost))) as InvalidArgumentError;
      expect(e).toBeInstanceOf(InvalidArgumentError);
      expect(e.argument).toBe('ref passed to Threads.info');
      expect(e.message).toContain('is not a thread child');
    }
    expect(calls).toEqual([]);
    // The worker's root supervisor was not sent 'info': it still runs its subtree.
    expect(await Supervisor.getChildren(root as SupervisorRef)).toHaveLength(1);

    for (const garbage of [undefined, null, 42, 'w1', {}, { node: 'x', thread: 0 }]) {
      const e = (await failure(() => Threads.info(garbage as never))) as InvalidArgumentError;
      expect(e).toBeInstanceOf(InvalidArgumentError);
    }

    // Dead refs: a stopped GenServer, a host whose thread child was terminated, an id never used.
    await GenServer.stop(plain);
    await Supervisor.terminateChild(node.sup, 't1');
    for (const dead of [plain, host, { ...host, id: 1e9 }]) {
      expect(await failure(() => Threads.info(dead))).toBeInstanceOf(NoProcessError);
    }
  });
});
