/**
 * Spindle in one minute: a supervised GenServer serves calls, crashes, is restarted by its
 * supervisor, and everything stops cleanly.
 *
 *   npm run quickstart
 */
import type { GenServerBehavior } from '../src/index.js';
import { GenServer, ServerExitedError, Supervisor, formatReason, formatRef, onLifecycle } from '../src/index.js';

// 1. Declare the protocol once: `call` pairs each message with its reply type.
type CounterProtocol = {
  call: ['get', number] | ['crash', never];
  cast: 'inc';
};

// 2. Write the callbacks. The runtime owns the mailbox; you own the state.
const counter: GenServerBehavior<number, CounterProtocol> = {
  init: () => 0,
  handleCall(msg, n) {
    if (msg === 'crash') throw new Error('boom');
    return [n, n]; // [reply, newState]
  },
  handleCast: (_msg, n) => n + 1,
};

// 3. Watch lifecycle events (started, crashed, restarted, terminated).
const stopWatching = onLifecycle((e) => {
  const who =
    'name' in e && e.name !== undefined ? e.name : 'childId' in e ? e.childId : typeof e.ref === 'string' ? e.ref : formatRef(e.ref);
  const detail = e.type === 'restarted' ? ` (restart #${e.restartCount})` : 'reason' in e ? ` (${formatReason(e.reason)})` : '';
  console.log(`  [event] ${e.type} ${who}${detail}`);
});

// 4. Supervise it: a permanent child, restarted whenever it exits.
const sup = await Supervisor.start({
  name: 'app',
  strategy: 'one_for_one',
  restartIntensity: { maxRestarts: 3, withinMs: 5000 },
  children: [{ id: 'counter', behavior: counter, options: { name: 'counter' } }],
});

GenServer.cast('counter', 'inc');
GenServer.cast('counter', 'inc');
console.log('count:', await GenServer.call('counter', 'get')); // 2

const [before] = await Supervisor.getChildren(sup);
console.log(`counter is ${formatRef(before!.ref!)}, restarts: ${before!.restartCount}`);

// 5. Let it crash: the caller gets a typed error carrying the original one. The crash report
//    goes to the runtime's logger (stderr by default).
try {
  await GenServer.call('counter', 'crash');
} catch (e) {
  if (!ServerExitedError.is(e)) throw e;
  console.log(`call failed: ${e.code}, cause: ${(e.cause as Error).message}`);
}

// 6. The supervisor has already restarted it, with fresh state from init.
const [after] = await Supervisor.getChildren(sup);
console.log(`counter is ${formatRef(after!.ref!)}, restarts: ${after!.restartCount}`);
console.log('count:', await GenServer.call('counter', 'get')); // 0

// 7. Stop the tree: children first (reverse start order), then the supervisor.
await Supervisor.stop(sup);
stopWatching();
console.log('stopped; the process exits on its own');
