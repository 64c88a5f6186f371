// The consumer's program: imports the installed package by name, as a user would.
import { ChildStartError, GenServer, type GenServerBehavior, InvalidArgumentError, Supervisor, Task, TaskFailedError } from 'spindle';
import { VirtualClock, freshRuntime } from 'spindle/testing';
import type { SquareProtocol } from './tree.js';

type CounterProtocol = { call: ['get', number]; cast: 'inc' };
const counter: GenServerBehavior<number, CounterProtocol> = {
  init: () => 0,
  handleCall: (_msg, n) => [n, n],
  handleCast: (_msg, n) => n + 1,
};

// Types are live: a wrong message and a wrong reply type are compile errors.
async function typeChecks(): Promise<void> {
  const ref = await GenServer.start(counter);
  // @ts-expect-error 'put' is not a call of CounterProtocol
  await GenServer.call(ref, 'put');
  // @ts-expect-error the reply of 'get' is a number
  const s: string = await GenServer.call(ref, 'get');
  void s;
}
void typeChecks;

const here = new URL('.', import.meta.url);
const mode = process.argv[2] ?? 'full';
const out: Record<string, unknown> = {};

function describe(e: unknown): { code: string | undefined; name: string; message: string; cause?: unknown } {
  const err = e as { code?: string; name: string; message: string; cause?: unknown };
  return {
    code: err.code,
    name: err.name,
    message: err.message,
    ...(err.cause === undefined ? {} : { cause: describe(err.cause) }),
  };
}

async function treeCall(module: URL, name: string): Promise<{ square: number; thread: number }> {
  const sup = await Supervisor.start({ children: [{ id: name, thread: { module: module.href, args: { name } } }] });
  try {
    return await GenServer.call<SquareProtocol, { square: number }>(name, { square: 7 });
  } finally {
    await Supervisor.stop(sup);
  }
}

// A typed call in the main thread.
const ref = await GenServer.start(counter);
GenServer.cast(ref, 'inc');
const n: number = await GenServer.call(ref, 'get');
out.call = n;
await GenServer.stop(ref);

// spindle/testing: a fresh runtime and a virtual clock.
{
  const clock = new VirtualClock();
  const { dispose } = freshRuntime({ clock });
  let fired = false;
  clock.setTimeout(() => {
    fired = true;
  }, 1000);
  await clock.advance(1000);
  out.testing = fired && clock.now() === 1000;
  dispose();
}

// A compiled .js thread subtree and a compiled .js Task job: no tsx needed.
out.jsTree = await treeCall(new URL('tree.js', here), 'js-squarer');
out.jsTask = await Task.run(new URL('jobs.js', here), 'double', [21]);

// TypeScript modules (the sources next to out/): need tsx.
const tsTree = new URL('../tree.ts', here);
const tsJobs = new URL('../jobs.ts', here);
if (mode === 'full') {
  out.tsTree = await treeCall(tsTree, 'ts-squarer');
  out.tsTask = await Task.run(tsJobs, 'double', [4]);
} else {
  try {
    await treeCall(tsTree, 'ts-squarer');
    out.tsTree = 'started';
  } catch (e) {
    out.tsTree = describe(e);
    out.tsTreeTyped = ChildStartError.is(e) && InvalidArgumentError.is(e.cause);
  }
  try {
    await Task.run(tsJobs, 'double', [4]);
    out.tsTask = 'ran';
  } catch (e) {
    out.tsTask = describe(e);
    out.tsTaskTyped = TaskFailedError.is(e) && InvalidArgumentError.is(e.cause);
  }
}
await Task.closeDefault();
console.log(`RESULT ${JSON.stringify(out)}`);
