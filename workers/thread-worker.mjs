// Entry file of every Spindle worker thread. Kept tiny: register tsx only when TypeScript
// must load (Node 20 does not pass the main thread's loader hooks to workers), then hand
// over to the runtime's worker bootstrap.
import { workerData } from 'node:worker_threads';

if (workerData.useTsx) {
  const { register } = await import('tsx/esm/api');
  register();
}
const { bootWorker } = await import(workerData.bootUrl);
await bootWorker(workerData);
