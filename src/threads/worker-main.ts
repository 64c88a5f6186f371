/**
 * Inside a worker thread: builds the thread's runtime, connects it to the main thread and to
 * its peers, mirrors the node-wide names, beats for the watchdog, loads the user's module
 * and starts the subtree's root supervisor. When the root exits, the thread ends.
 * Loaded by workers/thread-worker.mjs.
 */
import { parentPort } from 'node:worker_threads';
import { deserializeError, InvalidArgumentError, serializeError } from '../errors.js';
import type { Logger } from '../core/events.js';
import type { AnyRef } from '../core/ref.js';
import { Runtime, setDefaultRuntime } from '../core/runtime.js';
import { Supervisor } from '../behaviours/supervisor/supervisor.js';
import type { SupervisorOptions } from '../behaviours/supervisor/spec.js';
import { decodeReason, encodeEvent, encodeReason } from '../transport/frames.js';
import { MessagePortTransport } from '../transport/message-port.js';
import { ThreadLinks } from './links.js';
import { NodeLinks, RelayTransport, nodeDownReason } from '../cluster/node-links.js';
import type { StartTree, WorkerBoot, WorkerControl } from './protocol.js';
import './install.js';

export async function bootWorker(data: WorkerBoot): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('bootWorker must run in a worker thread');
  let links!: ThreadLinks;
  // Reports go to the main thread's logger, so one pluggable logger sees the whole node.
  const logger: Logger = {
    error: (message) => links.control(0, { op: 'log', level: 'error', message }),
    warn: (message) => links.control(0, { op: 'log', level: 'warn', message }),
    info: (message) => links.control(0, { op: 'log', level: 'info', message }),
  };
  // The main thread's scheduling and flow-control settings hold on every thread of the node.
  const rt = new Runtime({ node: data.node, thread: data.thread, logger, ...data.runtime });
  setDefaultRuntime(rt);
  links = new ThreadLinks(rt);
  links.connect(0, new MessagePortTransport(port));
  for (const p of data.peers) links.connect(p.thread, new MessagePortTransport(p.port));
  for (const [name, ref] of data.names) rt.names.put(name, ref);
  // In a cluster, other nodes are reached through main, which owns the connections.
  const nodes =
    data.cluster === undefined
      ? undefined
      : new NodeLinks(rt, {
          open: (node, to) => new RelayTransport((batch) => links.control(0, { op: 'node_out', node, to, batch })),
        });
  for (const peer of data.cluster?.peers ?? []) nodes?.nodeUp(peer);
  // A thread ended by process.exit() (even inside a handler) still tells its peers what it
  // handled: their count of casts lost in flight stays exact.
  process.on('exit', () => links.flushAll());

  let nextReq = 1;
  const claims = new Map<number, { resolve: () => void; reject: (e: unknown) => void; name: string; ref: AnyRef }>();
  rt.nameAuthority = {
    claim: (name, ref) =>
      new Promise<void>((resolve, reject) => {
        const req = nextReq++;
        claims.set(req, { resolve, reject, name, ref });
        links.control(0, { op: 'claim', req, name, ref });
      }),
  };
  rt.names.onChange = (name, ref, previous) => {
    if (ref === undefined && previous !== undefined) links.control(0, { op: 'release', name, ref: previous });
  };

  let root: AnyRef | undefined;
  let stopping = false;
  const finish = (): void => {
    clearInterval(beat);
    links.flushAll();
    // Let the last frames leave before the thread ends.
    setImmediate(() => process.exit(0));
  };

  links.onControl = (_thread, payload) => {
    const c = payload as WorkerControl;
    switch (c.op) {
      case 'peer':
        links.connect(c.thread, new MessagePortTransport(c.port));
        break;
      case 'name':
        rt.names.put(c.name, c.ref);
        break;
      case 'claim_reply': {
        const pending = claims.get(c.req);
        if (pending === undefined) break;
        claims.delete(c.req);
        if (c.error === undefined) {
          rt.names.put(pending.name, pending.ref);
          pending.resolve();
        } else pending.reject(deserializeError(c.error));
        break;
      }
      case 'thread_down':
        links.threadDown(c.thread, decodeReason(c.reason));
        break;
      case 'start':
        void startTree(c);
        break;
      case 'events':
        forwardEvents(c.on);
        break;
      case 'sync':
        // Main asks after a process it just monitored (a claim for it): answered after the
        // monitor, so a DOWN 'noproc' reaches main first if the process is not alive.
        links.control(0, { op: 'synced', req: c.req });
        break;
      case 'node_up':
        nodes?.nodeUp(c.node);
        break;
      case 'node_down':
        nodes?.nodeDown(c.node, nodeDownReason(c.reason));
        break;
      case 'node_busy':
        nodes?.setBusy(c.node, c.busy === true);
        break;
      case 'node_in':
        nodes?.ingest(c.node, c.from, c.batch);
        break;
      case 'stop':
        stopping = true;
        if (root === undefined) finish();
        else void Supervisor.stop(root as never, 'shutdown').catch(() => finish());
        break;
    }
  };

  let stopForwarding: (() => void) | undefined;
  const forwardEvents = (on: boolean): void => {
    if (on && stopForwarding === undefined) {
      stopForwarding = rt.events.on((event) => links.control(0, { op: 'event', event: encodeEvent(event) }));
    } else if (!on && stopForwarding !== undefined) {
      stopForwarding();
      stopForwarding = undefined;
    }
  };
  forwardEvents(data.events);

  // Heartbeats start before any user module is imported: the first goes out now, so the
  // main thread's watchdog judges the rest of the boot too (a module stuck in an endless
  // loop at import is then 'hung'). beatMs 0: watchdogMs is Infinity, no watchdog to feed.
  const beat = data.beatMs > 0 ? setInterval(() => links.control(0, { op: 'hb' }), data.beatMs) : undefined;
  if (beat !== undefined) {
    links.control(0, { op: 'hb' });
    links.flushAll();
  }

  /** Loads the subtree: now, or when a standby spare is handed one. */
  const startTree = async (tree: StartTree): Promise<void> => {
    let r: AnyRef;
    try {
      const mod = (await import(tree.module)) as Record<string, unknown>;
      const fn = mod[tree.export];
      if (typeof fn !== 'function') {
        throw new InvalidArgumentError('thread.export', `${tree.module} has no function export ${JSON.stringify(tree.export)}`);
      }
      const options = (await fn(tree.args)) as SupervisorOptions;
      r = await Supervisor.start(options);
    } catch (e) {
      links.control(0, { op: 'boot_failed', error: serializeError(e) });
      finish();
      return;
    }
    root = r;
    rt.watch(r, (_ref, reason) => {
      links.control(0, { op: 'root_exit', reason: encodeReason(reason) });
      finish();
    });
    links.control(0, { op: 'ready', root: r });
    if (stopping) void Supervisor.stop(r as never, 'shutdown');
  };
  if (data.start !== undefined) await startTree(data.start);
}
