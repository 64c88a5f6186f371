/**
 * The seed's Registry API: isRegistered, getNames, count; keyed registries' lookupAll,
 * select, match (globs), metadata, keys, counts, unregisterMatch, close; and
 * `{ via: reg, key }` names for GenServer.start / call / cast / send / stop / isRunning.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef, GenServerBehavior, KeyedRegistry } from '../src/index.js';
import {
  AlreadyRegisteredError,
  GenServer,
  InitFailedError,
  InvalidArgumentError,
  NoProcessError,
  NotRegisteredError,
  Registry,
  RuntimeClosedError,
  sameRef,
} from '../src/index.js';
import { freshRuntime, waitFor } from '../src/testing.js';
import { exitProcess, failure, worker } from './helpers.js';

let env: ReturnType<typeof freshRuntime>;
beforeEach(() => {
  env = freshRuntime();
});
afterEach(() => env.dispose());

describe('Registry (unique names): isRegistered, getNames, count', () => {
  it('reports registered names and follows exits', async () => {
    expect(Registry.count()).toBe(0);
    const a = await GenServer.start(worker('a'), { name: 'a' });
    await GenServer.start(worker('b'), { name: 'b' });
    expect(Registry.isRegistered('a')).toBe(true);
    expect(Registry.isRegistered('zzz')).toBe(false);
    expect(Registry.getNames().sort()).toEqual(['a', 'b']);
    expect(Registry.getNames()).toEqual(Registry.registered());
    expect(Registry.count()).toBe(2);
    await GenServer.stop(a);
    expect(Registry.isRegistered('a')).toBe(false);
    expect(Registry.count()).toBe(1);
  });

  it('isRegistered rejects a bad name with InvalidArgumentError', () => {
    expect(() => Registry.isRegistered('')).toThrow(InvalidArgumentError);
    expect(() => Registry.isRegistered(7 as unknown as string)).toThrow(InvalidArgumentError);
  });
});

/** Starts `n` plain workers. */
async function workers(n: number): Promise<AnyRef[]> {
  const out: AnyRef[] = [];
  for (let i = 0; i < n; i++) out.push(await GenServer.start(worker(`w${i}`)));
  return out;
}

describe('KeyedRegistry queries', () => {
  it('lookupAll returns every entry under a key, like lookup', async () => {
    const reg = Registry.create<string>({ keys: 'duplicate' });
    const [a, b] = (await workers(2)) as [AnyRef, AnyRef];
    reg.register('t', a, 'x');
    reg.register('t', b, 'y');
    expect(reg.lookupAll('t').map((e) => e.value)).toEqual(['x', 'y']);
    expect(reg.lookupAll('t')).toEqual(reg.lookup('t'));
    expect(reg.lookupAll('none')).toEqual([]);
  });

  it('select filters entries of every key by (key, entry)', async () => {
    const reg = Registry.create<number>({ keys: 'duplicate' });
    const [a, b] = (await workers(2)) as [AnyRef, AnyRef];
    reg.register('x', a, 1);
    reg.register('x', b, 2);
    reg.register('y', a, 3);
    expect(reg.select((_k, e) => e.value >= 2).map((e) => [e.key, e.value])).toEqual([
      ['x', 2],
      ['y', 3],
    ]);
    expect(reg.select((k) => k === 'y').map((e) => sameRef(e.ref, a))).toEqual([true]);
    expect(() => reg.select('x' as never)).toThrow(InvalidArgumentError);
  });

  it('keys, count and countForKey', async () => {
    const reg = Registry.create({ keys: 'duplicate' });
    const [a, b] = (await workers(2)) as [AnyRef, AnyRef];
    reg.register('x', a);
    reg.register('x', b);
    reg.register('y', b);
    expect(reg.keys()).toEqual(['x', 'y']);
    expect(reg.count()).toBe(3);
    expect(reg.countForKey('x')).toBe(2);
    expect(reg.countForKey('nope')).toBe(0);
    await exitProcess(b, 'normal');
    expect(reg.keys()).toEqual(['x']);
    expect(reg.countForKey('x')).toBe(1);
    expect(() => reg.countForKey('')).toThrow(InvalidArgumentError);
  });
});

describe('KeyedRegistry.match (globs over keys)', () => {
  let reg: KeyedRegistry;
  const keys = ['user/1', 'user/2', 'user/1/posts', 'user/10', 'admin/1', 'a.b', 'axb', 'a+b'];
  beforeEach(async () => {
    reg = Registry.create({ keys: 'unique' });
    const refs = await workers(keys.length);
    for (const [i, k] of keys.entries()) reg.register(k, refs[i] as AnyRef);
  });
  const matched = (pattern: string): string[] => reg.match(pattern).map((e) => e.key);

  it('* stays within a segment, ** crosses /, ? is one character', () => {
    expect(matched('user/*')).toEqual(['user/1', 'user/2', 'user/10']);
    expect(matched('user/**')).toEqual(['user/1', 'user/2', 'user/1/posts', 'user/10']);
    expect(matched('user/?')).toEqual(['user/1', 'user/2']);
    expect(matched('*/1')).toEqual(['user/1', 'admin/1']);
    expect(matched('**')).toEqual(keys);
    expect(matched('user/1')).toEqual(['user/1']);
    expect(matched('user')).toEqual([]);
  });

  it('treats regular-expression characters as literals, and \\ escapes', () => {
    expect(matched('a.b')).toEqual(['a.b']);
    expect(matched('a+b')).toEqual(['a+b']);
    expect(matched('a?b')).toEqual(['a.b', 'axb', 'a+b']);
    expect(matched('a\\?b')).toEqual([]);
  });

  it('rejects an empty, over-long or non-string pattern with InvalidArgumentError', () => {
    expect(() => reg.match('')).toThrow(InvalidArgumentError);
    expect(() => reg.match('*'.repeat(1025))).toThrow(InvalidArgumentError);
    expect(() => reg.match(/user/ as unknown as string)).toThrow(InvalidArgumentError);
  });

  it('stays fast on a pathological pattern', () => {
    const long = Registry.create({ keys: 'unique' });
    long.register('a'.repeat(1000), reg.lookup('user/1')[0]?.ref as AnyRef);
    const t0 = Date.now();
    expect(long.match(`${'*a'.repeat(300)}b`)).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

describe('KeyedRegistry metadata', () => {
  it('getMetadata reads the value; updateMetadata sets it from a value or a function', async () => {
    const reg = Registry.create<{ n: number }>({ keys: 'unique' });
    const [a] = (await workers(1)) as [AnyRef];
    reg.register('k', a, { n: 1 });
    expect(reg.getMetadata('k', a)).toEqual({ n: 1 });
    expect(reg.updateMetadata('k', a, (old) => ({ n: old.n + 1 }))).toEqual({ n: 2 });
    expect(reg.updateMetadata('k', a, { n: 10 })).toEqual({ n: 10 });
    expect(reg.lookup('k')[0]?.value).toEqual({ n: 10 });
  });

  it('throws NotRegisteredError for a ref without an entry under the key', async () => {
    const reg = Registry.create({ keys: 'duplicate' });
    const [a, b] = (await workers(2)) as [AnyRef, AnyRef];
    reg.register('k', a);
    expect(() => reg.getMetadata('k', b)).toThrow(NotRegisteredError);
    expect(() => reg.updateMetadata('other', a, 1)).toThrow(NotRegisteredError);
    expect(() => reg.getMetadata('k', 'a' as unknown as AnyRef)).toThrow(InvalidArgumentError);
  });
});

describe('KeyedRegistry.unregisterMatch', () => {
  it("removes ref's entries under a key whose value matches, and returns how many", async () => {
    const reg = Registry.create<string>({ keys: 'duplicate' });
    const [a, b] = (await workers(2)) as [AnyRef, AnyRef];
    reg.register('t', a, 'keep');
    reg.register('t', b, 'x');
    expect(reg.unregisterMatch('t', a, (v) => v === 'drop')).toBe(0);
    expect(reg.countForKey('t')).toBe(2);
    expect(reg.unregisterMatch('t', a)).toBe(1);
    expect(reg.lookup('t').map((e) => e.value)).toEqual(['x']);
    expect(reg.keysOf(a)).toEqual([]);
    expect(() => reg.unregisterMatch('t', b, 'x' as never)).toThrow(InvalidArgumentError);
  });
});

describe('KeyedRegistry.close', () => {
  it('drops every entry and makes later calls throw RuntimeClosedError', async () => {
    const reg = Registry.create({ keys: 'unique' });
    const [a] = (await workers(1)) as [AnyRef];
    reg.register('k', a);
    reg.close();
    reg.close(); // idempotent
    expect(reg.isClosed).toBe(true);
    for (const op of [() => reg.lookup('k'), () => reg.count(), () => reg.keys(), () => reg.register('j', a), () => reg.match('*')]) {
      expect(op).toThrow(RuntimeClosedError);
      expect(op).toThrow(/: the registry is closed$/);
    }
    // The process lives on; a { via } name through a closed registry finds nobody.
    expect(GenServer.isRunning(a)).toBe(true);
    expect(GenServer.isRunning({ via: reg, key: 'k' })).toBe(false);
  });
});

describe('{ via: reg, key } names', () => {
  type CounterP = { call: ['get', number]; cast: 'inc'; info: 'inc' };
  const counter: GenServerBehavior<number, CounterP> = {
    init: () => 0,
    handleCall: (_m, n) => [n, n],
    handleCast: (_m, n) => n + 1,
    handleInfo: (_m, n) => n + 1,
  };

  it('start registers before init; call, cast, send, isRunning and stop resolve through it', async () => {
    const reg = Registry.create({ keys: 'unique' });
    const seen: number[] = [];
    const probe: GenServerBehavior<number, CounterP> = {
      ...counter,
      init: () => {
        seen.push(reg.countForKey('c'));
        return 0;
      },
    };
    const via = { via: reg, key: 'c' };
    const ref = await GenServer.start(probe, { name: via });
    expect(seen).toEqual([1]);
    expect(sameRef(reg.lookup('c')[0]?.ref as AnyRef, ref)).toBe(true);
    GenServer.cast(via, 'inc');
    GenServer.send(via, 'inc');
    expect(await GenServer.call(via, 'get')).toBe(2);
    expect(GenServer.isRunning(via)).toBe(true);
    await GenServer.stop(via);
    expect(GenServer.isRunning(via)).toBe(false);
    expect(reg.countForKey('c')).toBe(0);
  });

  it('rejects a taken key with AlreadyRegisteredError and leaves the holder', async () => {
    const reg = Registry.create({ keys: 'unique' });
    const first = await GenServer.start(counter, { name: { via: reg, key: 'c' } });
    const err = await failure(() => GenServer.start(counter, { name: { via: reg, key: 'c' } }));
    expect(err).toBeInstanceOf(AlreadyRegisteredError);
    expect(sameRef(reg.lookup('c')[0]?.ref as AnyRef, first)).toBe(true);
    expect(reg.count()).toBe(1);
  });

  it('releases the key when init fails', async () => {
    const reg = Registry.create({ keys: 'unique' });
    const bad: GenServerBehavior<number, CounterP> = {
      ...counter,
      init: () => {
        throw new Error('no');
      },
    };
    expect(await failure(() => GenServer.start(bad, { name: { via: reg, key: 'c' } }))).toBeInstanceOf(InitFailedError);
    expect(reg.count()).toBe(0);
    await GenServer.start(counter, { name: { via: reg, key: 'c' } });
  });

  it('an absent key: call and stop reject with NoProcessError, cast and send are counted as dropped', async () => {
    const reg = Registry.create({ keys: 'unique' });
    const via = { via: reg, key: 'ghost' } as const;
    const err = await failure(() => GenServer.call(via, 'x'));
    expect(err).toBeInstanceOf(NoProcessError);
    expect((err as Error).message).toContain('via(ghost)');
    expect(await failure(() => GenServer.stop(via))).toBeInstanceOf(NoProcessError);
    const before = env.rt.stats.droppedCasts;
    GenServer.cast(via, 'x');
    GenServer.send(via, 'x');
    expect(env.rt.stats.droppedCasts).toBe(before + 2);
  });

  it('rejects malformed via names with InvalidArgumentError', async () => {
    const dup = Registry.create({ keys: 'duplicate' });
    const uniq = Registry.create({ keys: 'unique' });
    for (const name of [
      { via: dup, key: 'k' },
      { via: uniq, key: '' },
      { via: {}, key: 'k' },
    ]) {
      expect(await failure(() => GenServer.start(counter, { name: name as never }))).toBeInstanceOf(InvalidArgumentError);
      expect(await failure(() => GenServer.call(name as never, 'get'))).toBeInstanceOf(InvalidArgumentError);
      expect(() => GenServer.cast(name as never, 'inc')).toThrow(InvalidArgumentError);
    }
    expect(dup.count() + uniq.count()).toBe(0);
  });

  it('a key freed by an exit can be taken by the next start', async () => {
    const reg = Registry.create({ keys: 'unique' });
    const a = await GenServer.start(worker('a'), { name: { via: reg, key: 'w' } });
    await exitProcess(a, 'killed');
    await waitFor(() => reg.countForKey('w') === 0, 1000, 'release');
    const b = await GenServer.start(worker('b'), { name: { via: reg, key: 'w' } });
    expect(await GenServer.call({ via: reg, key: 'w' }, 'tag')).toBe('b');
    expect(sameRef(reg.lookup('w')[0]?.ref as AnyRef, b)).toBe(true);
  });
});
