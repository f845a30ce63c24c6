/**
 * Flag parsing shared by the examples: `pnpm <script> -- --flag value` hands a script a
 * leading '--'; a bad flag (unknown, malformed, out of range, a missing file or folder) prints
 * one line `<program>: <why>` and exits with status 2, and a failure while running prints
 * `<program>: <message>` and exits with status 1: never a stack trace.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type BackendName = 'auto' | 'webgpu' | 'cpu' | 'reference';
const BACKENDS: readonly BackendName[] = ['auto', 'webgpu', 'cpu', 'reference'];

/** Edit distance of two short strings (flag names), for "did you mean". */
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length]!;
}

/** The flags of `argv` (default: this process's) as strings, plus checkers that name the program on failure. */
export function cli<O extends NonNullable<ParseArgsConfig['options']>>(program: string, options: O, argv: readonly string[] = process.argv.slice(2)) {
  const fail = (m: string): never => { console.error(`${program}: ${m}`); process.exit(2); };
  const names = Object.keys(options);
  const args: string[] = [];
  for (let i = argv[0] === '--' ? 1 : 0; i < argv.length; i++) {
    const a = argv[i]!;
    const flag = a.startsWith('--') ? a.slice(2).split('=')[0]! : undefined;
    if (flag !== undefined && !names.includes(flag)) {
      const near = names.filter((n) => distance(n, flag) <= 2).sort((x, y) => distance(x, flag) - distance(y, flag))[0];
      fail(`unknown flag '--${flag}'${near ? ` (did you mean --${near}?)` : ''}; flags: ${names.map((n) => `--${n}`).join(', ')}`);
    }
    // NOTE: parseArgs reads `--batch-size -5` as a flag missing its value; a negative number
    // is the value, so the range check below names it.
    const next = argv[i + 1];
    if (flag !== undefined && !a.includes('=') && options[flag]!.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else {
      args.push(a);
    }
  }
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true }>>['values'];
  try {
    ({ values } = parseArgs({ args, options, strict: true }));
  } catch (e) {
    // parseArgs' messages run over several lines (hints on quoting); the first says what is wrong.
    return fail((e as Error).message.split('\n')[0]!);
  }
  return {
    values,
    fail,
    /** An integer flag >= min, or undefined when absent. */
    int(name: string, v: string | undefined, min: number): number | undefined {
      if (v === undefined) return undefined;
      const n = Number(v);
      return Number.isInteger(n) && n >= min ? n : fail(`--${name} must be an integer >= ${min}, got '${v}'`);
    },
    /** A number flag > 0. */
    positive(name: string, v: string | undefined, fallback: number): number {
      const n = v === undefined ? fallback : Number(v);
      return n > 0 ? n : fail(`--${name} must be a positive number, got '${v}'`);
    },
    /** One of the given choices. */
    oneOf<T extends string>(name: string, v: string | undefined, choices: readonly T[]): T {
      return choices.includes(v as T) ? (v as T) : fail(`--${name} must be ${choices.join(', ')}, got '${v}'`);
    },
    backend(v: string | undefined): BackendName {
      return this.oneOf('backend', v, BACKENDS);
    },
    /** A path flag naming an existing `kind` (file or folder) this process can read, or undefined when absent. */
    existing(name: string, v: string | undefined, kind: 'file' | 'folder'): string | undefined {
      if (v === undefined) return undefined;
      let isFolder: boolean;
      try {
        isFolder = statSync(v).isDirectory();
        accessSync(v, constants.R_OK);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        return fail(`--${name} ${v}: ${code === 'ENOENT' ? `no such ${kind}` : code === 'EACCES' ? `the ${kind} is not readable` : (e as Error).message}`);
      }
      if (isFolder !== (kind === 'folder')) fail(`--${name} ${v}: expected a ${kind}, this is a ${isFolder ? 'folder' : 'file'}`);
      return v;
    },
  };
}

/**
 * Runs an example's `main`; an error it throws (a checkpoint that does not match, a corrupt data
 * file, no backend) prints one line `<program>: <message>` and sets exit status 1.
 */
export async function runMain(program: string, main: () => Promise<unknown>): Promise<void> {
  try {
    await main();
  } catch (e) {
    console.error(`${program}: ${(e as Error)?.message ?? String(e)}`);
    process.exitCode = 1;
  }
}
