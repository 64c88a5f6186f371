/** sendAfter to a process on another thread: a message that cannot cross is refused up front, never thrown from the timer. */
import { afterEach, expect, it } from 'vitest';
import type { AnyRef } from '../../src/index.js';
import { GenServer, NotCloneableError, Registry } from '../../src/index.js';
import type { TestNode } from '../threads/helpers.js';
import { TREE, eventually, startNode, threadChild } from '../threads/helpers.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.shutdown();
  node = undefined;
});

it('refuses an uncloneable message to another thread with NotCloneableError naming the path; a good one arrives', async () => {
  node = await startNode([threadChild('t1', TREE, { name: 'w1' })]);
  const w1 = (await eventually(
    async () => Registry.whereis('w1'),
    (r) => r !== undefined,
  )) as AnyRef;
  expect(() => GenServer.sendAfter(w1, { payload: { f: () => 1 } }, 5)).toThrow(NotCloneableError);
  try {
    GenServer.sendAfter(w1, { payload: { f: () => 1 } }, 5);
  } catch (e) {
    expect((e as NotCloneableError).path).toBe('message.payload.f');
  }
  const t = GenServer.sendAfter(w1, { type: 'hello' }, 5);
  expect(t.target).toEqual(w1);
});
