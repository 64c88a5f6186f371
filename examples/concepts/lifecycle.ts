/**
 * Lifecycle: init → running → terminate → exit, and who sees each exit (terminate, links,
 * monitors, watchers, lifecycle events).
 *
 *   npx tsx examples/concepts/lifecycle.ts
 */
import type { AnyRef, GenServerBehavior } from '../../src/index.js';
import {
  GenServer,
  InitFailedError,
  InitTimeoutError,
  Process,
  Result,
  Supervisor,
  formatReason,
  formatRef,
  isDownMessage,
  isExitMessage,
  onLifecycle,
} from '../../src/index.js';

const log = (line: string) => console.log(`  ${line}`);

// A server that says when its callbacks run.
const noisy = (label: string): GenServerBehavior<string, { cast: 'crash' }> => ({
  init() {
    log(`${label}: init`);
    return label;
  },
  handleCast() {
    throw new Error(`${label} failed`);
  },
  terminate(reason) {
    log(`${label}: terminate(${formatReason(reason)})`);
  },
});

const off = onLifecycle((e) => {
  if (e.type === 'crashed' || e.type === 'terminated') log(`[event] ${e.type} ${e.name ?? formatRef(e.ref)} ${formatReason(e.reason)}`);
});

console.log('1. graceful stop runs terminate');
const a = await GenServer.start(noisy('a'), { name: 'a' });
await GenServer.stop(a); // reason 'normal'

console.log('2. a crash in a handler runs terminate, then exits with { error }');
const b = await GenServer.start(noisy('b'), { name: 'b' });
const bExit = Process.awaitExit(b);
GenServer.cast(b, 'crash');
log(`b exited: ${formatReason(await bExit)}`);

console.log('3. a kill skips terminate');
const c = await GenServer.start(noisy('c'), { name: 'c' });
const cExit = Process.awaitExit(c);
Process.exit(c, 'kill');
log(`c exited: ${formatReason(await cExit)}`);

console.log('4. a supervisor shutdown runs terminate (trapping exits or not)');
const sup = await Supervisor.start({ children: [{ id: 'd', behavior: noisy('d'), options: { name: 'd' } }] });
await Supervisor.stop(sup);

console.log('5. links, trapped: the exit arrives as an EXIT message; monitors: a DOWN message');
type WatcherProtocol = { call: [{ link: AnyRef; monitor: AnyRef }, 'ok'] };
const watcher: GenServerBehavior<null, WatcherProtocol> = {
  init: () => null,
  handleCall(msg, s) {
    Process.link(msg.link);
    Process.monitor(msg.monitor);
    return ['ok', s];
  },
  handleInfo(msg, s) {
    if (isExitMessage(msg)) log(`watcher: EXIT ${formatReason(msg.reason)}`);
    if (isDownMessage(msg)) log(`watcher: DOWN ${formatReason(msg.reason)}`);
    return s;
  },
};
const w = await GenServer.start(watcher, { trapExit: true });
const e = await GenServer.start(noisy('e'), { name: 'e' });
const f = await GenServer.start(noisy('f'), { name: 'f' });
await GenServer.call(w, { link: e, monitor: f });
const eExit = Process.awaitExit(e);
GenServer.cast(e, 'crash');
await eExit;
await GenServer.stop(f, 'shutdown');
await new Promise((r) => setImmediate(r)); // let the watcher handle its mailbox
log(`watcher still alive: ${Process.alive(w)}`);
await GenServer.stop(w);

console.log('6. init that fails or hangs makes start reject');
try {
  await GenServer.start({ init: () => Result.stop({ shutdown: 'not configured' }, null) });
} catch (err) {
  if (InitFailedError.is(err)) log(`start -> ${err.code}: ${err.message}`);
}
try {
  await GenServer.start({ init: () => new Promise<never>(() => {}) }, { initTimeout: 50 });
} catch (err) {
  if (InitTimeoutError.is(err)) log(`start -> ${err.code}: ${err.message}`);
}
off();
