/**
 * The test run of `pnpm mutate` (stryker.config.mjs), as one jest file: every pass test of
 * test/passes, the runtime's state tests, the typed-error tests, the runtime tests, the profile
 * and memory reports, the plan fusions (reference and cpu), the optimizer suite on the reference
 * backend and the plan-parity table, loaded in that order (targeted and fast first).
 *
 * Why one file: Stryker runs jest once per mutant, and under ESM every test file links the
 * whole core module graph again (~0.6 s); one file pays it once.
 *
 * Why the bail: jest cannot stop a run at its first failure when called programmatically
 * (jestjs/jest#11766), and Stryker counts a mutant killed by any one failing test. So while
 * Stryker has a mutant active, the first failing test marks it killed and every later test
 * body returns at once. Outside Stryker (no active mutant) nothing is skipped.
 *
 * Left out: the 20,000-op stress graphs of runtime.test.ts (they test stack depth, not the
 * passes' logic, and take seconds each).
 */
export {};

const mutant = process.env.__STRYKER_ACTIVE_MUTANT__;
let killed = false;

type TestFn = (this: unknown, ...args: unknown[]) => unknown;
const guard = (fn: TestFn | undefined): TestFn | undefined => fn && (async function (this: unknown, ...args: unknown[]) {
  if (mutant !== undefined && killed) return;
  try {
    return await fn.apply(this, args);
  } catch (e) {
    killed = true;
    throw e;
  }
});

const SLOW = /20,000/;

function bailing<T extends jest.It>(original: T): T {
  const wrapped = ((name: string, fn?: TestFn, timeout?: number) => (SLOW.test(name) ? original.skip : original)(name, guard(fn) as never, timeout)) as unknown as T;
  return Object.assign(wrapped, original, {
    each: (...table: unknown[]) => (name: string, fn: TestFn, timeout?: number) => (original.each as unknown as (...t: unknown[]) => (n: string, f: TestFn, t?: number) => void)(...table)(name, guard(fn)!, timeout),
  });
}

const g = globalThis as unknown as { it: jest.It; test: jest.It };
g.it = bailing(g.it);
g.test = bailing(g.test);

await import('./simplify.test');
await import('./fusion.test');
await import('./lowering.test');
await import('./fusion-limits.test');
await import('./executable-state.test');
await import('../core/errors.test');
await import('../core/runtime.test');
await import('../profile/report.test');
await import('../profile/memory.test');
await import('./memory-plan.test');
await import('./validate-plan.test');
await import('./plan-fusions.test');
await import('../optim/reference.test');
await import('../core/plan.test');
