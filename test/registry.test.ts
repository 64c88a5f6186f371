/**
 * The unique name registry and keyed registries (pub/sub).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef, GenServerBehavior, Ref, RegistryEntry } from '../src/index.js';
import {
  AlreadyRegisteredError,
  ErrorCode,
  GenServer,
  InitFailedError,
  InvalidArgumentError,
  NoProcessError,
  NotRegisteredError,
  Process,
  Registry,
  sameRef,
} from '../src/index.js';
import { freshRuntime } from '../src/testing.js';
import type { WorkerProtocol } from './helpers.js';
import { exitProcess, failure, worker } from './helpers.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

describe('Registry (unique names)', () => {
  it('register, lookup, whereis and unregister', async () => {
    const ref = await GenServer.start(worker('a'));
    await Registry.register('alpha', ref);
    expect(sameRef(Registry.lookup('alpha'), ref)).toBe(true);
    expect(sameRef(Registry.whereis('alpha') as AnyRef, ref)).toBe(true);
    expect(Registry.registered()).toEqual(['alpha']);
    expect(await GenServer.call<WorkerProtocol, 'tag'>('alpha', 'tag')).toBe('a');

    expect(Registry.unregister('alpha')).toBe(true);
    expect(Registry.unregister('alpha')).toBe(false);
    expect(Registry.whereis('alpha')).toBeUndefined();
    const err = await failure(() => Registry.lookup('alpha'));
    expect(err).toBeInstanceOf(NotRegisteredError);
    expect((err as NotRegisteredError).code).toBe(ErrorCode.NOT_REGISTERED);
    // Unregistering does not stop the process.
    expect(GenServer.isRunning(ref)).toBe(true);
  });

  it('rejects a name held by another live process with AlreadyRegisteredError', async () => {
    const a = await GenServer.start(worker('a'));
    const b = await GenServer.start(worker('b'));
    await Registry.register('taken', a);
    const err = await failure(() => Registry.register('taken', b));
    expect(err).toBeInstanceOf(AlreadyRegisteredError);
    expect((err as AlreadyRegisteredError).code).toBe(ErrorCode.ALREADY_REGISTERED);
    expect(sameRef(Registry.lookup('taken'), a)).toBe(true);
    // Registering the same name again for its holder is allowed.
    await Registry.register('taken', a);
  });

  it('lets one process hold several names', async () => {
    const a = await GenServer.start(worker('a'));
    await Registry.register('n1', a);
    await Registry.register('n2', a);
    expect(Registry.registered().sort()).toEqual(['n1', 'n2']);
  });

  it.each(['normal', 'error', 'killed'] as const)('removes the names of a process that exits (%s)', async (kind) => {
    const a = await GenServer.start(worker('a'));
    await Registry.register('n1', a);
    await Registry.register('n2', a);
    await exitProcess(a, kind);
    expect(Registry.whereis('n1')).toBeUndefined();
    expect(Registry.whereis('n2')).toBeUndefined();
    expect(Registry.registered()).toEqual([]);
    // The name is free for someone else.
    const b = await GenServer.start(worker('b'));
    await Registry.register('n1', b);
    expect(sameRef(Registry.lookup('n1'), b)).toBe(true);
  });

  it('rejects registering a dead process with NoProcessError', async () => {
    const a = await GenServer.start(worker('a'));
    await GenServer.stop(a);
    expect(NoProcessError.is(await failure(() => Registry.register('late', a)))).toBe(true);
    expect(Registry.whereis('late')).toBeUndefined();
  });
});

describe('GenServer.start name option', () => {
  it('registers the process and releases the name when it exits', async () => {
    const ref = await GenServer.start(worker('a'), { name: 'svc' });
    expect(sameRef(Registry.lookup('svc'), ref)).toBe(true);
    await GenServer.stop('svc');
    expect(Registry.whereis('svc')).toBeUndefined();
  });

  it('fails with AlreadyRegisteredError when the name is taken, leaving the holder alone', async () => {
    const first = await GenServer.start(worker('a'), { name: 'svc' });
    const err = await failure(() => GenServer.start(worker('b'), { name: 'svc' }));
    expect(AlreadyRegisteredError.is(err)).toBe(true);
    expect(sameRef(Registry.lookup('svc'), first)).toBe(true);
    expect(env.rt.procs.size).toBe(1);
  });

  it('does not take the name when the process dies before init (linked to a parent that is gone)', async () => {
    const parent = await GenServer.start(worker('p'));
    await GenServer.stop(parent);
    const init: string[] = [];
    const err = await failure(() => GenServer.start(worker('c', init), { name: 'svc', link: parent }));
    expect(InitFailedError.is(err)).toBe(true);
    expect((err as InitFailedError).reason).toBe('noproc');
    expect(init).toEqual([]);
    expect(Registry.whereis('svc')).toBeUndefined();
    const ref = await GenServer.start(worker('d'), { name: 'svc' });
    expect(sameRef(Registry.lookup('svc'), ref)).toBe(true);
  });

  it('releases the name when init fails, so the next start can take it', async () => {
    const failing: GenServerBehavior<string, WorkerProtocol> = {
      init: () => {
        throw new Error('no');
      },
    };
    await failure(() => GenServer.start(failing, { name: 'svc' }));
    expect(Registry.whereis('svc')).toBeUndefined();
    const ref = await GenServer.start(worker('b'), { name: 'svc' });
    expect(sameRef(Registry.lookup('svc'), ref)).toBe(true);
  });
});

describe('KeyedRegistry', () => {
  it("with keys 'duplicate' holds many entries per key and dispatches to all of them", async () => {
    const reg = Registry.create<{ topic: string }>({ keys: 'duplicate' });
    const a = await GenServer.start(worker('a'));
    const b = await GenServer.start(worker('b'));
    reg.register('news', a, { topic: 'a' });
    reg.register('news', b, { topic: 'b' });
    reg.register('sport', a, { topic: 'a-sport' });
    expect(reg.lookup('news').map((e) => e.value.topic)).toEqual(['a', 'b']);
    expect(reg.keysOf(a).sort()).toEqual(['news', 'sport']);
    expect(reg.count()).toBe(3);

    let got: RegistryEntry<{ topic: string }>[] = [];
    expect(reg.dispatch('news', (entries) => (got = entries))).toBe(2);
    expect(got.map((e) => e.ref)).toEqual([a, b]);
    expect(reg.dispatch('nobody', () => expect.fail('no entries to dispatch to'))).toBe(0);

    // Pub/sub: fan a cast out to every subscriber.
    const exits = [a, b].map((r) => Process.awaitExit(r));
    reg.dispatch('news', (entries) => {
      for (const e of entries) GenServer.cast(e.ref as Ref<WorkerProtocol>, { exit: 'shutdown' });
    });
    expect(await Promise.all(exits)).toEqual(['shutdown', 'shutdown']);
    expect(reg.count()).toBe(0);
  });

  it('drops the entries of a process when it exits', async () => {
    const reg = Registry.create({ keys: 'duplicate' });
    const a = await GenServer.start(worker('a'));
    const b = await GenServer.start(worker('b'));
    reg.register('k', a);
    reg.register('k', b);
    reg.register('k2', a);
    await exitProcess(a, 'error');
    expect(reg.lookup('k').map((e) => e.ref)).toEqual([b]);
    expect(reg.lookup('k2')).toEqual([]);
    expect(reg.keysOf(a)).toEqual([]);
    expect(reg.count()).toBe(1);
  });

  it('unregister removes one entry and keeps the others', async () => {
    const reg = Registry.create({ keys: 'duplicate' });
    const a = await GenServer.start(worker('a'));
    reg.register('k', a);
    reg.register('k2', a);
    reg.unregister('k', a);
    expect(reg.lookup('k')).toEqual([]);
    expect(reg.keysOf(a)).toEqual(['k2']);
  });

  it("with keys 'unique' rejects a second entry under a key with AlreadyRegisteredError", async () => {
    const reg = Registry.create({ keys: 'unique' });
    const a = await GenServer.start(worker('a'));
    const b = await GenServer.start(worker('b'));
    reg.register('only', a);
    expect(() => reg.register('only', b)).toThrow(AlreadyRegisteredError);
    await exitProcess(a, 'killed');
    reg.register('only', b);
    expect(reg.lookup('only').map((e) => e.ref)).toEqual([b]);
  });

  it('rejects a dead process with NoProcessError and bad options with InvalidArgumentError', async () => {
    const reg = Registry.create({ keys: 'duplicate' });
    const a = await GenServer.start(worker('a'));
    await GenServer.stop(a);
    expect(() => reg.register('k', a)).toThrow(NoProcessError);
    expect(() => Registry.create({ keys: 'many' as 'unique' })).toThrow(InvalidArgumentError);
  });
});
