/**
 * afterTurn: the end-of-turn hook the node links and connections flush on. It runs after every
 * microtask of the turn (reactions many hops deep included), before the next macrotask; batch
 * callbacks before write callbacks; callbacks queued while it runs run in the same pass; a
 * callback that throws does not lose the others.
 */
import { describe, expect, it } from 'vitest';
import { Late, afterTurn } from '../../src/transport/transport.js';

const nextMacrotask = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('afterTurn', () => {
  it('runs after every microtask of the turn, before the next macrotask', async () => {
    const order: string[] = [];
    let deep = Promise.resolve();
    for (let i = 0; i < 10; i++) deep = deep.then(() => undefined);
    void deep.then(() => order.push('reaction 11 hops deep'));
    afterTurn(() => order.push('late'), Late.Batches);
    setImmediate(() => order.push('macrotask'));
    queueMicrotask(() => order.push('microtask'));
    await nextMacrotask();
    await nextMacrotask();
    expect(order).toEqual(['microtask', 'reaction 11 hops deep', 'late', 'macrotask']);
  });

  it('runs batch callbacks before write callbacks, whatever order they were queued in', async () => {
    const order: string[] = [];
    afterTurn(() => order.push('write 1'), Late.Writes);
    afterTurn(() => order.push('batch 1'), Late.Batches);
    afterTurn(() => order.push('write 2'), Late.Writes);
    afterTurn(() => order.push('batch 2'), Late.Batches);
    await nextMacrotask();
    expect(order).toEqual(['batch 1', 'batch 2', 'write 1', 'write 2']);
  });

  it('runs callbacks queued while it runs in the same pass (a flush that posts to a socket)', async () => {
    const order: string[] = [];
    afterTurn(() => {
      order.push('batch');
      afterTurn(() => order.push('write queued by the batch'), Late.Writes);
    }, Late.Batches);
    afterTurn(() => {
      order.push('write');
      afterTurn(() => order.push('batch queued by a write'), Late.Batches);
    }, Late.Writes);
    setImmediate(() => order.push('macrotask'));
    await nextMacrotask();
    await nextMacrotask();
    expect(order).toEqual(['batch', 'write', 'batch queued by a write', 'write queued by the batch', 'macrotask']);
  });

  it('a callback that throws does not lose the ones after it', async () => {
    const ran: string[] = [];
    const errors: unknown[] = [];
    const onError = (e: unknown): void => {
      errors.push(e);
    };
    process.on('uncaughtException', onError);
    try {
      afterTurn(() => {
        throw new Error('boom');
      }, Late.Batches);
      afterTurn(() => ran.push('after the throw'), Late.Batches);
      afterTurn(() => ran.push('write'), Late.Writes);
      await nextMacrotask();
      await nextMacrotask();
    } finally {
      process.off('uncaughtException', onError);
    }
    expect(ran).toEqual(['after the throw', 'write']);
    expect(errors).toHaveLength(1);
  });
});
