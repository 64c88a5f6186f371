/**
 * Thread restart: a worker thread crashes (an uncaught exception), its host exits, the root
 * supervisor restarts the subtree on a new thread; timed from the crash to the answer of a
 * call to the restarted server (by name, on its new thread). Median of ≥ 10 crashes.
 *
 * Rows:
 * - `.mjs` subtree on the compiled runtime (dist/, built here first if missing or stale),
 *   measured in a plain `node` child (bench/fixtures/restart-probe.mjs) as a built app runs:
 *   a worker inherits its parent's execArgv, so under this scenario's own `--import tsx`
 *   every worker, raw or not, would load tsx for nothing (~80 ms) (target ≤ 60 ms);
 * - `.ts` subtree on the source runtime through tsx, measured here (no target).
 *
 * Raw baseline: `new Worker()` of a plain .mjs to its first message (for the .ts row: one that
 * registers tsx and imports a .ts module first, as Spindle's worker entry does), timed between
 * the crashes of the same run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as spindle from '../src/index.js';
import { measureRestarts } from './fixtures/restart-probe.mjs';
import type { Row, Scenario } from './lib.js';
import { benchDir, mainIfEntry, median, percentile } from './lib.js';

const root = join(benchDir, '..');
const TARGET_MS = 60;

/** Every .ts under src/ has its .js in dist/src/, no older than the source. */
function distFresh(): boolean {
  const walk = (dir: string): boolean => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (!walk(p)) return false;
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const out = join(root, 'dist', relative(root, p)).replace(/\.ts$/, '.js');
        if (!existsSync(out) || statSync(out).mtimeMs < statSync(p).mtimeMs) return false;
      }
    }
    return true;
  };
  return walk(join(root, 'src'));
}

function ensureBuild(): void {
  if (distFresh()) return;
  process.stderr.write('(dist/ missing or stale: npm run build) ');
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}

function restartRows(
  label: string,
  samples: { spindle: number[]; raw: number[] },
  baselineLabel: string,
  checks: Row['checks'],
  extra: Record<string, unknown>,
): Row {
  return {
    scenario: label,
    spindle: median(samples.spindle),
    baseline: median(samples.raw),
    baselineLabel,
    unit: 'ms',
    checks,
    samples: { spindle: samples.spindle, baseline: samples.raw },
    extra: { ...extra, crashes: samples.spindle.length, spindleP90: percentile(samples.spindle, 90), rawP90: percentile(samples.raw, 90) },
  };
}

export const scenario: Scenario = {
  name: 'thread-restart',
  description: 'worker crash → restarted thread subtree answering a call (.mjs on dist, .ts via tsx)',
  async run(opts) {
    const crashes = Math.max(10, 3 * opts.runs);
    ensureBuild();

    const probe = spawnSync(process.execPath, [join(benchDir, 'fixtures', 'restart-probe.mjs')], {
      cwd: root,
      env: { ...process.env, BENCH_RESTARTS: String(crashes), BENCH_WARMUP: String(opts.warmup) },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (probe.status !== 0) throw new Error(`restart probe failed (exit ${probe.status ?? probe.signal}):\n${probe.stdout}`);
    type Samples = { spindle: number[]; raw: number[] };
    const { cold: mjs, standby } = JSON.parse(probe.stdout.trim().split('\n').pop() as string) as { cold: Samples; standby: Samples };

    const ts = await measureRestarts(spindle, {
      treeUrl: new URL('./fixtures/restart-tree.ts', import.meta.url).href,
      rawEntry: new URL('./fixtures/raw-boot.mjs', import.meta.url),
      rawData: { ts: new URL('./fixtures/raw-boot-module.ts', import.meta.url).href },
      runs: crashes,
      warmup: opts.warmup,
    });

    return [
      restartRows(
        'thread restart, .mjs subtree on dist, standby spare (crash → call answered)',
        standby,
        'raw new Worker(.mjs) → first message',
        [{ label: `≤ ${TARGET_MS} ms`, pass: median(standby.spindle) <= TARGET_MS }],
        { runtime: 'dist/src/index.js', process: 'plain node child (bench/fixtures/restart-probe.mjs)', spec: 'thread.standby: true' },
      ),
      restartRows(
        'thread restart, .mjs subtree on dist, cold boot (crash → call answered)',
        mjs,
        'raw new Worker(.mjs) → first message',
        [],
        { runtime: 'dist/src/index.js', process: 'plain node child (bench/fixtures/restart-probe.mjs)' },
      ),
      restartRows(
        'thread restart, .ts subtree via tsx (crash → call answered)',
        ts,
        'raw new Worker, tsx + .ts import → first message',
        [],
        {
          runtime: 'src/index.ts through tsx',
          process: 'this scenario (node --import tsx)',
        },
      ),
    ];
  },
};

mainIfEntry(scenario, import.meta.url);
