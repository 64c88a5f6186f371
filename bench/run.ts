/**
 * `npm run bench [-- name… ] [--runs=N] [--warmup=N]`
 *
 * Runs each chosen scenario (all by default) in its own `node --expose-gc --import tsx`
 * child, prints one table — Spindle figure, raw baseline from the same run, ratio, target,
 * pass/miss — and writes bench/results/<timestamp>.json with the machine, Node version and
 * command.
 */
import { spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import type { Row } from './lib.js';
import {
  benchDir,
  childrenCpuSeconds,
  defaultOptions,
  fmtChecks,
  LOADED_CORES,
  machineBusySeconds,
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
  'nact-peer',
  'task-vs-piscina',
  'thread-cpu-speedup',
  'thread-cast',
  'thread-call',
  'thread-restart',
  'node-cast',
  'node-call',
  'node-failure',
  'global-registry',
  'dsup-failover',
] as const;

interface ChildResult {
  name: string;
  rows: Row[];
  wallMs: number;
}

function parseArgs(argv: string[]): { names: string[]; runs: number; warmup: number } {
  const names: string[] = [];
  let runs = defaultOptions.runs;
  let warmup = defaultOptions.warmup;
  for (const a of argv) {
    const m = /^--(runs|warmup)=(\d+)$/.exec(a);
    if (m !== null) {
      if (m[1] === 'runs') runs = Math.max(1, Number(m[2]));
      else warmup = Number(m[2]);
      continue;
    }
    if (a === '--help' || a === '-h') {
      console.log(`usage: npm run bench [-- <scenario>…] [--runs=N] [--warmup=N]\nscenarios: ${SCENARIOS.join(', ')}`);
      process.exit(0);
    }
    if (!(SCENARIOS as readonly string[]).includes(a)) {
      console.error(`unknown scenario "${a}"; choose from: ${SCENARIOS.join(', ')}`);
      process.exit(2);
    }
    names.push(a);
  }
  return { names: names.length > 0 ? names : [...SCENARIOS], runs, warmup };
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
  const { names, runs, warmup } = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
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
  const file = writeResults({
    timestamp: new Date(t0).toISOString(),
    command,
    childCommand: 'node --expose-gc --import tsx bench/<scenario>.ts',
    machine: machineInfo(),
    options: { runs, warmup },
    wallSeconds: (Date.now() - t0) / 1000,
    summary: rows.map((r) => ({
      scenario: r.scenario,
      spindle: r.spindle,
      baseline: r.baseline,
      unit: r.unit,
      ratio: ratio(r),
      result: passOf(r),
      othersCores: r.othersCores,
    })),
    scenarios: results,
    failed,
    table,
  });
  console.log(`\nresults: ${relative(process.cwd(), file)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  if (failed.length > 0) process.exitCode = 1;
}

main();
