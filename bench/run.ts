/**
 * `npm run bench [-- <scenario>…] [--runs=N] [--warmup=N] [--json[=PATH]]`
 *
 * Runs each chosen scenario (all of SCENARIOS by default) in its own
 * `node --expose-gc --import tsx` child, prints one table — Spindle figure, raw baseline
 * measured in the same process, interleaved with it (A/B/A/B), ratio, target, pass/miss — and
 * writes the results JSON.
 *
 * Results JSON: always written. By default (and with a bare `--json`) to
 * `bench/results/<start time>.json` (e.g. bench/results/2026-11-30T23-31-12-825Z.json);
 * `--json=PATH` writes to PATH instead (folders created; relative to the directory the command
 * was typed in) and nothing goes to bench/results/. It holds the machine (CPU model, cores, memory, OS,
 * Node and V8 versions), the git commit (full and short hash, `dirty` when tracked files differ
 * from it; null outside a git checkout), the command line, start and end time, and every row
 * with its samples, `extra` and `othersCores` (the CPU other processes took while the row's
 * scenario ran; rows above 0.15 core are flagged "loaded"). `npm run bench:report` turns the
 * newest results file into docs/bench/*.svg and the README table (bench/report.ts).
 *
 * Each row's baseline is measured in the same run, interleaved with it (A/B/A/B), unless it
 * is a bound rather than a measurement (node-failure's heartbeat cap, its offered rate):
 * in-thread rows against a bare mailbox actor (bench/bare-actor.ts, cast-throughput.ts),
 * thread rows against plain workers and postMessage (bench/fixtures/raw-worker.mjs), node rows
 * against raw TCP in the cluster's frame layout; each file's header says what exactly.
 *
 * Peers:
 * | peer    | row                          | status                                               |
 * | nact    | nact-peer (1M-cast workload) | measured, nact from devDependencies                  |
 * | piscina | task-vs-piscina (Task jobs)  | measured, piscina from dependencies                  |
 * | noex    | none                         | not on the npm registry used here, source not        |
 * |         |                              | available: no row, and no figure made up for it      |
 */
import { spawnSync } from 'node:child_process';
import { join, relative, resolve } from 'node:path';
import type { Row } from './lib.js';
import {
  benchDir,
  childrenCpuSeconds,
  defaultOptions,
  fmtChecks,
  LOADED_CORES,
  machineBusySeconds,
  defaultResultsFile,
  machineInfo,
  passOf,
  printTable,
  RESULT_MARK,
  ratio,
  writeResults,
} from './lib.js';

const SCENARIOS = [
  'cast-throughput',
  'call-latency',
  'call-pipelined',
  'spawn',
  'idle-memory',
  'restart-latency',
  'observer-overhead',
  'nact-peer',
  'task-vs-piscina',
  'thread-cpu-speedup',
  'thread-speedup',
  'thread-cast',
  'msg-size',
  'thread-call',
  'thread-restart',
  'node-cast',
  'node-call',
  'node-failure',
  'global-registry',
  'dsup-failover',
] as const;
const KNOWN: readonly string[] = SCENARIOS;

interface ChildResult {
  name: string;
  rows: Row[];
  wallMs: number;
}

interface Args {
  names: string[];
  runs: number;
  warmup: number;
  /** Where the results JSON goes. */
  jsonFile: string | undefined;
}

const USAGE = `usage: npm run bench [-- <scenario>…] [--runs=N] [--warmup=N] [--json[=PATH]]
  --json        write the results JSON to bench/results/<start time>.json (the default anyway)
  --json=PATH   write it to PATH instead
scenarios (default: all): ${SCENARIOS.join(', ')}`;

function parseArgs(argv: string[]): Args {
  const names: string[] = [];
  let runs = defaultOptions.runs;
  let warmup = defaultOptions.warmup;
  let jsonFile: string | undefined;
  for (const a of argv) {
    const m = /^--(runs|warmup)=(\d+)$/.exec(a);
    if (m !== null) {
      if (m[1] === 'runs') runs = Math.max(1, Number(m[2]));
      else warmup = Number(m[2]);
      continue;
    }
    if (a === '--json') continue;
    if (a.startsWith('--json=')) {
      const path = a.slice('--json='.length);
      if (path === '') {
        console.error('--json= needs a path');
        process.exit(2);
      }
      // Under npm the cwd is the package root; INIT_CWD is where the command was typed.
      jsonFile = resolve(process.env.INIT_CWD ?? process.cwd(), path);
      continue;
    }
    if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (!KNOWN.includes(a)) {
      console.error(`unknown argument "${a}"\n${USAGE}`);
      process.exit(2);
    }
    names.push(a);
  }
  return { names: names.length > 0 ? names : [...SCENARIOS], runs, warmup, jsonFile };
}

function runChild(name: string, runs: number, warmup: number, progress = ''): ChildResult {
  const root = join(benchDir, '..');
  const args = ['--expose-gc', '--import', 'tsx', relative(root, join(benchDir, `${name}.ts`))];
  process.stderr.write(`bench ${progress}: ${name} … `);
  const busy0 = machineBusySeconds();
  const mine0 = childrenCpuSeconds();
  const self0 = process.cpuUsage();
  const wall0 = performance.now();
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    env: { ...process.env, BENCH_CHILD: '1', BENCH_RUNS: String(runs), BENCH_WARMUP: String(warmup) },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = r.stdout
    ?.split('\n')
    .reverse()
    .find((l) => l.startsWith(RESULT_MARK));
  if (r.status !== 0 || line === undefined) {
    process.stderr.write('failed\n');
    throw new Error(`scenario ${name} failed (exit ${r.status ?? r.signal}):\n${r.stdout ?? ''}`);
  }
  const result = JSON.parse(line.slice(RESULT_MARK.length)) as ChildResult;
  // What the rest of the machine took meanwhile: all busy CPU less this scenario's process tree
  // and this runner, per second of wall time. Every row of the scenario carries it.
  const busy1 = machineBusySeconds();
  const mine1 = childrenCpuSeconds();
  if (busy0 !== undefined && busy1 !== undefined && mine0 !== undefined && mine1 !== undefined) {
    const self = process.cpuUsage(self0);
    const others = busy1 - busy0 - (mine1 - mine0) - (self.user + self.system) / 1e6;
    const cores = Math.max(0, others / ((performance.now() - wall0) / 1000));
    for (const row of result.rows) row.othersCores = cores;
  }
  const load = result.rows[0]?.othersCores;
  process.stderr.write(`${(result.wallMs / 1000).toFixed(1)} s${load === undefined ? '' : `, others took ${load.toFixed(2)} core`}\n`);
  return result;
}

function main(): void {
  const { names, runs, warmup, jsonFile } = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const machine = machineInfo();
  const results: ChildResult[] = [];
  const failed: string[] = [];
  for (const [i, name] of names.entries()) {
    try {
      results.push(runChild(name, runs, warmup, `${i + 1}/${names.length}`));
    } catch (e) {
      console.error(e instanceof Error ? e.message : e);
      failed.push(name);
    }
  }
  const rows = results.flatMap((r) => r.rows);
  console.log('');
  const table = printTable(rows);
  console.log(
    `\nfigures: medians of ${runs} runs after ${warmup} warm-ups (some scenarios do fewer or more); ` +
      'ratio: median of the per-run Spindle/baseline pairs, each measured back to back.',
  );
  const loaded = rows.filter((r) => r.othersCores !== undefined && r.othersCores > LOADED_CORES);
  if (loaded.length > 0)
    console.log(`\nmeasured loaded (other processes took more than ${LOADED_CORES} core): ${loaded.map((r) => r.scenario).join('; ')}`);
  const misses = rows.filter((r) => passOf(r) === 'miss');
  if (misses.length > 0) console.log(`\nmissed: ${misses.map((r) => `${r.scenario} (${fmtChecks(r)})`).join('; ')}`);
  const args = process.argv.slice(2).join(' ');
  const command =
    process.env.npm_lifecycle_event === 'bench' ? `npm run bench${args === '' ? '' : ` -- ${args}`}` : `tsx bench/run.ts ${args}`.trim();
  const t1 = Date.now();
  const data = {
    timestamp: new Date(t0).toISOString(),
    startedAt: new Date(t0).toISOString(),
    endedAt: new Date(t1).toISOString(),
    command,
    argv: process.argv.slice(2),
    childCommand: 'node --expose-gc --import tsx bench/<scenario>.ts',
    machine,
    options: { runs, warmup },
    loadedCoresThreshold: LOADED_CORES,
    wallSeconds: (t1 - t0) / 1000,
    summary: rows.map((r) => ({
      scenario: r.scenario,
      spindle: r.spindle,
      baseline: r.baseline,
      unit: r.unit,
      ratio: ratio(r),
      result: passOf(r),
      othersCores: r.othersCores,
      loaded: r.othersCores !== undefined && r.othersCores > LOADED_CORES,
    })),
    scenarios: results,
    failed,
    table,
  };
  const file = writeResults(data, jsonFile ?? defaultResultsFile(new Date(t0)));
  console.log(`\nresults: ${relative(process.cwd(), file)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  if (failed.length > 0) process.exitCode = 1;
}

main();
