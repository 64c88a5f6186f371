/**
 * The etcd backend against a real etcd (test/cluster/kit/etcd.ts), driven directly through a
 * fake BackendContext per "node" (no cluster, no runtime), plus one test through
 * `Cluster.start({ backend: etcd(…) })` and GlobalRegistry. Skipped when no `etcd` binary is
 * installed (Debian: `apt-get install etcd-server`; .ci/run installs it) or the optional
 * `etcd3` client is not.
 */
import type { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AnyRef, makeRef, refKey } from '../../src/core/ref.js';
import type { BackendContext, GlobalNameEvent } from '../../src/cluster/backend.js';
import type { EtcdBackend } from '../../src/cluster/etcd-backend.js';
import { etcd } from '../../src/etcd.js';
import { AlreadyRegisteredError, CallTimeoutError, RuntimeClosedError } from '../../src/errors.js';
import { Cluster, GenServer, GlobalRegistry, Runtime, silentLogger, withRuntime } from '../../src/index.js';
import { EtcdCluster, hasEtcd } from './kit/etcd.js';
import { FaultProxy } from './kit/proxy.js';

/** The optional etcd3 client (absent with `npm ci --omit=optional`: then these tests skip). */
const etcd3 = await import('etcd3').catch(() => undefined);
const runnable = hasEtcd && etcd3 !== undefined;

/** etcd's smallest lease TTL with its default 1 s election timeout. */
const TTL = 2000;
/** Time for a lease to run out in etcd and the delete to reach another node's watch. */
const EXPIRY_SLACK = 3000;

let nextPort = 41000;
let nextPrefix = 0;

/** A fake node: the context a cluster would give its backend, with handles for the test. */
class FakeNode {
  readonly shortId: string;
  readonly node: string;
  readonly events: GlobalNameEvent[] = [];
  readonly learned: string[] = [];
  readonly logs: string[] = [];
  private readonly exits = new Map<string, Set<() => void>>();
  private nextId = 1;

  constructor(name: string) {
    this.shortId = `${name}@127.0.0.1:${nextPort++}`;
    this.node = `${this.shortId}~${Math.floor(Math.random() * 1e6).toString(36)}`;
  }

  /** The context a cluster would pass to `backend.start`. */
  context(): BackendContext {
    return {
      node: this.node,
      shortId: this.shortId,
      learn: (id) => this.learned.push(id),
      emit: (e) => this.events.push(e),
      evict: () => {},
      watch: (ref, onExit) => {
        const key = refKey(ref);
        let set = this.exits.get(key);
        if (set === undefined) this.exits.set(key, (set = new Set()));
        set.add(onExit);
        return () => set.delete(onExit);
      },
      log: (level, message) => this.logs.push(`${level}: ${message}`),
    };
  }

  spawn(): AnyRef {
    return makeRef(this.node, 0, this.nextId++);
  }

  /** The process exits: every onExit watching it runs. */
  exit(ref: AnyRef): void {
    const set = this.exits.get(refKey(ref));
    this.exits.delete(refKey(ref));
    for (const f of set ?? []) f();
  }
}

async function until(what: string, check: () => boolean, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - start;
}

describe.skipIf(!runnable)('etcd backend (one etcd member)', () => {
  let etcdCluster: EtcdCluster;
  let raw: Etcd3;
  const backends: EtcdBackend[] = [];
  const proxies: FaultProxy[] = [];
  let prefix: string;

  /** A node on the etcd (or `endpoints`); its lease TTL is 5 s unless a test is about expiry. */
  async function startNode(name: string, endpoints?: string[], leaseTtlMs = 5000): Promise<{ node: FakeNode; backend: EtcdBackend }> {
    const node = new FakeNode(name);
    const backend = etcd({ endpoints: endpoints ?? etcdCluster.endpoints, leaseTtlMs, prefix });
    backends.push(backend);
    await backend.start(node.context());
    return { node, backend };
  }

  beforeAll(async () => {
    etcdCluster = await EtcdCluster.start(1);
    raw = new etcd3!.Etcd3({ hosts: etcdCluster.endpoints });
  });
  afterEach(async () => {
    await Promise.all(backends.splice(0).map((b) => b.stop()));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    prefix = `/t${++nextPrefix}`;
  });
  afterAll(async () => {
    raw?.close();
    await etcdCluster?.stop();
  });
  prefix = `/t${++nextPrefix}`;

  it('registers, finds, lists and unregisters names; nodes learn each other', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    await until(
      'a and b to learn each other',
      () => a.node.learned.includes(b.node.shortId) && b.node.learned.includes(a.node.shortId),
      3000,
    );
    expect(a.node.learned).not.toContain(a.node.shortId);

    const ref = a.node.spawn();
    await a.backend.register('svc', ref);
    expect(a.backend.whereis('svc')).toEqual(ref); // the replica shows it once register resolves
    expect(a.node.events).toContainEqual({ type: 'registered', name: 'svc', ref });
    await until('b to see svc', () => b.backend.whereis('svc') !== undefined, 3000);
    expect(b.backend.whereis('svc')).toEqual(ref);
    expect(b.backend.names()).toEqual(['svc']);

    const other = b.node.spawn();
    const err = await b.backend.register('svc', other).catch((e: unknown) => e);
    expect(AlreadyRegisteredError.is(err)).toBe(true);
    expect((err as AlreadyRegisteredError).holder).toContain(a.node.node);

    await b.backend.unregister('svc'); // by anyone, as global:unregister_name
    expect(b.backend.whereis('svc')).toBeUndefined();
    await until('a to see svc go', () => a.backend.whereis('svc') === undefined, 3000);
    expect(a.node.events).toContainEqual({ type: 'unregistered', name: 'svc', ref, reason: 'unregistered' });
    await b.backend.unregister('svc'); // not held: resolves
    await b.backend.register('svc', other);
    expect(b.backend.whereis('svc')).toEqual(other);
    await until('a to see svc again', () => a.backend.whereis('svc') !== undefined, 3000);
    // Each change is reported once per node (a node's own change and its watch copy are one).
    for (const node of [a.node, b.node]) {
      const seen = node.events.filter((e) => e.name === 'svc').map((e) => e.type);
      expect(seen).toEqual(['registered', 'unregistered', 'registered']);
    }
  });

  it('catches up from a full read when its watch breaks', async () => {
    const [endpoint] = etcdCluster.members;
    const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: endpoint!.clientPort } });
    proxies.push(proxy);
    const a = await startNode('a', [`127.0.0.1:${proxy.port}`]);
    const b = await startNode('b');
    const x = b.node.spawn();
    await b.backend.register('x', x);
    await until('a to see x', () => a.backend.whereis('x') !== undefined, 3000);
    proxy.blackhole(); // a hears nothing of what follows until the cut
    const y = b.node.spawn();
    await b.backend.unregister('x');
    await b.backend.register('y', y);
    proxy.cut();
    proxy.heal();
    await until('a to catch up', () => a.backend.whereis('x') === undefined && a.backend.whereis('y') !== undefined, 5000);
    expect(a.backend.whereis('y')).toEqual(y);
    expect(a.node.events.filter((e) => e.name === 'x' || e.name === 'y').map((e) => `${e.type} ${e.name}`)).toEqual([
      'registered x',
      'unregistered x',
      'registered y',
    ]);
  });

  it('lets exactly one of two nodes win a name registered by both at once', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const names = Array.from({ length: 20 }, (_, i) => `race-${i}`);
    const results = await Promise.all(
      names.map((n) => Promise.allSettled([a.backend.register(n, a.node.spawn()), b.backend.register(n, b.node.spawn())])),
    );
    for (const [i, pair] of results.entries()) {
      const won = pair.filter((r) => r.status === 'fulfilled');
      expect(won, names[i]).toHaveLength(1);
      const lost = pair.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(AlreadyRegisteredError.is(lost.reason)).toBe(true);
    }
    await until(
      'both replicas to agree',
      () => names.every((n) => a.backend.whereis(n) !== undefined && b.backend.whereis(n) !== undefined),
      3000,
    );
    for (const n of names) expect(a.backend.whereis(n)).toEqual(b.backend.whereis(n));
  });

  it('releases a name when its process exits, and only that holder', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const ref = a.node.spawn();
    await a.backend.register('worker', ref);
    await until('b to see worker', () => b.backend.whereis('worker') !== undefined, 3000);
    a.node.exit(ref);
    await until(
      'worker to be released',
      () => a.backend.whereis('worker') === undefined && b.backend.whereis('worker') === undefined,
      3000,
    );
    expect(a.node.events).toContainEqual({ type: 'unregistered', name: 'worker', ref, reason: 'exited' });
    expect(b.node.events).toContainEqual({ type: 'unregistered', name: 'worker', ref, reason: 'unregistered' });

    // An exit after the name moved on must not delete the new holder's key.
    const ref2 = a.node.spawn();
    await a.backend.register('w2', ref2);
    await a.backend.unregister('w2');
    const ref3 = b.node.spawn();
    await b.backend.register('w2', ref3);
    a.node.exit(ref2);
    await new Promise((r) => setTimeout(r, 300));
    expect(a.backend.whereis('w2')).toEqual(ref3);
  });

  it('releases the names of a node whose lease expires (it stopped without revoking)', async () => {
    const a = await startNode('a', undefined, TTL);
    const b = await startNode('b');
    const ref = a.node.spawn();
    await a.backend.register('doomed', ref);
    await until('b to see doomed', () => b.backend.whereis('doomed') !== undefined, 3000);
    // A crash: the client goes away, the lease is not revoked.
    (a.backend as unknown as { client: Etcd3 }).client.close();
    const took = await until('b to drop doomed', () => b.backend.whereis('doomed') === undefined, TTL + EXPIRY_SLACK);
    expect(took).toBeGreaterThan(500); // it took the lease to expire, not a delete
    expect(b.node.events).toContainEqual({ type: 'unregistered', name: 'doomed', ref, reason: 'node_down' });
    await until('a to judge its lease lost', () => a.backend.whereis('doomed') === undefined, TTL + EXPIRY_SLACK);
    expect(a.node.events).toContainEqual({ type: 'unregistered', name: 'doomed', ref, reason: 'node_down' });
  });

  it('releases the names of a node cut off from etcd, and re-grants its lease when etcd is back', async () => {
    const [endpoint] = etcdCluster.members;
    const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: endpoint!.clientPort } });
    proxies.push(proxy);
    const a = await startNode('a', [`127.0.0.1:${proxy.port}`], TTL);
    const b = await startNode('b');
    const ref = a.node.spawn();
    await a.backend.register('cut', ref);
    await until('b to see cut', () => b.backend.whereis('cut') !== undefined, 3000);

    proxy.blackhole();
    const t0 = Date.now();
    await until('b to drop cut', () => b.backend.whereis('cut') === undefined, TTL + EXPIRY_SLACK);
    expect(b.node.events).toContainEqual({ type: 'unregistered', name: 'cut', ref, reason: 'node_down' });
    await until('a to drop its own name', () => a.backend.whereis('cut') === undefined, TTL + EXPIRY_SLACK);
    expect(a.node.events).toContainEqual({ type: 'unregistered', name: 'cut', ref, reason: 'node_down' });
    // A call while cut off settles within its deadline and one retry, with a typed error.
    const started = Date.now();
    const err = await a.backend.register('during', a.node.spawn()).catch((e: unknown) => e);
    expect(CallTimeoutError.is(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(3500);
    expect(Date.now() - t0).toBeGreaterThan(TTL - 500);

    proxy.heal();
    const nodeKey = `${prefix}/nodes/${a.node.shortId}`;
    const deadline = Date.now() + 10_000;
    while ((await raw.get(nodeKey).string()) === null) {
      if (Date.now() > deadline) throw new Error('node key not re-put within 10 s of heal');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Names are not registered again by themselves; a new registration works.
    expect(await raw.get(`${prefix}/names/cut`).string()).toBeNull();
    const again = a.node.spawn();
    const retry = async (): Promise<void> => {
      for (let i = 0; ; i++) {
        try {
          await a.backend.register('cut', again);
          return;
        } catch (e) {
          if (i >= 10) throw e;
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    };
    await retry();
    await until('b to see cut again', () => b.backend.whereis('cut') !== undefined, 3000);
    expect(b.backend.whereis('cut')).toEqual(again);
  }, 30_000);

  it('retries a failed keepalive within 250 ms, not a third of the TTL later: an outage shorter than the TTL keeps the lease', async () => {
    const ttl = 15_000; // rounds every 5 s
    const [endpoint] = etcdCluster.members;
    const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: endpoint!.clientPort } });
    proxies.push(proxy);
    const a = await startNode('a', [`127.0.0.1:${proxy.port}`], ttl);
    const ref = a.node.spawn();
    await a.backend.register('kept', ref);
    const lease = () => (a.backend as unknown as { lease: { id: string; confirmedAt: number } | undefined }).lease;
    const before = { ...lease()! };
    proxy.blackhole();
    // The first round (at most TTL/3 after the grant) has failed by its 1 s deadline.
    await new Promise((r) => setTimeout(r, before.confirmedAt + ttl / 3 + 1500 - Date.now()));
    expect(lease()?.confirmedAt).toBe(before.confirmedAt);
    proxy.heal();
    // A retry lands within a few hundred ms (one in flight, or one at most a breaker-skip
    // later); the next regular round would be ~4.5 s away.
    await until('a keepalive confirmed after heal', () => lease()!.confirmedAt > before.confirmedAt, 2500);
    expect(lease()?.id).toBe(before.id);
    expect(a.backend.whereis('kept')).toEqual(ref);
    expect(a.node.events.filter((e) => e.type === 'unregistered')).toEqual([]);
  }, 20_000);

  it('ignores hostile values written under the prefix', async () => {
    const a = await startNode('a');
    await raw.put(`${prefix}/names/not-json`).value('{nope');
    await raw.put(`${prefix}/names/bad-shape`).value(JSON.stringify({ node: '', thread: -1, id: 1.5 }));
    await raw.put(`${prefix}/names/huge`).value(JSON.stringify({ node: 'x'.repeat(5000), thread: 0, id: 1 }));
    await raw.put(`${prefix}/names/${'n'.repeat(2000)}`).value(JSON.stringify({ node: 'a@h:1', thread: 0, id: 1 }));
    await raw.put(`${prefix}/nodes/not a node id`).value('x');
    await raw.put(`${prefix}/elsewhere/thing`).value('x');
    await raw
      .put(`${prefix}/names/proto`)
      .value(JSON.stringify({ __proto__: { node: 'p' }, node: 'ok@h:1', thread: 0, id: 2, extra: 'x' }));
    const ref = a.node.spawn();
    await a.backend.register('good', ref);
    // Those were written before (a snapshot) and after (the watch) this node started.
    const b = await startNode('b');
    for (const backend of [a.backend, b.backend]) {
      await until('the good name', () => backend.whereis('good') !== undefined, 3000);
      expect(backend.names().sort()).toEqual(['good', 'proto']);
      expect(backend.whereis('proto')).toEqual({ node: 'ok@h:1', thread: 0, id: 2 }); // a copy: no extra fields
    }
    for (const node of [a.node, b.node]) expect(node.logs.filter((l) => l.startsWith('warn: ignored')).length).toBeGreaterThanOrEqual(5);
    // Members seen while starting are told once start resolved (the cluster takes them then).
    await until('b to learn a', () => b.node.learned.length > 0, 1000);
    expect(a.node.learned).toEqual([b.node.shortId]); // not the bad node key
    expect(b.node.learned).toEqual([a.node.shortId]);
    // Overwriting a held name with garbage removes it from the replicas.
    await raw.put(`${prefix}/names/good`).value('garbage');
    await until('good to go', () => a.backend.whereis('good') === undefined, 3000);
  });

  it('stop revokes the lease: the names vanish for the others at once', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const ref = a.node.spawn();
    await a.backend.register('leaving', ref);
    await until('b to see leaving', () => b.backend.whereis('leaving') !== undefined, 3000);
    await a.backend.stop();
    const took = await until('b to drop leaving', () => b.backend.whereis('leaving') === undefined, 1500);
    expect(took).toBeLessThan(1500);
    expect(b.node.events).toContainEqual({ type: 'unregistered', name: 'leaving', ref, reason: 'node_down' });
    await a.backend.stop(); // idempotent
    const err = await a.backend.register('late', a.node.spawn()).catch((e: unknown) => e);
    expect(RuntimeClosedError.is(err)).toBe(true);
  });

  it('fails to start, within its deadline and one retry, when etcd does not answer', async () => {
    const [endpoint] = etcdCluster.members;
    const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: endpoint!.clientPort } });
    proxies.push(proxy);
    proxy.blackhole();
    const node = new FakeNode('a');
    const backend = etcd({ endpoints: [`127.0.0.1:${proxy.port}`], prefix });
    backends.push(backend);
    const started = Date.now();
    const err = await backend.start(node.context()).catch((e: unknown) => e);
    expect(CallTimeoutError.is(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(3500);
    expect(backend.names()).toEqual([]);
  });

  it('serves GlobalRegistry for Cluster.start({ backend: etcd(…) }): nodes find each other through etcd', async () => {
    const rts: Runtime[] = [];
    const start = async (name: string, host: string): Promise<{ rt: Runtime; on: <T>(fn: () => T) => T }> => {
      const rt = new Runtime({ logger: silentLogger });
      rts.push(rt);
      const backend = etcd({ endpoints: etcdCluster.endpoints, prefix });
      await withRuntime(rt, () => Cluster.start({ nodeName: name, host, clusterSecret: 'etcd-backend-test-secret-0123', backend }));
      return { rt, on: (fn) => withRuntime(rt, fn) };
    };
    try {
      const a = await start('a', '127.0.0.91');
      const b = await start('b', '127.0.0.92'); // no seeds: a is learned from etcd
      await until(
        'a and b to connect',
        () => a.on(() => Cluster.getNodeIds()).length === 1 && b.on(() => Cluster.getNodeIds()).length === 1,
        10_000,
      );
      const ref = await a.on(() => GenServer.start({ init: () => null, handleCall: (m: unknown, st: null) => [m, st] }));
      await a.on(() => GlobalRegistry.register('echo', ref));
      await until('b to see echo', () => b.on(() => GlobalRegistry.whereis('echo')) !== undefined, 3000);
      expect(await b.on(() => GenServer.call({ global: 'echo' }, 'hi'))).toBe('hi');
      await a.on(() => GenServer.stop(ref));
      await until('echo to be released on exit', () => b.on(() => GlobalRegistry.whereis('echo')) === undefined, 3000);
      const ref2 = await a.on(() => GenServer.start({ init: () => null, handleCall: (m: unknown, st: null) => [m, st] }));
      await a.on(() => GlobalRegistry.register('echo', ref2));
      await until('b to see echo again', () => b.on(() => GlobalRegistry.whereis('echo')) !== undefined, 3000);
      await a.on(() => Cluster.stop()); // revokes a's lease
      await until('echo to go with a', () => b.on(() => GlobalRegistry.whereis('echo')) === undefined, 3000);
    } finally {
      for (const rt of rts) {
        await withRuntime(rt, () => Cluster.stop());
        rt.killAll();
      }
    }
  });

  it('claims keys create-if-absent and releases only its own', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const oa = a.node.spawn();
    const ob = b.node.spawn();
    const [ra, rb] = await Promise.all([a.backend.claim('child-1', oa), b.backend.claim('child-1', ob)]);
    expect([ra.won, rb.won].filter(Boolean)).toHaveLength(1);
    const winner = ra.won ? a : b;
    const loser = ra.won ? b : a;
    expect(await loser.backend.release('child-1')).toBe(false); // fenced by lease
    expect(await winner.backend.release('child-1')).toBe(true);
    expect((await loser.backend.claim('child-1', loser.node.spawn())).won).toBe(true);
  });
});

describe.skipIf(!runnable)('etcd backend (three etcd members)', () => {
  let etcdCluster: EtcdCluster;
  const backends: EtcdBackend[] = [];

  beforeAll(async () => {
    etcdCluster = await EtcdCluster.start(3);
  });
  afterAll(async () => {
    await Promise.all(backends.splice(0).map((b) => b.stop()));
    await etcdCluster?.stop();
  });

  it('keeps working when the etcd leader dies; no call hangs past its deadline and retry', async () => {
    const prefix = '/leader';
    const a = new FakeNode('a');
    const b = new FakeNode('b');
    // The lease outlives the 5 s the election may take here (the bound on firstOk below).
    const ba = etcd({ endpoints: etcdCluster.endpoints, leaseTtlMs: 10_000, prefix });
    const bb = etcd({ endpoints: etcdCluster.endpoints, leaseTtlMs: 10_000, prefix });
    backends.push(ba, bb);
    await ba.start(a.context());
    await bb.start(b.context());
    const before = a.spawn();
    await ba.register('before', before);

    const leader = await etcdCluster.leader();
    await etcdCluster.kill(leader);
    const killedAt = Date.now();
    let firstOk: number | undefined;
    let longest = 0;
    const registered: string[] = [];
    for (let i = 0; Date.now() - killedAt < 6000 || firstOk === undefined; i++) {
      if (Date.now() - killedAt > 15_000) break;
      const name = `after-${i}`;
      const t = Date.now();
      try {
        await ba.register(name, a.spawn());
        registered.push(name);
        firstOk ??= Date.now() - killedAt;
      } catch (e) {
        expect(CallTimeoutError.is(e) || (e instanceof Error && !AlreadyRegisteredError.is(e))).toBe(true);
      }
      longest = Math.max(longest, Date.now() - t);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(firstOk).toBeDefined();
    expect(firstOk!).toBeLessThan(5000);
    // Two attempts of one 1 s deadline each, plus a quarter deadline for the replica: never 7 s.
    expect(longest).toBeLessThan(2800);
    expect(registered.length).toBeGreaterThan(3);
    // b's watch reconnects to a new member first: a liveness bound, generous for a loaded machine.
    await until('b to see every name', () => registered.every((n) => bb.whereis(n) !== undefined), 15_000).catch((e: Error) => {
      const missing = registered.filter((n) => bb.whereis(n) === undefined);
      throw new Error(`${e.message}; b misses ${missing.join(',')}; a logged ${a.logs.join(' | ')}; b logged ${b.logs.join(' | ')}`);
    });
    expect(bb.whereis('before')).toEqual(before); // the lease survived the election
  }, 30_000);
});
