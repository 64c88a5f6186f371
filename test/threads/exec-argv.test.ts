/**
 * Worker threads (thread subtrees and Task pools) start with the main thread's Node options
 * minus those that break a worker or mean nothing there: a main script run with
 * `node --input-type=module -e …` can start thread children and run Tasks.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../src/threads/exec-argv.js';

let child: ChildProcess | undefined;
afterEach(() => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  child = undefined;
});

describe('workerExecArgv', () => {
  it.each([
    ['--input-type=module'],
    ['--input-type', 'module'],
    ['-e', 'console.log(1)'],
    ['--eval', '-1'],
    ['--eval=1'],
    ['-p', '1 + 1'],
    ['--print', '1'],
    ['-pe', '1'],
    ['-c'],
    ['-i'],
    ['--test'],
    ['--test-name-pattern', 'x'],
    ['--test-reporter=spec'],
    ['--experimental-test-coverage'],
    ['--watch'],
    ['--watch-path=src'],
    ['--env-file=.env'],
    ['--inspect'],
    ['--inspect=0.0.0.0:9229'],
    ['--inspect-brk'],
    ['--inspect-port', '9230'],
    ['--debug-port=9230'],
    ['--prof'],
    ['--cpu-prof'],
    ['--cpu-prof-dir', '/tmp'],
    ['--heap-prof'],
    ['--heapsnapshot-signal=SIGUSR2'],
    ['--heapsnapshot-near-heap-limit', '2'],
    ['--report-on-signal'],
    ['--diagnostic-dir=/tmp'],
    ['--title', 'my-app'],
    ['--title=my-app'],
    ['--max-old-space-size=4096'],
    ['--max_old_space_size', '4096'],
    ['--stack-trace-limit=50'],
    ['--expose-gc'],
    ['--jitless'],
    ['--zero-fill-buffers'],
    ['--openssl-config=/dev/null'],
    ['--disable-proto=delete'],
    ['--experimental-shadow-realm'],
    ['--no-opt'],
    ['--harmony'],
  ])('drops %s', (...argv) => {
    expect(workerExecArgv(argv)).toEqual([]);
  });

  it.each([
    ['--import', 'tsx'],
    ['--import=tsx'],
    ['-r', './setup.cjs'],
    ['--require=./setup.cjs'],
    ['-C', 'spindle-source'],
    ['--conditions=spindle-source'],
    ['--loader', 'ts-node/esm'],
    ['--experimental-vm-modules'],
    ['--experimental-default-type=module'],
    ['--no-experimental-fetch'],
    ['--no-warnings'],
    ['--no_warnings'],
    ['--disable-warning=ExperimentalWarning'],
    ['--trace-warnings'],
    ['--enable-source-maps'],
    ['--unhandled-rejections=strict'],
    ['--unhandled-rejections', 'warn'],
    ['--preserve-symlinks'],
    ['--experimental-permission', '--allow-fs-read=*', '--allow-worker'],
  ])('keeps %s', (...argv) => {
    expect(workerExecArgv(argv)).toEqual(argv);
  });

  it('keeps the order and each value with its option', () => {
    expect(
      workerExecArgv([
        '--title',
        'svc',
        '--import',
        'tsx',
        '--input-type=module',
        '--max-old-space-size',
        '512',
        '-C',
        'spindle-source',
        '--inspect',
        '--no-warnings',
        '-e',
        '--not-a-flag',
      ]),
    ).toEqual(['--import', 'tsx', '-C', 'spindle-source', '--no-warnings']);
  });

  it('defaults to process.execArgv', () => {
    expect(workerExecArgv()).toEqual(workerExecArgv(process.execArgv));
  });

  it("what it keeps of a typical command line is accepted by Node's Worker", async () => {
    const execArgv = workerExecArgv([
      '--input-type=module',
      '--eval',
      'await 1',
      '--title=svc',
      '--max-old-space-size=200',
      '--stack-trace-limit=50',
      '--expose-gc',
      '--inspect=0',
      '--no-warnings',
      '--enable-source-maps',
      '--conditions=spindle-source',
      '--unhandled-rejections=strict',
      '--cpu-prof',
      '--test',
    ]);
    const w = new Worker('require("node:worker_threads").parentPort.postMessage(process.execArgv)', { eval: true, execArgv });
    try {
      const seen = await new Promise<unknown>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      expect(seen).toEqual(['--no-warnings', '--enable-source-maps', '--conditions=spindle-source', '--unhandled-rejections=strict']);
    } finally {
      await w.terminate();
    }
  });
});

describe('a main script run with node --input-type=module -e', () => {
  it('starts a thread child and runs a Task, then exits 0', async () => {
    const src = new URL('../../src/index.ts', import.meta.url).href;
    const tree = new URL('../fixtures/tree.ts', import.meta.url).href;
    const jobs = new URL('../fixtures/jobs.ts', import.meta.url).href;
    const script = `
      import { GenServer, Supervisor, Task, Threads } from ${JSON.stringify(src)};
      const sup = await Supervisor.start({ children: [{ id: 't', thread: { module: ${JSON.stringify(tree)}, args: { name: 'w' } } }] });
      const thread = await GenServer.call('w', { type: 'thread' });
      const sum = await Task.run(${JSON.stringify(jobs)}, 'add', [2, 3]);
      console.log('threads=' + Threads.count() + ' thread=' + thread + ' sum=' + sum);
      await Supervisor.stop(sup);
      await Task.closeDefault();
    `;
    const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let out = '';
    let err = '';
    proc.stdout?.on('data', (d) => (out += String(d)));
    proc.stderr?.on('data', (d) => (err += String(d)));
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), 40_000);
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
    expect({ ...exit, err }).toEqual({ code: 0, signal: null, err: '' });
    expect(out.trim()).toBe('threads=1 thread=1 sum=5');
  }, 45_000);
});
