/**
 * Node-wide names across threads (Registry names are node-wide) and direct
 * worker ↔ worker messaging. Two thread subtrees (thread-extras: probes `r1`/`r1.b` and
 * `r2`/`r2.b`) serve the file; the last test stops one of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRef, GenServerBehavior, Ref } from '../../src/index.js';
import { AlreadyRegisteredError, ErrorCode, GenServer, Registry, Supervisor, Threads, sameRef } from '../../src/index.js';
import type { ClaimResult, ProbeProtocol } from '../fixtures/thread-extras.js';
import { failure } from '../helpers.js';
import type { TestNode } from './helpers.js';
import { BOOT_MS, EXTRAS, eventually, startNode, threadChild } from './helpers.js';

let node: TestNode;
let thread1: number;
let thread2: number;

beforeAll(async () => {
  node = await startNode([threadChild('t1', EXTRAS, { name: 'r1' }), threadChild('t2', EXTRAS, { name: 'r2' })]);
  const [c1, c2] = await Supervisor.getChildren(node.sup);
  thread1 = (await Threads.info(c1?.ref as AnyRef)).thread;
  thread2 = (await Threads.info(c2?.ref as AnyRef)).thread;
}, BOOT_MS);

afterAll(() => node?.shutdown(), BOOT_MS);

const ask = <M extends ProbeProtocol['call'][0]>(name: string, msg: M) => GenServer.call(name as unknown as Ref<ProbeProtocol>, msg);

/** Where each thread (main, t1, t2) sees `name`. */
async function views(name: string): Promise<(AnyRef | null)[]> {
  return [Registry.whereis(name) ?? null, await ask('r1', { type: 'whereis', name }), await ask('r2', { type: 'whereis', name })];
}

const holderStop = (name: string) => GenServer.call(name as unknown as Ref<{ call: ['stop', 'ok'] }>, 'stop');

describe('node-wide Registry', () => {
  it('a name registered in a worker is visible from main and from the other worker', async () => {
    expect(thread1).not.toBe(thread2);
    const r1 = Registry.lookup('r1');
    expect(r1.thread).toBe(thread1);
    expect(Registry.whereis('r2')?.thread).toBe(thread2);
    expect(Registry.registered()).toEqual(expect.arrayContaining(['r1', 'r1.b', 'r2', 'r2.b']));
    const [, fromT1, fromT2] = await views('r1');
    expect(fromT1).toEqual(r1);
    expect(fromT2).toEqual(r1);
    // A name claimed later, at run time, reaches every thread too.
    const claimed = (await ask('r1', { type: 'claim', name: 'late' })) as ClaimResult & { ok: true };
    expect(claimed.ok).toBe(true);
    expect(Registry.whereis('late')).toEqual(claimed.ref);
    await eventually(
      () => views('late'),
      (v) => v.every((r) => r !== null && sameRef(r, claimed.ref)),
      10_000,
      'late visible everywhere',
    );
    await holderStop('late');
    await eventually(
      () => views('late'),
      (v) => v.every((r) => r === null),
      10_000,
      'late gone everywhere',
    );
  });

  it('a name registered on main is visible in the workers, and a worker cannot take it', async () => {
    const idle: GenServerBehavior<null> = { init: () => null };
    const mainRef = await GenServer.start(idle, { name: 'main.owned' });
    await eventually(
      () => views('main.owned'),
      (v) => v.every((r) => r !== null && sameRef(r, mainRef)),
      10_000,
      'main.owned everywhere',
    );
    const r = (await ask('r2', { type: 'claim', name: 'main.owned' })) as ClaimResult & { ok: false };
    expect(r.ok).toBe(false);
    expect(r.isAlreadyRegistered).toBe(true);
    expect(r.code).toBe(ErrorCode.ALREADY_REGISTERED);
    // And main cannot take a worker's name.
    const err = await failure(() => GenServer.start(idle, { name: 'r2' }));
    expect(err).toBeInstanceOf(AlreadyRegisteredError);
    await GenServer.stop(mainRef);
    await eventually(
      () => views('main.owned'),
      (v) => v.every((x) => x === null),
      10_000,
      'main.owned gone everywhere',
    );
  });

  it('two workers racing for one name: exactly one wins, the other gets AlreadyRegisteredError', async () => {
    for (let round = 0; round < 5; round++) {
      const name = `contested.${round}`;
      const results = await Promise.all([ask('r1', { type: 'claim', name }), ask('r2', { type: 'claim', name })]);
      const winners = results.filter((r) => r.ok) as (ClaimResult & { ok: true })[];
      const losers = results.filter((r) => !r.ok) as (ClaimResult & { ok: false })[];
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(1);
      expect(losers[0]?.isAlreadyRegistered).toBe(true);
      expect(losers[0]?.name).toBe('AlreadyRegisteredError');
      expect(losers[0]?.code).toBe(ErrorCode.ALREADY_REGISTERED);
      const winner = winners[0]?.ref as AnyRef;
      expect(Registry.whereis(name)).toEqual(winner);
      await eventually(
        () => views(name),
        (v) => v.every((r) => r !== null && sameRef(r, winner)),
        10_000,
        `${name} agreed`,
      );
      // When the holder dies, its name vanishes on every thread.
      await holderStop(name);
      await eventually(
        () => views(name),
        (v) => v.every((r) => r === null),
        10_000,
        `${name} released`,
      );
    }
  });

  it('a worker process calls a process on another worker directly, by name and by ref', async () => {
    expect(await ask('r1', { type: 'call', target: 'r2', msg: { type: 'thread' } })).toBe(thread2);
    expect(await ask('r2', { type: 'call', target: 'r1.b', msg: { type: 'thread' } })).toBe(thread1);
    const r2b = Registry.lookup('r2.b');
    expect(await ask('r1', { type: 'call', target: r2b, msg: { type: 'echo', value: new Map([[1, 2]]) } })).toEqual(new Map([[1, 2]]));
    // Many round trips in a row stay ordered and complete.
    const sums = await Promise.all(
      Array.from({ length: 50 }, (_, i) => ask('r1', { type: 'call', target: 'r2.b', msg: { type: 'echo', value: i } })),
    );
    expect(sums).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('when a whole thread stops, its names vanish from main and from the other worker', async () => {
    const claimed = (await ask('r2', { type: 'claim', name: 'on.t2' })) as ClaimResult & { ok: true };
    expect(claimed.ok).toBe(true);
    await eventually(
      () => views('on.t2'),
      (v) => v.every((r) => r !== null),
      10_000,
      'on.t2 everywhere',
    );
    await Supervisor.terminateChild(node.sup, 't2');
    expect(Threads.count()).toBe(1);
    for (const name of ['r2', 'r2.b', 'on.t2']) expect(Registry.whereis(name)).toBeUndefined();
    // The thread_down notice reached t1 before the stop finished (same channel, in order).
    for (const name of ['r2', 'r2.b', 'on.t2']) expect(await ask('r1', { type: 'whereis', name })).toBeNull();
    // A call from t1 to the dead thread fails fast with a typed error instead of hanging.
    const err = await failure(() => ask('r1', { type: 'call', target: claimed.ref, msg: 'stop', timeout: 20_000 }));
    expect((err as Error & { code: string }).code).toBe(ErrorCode.SERVER_EXITED);
  });
});
