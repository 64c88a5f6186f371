/**
 * NodeLinks against hostile frames from an authenticated peer node: every frame is checked
 * before use, a bad one is dropped and reported (main then drops the connection), and the
 * node keeps serving the good frames around it. A peer may only speak for its own processes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_PEER_CHANNELS, NodeLinks } from '../../src/cluster/node-links.js';
import { makeRef } from '../../src/core/ref.js';
import type { AnyRef } from '../../src/index.js';
import { GenServer, NodeDownError, Process, Runtime, ServerExitedError, silentLogger, withRuntime } from '../../src/index.js';
import { flush } from '../../src/testing.js';
import { Tag } from '../../src/transport/frames.js';
import type { Transport } from '../../src/transport/transport.js';
import { failure } from '../helpers.js';

const PEER = 'p@127.0.0.9:4000~abc';

/** A node `n@…` with NodeLinks whose uplink records what it would send to the peer. */
function setup() {
  const rt = new Runtime({ node: 'n@127.0.0.8:4000~xyz', logger: silentLogger });
  const sent: { thread: number; batch: unknown[] }[] = [];
  const violations: string[] = [];
  const links = new NodeLinks(rt, {
    open: (_node, thread): Transport => ({
      canPause: false,
      post: (batch) => sent.push({ thread, batch: [...batch] }),
      onBatch: () => {},
      onClose: () => {},
      close: () => {},
    }),
  });
  links.onViolation = (_n, d) => violations.push(d);
  links.nodeUp(PEER);
  return { rt, links, sent, violations };
}

const peerRef = (thread: number, id: number): AnyRef => makeRef(PEER, thread, id);

describe('NodeLinks', () => {
  it('drops malformed and forged frames, reports them, and keeps serving', async () => {
    const { rt, links, sent, violations } = setup();
    const log: unknown[] = [];
    const target = await withRuntime(rt, () =>
      GenServer.start({
        init: () => null,
        handleCast: (m: unknown, s: null) => {
          log.push(m);
          return s;
        },
        handleCall: (m: unknown, s: null) => [m, s],
      }),
    );
    const bad: unknown[] = [
      'not an array',
      [1, 2, 3],
      [99, target.id, 'x', 0], // unknown tag
      [Tag.CAST, -1, 'x', 0], // bad process id
      [Tag.CAST, '__proto__', 'x', 0],
      [Tag.CALL, target.id, 'x', 0], // call id 0
      [Tag.REPLY_OK, 0, 'v', 12345], // reply to a call never made
      [Tag.REPLY_ERR, 0, { not: 'an error' }, 1],
      [Tag.EXIT, target.id, makeRef('other@127.0.0.1:1~1', 0, 1), 'killed'], // speaks for another node
      [Tag.EXIT, target.id, peerRef(3, 1), 'killed'], // speaks for another thread of the peer
      [Tag.EXIT, target.id, peerRef(0, 1), { weird: true }], // bad reason
      [Tag.LINK, target.id, { node: PEER, thread: 0, id: -5 }, 0],
      [Tag.MONITOR, target.id, peerRef(0, 1), { node: 'n@127.0.0.8:4000~xyz', thread: 0, monitor: 1 }], // monitor ref not the peer's
      [Tag.DEMONITOR, target.id, 'n@127.0.0.8:4000~xyz/0/m1', 0], // a key of another node
      [Tag.DOWN, 0, { monitor: { node: PEER, thread: 0, monitor: 1 }, ref: peerRef(0, 1) }, 'normal'], // monitor not made here
      [Tag.CTL, 5, {}, 0],
      [Tag.CAST, 0, { name: 42, msg: 'x' }, 0], // send by name without a name
    ];
    for (const b of bad) links.ingest(PEER, 0, b);
    // Good frames before a bad one still run; nothing after it in that batch does (the peer
    // broke the protocol and its connection is dropped).
    links.ingest(PEER, 0, [Tag.CAST, target.id, 'ok-1', 0, 99, 0, 0, 0, Tag.CAST, target.id, 'after-bad', 0]);
    links.ingest(PEER, 0, [Tag.CAST, target.id, 'ok-2', 0]);
    await flush();
    expect(log).toEqual(['ok-1', 'ok-2']);
    expect(violations.length).toBe(bad.length + 1);
    expect(rt.procs.has(target.id)).toBe(true); // the forged kills did nothing
    expect(links.stats()[0]?.violations).toBe(bad.length + 1);
    // A call from the peer is answered to the peer's calling thread.
    links.ingest(PEER, 2, [Tag.CALL, target.id, 'ping', 7]);
    await flush();
    const reply = sent.find((s) => s.thread === 2);
    expect(reply?.batch.slice(0, 4)).toEqual([Tag.REPLY_OK, 0, 'ping', 7]);
  });

  it('stops reading a batch at its first malformed frame: a batch of a billion words costs one violation', () => {
    const { links, violations } = setup();
    const huge: unknown[] = [];
    huge.length = 2 ** 32 - 4; // sparse: what a hostile node:v8 payload of a few bytes decodes to
    const t0 = performance.now();
    links.ingest(PEER, 0, huge);
    expect(performance.now() - t0).toBeLessThan(1000); // one frame read, not 2^30
    expect(violations).toHaveLength(1);
    const many = Array.from({ length: 4000 }, () => 99);
    links.ingest(PEER, 0, many);
    expect(violations).toHaveLength(2);
  });

  it('keeps at most MAX_PEER_CHANNELS channels to a peer that calls from every thread number; replies still arrive, in order', async () => {
    const { rt, links, sent } = setup();
    const echo = await withRuntime(rt, () => GenServer.start({ init: () => null, handleCall: (m: unknown, s: null) => [m, s] }));
    const threads = MAX_PEER_CHANNELS * 3;
    for (let t = 1; t <= threads; t++) links.ingest(PEER, t, [Tag.CALL, echo.id, `to-${t}`, 1, Tag.CALL, echo.id, `again-${t}`, 2]);
    await flush();
    expect(links.channelCount(PEER)).toBeLessThanOrEqual(MAX_PEER_CHANNELS);
    // Every calling thread got both replies, in order, though most channels were let go.
    for (let t = 1; t <= threads; t++) {
      const words = sent.filter((x) => x.thread === t).flatMap((x) => x.batch);
      const replies = [];
      for (let i = 0; i < words.length; i += 4) if (words[i] === Tag.REPLY_OK) replies.push(words[i + 2]);
      expect(replies).toEqual([`to-${t}`, `again-${t}`]);
    }
    // An evicted thread addressed again gets a channel again.
    links.ingest(PEER, 1, [Tag.CALL, echo.id, 'back', 3]);
    await flush();
    expect(sent.filter((x) => x.thread === 1).flatMap((x) => x.batch)).toContain('back');
  });

  it('never throws on arbitrary input', () => {
    const { links } = setup();
    fc.assert(
      fc.property(fc.array(fc.anything(), { maxLength: 24 }), fc.integer({ min: 0, max: 5 }), (batch, thread) => {
        links.ingest(PEER, thread, batch);
      }),
      { numRuns: 300 },
    );
  });

  it('a lost peer fails pending calls with NodeDownError and fires noconnection', async () => {
    const { rt, links } = setup();
    const remote = peerRef(0, 4);
    const pending = failure(() => withRuntime(rt, () => GenServer.call(remote, 'x', { timeout: 5000 })));
    const exits: unknown[] = [];
    const watcher = await withRuntime(rt, () =>
      GenServer.start(
        {
          init: () => {
            Process.link(remote);
            Process.monitor(remote);
            return null;
          },
          handleInfo: (m: unknown, s: null) => {
            exits.push(m);
            return s;
          },
        },
        { trapExit: true },
      ),
    );
    links.nodeDown(PEER, 'heartbeat_timeout');
    const e = (await pending) as NodeDownError;
    expect(NodeDownError.is(e)).toBe(true);
    expect(e.reason).toBe('heartbeat_timeout');
    expect(e.node).toBe('p@127.0.0.9:4000');
    await flush();
    expect(exits.map((m) => (m as { reason: unknown }).reason)).toEqual(['noconnection', 'noconnection']);
    expect(rt.procs.has(watcher.id)).toBe(true);
    // Later calls to it fail at once with the reason; casts are dropped and counted.
    const later = (await failure(() => withRuntime(rt, () => GenServer.call(remote, 'x')))) as NodeDownError;
    expect(later.reason).toBe('heartbeat_timeout');
    const before = rt.stats.droppedCasts;
    withRuntime(rt, () => GenServer.cast(remote, 'x'));
    expect(rt.stats.droppedCasts).toBe(before + 1);
    // Linking or monitoring a process of a node not connected fires at once.
    const late = await withRuntime(rt, () =>
      GenServer.start(
        {
          init: () => {
            Process.monitor(remote);
            return null;
          },
          handleInfo: (m: unknown, s: null) => {
            exits.push(m);
            return s;
          },
        },
        { trapExit: true },
      ),
    );
    await flush();
    expect(exits.length).toBe(3);
    void late;
    void ServerExitedError;
  });
});
