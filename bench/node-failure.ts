/**
 * Failure detection between two nodes (this process and a peer process, loopback TCP):
 * - kill -9 of the peer: time from the signal to `onNodeDown`, beside the time a raw TCP socket
 *   to the same process takes to see its close (the floor: the kernel's RST);
 * - SIGSTOP of the peer (a hung node): time to `onNodeDown` with the default heartbeats
 *   (500 ms ticks, 5 s silence cap), against that cap;
 * - no false downs under load: casts at 100k msg/s for 5 s with an aggressive 500 ms cap
 *   (100 ms × 5) on both nodes.
 */
import type { Ref } from '../src/index.js';
import { Cluster, GenServer } from '../src/index.js';
import type { Scenario } from './lib.js';
import { mainIfEntry, median, now } from './lib.js';
import { startPair } from './node-common.js';

const KILL_RUNS = 5;
const STOP_RUNS = 3;

function nextDown(): Promise<{ at: number; reason: string }> {
  return new Promise((resolve) => {
    const off = Cluster.onNodeDown((_n, reason) => {
      off();
      resolve({ at: now(), reason });
    });
  });
}

async function killOnce(): Promise<{ node: number; raw: number }> {
  const pair = await startPair();
  const down = nextDown();
  const t0 = now();
  pair.child.kill('SIGKILL');
  const d = await down;
  while (pair.raw.closedAt === undefined) await new Promise((r) => setTimeout(r, 1));
  const raw = pair.raw.closedAt - t0;
  await pair.stop();
  return { node: d.at - t0, raw };
}

async function stopOnce(): Promise<number> {
  const pair = await startPair();
  const down = nextDown();
  const t0 = now();
  pair.child.kill('SIGSTOP');
  const d = await down;
  pair.child.kill('SIGKILL');
  await pair.stop();
  if (d.reason !== 'heartbeat_timeout') throw new Error(`SIGSTOP seen as ${d.reason}`);
  return d.at - t0;
}

/** Casts at `rate` per second for `ms`; returns the rate reached and the downs seen meanwhile. */
async function underLoad(rate: number, ms: number): Promise<{ rate: number; downs: number }> {
  const pair = await startPair({ heartbeatIntervalMs: 100, heartbeatMissThreshold: 5 });
  let downs = 0;
  const off = Cluster.onNodeDown(() => downs++);
  const ref = pair.counter as Ref<{ call: ['get', number]; cast: { n: number } }>;
  const before = await GenServer.call(ref, 'get');
  const t0 = now();
  let sent = 0;
  while (now() - t0 < ms) {
    const due = Math.floor(((now() - t0) * rate) / 1000);
    for (; sent < due; sent++) GenServer.cast(ref, { n: 1 });
    await new Promise((r) => setTimeout(r, 1));
  }
  const count = await GenServer.call(ref, 'get', { timeout: 30_000 });
  const elapsed = now() - t0;
  off();
  await pair.stop();
  if (count - before !== sent) throw new Error(`peer counted ${count - before} of ${sent} casts`);
  return { rate: (sent * 1000) / elapsed, downs };
}

export const scenario: Scenario = {
  name: 'node-failure',
  description: 'failure detection: kill -9 and SIGSTOP of a peer node, and no false downs at 100k msg/s',
  async run() {
    const kills: { node: number; raw: number }[] = [];
    for (let i = 0; i < KILL_RUNS; i++) kills.push(await killOnce());
    const stops: number[] = [];
    for (let i = 0; i < STOP_RUNS; i++) stops.push(await stopOnce());
    const load = await underLoad(100_000, 5000);
    const killNode = kills.map((k) => k.node);
    const killRaw = kills.map((k) => k.raw);
    const cap = 5000;
    return [
      {
        scenario: 'node down after kill -9',
        spindle: median(killNode),
        baseline: median(killRaw),
        baselineLabel: 'raw TCP socket sees the close',
        unit: 'ms',
        checks: [{ label: '< 1000 ms', pass: Math.max(...killNode) < 1000 }],
        samples: { spindle: killNode, baseline: killRaw },
        extra: { max: Math.max(...killNode) },
      },
      {
        scenario: 'node down after SIGSTOP (default heartbeats)',
        spindle: median(stops),
        baseline: cap,
        baselineLabel: 'silence cap (500 ms × 10)',
        unit: 'ms',
        ratioOf: 'cap',
        checks: [{ label: '≤ 5 s cap', pass: Math.max(...stops) <= cap + 250 }],
        samples: { spindle: stops, baseline: stops.map(() => cap) },
        extra: { max: Math.max(...stops) },
      },
      {
        scenario: 'casts at 100k msg/s for 5 s, 500 ms silence cap',
        spindle: load.rate,
        baseline: 100_000,
        baselineLabel: 'offered rate',
        unit: 'msg/s',
        ratioOf: 'offered',
        checks: [{ label: '0 false downs', pass: load.downs === 0 }],
        samples: { spindle: [load.rate], baseline: [100_000] },
        extra: { falseDowns: load.downs },
      },
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
