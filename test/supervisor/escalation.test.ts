/**
 * Restart intensity and escalation on the virtual clock, and how a supervisor stops children
 * (shutdown timeout, brutal_kill).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnyRef, ExitReason, GenServerBehavior, SupervisorOptions } from '../../src/index.js';
import { GenServer, Process, Supervisor, sameRef } from '../../src/index.js';
import { flush, freshRuntime, VirtualClock } from '../../src/testing.js';
import { exitProcess, recordUnhandledRejections, track, worker } from '../helpers.js';

let env: ReturnType<typeof freshRuntime>;
let clock: VirtualClock;
let rejections: ReturnType<typeof recordUnhandledRejections>;
beforeEach(() => {
  clock = new VirtualClock();
  env = freshRuntime({ clock });
  rejections = recordUnhandledRejections();
});
afterEach(async () => {
  // Let any stray rejection surface before checking that none did.
  await flush();
  rejections.stop();
  env.dispose();
  expect(rejections.fired).toEqual([]);
});

type SupRef = Awaited<ReturnType<typeof Supervisor.start>>;

async function childRef(sup: SupRef | AnyRef, id: string): Promise<AnyRef> {
  const c = (await Supervisor.getChildren(sup as SupRef)).find((x) => x.id === id);
  if (c?.ref === undefined) throw new Error(`child ${id} is not running`);
  return c.ref;
}

/** Crashes child `id` of `sup` and waits until the supervisor has handled the exit. */
async function crashChild(sup: SupRef | AnyRef, id: string): Promise<void> {
  const ref = await childRef(sup, id);
  await exitProcess(ref, 'error');
}

const REACHED = { shutdown: 'reached_max_restart_intensity' };

describe('Supervisor restart intensity', () => {
  const opts = (withinMs: number): SupervisorOptions => ({
    restartIntensity: { maxRestarts: 2, withinMs },
    children: [{ id: 'w', behavior: worker('w') }],
  });

  it('tolerates maxRestarts restarts within the window and gives up on one more', async () => {
    const sup = await Supervisor.start(opts(1000));
    const supExit = track(Process.awaitExit(sup));
    await crashChild(sup, 'w');
    await clock.advance(100);
    await crashChild(sup, 'w');
    const [info] = await Supervisor.getChildren(sup);
    expect(info?.restartCount).toBe(2);
    await clock.advance(100);
    await crashChild(sup, 'w');
    await flush();
    expect(supExit.value).toEqual(REACHED);
    expect(env.rt.procs.size).toBe(0);
  });

  it('does not give up when the restarts are spread beyond withinMs', async () => {
    const sup = await Supervisor.start(opts(1000));
    for (let i = 0; i < 6; i++) {
      await crashChild(sup, 'w');
      await clock.advance(600);
    }
    expect(Process.alive(sup)).toBe(true);
    const [info] = await Supervisor.getChildren(sup);
    expect(info?.restartCount).toBe(6);
    expect(info?.ref).toBeDefined();
  });

  it('with maxRestarts 0 gives up on the first exit', async () => {
    const sup = await Supervisor.start({ ...opts(1000), restartIntensity: { maxRestarts: 0, withinMs: 1000 } });
    const supExit = Process.awaitExit(sup);
    await crashChild(sup, 'w');
    expect(await supExit).toEqual(REACHED);
  });

  it('stops the remaining children in reverse start order when it gives up', async () => {
    const log: string[] = [];
    const sup = await Supervisor.start({
      restartIntensity: { maxRestarts: 0, withinMs: 1000 },
      children: ['a', 'b', 'c', 'd'].map((id) => ({ id, behavior: worker(id, log) })),
    });
    const supExit = Process.awaitExit(sup);
    log.length = 0;
    await crashChild(sup, 'b');
    expect(await supExit).toEqual(REACHED);
    expect(log).toEqual(['terminate:b:error', 'terminate:d:shutdown', 'terminate:c:shutdown', 'terminate:a:shutdown']);
  });
});

describe('Supervisor escalation through two levels', () => {
  it('an inner supervisor that exceeds its intensity exits, the outer restarts it, then gives up in turn', async () => {
    const log: string[] = [];
    const inner: SupervisorOptions = {
      restartIntensity: { maxRestarts: 1, withinMs: 5000 },
      children: [{ id: 'w', behavior: worker('w', log) }],
    };
    const outer = await Supervisor.start({
      restartIntensity: { maxRestarts: 1, withinMs: 5000 },
      children: [
        { id: 'inner', supervisor: inner },
        { id: 'peer', behavior: worker('peer', log) },
      ],
    });
    const outerExit = track(Process.awaitExit(outer));
    const peer = await childRef(outer, 'peer');
    const inner1 = await childRef(outer, 'inner');
    expect((await Supervisor.getChildren(outer)).map((c) => [c.id, c.type])).toEqual([
      ['inner', 'supervisor'],
      ['peer', 'worker'],
    ]);

    // Two crashes of w: the first is restarted, the second exceeds the inner intensity.
    const inner1Exit = Process.awaitExit(inner1);
    await crashChild(inner1, 'w');
    await crashChild(inner1, 'w');
    expect(await inner1Exit).toEqual(REACHED);

    // The outer supervisor restarted the inner one (new ref, fresh child); the peer is untouched.
    const children = await Supervisor.getChildren(outer);
    const innerInfo = children.find((c) => c.id === 'inner');
    expect(innerInfo?.restartCount).toBe(1);
    const inner2 = innerInfo?.ref as AnyRef;
    expect(sameRef(inner2, inner1)).toBe(false);
    expect(Process.alive(inner2)).toBe(true);
    expect((await Supervisor.getChildren(inner2 as SupRef))[0]?.restartCount).toBe(0);
    expect(sameRef((children.find((c) => c.id === 'peer')?.ref as AnyRef) ?? inner1, peer)).toBe(true);
    expect(outerExit.settled).toBe(false);

    // The same again: the inner supervisor exits, and that is the outer one's second restart.
    await crashChild(inner2, 'w');
    await crashChild(inner2, 'w');
    await flush();
    expect(outerExit.value).toEqual(REACHED);
    expect(Process.alive(peer)).toBe(false);
    expect(Process.alive(inner2)).toBe(false);
    expect(env.rt.procs.size).toBe(0);
    expect(log).toContain('terminate:peer:shutdown');
  });

  it('a transient inner supervisor that gave up is not restarted (its reason is a shutdown)', async () => {
    const outer = await Supervisor.start({
      children: [
        {
          id: 'inner',
          restart: 'transient',
          supervisor: { restartIntensity: { maxRestarts: 0, withinMs: 1000 }, children: [{ id: 'w', behavior: worker('w') }] },
        },
      ],
    });
    const inner = await childRef(outer, 'inner');
    const innerExit = Process.awaitExit(inner);
    await crashChild(inner, 'w');
    expect(await innerExit).toEqual(REACHED);
    const [info] = await Supervisor.getChildren(outer);
    expect(info?.ref).toBeUndefined();
    expect(Process.alive(outer)).toBe(true);
  });
});

describe('Supervisor stopping a child', () => {
  const hanging = (log: string[]): GenServerBehavior<number> => ({
    init: () => 0,
    terminate: (reason) => {
      log.push(`terminate:${String(reason)}`);
      return new Promise<void>(() => {});
    },
  });

  it('kills a child whose async terminate hangs after its shutdownTimeout, with reason killed', async () => {
    const log: string[] = [];
    const sup = await Supervisor.start({
      children: [{ id: 'h', behavior: hanging(log), shutdownTimeout: 250, options: { shutdownTimeout: 60_000 } }],
    });
    const ref = await childRef(sup, 'h');
    const exit = track(Process.awaitExit(ref));
    const done = track(Supervisor.terminateChild(sup, 'h'));
    await clock.advance(249);
    expect(log).toEqual(['terminate:shutdown']);
    expect(exit.settled).toBe(false);
    expect(done.settled).toBe(false);
    await clock.advance(1);
    expect(exit.value).toBe('killed');
    expect(done.settled).toBe(true);
    expect(done.error).toBeUndefined();
    const [info] = await Supervisor.getChildren(sup);
    expect(info?.ref).toBeUndefined();
  });

  it('with default timeouts, kills a child whose terminate hangs after 5000 ms, with reason killed', async () => {
    const log: string[] = [];
    const sup = await Supervisor.start({ children: [{ id: 'h', behavior: hanging(log) }] });
    const ref = await childRef(sup, 'h');
    const exit = track(Process.awaitExit(ref));
    const done = track(Supervisor.terminateChild(sup, 'h'));
    await clock.advance(4999);
    expect(exit.settled).toBe(false);
    await clock.advance(1);
    expect(exit.value).toBe('killed');
    await flush();
    expect(done.settled).toBe(true);
  });

  it('with brutal_kill kills at once without running terminate', async () => {
    const log: string[] = [];
    const sup = await Supervisor.start({ children: [{ id: 'h', behavior: hanging(log), shutdownTimeout: 'brutal_kill' }] });
    const ref = await childRef(sup, 'h');
    const exit = Process.awaitExit(ref);
    await Supervisor.terminateChild(sup, 'h');
    expect(await exit).toBe('killed');
    expect(log).toEqual([]);
  });

  it('kills hanging children after their shutdownTimeout when the supervisor itself stops', async () => {
    const log: string[] = [];
    const sup = await Supervisor.start({
      children: [
        { id: 'h1', behavior: hanging(log), shutdownTimeout: 100 },
        { id: 'h2', behavior: hanging(log), shutdownTimeout: 100 },
      ],
    });
    const refs = [await childRef(sup, 'h1'), await childRef(sup, 'h2')];
    const exits = refs.map((r) => track(Process.awaitExit(r)));
    const stopped = track(Supervisor.stop(sup));
    await clock.advance(100);
    // Reverse order: h2 first, then h1 gets its own 100 ms.
    expect(exits[1]?.value).toBe('killed');
    expect(exits[0]?.settled).toBe(false);
    await clock.advance(100);
    expect(exits[0]?.value).toBe('killed');
    await flush();
    expect(stopped.settled).toBe(true);
    expect(env.rt.procs.size).toBe(0);
  });

  it('a child stopped within its shutdownTimeout exits with shutdown', async () => {
    const sup = await Supervisor.start({ children: [{ id: 'w', behavior: worker('w'), shutdownTimeout: 100 }] });
    const ref = await childRef(sup, 'w');
    const exit = Process.awaitExit(ref);
    await Supervisor.terminateChild(sup, 'w');
    const reason: ExitReason = await exit;
    expect(reason).toBe('shutdown');
    // The kill timer was cancelled, and the child is not restarted: terminateChild is not a crash.
    await clock.advance(1000);
    const [info] = await Supervisor.getChildren(sup);
    expect(info?.ref).toBeUndefined();
    expect(GenServer.isRunning(ref)).toBe(false);
  });
});
