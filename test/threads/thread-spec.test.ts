/**
 * The `thread:` entry of a child spec is checked when the supervisor gets it: every field that
 * is wrong fails `Supervisor.start` with InvalidArgumentError naming that field (args that
 * cannot be cloned: NotCloneableError naming the path), and no worker starts. `watchdogMs` is
 * at least 100 ms or Infinity (no watchdog); long or infinite durations set no overflowing
 * timer on either side (Node would clamp one to 1 ms and warn).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ThreadSpec } from '../../src/index.js';
import { GenServer, InvalidArgumentError, NotCloneableError, Registry, Supervisor, Threads } from '../../src/index.js';
import { freshRuntime } from '../../src/testing.js';
import { NodeThreads } from '../../src/threads/node-threads.js';
import { DEFAULT_WATCHDOG_MS, MAX_BEAT_MS, MIN_WATCHDOG_MS, heartbeatMs, validateThreadSpec } from '../../src/threads/thread-spec.js';
import type { WorkerProtocol } from '../fixtures/tree.js';
import { failure } from '../helpers.js';
import type { TestNode } from './helpers.js';
import { TREE, reap, startNode } from './helpers.js';

let node: TestNode | undefined;
afterEach(async () => {
  await node?.shutdown();
  node = undefined;
});

/** Starts a supervisor with one thread child; returns the rejection, checking that no worker was started. */
async function rejected(thread: unknown): Promise<Error> {
  const env = freshRuntime();
  try {
    const e = await failure(() => Supervisor.start({ children: [{ id: 'bad', thread: thread as ThreadSpec }] }));
    expect(NodeThreads.of(env.rt).links.threads()).toEqual([]);
    return e as Error;
  } finally {
    await reap(env.rt);
    env.dispose();
  }
}

const base = { module: TREE };

describe('thread spec validation at supervisor start', () => {
  it.each([
    ['watchdogMs', { watchdogMs: 0 }],
    ['watchdogMs', { watchdogMs: -1 }],
    ['watchdogMs', { watchdogMs: 50 }],
    ['watchdogMs', { watchdogMs: Number.NaN }],
    ['watchdogMs', { watchdogMs: 'abc' }],
    ['watchdogMs', { watchdogMs: null }],
    ['watchdogMs', { watchdogMs: Number.NEGATIVE_INFINITY }],
    ['initTimeout', { initTimeout: -1 }],
    ['initTimeout', { initTimeout: Number.NaN }],
    ['initTimeout', { initTimeout: '30s' }],
    ['module', { module: '' }],
    ['module', { module: 42 }],
    ['module', { module: undefined }],
    ['module', { module: 'https://example.com/tree.js' }],
    ['export', { export: '' }],
    ['export', { export: 7 }],
    ['resourceLimits', { resourceLimits: 64 }],
    ['resourceLimits.maxOldGenerationSizeMb', { resourceLimits: { maxOldGenerationSizeMb: -1 } }],
    ['resourceLimits.stackSizeMb', { resourceLimits: { stackSizeMb: Number.NaN } }],
    ['resourceLimits.maxOldGenerationSizeMB', { resourceLimits: { maxOldGenerationSizeMB: 64 } }],
    ['standby', { standby: 'yes' }],
    ['watchdog', { watchdog: 1000 }],
  ])('%s: %j is refused, naming the field', async (field, fields) => {
    const e = (await rejected({ ...base, ...fields })) as InvalidArgumentError;
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.argument).toBe(`child spec "bad" thread.${field}`);
  });

  it('a spec that is not an object is refused', async () => {
    const e = (await rejected('tree.ts')) as InvalidArgumentError;
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect(e.argument).toBe('child spec "bad" thread');
  });

  it('args that cannot be cloned to a worker are refused with NotCloneableError naming the path', async () => {
    const e = (await rejected({ ...base, args: { name: 'w', deep: [{ f: () => 1 }] } })) as NotCloneableError;
    expect(e).toBeInstanceOf(NotCloneableError);
    expect(e.path).toBe('thread.args.deep[0].f');
  });

  it('the message says what is expected', async () => {
    const e = await rejected({ ...base, watchdogMs: 0 });
    expect(e.message).toBe(
      'invalid child spec "bad" thread.watchdogMs: expected a number of milliseconds >= 100 or Infinity, got 0 (Infinity turns the watchdog off)',
    );
  });

  it('accepts the documented range', () => {
    for (const watchdogMs of [MIN_WATCHDOG_MS, DEFAULT_WATCHDOG_MS, 2 ** 40, Number.POSITIVE_INFINITY]) {
      expect(() => validateThreadSpec({ ...base, watchdogMs })).not.toThrow();
    }
    for (const initTimeout of [0, 500, 2 ** 40, Number.POSITIVE_INFINITY]) {
      expect(() => validateThreadSpec({ ...base, initTimeout })).not.toThrow();
    }
    expect(() =>
      validateThreadSpec({
        module: 'file:///tmp/tree.js',
        export: 'tree',
        args: { n: 1, m: new Map([[1, new Date()]]) },
        resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 8, codeRangeSizeMb: 16, stackSizeMb: 4 },
        standby: false,
      }),
    ).not.toThrow();
  });
});

describe('heartbeat interval', () => {
  it('is a quarter of the watchdog, at most MAX_BEAT_MS, and none for Infinity', () => {
    expect(heartbeatMs(MIN_WATCHDOG_MS)).toBe(25);
    expect(heartbeatMs(DEFAULT_WATCHDOG_MS)).toBe(1250);
    expect(heartbeatMs(60_000)).toBe(MAX_BEAT_MS);
    expect(heartbeatMs(2 ** 40)).toBe(MAX_BEAT_MS);
    expect(heartbeatMs(Number.POSITIVE_INFINITY)).toBe(0);
  });
});

describe('long and infinite watchdogs', () => {
  it('Infinity (no watchdog) and 2^33 ms start a working thread without an overflowing timer', async () => {
    const overflows: string[] = [];
    const onWarning = (w: Error) => {
      if (w.name === 'TimeoutOverflowWarning') overflows.push(w.message);
    };
    process.on('warning', onWarning);
    try {
      node = await startNode([
        { id: 'inf', thread: { module: TREE, args: { name: 'inf' }, watchdogMs: Number.POSITIVE_INFINITY } },
        { id: 'long', thread: { module: TREE, args: { name: 'long' }, watchdogMs: 2 ** 33 } },
      ]);
      expect(Threads.count()).toBe(2);
      for (const name of ['inf', 'long']) {
        expect(await GenServer.call(Registry.lookup<WorkerProtocol>(name), { type: 'echo', value: name })).toBe(name);
      }
      // Warnings are emitted on the next tick.
      await new Promise<void>((r) => setImmediate(r));
      expect(overflows).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
