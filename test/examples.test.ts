/**
 * Every runnable example in the docs runs here as a user would run it (tsx in a child
 * process) and must exit 0 on its own: the docs cannot rot silently.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const concepts = readdirSync(new URL('../examples/concepts/', import.meta.url)).filter((f) => f.endsWith('.ts'));

function run(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('examples', () => {
  it('quickstart exits 0 on its own', async () => {
    const r = await run(['examples/quickstart.ts'], 30_000);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('restarted');
  }, 40_000);

  it.each(concepts)(
    'examples/concepts/%s exits 0 on its own',
    async (file) => {
      const r = await run([`examples/concepts/${file}`], 30_000);
      expect(r.code, r.out).toBe(0);
    },
    40_000,
  );

  it('the compute service demo serves, survives a thread crash and exits 0', async () => {
    const r = await run(['examples/compute-service/main.ts', '--demo'], 60_000);
    expect(r.code, r.out).toBe(0);
  }, 70_000);
});
