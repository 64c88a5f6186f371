/**
 * The published package, as a user gets it: `npm pack` (which builds through `prepack`), the
 * tarball unpacked into a temporary consumer project outside the repository (ESM, strict
 * TypeScript, `moduleResolution: nodenext`), type-checked with the repo's tsc and run.
 *
 * Offline: the tarball is unpacked into the consumer's node_modules, and each dependency the
 * packed package.json declares (plus @types/node, and tsx where wanted) is a symlink into the
 * repo's node_modules. (`npm install --offline <tgz>` needs registry metadata that `npm ci`
 * does not cache.) A dependency missing from package.json is therefore missing here too.
 *
 * Then the API report (docs/api/) is regenerated from the packed types and compared: run
 * `npm run api` after changing the public API.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const consumerSrc = fileURLToPath(new URL('./consumer/', import.meta.url));
const tsc = join(repo, 'node_modules/typescript/bin/tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

let tmp = '';
let tarball = '';
let packedFiles: string[] = [];
let manifest: { dependencies?: Record<string, string>; peerDependencies?: Record<string, string> } = {};

function run(cmd: string, args: string[], cwd: string, timeout = 60_000): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}:\n${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

/** A consumer project in `dir`: the unpacked tarball plus symlinked dependencies. */
function makeConsumer(dir: string, extra: string[]): void {
  mkdirSync(join(dir, 'node_modules/spindle'), { recursive: true });
  run('tar', ['-xzf', tarball, '-C', join(dir, 'node_modules/spindle'), '--strip-components=1'], dir);
  for (const name of [...Object.keys(manifest.dependencies ?? {}), ...extra]) {
    const link = join(dir, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(repo, 'node_modules', name), link, 'dir');
  }
  cpSync(consumerSrc, dir, { recursive: true });
}

/** Runs the consumer's compiled main and returns what it printed as its result. */
function runConsumer(dir: string, mode: 'full' | 'no-tsx' | 'cjs'): Record<string, unknown> {
  const stdout = run(process.execPath, mode === 'cjs' ? ['require.cjs'] : ['out/main.js', mode], dir);
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (line === undefined) throw new Error(`no RESULT line in:\n${stdout}`);
  return JSON.parse(line.slice('RESULT '.length)) as Record<string, unknown>;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'spindle-pack-'));
  // prepack's build may print before npm's JSON (npm versions differ): parse from the array.
  const stdout = run(npm, ['pack', '--json', '--pack-destination', tmp], repo, 120_000);
  const packed = JSON.parse(stdout.slice(Math.max(0, stdout.search(/^\[/m)))) as {
    filename: string;
    files: { path: string }[];
  }[];
  const first = packed[0];
  if (first === undefined) throw new Error('npm pack reported no tarball');
  tarball = join(tmp, first.filename);
  packedFiles = first.files.map((f) => f.path);
  // Unpacked as is for the API report (API Extractor treats anything under node_modules as
  // another package's).
  run('tar', ['-xzf', tarball, '-C', tmp], tmp);
  manifest = JSON.parse(readFileSync(join(tmp, 'package/package.json'), 'utf8'));
  const full = join(tmp, 'full');
  makeConsumer(full, ['@types/node', 'tsx']);
  run(process.execPath, [tsc, '-p', 'tsconfig.json'], full);
  // The same compiled program, in a project without tsx.
  const bare = join(tmp, 'no-tsx');
  makeConsumer(bare, ['@types/node']);
  cpSync(join(full, 'out'), join(bare, 'out'), { recursive: true });
  writeFileSync(join(tmp, 'README.txt'), 'spindle pack test; safe to delete\n');
}, 120_000);

afterAll(() => {
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds the built code, the types, the worker entries and the docs, and no tests', () => {
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'SECURITY.md',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/testing.js',
      'dist/src/testing.d.ts',
      'workers/thread-worker.mjs',
      'workers/task-worker.mjs',
    ])
      expect(packedFiles).toContain(f);
    const stray = packedFiles.filter((f) => /^(test|bench|examples|docs|scripts|\.ci)\//.test(f) || f.startsWith('dist/test'));
    expect(stray).toEqual([]);
  });

  it('declares tsx as an optional peer, not a dependency', () => {
    expect(manifest.dependencies?.tsx).toBeUndefined();
    expect(manifest.peerDependencies?.tsx).toBeDefined();
  });

  it('publishes no internals in its types', () => {
    const runtime = readFileSync(join(tmp, 'full/node_modules/spindle/dist/src/core/runtime.d.ts'), 'utf8');
    expect(runtime).not.toMatch(/\breadonly procs\b/);
    expect(runtime).not.toMatch(/\breadonly router\b/);
  });
});

describe('a consumer project', () => {
  it('type-checks against the packed types and runs: a call, .js and .ts thread subtrees and Task jobs, spindle/testing', () => {
    const out = runConsumer(join(tmp, 'full'), 'full');
    expect(out.call).toBe(1);
    expect(out.testing).toBe(true);
    expect(out.jsTree).toEqual({ square: 49, thread: expect.any(Number) });
    expect((out.jsTree as { thread: number }).thread).toBeGreaterThan(0);
    expect(out.jsTask).toBe(42);
    expect(out.tsTree).toEqual({ square: 49, thread: expect.any(Number) });
    expect(out.tsTask).toBe(8);
  }, 60_000);

  it('without tsx: compiled .js still runs, and a .ts module fails with a typed error naming it and the fix', () => {
    const out = runConsumer(join(tmp, 'no-tsx'), 'no-tsx');
    expect(out.call).toBe(1);
    expect(out.jsTree).toEqual({ square: 49, thread: expect.any(Number) });
    expect(out.jsTask).toBe(42);
    const tree = JSON.stringify(out.tsTree);
    expect(out.tsTreeTyped).toBe(true);
    expect(tree).toContain('ERR_INVALID_ARGUMENT');
    expect(tree).toContain('tree.ts');
    expect(tree).toContain('npm i -D tsx');
    const task = out.tsTask as { code: string; cause: { code: string; name: string; message: string } };
    expect(out.tsTaskTyped).toBe(true);
    expect(task.code).toBe('ERR_TASK_FAILED');
    expect(task.cause.name).toBe('InvalidArgumentError');
    expect(task.cause.message).toContain('jobs.ts');
    expect(task.cause.message).toContain('npm i -D tsx');
  }, 60_000);

  it('loads from CommonJS through require(esm)', () => {
    expect(runConsumer(join(tmp, 'full'), 'cjs')).toEqual({ call: 1, testing: 'function' });
  });
});

describe('the API report (docs/api)', () => {
  it('matches the packed types (run `npm run api` after an API change)', () => {
    run(process.execPath, [join(repo, 'scripts/api-report.mjs'), '--check', '--package-dir', join(tmp, 'package')], repo, 120_000);
  }, 120_000);
});
