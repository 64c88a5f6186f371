/**
 * GlobalRegistry on three nodes (this process and two node processes from the test kit,
 * test/cluster/kit/node-main.ts), on both backends:
 * - register latency: `GlobalRegistry.register(name, ref)` of a local process, from this node,
 *   which is not the embedded arbiter (the smallest id is a peer's), so each register is one
 *   request to the arbiter and its answer. Baseline, paired sample by sample: a raw TCP round
 *   trip (64 bytes) to an echo server in another process on loopback — the floor of one
 *   request/answer between processes. On etcd: register is a create-if-absent transaction bound
 *   to the lease; baseline: the same transaction made directly with the etcd3 client against
 *   the same etcd (started by the scenario: test/cluster/kit/etcd.ts).
 * - whereis latency: a lookup answers from this node's replica (synchronous); baseline: a
 *   `Map.get` over as many names, interleaved with it round by round.
 * The etcd rows are left out (with a note on stderr) when no `etcd` binary or `etcd3` client.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import type { Etcd3 } from 'etcd3';
import type { AnyRef, ClusterBackend } from '../src/index.js';
import { Cluster, currentRuntime, GenServer, GlobalRegistry, silentLogger } from '../src/index.js';
import { type NodeHandle, startNode, stopAll, TEST_SECRET, waitMesh } from '../test/cluster/kit/cluster-kit.js';
import { EtcdCluster, hasEtcd } from '../test/cluster/kit/etcd.js';
import type { Row, Scenario } from './lib.js';
import { freshRuntime, mainIfEntry, median, now, percentile } from './lib.js';

const REGISTERS = 200;
const LOOKUPS = 200_000;
/** Timed whereis / Map.get rounds (interleaved), after 2 untimed. */
const LOOKUP_ROUNDS = 5;

/** A TCP echo server in its own process, and a client doing one round trip at a time. */
async function rawEcho(host: string): Promise<{ rtt: () => Promise<number>; close: () => void }> {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-e',
      `const s=require('net').createServer(c=>{c.setNoDelay(true);c.on('data',d=>c.write(d));c.on('error',()=>{})});s.listen(0,${JSON.stringify(host)},()=>process.send(s.address().port));process.on('disconnect',()=>process.exit(0));`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve(m as number)));
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => resolve(s));
    s.once('error', reject);
  });
  socket.setNoDelay(true);
  const payload = Buffer.alloc(64, 7);
  let waiter: (() => void) | undefined;
  let got = 0;
  socket.on('data', (d: Buffer) => {
    got += d.length;
    if (got >= payload.length) {
      got = 0;
      waiter?.();
    }
  });
  return {
    rtt: () =>
      new Promise<number>((resolve) => {
        const t0 = now();
        waiter = () => resolve(now() - t0);
        socket.write(payload);
      }),
    close: () => {
      socket.destroy();
      child.kill();
    },
  };
}

async function threeNodes(
  backend: ClusterBackend | undefined,
  peerOptions: Record<string, unknown>,
): Promise<{ peers: NodeHandle[]; stop: () => Promise<void> }> {
  freshRuntime();
  currentRuntime().logger = silentLogger;
  const self = await Cluster.start({
    nodeName: 'zb',
    host: '127.0.0.51',
    clusterSecret: TEST_SECRET,
    ...(backend !== undefined ? { backend } : {}),
  });
  const peers = await Promise.all(
    ['a1', 'a2'].map((name, i) => startNode({ nodeName: name, host: `127.0.0.${52 + i}`, seeds: [self], ...peerOptions })),
  );
  await waitMesh(peers);
  while (Cluster.getNodeIds().length < 2) await new Promise((r) => setTimeout(r, 20));
  return {
    peers,
    stop: async () => {
      await Cluster.stop();
      await stopAll();
    },
  };
}

async function idleProcesses(n: number): Promise<AnyRef[]> {
  const out: AnyRef[] = [];
  for (let i = 0; i < n; i++) out.push(await GenServer.start({ init: () => null }));
  return out;
}

/**
 * ns per whereis over the registered names, and ns per Map.get over as many keys: measured
 * interleaved (whereis, Map.get, whereis, …), LOOKUP_ROUNDS timed rounds after 2 untimed.
 * (It used to be one whereis loop then one Map.get loop: one sample each, before/after.)
 */
function lookups(names: readonly string[]): { spindle: number[]; baseline: number[] } {
  const map = new Map(names.map((n) => [n, { node: 'x', thread: 0, id: 1 }]));
  const out = { spindle: [] as number[], baseline: [] as number[] };
  for (let round = 0; round < LOOKUP_ROUNDS + 2; round++) {
    let sink = 0;
    const t0 = now();
    for (let i = 0; i < LOOKUPS; i++) if (GlobalRegistry.whereis(names[i % names.length] as string) !== undefined) sink++;
    const t1 = now();
    for (let i = 0; i < LOOKUPS; i++) if (map.get(names[i % names.length] as string) !== undefined) sink++;
    const t2 = now();
    if (sink !== 2 * LOOKUPS) throw new Error(`lookups found ${sink} of ${2 * LOOKUPS}`);
    if (round < 2) continue;
    out.spindle.push(((t1 - t0) * 1e6) / LOOKUPS);
    out.baseline.push(((t2 - t1) * 1e6) / LOOKUPS);
  }
  return out;
}

function rows(
  kind: string,
  reg: { spindle: number[]; baseline: number[] },
  look: { spindle: number[]; baseline: number[] },
  label: string,
  target: number,
): Row[] {
  return [
    {
      scenario: `global register, 3 nodes (${kind})`,
      spindle: median(reg.spindle),
      baseline: median(reg.baseline),
      baselineLabel: label,
      unit: 'ms',
      checks: [{ label: `median < ${target} ms`, pass: median(reg.spindle) < target }],
      samples: reg,
      extra: { p99: percentile(reg.spindle, 99), max: Math.max(...reg.spindle), count: reg.spindle.length },
    },
    {
      scenario: `global whereis, 3 nodes (${kind})`,
      spindle: median(look.spindle),
      baseline: median(look.baseline),
      baselineLabel: 'Map.get over as many names',
      unit: 'ns/call',
      checks: [{ label: '< 1 µs (local replica)', pass: median(look.spindle) < 1000 }],
      samples: look,
    },
  ];
}

async function embedded(): Promise<Row[]> {
  const c = await threeNodes(undefined, {});
  const echo = await rawEcho('127.0.0.52');
  try {
    const refs = await idleProcesses(REGISTERS + 20);
    const reg = { spindle: [] as number[], baseline: [] as number[] };
    for (let i = 0; i < REGISTERS + 20; i++) {
      const t0 = now();
      await GlobalRegistry.register(`bench-${i}`, refs[i] as AnyRef);
      const dt = now() - t0;
      const raw = await echo.rtt();
      if (i >= 20) {
        reg.spindle.push(dt);
        reg.baseline.push(raw);
      }
    }
    const look = lookups(GlobalRegistry.getNames().filter((n) => n.startsWith('bench-')));
    return rows('embedded', reg, look, 'raw TCP round trip to another process', 5);
  } finally {
    echo.close();
    await c.stop();
  }
}

async function withEtcd(): Promise<Row[]> {
  const etcd3 = await import('etcd3').catch(() => undefined);
  if (!hasEtcd || etcd3 === undefined) {
    process.stderr.write('global-registry: no etcd binary or etcd3 client; etcd rows left out\n');
    return [];
  }
  const server = await EtcdCluster.start(1);
  const prefix = `/bench-gr-${process.pid}`;
  const { etcd } = await import('../src/etcd.js');
  let client: Etcd3 | undefined;
  let c: { stop: () => Promise<void> } | undefined;
  try {
    c = await threeNodes(etcd({ endpoints: server.endpoints, leaseTtlMs: 5000, prefix }), {
      backend: 'etcd',
      etcdEndpoints: server.endpoints,
      leaseTtlMs: 5000,
      etcdPrefix: prefix,
    });
    client = new etcd3.Etcd3({ hosts: server.endpoints });
    const lease = client.lease(5, { autoKeepAlive: true });
    await lease.grant();
    const refs = await idleProcesses(REGISTERS + 20);
    const reg = { spindle: [] as number[], baseline: [] as number[] };
    for (let i = 0; i < REGISTERS + 20; i++) {
      const t0 = now();
      await GlobalRegistry.register(`bench-${i}`, refs[i] as AnyRef);
      const dt = now() - t0;
      const key = `/bench-raw-${process.pid}/names/n${i}`;
      const t1 = now();
      await client
        .if(key, 'Create', '==', 0)
        .then(lease.put(key).value(JSON.stringify(refs[i])))
        .commit();
      const raw = now() - t1;
      if (i >= 20) {
        reg.spindle.push(dt);
        reg.baseline.push(raw);
      }
    }
    const look = lookups(GlobalRegistry.getNames().filter((n) => n.startsWith('bench-')));
    await lease.revoke().catch(() => {});
    return rows('etcd', reg, look, 'etcd3 client: the same create-if-absent txn', 20);
  } finally {
    client?.close();
    await c?.stop();
    await server.stop();
  }
}

export const scenario: Scenario = {
  name: 'global-registry',
  description: 'GlobalRegistry register and whereis latency on 3 nodes, embedded and etcd backends',
  async run() {
    const out = await embedded();
    out.push(...(await withEtcd()));
    return out;
  },
};

mainIfEntry(scenario, import.meta.url);
