// The examples' flag parsing (examples/cli.ts): every user mistake is one line
// `<program>: <why>` and exit status 2, before any data is read or any model compiled;
// a failure while running is one line and exit status 1. Never a stack trace.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, runMain } from '../../examples/cli';

class Exit extends Error {
  constructor(readonly code: number | undefined) { super(`exit ${code}`); }
}

/** Runs `body` with process.exit and console.error captured; returns the exit code and the lines printed. */
function capture(body: () => unknown): { code: number | undefined; lines: string[] } {
  const lines: string[] = [];
  const [exit, error] = [process.exit, console.error];
  process.exit = ((code?: number) => { throw new Exit(code); }) as typeof process.exit;
  console.error = (...a: unknown[]) => { lines.push(a.map(String).join(' ')); };
  try {
    body();
    return { code: undefined, lines };
  } catch (e) {
    if (e instanceof Exit) return { code: e.code, lines };
    throw e;
  } finally {
    [process.exit, console.error] = [exit, error];
  }
}

const FLAGS = { limit: { type: 'string' }, 'batch-size': { type: 'string' }, resume: { type: 'string' }, data: { type: 'string' } } as const;

describe('examples/cli: a bad flag is one line and exit status 2', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kiln-cli-'));
    await writeFile(join(dir, 'ckpt.safetensors'), 'x');
  });
  const rows: [string, string[], (c: ReturnType<typeof cli<typeof FLAGS>>) => unknown, RegExp][] = [
    ['unknown flag, with the nearest', ['--', '--lmit', '100'], () => undefined, /^mnist: unknown flag '--lmit' \(did you mean --limit\?\); flags: --limit, --batch-size, --resume, --data$/],
    ['negative number as a value', ['--batch-size', '-5'], (c) => c.int('batch-size', c.values['batch-size'], 1), /^mnist: --batch-size must be an integer >= 1, got '-5'$/],
    ['not a number', ['--batch-size', 'ten'], (c) => c.int('batch-size', c.values['batch-size'], 1), /^mnist: --batch-size must be an integer >= 1, got 'ten'$/],
    ['positional argument', ['extra'], () => undefined, /^mnist: Unexpected argument 'extra'/],
    ['flag without its value', ['--limit'], () => undefined, /^mnist: Option '--limit <value>' argument missing$/],
    ['missing resume file', ['--resume', '/tmp/kiln-nonexistent.safetensors'], (c) => c.existing('resume', c.values.resume, 'file'), /^mnist: --resume \/tmp\/kiln-nonexistent\.safetensors: no such file$/],
    ['resume is a folder', ['--resume', '/tmp'], (c) => c.existing('resume', c.values.resume, 'file'), /^mnist: --resume \/tmp: expected a file, this is a folder$/],
    ['missing data folder', ['--data', '/tmp/kiln-nonexistent'], (c) => c.existing('data', c.values.data, 'folder'), /^mnist: --data \/tmp\/kiln-nonexistent: no such folder$/],
  ];
  test.each(rows)('%s', (_, argv, use, message) => {
    const r = capture(() => use(cli('mnist', FLAGS, argv)));
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(message);
  });

  test('good flags pass: an existing file, a folder, a negative-looking value joined', () => {
    const r = capture(() => {
      const c = cli('mnist', FLAGS, ['--', '--resume', join(dir, 'ckpt.safetensors'), '--data', dir, '--limit', '7']);
      expect(c.existing('resume', c.values.resume, 'file')).toBe(join(dir, 'ckpt.safetensors'));
      expect(c.existing('data', c.values.data, 'folder')).toBe(dir);
      expect(c.int('limit', c.values.limit, 1)).toBe(7);
    });
    expect(r).toEqual({ code: undefined, lines: [] });
  });

  test('runMain prints a failure as one line and sets exit status 1', async () => {
    const lines: string[] = [];
    const error = console.error;
    console.error = (...a: unknown[]) => { lines.push(a.map(String).join(' ')); };
    const before = process.exitCode;
    try {
      await runMain('mnist', async () => { throw new Error('ckpt.safetensors: header length 99 is over the limit'); });
      expect(process.exitCode).toBe(1);
    } finally {
      process.exitCode = before;
      console.error = error;
    }
    expect(lines).toEqual(['mnist: ckpt.safetensors: header length 99 is over the limit']);
  });
});
