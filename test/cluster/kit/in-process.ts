/**
 * Several cluster nodes in one OS process, for the tests of cluster semantics: each node is
 * its own Runtime with its own cluster on its own loopback address, over real TCP. A node's
 * `on(fn)` runs the synchronous part of `fn` with that node's runtime current (as
 * `withRuntime`). `stopNodes()` (afterEach) stops every node started.
 */
import type { ClusterOptions } from '../../../src/index.js';
import { Cluster, Runtime, silentLogger, withRuntime } from '../../../src/index.js';
import { waitFor } from '../../../src/testing.js';

export const SECRET = 'in-process-cluster-test-secret-0123';

export interface TestNode {
  readonly rt: Runtime;
  /** `name@host:port`. */
  readonly id: string;
  on<T>(fn: () => T): T;
}

const started: TestNode[] = [];

/** Starts node `name` on `host` (port 0), with `options` over the defaults (the shared secret). */
export async function startNode(name: string, host: string, options: Partial<ClusterOptions> = {}): Promise<TestNode> {
  const rt = new Runtime({ logger: silentLogger });
  const id = await withRuntime(rt, () => Cluster.start({ nodeName: name, host, port: 0, clusterSecret: SECRET, ...options }));
  const n: TestNode = { rt, id, on: (fn) => withRuntime(rt, fn) };
  started.push(n);
  return n;
}

/** Nodes a and b on `hosts`, b seeded with a; resolves once each sees the other. */
export async function startPair(hosts: readonly [string, string], options: Partial<ClusterOptions> = {}): Promise<[TestNode, TestNode]> {
  const a = await startNode('a', hosts[0], options);
  const b = await startNode('b', hosts[1], { ...options, seeds: [a.id] });
  await waitMesh([a, b]);
  return [a, b];
}

/** Nodes a, b, c on `hosts`, b and c seeded with a; resolves once the mesh is full. */
export async function startTrio(
  hosts: readonly [string, string, string],
  options: Partial<ClusterOptions> = {},
): Promise<[TestNode, TestNode, TestNode]> {
  const a = await startNode('a', hosts[0], options);
  const b = await startNode('b', hosts[1], { ...options, seeds: [a.id] });
  const c = await startNode('c', hosts[2], { ...options, seeds: [a.id] });
  await waitMesh([a, b, c]);
  return [a, b, c];
}

/** Waits until every node sees every other one connected. */
export function waitMesh(nodes: readonly TestNode[], timeoutMs = 10_000): Promise<void> {
  return waitFor(() => nodes.every((n) => n.on(() => Cluster.getNodeIds()).length === nodes.length - 1), timeoutMs, 'a full mesh');
}

/** The node ids `n` is connected to, sorted. */
export function connectedIds(n: TestNode): string[] {
  return n.on(() => Cluster.getNodeIds()).sort();
}

/** Stops every node started (for afterEach); a node stopped by its test already is skipped. */
export async function stopNodes(): Promise<void> {
  for (const n of started.splice(0)) {
    await n.on(() => Cluster.stop());
    n.rt.killAll();
  }
}

/** Forgets a node the test stopped and killed itself. */
export function forget(n: TestNode): void {
  const i = started.indexOf(n);
  if (i >= 0) started.splice(i, 1);
}
