// Entry file of every Spindle worker thread. Kept tiny: register tsx only when TypeScript
// must load (Node 20 does not pass the main thread's loader hooks to workers), then hand
// over to the runtime's worker bootstrap.
import { workerData } from 'node:worker_threads';

if (workerData.useTsx) {
  let api;
  try {
    api = await import('tsx/esm/api');
  } catch (e) {
    // tsx is an optional peer dependency: without it, a TypeScript module cannot load here.
    // Thrown as Spindle's serialized InvalidArgumentError; the main thread rebuilds it as the
    // boot error of this thread (src/threads/node-threads.ts).
    const module = workerData.start?.module ?? 'a TypeScript module';
    const problem =
      `${module} is TypeScript, and loading it in a worker thread needs the tsx package, which could not be loaded ` +
      `(${e instanceof Error ? e.message.split('\n')[0] : String(e)}); install it (npm i -D tsx) or point the thread at compiled .js`;
    throw {
      __spindleError: 1,
      code: 'ERR_INVALID_ARGUMENT',
      name: 'InvalidArgumentError',
      message: `invalid module: ${problem}`,
      context: { argument: 'module', problem },
    };
  }
  api.register();
}
const { bootWorker } = await import(workerData.bootUrl);
await bootWorker(workerData);
