/**
 * The guides cannot rot: every ```ts runnable block in docs/guides/*.md runs here, on the cpu
 * backend (KILN_BACKEND=cpu turns `backend: 'auto'` into cpu), each as a module of its own in a
 * temporary folder that is also the working directory (files a block writes land there).
 * A line `console.log(value); // → text` is a check: `text` must be what console.log prints
 * for `value` (the string itself, else util.inspect on one line). Relative links in the guides
 * and in docs/README.md must name files that exist.
 */
import { mkdtempSync, readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const guidesDir = join(root, 'docs/guides');
const guides = readdirSync(guidesDir).filter((f) => f.endsWith('.md')).sort();

interface Block { guide: string; line: number; code: string }

/** The ```ts runnable blocks of a markdown file, with the line each starts on. */
function runnableBlocks(guide: string): Block[] {
  const lines = readFileSync(join(guidesDir, guide), 'utf8').split('\n');
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ts runnable\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    while (++i < lines.length && lines[i] !== '```');
    out.push({ guide, line: start + 1, code: lines.slice(start, i).join('\n') });
  }
  return out;
}

const CHECK = /^(\s*)console\.log\((.*)\);\s*\/\/ → (.*)$/;

/** The block as a module: each checked console.log becomes a call of the check. */
function toModule(b: Block): string {
  return b.code.split('\n').map((l, k) => {
    const m = CHECK.exec(l);
    return m ? `${m[1]}(globalThis as any).__guideCheck(${m[2]}, ${JSON.stringify(m[3])}, ${JSON.stringify(`${b.guide}:${b.line + k}`)});` : l;
  }).join('\n');
}

const printed = (v: unknown): string => (typeof v === 'string' ? v : inspect(v, { breakLength: Infinity }));

describe('docs/guides', () => {
  const blocks = guides.flatMap(runnableBlocks);
  const work = mkdtempSync(join(tmpdir(), 'kiln-guides-'));
  const cwd = process.cwd();
  const backend = process.env['KILN_BACKEND'];
  let failures: string[] = [];

  beforeAll(() => {
    process.env['KILN_BACKEND'] = 'cpu';
    process.chdir(work);
    (globalThis as Record<string, unknown>)['__guideCheck'] = (value: unknown, expected: string, where: string) => {
      if (printed(value) !== expected) failures.push(`${where}: printed ${printed(value)}, the guide says ${expected}`);
    };
  });
  afterAll(() => {
    process.chdir(cwd);
    if (backend === undefined) delete process.env['KILN_BACKEND']; else process.env['KILN_BACKEND'] = backend;
  });

  it('has the guides docs/README.md lists, each with runnable code', () => {
    const listed = [...readFileSync(join(root, 'docs/README.md'), 'utf8').matchAll(/\]\(guides\/([^)#]+\.md)\)/g)].map((m) => m[1]!);
    expect([...new Set(listed)].sort()).toEqual(guides);
    expect(guides).toEqual([
      'backends-and-performance.md', 'browser.md', 'checkpoints.md', 'data.md', 'getting-started.md',
      'graphs-and-ops.md', 'profiling.md', 'training-and-layers.md',
    ]);
    expect(guides.filter((g) => !blocks.some((b) => b.guide === g))).toEqual([]);
  });

  it.each(blocks.map((b) => [`${b.guide}:${b.line}`, b] as const))('%s runs', async (_, b) => {
    const file = join(work, `${b.guide.replace('.md', '')}-${b.line}.ts`);
    writeFileSync(file, toModule(b));
    failures = [];
    await import(file);
    expect(failures).toEqual([]);
  });

  it('links only to files that exist', () => {
    const broken: string[] = [];
    for (const md of [...guides.map((g) => join(guidesDir, g)), join(root, 'docs/README.md')]) {
      for (const [, target] of readFileSync(md, 'utf8').matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue; // https:, mailto:
        if (!existsSync(resolve(dirname(md), target!))) broken.push(`${md.slice(root.length + 1)} -> ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
