/**
 * A thread child's boot is bounded: a module stuck in an endless loop at import is ended by
 * the watchdog ('hung', the heartbeat starts before the import), and a module or export whose
 * promise never settles by `initTimeout` ('init_timeout'). Either way `Supervisor.start`
 * rejects with ChildStartError whose cause is the ThreadExitError, soon, and no worker is left.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ChildSpec } from '../../src/index.js';
import { ChildStartError, Supervisor, ThreadExitError, Threads } from '../../src/index.js';
import type { ThreadExitKind } from '../../src/errors.js';
import { freshRuntime, waitFor } from '../../src/testing.js';
import { NodeThreads } from '../../src/threads/node-threads.js';
import { failure } from '../helpers.js';
import { reap, threadChild } from './helpers.js';

const fixture = (name: string) => new URL(`../fixtures/${name}.ts`, import.meta.url).href;

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

/** Handles of live workers in this process. */
const workers = () => process.getActiveResourcesInfo().filter((r) => r === 'Worker');

/** Starts a supervisor with `child` in a fresh runtime, expects the start to fail, checks no worker survives it. */
async function failedBoot(child: ChildSpec, kind: ThreadExitKind): Promise<{ error: ThreadExitError; ms: number }> {
  const env = freshRuntime();
  cleanup = async () => {
    await reap(env.rt);
    env.dispose();
  };
  const t0 = Date.now();
  const e = (await failure(() => Supervisor.start({ children: [child] }))) as ChildStartError;
  const ms = Date.now() - t0;
  expect(e).toBeInstanceOf(ChildStartError);
  expect(e.childId).toBe(child.id);
  const cause = e.cause as ThreadExitError;
  expect(cause).toBeInstanceOf(ThreadExitError);
  expect(cause.kind).toBe(kind);
  // The worker was terminated before the start failed: nothing of it is left.
  expect(NodeThreads.of(env.rt).links.threads()).toEqual([]);
  expect(Threads.count()).toBe(0);
  await waitFor(() => workers().length === 0, 5000, 'worker handle released');
  return { error: cause, ms };
}

describe('a thread module that never finishes booting', () => {
  it("an endless loop at import is ended by the watchdog ('hung'), long before initTimeout", async () => {
    const { error, ms } = await failedBoot(threadChild('spin', fixture('boot-spin'), {}, { watchdogMs: 300 }), 'hung');
    expect(error.message).toMatch(/^worker thread \d+ hung: no heartbeat for 300 ms/);
    expect(ms).toBeLessThan(10_000);
  });

  it("a top-level await that never settles is ended by initTimeout ('init_timeout')", async () => {
    const { error, ms } = await failedBoot(
      threadChild('tla', fixture('boot-await'), {}, { watchdogMs: 300, initTimeout: 500 }),
      'init_timeout',
    );
    expect(error.message).toMatch(/^worker thread \d+ init timeout: subtree not started within initTimeout \(500 ms\)/);
    expect(ms).toBeGreaterThanOrEqual(500);
    expect(ms).toBeLessThan(10_000);
  });

  it("an export whose promise never settles is ended by initTimeout ('init_timeout')", async () => {
    const { ms } = await failedBoot(
      threadChild('pending', fixture('boot-pending'), {}, { watchdogMs: 300, initTimeout: 500 }),
      'init_timeout',
    );
    expect(ms).toBeLessThan(10_000);
  });
});
