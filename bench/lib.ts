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

/** One line of the results table. */
export interface Row {
  /** What is measured, e.g. "cast throughput (1M casts)". */
  scenario: string;
  /** The Spindle figure (median of the runs), in `unit`. */
  spindle: number;
  /** The raw baseline measured in the same run, in `unit`. */
  baseline: number;
  /** What the baseline is, e.g. "bare array-queue actor". */
  baselineLabel: string;
  unit: Unit;
  /** The targets, each checked against the medians. */
  checks: Check[];
  /** Every run's figure, for the JSON. */
  samples: { spindle: number[]; baseline: number[] };
  /**
   * How the ratio reads: 'percent' → "42% of raw" (spindle/baseline as a share), 'times' →
   * "3.1× raw". Defaults to 'percent' for rates, 'times' for times and sizes.
   */
  ratioAs?: 'percent' | 'times';
  /** The word after the ratio; "raw" unless the baseline is a peer library. */
  ratioOf?: string;
  /** Anything else worth keeping (percentiles, counts). */
  extra?: Record<string, unknown>;
  /**
   * CPU that other processes of the machine took while the row's scenario ran, in cores (set by
   * bench/run.ts on Linux). Above {@link LOADED_CORES} the row is flagged as measured loaded.
   */
  othersCores?: number;
}

/** Others' CPU above which a row is flagged as measured on a loaded machine. */
export const LOADED_CORES = 0.15;

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

/** A target: a label for the table and whether the median met it. */
export interface Check {
  label: string;
  pass: boolean;
}

/**
 * Units decide formatting and how the ratio reads: for rates higher is better and the ratio is
 * "x% of raw"; for times and sizes lower is better and the ratio is "N× raw".
 */
export type Unit = 'msg/s' | 'call/s' | 'spawn/s' | 'job/s' | 'ns/call' | 'B/proc' | 'ms';

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

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** Nearest-rank-with-interpolation percentile, p in [0, 100]. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = ((s.length - 1) * p) / 100;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (pos - lo);
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

export function higherIsBetter(unit: Unit): boolean {
  return unit.endsWith('/s');
}

export function fmtValue(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return 'n/a';
  switch (unit) {
    case 'ns/call':
      return v >= 1000 ? `${(v / 1000).toFixed(2)} µs/call` : `${v.toFixed(0)} ns/call`;
    case 'B/proc':
      return `${v.toFixed(0)} B/proc`;
    case 'ms':
      return `${v.toFixed(1)} ms`;
    default: {
      const what = unit.slice(0, -2);
      if (v >= 1e6) return `${(v / 1e6).toFixed(2)} M ${what}/s`;
      if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k ${what}/s`;
      return `${v.toFixed(0)} ${what}/s`;
    }
  }
}

/** "42% of raw" for rates, "3.1× raw" for times and sizes (see {@link Row.ratioAs}). */
export function fmtRatio(row: Row): string {
  const r = ratio(row);
  if (!Number.isFinite(r)) return 'n/a';
  const of = row.ratioOf ?? 'raw';
  const as = row.ratioAs ?? (higherIsBetter(row.unit) ? 'percent' : 'times');
  if (as === 'percent') return `${(r * 100).toFixed(0)}% of ${of}`;
  return `${r.toFixed(2)}× ${of}`;
}

/**
 * Spindle / baseline. With paired samples it is the median of the per-pair ratios (each
 * Spindle run against the baseline run right after it), which holds steady when the machine's
 * load shifts between runs; otherwise the ratio of the medians.
 */
export function ratio(row: Row): number {
  return pairedRatio(row.samples) ?? row.spindle / row.baseline;
}

/** Median of spindle[i] / baseline[i]; undefined unless the samples pair up. */
export function pairedRatio(samples: { spindle: readonly number[]; baseline: readonly number[] }): number | undefined {
  const { spindle: s, baseline: b } = samples;
  if (s.length === 0 || s.length !== b.length) return undefined;
  return median(s.map((x, i) => x / (b[i] as number)));
}

export function passOf(row: Row): 'pass' | 'miss' | '—' {
  if (row.checks.length === 0) return '—';
  return row.checks.every((c) => c.pass) ? 'pass' : 'miss';
}

export function fmtChecks(row: Row): string {
  if (row.checks.length === 0) return '(none)';
  return row.checks.map((c) => (row.checks.length > 1 && !c.pass ? `${c.label} ✗` : c.label)).join(' & ');
}

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

export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  let commit: string | undefined;
  let dirty: boolean | undefined;
  try {
    commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    dirty = execFileSync('git', ['status', '--porcelain'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
  } catch {
    // Not a git checkout: leave them out.
  }
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    totalMemBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    commit,
    dirty,
  };
}

export const benchDir = dirname(fileURLToPath(import.meta.url));

/** Writes `bench/results/<timestamp>.json` and returns its path. */
export function writeResults(data: Record<string, unknown>): string {
  const dir = join(benchDir, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(dir, `${stamp}.json`);
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
