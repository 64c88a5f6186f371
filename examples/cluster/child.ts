/**
 * Starts ./node.ts as a child process (a node of its own) and waits until it listens. Used by
 * examples/cluster/main.ts and the cluster concept examples.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { NodeCommand, NodeReport } from './node.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROGRAM = fileURLToPath(new URL('./node.ts', import.meta.url));

export interface ChildNode {
  /** Its node id, `name@127.0.0.1:port`. */
  readonly id: string;
  readonly process: ChildProcess;
  /** Resolves with the exit code (or signal) once the process has ended. */
  readonly exited: Promise<number | string>;
  /** Asks it to leave the cluster gracefully and exit; resolves once it has. */
  stop(): Promise<number | string>;
}

/**
 * Runs a node named `name` that joins through `seeds`, with the cluster secret `secret`.
 * `onReport` sees what the node reports (other nodes up and down). Rejects if the node exits
 * or takes more than 15 s to start.
 */
export function startNode(
  config: { name: string; seeds: string[]; secret: string },
  onReport: (r: NodeReport) => void = () => {},
): Promise<ChildNode> {
  const child = spawn(process.execPath, ['--import', 'tsx', PROGRAM, JSON.stringify(config)], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${config.name} did not start within 15 s`));
    }, 15_000);
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`node ${config.name} exited (${how}) before it was ready`));
    });
    child.on('message', (r: NodeReport) => {
      if (r.type !== 'ready') return onReport(r);
      clearTimeout(timer);
      resolve({
        id: r.id,
        process: child,
        exited,
        stop() {
          if (child.connected) child.send({ type: 'stop' } satisfies NodeCommand);
          return exited;
        },
      });
    });
  });
}
