/**
 * The results-table vocabulary shared by the runner (bench/run.ts, through bench/lib.ts) and
 * the report (bench/report.ts): rows, units, medians, ratios and how each is written. No
 * runtime imports, so the report works without loading Spindle.
 */

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

/** A target: a label for the table and whether the median met it. */
export interface Check {
  label: string;
  pass: boolean;
}

/**
 * Units decide formatting and how the ratio reads: for rates higher is better and the ratio is
 * "x% of raw"; for times and sizes lower is better and the ratio is "N× raw".
 */
export type Unit = 'msg/s' | 'call/s' | 'spawn/s' | 'job/s' | 'ns/call' | 'B/proc' | 'ms' | 'µs';

// Statistics

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
    case 'µs':
      return v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} µs`;
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
