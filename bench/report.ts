/**
 * `npm run bench:report [-- RESULTS.json] [--check] [--out=DIR] [--readme=FILE]`
 *
 * Turns one results file of `npm run bench` (default: the newest bench/results/*.json, by
 * name, which is its start time) into:
 * - docs/bench/msg-size.svg: throughput vs message size (msg-size: msg/s and MB/s, Spindle
 *   and raw postMessage, clone and transfer; log scales);
 * - docs/bench/speedup.svg: speedup vs threads 1…N (thread-speedup: Spindle and the raw
 *   pool, each over its own 1-thread figure, with the ideal line);
 * - docs/bench/latency.svg: single-call latency p50/p90/p99/max, Spindle and its raw
 *   baseline, in-thread (call-latency), cross-thread (thread-call), cross-node (node-call);
 * - the README's benchmark table, rewritten between `<!-- bench:table:start -->` and
 *   `<!-- bench:table:end -->` (results file, date, commit, machine, loaded rows flagged).
 * A chart whose scenario is not in the file is left as it is (and said so).
 *
 * `--check` writes nothing: it exits 1 when the README's table differs from what this results
 * file gives (or the markers are missing), 0 when it matches.
 *
 * The SVG is written by hand (no chart library): plain strings, system fonts, no scripts.
 * Loads no Spindle code, only bench/format.ts.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Row } from './format.js';
import { fmtChecks, fmtRatio, fmtValue, LOADED_CORES, passOf } from './format.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = join(benchDir, '..');

export const START = '<!-- bench:table:start -->';
export const END = '<!-- bench:table:end -->';

interface Machine {
  cpuModel?: string | null;
  cpuCount?: number;
  cores?: number;
  totalMemBytes?: number;
  platform?: string;
  os?: { type: string; release: string; arch: string };
  node?: string;
  commit?: string | null;
  commitShort?: string | null;
  dirty?: boolean | null;
}

interface Results {
  timestamp?: string;
  startedAt?: string;
  endedAt?: string;
  command?: string;
  machine?: Machine;
  options?: { runs: number; warmup: number };
  loadedCoresThreshold?: number;
  scenarios: { name: string; rows: Row[] }[];
  failed?: string[];
}

// ---------------------------------------------------------------------------------------------
// Arguments and input

interface Args {
  file: string;
  check: boolean;
  outDir: string;
  readme: string;
}

const USAGE = 'usage: npm run bench:report [-- RESULTS.json] [--check] [--out=DIR] [--readme=FILE]';

function newestResults(): string {
  const dir = join(benchDir, 'results');
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
  if (files.length === 0) {
    console.error(`no results in ${relative(process.cwd(), dir)}: run npm run bench first`);
    process.exit(2);
  }
  return join(dir, files.sort().at(-1) as string);
}

function parseArgs(argv: string[]): Args {
  // Under npm the cwd is the package root; INIT_CWD is where the command was typed.
  const cwd = process.env.INIT_CWD ?? process.cwd();
  let file: string | undefined;
  let check = false;
  let outDir = join(root, 'docs', 'bench');
  let readme = join(root, 'README.md');
  for (const a of argv) {
    if (a === '--check') check = true;
    else if (a.startsWith('--out=')) outDir = resolve(cwd, a.slice(6));
    else if (a.startsWith('--readme=')) readme = resolve(cwd, a.slice(9));
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else if (a.startsWith('--')) {
      console.error(`unknown option ${a}\n${USAGE}`);
      process.exit(2);
    } else if (file === undefined) file = resolve(cwd, a);
    else {
      console.error(`one results file at most\n${USAGE}`);
      process.exit(2);
    }
  }
  return { file: file ?? newestResults(), check, outDir, readme };
}

// ---------------------------------------------------------------------------------------------
// The README table

const GiB = 1024 ** 3;

/** Where a path is shown: relative to the repository when inside it. */
function shown(file: string): string {
  const r = relative(root, file);
  return r.startsWith('..') ? file : r.split('\\').join('/');
}

function describeMachine(m: Machine | undefined): string {
  if (m === undefined) return 'unknown machine';
  const cores = m.cores ?? m.cpuCount;
  const os = m.os !== undefined ? `${m.os.type} ${m.os.release} ${m.os.arch}` : (m.platform ?? '');
  const mem = m.totalMemBytes !== undefined ? `, ${(m.totalMemBytes / GiB).toFixed(0)} GiB` : '';
  return `${m.cpuModel ?? 'unknown CPU'}, ${cores ?? '?'} cores${mem}, ${os}, Node ${m.node ?? '?'}`;
}

function describeCommit(m: Machine | undefined): string {
  const c = m?.commitShort ?? m?.commit?.slice(0, 7);
  if (c == null) return 'commit unknown';
  return `commit \`${c}\`${m?.dirty === true ? ' (with uncommitted changes)' : ''}`;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** What goes between the markers (without them), ending in a newline. */
export function tableBlock(results: Results, file: string): string {
  const rows = results.scenarios.flatMap((s) => s.rows);
  const threshold = results.loadedCoresThreshold ?? LOADED_CORES;
  const started = results.startedAt ?? results.timestamp;
  const date = started !== undefined ? `${started.slice(0, 16).replace('T', ' ')} UTC` : 'unknown date';
  const runs = results.options !== undefined ? `medians of ${results.options.runs} runs after ${results.options.warmup} warm-ups` : '';
  const loaded = rows.filter((r) => r.othersCores !== undefined && r.othersCores > threshold).length;
  const lines = [
    `<!-- generated by npm run bench:report from ${shown(file)}: do not edit by hand -->`,
    '',
    `Results file \`${shown(file)}\` (\`${results.command ?? 'npm run bench'}\`, ${date}, ${describeCommit(results.machine)}), ` +
      `measured on ${describeMachine(results.machine)}${runs === '' ? '' : `; ${runs}`}. ` +
      `Each ratio is the median of Spindle/baseline pairs measured back to back in the same process. ` +
      (loaded === 0
        ? `No row was measured loaded (other processes took at most ${threshold} core while each scenario ran).`
        : `${loaded} of ${rows.length} rows were measured loaded (other processes took more than ${threshold} core while their scenario ran): marked "loaded" in the result column.`),
  ];
  if (results.failed !== undefined && results.failed.length > 0)
    lines.push('', `Failed in this run (no rows): ${results.failed.join(', ')}.`);
  lines.push(
    '',
    '| scenario | Spindle | raw baseline (same run) | ratio | target | result |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => {
      const result =
        r.othersCores !== undefined && r.othersCores > threshold
          ? `${passOf(r)} (loaded: others ${r.othersCores.toFixed(2)} core)`
          : passOf(r);
      return `| ${[
        r.scenario,
        fmtValue(r.spindle, r.unit),
        `${fmtValue(r.baseline, r.unit)} (${r.baselineLabel})`,
        fmtRatio(r),
        fmtChecks(r),
        result,
      ]
        .map(cell)
        .join(' | ')} |`;
    }),
  );
  // A blank line before the end marker, so no Markdown reader takes it for a table row.
  return `${lines.join('\n')}\n\n`;
}

/** The README with the block between the markers replaced; undefined when the markers are missing. */
export function replaceBlock(readme: string, block: string): string | undefined {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END, a + START.length);
  if (a < 0 || b < 0) return undefined;
  return `${readme.slice(0, a + START.length)}\n${block}${readme.slice(b)}`;
}

// ---------------------------------------------------------------------------------------------
// SVG

const W = 760;
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const INK = '#1f2937';
const MUTED = '#6b7280';
const GRID = '#e5e7eb';
const SPINDLE = '#2563eb';
const SPINDLE2 = '#059669';
const RAW = '#9ca3af';
const RAW2 = '#d97706';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const f1 = (v: number): string => (Math.round(v * 10) / 10).toString();

/** 1.2k, 3.4M, 950, 0.5 — short axis labels. */
function short(v: number): string {
  const a = Math.abs(v);
  const trim = (x: number): string =>
    x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1).replace(/\.0$/, '') : x.toFixed(2).replace(/\.?0+$/, '');
  if (a >= 1e9) return `${trim(v / 1e9)}G`;
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e3) return `${trim(v / 1e3)}k`;
  return trim(v);
}

/** Header height: title and two subtitle lines. */
const TOP = 66;

function svgDoc(h: number, title: string, sub: [string, string], body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" role="img" aria-label="${esc(title)}">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${W}" height="${h}" fill="#ffffff"/>`,
    `<text x="20" y="26" ${FONT} font-size="16" font-weight="600" fill="${INK}">${esc(title)}</text>`,
    `<text x="20" y="44" ${FONT} font-size="11" fill="${MUTED}">${esc(sub[0])}</text>`,
    `<text x="20" y="58" ${FONT} font-size="11" fill="${MUTED}">${esc(sub[1])}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  points: { x: number; y: number }[];
}

interface Axis {
  label: string;
  log?: boolean;
  /** Category labels at given x values (instead of numeric ticks). */
  ticks?: { at: number; label: string }[];
  min?: number;
  max?: number;
}

/** Scale for an axis over [lo, hi] onto [p0, p1]; log axes use powers of ten. */
function scale(
  axis: Axis,
  values: number[],
  p0: number,
  p1: number,
): { map: (v: number) => number; ticks: { at: number; label: string }[] } {
  const finite = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  let lo = axis.min ?? Math.min(...finite);
  let hi = axis.max ?? Math.max(...finite);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = axis.log ? 1 : 0;
    hi = axis.log ? 10 : 1;
  }
  if (axis.log) {
    const l0 = Math.floor(Math.log10(lo));
    const l1 = Math.max(l0 + 1, Math.ceil(Math.log10(hi)));
    const map = (v: number): number => p0 + ((Math.log10(Math.max(v, 10 ** l0)) - l0) / (l1 - l0)) * (p1 - p0);
    const ticks = axis.ticks ?? Array.from({ length: l1 - l0 + 1 }, (_, i) => ({ at: 10 ** (l0 + i), label: short(10 ** (l0 + i)) }));
    return { map, ticks };
  }
  if (hi === lo) hi = lo + 1;
  // Round the top up to a "nice" step.
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const top = axis.max ?? Math.ceil(hi / step) * step;
  const bottom = axis.min ?? Math.floor(lo / step) * step;
  const map = (v: number): number => p0 + ((v - bottom) / (top - bottom)) * (p1 - p0);
  const ticks = axis.ticks ?? [];
  if (axis.ticks === undefined) for (let v = bottom; v <= top + step / 1e6; v += step) ticks.push({ at: v, label: short(v) });
  return { map, ticks };
}

/** A line chart with markers inside the box (x, y, w, h); legend at its top left unless `withLegend` is false. */
function lineChart(
  box: { x: number; y: number; w: number; h: number },
  xAxis: Axis,
  yAxis: Axis,
  series: Series[],
  title?: string,
  withLegend = true,
): string[] {
  const pad = { l: 56, r: 12, t: title === undefined ? 8 : 26, b: 44 };
  const px0 = box.x + pad.l;
  const px1 = box.x + box.w - pad.r;
  const py0 = box.y + box.h - pad.b;
  const py1 = box.y + pad.t;
  const xs = scale(
    xAxis,
    series.flatMap((s) => s.points.map((p) => p.x)),
    px0,
    px1,
  );
  const ys = scale(
    yAxis,
    series.flatMap((s) => s.points.map((p) => p.y)),
    py0,
    py1,
  );
  const out: string[] = [];
  if (title !== undefined)
    out.push(`<text x="${px0}" y="${box.y + 16}" ${FONT} font-size="13" font-weight="600" fill="${INK}">${esc(title)}</text>`);
  for (const t of ys.ticks) {
    const y = f1(ys.map(t.at));
    out.push(`<line x1="${px0}" x2="${px1}" y1="${y}" y2="${y}" stroke="${GRID}"/>`);
    out.push(`<text x="${px0 - 6}" y="${y}" dy="4" text-anchor="end" ${FONT} font-size="11" fill="${MUTED}">${esc(t.label)}</text>`);
  }
  for (const t of xs.ticks) {
    const x = f1(xs.map(t.at));
    out.push(`<line x1="${x}" x2="${x}" y1="${py0}" y2="${py0 + 4}" stroke="${MUTED}"/>`);
    out.push(`<text x="${x}" y="${py0 + 17}" text-anchor="middle" ${FONT} font-size="11" fill="${MUTED}">${esc(t.label)}</text>`);
  }
  out.push(`<line x1="${px0}" x2="${px1}" y1="${py0}" y2="${py0}" stroke="${INK}"/>`);
  out.push(`<line x1="${px0}" x2="${px0}" y1="${py0}" y2="${py1}" stroke="${INK}"/>`);
  out.push(
    `<text x="${(px0 + px1) / 2}" y="${py0 + 36}" text-anchor="middle" ${FONT} font-size="12" fill="${INK}">${esc(xAxis.label)}</text>`,
  );
  out.push(
    `<text transform="translate(${box.x + 14} ${(py0 + py1) / 2}) rotate(-90)" text-anchor="middle" ${FONT} font-size="12" fill="${INK}">${esc(yAxis.label)}</text>`,
  );
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p.y) && (!yAxis.log || p.y > 0));
    if (pts.length === 0) continue;
    const d = pts.map((p) => `${f1(xs.map(p.x))},${f1(ys.map(p.y))}`).join(' ');
    out.push(
      `<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    if (s.dashed !== true)
      for (const p of pts)
        out.push(
          `<circle cx="${f1(xs.map(p.x))}" cy="${f1(ys.map(p.y))}" r="3" fill="${s.color}"><title>${esc(`${s.label}: ${short(p.y)}`)}</title></circle>`,
        );
  }
  if (withLegend) out.push(...legend(px0 + 10, py1 + 6, series));
  return out;
}

/** A one-line legend, left to right from (x, y). */
function legendRow(x: number, y: number, series: { label: string; color: string; dashed?: boolean; bar?: boolean }[]): string[] {
  const out: string[] = [];
  let at = x;
  for (const s of series) {
    out.push(
      `<line x1="${f1(at)}" x2="${f1(at + 22)}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="${s.bar === true ? 8 : 2}"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    out.push(`<text x="${f1(at + 28)}" y="${y}" dy="4" ${FONT} font-size="11" fill="${INK}">${esc(s.label)}</text>`);
    at += 28 + s.label.length * 6.2 + 22;
  }
  return out;
}

function legend(x: number, y: number, series: { label: string; color: string; dashed?: boolean }[]): string[] {
  const out = [
    `<rect x="${x - 6}" y="${y - 4}" width="${Math.max(...series.map((s) => s.label.length)) * 6.4 + 40}" height="${series.length * 16 + 6}" fill="#ffffff" fill-opacity="0.9" stroke="${GRID}"/>`,
  ];
  series.forEach((s, i) => {
    const cy = y + 8 + i * 16;
    out.push(
      `<line x1="${x}" x2="${x + 22}" y1="${cy}" y2="${cy}" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    out.push(`<text x="${x + 28}" y="${cy}" dy="4" ${FONT} font-size="11" fill="${INK}">${esc(s.label)}</text>`);
  });
  return out;
}

function subtitle(results: Results, file: string, what: string): [string, string] {
  const started = results.startedAt ?? results.timestamp ?? '';
  const m = results.machine;
  const commit = m?.commitShort ?? m?.commit?.slice(0, 7) ?? 'commit unknown';
  return [
    what,
    `${shown(file)} · ${started.slice(0, 10)} · ${commit}${m?.dirty === true ? ' (dirty)' : ''} · ${m?.cpuModel ?? 'unknown CPU'}, ${m?.cores ?? m?.cpuCount ?? '?'} cores, Node ${m?.node ?? '?'}`,
  ];
}

const rowsOf = (results: Results, name: string): Row[] => results.scenarios.find((s) => s.name === name)?.rows ?? [];
const num = (v: unknown): number => (typeof v === 'number' ? v : Number.NaN);

/** (a) Throughput vs message size: msg/s and MB/s panels. */
function msgSizeChart(results: Results, file: string): string | undefined {
  const rows = rowsOf(results, 'msg-size').filter((r) => r.extra?.chart === 'msg-size');
  if (rows.length === 0) return undefined;
  const sizes = [...new Set(rows.map((r) => num(r.extra?.bytes)))].sort((a, b) => a - b);
  const label = (b: number): string => String(rows.find((r) => r.extra?.bytes === b)?.extra?.sizeLabel ?? `${b} B`);
  const pick = (mode: string, key: string): { x: number; y: number }[] =>
    sizes.map((b) => ({ x: b, y: num(rows.find((r) => r.extra?.bytes === b && r.extra?.mode === mode)?.extra?.[key]) }));
  const series = (unit: 'MsgPerSec' | 'MBps'): Series[] => [
    { label: 'Spindle, clone', color: SPINDLE, points: pick('clone', `spindle${unit}`) },
    { label: 'raw postMessage, clone', color: RAW, points: pick('clone', `raw${unit}`) },
    { label: 'Spindle, transfer', color: SPINDLE2, points: pick('transfer', `spindle${unit}`) },
    { label: 'raw postMessage, transfer', color: RAW2, points: pick('transfer', `raw${unit}`) },
  ];
  const xAxis: Axis = { label: 'payload (Uint8Array), log scale', log: true, ticks: sizes.map((b) => ({ at: b, label: label(b) })) };
  const h = 460;
  const half = (W - 20) / 2;
  const y0 = TOP + 24;
  const what = 'casts main thread → GenServer in a thread subtree (msg-size), beside raw postMessage to a plain worker, same run';
  return svgDoc(h, 'Cross-thread cast throughput vs message size', subtitle(results, file, what), [
    ...legendRow(30, TOP + 14, series('MBps')),
    ...lineChart(
      { x: 10, y: y0, w: half, h: h - y0 - 6 },
      xAxis,
      { label: 'messages per second (log)', log: true },
      series('MsgPerSec'),
      'messages/s',
      false,
    ),
    ...lineChart(
      { x: 10 + half, y: y0, w: half, h: h - y0 - 6 },
      xAxis,
      { label: 'MB per second (log)', log: true },
      series('MBps'),
      'MB/s',
      false,
    ),
  ]);
}

/** (b) Speedup vs threads, with the ideal line. */
function speedupChart(results: Results, file: string): string | undefined {
  const row = rowsOf(results, 'thread-speedup').find((r) => Array.isArray(r.extra?.series));
  if (row === undefined) return undefined;
  const series = row.extra?.series as { threads: number; speedup: number; rawSpeedup: number; ideal: number }[];
  const n = Math.max(...series.map((p) => p.threads));
  const top = Math.max(n, ...series.map((p) => p.speedup), ...series.map((p) => p.rawSpeedup).filter(Number.isFinite));
  const h = 440;
  const what = `thread-speedup: ${num(row.extra?.calls)} calls of ≈${num(row.extra?.jobMs)} ms (sha256) per run, each side over its own 1-thread figure`;
  return svgDoc(h, `CPU-bound GenServers: speedup over 1…${n} threads`, subtitle(results, file, what), [
    ...lineChart(
      { x: 10, y: TOP + 6, w: W - 20, h: h - TOP - 12 },
      {
        label: 'threads (thread subtrees / raw workers)',
        min: 1,
        max: n,
        ticks: series.map((p) => ({ at: p.threads, label: String(p.threads) })),
      },
      { label: 'speedup over 1 thread', min: 0, max: Math.ceil(top) },
      [
        { label: 'Spindle thread subtrees', color: SPINDLE, points: series.map((p) => ({ x: p.threads, y: p.speedup })) },
        { label: 'raw worker pool', color: RAW2, points: series.map((p) => ({ x: p.threads, y: p.rawSpeedup })) },
        {
          label: 'ideal (n×)',
          color: MUTED,
          dashed: true,
          points: [
            { x: 1, y: 1 },
            { x: n, y: n },
          ],
        },
      ],
    ),
  ]);
}

/** 420 ns, 1.2 µs, 35 µs, 7.3 ms: a time given in ns. */
function fmtNs(ns: number): string {
  if (ns >= 1e6) return `${short(ns / 1e6)} ms`;
  if (ns >= 1e3) return `${short(ns / 1e3)} µs`;
  return `${short(ns)} ns`;
}

/**
 * (c) Single-call latency percentiles: one panel per kind (in-thread, cross-thread,
 * cross-node), Spindle beside its raw baseline, on one shared log axis so the kinds compare.
 */
function latencyChart(results: Results, file: string): string | undefined {
  const kinds = ['in-thread', 'cross-thread', 'cross-node'];
  const found = kinds
    .map((kind) => ({
      kind,
      row: results.scenarios.flatMap((s) => s.rows).find((r) => r.extra?.latencyKind === kind && r.extra?.latencyNs !== undefined),
    }))
    .filter((k): k is { kind: string; row: Row } => k.row !== undefined);
  if (found.length === 0) return undefined;
  const keys = ['p50', 'p90', 'p99', 'max'] as const;
  const h = 440;
  const left = 76;
  const panelW = (W - left - 10) / found.length;
  const py0 = h - 46;
  const py1 = TOP + 50;
  const all = found.flatMap(({ row }) =>
    keys.flatMap((k) => [
      (row.extra?.latencyNs as Record<string, number> | undefined)?.[k] ?? Number.NaN,
      (row.extra?.baselineLatencyNs as Record<string, number> | undefined)?.[k] ?? Number.NaN,
    ]),
  );
  const ys = scale({ label: '', log: true }, all, py0, py1);
  const body: string[] = [];
  for (const t of ys.ticks) {
    const y = f1(ys.map(t.at));
    body.push(`<line x1="${left}" x2="${W - 10}" y1="${y}" y2="${y}" stroke="${GRID}"/>`);
    body.push(`<text x="${left - 6}" y="${y}" dy="4" text-anchor="end" ${FONT} font-size="11" fill="${MUTED}">${esc(fmtNs(t.at))}</text>`);
  }
  body.push(`<line x1="${left}" x2="${left}" y1="${py0}" y2="${py1}" stroke="${INK}"/>`);
  body.push(
    `<text transform="translate(18 ${(py0 + py1) / 2}) rotate(-90)" text-anchor="middle" ${FONT} font-size="12" fill="${INK}">time per call (log)</text>`,
  );
  found.forEach(({ kind, row }, i) => {
    const s = row.extra?.latencyNs as Record<string, number>;
    const b = row.extra?.baselineLatencyNs as Record<string, number> | undefined;
    const px0 = left + i * panelW + 8;
    const px1 = left + (i + 1) * panelW - 8;
    body.push(
      `<text x="${f1((px0 + px1) / 2)}" y="${py1 - 18}" text-anchor="middle" ${FONT} font-size="13" font-weight="600" fill="${INK}">${esc(`${kind} call`)}</text>`,
    );
    const groupW = (px1 - px0) / keys.length;
    const barW = Math.min(20, (groupW - 8) / 2);
    keys.forEach((k, j) => {
      const gx = px0 + j * groupW + groupW / 2;
      const bars: [number | undefined, string, string][] = [
        [s[k], SPINDLE, 'Spindle'],
        [b?.[k], RAW, row.baselineLabel],
      ];
      bars.forEach(([v, color, who], m) => {
        if (v === undefined || !Number.isFinite(v) || v <= 0) return;
        const y = ys.map(v);
        const x = gx - barW + m * barW;
        body.push(
          `<rect x="${f1(x)}" y="${f1(y)}" width="${f1(barW - 2)}" height="${f1(Math.max(0, py0 - y))}" fill="${color}"><title>${esc(`${who} ${k}: ${fmtNs(v)}`)}</title></rect>`,
        );
      });
      if (k === 'p50' && s.p50 !== undefined)
        body.push(
          `<text x="${f1(gx - barW / 2)}" y="${f1(ys.map(s.p50) - 4)}" text-anchor="middle" ${FONT} font-size="9" fill="${SPINDLE}">${esc(fmtNs(s.p50))}</text>`,
        );
      body.push(`<text x="${f1(gx)}" y="${py0 + 15}" text-anchor="middle" ${FONT} font-size="11" fill="${MUTED}">${k}</text>`);
    });
    body.push(`<line x1="${px0 - 4}" x2="${px1 + 4}" y1="${py0}" y2="${py0}" stroke="${INK}"/>`);
    body.push(
      `<text x="${f1((px0 + px1) / 2)}" y="${py0 + 32}" text-anchor="middle" ${FONT} font-size="10" fill="${MUTED}">${esc(`raw: ${row.baselineLabel}`)}</text>`,
    );
  });
  body.push(
    ...legendRow(30, TOP + 14, [
      { label: 'Spindle', color: SPINDLE, bar: true },
      { label: 'raw baseline (named under each panel)', color: RAW, bar: true },
    ]),
  );
  const what = 'single calls, each timed on its own, interleaved with the raw baseline (call-latency, thread-call, node-call)';
  return svgDoc(h, 'Call latency: p50 / p90 / p99 / max', subtitle(results, file, what), body);
}

// ---------------------------------------------------------------------------------------------

function main(): void {
  const args = parseArgs(process.argv.slice(2));
  const results = JSON.parse(readFileSync(args.file, 'utf8')) as Results;
  if (!Array.isArray(results.scenarios)) {
    console.error(`${args.file}: not a bench results file (no "scenarios")`);
    process.exit(2);
  }
  const block = tableBlock(results, args.file);
  const readme = existsSync(args.readme) ? readFileSync(args.readme, 'utf8') : '';
  const updated = replaceBlock(readme, block);

  if (args.check) {
    if (updated === undefined) {
      console.error(`${shown(args.readme)}: no ${START} … ${END} markers`);
      process.exit(1);
    }
    if (updated !== readme) {
      console.error(
        `${shown(args.readme)}: the benchmark table differs from ${shown(args.file)} (npm run bench:report -- ${shown(args.file)})`,
      );
      process.exit(1);
    }
    console.log(`${shown(args.readme)}: the benchmark table matches ${shown(args.file)}`);
    return;
  }

  mkdirSync(args.outDir, { recursive: true });
  const charts: [string, string, string | undefined][] = [
    ['msg-size.svg', 'msg-size', msgSizeChart(results, args.file)],
    ['speedup.svg', 'thread-speedup', speedupChart(results, args.file)],
    ['latency.svg', 'call-latency / thread-call / node-call', latencyChart(results, args.file)],
  ];
  for (const [name, from, svg] of charts) {
    const out = join(args.outDir, name);
    if (svg === undefined) console.log(`${shown(out)}: left as it was (no ${from} rows in ${shown(args.file)})`);
    else {
      writeFileSync(out, svg);
      console.log(`${shown(out)}: written`);
    }
  }
  if (updated === undefined) {
    console.log(`${shown(args.readme)}: no ${START} … ${END} markers, table not written; it would be:\n\n${block}`);
    return;
  }
  if (updated === readme) console.log(`${shown(args.readme)}: table already up to date`);
  else {
    writeFileSync(args.readme, updated);
    console.log(`${shown(args.readme)}: table rewritten from ${shown(args.file)}`);
  }
}

if (process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) main();
