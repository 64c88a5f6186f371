/**
 * The frame decoder (ThreadLinks) over hostile batches, in one OS thread: a runtime plays the
 * main thread or a worker, and a fake transport stands for a peer whose batches the test
 * writes word by word. A malformed or impersonating frame from a worker is a protocol
 * violation on the main thread (the hook ends that worker; its later frames are ignored) and
 * is logged and dropped on a worker. On the main thread a worker may not address a process
 * whose ref was never shown to a worker: to it, that process is not alive.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/events.js';
import { INFO } from '../../src/core/process.js';
import type { AnyRef, MonitorRef } from '../../src/core/ref.js';
import { makeRef, monitorKey } from '../../src/core/ref.js';
import type { Runtime } from '../../src/core/runtime.js';
import { withRuntime } from '../../src/core/runtime.js';
import type { GenServerBehavior } from '../../src/index.js';
import { GenServer, NoProcessError, Process, serializeError } from '../../src/index.js';
import { flush, freshRuntime, waitFor } from '../../src/testing.js';
import type { Exposure } from '../../src/threads/exposure.js';
import { trackExposure } from '../../src/threads/exposure.js';
import { ThreadLinks } from '../../src/threads/links.js';
import { Tag, encodeReason } from '../../src/transport/frames.js';
import type { Transport } from '../../src/transport/transport.js';

const NODE = 'nonode@nohost';

/** A peer the test speaks for: `inject` delivers a batch (structured-cloned), `sent` holds what this side posted. */
interface FakePeer {
  readonly transport: Transport;
  readonly sent: unknown[][];
  inject(batch: unknown[]): void;
  /** Every frame posted to this peer, as [tag, to, a, b]. */
  frames(): unknown[][];
}

function fakePeer(): FakePeer {
  let handler: ((batch: unknown[]) => void) | undefined;
  const sent: unknown[][] = [];
  return {
    transport: {
      post: (batch) => {
        sent.push(structuredClone(batch));
      },
      onBatch: (h) => {
        handler = h;
      },
      onClose: () => {},
      close: () => {},
    },
    sent,
    inject: (batch) => handler?.(structuredClone(batch)),
    frames: () => sent.flatMap((b) => Array.from({ length: b.length / 4 }, (_, i) => b.slice(i * 4, i * 4 + 4))),
  };
}

const idle: GenServerBehavior<null, { call: ['ping', 'pong'] }> = { init: () => null, handleCall: (_m, s) => ['pong', s] };

interface Side {
  readonly rt: Runtime;
  readonly links: ThreadLinks;
  readonly warnings: string[];
  readonly violations: [number, string][];
  readonly exposure: Exposure | undefined;
  dispose(): void;
}

let sides: Side[] = [];
afterEach(() => {
  // Newest first: each restores the default runtime the one before it replaced.
  for (const s of sides.reverse()) s.dispose();
  sides = [];
});

function logger(warnings: string[]): Logger {
  return { error: (m) => warnings.push(m), warn: (m) => warnings.push(m), info: () => {} };
}

/** The main thread's side, wired as NodeThreads wires it (exposure, violation hook). */
function mainSide(): Side {
  const warnings: string[] = [];
  const { rt, dispose } = freshRuntime({ logger: logger(warnings) });
  const links = new ThreadLinks(rt);
  const exposure = trackExposure(rt, links);
  const violations: [number, string][] = [];
  links.onProtocolViolation = (thread, detail) => violations.push([thread, detail]);
  const side = { rt, links, warnings, violations, exposure, dispose };
  sides.push(side);
  return side;
}

/** A worker's side (thread 1): no hook, so bad frames are logged and dropped. */
function workerSide(): Side {
  const warnings: string[] = [];
  const { rt, dispose } = freshRuntime({ logger: logger(warnings), thread: 1 });
  const links = new ThreadLinks(rt);
  const side = { rt, links, warnings, violations: [], exposure: undefined, dispose };
  sides.push(side);
  return side;
}

const start = (rt: Runtime, b: GenServerBehavior<null, { call: ['ping', 'pong'] }> = idle) =>
  withRuntime(rt, () => GenServer.start(b, { trapExit: false })) as Promise<AnyRef>;

const ref = (thread: number, id: number) => makeRef(NODE, thread, id);
const killed = encodeReason({ error: new Error('forged') });

describe('on the main thread, a malformed frame from a worker is a protocol violation', () => {
  const cases: [string, unknown[], RegExp][] = [
    ['a batch of 3 words', [Tag.CAST, 1, 'x'], /not a multiple of 4/],
    ['an unknown tag', [99, 1, 'x', 0], /unknown frame tag/],
    ['a tag that is a string', ['1', 1, 'x', 0], /unknown frame tag/],
    ['a process id that is a string', [Tag.CAST, '1', 'x', 0], /not a process id/],
    ['a negative process id', [Tag.INFO, -1, 'x', 0], /not a process id/],
    ['an EXIT whose sender is not a ref', [Tag.EXIT, 1, { node: NODE, thread: 1 }, 'killed'], /EXIT sender .* is not a ref/],
    ['an EXIT with a malformed reason', [Tag.EXIT, 1, ref(1, 3), 'Normal'], /EXIT reason/],
    ['a MONITOR whose monitor ref has the wrong shape', [Tag.MONITOR, 1, ref(1, 3), { node: NODE, thread: 1 }], /monitor ref/],
    ['a MONITOR whose monitor ref is another thread’s', [Tag.MONITOR, 1, ref(1, 3), { node: NODE, thread: 2, monitor: 1 }], /monitor ref/],
    ['a REPLY_OK for a call never made', [Tag.REPLY_OK, 0, 'x', 12345], /never made/],
    ['a REPLY_ERR that carries no serialized error', [Tag.REPLY_ERR, 0, { code: 'toString' }, 1], /not a serialized error/],
    ['a CALL without a call id', [Tag.CALL, 1, 'x', 'id'], /call id/],
    ['an ACK whose counts are not numbers', [Tag.ACK, 0, 'x', {}], /ACK/],
    ['a DEMONITOR with a key of another thread', [Tag.DEMONITOR, 1, `${NODE}/0/m1`, 0], /not a monitor of thread 1/],
  ];

  it.each(cases)('%s', async (_what, batch, detail) => {
    const main = mainSide();
    const peer = fakePeer();
    main.links.connect(1, peer.transport);
    const p = await start(main.rt);
    peer.inject(batch);
    await waitFor(() => main.violations.length > 0, 2000, 'the violation');
    expect(main.violations[0]?.[0]).toBe(1);
    expect(main.violations[0]?.[1]).toMatch(detail);
    expect(main.rt.procs.get(p.id)?.alive).toBe(true);
  });

  // Each frame names, as its own, a process of another thread (main's root, say, or another
  // worker's process); the target was shown to the worker, so only the forged sender is wrong.
  const forged: [string, (target: number) => unknown[], RegExp][] = [
    [
      'an EXIT from a main-thread process',
      (t) => [Tag.EXIT, t, ref(0, 1), 'killed'],
      /EXIT sender #Ref<.*\/0\/1> is not a process of thread 1/,
    ],
    [
      'an EXIT_LINK from another worker’s process',
      (t) => [Tag.EXIT_LINK, t, ref(2, 1), killed],
      /EXIT_LINK sender .* is not a process of thread 1/,
    ],
    ['an EXIT from another node', (t) => [Tag.EXIT, t, { node: 'other@host', thread: 1, id: 1 }, 'killed'], /is not a process of thread 1/],
    ['a LINK from another worker’s process', (t) => [Tag.LINK, t, ref(2, 1), 0], /LINK sender/],
    ['a MONITOR by a main-thread watcher', (t) => [Tag.MONITOR, t, ref(0, 1), { node: NODE, thread: 1, monitor: 1 }], /MONITOR watcher/],
    [
      'a DOWN about another worker’s process',
      () => [Tag.DOWN, 0, { monitor: { node: NODE, thread: 0, monitor: 1 }, ref: ref(2, 7) }, 'normal'],
      /DOWN about .* is not a process of thread 1/,
    ],
  ];

  it.each(forged)('no impersonation: %s', async (_what, frame, detail) => {
    const main = mainSide();
    const peer = fakePeer();
    main.links.connect(1, peer.transport);
    const target = await start(main.rt);
    main.exposure?.mark(target);
    peer.inject(frame(target.id));
    await waitFor(() => main.violations.length > 0, 2000, 'the violation');
    expect(main.violations[0]?.[1]).toMatch(detail);
    expect(main.rt.procs.get(target.id)?.alive).toBe(true);
  });

  it('a worker is cut off at its first violation: the rest of the batch and later batches are ignored', async () => {
    const main = mainSide();
    const peer = fakePeer();
    main.links.connect(1, peer.transport);
    const p = await start(main.rt);
    main.exposure?.mark(p);
    peer.inject([99, 0, 0, 0, Tag.EXIT, p.id, ref(1, 5), killed]);
    peer.inject([Tag.EXIT, p.id, ref(1, 5), killed]);
    await flush();
    expect(main.violations).toHaveLength(1);
    expect(main.rt.procs.get(p.id)?.alive).toBe(true);
  });

  it('a reply may only settle a call made to the thread it came from; a late one is dropped', async () => {
    const main = mainSide();
    const t1 = fakePeer();
    const t2 = fakePeer();
    main.links.connect(1, t1.transport);
    main.links.connect(2, t2.transport);
    const pending = withRuntime(main.rt, () => main.rt.router.call(ref(2, 9), 'hello', 5000));
    await flush(1);
    const call = t2.frames().find((f) => f[0] === Tag.CALL)?.[3] as number;
    expect(call).toBeGreaterThan(0);
    t1.inject([Tag.REPLY_OK, 0, 'forged by thread 1', call]);
    await waitFor(() => main.violations.length > 0, 2000, 'the forged reply refused');
    expect(main.violations[0]?.[1]).toMatch(/made to thread 2/);
    t2.inject([Tag.REPLY_OK, 0, 'from thread 2', call]);
    await expect(pending).resolves.toBe('from thread 2');
    // A second reply to the same call (late: it is settled) is dropped quietly, not a violation.
    t2.inject([Tag.REPLY_OK, 0, 'again', call]);
    await flush();
    expect(main.violations).toHaveLength(1);
  });

  it('a DOWN for a process’s monitor must be about the process it monitors', async () => {
    const main = mainSide();
    const peer = fakePeer();
    main.links.connect(1, peer.transport);
    let monitor: MonitorRef | undefined;
    const monitoring: GenServerBehavior<null, { call: ['ping', 'pong'] }> = {
      init: () => {
        monitor = Process.monitor(ref(1, 4));
        return null;
      },
      handleCall: (_m, s) => ['pong', s],
    };
    const watcher = await start(main.rt, monitoring);
    expect(main.rt.procs.get(watcher.id)?.monitoring?.has(monitorKey(monitor as MonitorRef))).toBe(true);
    peer.inject([Tag.DOWN, watcher.id, { monitor, ref: ref(1, 5) }, 'normal']);
    await waitFor(() => main.violations.length > 0, 2000, 'the DOWN refused');
    expect(main.violations[0]?.[1]).toMatch(/for a monitor of #Ref<.*\/1\/4>/);
    expect(main.rt.procs.get(watcher.id)?.monitoring?.has(monitorKey(monitor as MonitorRef))).toBe(true);
  });

  it('a DOWN for a watch of the runtime itself must be about the watched process', async () => {
    const main = mainSide();
    const peer = fakePeer();
    main.links.connect(1, peer.transport);
    const fired: unknown[] = [];
    main.rt.watch(ref(1, 4), (r) => fired.push(r));
    // The watch's monitor is the runtime's first: forge a DOWN for it about another process.
    const monitor: MonitorRef = { node: NODE, thread: 0, monitor: 1 };
    expect(main.rt.watchTarget(monitor)).toEqual(ref(1, 4));
    peer.inject([Tag.DOWN, 0, { monitor, ref: ref(1, 5) }, 'normal']);
    await waitFor(() => main.violations.length > 0, 2000, 'the DOWN refused');
    expect(main.violations[0]?.[1]).toMatch(/for a monitor of #Ref<.*\/1\/4>/);
    expect(fired).toEqual([]);
  });
});

describe('on the main thread, a process never shown to a worker is not alive to it', () => {
  it('exit signals, stop requests, links, monitors and calls act as on a dead process; once shown, they work', async () => {
    const main = mainSide();
    const peer = fakePeer();
    main.links.connect(1, peer.transport);
    const p = await start(main.rt);
    const sender = ref(1, 5);
    peer.inject([
      Tag.EXIT,
      p.id,
      sender,
      killed,
      Tag.STOP,
      p.id,
      'shutdown',
      0,
      Tag.LINK,
      p.id,
      sender,
      0,
      Tag.MONITOR,
      p.id,
      sender,
      { node: NODE, thread: 1, monitor: 7 },
      Tag.CALL,
      p.id,
      'ping',
      3,
      Tag.CALL,
      0,
      { op: 'process_info', id: p.id },
      4,
    ]);
    await waitFor(() => peer.frames().some((f) => f[0] === Tag.REPLY_OK && f[3] === 4), 2000, 'the answers');
    expect(main.violations).toEqual([]);
    expect(main.rt.procs.get(p.id)?.alive).toBe(true);
    expect(main.rt.procs.get(p.id)?.links?.size ?? 0).toBe(0);
    const frames = peer.frames();
    expect(frames.find((f) => f[0] === Tag.EXIT_LINK)?.[3]).toBe('noproc');
    expect(frames.find((f) => f[0] === Tag.DOWN)?.[3]).toBe('noproc');
    const err = frames.find((f) => f[0] === Tag.REPLY_ERR && f[3] === 3)?.[2] as { code?: string };
    expect(err.code).toBe(new NoProcessError('x').code);
    expect(frames.find((f) => f[0] === Tag.REPLY_OK && f[3] === 4)?.[2]).toBeUndefined();
    expect(main.warnings.some((w) => /never shown to it/.test(w))).toBe(true);

    // Main sends the worker a message holding p's ref: from then on the worker may address p.
    main.rt.router.send(sender, INFO, { hello: [p] });
    expect(main.exposure?.has(p.id)).toBe(true);
    peer.inject([Tag.EXIT, p.id, sender, killed]);
    await waitFor(() => main.rt.procs.get(p.id) === undefined, 2000, 'p killed by the now-legitimate signal');
    // A dead process is forgotten.
    expect(main.exposure?.has(p.id)).toBe(false);
  });

  it('refs leave in frames too: a link or monitor from main shows the process', async () => {
    const main = mainSide();
    const peer = fakePeer();
    main.links.connect(1, peer.transport);
    const linking: GenServerBehavior<null, { call: ['ping', 'pong'] }> = {
      init: () => {
        Process.link(ref(1, 3));
        return null;
      },
      handleCall: (_m, s) => ['pong', s],
    };
    const a = await start(main.rt, linking);
    expect(main.exposure?.has(a.id)).toBe(true);
  });
});

describe('in a worker, a malformed frame is logged and dropped', () => {
  it('keeps handling the frames after it; a control from a peer worker is refused', async () => {
    const w = workerSide();
    const fromMain = fakePeer();
    const fromPeer = fakePeer();
    w.links.connect(0, fromMain.transport);
    w.links.connect(2, fromPeer.transport);
    const controls: unknown[] = [];
    w.links.onControl = (_t, c) => controls.push(c);
    const p = await start(w.rt);
    fromPeer.inject([Tag.EXIT, p.id, ref(0, 1), killed, Tag.CTL, 0, { op: 'stop' }, 0, Tag.EXIT, p.id, ref(2, 1), 'normal']);
    fromMain.inject([Tag.CTL, 0, { op: 'events', on: false }, 0]);
    await waitFor(() => controls.length > 0, 2000, 'the control from main');
    expect(controls).toEqual([{ op: 'events', on: false }]);
    expect(w.rt.procs.get(p.id)?.alive).toBe(true);
    expect(w.warnings.filter((m) => /dropped a malformed frame from thread 2/.test(m))).toHaveLength(2);
    expect(w.warnings.some((m) => /CTL frame from a peer worker/.test(m))).toBe(true);
  });

  it('a hostile error code in a reply rejects the caller with a typed-by-code error, never a TypeError', async () => {
    const w = workerSide();
    const fromMain = fakePeer();
    w.links.connect(0, fromMain.transport);
    const pending = withRuntime(w.rt, () => w.rt.router.call(ref(0, 3), 'x', 5000));
    await flush(1);
    const call = fromMain.frames().find((f) => f[0] === Tag.CALL)?.[3] as number;
    const evil = { ...serializeError(new Error('evil')), code: 'toString' };
    fromMain.inject([Tag.REPLY_ERR, 0, evil, call]);
    const e = (await pending.catch((x: unknown) => x)) as Error & { code?: string };
    expect(e).not.toBeInstanceOf(TypeError);
    expect(e.message).toBe('evil');
    expect(e.code).toBe('toString');
  });
});
