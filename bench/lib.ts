/**
 * Shared benchmark machinery: timing, statistics, table printing, JSON results and the
 * child-process protocol. Every scenario lives in its own file and exports a {@link Scenario};
 * `bench/run.ts` runs each one in a fresh `node --expose-gc --import tsx` child so JIT state
 * and heap from one scenario never leak into another, and memory figures are taken after a
 * real `gc()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Runtime, setDefaultRuntime, silentLogger } from '../src/index.js';
import type { Row } from './format.js';
import { fmtChecks, fmtRatio, fmtValue, LOADED_CORES, passOf, percentile } from './format.js';

export * from './format.js';

/** Clock ticks per second of /proc times (USER_HZ; 100 on Linux). */
const HZ = 100;

/** The machine's busy CPU time so far, in seconds (from /proc/stat); undefined off Linux. */
export function machineBusySeconds(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f as number[];
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / HZ;
  } catch {
    return undefined;
  }
}

/**
 * CPU time of this process's reaped children so far, in seconds (/proc/self/stat cutime +
 * cstime): after a scenario child exits, its whole tree (peer processes included, once reaped).
 */
export function childrenCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the name: state is index 0; cutime and cstime are fields 16 and 17 overall.
    return (Number(f[13]) + Number(f[14])) / HZ;
  } catch {
    return undefined;
  }
}

export interface Scenario {
  name: string;
  description: string;
  run(opts: RunOptions): Promise<Row[]>;
}

export interface RunOptions {
  /** Timed runs per measurement (median reported). */
  runs: number;
  /** Untimed warm-up runs before them. */
  warmup: number;
}

export const defaultOptions: RunOptions = { runs: 5, warmup: 2 };

// ---------------------------------------------------------------------------------------------
// Timing and statistics

export const now = (): number => performance.now();

/** Runs the collector if `--expose-gc` gave us one (it always does under bench/run.ts). */
export function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) {
    g();
    g();
  }
}

/** p50 / p90 / p99 / max of a latency sample (what `extra.latencyNs` holds for the report's chart). */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  count: number;
}

export function latencySummary(xs: readonly number[]): LatencySummary {
  return { p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99), max: Math.max(...xs), count: xs.length };
}

/**
 * Per-call latencies (ns) of two ways of making the same call, measured interleaved in chunks
 * (`chunk` calls of A, `chunk` of B, …) until each has `total`. Each call is timed on its own
 * with `performance.now()` (≈30–50 ns of it included: what matters for in-thread calls only).
 */
export async function interleavedLatencies(
  total: number,
  chunk: number,
  a: (i: number) => Promise<unknown>,
  b: (i: number) => Promise<unknown>,
): Promise<{ spindle: number[]; baseline: number[] }> {
  const out = { spindle: [] as number[], baseline: [] as number[] };
  for (let done = 0; done < total; done += chunk) {
    const k = Math.min(chunk, total - done);
    for (const [f, xs] of [
      [a, out.spindle],
      [b, out.baseline],
    ] as const) {
      for (let i = 0; i < k; i++) {
        const t0 = now();
        await f(done + i);
        xs.push((now() - t0) * 1e6);
      }
    }
  }
  return out;
}

/**
 * Runs `once` `warmup` times untimed, then `runs` times; each call returns its own figure
 * (it does its own timing so setup stays out of the measurement). One gc runs after the
 * warm-up, none between runs: a forced full gc shrinks the young generation back to its
 * initial size, and the next run then pays for regrowing it (measured: 1M casts took ~80 ms
 * after each forced gc against ~45 ms in steady state). Steady state is what a running
 * server sees.
 */
export async function repeat(opts: RunOptions, once: () => Promise<number> | number): Promise<number[]> {
  for (let i = 0; i < opts.warmup; i++) await once();
  gc();
  const out: number[] = [];
  for (let i = 0; i < opts.runs; i++) out.push(await once());
  return out;
}

/**
 * Measures Spindle and its baseline alternately (S, B, S, B, …) so drift in machine load hits
 * both equally. Warm-up and gc as in {@link repeat}.
 */
export async function paired(
  opts: RunOptions,
  spindle: () => Promise<number> | number,
  baseline: () => Promise<number> | number,
): Promise<{ spindle: number[]; baseline: number[] }> {
  for (let i = 0; i < opts.warmup; i++) {
    await spindle();
    await baseline();
  }
  gc();
  const s: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < opts.runs; i++) {
    s.push(await spindle());
    b.push(await baseline());
  }
  return { spindle: s, baseline: b };
}

/** A fresh default runtime with a silent logger (the previous one is dropped). */
export function freshRuntime(): Runtime {
  const rt = new Runtime({ logger: silentLogger });
  const prev = setDefaultRuntime(rt);
  prev?.killAll();
  return rt;
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** Prints rows as an aligned table (and returns the text). */
export function printTable(rows: readonly Row[]): string {
  const head = ['scenario', 'spindle', 'raw baseline (same run)', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [
    r.scenario,
    fmtValue(r.spindle, r.unit),
    `${fmtValue(r.baseline, r.unit)} (${r.baselineLabel})`,
    fmtRatio(r),
    fmtChecks(r),
    r.othersCores !== undefined && r.othersCores > LOADED_CORES
      ? `${passOf(r)} (loaded: others ${r.othersCores.toFixed(2)} core)`
      : passOf(r),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  const sep = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  const text = [line(head), sep, ...body.map(line)].join('\n');
  console.log(text);
  return text;
}

// ---------------------------------------------------------------------------------------------
// Results

/** Runs git read-only in the repository (no optional locks); its trimmed output, or null. */
function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: join(benchDir, '..'),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, GIT_OPTIONAL_LOCKS: '0' },
    }).trim();
  } catch {
    return null;
  }
}

/** The commit benchmarked: full and short hash, and whether tracked files differ from it (null outside git). */
export function gitInfo(): { commit: string | null; commitShort: string | null; dirty: boolean | null } {
  const commit = git(['rev-parse', 'HEAD']);
  if (commit === null) return { commit: null, commitShort: null, dirty: null };
  const status = git(['status', '--porcelain', '--untracked-files=no']);
  return { commit, commitShort: git(['rev-parse', '--short', 'HEAD']), dirty: status === null ? null : status !== '' };
}

/** What the results JSON records about the machine and the code measured. */
export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? null,
    cpuCount: cpus.length,
    cores: os.availableParallelism(),
    totalMemBytes: os.totalmem(),
    os: { type: os.type(), release: os.release(), platform: os.platform(), arch: os.arch() },
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    ...gitInfo(),
  };
}

export const benchDir = dirname(fileURLToPath(import.meta.url));

/** The default results file: `bench/results/<start time, ISO with - for : and .>.json`. */
export function defaultResultsFile(startedAt: Date): string {
  return join(benchDir, 'results', `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
}

/** Writes the results JSON to `file` (its folder created) and returns the path. */
export function writeResults(data: Record<string, unknown>, file: string): string {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

// ---------------------------------------------------------------------------------------------
// Child protocol: a scenario file run directly prints one `BENCH_RESULT <json>` line.

export const RESULT_MARK = 'BENCH_RESULT ';

/** Options a child receives from bench/run.ts through the environment. */
export function optionsFromEnv(): RunOptions {
  const runs = Number(process.env.BENCH_RUNS);
  const warmup = Number(process.env.BENCH_WARMUP);
  return {
    runs: Number.isInteger(runs) && runs > 0 ? runs : defaultOptions.runs,
    warmup: Number.isInteger(warmup) && warmup >= 0 ? warmup : defaultOptions.warmup,
  };
}

/**
 * Call at the bottom of each scenario file: when the file is the entry point, runs the
 * scenario, prints its rows (as a table, and as a result line for bench/run.ts) and exits —
 * explicitly, because a runtime's call-deadline timer may still be armed.
 */
export function mainIfEntry(scenario: Scenario, moduleUrl: string): void {
  const entry = process.argv[1];
  if (entry === undefined || pathToFileURL(entry).href !== moduleUrl) return;
  const t0 = now();
  scenario.run(optionsFromEnv()).then(
    (rows) => {
      const result = { name: scenario.name, rows, wallMs: now() - t0 };
      if (process.env.BENCH_CHILD === '1') process.stdout.write(`${RESULT_MARK}${JSON.stringify(result)}\n`);
      else printTable(rows);
      process.exit(0);
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
