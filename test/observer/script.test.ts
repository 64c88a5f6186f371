/**
 * `npm run observer` as a user runs it (tsx in a child process): the demo mode serves a page
 * whose snapshot holds the demo's tree with its thread subtrees, and `--join` joins a running
 * cluster (this test process's node) and shows that node's tree. Ctrl-C (SIGINT) stops it
 * with exit code 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { GenServerBehavior, Snapshot, SupervisorRef } from '../../src/index.js';
import { Cluster, Supervisor, silentLogger } from '../../src/index.js';
import { freshRuntime, waitFor } from '../../src/testing.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const children: ChildProcess[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts scripts/observer.ts with `args`; resolves with the child and the URL it prints. */
function startScript(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; url: string; out: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/observer.ts', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL within 30 s:\n${out}`)), 30_000);
    const look = (): void => {
      const m = /Spindle observer: (http:\/\/\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, url: m[1] as string, out: () => out });
      }
    };
    child.stdout?.on('data', look);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code}:\n${out}`));
    });
  });
}

async function snapshot(url: string): Promise<Snapshot> {
  const res = await fetch(new URL('api/snapshot', url));
  expect(res.status).toBe(200);
  return (await res.json()) as Snapshot;
}

/** Sends SIGINT and resolves with the exit code. */
function interrupt(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGINT');
  });
}

describe('npm run observer', () => {
  it('serves the demo app: its tree with both thread subtrees; Ctrl-C exits 0', async () => {
    const { child, url } = await startScript(['--port', '0']);
    expect(url.startsWith('http://127.0.0.1:')).toBe(true);
    const snap = await snapshot(url);
    const local = snap.nodes[0];
    expect(snap.actions).toBe(false);
    const ids = (local?.trees ?? []).flatMap((t) => t.children.map((c) => c.id));
    expect(ids).toEqual(expect.arrayContaining(['web', 'jobs', 'compute-1', 'compute-2']));
    const threads = (local?.trees ?? []).flatMap((t) => t.children).filter((c) => c.kind === 'thread');
    expect(threads.map((t) => t.thread).every((n) => n > 0)).toBe(true);
    expect(local?.threads.length).toBeGreaterThanOrEqual(3);
    expect(await interrupt(child)).toBe(0);
  }, 60_000);

  it('joins a running cluster with --join and shows that node', async () => {
    const env = freshRuntime({ logger: silentLogger });
    const secret = 'observer-script-test-secret';
    let sup: SupervisorRef | undefined;
    try {
      const id = await Cluster.start({ nodeName: 'app', host: '127.0.0.1', port: 0, clusterSecret: secret });
      const idle: GenServerBehavior<null> = { init: () => null };
      sup = await Supervisor.start({ name: 'app_root', children: [{ id: 'idle-worker', behavior: idle }] });
      const { child, url } = await startScript(['--join', id, '--port', '0', '--cluster-port', '0'], {
        SPINDLE_CLUSTER_SECRET: secret,
      });
      await waitFor(() => Cluster.getConnectedNodes().length === 1, 20_000, 'the observer node connected');
      let view: Snapshot['nodes'][number] | undefined;
      const deadline = Date.now() + 20_000;
      while (view === undefined && Date.now() < deadline) {
        view = (await snapshot(url)).nodes.find((n) => n.node === id);
        if (view === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      expect(view, 'the app node is in the observer snapshot').toBeDefined();
      const ids = (view?.trees ?? []).flatMap((t) => t.children.map((c) => c.id));
      expect(ids).toContain('idle-worker');
      expect(await interrupt(child)).toBe(0);
    } finally {
      if (sup !== undefined) await Supervisor.stop(sup).catch(() => {});
      await Cluster.stop();
      env.dispose();
    }
  }, 90_000);
});
