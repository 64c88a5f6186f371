/**
 * Every runnable example in the docs runs here as a user would run it (tsx in a child
 * process) and must exit 0 on its own: the docs cannot rot silently. Every concept page has
 * one, and the code a page shows is the file that runs, byte for byte.
 *
 * Only the `.ts` files directly in examples/concepts/ are programs; modules they load (a
 * thread subtree, say) live in subfolders such as examples/concepts/trees/.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runTsx } from './helpers.js';

const concepts = readdirSync(new URL('../examples/concepts/', import.meta.url), { withFileTypes: true })
  .filter((d) => d.isFile() && d.name.endsWith('.ts'))
  .map((d) => d.name);
const pages = readdirSync(new URL('../docs/concepts/', import.meta.url)).filter((f) => f.endsWith('.md'));

/** The files a page embeds: `<!-- example: path -->` followed by a ```ts block, with the block's text. */
function embeds(md: string): { file: string; code: string }[] {
  const out: { file: string; code: string }[] = [];
  const re = /<!-- example: (\S+) -->\n```ts\n([\s\S]*?\n)```(?:\n|$)/g;
  for (let m = re.exec(md); m !== null; m = re.exec(md)) out.push({ file: m[1] as string, code: m[2] as string });
  return out;
}

const run = runTsx;

describe('concept pages', () => {
  it.each(pages)('docs/concepts/%s embeds its runnable example, byte for byte', (page) => {
    const md = readFileSync(new URL(`../docs/concepts/${page}`, import.meta.url), 'utf8');
    const own = `examples/concepts/${page.replace(/\.md$/, '.ts')}`;
    expect(concepts, `${own} is missing`).toContain(page.replace(/\.md$/, '.ts'));
    const blocks = embeds(md);
    expect(
      blocks.map((b) => b.file),
      `docs/concepts/${page} has no "## Example" embedding ${own}`,
    ).toContain(own);
    // Under the page's "## Example" heading (before the next "## " heading).
    const section = md.split('\n## ').find((part) => part.startsWith('Example\n'));
    expect(section, `docs/concepts/${page} has no "## Example" section`).toBeDefined();
    expect(section).toContain(`<!-- example: ${own} -->`);
    for (const b of blocks) {
      expect(existsSync(new URL(`../${b.file}`, import.meta.url)), `${b.file} (embedded in ${page}) does not exist`).toBe(true);
      const file = readFileSync(new URL(`../${b.file}`, import.meta.url), 'utf8');
      expect(b.code, `the code in docs/concepts/${page} differs from ${b.file}`).toBe(file);
    }
  });
});

/** A repository test file as the guides show it: imported from the package, not from ../src. */
function asPublished(code: string): string {
  return code.replace(/'(\.\.\/)+src\/index\.js'/g, "'spindle'").replace(/'(\.\.\/)+src\/testing\.js'/g, "'spindle/testing'");
}

const guides = readdirSync(new URL('../docs/guides/', import.meta.url)).filter((f) => f.endsWith('.md'));

describe('guides', () => {
  it.each(guides)('docs/guides/%s shows its test files as they are (imports from the package)', (guide) => {
    const md = readFileSync(new URL(`../docs/guides/${guide}`, import.meta.url), 'utf8');
    const re = /<!-- test: (\S+) -->\n```ts\n([\s\S]*?\n)```(?:\n|$)/g;
    for (let m = re.exec(md); m !== null; m = re.exec(md)) {
      const file = m[1] as string;
      expect(existsSync(new URL(`../${file}`, import.meta.url)), `${file} (shown in ${guide}) does not exist`).toBe(true);
      const code = asPublished(readFileSync(new URL(`../${file}`, import.meta.url), 'utf8'));
      expect(m[2], `the code in docs/guides/${guide} differs from ${file}`).toBe(code);
    }
  });
});

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
