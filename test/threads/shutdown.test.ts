/**
 * Thread lifetime: graceful shutdown runs terminate callbacks inside the threads in reverse
 * start order and leaves no worker, port or handle behind (checked in-process and with a
 * child process that must exit on its own); a thread never outlives its host; a subtree that
 * fails to boot fails the child start with its cause and leaves no worker.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyRef } from '../../src/index.js';
import {
  ChildStartError,
  GenServer,
  InvalidArgumentError,
  NotCloneableError,
  Process,
  Registry,
  ServerExitedError,
  Supervisor,
  ThreadExitError,
  Threads,
  sameRef,
} from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import { failure } from '../helpers.js';
import type { TestNode } from './helpers.js';
import { BOOT_MS, EXTRAS, TREE, eventually, startNode, threadChild } from './helpers.js';

let node: TestNode | undefined;
let child: ChildProcess | undefined;
afterEach(async () => {
  await node?.shutdown();
  node = undefined;
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
}, BOOT_MS);

/** Handles that would keep the process alive after the threads are gone. */
const threadHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker');

describe('graceful shutdown', () => {
  it('runs terminate inside the threads in reverse start order and leaves no live worker or port', async () => {
    expect(threadHandles()).toEqual([]);
    const reports: { tag: string; thread: number; reason: string }[] = [];
    node = await startNode([
      threadChild('t1', EXTRAS, { name: 's1', reporter: 'reporter' }),
      threadChild('t2', EXTRAS, { name: 's2', reporter: 'reporter' }),
    ]);
    // The reporter lives outside the tree, so it outlives every thread.
    await GenServer.start(
      {
        init: () => null,
        handleInfo: (msg: unknown, s: null) => {
          reports.push(msg as (typeof reports)[number]);
          return s;
        },
      },
      { name: 'reporter' },
    );
    const [c1, c2] = await Supervisor.getChildren(node.sup);
    const t1 = (await Threads.info(c1?.ref as AnyRef)).thread;
    const t2 = (await Threads.info(c2?.ref as AnyRef)).thread;
    expect(Threads.count()).toBe(2);
    expect(threadHandles().length).toBeGreaterThan(0);

    await Supervisor.stop(node.sup);

    expect(reports.map((r) => `${r.tag}@${r.thread}`)).toEqual([`s2.b@${t2}`, `s2.a@${t2}`, `s1.b@${t1}`, `s1.a@${t1}`]);
    for (const r of reports) expect(r.reason).toBe('shutdown');
    expect(Threads.count()).toBe(0);
    for (const name of ['s1', 's1.b', 's2', 's2.b']) expect(Registry.whereis(name)).toBeUndefined();
    await waitFor(() => threadHandles().length === 0, 10_000, 'worker handles released');
    expect(threadHandles()).toEqual([]);
  });

  it('a child process running an Application with two thread subtrees exits on its own with code 0 after stop()', async () => {
    const script = fileURLToPath(new URL('../fixtures/app-script.ts', import.meta.url));
    const proc = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let out = '';
    let err = '';
    let stoppedAt = 0;
    proc.stdout?.on('data', (d) => {
      out += String(d);
      if (stoppedAt === 0 && out.includes('stopped')) stoppedAt = Date.now();
    });
    proc.stderr?.on('data', (d) => (err += String(d)));
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), 40_000);
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, at: Date.now() });
      });
    });
    expect({ code: exit.code, signal: exit.signal, err }).toEqual({ code: 0, signal: null, err: '' });
    // Nothing lingers once the tree has stopped (no worker, port, or pending call timer).
    expect(stoppedAt).toBeGreaterThan(0);
    expect(exit.at - stoppedAt).toBeLessThan(3000);
    expect(out).toMatch(/ready threads=2 ids=1,2/);
    expect(out).toContain('stopped threads=0 order=x2.b:shutdown x2.a:shutdown x1.b:shutdown x1.a:shutdown');
  }, 45_000);
});

describe('stopping a tree whose thread is hung', () => {
  it('completes: the watchdog ends the thread that cannot run its terminate callbacks', async () => {
    node = await startNode([threadChild('t1', TREE, { name: 'w1' }, { watchdogMs: 1000 })]);
    const spinning = failure(() => GenServer.call('w1' as never, { type: 'spin' } as never, { timeout: 30_000 }));
    // The stop request travels behind the spinning call on the same channel: it is never read.
    const t0 = Date.now();
    await Supervisor.stop(node.sup);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(Threads.count()).toBe(0);
    const err = (await spinning) as ServerExitedError;
    expect(err).toBeInstanceOf(ServerExitedError);
    expect(err.cause).toBeInstanceOf(ThreadExitError);
    expect((err.cause as ThreadExitError).kind).toBe('hung');
  });
});

describe('thread lifetime', () => {
  it('a host killed without terminate takes its worker with it; the restarted thread gets the names back', async () => {
    node = await startNode([{ ...threadChild('t1', TREE, { name: 'w1' }), shutdownTimeout: 'brutal_kill' }]);
    const [c] = await Supervisor.getChildren(node.sup);
    const host = c?.ref as AnyRef;
    const before = await Threads.info(host);
    const old = Registry.lookup('w1');
    const exited = Process.awaitExit(host);
    Process.exit(host, 'kill');
    expect(await exited).toBe('killed');
    const [again] = await eventually(
      () => Supervisor.getChildren(node!.sup),
      (cs) => cs[0]?.restartCount === 1 && cs[0]?.ref !== undefined,
      BOOT_MS,
      'host restarted',
    );
    const after = await Threads.info(again?.ref as AnyRef);
    expect(after.thread).not.toBe(before.thread);
    await waitFor(() => Registry.whereis('w1')?.thread === after.thread, BOOT_MS, 'w1 on the new thread');
    expect(sameRef(Registry.lookup('w1'), old)).toBe(false);
    expect(Threads.count()).toBe(1);
    // brutal_kill on shutdown: the worker is terminated too, not orphaned.
    await Supervisor.stop(node.sup);
    await waitFor(() => Threads.count() === 0, 10_000, 'no worker after a brutal shutdown');
    expect(Registry.whereis('w1')).toBeUndefined();
  });

  it('a subtree that fails to boot fails the child start with its cause; no worker is left', async () => {
    const bootFail = new URL('../fixtures/boot-fail.ts', import.meta.url).href;
    const e1 = (await failure(() => startNode([threadChild('bad', bootFail, {})]))) as ChildStartError;
    expect(e1).toBeInstanceOf(ChildStartError);
    expect(e1.childId).toBe('bad');
    expect(e1.message).toContain('subtree exploded at start');
    expect(Threads.count()).toBe(0);

    const e2 = (await failure(() => startNode([threadChild('bad', TREE, {}, { export: 'missing' })]))) as ChildStartError;
    expect(e2).toBeInstanceOf(ChildStartError);
    let cause: unknown = e2;
    while ((cause as Error).cause !== undefined) cause = (cause as Error).cause;
    expect(cause).toBeInstanceOf(InvalidArgumentError);
    expect((cause as Error).message).toContain('"missing"');
    expect(Threads.count()).toBe(0);

    // args that cannot be cloned to the worker: the spec is refused when the supervisor gets it, no worker starts.
    const e3 = (await failure(() => startNode([threadChild('bad', TREE, { name: 'w9', f: () => 1 })]))) as NotCloneableError;
    expect(e3).toBeInstanceOf(NotCloneableError);
    expect(e3.path).toBe('thread.args.f');
    expect(Threads.count()).toBe(0);
  });
});
