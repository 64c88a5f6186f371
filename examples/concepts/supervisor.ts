/**
 * Supervisor: strategies, restart types, restart intensity, dynamic children and
 * simple_one_for_one, observed through getChildren / countChildren.
 *
 *   npx tsx examples/concepts/supervisor.ts
 */
import type { AnyRef, ChildSpec, GenServerBehavior, SupervisorRef } from '../../src/index.js';
import {
  ErrorCode,
  GenServer,
  Process,
  Result,
  Runtime,
  SpindleError,
  Supervisor,
  formatReason,
  setDefaultRuntime,
  silentLogger,
} from '../../src/index.js';

// This example crashes children on purpose; keep the crash reports off the terminal.
setDefaultRuntime(new Runtime({ logger: silentLogger }));

type WorkerProtocol = { call: ['whoami', string]; cast: 'crash' | 'quit' };

const worker: GenServerBehavior<string, WorkerProtocol, string> = {
  init: (name) => name,
  handleCall: (_msg, name) => [name, name],
  handleCast(msg, name) {
    if (msg === 'crash') throw new Error(`${name} crashed`);
    return Result.stop('normal', name); // 'quit': a normal exit
  },
};

const spec = (id: string, extra: Partial<ChildSpec> = {}): ChildSpec => ({ id, behavior: worker, options: { args: id }, ...extra });

/** Sends `msg` to child `id` and waits until that child has exited. */
async function poke(sup: SupervisorRef, id: string, msg: 'crash' | 'quit'): Promise<void> {
  const child = (await Supervisor.getChildren(sup)).find((c) => c.id === id);
  const ref = child?.ref as AnyRef;
  const exited = Process.awaitExit(ref);
  GenServer.cast(ref, msg);
  await exited;
}

async function restarts(sup: SupervisorRef): Promise<string> {
  return (await Supervisor.getChildren(sup)).map((c) => `${c.id}:${c.ref === undefined ? 'down' : c.restartCount}`).join(' ');
}

// rest_for_one: a crash restarts the child and every child started after it.
const app = await Supervisor.start({
  strategy: 'rest_for_one',
  children: [spec('db'), spec('cache'), spec('api')],
});
await poke(app, 'cache', 'crash');
console.log('rest_for_one, cache crashed ->', await restarts(app)); // db:0 cache:1 api:1

// Restart types: transient restarts only after an abnormal exit; temporary never.
const jobs = await Supervisor.start({
  children: [spec('transient', { restart: 'transient' }), spec('temporary', { restart: 'temporary' })],
});
await poke(jobs, 'transient', 'quit'); // normal exit: stays down
await poke(jobs, 'temporary', 'crash'); // never restarted, and its spec is removed
console.log('restart types ->', await restarts(jobs)); // transient:down

// Dynamic children, and errors returned to the caller (the supervisor keeps running).
await Supervisor.startChild(jobs, spec('extra'));
await Supervisor.terminateChild(jobs, 'extra'); // stopped; its spec stays
await Supervisor.restartChild(jobs, 'extra');
try {
  await Supervisor.deleteChild(jobs, 'extra');
} catch (e) {
  console.log('deleteChild of a running child ->', SpindleError.hasCode(e, ErrorCode.CHILD_RUNNING) ? 'ChildRunningError' : e);
}
console.log('counts ->', await Supervisor.countChildren(jobs)); // { specs: 2, active: 1, … }

// simple_one_for_one: one template, many instances. startChild's argument goes to the
// template's `start` function.
const pool = await Supervisor.start({
  strategy: 'simple_one_for_one',
  template: { id: 'conn', start: (name) => GenServer.start(worker, { args: String(name) }), restart: 'transient' },
});
const a = await Supervisor.startChild(pool, 'conn-a');
await Supervisor.startChild(pool, 'conn-b');
console.log('pool ->', (await Supervisor.getChildren(pool)).map((c) => c.id).join(', '), '| a is', await GenServer.call(a, 'whoami'));
console.log('getChild(pool, a) ->', (await Supervisor.getChild(pool, a)).id); // conn#1 (a dynamic child is found by ref)
try {
  await Supervisor.startChild(pool, spec('not-a-template')); // a spec: refused, as in OTP
} catch (e) {
  console.log('startChild(pool, spec) ->', SpindleError.hasCode(e, ErrorCode.INVALID_ARGUMENT) ? 'InvalidArgumentError' : e);
}

// Restart intensity: more than maxRestarts within withinMs and the supervisor gives up.
const fragile = await Supervisor.start({ restartIntensity: { maxRestarts: 1, withinMs: 1000 }, children: [spec('flaky')] });
const gaveUp = Process.awaitExit(fragile);
await poke(fragile, 'flaky', 'crash'); // restart 1: allowed
await poke(fragile, 'flaky', 'crash'); // restart 2 within 1 s: too many
console.log('intensity ->', formatReason(await gaveUp)); // { shutdown: reached_max_restart_intensity }
console.log('isRunning(fragile) ->', Supervisor.isRunning(fragile)); // false

for (const sup of [pool, jobs, app]) await Supervisor.stop(sup);
