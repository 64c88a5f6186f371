/**
 * Real worker threads that misbehave (fixture test/fixtures/hostile.ts). An error code that is
 * a key of Object.prototype crosses by a call reply, a DOWN, an exit signal and Task.run: the
 * node stays up and the caller gets a typed error. A worker that posts malformed or forged
 * frames on its port has its subtree exit with a protocol_violation ThreadExitError; the node
 * keeps running. Names: a registration from a worker must name a live process it may name,
 * and every name is released, on every thread, when its holder exits; a worker cannot
 * release another thread's name.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRef, ChildSpec, DownMessage, ExitMessage, ExitReason, GenServerBehavior, Ref } from '../../src/index.js';
import {
  ErrorCode,
  GenServer,
  Process,
  Registry,
  ServerExitedError,
  SpindleError,
  Supervisor,
  Task,
  TaskFailedError,
  ThreadExitError,
  Threads,
  isDownMessage,
  isExitMessage,
  sameRef,
} from '../../src/index.js';
import { waitFor } from '../../src/testing.js';
import { Tag } from '../../src/transport/frames.js';
import type { HostileProtocol, Outcome } from '../fixtures/hostile.js';
import { failure } from '../helpers.js';
import type { TestNode } from '../threads/helpers.js';
import { BOOT_MS, eventually, recorder, startNode } from '../threads/helpers.js';

const HOSTILE = new URL('../fixtures/hostile.ts', import.meta.url).href;
const JOBS = new URL('../fixtures/hostile-jobs.mjs', import.meta.url);
const HOSTILE_CODES = ['toString', '__proto__', 'valueOf', 'hasOwnProperty', 'constructor'];

const hostileChild = (id: string, name: string, restart: ChildSpec['restart'] = 'permanent'): ChildSpec => ({
  id,
  restart,
  thread: { module: HOSTILE, args: { name } },
});
const ask = <M extends HostileProtocol['call'][0]>(to: string | AnyRef, msg: M) =>
  GenServer.call(to as unknown as Ref<HostileProtocol>, msg);
const tell = (name: string, msg: HostileProtocol['cast']) => GenServer.cast(name as unknown as Ref<HostileProtocol>, msg);

const idle: GenServerBehavior<null> = { init: () => null };

function errorOf(reason: ExitReason | undefined): Error & { code?: unknown } {
  expect(typeof reason === 'object' && reason !== null && 'error' in reason).toBe(true);
  return (reason as { error: Error & { code?: unknown } }).error;
}

describe('hostile error codes and custom errors crossing from a worker', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode([hostileChild('h', 'h')]);
  }, BOOT_MS);
  afterAll(() => node?.shutdown(), BOOT_MS);

  /** The server `h` again, after a crash restarted it. */
  const restarted = () =>
    eventually(
      () => ask('h', { type: 'self' }),
      () => true,
      10_000,
      'h back',
    );

  it.each(HOSTILE_CODES)('through a call reply: code %j; the caller gets ServerExitedError whose cause keeps the code', async (code) => {
    const e = (await failure(() => ask('h', { type: 'throwCode', code }))) as ServerExitedError;
    expect(e).toBeInstanceOf(ServerExitedError);
    const cause = e.cause as Error & { code?: unknown };
    expect(cause).toBeInstanceOf(Error);
    expect(cause).not.toBeInstanceOf(SpindleError);
    expect(cause.code).toBe(code);
    expect(cause.message).toBe(`hostile code ${code}`);
    await restarted();
  });

  it('through a DOWN and an exit signal: the main-thread watcher gets the reason, the node stays up', async () => {
    const target = await restarted();
    const seen: unknown[] = [];
    const watcher = await GenServer.start(
      recorder(seen, () => {
        Process.link(target);
        Process.monitor(target);
      }),
      { trapExit: true },
    );
    // The link and the monitor are in place on the worker before it crashes.
    expect(await ask('h', { type: 'self' })).toEqual(target);
    tell('h', { type: 'crash', code: '__proto__' });
    await waitFor(() => seen.length >= 2, 10_000, 'the DOWN and the EXIT');
    const down = seen.find(isDownMessage) as DownMessage;
    const exit = seen.find(isExitMessage) as ExitMessage;
    for (const reason of [down.reason, exit.reason]) {
      const err = errorOf(reason);
      expect(err.code).toBe('__proto__');
      expect(err.message).toBe('hostile code __proto__');
    }
    expect(await GenServer.call(watcher as Ref<{ call: ['ping', 'pong'] }>, 'ping')).toBe('pong');
    await GenServer.stop(watcher);
  });

  it('a custom error class keeps its name, own fields and cause chain', async () => {
    await restarted();
    const e = (await failure(() => ask('h', { type: 'throwCustom' }))) as ServerExitedError;
    const cause = e.cause as Error & Record<string, unknown>;
    expect(cause.name).toBe('QuotaError');
    expect(cause.message).toBe('quota exceeded');
    expect(cause.limit).toBe(10);
    expect(cause.usage).toEqual({ used: 12, unit: 'MB' });
    const root = cause.cause as Error & Record<string, unknown>;
    expect(root.name).toBe('RangeError');
    expect(root.device).toBe('sda');
  });

  it('Task.run: a job throwing a hostile code rejects with TaskFailedError; a custom error keeps its fields (one rule)', async () => {
    try {
      for (const code of HOSTILE_CODES) {
        const e = (await failure(() => Task.run(JOBS, 'throwCode', [code]))) as TaskFailedError;
        expect(e).toBeInstanceOf(TaskFailedError);
        const cause = e.cause as Error & { code?: unknown; context?: unknown };
        expect(cause.code).toBe(code);
        expect(cause.context).toEqual({ server: 'x' });
      }
      const e = (await failure(() => Task.run(JOBS, 'throwCustom', []))) as TaskFailedError;
      const cause = e.cause as Error & Record<string, unknown>;
      expect(cause.name).toBe('QuotaError');
      expect(cause.limit).toBe(10);
      expect(cause.usage).toEqual({ used: 12, unit: 'MB' });
      expect((cause.cause as Error & Record<string, unknown>).device).toBe('sda');
    } finally {
      await Task.closeDefault();
    }
  });
});

describe('a worker that sends malformed or forged frames', () => {
  let node: TestNode | undefined;
  afterEach(async () => {
    await node?.shutdown();
    node = undefined;
  }, BOOT_MS);

  /** Starts a node whose one (temporary) thread child runs `v`; returns its host's exit. */
  async function startVictim(): Promise<{ host: AnyRef; exit: Promise<ExitReason> }> {
    node = await startNode([hostileChild('v', 'v', 'temporary')]);
    const [child] = await Supervisor.getChildren(node.sup);
    const host = child?.ref as AnyRef;
    return { host, exit: Process.awaitExit(host) };
  }

  async function expectViolation(exit: Promise<ExitReason>, detail: RegExp): Promise<void> {
    const e = errorOf(await exit) as ThreadExitError;
    expect(e).toBeInstanceOf(ThreadExitError);
    expect(e.kind).toBe('protocol_violation');
    expect(e.detail).toMatch(/^sent a malformed frame: /);
    expect(e.detail).toMatch(detail);
    // The node runs on: main answers, and the thread is gone.
    const m = await GenServer.start(idle);
    expect(Process.alive(m)).toBe(true);
    await waitFor(() => Threads.count() === 0, 10_000, 'the worker ended');
  }

  it('a non-number process id and a batch whose length is not a multiple of 4', async () => {
    const first = await startVictim();
    tell('v', { type: 'raw', batch: [Tag.CAST, 'not-a-pid', 'x', 0] });
    await expectViolation(first.exit, /not a process id/);
    await node?.shutdown();
    const second = await startVictim();
    tell('v', { type: 'raw', batch: [Tag.CAST, 1, 'x'] });
    await expectViolation(second.exit, /not a multiple of 4/);
  });

  it('an EXIT to the root supervisor impersonating a main-thread process', async () => {
    const { exit } = await startVictim();
    const sup = (node as TestNode).sup;
    tell('v', { type: 'raw', batch: [Tag.EXIT, sup.id, { node: sup.node, thread: 0, id: sup.id }, 'killed'] });
    await expectViolation(exit, /EXIT sender .* is not a process of thread/);
    expect(Process.alive(sup)).toBe(true);
  });

  it('a release of a name held by a main-thread process', async () => {
    const { exit } = await startVictim();
    const owner = await GenServer.start(idle, { name: 'main.owned' });
    await eventually(
      () => ask('v', { type: 'whereis', name: 'main.owned' }),
      (r) => r !== null,
      10_000,
      'main.owned mirrored',
    );
    tell('v', { type: 'raw', batch: [Tag.CTL, 0, { op: 'release', name: 'main.owned', ref: owner }, 0] });
    await expectViolation(exit, /release: "main.owned" is held by .* not a process of thread/);
    expect(Registry.whereis('main.owned')).toEqual(owner);
    await GenServer.stop(owner);
  });
});

describe('names registered from a worker', () => {
  let node: TestNode;
  let h1: AnyRef;
  let h2: AnyRef;
  let t1: number;
  let t2: number;
  beforeAll(async () => {
    node = await startNode([hostileChild('h1', 'h1'), hostileChild('h2', 'h2')]);
    h1 = await ask('h1', { type: 'self' });
    h2 = await ask('h2', { type: 'self' });
    t1 = h1.thread;
    t2 = h2.thread;
  }, BOOT_MS);
  afterAll(() => node?.shutdown(), BOOT_MS);

  /** Where main, h1 and h2 see `name` (asked by ref: the test unregisters their names too). */
  async function views(name: string): Promise<(AnyRef | null)[]> {
    return [Registry.whereis(name) ?? null, await ask(h1, { type: 'whereis', name }), await ask(h2, { type: 'whereis', name })];
  }
  const everywhere = (name: string, ref: AnyRef) =>
    eventually(
      () => views(name),
      (v) => v.every((r) => r !== null && sameRef(r, ref)),
      10_000,
      `${name} everywhere`,
    );
  const nowhere = (name: string) =>
    eventually(
      () => views(name),
      (v) => v.every((r) => r === null),
      10_000,
      `${name} gone everywhere`,
    );
  const refused = (o: Outcome, code: string) => {
    expect(o.ok).toBe(false);
    expect((o as Outcome & { ok: false }).code).toBe(code);
  };

  it('a dead or made-up ref is refused with NoProcessError', async () => {
    expect(t1).not.toBe(t2);
    // A main-thread id nothing showed the worker, a live one included, and one that never existed.
    const m = await GenServer.start(idle);
    refused(await ask('h1', { type: 'registerId', name: 'r.guess', thread: 0, id: m.id }), ErrorCode.NO_PROCESS);
    refused(await ask('h1', { type: 'registerId', name: 'r.none', thread: 0, id: 987_654 }), ErrorCode.NO_PROCESS);
    // On another worker: an id never used there, and a process that already exited.
    refused(await ask('h1', { type: 'registerId', name: 'r.peer', thread: t2, id: 987_654 }), ErrorCode.NO_PROCESS);
    const gone = await ask('h2', { type: 'spawn' });
    await GenServer.call(gone as Ref<{ call: ['stop', 'ok'] }>, 'stop');
    refused(await ask('h1', { type: 'register', name: 'r.gone', ref: gone }), ErrorCode.NO_PROCESS);
    // On a thread that does not exist.
    refused(await ask('h1', { type: 'registerId', name: 'r.thread', thread: 999, id: 1 }), ErrorCode.NO_PROCESS);
    for (const name of ['r.guess', 'r.none', 'r.peer', 'r.gone', 'r.thread']) expect(Registry.whereis(name)).toBeUndefined();
    await GenServer.stop(m);
  });

  it('a name for a main-thread process is released on every thread when that process exits', async () => {
    const m = await GenServer.start(idle);
    // The ref travels in the message: the worker was shown it.
    expect(await ask('h1', { type: 'register', name: 'r.main', ref: m })).toEqual({ ok: true });
    await everywhere('r.main', m);
    await GenServer.stop(m);
    await nowhere('r.main');
  });

  it("a name for another worker's process is released on every thread when that process exits", async () => {
    const holder = await ask('h2', { type: 'spawn' });
    expect(holder.thread).toBe(t2);
    expect(await ask('h1', { type: 'register', name: 'r.peer.live', ref: holder })).toEqual({ ok: true });
    await everywhere('r.peer.live', holder);
    await GenServer.call(holder as Ref<{ call: ['stop', 'ok'] }>, 'stop');
    await nowhere('r.peer.live');
  });

  it("a worker cannot unregister a main-thread process's name; main can unregister a worker's", async () => {
    const owner = await GenServer.start(idle, { name: 'r.owned' });
    await everywhere('r.owned', owner);
    const o = await ask('h1', { type: 'unregister', name: 'r.owned' });
    refused(o, ErrorCode.INVALID_ARGUMENT);
    expect((o as Outcome & { ok: false }).message).toMatch(/only that thread or the main thread can release it/);
    await everywhere('r.owned', owner);
    await GenServer.stop(owner);
    await nowhere('r.owned');
    // The other way round is allowed: main may release any name.
    expect(Registry.unregister('h2')).toBe(true);
    await nowhere('h2');
    expect(Process.alive(h2)).toBe(true);
  });
});
