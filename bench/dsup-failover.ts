/**
 * DistributedSupervisor failover with node processes (test/cluster/kit): three nodes run a
 * supervisor of three children (round robin, one per node); the node running child `c2` is
 * killed with kill -9; failover is the time from the signal to the child's `init` on a
 * survivor (the child is registered under its cluster-wide name before `init` runs, so it is
 * running then), as seen by this process over IPC. Baseline, in the same run: failure
 * detection, the time from the signal to the last survivor's `nodeDown` for the killed node
 * (over the same IPC). Fresh cluster each run, at least 5 runs per backend: median and max.
 *
 * On etcd the killed node's names stay until its lease runs out (TTL 2 s here, etcd's
 * minimum with its default election timeout): failover is bounded by that, not by detection;
 * `extra.released` is when a survivor's replica first lost the name (polled every 10 ms), and
 * the check is against it. (Embedded releases and re-places within a poll: mostly null.)
 * The etcd rows are left out when no `etcd` binary or `etcd3` client.
 */
import type { AnyRef } from '../src/index.js';
import { type NodeHandle, stopAll, until } from '../test/cluster/kit/cluster-kit.js';
import { type BackendKind, backendOptions, settleInvariants, startBackendCluster, Tracker } from '../test/cluster/kit/dsup-kit.js';
import { EtcdCluster, hasEtcd } from '../test/cluster/kit/etcd.js';
import type { Row, Scenario } from './lib.js';
import { mainIfEntry, median, now } from './lib.js';

const RUNS = Math.max(5, Number(process.env.BENCH_RUNS) || 5);
const KIDS = ['c1', 'c2', 'c3'];

interface One {
  failover: number;
  detect: number;
  released: number | undefined;
}

async function once(kind: BackendKind, run: number, endpoints: string[]): Promise<One> {
  const t = new Tracker();
  try {
    const nodes = await startBackendCluster(3, {
      prefix: `f${run}-`,
      hostBase: 170 + (run % 4) * 5,
      ...backendOptions(kind, endpoints, `/bench-dsup-${process.pid}-${run}`),
    });
    await t.req(nodes[0] as NodeHandle, {
      cmd: 'dsupStart',
      name: 'fo',
      nodeSelector: 'round_robin',
      children: KIDS.map((id) => ({ id })),
    });
    await settleInvariants(t, nodes, { sup: 'fo', ids: KIDS }, 15000);
    const holder = await t.req<AnyRef | null>(nodes[0] as NodeHandle, { cmd: 'gWhereis', name: 'dsup:fo:c2' });
    const victim = nodes.find((n) => holder?.node.startsWith(`${n.nodeId}~`)) as NodeHandle;
    const survivors = nodes.filter((n) => n !== victim);
    const watcher = survivors[0] as NodeHandle;
    let released: number | undefined;
    const killedAt = now();
    victim.kill('SIGKILL');
    const polling = (async () => {
      while (released === undefined && now() - killedAt < 15000) {
        if ((await watcher.request<AnyRef | null>({ cmd: 'gWhereis', name: 'dsup:fo:c2' }, 5000).catch(() => holder)) === null)
          released = now() - killedAt;
        else await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const downs = await Promise.all(survivors.map((s) => s.waitFor((e) => e.event === 'nodeDown' && e.node === victim.nodeId, 15000)));
    const init = await until(
      () => survivors.flatMap((s) => s.events).find((e) => e.event === 'probeInit' && e.tag === 'c2' && e.at >= killedAt),
      15000,
      'c2 to run again',
      2,
    );
    await polling;
    await settleInvariants(t, survivors, { sup: 'fo', ids: KIDS }, 15000);
    return { failover: init.at - killedAt, detect: Math.max(...downs.map((d) => d.at)) - killedAt, released };
  } finally {
    await stopAll();
  }
}

async function series(kind: BackendKind, endpoints: string[] = []): Promise<Row> {
  const runs: One[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once(kind, i, endpoints));
  const failover = runs.map((r) => r.failover);
  const detect = runs.map((r) => r.detect);
  const released = runs.map((r) => r.released ?? Number.NaN);
  // On etcd the name goes with the lease: "detection" is that release (polled, ±10 ms).
  const bound = kind === 'embedded' ? 'detection + 1000 ms' : 'name released (lease) + 1000 ms';
  const limit = (r: One) => (kind === 'embedded' ? r.detect + 1000 : (r.released ?? 3000) + 1000 + 20);
  return {
    scenario: `dsup failover after kill -9, 3 nodes (${kind})`,
    spindle: median(failover),
    baseline: median(detect),
    baselineLabel: 'failure detection (nodeDown), same run',
    unit: 'ms',
    checks: [{ label: `every run ≤ ${bound}`, pass: runs.every((r) => r.failover <= limit(r)) }],
    samples: { spindle: failover, baseline: detect },
    extra: { max: Math.max(...failover), maxDetect: Math.max(...detect), released, runs: runs.length },
  };
}

export const scenario: Scenario = {
  name: 'dsup-failover',
  description: 'DistributedSupervisor failover time after kill -9 of a child’s node, against detection, on both backends',
  async run() {
    const out = [await series('embedded')];
    const etcd3 = await import('etcd3').catch(() => undefined);
    if (!hasEtcd || etcd3 === undefined) {
      process.stderr.write('dsup-failover: no etcd binary or etcd3 client; etcd rows left out\n');
      return out;
    }
    const server = await EtcdCluster.start(1);
    try {
      out.push(await series('etcd', server.endpoints));
    } finally {
      await server.stop();
    }
    return out;
  },
};

mainIfEntry(scenario, import.meta.url);
