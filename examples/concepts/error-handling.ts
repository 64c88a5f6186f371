/**
 * Error handling: let it crash, typed errors recognised by code, errors as data across
 * boundaries, crash isolation with links, and where crash reports go.
 *
 *   npx tsx examples/concepts/error-handling.ts
 */
import type { GenServerBehavior, Logger, Ref } from '../../src/index.js';
import {
  CallTimeoutError,
  ErrorCode,
  GenServer,
  NoProcessError,
  Process,
  Runtime,
  ServerExitedError,
  SpindleError,
  Supervisor,
  currentRuntime,
  deserializeError,
  formatReason,
  serializeError,
  setDefaultRuntime,
} from '../../src/index.js';

// Crash reports go to the runtime's logger (stderr by default). Capture them here instead.
const reports: string[] = [];
const logger: Logger = {
  error: (m) => reports.push(m.split('\n')[0] as string),
  warn: (m) => reports.push(m),
  info: () => {},
};
setDefaultRuntime(new Runtime({ logger }));

type P = { call: ['divide', number] | ['slow', never] | ['bad', number]; cast: 'boom' };
const calc: GenServerBehavior<number, P, number> = {
  init: (n) => n,
  handleCall(msg, n) {
    if (msg === 'divide') {
      if (n === 0) throw new RangeError('division by zero');
      return [100 / n, n];
    }
    if (msg === 'bad') return 42 as never; // not [reply, state]: a bad return value
    return new Promise(() => {}); // 'slow': never answers
  },
  handleCast() {
    throw new Error('boom');
  },
};

// 1. A handler throws: the process exits with { error }, the caller's promise rejects with
//    ServerExitedError, and `cause` is the original error.
const zero = await GenServer.start(calc, { args: 0 });
try {
  await GenServer.call(zero, 'divide');
} catch (e) {
  if (ServerExitedError.is(e)) console.log(`1. ${e.code}; cause: ${String(e.cause)}; reason: ${formatReason(e.reason)}`);
}

// 2. Recognise errors by code (works after crossing a thread), not by message text.
const dead = zero; // it exited above
const outcomes = await Promise.allSettled([
  GenServer.call(dead, 'divide'), // NoProcessError, at once
  GenServer.call(await GenServer.start(calc, { args: 1 }), 'slow', { timeout: 30 }), // CallTimeoutError
  GenServer.call(await GenServer.start(calc, { args: 1 }), 'bad'), // the server crashes with BadReturnValueError
]);
for (const o of outcomes) {
  if (o.status === 'fulfilled') continue;
  const e: unknown = o.reason;
  if (NoProcessError.is(e)) console.log(`2. ${e.code}: ${e.message}`);
  else if (CallTimeoutError.is(e)) console.log(`2. ${e.code} after ${e.timeoutMs} ms`);
  else if (ServerExitedError.is(e)) console.log(`2. ${e.code}, cause: ${(e.cause as Error).name}`);
}

// 3. Errors are data: serialise, clone (as a message to a worker thread would be), rebuild.
const original = new CallTimeoutError('#Ref<a/0/1>', 250, '"get"');
const rebuilt = deserializeError(structuredClone(serializeError(original)));
console.log(
  `3. rebuilt ${rebuilt.name}, same class: ${rebuilt instanceof CallTimeoutError}, timeoutMs: ${(rebuilt as CallTimeoutError).timeoutMs}`,
);

// 4. Crash isolation: a crash spreads only along links. The supervisor restarts the child;
//    a bad request to the supervisor fails the caller, not the supervisor.
const sup = await Supervisor.start({ children: [{ id: 'calc', behavior: calc, options: { args: 4 } }] });
const [child] = await Supervisor.getChildren(sup);
const calcRef = child?.ref as Ref<P>; // getChildren returns untyped refs; name the protocol
const exited = Process.awaitExit(calcRef);
GenServer.cast(calcRef, 'boom');
await exited;
try {
  await Supervisor.terminateChild(sup, 'no-such-child');
} catch (e) {
  // Every class has a static `is`; SpindleError.hasCode recognises any code.
  if (SpindleError.hasCode(e, ErrorCode.CHILD_NOT_FOUND))
    console.log(`4. terminateChild -> ${ErrorCode.CHILD_NOT_FOUND}; supervisor alive: ${Process.alive(sup)}`);
}
const [again] = await Supervisor.getChildren(sup);
console.log(`   calc restarted ${again?.restartCount} time(s); 100 / 4 = ${await GenServer.call(again?.ref as Ref<P>, 'divide')}`);

// 5. A cast to a dead process is not an error: it is counted (and a 'cast_dropped' event fires).
GenServer.cast(dead, 'boom');
console.log(`5. dropped casts: ${currentRuntime().stats.droppedCasts}`);

await Supervisor.stop(sup);
console.log(`crash reports captured by the logger: ${reports.length}, first: ${reports[0]}`);
