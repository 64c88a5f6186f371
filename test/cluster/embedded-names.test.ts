/**
 * The embedded backend's conflict rules, driven directly (no sockets): a holder learnt from a
 * peer that differs from the one here is settled by the resolver, which may end the local loser
 * (the default) or notify it; a resolver that throws falls back to the default, and one that
 * answers neither holder keeps the one here.
 */
import { describe, expect, it } from 'vitest';
import type { NameResolver } from '../../src/cluster/embedded-names.js';
import { EmbeddedNames, smallerRefWins } from '../../src/cluster/embedded-names.js';
import { makeRef } from '../../src/core/ref.js';
import type { AnyRef } from '../../src/index.js';
import { GenServer, Runtime, silentLogger, withRuntime } from '../../src/index.js';
import { flush } from '../../src/testing.js';

const PEER = 'a@127.0.0.1:1001~x1';

async function setup(resolver?: NameResolver) {
  const rt = new Runtime({ node: 'h@127.0.0.1:1000~x0', logger: silentLogger });
  const evicted: string[] = [];
  const infos: unknown[] = [];
  const local = await withRuntime(rt, () =>
    GenServer.start({
      init: () => null,
      handleInfo: (m: unknown, s: null) => {
        infos.push(m);
        return s;
      },
    }),
  );
  // Alone while it registers (so it decides itself), then connected to the peer.
  let peers: string[] = [];
  const names = new EmbeddedNames(rt, { connected: () => peers, control: () => {}, call: async () => true }, resolver);
  await names.start({
    node: rt.node,
    shortId: 'h@127.0.0.1:1000',
    learn: () => {},
    emit: () => {},
    evict: (_ref, name) => evicted.push(name),
    watch: () => () => {},
    log: () => {},
  });
  await names.register('n', local);
  peers = [PEER];
  return { rt, names, local, evicted, infos };
}

describe('EmbeddedNames conflicts', () => {
  it('the default resolver keeps the smaller ref and ends the local loser', async () => {
    const { names, local, evicted } = await setup();
    const remote = makeRef(PEER, 0, 1); // 'a@…' sorts before 'h@…': the peer's holder wins
    expect(smallerRefWins('n', local, remote)).toEqual(remote);
    names.gossip(PEER, { type: 'g_sync', entries: [['n', remote]] });
    expect(names.whereis('n')).toEqual(remote);
    expect(evicted).toEqual(['n']);
    await names.stop();
  });

  it('a notify resolver tells the local loser instead of ending it', async () => {
    const { names, evicted, infos } = await setup((_n, _a, b) => ({ winner: b, notify: true }));
    const remote = makeRef(PEER, 0, 1);
    names.gossip(PEER, { type: 'g_sync', entries: [['n', remote]] });
    expect(names.whereis('n')).toEqual(remote);
    await flush();
    expect(evicted).toEqual([]);
    expect(infos).toEqual([{ type: 'name_conflict', name: 'n', winner: remote }]);
    await names.stop();
  });

  it('a resolver that throws falls back to the default; one that picks neither keeps the holder', async () => {
    const thrower = await setup(() => {
      throw new Error('boom');
    });
    const remote = makeRef(PEER, 0, 1);
    thrower.names.gossip(PEER, { type: 'g_sync', entries: [['n', remote]] });
    expect(thrower.names.whereis('n')).toEqual(remote); // the default: the smaller ref
    await thrower.names.stop();
    const stray = await setup(() => makeRef('x@127.0.0.1:9~z', 0, 9) as AnyRef);
    stray.names.gossip(PEER, { type: 'g_sync', entries: [['n', remote]] });
    expect(stray.names.whereis('n')).toEqual(stray.local);
    await stray.names.stop();
  });
});
