/**
 * Flag parsing shared by the examples: `pnpm <script> -- --flag value` hands a script a
 * leading '--'; a bad flag prints `<program>: <why>` and exits with status 2 (no stack trace).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type BackendName = 'auto' | 'webgpu' | 'cpu' | 'reference';
const BACKENDS: readonly BackendName[] = ['auto', 'webgpu', 'cpu', 'reference'];

/** The flags of `argv` (default: this process's) as strings, plus checkers that name the program on failure. */
export function cli<O extends NonNullable<ParseArgsConfig['options']>>(program: string, options: O, argv: readonly string[] = process.argv.slice(2)) {
  const args = [...argv];
  if (args[0] === '--') args.shift();
  const { values } = parseArgs({ args, options, strict: true });
  const fail = (m: string): never => { console.error(`${program}: ${m}`); process.exit(2); };
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
  };
}
