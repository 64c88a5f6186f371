/**
 * Real etcd servers for the etcd backend tests: one member or three, on 127.0.0.1 with
 * ephemeral ports and temporary data directories. `stop()` kills every member and removes its
 * directory; tests call it in afterAll, so no etcd outlives its test file (and the members
 * die with this process: they are killed on its exit too).
 *
 * Ports are found by binding port 0 and closing the socket, then handed to etcd: another
 * process could take one in between (a member that never gets healthy), so start() tries
 * twice.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True when an `etcd` binary is on the PATH (Debian: `apt-get install etcd-server`). */
export const hasEtcd: boolean = (() => {
  try {
    return spawnSync('etcd', ['--version'], { stdio: 'ignore', timeout: 5000 }).status === 0;
  } catch {
    return false;
  }
})();

/** One etcd member. */
export interface EtcdMember {
  readonly name: string;
  /** `http://127.0.0.1:<port>`. */
  readonly clientUrl: string;
  readonly clientPort: number;
  readonly peerUrl: string;
  readonly dataDir: string;
  process: ChildProcess | undefined;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A running etcd cluster of one or three members. */
export class EtcdCluster {
  private constructor(
    readonly members: EtcdMember[],
    private readonly initialCluster: string,
    private readonly token: string,
  ) {}

  /**
   * Starts `size` members (1 or 3) and waits until every one is healthy; tries a second time,
   * on fresh ports, if a port was taken between picking and binding.
   */
  static async start(size: 1 | 3 = 1): Promise<EtcdCluster> {
    try {
      return await EtcdCluster.startOnce(size);
    } catch {
      return EtcdCluster.startOnce(size);
    }
  }

  private static async startOnce(size: 1 | 3): Promise<EtcdCluster> {
    const token = `spindle-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    const members: EtcdMember[] = [];
    for (let i = 0; i < size; i++) {
      const clientPort = await freePort();
      const peerPort = await freePort();
      members.push({
        name: `m${i}`,
        clientPort,
        clientUrl: `http://127.0.0.1:${clientPort}`,
        peerUrl: `http://127.0.0.1:${peerPort}`,
        dataDir: mkdtempSync(join(tmpdir(), 'spindle-etcd-')),
        process: undefined,
      });
    }
    const cluster = new EtcdCluster(members, members.map((m) => `${m.name}=${m.peerUrl}`).join(','), token);
    try {
      for (const m of members) cluster.spawn(m);
      await Promise.all(members.map((m) => cluster.waitHealthy(m, 20_000)));
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  /** Every member's client URL. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  private spawn(m: EtcdMember): void {
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${this.initialCluster}`,
      `--initial-cluster-state=new`,
      `--initial-cluster-token=${this.token}`,
      '--logger=zap',
      '--log-level=error',
    ];
    const child = spawn('etcd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let tail = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      tail = (tail + chunk.toString()).slice(-4000);
    });
    (child as ChildProcess & { tail: () => string }).tail = () => tail;
    live.add(child);
    child.once('exit', () => live.delete(child));
    m.process = child;
  }

  /** Polls the member's /health until it reports healthy (it has a leader). */
  async waitHealthy(m: EtcdMember, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (m.process === undefined || m.process.exitCode !== null) break;
      try {
        const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: unknown };
        if (body.health === 'true' || body.health === true) return;
      } catch {
        // not up yet
      }
      await sleep(100);
    }
    const tail = (m.process as (ChildProcess & { tail?: () => string }) | undefined)?.tail?.() ?? '';
    throw new Error(`etcd member ${m.name} (${m.clientUrl}) did not become healthy within ${timeoutMs} ms\n${tail}`);
  }

  /** The member that is the raft leader now (asked of the given live members). */
  async leader(): Promise<EtcdMember> {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      for (const m of this.members) {
        if (m.process === undefined) continue;
        try {
          const res = await fetch(`${m.clientUrl}/v3/maintenance/status`, {
            method: 'POST',
            body: '{}',
            signal: AbortSignal.timeout(1000),
          });
          const body = (await res.json()) as { header?: { member_id?: string }; leader?: string };
          if (body.leader !== undefined && body.leader !== '0' && body.leader === body.header?.member_id) return m;
        } catch {
          // try the next member
        }
      }
      await sleep(100);
    }
    throw new Error('no etcd leader found within 10 s');
  }

  /** SIGKILLs one member (its data directory stays until stop()). */
  async kill(m: EtcdMember): Promise<void> {
    const p = m.process;
    m.process = undefined;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGKILL');
    await exited;
  }

  /** Kills every member and removes every data directory. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m)));
    for (const m of this.members) rmSync(m.dataDir, { recursive: true, force: true });
  }
}
