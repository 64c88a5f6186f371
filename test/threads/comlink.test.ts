/**
 * comlinkChild: an existing comlink worker (test/fixtures/comlink-worker.mjs) runs under a
 * supervisor. A call works and a thrown error keeps its name and message; a worker that calls
 * process.exit or throws uncaught is restarted, its pending calls reject with a typed error
 * (never hang) and the restarted worker answers; a stop lets calls in flight finish, then
 * terminates the worker and leaves no Worker handle behind.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  ChildStartError,
  InvalidArgumentError,
  Process,
  NoProcessError,
  ServerExitedError,
  Supervisor,
  ThreadExitError,
  comlinkChild,
  comlinkProxy,
  sameRef,
} from '../../src/index.js';
import type { AnyRef, ComlinkChildOptions } from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import type { TestNode } from './helpers.js';
import { BOOT_MS, eventually, startNode } from './helpers.js';

/** The API the fixture exposes. */
interface Api {
  version: number;
  add(a: number, b: number): number;
  id(): number;
  fail(message: string): never;
  crash(message: string): void;
  exit(code: number): void;
  slow(ms: number): Promise<number>;
  hang(): Promise<never>;
}

const WORKER = new URL('../fixtures/comlink-worker.mjs', import.meta.url);

let node: TestNode | undefined;
afterEach(async () => {
  await node?.shutdown();
  node = undefined;
  await waitFor(() => workerHandles().length === 0, BOOT_MS, 'comlink workers gone');
}, BOOT_MS);

/** Worker handles that would keep the process alive (a live worker shows as its MessagePort). */
const workerHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker');

/** Starts a supervisor with one comlink child registered as `calc`. */
async function startCalc(extra: Partial<ComlinkChildOptions> = {}): Promise<TestNode> {
  node = await startNode([comlinkChild({ id: 'calc', module: WORKER, name: 'calc', ...extra })], {
    restartIntensity: { maxRestarts: 5, withinMs: 60_000 },
  });
  return node;
}

/** The calc child's ref once the supervisor runs one that differs from `old`. */
async function restartedRef(n: TestNode, old: AnyRef): Promise<AnyRef> {
  const [c] = await eventually(
    () => Supervisor.getChildren(n.sup),
    ([x]) => x?.ref !== undefined && !sameRef(x.ref, old),
    BOOT_MS,
    'calc restarted',
  );
  return c?.ref as AnyRef;
}

/** Rejection of `p` (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

async function currentRef(n: TestNode): Promise<AnyRef> {
  const [c] = await Supervisor.getChildren(n.sup);
  if (c?.ref === undefined) throw new Error('calc is not running');
  return c.ref;
}

describe('comlinkChild', () => {
  it(
    'answers calls, keeps thrown errors name and message, and finds the proxy by name or ref',
    async () => {
      const n = await startCalc();
      const api = comlinkProxy<Api>('calc');
      expect(await api.add(2, 3)).toBe(5);
      const e = (await rejection(api.fail('nope'))) as Error;
      expect(e.name).toBe('RangeError');
      expect(e.message).toBe('nope');
      expect(await comlinkProxy<Api>(await currentRef(n)).add(1, 1)).toBe(2);
      expect(await api.version).toBe(1);
    },
    BOOT_MS,
  );

  it(
    'restarts a worker that calls process.exit; pending and later calls reject with a typed error',
    async () => {
      const n = await startCalc();
      const old = await currentRef(n);
      const api = comlinkProxy<Api>('calc');
      const firstId = await api.id();
      const pending = rejection(api.hang());
      await api.exit(3);
      const e = await pending;
      expect(ServerExitedError.is(e)).toBe(true);
      const cause = (e as ServerExitedError).cause;
      expect(ThreadExitError.is(cause)).toBe(true);
      expect((cause as ThreadExitError).kind).toBe('exited');
      expect((cause as ThreadExitError).detail).toContain('code 3');
      // The old proxy's worker is dead: calls reject at once.
      expect(ServerExitedError.is(await rejection(api.add(1, 2)))).toBe(true);
      expect(ServerExitedError.is(await rejection(Promise.resolve(api.version)))).toBe(true);
      await restartedRef(n, old);
      const fresh = comlinkProxy<Api>('calc');
      expect(await fresh.add(4, 5)).toBe(9);
      expect(await fresh.id()).not.toBe(firstId);
      const [c] = await Supervisor.getChildren(n.sup);
      expect(c?.restartCount).toBe(1);
    },
    BOOT_MS,
  );

  it(
    'restarts a worker that throws uncaught; the pending call carries the crash',
    async () => {
      const n = await startCalc();
      const old = await currentRef(n);
      const api = comlinkProxy<Api>('calc');
      const pending = rejection(api.hang());
      // crash() answers and then throws outside the call: its answer (on comlink's port) and
      // the worker's death (on the worker's own port) race, so it may resolve or reject.
      await api.crash('boom').catch(() => undefined);
      const e = (await pending) as ServerExitedError;
      expect(ServerExitedError.is(e)).toBe(true);
      const cause = e.cause as ThreadExitError;
      expect(cause.kind).toBe('crashed');
      expect((cause.cause as Error).message).toBe('boom');
      await restartedRef(n, old);
      expect(await comlinkProxy<Api>('calc').add(20, 22)).toBe(42);
    },
    BOOT_MS,
  );

  it(
    'on stop lets a call in flight finish, then terminates the worker: no Worker handle left',
    async () => {
      const n = await startCalc();
      expect(workerHandles().length).toBeGreaterThan(0);
      const api = comlinkProxy<Api>('calc');
      const inFlight = api.slow(100);
      await Supervisor.stop(n.sup);
      expect(await inFlight).toBe(100);
      expect(workerHandles()).toEqual([]);
      expect(ServerExitedError.is(await rejection(api.add(1, 2)))).toBe(true);
    },
    BOOT_MS,
  );

  it(
    'on stop, a call that outlasts shutdownTimeout rejects with ServerExitedError instead of hanging',
    async () => {
      const n = await startCalc({ shutdownTimeout: 50 });
      const api = comlinkProxy<Api>('calc');
      const pending = rejection(api.hang());
      await Supervisor.stop(n.sup);
      const e = (await pending) as ServerExitedError;
      expect(ServerExitedError.is(e)).toBe(true);
      expect(e.reason).toBe('shutdown');
      expect(workerHandles()).toEqual([]);
    },
    BOOT_MS,
  );

  it(
    'brutal_kill terminates the worker at once; its pending call rejects',
    async () => {
      const n = await startCalc({ shutdownTimeout: 'brutal_kill' });
      const api = comlinkProxy<Api>('calc');
      const pending = rejection(api.hang());
      await Supervisor.stop(n.sup);
      const e = (await pending) as ServerExitedError;
      expect(ServerExitedError.is(e)).toBe(true);
      expect(e.reason).toBe('killed');
      await waitFor(() => workerHandles().length === 0, BOOT_MS, 'worker terminated');
    },
    BOOT_MS,
  );

  it(
    'counts worker deaths against the restart intensity: the supervisor gives up',
    async () => {
      node = await startNode([comlinkChild({ id: 'calc', module: WORKER, name: 'calc' })], {
        restartIntensity: { maxRestarts: 0, withinMs: 60_000 },
      });
      const down = Process.awaitExit(node.sup);
      await comlinkProxy<Api>('calc').exit(1);
      expect(await down).toEqual({ shutdown: 'reached_max_restart_intensity' });
      await waitFor(() => workerHandles().length === 0, BOOT_MS, 'worker gone');
    },
    BOOT_MS,
  );

  it(
    'fails the child start when the module cannot load, leaving no worker',
    async () => {
      const missing = new URL('../fixtures/no-such-comlink-worker.mjs', import.meta.url);
      const e = await rejection(startNode([comlinkChild({ id: 'x', module: missing })]));
      expect(e).toBeInstanceOf(ChildStartError);
      await waitFor(() => workerHandles().length === 0, BOOT_MS, 'worker gone');
    },
    BOOT_MS,
  );
});

describe('comlinkChild arguments', () => {
  it('refuses bad options with InvalidArgumentError', () => {
    const bad: unknown[] = [
      undefined,
      { id: '', module: WORKER },
      { id: 'a', module: 'worker.ts' },
      { id: 'a', module: 42 },
      { id: 'a', module: WORKER, shutdownTimeout: -1 },
      { id: 'a', module: WORKER, initTimeout: Number.NaN },
      { id: 'a', module: WORKER, restart: 'sometimes' },
      { id: 'a', module: WORKER, name: '' },
      { id: 'a', module: WORKER, workerOptions: { eval: true } },
    ];
    for (const o of bad) expect(() => comlinkChild(o as ComlinkChildOptions)).toThrow(InvalidArgumentError);
  });

  it(
    'comlinkProxy refuses a non-owner and a missing name',
    async () => {
      node = await startNode([]);
      expect(() => comlinkProxy(42 as unknown as string)).toThrow(InvalidArgumentError);
      expect(() => comlinkProxy('nobody')).toThrow(NoProcessError);
      expect(() => comlinkProxy(node?.sup as unknown as AnyRef)).toThrow(InvalidArgumentError);
    },
    BOOT_MS,
  );
});
