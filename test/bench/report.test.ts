/**
 * `npm run bench:report`: the README's benchmark table is generated from the committed results
 * file, so it cannot drift from a run (`--check` fails when they differ), and the charts are
 * drawn from the same file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTsx } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'spindle-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench:report', () => {
  it('finds the README table in agreement with docs/bench/results.json', async () => {
    const r = await runTsx(['bench/report.ts', 'docs/bench/results.json', '--check'], 60_000);
    expect(r.code, r.out).toBe(0);
  }, 70_000);

  it('fails --check when the table was edited by hand, and rewrites it from the results', async () => {
    const readme = join(dir, 'README.md');
    const original = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const edited = original.replace(
      /\| cast throughput \(1M casts \+ call\) \| [^|]+\|/,
      '| cast throughput (1M casts + call) | 99 M msg/s |',
    );
    expect(edited).not.toBe(original);
    writeFileSync(readme, edited);
    const check = await runTsx(['bench/report.ts', 'docs/bench/results.json', '--check', `--readme=${readme}`], 60_000);
    expect(check.code, check.out).toBe(1);
    const write = await runTsx(['bench/report.ts', 'docs/bench/results.json', `--readme=${readme}`, `--out=${dir}`], 60_000);
    expect(write.code, write.out).toBe(0);
    expect(readFileSync(readme, 'utf8')).toBe(original);
    for (const chart of ['msg-size.svg', 'speedup.svg', 'latency.svg']) {
      const svg = readFileSync(join(dir, chart), 'utf8');
      expect(svg.startsWith('<svg') || svg.startsWith('<?xml'), chart).toBe(true);
      expect(svg).toContain('</svg>');
      expect(svg).not.toContain('NaN');
    }
  }, 130_000);

  it('fails --check when the markers are missing', async () => {
    const readme = join(dir, 'NO-MARKERS.md');
    writeFileSync(readme, '# nothing here\n');
    const r = await runTsx(['bench/report.ts', 'docs/bench/results.json', '--check', `--readme=${readme}`], 60_000);
    expect(r.code, r.out).toBe(1);
  }, 70_000);
});
